
/*
 * ngx_voicegw_api_audit.c
 *
 * Handlers of /v1/status (the providers configured, and how many models
 * and projects there are) and /v1/audit-log (every change made through
 * the API, newest first, with filters).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_entity_sql.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_api.h"


static ngx_int_t ngx_voicegw_api_status(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_status_show(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_status_provider(void *data, void *conf,
    ngx_voicegw_sql_value_t *row);
static ngx_int_t ngx_voicegw_api_audit_log(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_audit_log_show(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);


ngx_voicegw_api_route_t  ngx_voicegw_api_audit_routes[] = {

    { NGX_HTTP_GET, ngx_string("/v1/status"),
      ngx_voicegw_api_status, 0 },

    { NGX_HTTP_GET, ngx_string("/v1/audit-log"),
      ngx_voicegw_api_audit_log, 0 },

    { 0, ngx_null_string, NULL, 0 }
};


static ngx_conf_enum_t  ngx_voicegw_audit_types[] = {
    { ngx_string("provider"), 0 },
    { ngx_string("model"), 1 },
    { ngx_string("project"), 2 },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_voicegw_audit_actions[] = {
    { ngx_string("create"), 0 },
    { ngx_string("update"), 1 },
    { ngx_string("delete"), 2 },
    { ngx_null_string, 0 }
};


/* -- /v1/status ----------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_api_status(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_sql_batch_t  *b;

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_api_status_show(r, ctx);
    }

    /* 0: the providers; 1, 2: the ids of models and projects */

    b = ngx_voicegw_api_batch(r, ctx, 0);

    if (b == NULL
        || ngx_voicegw_sql_providers(b) == NULL
        || ngx_voicegw_sql_ids(b, NGX_VOICEGW_TABLE_MODELS) == NULL
        || ngx_voicegw_sql_ids(b, NGX_VOICEGW_TABLE_PROJECTS) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_api_status_show);
}


/* id: {"configured","type","provider_type","source"} */

static ngx_int_t
ngx_voicegw_api_status_provider(void *data, void *conf,
    ngx_voicegw_sql_value_t *row)
{
    ngx_voicegw_json_t  *j = data;

    ngx_str_t                          *id;
    ngx_uint_t                          has_key, local;
    const char                         *source;
    ngx_voicegw_provider_conf_t        *pc;
    const ngx_voicegw_provider_type_t  *type;

    pc = conf;

    if (pc != NULL) {
        id = &pc->id;
        type = pc->type;
        has_key = (pc->key.len != 0);
        source = "config";

    } else {
        id = &row[NGX_VOICEGW_PROVIDER_ID].s;
        type = ngx_voicegw_provider_type(&row[NGX_VOICEGW_PROVIDER_TYPE].s);
        has_key = (row[NGX_VOICEGW_PROVIDER_MASKED].type
                   == NGX_VOICEGW_SQL_TEXT
                   && row[NGX_VOICEGW_PROVIDER_MASKED].s.len);
        source = "db";
    }

    local = (type != NULL && type->kind[0] == 'l');

    ngx_voicegw_json_str(j, id);
    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "configured");
    ngx_voicegw_json_bool(j, has_key || local);
    ngx_voicegw_json_key(j, "type");
    ngx_voicegw_json_cstr(j, local ? "local" : "cloud");
    ngx_voicegw_json_key(j, "provider_type");
    ngx_voicegw_json_cstr(j, type ? type->name : "unknown");
    ngx_voicegw_json_key(j, "source");
    ngx_voicegw_json_cstr(j, source);
    ngx_voicegw_json_map_close(j);

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_api_status_show(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                 answer;
    ngx_voicegw_json_t       *j;
    ngx_voicegw_sql_batch_t  *b;
    ngx_voicegw_registry_t   *reg;

    reg = ctx->vmcf->registry;
    b = NULL;

    if (ctx->op != NULL) {
        b = ngx_voicegw_api_batch_rows(r, ctx, &answer);
        if (b == NULL) {
            return answer;
        }
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "providers");
    ngx_voicegw_json_map_open(j);

    (void) ngx_voicegw_entity_merge(reg, &ngx_voicegw_entity_provider,
                                    b ? &b->stmt[0] : NULL,
                                    ngx_voicegw_api_status_provider, j);

    ngx_voicegw_json_map_close(j);

    ngx_voicegw_json_key(j, "model_count");
    ngx_voicegw_json_int(j, ngx_voicegw_entity_count(reg,
                                          &ngx_voicegw_entity_model,
                                          b ? &b->stmt[1] : NULL));

    ngx_voicegw_json_key(j, "project_count");
    ngx_voicegw_json_int(j, ngx_voicegw_entity_count(reg,
                                          &ngx_voicegw_entity_project,
                                          b ? &b->stmt[2] : NULL));

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


/* -- GET /v1/audit-log?limit=50&entity_type=&entity_id=&action= ----------- */

static ngx_int_t
ngx_voicegw_api_audit_log(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                 limit;
    ngx_str_t                 v, type, id, action;
    ngx_uint_t                has_type, has_id, has_action, n;
    ngx_voicegw_sql_batch_t  *b;

    limit = 50;

    if (ngx_voicegw_api_arg(r, "limit", &v) == NGX_OK) {
        limit = ngx_atoi(v.data, v.len);

        if (limit == NGX_ERROR || limit < 1 || limit > 500) {
            return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_query",
                                           "limit must be an integer from 1 "
                                           "to 500");
        }
    }

    has_type = (ngx_voicegw_api_arg(r, "entity_type", &type) == NGX_OK);
    has_id = (ngx_voicegw_api_arg(r, "entity_id", &id) == NGX_OK);
    has_action = (ngx_voicegw_api_arg(r, "action", &action) == NGX_OK);

    if (has_type
        && ngx_voicegw_enum_value(ngx_voicegw_audit_types, &type, &n)
           != NGX_OK)
    {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_query",
                                       "entity_type must be provider, model "
                                       "or project");
    }

    if (has_action
        && ngx_voicegw_enum_value(ngx_voicegw_audit_actions, &action, &n)
           != NGX_OK)
    {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_query",
                                       "action must be create, update or "
                                       "delete");
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_api_audit_log_show(r, ctx);
    }

    b = ngx_voicegw_api_batch(r, ctx, 0);

    if (b == NULL
        || ngx_voicegw_sql_audit_log(b, has_type ? &type : NULL,
                                     has_id ? &id : NULL,
                                     has_action ? &action : NULL, limit)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx,
                                      ngx_voicegw_api_audit_log_show);
}


static ngx_int_t
ngx_voicegw_api_audit_log_show(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    u_char                     err[64];
    ngx_int_t                  answer;
    ngx_uint_t                 n;
    ngx_voicegw_json_t        *j;
    ngx_voicegw_sql_stmt_t    *st;
    ngx_voicegw_sql_batch_t   *b;
    ngx_voicegw_sql_value_t   *row;
    ngx_voicegw_json_value_t  *changes;

    st = NULL;

    if (ctx->op != NULL) {
        b = ngx_voicegw_api_batch_rows(r, ctx, &answer);
        if (b == NULL) {
            return answer;
        }

        st = &b->stmt[0];
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_array_open(j);

    for (n = 0; st && n < st->nrows; n++) {
        row = ngx_voicegw_sql_cell(st, n, 0);

        ngx_voicegw_json_map_open(j);
        ngx_voicegw_json_key(j, "id");
        ngx_voicegw_json_int(j, row[NGX_VOICEGW_AUDIT_ID].i);
        ngx_voicegw_json_key(j, "timestamp");
        ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_AUDIT_TIMESTAMP]);
        ngx_voicegw_json_key(j, "entity_type");
        ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_AUDIT_TYPE]);
        ngx_voicegw_json_key(j, "entity_id");
        ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_AUDIT_ENTITY]);
        ngx_voicegw_json_key(j, "action");
        ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_AUDIT_ACTION]);
        ngx_voicegw_json_key(j, "changes");

        if (row[NGX_VOICEGW_AUDIT_CHANGES].type == NGX_VOICEGW_SQL_TEXT
            && ngx_voicegw_json_parse(r->pool,
                                      row[NGX_VOICEGW_AUDIT_CHANGES].s.data,
                                      row[NGX_VOICEGW_AUDIT_CHANGES].s.len,
                                      &changes, err, sizeof(err))
               == NGX_OK)
        {
            ngx_voicegw_json_value(j, changes, "api_key");

        } else {
            ngx_voicegw_json_null(j);
        }

        ngx_voicegw_json_key(j, "source");
        ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_AUDIT_SOURCE]);
        ngx_voicegw_json_key(j, "actor");
        ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_AUDIT_ACTOR]);
        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_array_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}
