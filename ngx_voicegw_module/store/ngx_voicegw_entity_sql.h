
/*
 * ngx_voicegw_entity_sql.h
 *
 * The SQL of the VoiceGateway entities (providers, models, projects),
 * their audit log and today's spend: each statement added to a batch by
 * one function, with its parameters bound, and its result columns named
 * here, so that no caller reads a row by a bare number.
 */


#ifndef _NGX_VOICEGW_ENTITY_SQL_H_INCLUDED_
#define _NGX_VOICEGW_ENTITY_SQL_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_sql.h"


/* the tables of entities */

#define NGX_VOICEGW_TABLE_PROVIDERS  0
#define NGX_VOICEGW_TABLE_MODELS     1
#define NGX_VOICEGW_TABLE_PROJECTS   2


/* ngx_voicegw_sql_ids(): one column */
#define NGX_VOICEGW_COL_ID              0


/* ngx_voicegw_sql_providers() */
#define NGX_VOICEGW_PROVIDER_ID         0
#define NGX_VOICEGW_PROVIDER_TYPE       1
#define NGX_VOICEGW_PROVIDER_MASKED     2
#define NGX_VOICEGW_PROVIDER_BASE_URL   3

/* ngx_voicegw_sql_provider_key() */
#define NGX_VOICEGW_PKEY_TYPE           0
#define NGX_VOICEGW_PKEY_BASE_URL       1
#define NGX_VOICEGW_PKEY_SEALED         2


/* ngx_voicegw_sql_provider_keys() */
#define NGX_VOICEGW_PKEYS_ID            0
#define NGX_VOICEGW_PKEYS_TYPE          1
#define NGX_VOICEGW_PKEYS_BASE_URL      2
#define NGX_VOICEGW_PKEYS_SEALED        3

/* ngx_voicegw_sql_models() */
#define NGX_VOICEGW_MODEL_ID            0
#define NGX_VOICEGW_MODEL_PROVIDER      1
#define NGX_VOICEGW_MODEL_NAME          2
#define NGX_VOICEGW_MODEL_MODALITY      3
#define NGX_VOICEGW_MODEL_DISPLAY_NAME  4
#define NGX_VOICEGW_MODEL_LANGUAGE      5
#define NGX_VOICEGW_MODEL_VOICE         6
#define NGX_VOICEGW_MODEL_PRICE         7     /* 4 columns, as prices */


/* ngx_voicegw_sql_projects() */
#define NGX_VOICEGW_PROJECT_ID          0
#define NGX_VOICEGW_PROJECT_NAME        1
#define NGX_VOICEGW_PROJECT_DESCRIPTION 2
#define NGX_VOICEGW_PROJECT_BUDGET      3
#define NGX_VOICEGW_PROJECT_ACTION      4
#define NGX_VOICEGW_PROJECT_STACK       5
#define NGX_VOICEGW_PROJECT_TAGS        6
#define NGX_VOICEGW_PROJECT_ACCENT      7

/* ngx_voicegw_sql_project_stack() */
#define NGX_VOICEGW_STACK_NAME          0


/* ngx_voicegw_sql_spend_today() */
#define NGX_VOICEGW_SPEND_KEY           0
#define NGX_VOICEGW_SPEND_COST          1
#define NGX_VOICEGW_SPEND_REQUESTS      2

#define NGX_VOICEGW_SPEND_BY_PROJECT    0
#define NGX_VOICEGW_SPEND_BY_PROVIDER   1
#define NGX_VOICEGW_SPEND_BY_MODEL      2


/* ngx_voicegw_sql_audit_log() */
#define NGX_VOICEGW_AUDIT_ID            0
#define NGX_VOICEGW_AUDIT_TIMESTAMP     1
#define NGX_VOICEGW_AUDIT_TYPE          2
#define NGX_VOICEGW_AUDIT_ENTITY        3
#define NGX_VOICEGW_AUDIT_ACTION        4
#define NGX_VOICEGW_AUDIT_CHANGES       5
#define NGX_VOICEGW_AUDIT_SOURCE        6
#define NGX_VOICEGW_AUDIT_ACTOR         7


/* ngx_voicegw_sql_provider_update(): the key check, one column */
#define NGX_VOICEGW_PUPD_KEY_DROPPED    0


/* what a write gives: NULL where a field is not named */

typedef struct {
    ngx_str_t                   *id;
    ngx_str_t                   *type;
    ngx_str_t                   *sealed;     /* with masked: a new key */
    ngx_str_t                   *masked;
    ngx_uint_t                   set_url;
    ngx_str_t                   *base_url;   /* NULL with set_url: null */
} ngx_voicegw_provider_row_t;


#define NGX_VOICEGW_NPRICES  4

/* the prices, in the order of ngx_voicegw_price_fields[] */
#define NGX_VOICEGW_PRICE_MINUTE     0
#define NGX_VOICEGW_PRICE_INPUT      1      /* per 1k tokens */
#define NGX_VOICEGW_PRICE_OUTPUT     2      /* per 1k tokens */
#define NGX_VOICEGW_PRICE_CHARACTER  3

typedef struct {
    ngx_str_t                   *id;
    ngx_str_t                   *provider;
    ngx_str_t                   *name;
    ngx_str_t                   *modality;
    ngx_str_t                   *display_name;
    ngx_str_t                   *language;
    ngx_str_t                   *voice;
    double                       price[NGX_VOICEGW_NPRICES];
    ngx_uint_t                   priced;     /* bit k: price[k] is set */
} ngx_voicegw_model_row_t;


#define NGX_VOICEGW_SET_NAME         0x01
#define NGX_VOICEGW_SET_DESCRIPTION  0x02
#define NGX_VOICEGW_SET_BUDGET       0x04
#define NGX_VOICEGW_SET_ACTION       0x08
#define NGX_VOICEGW_SET_STACK        0x10
#define NGX_VOICEGW_SET_TAGS         0x20
#define NGX_VOICEGW_SET_ACCENT       0x40

typedef struct {
    ngx_str_t                   *id;
    ngx_uint_t                   set;        /* NGX_VOICEGW_SET_* */
    ngx_str_t                   *name;
    ngx_str_t                   *description;
    double                       daily_budget;
    ngx_str_t                   *budget_action;
    ngx_str_t                   *default_stack;
    ngx_str_t                   *tags;       /* a JSON array */
    ngx_str_t                   *accent;
} ngx_voicegw_project_row_t;


ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_ids(ngx_voicegw_sql_batch_t *b,
    ngx_uint_t table);
ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_exists(ngx_voicegw_sql_batch_t *b,
    ngx_uint_t table, ngx_str_t *id);
ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_delete(ngx_voicegw_sql_batch_t *b,
    ngx_uint_t table, ngx_str_t *id);

ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_providers(
    ngx_voicegw_sql_batch_t *b);
ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_provider_key(
    ngx_voicegw_sql_batch_t *b, ngx_str_t *id);
ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_provider_keys(
    ngx_voicegw_sql_batch_t *b);
ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_provider_models(
    ngx_voicegw_sql_batch_t *b, ngx_str_t *id, ngx_uint_t expect);
ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_provider_insert(
    ngx_voicegw_sql_batch_t *b, ngx_voicegw_provider_row_t *p);
ngx_int_t ngx_voicegw_sql_provider_update(ngx_voicegw_sql_batch_t *b,
    ngx_voicegw_provider_row_t *p, ngx_str_t *changes, ngx_str_t *actor);

ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_models(ngx_voicegw_sql_batch_t *b);
ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_model_insert(
    ngx_voicegw_sql_batch_t *b, ngx_voicegw_model_row_t *m);

ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_projects(ngx_voicegw_sql_batch_t *b,
    ngx_str_t *id);
ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_project_stack(
    ngx_voicegw_sql_batch_t *b, ngx_str_t *id);
ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_project_insert(
    ngx_voicegw_sql_batch_t *b, ngx_voicegw_project_row_t *p);
ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_project_update(
    ngx_voicegw_sql_batch_t *b, ngx_voicegw_project_row_t *p);

ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_spend_today(
    ngx_voicegw_sql_batch_t *b, ngx_uint_t by, ngx_str_t *project);

ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_audit(ngx_voicegw_sql_batch_t *b,
    const char *type, ngx_str_t *id, const char *action, ngx_str_t *changes,
    ngx_str_t *actor);
ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_audit_log(ngx_voicegw_sql_batch_t *b,
    ngx_str_t *type, ngx_str_t *id, ngx_str_t *action, ngx_int_t limit);


#endif /* _NGX_VOICEGW_ENTITY_SQL_H_INCLUDED_ */
