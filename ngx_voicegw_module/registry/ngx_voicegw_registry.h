
/*
 * ngx_voicegw_registry.h
 *
 * The VoiceGateway entities: providers (with the registry of provider
 * types), models, stacks and projects.  Those of nginx.conf live in the
 * configuration; those created through the API live in the store.  One
 * descriptor per entity type says where each kind lives and how it is
 * written out, and one merge walks "config first, then the store's rows
 * that nginx.conf does not shadow" for every list the API shows.
 */


#ifndef _NGX_VOICEGW_REGISTRY_H_INCLUDED_
#define _NGX_VOICEGW_REGISTRY_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_sql.h"
#include "ngx_voicegw_entity_sql.h"
#include "ngx_voicegw_dest.h"


typedef struct {
    const char                  *name;
    const char                  *kind;           /* "cloud" or "local" */
    const char                  *base_url;
    const char                  *health_path;
    const char                  *auth_header;    /* NULL: no key sent */
    const char                  *auth_prefix;
    const char                  *extra_header;   /* "Name: value" or NULL */
} ngx_voicegw_provider_type_t;


typedef struct {
    ngx_str_t                    id;
    const ngx_voicegw_provider_type_t  *type;
    ngx_str_t                    key;             /* in clear, from config */
    ngx_str_t                    masked;
    ngx_str_t                    base_url;        /* empty: the type's */
} ngx_voicegw_provider_conf_t;


typedef struct {
    ngx_str_t                    id;              /* provider/model */
    ngx_str_t                    provider;
    ngx_str_t                    name;
    ngx_str_t                    modality;
    ngx_str_t                    display_name;
    ngx_str_t                    default_language;
    ngx_str_t                    default_voice;
    double                       price[NGX_VOICEGW_NPRICES];
    ngx_uint_t                   priced;          /* bit i: price[i] set */
    u_char                      *file;
    ngx_uint_t                   line;
} ngx_voicegw_model_conf_t;


typedef struct {
    ngx_str_t                    name;
    ngx_str_t                    stt;
    ngx_str_t                    llm;
    ngx_str_t                    tts;
} ngx_voicegw_stack_conf_t;


typedef struct {
    ngx_str_t                    id;
    ngx_str_t                    name;
    ngx_str_t                    description;
    double                       daily_budget;
    ngx_str_t                    budget_action;
    ngx_str_t                    default_stack;
    ngx_array_t                  tags;            /* ngx_str_t */
    ngx_str_t                    accent;
    u_char                      *file;
    ngx_uint_t                   line;
} ngx_voicegw_project_conf_t;


struct ngx_voicegw_registry_s {
    /* the entities of nginx.conf */
    ngx_array_t                  providers;
    ngx_array_t                  models;
    ngx_array_t                  stacks;
    ngx_array_t                  projects;

    /* the key of provider keys (ngx_voicegw_secret.c) */
    u_char                      *secret;

    /* bearer tokens (ngx_voicegw_auth.c) */
    ngx_array_t                  api_keys;
    ngx_flag_t                   api_auth_all;

    /* provider tests (ngx_voicegw_probe.c) */
    ngx_msec_t                   probe_timeout;
    ngx_str_t                    probe_trusted;
    ngx_ssl_t                   *probe_ssl;

    /* a voicegw_proxy location was set up with the trusted certificates */
    ngx_uint_t                   proxy_used;

    /* where providers may be (voicegw_provider_destinations) */
    ngx_voicegw_dest_t           dest;
};


/* an entity's members written into an open JSON object: conf or row */

typedef void (*ngx_voicegw_entity_json_pt)(ngx_voicegw_json_t *j,
    ngx_pool_t *pool, void *conf, ngx_voicegw_sql_value_t *row);

typedef struct {
    const char                  *name;           /* "provider" */
    ngx_uint_t                   table;          /* NGX_VOICEGW_TABLE_* */
    size_t                       conf;           /* its array in registry */
    size_t                       size;           /* an element of it */
    size_t                       id;             /* the id in an element */
    ngx_uint_t                 (*valid_id)(ngx_str_t *id);
    ngx_voicegw_entity_json_pt   json;
} ngx_voicegw_entity_t;


/* one entity of the merge: from nginx.conf (conf) or the store (row) */

typedef ngx_int_t (*ngx_voicegw_entity_each_pt)(void *data, void *conf,
    ngx_voicegw_sql_value_t *row);


extern const ngx_voicegw_entity_t  ngx_voicegw_entity_provider;
extern const ngx_voicegw_entity_t  ngx_voicegw_entity_model;
extern const ngx_voicegw_entity_t  ngx_voicegw_entity_project;

extern const char  *ngx_voicegw_price_fields[];


ngx_voicegw_registry_t *ngx_voicegw_registry_create(ngx_conf_t *cf);
ngx_int_t ngx_voicegw_registry_init_main_conf(ngx_conf_t *cf,
    ngx_voicegw_registry_t *reg, ngx_uint_t api);

ngx_int_t ngx_voicegw_entity_merge(ngx_voicegw_registry_t *reg,
    const ngx_voicegw_entity_t *e, ngx_voicegw_sql_stmt_t *rows,
    ngx_voicegw_entity_each_pt each, void *data);
void *ngx_voicegw_entity_find(ngx_voicegw_registry_t *reg,
    const ngx_voicegw_entity_t *e, ngx_str_t *id);
ngx_uint_t ngx_voicegw_entity_count(ngx_voicegw_registry_t *reg,
    const ngx_voicegw_entity_t *e, ngx_voicegw_sql_stmt_t *rows);

ngx_uint_t ngx_voicegw_valid_id(ngx_str_t *id);
ngx_uint_t ngx_voicegw_valid_model_name(ngx_str_t *name);
ngx_uint_t ngx_voicegw_valid_model_id(ngx_str_t *id);
ngx_uint_t ngx_voicegw_valid_modality(ngx_str_t *m);
ngx_uint_t ngx_voicegw_valid_budget_action(ngx_str_t *a);
ngx_uint_t ngx_voicegw_valid_accent(ngx_str_t *a);
void ngx_voicegw_default_accent(ngx_str_t *first_tag, ngx_str_t *accent);

const ngx_voicegw_provider_type_t *ngx_voicegw_provider_type(ngx_str_t *name);
char *ngx_voicegw_provider_destinations(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_voicegw_provider_destination(ngx_voicegw_registry_t *reg,
    ngx_pool_t *pool, ngx_str_t *url, const char **why);
ngx_int_t ngx_voicegw_provider_base_url(ngx_pool_t *pool, ngx_str_t *url,
    const char **err);
ngx_voicegw_provider_conf_t *ngx_voicegw_conf_provider(
    ngx_voicegw_registry_t *reg, ngx_str_t *id);
ngx_voicegw_model_conf_t *ngx_voicegw_conf_model(
    ngx_voicegw_registry_t *reg, ngx_str_t *id);
ngx_voicegw_stack_conf_t *ngx_voicegw_conf_stack(
    ngx_voicegw_registry_t *reg, ngx_str_t *name);
ngx_voicegw_project_conf_t *ngx_voicegw_conf_project(
    ngx_voicegw_registry_t *reg, ngx_str_t *id);
ngx_uint_t ngx_voicegw_stack_has(ngx_voicegw_stack_conf_t *stack,
    ngx_str_t *model);
const char *ngx_voicegw_budget_status(double budget, double spend);

char *ngx_voicegw_provider_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_voicegw_model_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_voicegw_stack_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_voicegw_project_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_VOICEGW_REGISTRY_H_INCLUDED_ */
