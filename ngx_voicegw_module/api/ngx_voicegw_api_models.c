
/*
 * ngx_voicegw_api_models.c
 *
 * Handlers of /v1/models: the list ({"models":{id:{...}},"project":..},
 * with ?project= only the models of the project's default stack, all of
 * them when it has none, 404 for an unknown project), create and delete.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_entity_sql.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_api_entities.h"


#define NGX_VOICEGW_MODEL_F_MODALITY  0
#define NGX_VOICEGW_MODEL_F_PROVIDER  1
#define NGX_VOICEGW_MODEL_F_NAME      2
#define NGX_VOICEGW_MODEL_F_DISPLAY   3
#define NGX_VOICEGW_MODEL_F_LANGUAGE  4
#define NGX_VOICEGW_MODEL_F_VOICE     5
#define NGX_VOICEGW_MODEL_F_PRICE     6       /* 4 fields */


static ngx_int_t ngx_voicegw_api_models(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_models_list(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_model_item(void *data, void *conf,
    ngx_voicegw_sql_value_t *row);
static ngx_int_t ngx_voicegw_api_model_create(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_model_created(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_model_delete(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);


ngx_voicegw_api_route_t  ngx_voicegw_api_models_routes[] = {

    { NGX_HTTP_GET, ngx_string("/v1/models"),
      ngx_voicegw_api_models, 0 },

    { NGX_HTTP_POST, ngx_string("/v1/models"),
      ngx_voicegw_api_model_create, NGX_VOICEGW_API_BODY },

    { NGX_HTTP_DELETE, ngx_string("/v1/models/{*}"),
      ngx_voicegw_api_model_delete, 0 },

    { 0, ngx_null_string, NULL, 0 }
};


static const ngx_voicegw_field_t  ngx_voicegw_model_fields[] = {
    { "modality", NGX_VOICEGW_F_STRING|NGX_VOICEGW_F_REQUIRED },
    { "provider_id", NGX_VOICEGW_F_STRING|NGX_VOICEGW_F_REQUIRED },
    { "model_name", NGX_VOICEGW_F_STRING|NGX_VOICEGW_F_REQUIRED },
    { "display_name", NGX_VOICEGW_F_STRING|NGX_VOICEGW_F_NULL },
    { "default_language", NGX_VOICEGW_F_STRING|NGX_VOICEGW_F_NULL },
    { "default_voice", NGX_VOICEGW_F_STRING|NGX_VOICEGW_F_NULL },
    { "price_per_minute", NGX_VOICEGW_F_NUMBER|NGX_VOICEGW_F_NULL },
    { "price_per_1k_input_tokens", NGX_VOICEGW_F_NUMBER|NGX_VOICEGW_F_NULL },
    { "price_per_1k_output_tokens",
      NGX_VOICEGW_F_NUMBER|NGX_VOICEGW_F_NULL },
    { "price_per_character", NGX_VOICEGW_F_NUMBER|NGX_VOICEGW_F_NULL },
    { NULL, 0 }
};


typedef struct {
    ngx_voicegw_json_t          *json;
    ngx_pool_t                  *pool;
    ngx_voicegw_stack_conf_t    *stack;
} ngx_voicegw_api_models_t;


static ngx_int_t
ngx_voicegw_api_models(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_str_t                 project;
    ngx_voicegw_sql_batch_t  *b;

    rc = ngx_voicegw_api_arg(r, "project", &project);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_api_models_list(r, ctx);
    }

    /* 0: the models; 1: the project's stack */

    b = ngx_voicegw_api_batch(r, ctx, 0);

    if (b == NULL
        || ngx_voicegw_sql_models(b) == NULL
        || ngx_voicegw_sql_project_stack(b, rc == NGX_OK ? &project : NULL)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_api_models_list);
}


static ngx_int_t
ngx_voicegw_api_model_item(void *data, void *conf,
    ngx_voicegw_sql_value_t *row)
{
    ngx_voicegw_api_models_t  *l = data;

    ngx_str_t                 *id;
    ngx_voicegw_model_conf_t  *m = conf;

    id = m ? &m->id : &row[NGX_VOICEGW_MODEL_ID].s;

    if (!ngx_voicegw_stack_has(l->stack, id)) {
        return NGX_OK;
    }

    ngx_voicegw_json_str(l->json, id);
    ngx_voicegw_json_map_open(l->json);
    ngx_voicegw_entity_model.json(l->json, l->pool, conf, row);
    ngx_voicegw_json_map_close(l->json);

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_api_models_list(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                    has_project, answer;
    ngx_str_t                    project, stack_name;
    ngx_voicegw_sql_stmt_t      *pst;
    ngx_voicegw_sql_value_t     *v;
    ngx_voicegw_sql_batch_t     *b;
    ngx_voicegw_registry_t      *reg;
    ngx_voicegw_project_conf_t  *pc;
    ngx_voicegw_api_models_t     l;

    reg = ctx->vmcf->registry;
    b = NULL;

    if (ctx->op != NULL) {
        b = ngx_voicegw_api_batch_rows(r, ctx, &answer);
        if (b == NULL) {
            return answer;
        }
    }

    ngx_memzero(&l, sizeof(ngx_voicegw_api_models_t));

    has_project = (ngx_voicegw_api_arg(r, "project", &project) == NGX_OK);

    if (has_project) {
        pc = ngx_voicegw_conf_project(reg, &project);
        pst = b ? &b->stmt[1] : NULL;

        if (pc != NULL) {
            stack_name = pc->default_stack;

        } else if (pst != NULL && pst->nrows) {
            v = ngx_voicegw_sql_cell(pst, 0, NGX_VOICEGW_STACK_NAME);

            if (v->type == NGX_VOICEGW_SQL_TEXT) {
                stack_name = v->s;

            } else {
                ngx_str_null(&stack_name);
            }

        } else {
            return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND,
                                           "not_found", "no project \"%V\"",
                                           &project);
        }

        if (stack_name.len) {
            l.stack = ngx_voicegw_conf_stack(reg, &stack_name);
        }
    }

    l.json = ngx_voicegw_api_json(r);
    l.pool = r->pool;

    if (l.json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(l.json);
    ngx_voicegw_json_key(l.json, "models");
    ngx_voicegw_json_map_open(l.json);

    (void) ngx_voicegw_entity_merge(reg, &ngx_voicegw_entity_model,
                                    b ? &b->stmt[0] : NULL,
                                    ngx_voicegw_api_model_item, &l);

    ngx_voicegw_json_map_close(l.json);
    ngx_voicegw_json_key(l.json, "project");

    if (has_project) {
        ngx_voicegw_json_str(l.json, &project);

    } else {
        ngx_voicegw_json_null(l.json);
    }

    ngx_voicegw_json_map_close(l.json);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, l.json);
}


static ngx_int_t
ngx_voicegw_api_model_create(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    u_char                    *p;
    ngx_int_t                  answer;
    ngx_str_t                 *id;
    ngx_uint_t                 k;
    ngx_voicegw_sql_stmt_t    *st;
    ngx_voicegw_sql_batch_t   *b;
    ngx_voicegw_json_value_t  *f[10], *price;
    ngx_voicegw_model_row_t    m;

    if (ngx_voicegw_api_fields(r, ctx, ngx_voicegw_model_fields, f, &answer)
        != NGX_OK)
    {
        return answer;
    }

    if (!ngx_voicegw_valid_modality(&f[NGX_VOICEGW_MODEL_F_MODALITY]->str)) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "unknown_modality",
                                       "modality must be stt, llm or tts");
    }

    if (!ngx_voicegw_valid_id(&f[NGX_VOICEGW_MODEL_F_PROVIDER]->str)) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST, "invalid_id",
                                       "provider_id must match "
                                       "[a-z0-9][a-z0-9._-]{0,63}");
    }

    if (!ngx_voicegw_valid_model_name(&f[NGX_VOICEGW_MODEL_F_NAME]->str)) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST, "invalid_id",
                                       "model_name must match "
                                       "[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}");
    }

    ngx_memzero(&m, sizeof(ngx_voicegw_model_row_t));

    for (k = 0; k < NGX_VOICEGW_NPRICES; k++) {
        price = f[NGX_VOICEGW_MODEL_F_PRICE + k];

        if (price == NULL || price->type != NGX_VOICEGW_JSON_NUMBER) {
            continue;
        }

        if (price->d < 0 || price->d > 1e6) {
            return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_field",
                                           "%s must be between 0 and "
                                           "1000000",
                                           ngx_voicegw_price_fields[k]);
        }

        m.price[k] = price->d;
        m.priced |= (ngx_uint_t) 1 << k;
    }

    id = ngx_palloc(r->pool, sizeof(ngx_str_t));
    if (id == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    id->len = f[NGX_VOICEGW_MODEL_F_PROVIDER]->str.len + 1
              + f[NGX_VOICEGW_MODEL_F_NAME]->str.len;
    id->data = ngx_pnalloc(r->pool, id->len);
    if (id->data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(id->data, f[NGX_VOICEGW_MODEL_F_PROVIDER]->str.data,
                   f[NGX_VOICEGW_MODEL_F_PROVIDER]->str.len);
    *p++ = '/';
    ngx_memcpy(p, f[NGX_VOICEGW_MODEL_F_NAME]->str.data,
               f[NGX_VOICEGW_MODEL_F_NAME]->str.len);

    if (ngx_voicegw_conf_model(ctx->vmcf->registry, id) != NULL) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_CONFLICT, "conflict",
                                       "model \"%V\" is defined in "
                                       "nginx.conf", id);
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_api_no_store(r);
    }

    b = ngx_voicegw_api_batch(r, ctx, 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = id;

    /* 0: the provider, nginx.conf's or one in the store */

    if (ngx_voicegw_conf_provider(ctx->vmcf->registry,
                                  &f[NGX_VOICEGW_MODEL_F_PROVIDER]->str)
        == NULL)
    {
        st = ngx_voicegw_sql_exists(b, NGX_VOICEGW_TABLE_PROVIDERS,
                                    &f[NGX_VOICEGW_MODEL_F_PROVIDER]->str);

    } else {
        st = ngx_voicegw_sql_add(b, "SELECT 1", NGX_VOICEGW_SQL_ROW);
    }

    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* 1: the row (a constraint failure: it exists), 2: the audit */

    m.id = id;
    m.provider = &f[NGX_VOICEGW_MODEL_F_PROVIDER]->str;
    m.name = &f[NGX_VOICEGW_MODEL_F_NAME]->str;
    m.modality = &f[NGX_VOICEGW_MODEL_F_MODALITY]->str;
    m.display_name = ngx_voicegw_api_opt_str(f[NGX_VOICEGW_MODEL_F_DISPLAY]);
    m.language = ngx_voicegw_api_opt_str(f[NGX_VOICEGW_MODEL_F_LANGUAGE]);
    m.voice = ngx_voicegw_api_opt_str(f[NGX_VOICEGW_MODEL_F_VOICE]);

    if (ngx_voicegw_sql_model_insert(b, &m) == NULL
        || ngx_voicegw_api_audit(r, ctx, b, &ngx_voicegw_entity_model, id,
                                 "create")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_api_model_created);
}


static ngx_int_t
ngx_voicegw_api_model_created(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                  answer;
    ngx_str_t                 *id;
    ngx_voicegw_json_t        *j;
    ngx_voicegw_sql_batch_t   *b;
    ngx_voicegw_json_value_t  *provider;

    b = ctx->op->data;
    id = ctx->data;

    if (ctx->op->rc == NGX_DECLINED && b->failed == 0) {
        ngx_voicegw_sql_free(b);

        provider = ngx_voicegw_json_get(ctx->body, "provider_id");

        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "unknown_provider",
                                       "provider \"%V\" is not configured",
                                       &provider->str);
    }

    if (ctx->op->rc == NGX_DECLINED && b->failed == 1) {
        ngx_voicegw_sql_free(b);
        return ngx_voicegw_reply_error(r, NGX_HTTP_CONFLICT, "conflict",
                                       "model \"%V\" already exists", id);
    }

    if (ngx_voicegw_api_batch_rows(r, ctx, &answer) == NULL) {
        return answer;
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "model_id");
    ngx_voicegw_json_str(j, id);
    ngx_voicegw_json_key(j, "source");
    ngx_voicegw_json_cstr(j, "db");
    ngx_voicegw_json_key(j, "created");
    ngx_voicegw_json_bool(j, 1);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


static ngx_int_t
ngx_voicegw_api_model_delete(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    return ngx_voicegw_api_entity_delete(r, ctx, &ngx_voicegw_entity_model);
}
