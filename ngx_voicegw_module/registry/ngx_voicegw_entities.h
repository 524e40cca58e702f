
/*
 * ngx_voicegw_entities.h
 *
 * The VoiceGateway entities: providers (with the registry of provider
 * types), models, stacks and projects.  Those of nginx.conf live in the
 * configuration; those created through the API live in the store.
 */


#ifndef _NGX_VOICEGW_ENTITIES_H_INCLUDED_
#define _NGX_VOICEGW_ENTITIES_H_INCLUDED_


#include "ngx_voicegw_module.h"


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


#define NGX_VOICEGW_PRICE_MINUTE   0
#define NGX_VOICEGW_PRICE_INPUT    1
#define NGX_VOICEGW_PRICE_OUTPUT   2
#define NGX_VOICEGW_PRICE_CHAR     3
#define NGX_VOICEGW_NPRICES        4

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


extern const char  *ngx_voicegw_price_fields[];


ngx_int_t ngx_voicegw_entities_conf_init(ngx_conf_t *cf,
    ngx_voicegw_main_conf_t *vmcf);
ngx_int_t ngx_voicegw_entities_check(ngx_conf_t *cf,
    ngx_voicegw_main_conf_t *vmcf);
char *ngx_voicegw_provider_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_voicegw_model_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_voicegw_stack_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_voicegw_project_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

const ngx_voicegw_provider_type_t *ngx_voicegw_provider_type(ngx_str_t *name);
ngx_uint_t ngx_voicegw_valid_id(ngx_str_t *id);
ngx_uint_t ngx_voicegw_valid_model_name(ngx_str_t *name);
ngx_uint_t ngx_voicegw_valid_modality(ngx_str_t *m);
ngx_uint_t ngx_voicegw_valid_accent(ngx_str_t *a);
void ngx_voicegw_default_accent(ngx_str_t *first_tag, ngx_str_t *accent);

ngx_voicegw_provider_conf_t *ngx_voicegw_conf_provider(
    ngx_voicegw_main_conf_t *vmcf, ngx_str_t *id);
ngx_voicegw_model_conf_t *ngx_voicegw_conf_model(
    ngx_voicegw_main_conf_t *vmcf, ngx_str_t *id);
ngx_voicegw_stack_conf_t *ngx_voicegw_conf_stack(
    ngx_voicegw_main_conf_t *vmcf, ngx_str_t *name);
ngx_voicegw_project_conf_t *ngx_voicegw_conf_project(
    ngx_voicegw_main_conf_t *vmcf, ngx_str_t *id);


#endif /* _NGX_VOICEGW_ENTITIES_H_INCLUDED_ */
