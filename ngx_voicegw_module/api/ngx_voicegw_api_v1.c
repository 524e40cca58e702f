
/*
 * ngx_voicegw_api_v1.c
 *
 * Handlers of the VoiceGateway API's entities (seed
 * "voicegateway-http-api.txt", SPEC section 5): providers, models,
 * projects, /v1/status and the audit log.
 *
 * Entities come from two places.  Those of nginx.conf ("source":"config")
 * are in this process's configuration and are read-only here: PATCH and
 * DELETE answer 403, creating one with the same id 409.  Those created
 * through the API ("source":"db") live in the store; every read goes to
 * the store, so a change committed through any nginx process is what the
 * next request of every process sees.  Every write runs as one
 * transaction with its audit record, and answers after the commit.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_entities.h"
#include "ngx_voicegw_secret.h"
#include "ngx_voicegw_probe.h"


#define NGX_VOICEGW_SQL_NOW  "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


static ngx_int_t ngx_voicegw_v1_audit(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_sql_batch_t *b, const char *type,
    ngx_str_t *id, const char *action);
static ngx_int_t ngx_voicegw_v1_confirm(ngx_http_request_t *r,
    ngx_uint_t *confirm);
static ngx_int_t ngx_voicegw_v1_no_store(ngx_http_request_t *r);
static void ngx_voicegw_v1_sql_str(ngx_voicegw_json_t *j,
    ngx_voicegw_sql_value_t *v);
static void ngx_voicegw_v1_sql_num(ngx_voicegw_json_t *j,
    ngx_voicegw_sql_value_t *v);

static ngx_int_t ngx_voicegw_v1_providers(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_providers_list(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_provider_create(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_provider_created(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_provider_update(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_provider_delete(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);

static ngx_int_t ngx_voicegw_v1_models(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_models_list(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_model_create(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_model_created(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_model_delete(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);

static ngx_int_t ngx_voicegw_v1_projects(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_projects_list(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_project(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_project_show(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_project_create(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_project_update(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_project_write(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_uint_t create);
static ngx_int_t ngx_voicegw_v1_project_written(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_project_delete(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);

static ngx_int_t ngx_voicegw_v1_entity_delete(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, const char *type, ngx_uint_t in_conf);
static ngx_int_t ngx_voicegw_v1_entity_deleted(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);

static ngx_int_t ngx_voicegw_v1_status(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_status_show(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_audit_log(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_v1_audit_log_show(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);


ngx_voicegw_api_route_t  ngx_voicegw_api_v1_routes[] = {

    { NGX_HTTP_GET, ngx_string("/v1/providers"),
      ngx_voicegw_v1_providers, 0 },

    { NGX_HTTP_POST, ngx_string("/v1/providers"),
      ngx_voicegw_v1_provider_create, NGX_VOICEGW_API_BODY },

    { NGX_HTTP_PATCH, ngx_string("/v1/providers/{}"),
      ngx_voicegw_v1_provider_update, NGX_VOICEGW_API_BODY },

    { NGX_HTTP_DELETE, ngx_string("/v1/providers/{}"),
      ngx_voicegw_v1_provider_delete, 0 },

    { NGX_HTTP_POST, ngx_string("/v1/providers/{}/test"),
      ngx_voicegw_probe_handler, 0 },

    { NGX_HTTP_GET, ngx_string("/v1/models"),
      ngx_voicegw_v1_models, 0 },

    { NGX_HTTP_POST, ngx_string("/v1/models"),
      ngx_voicegw_v1_model_create, NGX_VOICEGW_API_BODY },

    { NGX_HTTP_DELETE, ngx_string("/v1/models/{*}"),
      ngx_voicegw_v1_model_delete, 0 },

    { NGX_HTTP_GET, ngx_string("/v1/projects"),
      ngx_voicegw_v1_projects, 0 },

    { NGX_HTTP_POST, ngx_string("/v1/projects"),
      ngx_voicegw_v1_project_create, NGX_VOICEGW_API_BODY },

    { NGX_HTTP_GET, ngx_string("/v1/projects/{}"),
      ngx_voicegw_v1_project, 0 },

    { NGX_HTTP_PATCH, ngx_string("/v1/projects/{}"),
      ngx_voicegw_v1_project_update, NGX_VOICEGW_API_BODY },

    { NGX_HTTP_DELETE, ngx_string("/v1/projects/{}"),
      ngx_voicegw_v1_project_delete, 0 },

    { NGX_HTTP_GET, ngx_string("/v1/status"),
      ngx_voicegw_v1_status, 0 },

    { NGX_HTTP_GET, ngx_string("/v1/audit-log"),
      ngx_voicegw_v1_audit_log, 0 },

    { 0, ngx_null_string, NULL, 0 }
};


/* -- shared --------------------------------------------------------------- */

/*
 * The audit record of a write, in the same transaction: the body's
 * fields as applied (api_key redacted, a base_url without its trailing
 * slashes), or null for a delete.
 */

static ngx_int_t
ngx_voicegw_v1_audit(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_sql_batch_t *b, const char *type, ngx_str_t *id,
    const char *action)
{
    ngx_str_t                *changes;
    ngx_voicegw_json_t       *j;
    ngx_voicegw_sql_stmt_t   *st;

    st = ngx_voicegw_sql_add(b,
             "INSERT INTO audit_log (timestamp, entity_type, entity_id, "
             "action, changes, source, actor) VALUES ("
             NGX_VOICEGW_SQL_NOW ", ?1, ?2, ?3, ?4, 'api', ?5)",
             NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NGX_ERROR;
    }

    changes = NULL;

    if (ctx->body != NULL) {
        changes = ngx_palloc(r->pool, sizeof(ngx_str_t));
        j = ngx_voicegw_api_json(r);

        if (changes == NULL || j == NULL) {
            return NGX_ERROR;
        }

        ngx_voicegw_json_value(j, ctx->body, "api_key");

        if (ngx_voicegw_json_string(j, r->pool, changes) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    ngx_voicegw_sql_ctext(st, type);
    ngx_voicegw_sql_text(st, id);
    ngx_voicegw_sql_ctext(st, action);
    ngx_voicegw_sql_text(st, changes);
    ngx_voicegw_sql_text(st, &ctx->actor);

    return NGX_OK;
}


/* ?confirm=true deletes; absent or false previews; anything else is 400 */

static ngx_int_t
ngx_voicegw_v1_confirm(ngx_http_request_t *r, ngx_uint_t *confirm)
{
    ngx_int_t  rc;
    ngx_str_t  v;

    *confirm = 0;

    rc = ngx_voicegw_api_arg(r, "confirm", &v);

    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    if (v.len == 4 && ngx_strncasecmp(v.data, (u_char *) "true", 4) == 0) {
        *confirm = 1;
        return NGX_OK;
    }

    if (v.len == 5 && ngx_strncasecmp(v.data, (u_char *) "false", 5) == 0) {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_voicegw_v1_no_store(ngx_http_request_t *r)
{
    return ngx_voicegw_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE, "no_store",
                                 "no voicegw_store is configured");
}


static void
ngx_voicegw_v1_sql_str(ngx_voicegw_json_t *j, ngx_voicegw_sql_value_t *v)
{
    if (v->type == NGX_VOICEGW_SQL_TEXT) {
        ngx_voicegw_json_str(j, &v->s);

    } else {
        ngx_voicegw_json_null(j);
    }
}


static void
ngx_voicegw_v1_sql_num(ngx_voicegw_json_t *j, ngx_voicegw_sql_value_t *v)
{
    if (v->type == NGX_VOICEGW_SQL_INT || v->type == NGX_VOICEGW_SQL_REAL) {
        ngx_voicegw_json_double(j, v->d);

    } else {
        ngx_voicegw_json_null(j);
    }
}


/* a string field of a body that may also be null or absent */

static ngx_str_t *
ngx_voicegw_v1_opt_str(ngx_voicegw_json_value_t *v)
{
    if (v == NULL || v->type != NGX_VOICEGW_JSON_STRING) {
        return NULL;
    }

    return &v->str;
}


/* a base url: http:// or https://, no spaces or controls, no trailing / */

static ngx_int_t
ngx_voicegw_v1_base_url(ngx_str_t *url)
{
    u_char  *p;

    if (!((url->len > 7 && ngx_strncmp(url->data, "http://", 7) == 0)
          || (url->len > 8 && ngx_strncmp(url->data, "https://", 8) == 0))
        || url->len > 2048)
    {
        return NGX_ERROR;
    }

    for (p = url->data; p < url->data + url->len; p++) {
        if (*p <= 0x20 || *p == 0x7f) {
            return NGX_ERROR;
        }
    }

    while (url->data[url->len - 1] == '/') {
        url->len--;
    }

    return NGX_OK;
}


/* -- providers -------------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_v1_providers(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_sql_batch_t  *b;

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_v1_providers_list(r, ctx);
    }

    b = ngx_voicegw_api_batch(r, ctx, 0);
    if (b == NULL
        || ngx_voicegw_sql_add(b, "SELECT id, type, api_key_masked, base_url "
                                  "FROM providers ORDER BY id",
                               NGX_VOICEGW_SQL_ANY)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_v1_providers_list);
}


/* nginx.conf's providers first, then the store's (hidden by a clash) */

static ngx_int_t
ngx_voicegw_v1_providers_list(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                     answer;
    ngx_uint_t                    i, n;
    ngx_voicegw_json_t           *j;
    ngx_voicegw_sql_stmt_t       *st;
    ngx_voicegw_sql_value_t      *row;
    ngx_voicegw_provider_conf_t  *p;

    st = NULL;

    if (ctx->op != NULL) {
        if (ngx_voicegw_api_batch_rows(r, ctx, &answer) == NULL) {
            return answer;
        }

        st = &((ngx_voicegw_sql_batch_t *) ctx->op->data)->stmt[0];
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "providers");
    ngx_voicegw_json_array_open(j);

    p = ctx->vmcf->providers.elts;

    for (i = 0; i < ctx->vmcf->providers.nelts; i++) {
        ngx_voicegw_json_map_open(j);
        ngx_voicegw_json_key(j, "provider_id");
        ngx_voicegw_json_str(j, &p[i].id);
        ngx_voicegw_json_key(j, "provider_type");
        ngx_voicegw_json_cstr(j, p[i].type->name);
        ngx_voicegw_json_key(j, "source");
        ngx_voicegw_json_cstr(j, "config");
        ngx_voicegw_json_key(j, "api_key_masked");
        ngx_voicegw_json_str(j, &p[i].masked);
        ngx_voicegw_json_key(j, "base_url");
        ngx_voicegw_json_strn(j, p[i].base_url.data, p[i].base_url.len);
        ngx_voicegw_json_map_close(j);
    }

    for (n = 0; st && n < st->nrows; n++) {
        row = &st->rows[n * st->ncols];

        if (ngx_voicegw_conf_provider(ctx->vmcf, &row[0].s) != NULL) {
            continue;
        }

        ngx_voicegw_json_map_open(j);
        ngx_voicegw_json_key(j, "provider_id");
        ngx_voicegw_v1_sql_str(j, &row[0]);
        ngx_voicegw_json_key(j, "provider_type");
        ngx_voicegw_v1_sql_str(j, &row[1]);
        ngx_voicegw_json_key(j, "source");
        ngx_voicegw_json_cstr(j, "db");
        ngx_voicegw_json_key(j, "api_key_masked");
        ngx_voicegw_v1_sql_str(j, &row[2]);
        ngx_voicegw_json_key(j, "base_url");
        ngx_voicegw_v1_sql_str(j, &row[3]);
        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_array_close(j);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


static const ngx_voicegw_field_t  ngx_voicegw_provider_fields[] = {
    { "provider_id", NGX_VOICEGW_F_STRING },
    { "provider_type", NGX_VOICEGW_F_STRING },
    { "api_key", NGX_VOICEGW_F_STRING|NGX_VOICEGW_F_NULL },
    { "base_url", NGX_VOICEGW_F_STRING|NGX_VOICEGW_F_NULL },
    { NULL, 0 }
};


typedef struct {
    ngx_str_t                    id;
    ngx_str_t                    masked;
} ngx_voicegw_v1_written_t;


/*
 * The checks POST and PATCH share: the type is known, the base url is
 * one, and a key is sealed (which needs voicegw_secret).  NGX_OK, or
 * NGX_DECLINED with *answer sent.
 */

static ngx_int_t
ngx_voicegw_v1_provider_values(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_str_t *id, ngx_voicegw_json_value_t **f,
    ngx_str_t *sealed, ngx_str_t *masked, ngx_int_t *answer)
{
    u_char     *p;
    ngx_str_t  *key, *url;

    if (f[1] != NULL && ngx_voicegw_provider_type(&f[1]->str) == NULL) {
        *answer = ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                        "unknown_provider_type",
                                        "unknown provider_type \"%V\"",
                                        &f[1]->str);
        return NGX_DECLINED;
    }

    url = ngx_voicegw_v1_opt_str(f[3]);

    if (url != NULL && ngx_voicegw_v1_base_url(url) != NGX_OK) {
        *answer = ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_field",
                                        "base_url must be an http:// or "
                                        "https:// url");
        return NGX_DECLINED;
    }

    ngx_str_set(sealed, "");
    ngx_str_set(masked, "");

    key = ngx_voicegw_v1_opt_str(f[2]);

    if (key == NULL || key->len == 0) {
        return NGX_OK;
    }

    for (p = key->data; p < key->data + key->len; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            *answer = ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_field",
                                            "api_key must be printable");
            return NGX_DECLINED;
        }
    }

    if (ctx->vmcf->secret == NULL) {
        *answer = ngx_voicegw_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "no_secret",
                                        "no voicegw_secret is configured: "
                                        "provider keys cannot be stored");
        return NGX_DECLINED;
    }

    if (ngx_voicegw_secret_encrypt(r->pool, ctx->vmcf->secret, id, key,
                                   sealed)
        != NGX_OK)
    {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    ngx_voicegw_secret_mask(r->pool, key, masked);

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_v1_provider_create(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                  answer;
    ngx_str_t                  sealed, masked, type;
    ngx_voicegw_sql_stmt_t    *st;
    ngx_voicegw_sql_batch_t   *b;
    ngx_voicegw_json_value_t  *f[4];
    ngx_voicegw_v1_written_t  *w;

    if (ngx_voicegw_api_fields(r, ctx, ngx_voicegw_provider_fields, f,
                               &answer)
        != NGX_OK)
    {
        return answer;
    }

    if (f[0] == NULL || !ngx_voicegw_valid_id(&f[0]->str)) {
        return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST, "invalid_id",
                                     "provider_id is required and must match "
                                     "[a-z0-9][a-z0-9._-]{0,63}");
    }

    type = f[1] ? f[1]->str : f[0]->str;

    if (ngx_voicegw_provider_type(&type) == NULL) {
        return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                     "unknown_provider_type",
                                     "unknown provider_type \"%V\"", &type);
    }

    if (ngx_voicegw_conf_provider(ctx->vmcf, &f[0]->str) != NULL) {
        return ngx_voicegw_api_error(r, NGX_HTTP_CONFLICT, "conflict",
                                     "provider \"%V\" is defined in "
                                     "nginx.conf", &f[0]->str);
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_v1_no_store(r);
    }

    if (ngx_voicegw_v1_provider_values(r, ctx, &f[0]->str, f, &sealed,
                                       &masked, &answer)
        != NGX_OK)
    {
        return answer;
    }

    w = ngx_palloc(r->pool, sizeof(ngx_voicegw_v1_written_t));
    b = ngx_voicegw_api_batch(r, ctx, 1);

    if (w == NULL || b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->id = f[0]->str;
    w->masked = masked;
    ctx->data = w;

    st = ngx_voicegw_sql_add(b,
             "INSERT INTO providers (id, type, api_key_enc, api_key_masked, "
             "base_url, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, "
             NGX_VOICEGW_SQL_NOW ", " NGX_VOICEGW_SQL_NOW ")",
             NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_sql_text(st, &f[0]->str);
    ngx_voicegw_sql_text(st, &type);
    ngx_voicegw_sql_text(st, &sealed);
    ngx_voicegw_sql_text(st, &masked);
    ngx_voicegw_sql_text(st, ngx_voicegw_v1_opt_str(f[3]));

    if (ngx_voicegw_v1_audit(r, ctx, b, "provider", &f[0]->str, "create")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx,
                                      ngx_voicegw_v1_provider_created);
}


static ngx_int_t
ngx_voicegw_v1_provider_created(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_json_t        *j;
    ngx_voicegw_sql_batch_t   *b;
    ngx_voicegw_v1_written_t  *w;

    b = ctx->op->data;
    w = ctx->data;

    if (ctx->op->rc == NGX_DECLINED && b->failed == 0) {
        ngx_voicegw_sql_free(b);
        return ngx_voicegw_api_error(r, NGX_HTTP_CONFLICT, "conflict",
                                     "provider \"%V\" already exists",
                                     &w->id);
    }

    if (ctx->op->rc != NGX_OK) {
        return ngx_voicegw_api_batch_failed(r, ctx);
    }

    ngx_voicegw_sql_free(b);

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "provider_id");
    ngx_voicegw_json_str(j, &w->id);
    ngx_voicegw_json_key(j, "source");
    ngx_voicegw_json_cstr(j, "db");
    ngx_voicegw_json_key(j, "api_key_masked");
    ngx_voicegw_json_str(j, &w->masked);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


/* PATCH: the fields named change, the others keep their values */

static ngx_int_t
ngx_voicegw_v1_provider_update(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_str_t                 *id, sealed, masked;
    ngx_int_t                  answer;
    ngx_voicegw_sql_stmt_t    *st;
    ngx_voicegw_sql_batch_t   *b;
    ngx_voicegw_json_value_t  *f[4];

    id = &ctx->params[0];

    if (ngx_voicegw_api_fields(r, ctx, ngx_voicegw_provider_fields, f,
                               &answer)
        != NGX_OK)
    {
        return answer;
    }

    if (f[0] != NULL
        && (f[0]->str.len != id->len
            || ngx_strncmp(f[0]->str.data, id->data, id->len) != 0))
    {
        return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_field",
                                     "provider_id cannot be changed");
    }

    if (ngx_voicegw_conf_provider(ctx->vmcf, id) != NULL) {
        return ngx_voicegw_api_error(r, NGX_HTTP_FORBIDDEN, "read_only",
                                     "provider \"%V\" is defined in "
                                     "nginx.conf and read-only here", id);
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_v1_no_store(r);
    }

    if (ngx_voicegw_v1_provider_values(r, ctx, id, f, &sealed, &masked,
                                       &answer)
        != NGX_OK)
    {
        return answer;
    }

    b = ngx_voicegw_api_batch(r, ctx, 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = id;

    st = ngx_voicegw_sql_add(b,
             "UPDATE providers SET "
             "type = CASE WHEN ?2 THEN ?3 ELSE type END, "
             "api_key_enc = CASE WHEN ?4 THEN ?5 ELSE api_key_enc END, "
             "api_key_masked = CASE WHEN ?4 THEN ?6 ELSE api_key_masked END, "
             "base_url = CASE WHEN ?7 THEN ?8 ELSE base_url END, "
             "updated_at = " NGX_VOICEGW_SQL_NOW " WHERE id = ?1",
             NGX_VOICEGW_SQL_CHANGED);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_sql_text(st, id);
    ngx_voicegw_sql_int(st, f[1] != NULL);
    ngx_voicegw_sql_text(st, f[1] ? &f[1]->str : NULL);
    ngx_voicegw_sql_int(st, f[2] != NULL);
    ngx_voicegw_sql_text(st, &sealed);
    ngx_voicegw_sql_text(st, &masked);
    ngx_voicegw_sql_int(st, f[3] != NULL);
    ngx_voicegw_sql_text(st, ngx_voicegw_v1_opt_str(f[3]));

    if (ngx_voicegw_v1_audit(r, ctx, b, "provider", id, "update") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = (void *) "provider";

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_v1_entity_deleted);
}


static ngx_int_t
ngx_voicegw_v1_provider_delete(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    return ngx_voicegw_v1_entity_delete(r, ctx, "provider",
               ngx_voicegw_conf_provider(ctx->vmcf, &ctx->params[0]) != NULL);
}


/* -- models ----------------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_v1_models(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_str_t                 project;
    ngx_voicegw_sql_stmt_t   *st;
    ngx_voicegw_sql_batch_t  *b;

    rc = ngx_voicegw_api_arg(r, "project", &project);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_v1_models_list(r, ctx);
    }

    b = ngx_voicegw_api_batch(r, ctx, 0);
    if (b == NULL
        || ngx_voicegw_sql_add(b,
               "SELECT id, provider_id, model_name, modality, display_name, "
               "default_language, default_voice, price_per_minute, "
               "price_per_1k_input_tokens, price_per_1k_output_tokens, "
               "price_per_character FROM models ORDER BY id",
               NGX_VOICEGW_SQL_ANY)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = ngx_voicegw_sql_add(b, "SELECT default_stack FROM projects "
                                "WHERE id = ?1", NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_sql_text(st, rc == NGX_OK ? &project : NULL);

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_v1_models_list);
}


/* is model id in the stack (or is there no stack filter) */

static ngx_uint_t
ngx_voicegw_v1_in_stack(ngx_voicegw_stack_conf_t *stack, ngx_str_t *id)
{
    ngx_str_t  *m[3];
    ngx_uint_t  i;

    if (stack == NULL) {
        return 1;
    }

    m[0] = &stack->stt;
    m[1] = &stack->llm;
    m[2] = &stack->tts;

    for (i = 0; i < 3; i++) {
        if (m[i]->len == id->len
            && ngx_strncmp(m[i]->data, id->data, id->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static void
ngx_voicegw_v1_model_json(ngx_voicegw_json_t *j, ngx_str_t *modality,
    ngx_str_t *provider, ngx_str_t *name, const char *source,
    ngx_voicegw_sql_value_t *db, ngx_voicegw_model_conf_t *conf)
{
    ngx_uint_t  k;

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "modality");
    ngx_voicegw_json_str(j, modality);
    ngx_voicegw_json_key(j, "provider");
    ngx_voicegw_json_str(j, provider);
    ngx_voicegw_json_key(j, "model");
    ngx_voicegw_json_str(j, name);
    ngx_voicegw_json_key(j, "source");
    ngx_voicegw_json_cstr(j, source);

    ngx_voicegw_json_key(j, "display_name");

    if (db) {
        ngx_voicegw_v1_sql_str(j, &db[4]);

    } else {
        ngx_voicegw_json_strn(j, conf->display_name.data,
                              conf->display_name.len);
    }

    ngx_voicegw_json_key(j, "default_language");

    if (db) {
        ngx_voicegw_v1_sql_str(j, &db[5]);

    } else {
        ngx_voicegw_json_strn(j, conf->default_language.data,
                              conf->default_language.len);
    }

    ngx_voicegw_json_key(j, "default_voice");

    if (db) {
        ngx_voicegw_v1_sql_str(j, &db[6]);

    } else {
        ngx_voicegw_json_strn(j, conf->default_voice.data,
                              conf->default_voice.len);
    }

    ngx_voicegw_json_key(j, "pricing");
    ngx_voicegw_json_map_open(j);

    for (k = 0; k < NGX_VOICEGW_NPRICES; k++) {
        ngx_voicegw_json_key(j, ngx_voicegw_price_fields[k]);

        if (db) {
            ngx_voicegw_v1_sql_num(j, &db[7 + k]);

        } else if (conf->priced & ((ngx_uint_t) 1 << k)) {
            ngx_voicegw_json_double(j, conf->price[k]);

        } else {
            ngx_voicegw_json_null(j);
        }
    }

    ngx_voicegw_json_map_close(j);
    ngx_voicegw_json_map_close(j);
}


/*
 * {"models":{id:{...}},"project":..}: with ?project=, only the models of
 * the project's default stack (all of them when it has none); an unknown
 * project is 404.
 */

static ngx_int_t
ngx_voicegw_v1_models_list(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                    has_project, answer;
    ngx_str_t                    project, stack_name;
    ngx_uint_t                   i, n;
    ngx_voicegw_json_t          *j;
    ngx_voicegw_sql_stmt_t      *st, *pst;
    ngx_voicegw_sql_value_t     *row;
    ngx_voicegw_stack_conf_t    *stack;
    ngx_voicegw_model_conf_t    *m;
    ngx_voicegw_project_conf_t  *pc;

    st = NULL;
    pst = NULL;

    if (ctx->op != NULL) {
        if (ngx_voicegw_api_batch_rows(r, ctx, &answer) == NULL) {
            return answer;
        }

        st = &((ngx_voicegw_sql_batch_t *) ctx->op->data)->stmt[0];
        pst = &((ngx_voicegw_sql_batch_t *) ctx->op->data)->stmt[1];
    }

    has_project = (ngx_voicegw_api_arg(r, "project", &project) == NGX_OK);
    stack = NULL;

    if (has_project) {
        pc = ngx_voicegw_conf_project(ctx->vmcf, &project);

        if (pc != NULL) {
            stack_name = pc->default_stack;

        } else if (pst != NULL && pst->nrows) {
            stack_name = pst->rows[0].type == NGX_VOICEGW_SQL_TEXT
                         ? pst->rows[0].s : (ngx_str_t) ngx_null_string;

        } else {
            return ngx_voicegw_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                         "no project \"%V\"", &project);
        }

        if (stack_name.len) {
            stack = ngx_voicegw_conf_stack(ctx->vmcf, &stack_name);
        }
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "models");
    ngx_voicegw_json_map_open(j);

    m = ctx->vmcf->models.elts;

    for (i = 0; i < ctx->vmcf->models.nelts; i++) {
        if (!ngx_voicegw_v1_in_stack(stack, &m[i].id)) {
            continue;
        }

        ngx_voicegw_json_str(j, &m[i].id);
        ngx_voicegw_v1_model_json(j, &m[i].modality, &m[i].provider,
                                  &m[i].name, "config", NULL, &m[i]);
    }

    for (n = 0; st && n < st->nrows; n++) {
        row = &st->rows[n * st->ncols];

        if (ngx_voicegw_conf_model(ctx->vmcf, &row[0].s) != NULL
            || !ngx_voicegw_v1_in_stack(stack, &row[0].s))
        {
            continue;
        }

        ngx_voicegw_json_str(j, &row[0].s);
        ngx_voicegw_v1_model_json(j, &row[3].s, &row[1].s, &row[2].s, "db",
                                  row, NULL);
    }

    ngx_voicegw_json_map_close(j);
    ngx_voicegw_json_key(j, "project");

    if (has_project) {
        ngx_voicegw_json_str(j, &project);

    } else {
        ngx_voicegw_json_null(j);
    }

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


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


static ngx_int_t
ngx_voicegw_v1_model_create(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    u_char                    *p;
    ngx_int_t                  answer;
    ngx_str_t                 *id;
    ngx_uint_t                 k;
    ngx_voicegw_sql_stmt_t    *st;
    ngx_voicegw_sql_batch_t   *b;
    ngx_voicegw_json_value_t  *f[10];

    if (ngx_voicegw_api_fields(r, ctx, ngx_voicegw_model_fields, f, &answer)
        != NGX_OK)
    {
        return answer;
    }

    if (!ngx_voicegw_valid_modality(&f[0]->str)) {
        return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                     "unknown_modality",
                                     "modality must be stt, llm or tts");
    }

    if (!ngx_voicegw_valid_id(&f[1]->str)) {
        return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST, "invalid_id",
                                     "provider_id must match "
                                     "[a-z0-9][a-z0-9._-]{0,63}");
    }

    if (!ngx_voicegw_valid_model_name(&f[2]->str)) {
        return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST, "invalid_id",
                                     "model_name must match "
                                     "[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}");
    }

    for (k = 0; k < NGX_VOICEGW_NPRICES; k++) {
        if (f[6 + k] != NULL && f[6 + k]->type == NGX_VOICEGW_JSON_NUMBER
            && (f[6 + k]->d < 0 || f[6 + k]->d > 1e6))
        {
            return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_field",
                                         "%s must be between 0 and 1000000",
                                         ngx_voicegw_price_fields[k]);
        }
    }

    id = ngx_palloc(r->pool, sizeof(ngx_str_t));
    if (id == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    id->len = f[1]->str.len + 1 + f[2]->str.len;
    id->data = ngx_pnalloc(r->pool, id->len);
    if (id->data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(id->data, f[1]->str.data, f[1]->str.len);
    *p++ = '/';
    ngx_memcpy(p, f[2]->str.data, f[2]->str.len);

    if (ngx_voicegw_conf_model(ctx->vmcf, id) != NULL) {
        return ngx_voicegw_api_error(r, NGX_HTTP_CONFLICT, "conflict",
                                     "model \"%V\" is defined in nginx.conf",
                                     id);
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_v1_no_store(r);
    }

    b = ngx_voicegw_api_batch(r, ctx, 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = id;

    /* the provider: nginx.conf's, or one in the store (statement 0) */

    if (ngx_voicegw_conf_provider(ctx->vmcf, &f[1]->str) == NULL) {
        st = ngx_voicegw_sql_add(b, "SELECT 1 FROM providers WHERE id = ?1",
                                 NGX_VOICEGW_SQL_ROW);
        if (st == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_voicegw_sql_text(st, &f[1]->str);

    } else if (ngx_voicegw_sql_add(b, "SELECT 1", NGX_VOICEGW_SQL_ROW)
               == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = ngx_voicegw_sql_add(b,
             "INSERT INTO models (id, provider_id, model_name, modality, "
             "display_name, default_language, default_voice, "
             "price_per_minute, price_per_1k_input_tokens, "
             "price_per_1k_output_tokens, price_per_character, created_at, "
             "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
             "?11, " NGX_VOICEGW_SQL_NOW ", " NGX_VOICEGW_SQL_NOW ")",
             NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_sql_text(st, id);
    ngx_voicegw_sql_text(st, &f[1]->str);
    ngx_voicegw_sql_text(st, &f[2]->str);
    ngx_voicegw_sql_text(st, &f[0]->str);
    ngx_voicegw_sql_text(st, ngx_voicegw_v1_opt_str(f[3]));
    ngx_voicegw_sql_text(st, ngx_voicegw_v1_opt_str(f[4]));
    ngx_voicegw_sql_text(st, ngx_voicegw_v1_opt_str(f[5]));

    for (k = 0; k < NGX_VOICEGW_NPRICES; k++) {
        if (f[6 + k] != NULL && f[6 + k]->type == NGX_VOICEGW_JSON_NUMBER) {
            ngx_voicegw_sql_real(st, f[6 + k]->d);

        } else {
            ngx_voicegw_sql_null(st);
        }
    }

    if (ngx_voicegw_v1_audit(r, ctx, b, "model", id, "create") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_v1_model_created);
}


static ngx_int_t
ngx_voicegw_v1_model_created(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_str_t                *id;
    ngx_voicegw_json_t       *j;
    ngx_voicegw_sql_batch_t  *b;

    b = ctx->op->data;
    id = ctx->data;

    if (ctx->op->rc == NGX_DECLINED && b->failed == 0) {
        ngx_voicegw_sql_free(b);
        return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                     "unknown_provider",
                                     "provider \"%V\" is not configured",
                                     &ngx_voicegw_json_get(ctx->body,
                                                     "provider_id")->str);
    }

    if (ctx->op->rc == NGX_DECLINED && b->failed == 1) {
        ngx_voicegw_sql_free(b);
        return ngx_voicegw_api_error(r, NGX_HTTP_CONFLICT, "conflict",
                                     "model \"%V\" already exists", id);
    }

    if (ctx->op->rc != NGX_OK) {
        return ngx_voicegw_api_batch_failed(r, ctx);
    }

    ngx_voicegw_sql_free(b);

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

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


static ngx_int_t
ngx_voicegw_v1_model_delete(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    return ngx_voicegw_v1_entity_delete(r, ctx, "model",
               ngx_voicegw_conf_model(ctx->vmcf, &ctx->params[0]) != NULL);
}


/* -- deleting, the same for every entity ------------------------------------ */

typedef struct {
    const char                  *type;
    ngx_str_t                   *id;
    ngx_uint_t                   confirm;
} ngx_voicegw_v1_delete_t;


/*
 * DELETE /v1/<type>s/{id}; in_conf: the id is one of nginx.conf's, which
 * is read-only (403).
 * Without ?confirm=true: {"would_delete":{"<type>_id":id}} (404 when it
 * does not exist).  With it, in one transaction: it must exist, a
 * provider must have no models left in the store, then the row goes and
 * the audit log says so: {"deleted":id}.
 */

static ngx_int_t
ngx_voicegw_v1_entity_delete(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    const char *type, ngx_uint_t in_conf)
{
    ngx_int_t                 rc;
    ngx_str_t                *id;
    ngx_uint_t                confirm, provider;
    ngx_voicegw_sql_stmt_t   *st;
    ngx_voicegw_sql_batch_t  *b;
    ngx_voicegw_v1_delete_t  *d;

    id = &ctx->params[0];

    if (in_conf) {
        return ngx_voicegw_api_error(r, NGX_HTTP_FORBIDDEN, "read_only",
                                     "%s \"%V\" is defined in nginx.conf "
                                     "and cannot be deleted", type, id);
    }

    rc = ngx_voicegw_v1_confirm(r, &confirm);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_query",
                                     "confirm must be true or false");
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no %s \"%V\"", type, id);
    }

    d = ngx_palloc(r->pool, sizeof(ngx_voicegw_v1_delete_t));
    b = ngx_voicegw_api_batch(r, ctx, confirm);

    if (d == NULL || b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    d->type = type;
    d->id = id;
    d->confirm = confirm;
    ctx->data = d;

    provider = (ngx_strcmp(type, "provider") == 0);

    st = ngx_voicegw_sql_add(b, provider
                                ? "SELECT id FROM providers WHERE id = ?1"
                                : (type[0] == 'm'
                                   ? "SELECT id FROM models WHERE id = ?1"
                                   : "SELECT id FROM projects WHERE id = ?1"),
                             NGX_VOICEGW_SQL_ROW);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_sql_text(st, id);

    st = ngx_voicegw_sql_add(b, provider
                                ? "SELECT id FROM models "
                                  "WHERE provider_id = ?1 ORDER BY id"
                                : "SELECT 1 WHERE 0",
                             confirm ? NGX_VOICEGW_SQL_NO_ROW
                                     : NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (provider) {
        ngx_voicegw_sql_text(st, id);
    }

    if (confirm) {
        st = ngx_voicegw_sql_add(b, provider
                                    ? "DELETE FROM providers WHERE id = ?1"
                                    : (type[0] == 'm'
                                       ? "DELETE FROM models WHERE id = ?1"
                                       : "DELETE FROM projects "
                                         "WHERE id = ?1"),
                                 NGX_VOICEGW_SQL_CHANGED);
        if (st == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_voicegw_sql_text(st, id);

        if (ngx_voicegw_v1_audit(r, ctx, b, type, id, "delete") != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_v1_entity_deleted);
}


/*
 * The answer to a delete (preview or done) and to a PATCH of a provider
 * or project: ctx->data is the ngx_voicegw_v1_delete_t of a delete, or
 * the entity type of an update.
 */

static ngx_int_t
ngx_voicegw_v1_entity_deleted(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    u_char                    key[32];
    ngx_uint_t                n;
    ngx_voicegw_json_t       *j;
    ngx_voicegw_sql_stmt_t   *models;
    ngx_voicegw_sql_batch_t  *b;
    ngx_voicegw_v1_delete_t  *d, update;

    b = ctx->op->data;

    if (ctx->route->method == NGX_HTTP_PATCH) {
        update.type = ctx->data;
        update.id = &ctx->params[0];
        update.confirm = 1;
        d = &update;

        if (ctx->op->rc == NGX_DECLINED && b->failed == 0) {
            ngx_voicegw_sql_free(b);
            return ngx_voicegw_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                         "no %s \"%V\"", d->type, d->id);
        }

    } else {
        d = ctx->data;

        if (ctx->op->rc == NGX_DECLINED && b->failed == 0) {
            ngx_voicegw_sql_free(b);
            return ngx_voicegw_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                         "no %s \"%V\"", d->type, d->id);
        }

        if (ctx->op->rc == NGX_DECLINED && b->failed == 1) {
            ngx_voicegw_sql_free(b);
            return ngx_voicegw_api_error(r, NGX_HTTP_CONFLICT, "in_use",
                                         "provider \"%V\" still has models "
                                         "in the store; delete them first",
                                         d->id);
        }
    }

    if (ctx->op->rc != NGX_OK
        || ngx_voicegw_sql_collect(r->pool, b) != NGX_OK)
    {
        return ngx_voicegw_api_batch_failed(r, ctx);
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);

    if (ctx->route->method == NGX_HTTP_PATCH) {
        ngx_snprintf(key, sizeof(key), "%s_id%Z", d->type);
        ngx_voicegw_json_key(j, (char *) key);
        ngx_voicegw_json_str(j, d->id);
        ngx_voicegw_json_key(j, "updated");
        ngx_voicegw_json_bool(j, 1);

    } else if (d->confirm) {
        ngx_voicegw_json_key(j, "deleted");
        ngx_voicegw_json_str(j, d->id);

    } else {
        ngx_voicegw_json_key(j, "would_delete");
        ngx_voicegw_json_map_open(j);
        ngx_snprintf(key, sizeof(key), "%s_id%Z", d->type);
        ngx_voicegw_json_key(j, (char *) key);
        ngx_voicegw_json_str(j, d->id);

        models = &b->stmt[1];

        if (ngx_strcmp(d->type, "provider") == 0) {
            ngx_voicegw_json_key(j, "models");
            ngx_voicegw_json_array_open(j);

            for (n = 0; n < models->nrows; n++) {
                ngx_voicegw_v1_sql_str(j, &models->rows[n * models->ncols]);
            }

            ngx_voicegw_json_array_close(j);
        }

        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


/* -- projects --------------------------------------------------------------- */

#define NGX_VOICEGW_V1_PROJECT_COLUMNS                                        \
    "id, name, description, daily_budget, budget_action, default_stack, "    \
    "tags, accent"

#define NGX_VOICEGW_V1_TODAY                                                  \
    "strftime('%Y-%m-%d', 'now')"


static ngx_int_t
ngx_voicegw_v1_projects(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_sql_batch_t  *b;

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_v1_projects_list(r, ctx);
    }

    b = ngx_voicegw_api_batch(r, ctx, 0);
    if (b == NULL
        || ngx_voicegw_sql_add(b, "SELECT " NGX_VOICEGW_V1_PROJECT_COLUMNS
                                  " FROM projects ORDER BY id",
                               NGX_VOICEGW_SQL_ANY)
           == NULL
        || ngx_voicegw_sql_add(b, "SELECT project, sum(cost_usd), "
                                  "sum(requests) FROM daily WHERE day = "
                                  NGX_VOICEGW_V1_TODAY " GROUP BY project",
                               NGX_VOICEGW_SQL_ANY)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_v1_projects_list);
}


/* a project, from nginx.conf (c) or a store row (row) */

static void
ngx_voicegw_v1_project_json(ngx_http_request_t *r, ngx_voicegw_json_t *j,
    ngx_voicegw_project_conf_t *c, ngx_voicegw_sql_value_t *row,
    ngx_uint_t close)
{
    u_char                    err[64];
    ngx_str_t                *tags, accent;
    ngx_uint_t                i;
    ngx_voicegw_json_value_t *list;

    ngx_voicegw_json_map_open(j);

    ngx_voicegw_json_key(j, "id");
    ngx_voicegw_json_str(j, c ? &c->id : &row[0].s);
    ngx_voicegw_json_key(j, "name");
    ngx_voicegw_json_str(j, c ? &c->name : &row[1].s);
    ngx_voicegw_json_key(j, "description");
    ngx_voicegw_json_str(j, c ? &c->description : &row[2].s);
    ngx_voicegw_json_key(j, "daily_budget");
    ngx_voicegw_json_double(j, c ? c->daily_budget : row[3].d);
    ngx_voicegw_json_key(j, "budget_action");
    ngx_voicegw_json_str(j, c ? &c->budget_action : &row[4].s);
    ngx_voicegw_json_key(j, "default_stack");

    if (c) {
        ngx_voicegw_json_strn(j, c->default_stack.data, c->default_stack.len);

    } else {
        ngx_voicegw_v1_sql_str(j, &row[5]);
    }

    ngx_voicegw_json_key(j, "tags");

    if (c) {
        ngx_voicegw_json_array_open(j);

        tags = c->tags.elts;

        for (i = 0; i < c->tags.nelts; i++) {
            ngx_voicegw_json_str(j, &tags[i]);
        }

        ngx_voicegw_json_array_close(j);

    } else if (row[6].type == NGX_VOICEGW_SQL_TEXT
               && ngx_voicegw_json_parse(r->pool, row[6].s.data, row[6].s.len,
                                         &list, err, sizeof(err))
                  == NGX_OK)
    {
        ngx_voicegw_json_value(j, list, NULL);

    } else {
        ngx_voicegw_json_array_open(j);
        ngx_voicegw_json_array_close(j);
    }

    ngx_voicegw_json_key(j, "accent");

    if (c) {
        ngx_voicegw_json_str(j, &c->accent);

    } else if (row[7].type == NGX_VOICEGW_SQL_TEXT && row[7].s.len) {
        ngx_voicegw_json_str(j, &row[7].s);

    } else {
        ngx_str_null(&accent);

        if (row[6].type == NGX_VOICEGW_SQL_TEXT
            && ngx_voicegw_json_parse(r->pool, row[6].s.data, row[6].s.len,
                                      &list, err, sizeof(err))
               == NGX_OK
            && list->type == NGX_VOICEGW_JSON_ARRAY && list->n)
        {
            ngx_voicegw_default_accent(&list->items[0]->str, &accent);

        } else {
            ngx_voicegw_default_accent(NULL, &accent);
        }

        ngx_voicegw_json_str(j, &accent);
    }

    ngx_voicegw_json_key(j, "source");
    ngx_voicegw_json_cstr(j, c ? "config" : "db");

    if (close) {
        ngx_voicegw_json_map_close(j);
    }
}


/* today's cost and requests of a project, from statement st's rows */

static void
ngx_voicegw_v1_today(ngx_voicegw_sql_stmt_t *st, ngx_str_t *id, double *cost,
    int64_t *requests)
{
    ngx_uint_t                n;
    ngx_voicegw_sql_value_t  *row;

    *cost = 0;
    *requests = 0;

    for (n = 0; st && n < st->nrows; n++) {
        row = &st->rows[n * st->ncols];

        if (row[0].s.len == id->len
            && ngx_strncmp(row[0].s.data, id->data, id->len) == 0)
        {
            *cost = row[1].d;
            *requests = row[2].i;
            return;
        }
    }
}


static void
ngx_voicegw_v1_stats_json(ngx_voicegw_json_t *j, double cost,
    int64_t requests)
{
    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "cost_today");
    ngx_voicegw_json_double(j, cost);
    ngx_voicegw_json_key(j, "requests_today");
    ngx_voicegw_json_int(j, requests);
    ngx_voicegw_json_map_close(j);
}


static ngx_int_t
ngx_voicegw_v1_projects_list(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    double                       cost;
    int64_t                      requests;
    ngx_int_t                    answer;
    ngx_uint_t                   i, n, pass;
    ngx_voicegw_json_t          *j;
    ngx_voicegw_sql_stmt_t      *st, *today;
    ngx_voicegw_sql_value_t     *row;
    ngx_voicegw_project_conf_t  *pc;

    st = NULL;
    today = NULL;

    if (ctx->op != NULL) {
        if (ngx_voicegw_api_batch_rows(r, ctx, &answer) == NULL) {
            return answer;
        }

        st = &((ngx_voicegw_sql_batch_t *) ctx->op->data)->stmt[0];
        today = &((ngx_voicegw_sql_batch_t *) ctx->op->data)->stmt[1];
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pc = ctx->vmcf->projects.elts;

    ngx_voicegw_json_map_open(j);

    /* the same walk twice: the list, then the stats of each */

    for (pass = 0; pass < 2; pass++) {
        ngx_voicegw_json_key(j, pass ? "stats" : "projects");

        if (pass) {
            ngx_voicegw_json_map_open(j);

        } else {
            ngx_voicegw_json_array_open(j);
        }

        for (i = 0; i < ctx->vmcf->projects.nelts; i++) {
            if (pass) {
                ngx_voicegw_json_str(j, &pc[i].id);
                ngx_voicegw_v1_today(today, &pc[i].id, &cost, &requests);
                ngx_voicegw_v1_stats_json(j, cost, requests);

            } else {
                ngx_voicegw_v1_project_json(r, j, &pc[i], NULL, 1);
            }
        }

        for (n = 0; st && n < st->nrows; n++) {
            row = &st->rows[n * st->ncols];

            if (ngx_voicegw_conf_project(ctx->vmcf, &row[0].s) != NULL) {
                continue;
            }

            if (pass) {
                ngx_voicegw_json_str(j, &row[0].s);
                ngx_voicegw_v1_today(today, &row[0].s, &cost, &requests);
                ngx_voicegw_v1_stats_json(j, cost, requests);

            } else {
                ngx_voicegw_v1_project_json(r, j, NULL, row, 1);
            }
        }

        if (pass) {
            ngx_voicegw_json_map_close(j);

        } else {
            ngx_voicegw_json_array_close(j);
        }
    }

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


static ngx_int_t
ngx_voicegw_v1_project(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_str_t                *id;
    ngx_voicegw_sql_stmt_t   *st;
    ngx_voicegw_sql_batch_t  *b;

    id = &ctx->params[0];

    if (ctx->vmcf->store == NULL) {
        if (ngx_voicegw_conf_project(ctx->vmcf, id) == NULL) {
            return ngx_voicegw_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                         "no project \"%V\"", id);
        }

        return ngx_voicegw_v1_project_show(r, ctx);
    }

    b = ngx_voicegw_api_batch(r, ctx, 0);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = ngx_voicegw_sql_add(b, "SELECT " NGX_VOICEGW_V1_PROJECT_COLUMNS
                                " FROM projects WHERE id = ?1",
                             NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_sql_text(st, id);

    st = ngx_voicegw_sql_add(b, "SELECT provider, sum(cost_usd), "
                                "sum(requests) FROM daily WHERE day = "
                                NGX_VOICEGW_V1_TODAY " AND project = ?1 "
                                "GROUP BY provider ORDER BY 2 DESC",
                             NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_sql_text(st, id);

    st = ngx_voicegw_sql_add(b, "SELECT model_id, sum(cost_usd), "
                                "sum(requests) FROM daily WHERE day = "
                                NGX_VOICEGW_V1_TODAY " AND project = ?1 "
                                "GROUP BY model_id ORDER BY 2 DESC",
                             NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_sql_text(st, id);

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_v1_project_show);
}


/* {"cost":..,"requests":..} of every group of statement st */

static void
ngx_voicegw_v1_groups_json(ngx_voicegw_json_t *j, ngx_voicegw_sql_stmt_t *st,
    double *total, int64_t *requests)
{
    ngx_uint_t                n;
    ngx_voicegw_sql_value_t  *row;

    ngx_voicegw_json_map_open(j);

    for (n = 0; st && n < st->nrows; n++) {
        row = &st->rows[n * st->ncols];

        ngx_voicegw_json_str(j, &row[0].s);
        ngx_voicegw_json_map_open(j);
        ngx_voicegw_json_key(j, "cost");
        ngx_voicegw_json_double(j, row[1].d);
        ngx_voicegw_json_key(j, "requests");
        ngx_voicegw_json_int(j, row[2].i);
        ngx_voicegw_json_map_close(j);

        if (total) {
            *total += row[1].d;
            *requests += row[2].i;
        }
    }

    ngx_voicegw_json_map_close(j);
}


/*
 * The project with today's spend: budget_status is ok below 80 % of the
 * daily budget, warning from 80 %, exceeded from 100 %; ok without one.
 */

static ngx_int_t
ngx_voicegw_v1_project_show(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    double                       spend, budget;
    int64_t                      requests;
    ngx_int_t                    answer;
    const char                  *status;
    ngx_str_t                   *id;
    ngx_voicegw_json_t          *j;
    ngx_voicegw_sql_stmt_t      *st, *by_provider, *by_model;
    ngx_voicegw_sql_value_t     *row;
    ngx_voicegw_project_conf_t  *pc;

    id = &ctx->params[0];
    row = NULL;
    by_provider = NULL;
    by_model = NULL;

    if (ctx->op != NULL) {
        if (ngx_voicegw_api_batch_rows(r, ctx, &answer) == NULL) {
            return answer;
        }

        st = &((ngx_voicegw_sql_batch_t *) ctx->op->data)->stmt[0];
        by_provider = &((ngx_voicegw_sql_batch_t *) ctx->op->data)->stmt[1];
        by_model = &((ngx_voicegw_sql_batch_t *) ctx->op->data)->stmt[2];
        row = st->nrows ? st->rows : NULL;
    }

    pc = ngx_voicegw_conf_project(ctx->vmcf, id);

    if (pc == NULL && row == NULL) {
        return ngx_voicegw_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no project \"%V\"", id);
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_v1_project_json(r, j, pc, row, 0);

    /* today's figures, summed while they are written out */

    spend = 0;
    requests = 0;

    ngx_voicegw_json_key(j, "costs_today");
    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "by_provider");
    ngx_voicegw_v1_groups_json(j, by_provider, &spend, &requests);
    ngx_voicegw_json_key(j, "by_model");
    ngx_voicegw_v1_groups_json(j, by_model, NULL, NULL);
    ngx_voicegw_json_key(j, "total");
    ngx_voicegw_json_double(j, spend);
    ngx_voicegw_json_map_close(j);

    budget = pc ? pc->daily_budget : row[3].d;

    if (budget <= 0 || spend < 0.8 * budget) {
        status = "ok";

    } else if (spend < budget) {
        status = "warning";

    } else {
        status = "exceeded";
    }

    ngx_voicegw_json_key(j, "today_spend");
    ngx_voicegw_json_double(j, spend);
    ngx_voicegw_json_key(j, "budget_status");
    ngx_voicegw_json_cstr(j, status);
    ngx_voicegw_json_key(j, "today");
    ngx_voicegw_v1_stats_json(j, spend, requests);

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


static const ngx_voicegw_field_t  ngx_voicegw_project_fields[] = {
    { "project_id", NGX_VOICEGW_F_STRING },
    { "name", NGX_VOICEGW_F_STRING },
    { "description", NGX_VOICEGW_F_STRING|NGX_VOICEGW_F_NULL },
    { "daily_budget", NGX_VOICEGW_F_NUMBER },
    { "budget_action", NGX_VOICEGW_F_STRING },
    { "default_stack", NGX_VOICEGW_F_STRING|NGX_VOICEGW_F_NULL },
    { "tags", NGX_VOICEGW_F_STRINGS },
    { "accent", NGX_VOICEGW_F_STRING|NGX_VOICEGW_F_NULL },
    { NULL, 0 }
};


static ngx_int_t
ngx_voicegw_v1_project_create(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    return ngx_voicegw_v1_project_write(r, ctx, 1);
}


static ngx_int_t
ngx_voicegw_v1_project_update(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    return ngx_voicegw_v1_project_write(r, ctx, 0);
}


/*
 * POST and PATCH of a project share the checks; a PATCH changes only
 * the fields it names (a "CASE WHEN named" per column).
 */

static ngx_int_t
ngx_voicegw_v1_project_write(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_uint_t create)
{
    ngx_str_t                 *id, *name, *action, tags;
    ngx_int_t                  answer;
    ngx_uint_t                 k;
    ngx_voicegw_json_t        *j;
    ngx_voicegw_sql_stmt_t    *st;
    ngx_voicegw_sql_batch_t   *b;
    ngx_voicegw_json_value_t  *f[8];

    if (ngx_voicegw_api_fields(r, ctx, ngx_voicegw_project_fields, f,
                               &answer)
        != NGX_OK)
    {
        return answer;
    }

    if (create) {
        if (f[0] == NULL || !ngx_voicegw_valid_id(&f[0]->str)) {
            return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_id",
                                         "project_id is required and must "
                                         "match [a-z0-9][a-z0-9._-]{0,63}");
        }

        id = &f[0]->str;

    } else {
        id = &ctx->params[0];

        if (f[0] != NULL
            && (f[0]->str.len != id->len
                || ngx_strncmp(f[0]->str.data, id->data, id->len) != 0))
        {
            return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_field",
                                         "project_id cannot be changed");
        }
    }

    if (f[1] != NULL && (f[1]->str.len == 0 || f[1]->str.len > 256)) {
        return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_field",
                                     "name must be 1 to 256 bytes");
    }

    if (f[3] != NULL && (f[3]->d < 0 || f[3]->d > 1e9)) {
        return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_field",
                                     "daily_budget must be a number of USD "
                                     "from 0 to 1000000000");
    }

    action = f[4] ? &f[4]->str : NULL;

    if (action != NULL
        && !((action->len == 4 && ngx_strncmp(action->data, "warn", 4) == 0)
             || (action->len == 5
                 && ngx_strncmp(action->data, "block", 5) == 0)))
    {
        return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_field",
                                     "budget_action must be warn or block");
    }

    if (ngx_voicegw_v1_opt_str(f[5]) != NULL
        && ngx_voicegw_conf_stack(ctx->vmcf, &f[5]->str) == NULL)
    {
        return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                     "unknown_stack",
                                     "no stack \"%V\" (stacks are defined "
                                     "by voicegw_stack)", &f[5]->str);
    }

    if (ngx_voicegw_v1_opt_str(f[7]) != NULL
        && !ngx_voicegw_valid_accent(&f[7]->str))
    {
        return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_field",
                                     "accent must be #rgb or #rrggbb");
    }

    if (ngx_voicegw_conf_project(ctx->vmcf, id) != NULL) {
        if (create) {
            return ngx_voicegw_api_error(r, NGX_HTTP_CONFLICT, "conflict",
                                         "project \"%V\" is defined in "
                                         "nginx.conf", id);
        }

        return ngx_voicegw_api_error(r, NGX_HTTP_FORBIDDEN, "read_only",
                                     "project \"%V\" is defined in "
                                     "nginx.conf and read-only here", id);
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_v1_no_store(r);
    }

    ngx_str_null(&tags);

    if (f[6] != NULL) {
        j = ngx_voicegw_api_json(r);

        if (j == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_voicegw_json_value(j, f[6], NULL);

        if (ngx_voicegw_json_string(j, r->pool, &tags) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    b = ngx_voicegw_api_batch(r, ctx, 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = id;

    if (create) {
        st = ngx_voicegw_sql_add(b,
                 "INSERT INTO projects (id, name, description, daily_budget, "
                 "budget_action, default_stack, tags, accent, created_at, "
                 "updated_at) VALUES (?1, coalesce(?2, ?1), coalesce(?3, ''),"
                 " coalesce(?4, 0), coalesce(?5, 'warn'), ?6, "
                 "coalesce(?7, '[]'), ?8, " NGX_VOICEGW_SQL_NOW ", "
                 NGX_VOICEGW_SQL_NOW ")", NGX_VOICEGW_SQL_ANY);
        if (st == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_voicegw_sql_text(st, id);

    } else {
        st = ngx_voicegw_sql_add(b,
                 "UPDATE projects SET "
                 "name = CASE WHEN ?2 THEN ?3 ELSE name END, "
                 "description = CASE WHEN ?4 THEN coalesce(?5, '') "
                 "ELSE description END, "
                 "daily_budget = CASE WHEN ?6 THEN ?7 ELSE daily_budget END, "
                 "budget_action = CASE WHEN ?8 THEN ?9 "
                 "ELSE budget_action END, "
                 "default_stack = CASE WHEN ?10 THEN ?11 "
                 "ELSE default_stack END, "
                 "tags = CASE WHEN ?12 THEN ?13 ELSE tags END, "
                 "accent = CASE WHEN ?14 THEN ?15 ELSE accent END, "
                 "updated_at = " NGX_VOICEGW_SQL_NOW " WHERE id = ?1",
                 NGX_VOICEGW_SQL_CHANGED);
        if (st == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_voicegw_sql_text(st, id);
    }

    name = f[1] ? &f[1]->str : NULL;

    for (k = 1; k < 8; k++) {
        if (!create) {
            ngx_voicegw_sql_int(st, f[k] != NULL);
        }

        switch (k) {
        case 1:
            ngx_voicegw_sql_text(st, name);
            break;
        case 3:
            if (f[3] != NULL) {
                ngx_voicegw_sql_real(st, f[3]->d);

            } else {
                ngx_voicegw_sql_null(st);
            }

            break;
        case 4:
            ngx_voicegw_sql_text(st, action);
            break;
        case 6:
            ngx_voicegw_sql_text(st, f[6] ? &tags : NULL);
            break;
        default:
            ngx_voicegw_sql_text(st, ngx_voicegw_v1_opt_str(f[k]));
        }
    }

    if (ngx_voicegw_v1_audit(r, ctx, b, "project", id,
                             create ? "create" : "update")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_v1_project_written);
}


static ngx_int_t
ngx_voicegw_v1_project_written(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_str_t                *id;
    ngx_voicegw_json_t       *j;
    ngx_voicegw_sql_batch_t  *b;

    b = ctx->op->data;
    id = ctx->data;

    if (ctx->op->rc == NGX_DECLINED && b->failed == 0) {
        ngx_voicegw_sql_free(b);

        if (ctx->route->method == NGX_HTTP_POST) {
            return ngx_voicegw_api_error(r, NGX_HTTP_CONFLICT, "conflict",
                                         "project \"%V\" already exists", id);
        }

        return ngx_voicegw_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no project \"%V\"", id);
    }

    if (ctx->op->rc != NGX_OK) {
        return ngx_voicegw_api_batch_failed(r, ctx);
    }

    ngx_voicegw_sql_free(b);

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "project_id");
    ngx_voicegw_json_str(j, id);

    if (ctx->route->method == NGX_HTTP_POST) {
        ngx_voicegw_json_key(j, "source");
        ngx_voicegw_json_cstr(j, "db");
        ngx_voicegw_json_key(j, "created");

    } else {
        ngx_voicegw_json_key(j, "updated");
    }

    ngx_voicegw_json_bool(j, 1);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


static ngx_int_t
ngx_voicegw_v1_project_delete(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    return ngx_voicegw_v1_entity_delete(r, ctx, "project",
               ngx_voicegw_conf_project(ctx->vmcf, &ctx->params[0]) != NULL);
}


/* -- status and audit log ---------------------------------------------------- */

static ngx_int_t
ngx_voicegw_v1_status(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_sql_batch_t  *b;

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_v1_status_show(r, ctx);
    }

    b = ngx_voicegw_api_batch(r, ctx, 0);
    if (b == NULL
        || ngx_voicegw_sql_add(b, "SELECT id, type, api_key_masked "
                                  "FROM providers ORDER BY id",
                               NGX_VOICEGW_SQL_ANY)
           == NULL
        || ngx_voicegw_sql_add(b, "SELECT id FROM models",
                               NGX_VOICEGW_SQL_ANY)
           == NULL
        || ngx_voicegw_sql_add(b, "SELECT id FROM projects",
                               NGX_VOICEGW_SQL_ANY)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_v1_status_show);
}


static void
ngx_voicegw_v1_status_provider(ngx_voicegw_json_t *j, ngx_str_t *id,
    const ngx_voicegw_provider_type_t *type, ngx_uint_t has_key,
    const char *source)
{
    ngx_uint_t  local;

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
}


/* the rows of st whose first column is not an id nginx.conf defines */

static ngx_uint_t
ngx_voicegw_v1_count_db(ngx_voicegw_sql_stmt_t *st, ngx_array_t *conf,
    size_t id_offset, size_t size)
{
    u_char      *e;
    ngx_str_t   *id;
    ngx_uint_t   n, i, count, clash;

    count = 0;

    for (n = 0; st && n < st->nrows; n++) {
        clash = 0;
        e = conf->elts;

        for (i = 0; i < conf->nelts; i++, e += size) {
            id = (ngx_str_t *) (e + id_offset);

            if (id->len == st->rows[n * st->ncols].s.len
                && ngx_strncmp(id->data, st->rows[n * st->ncols].s.data,
                               id->len) == 0)
            {
                clash = 1;
                break;
            }
        }

        count += !clash;
    }

    return count;
}


static ngx_int_t
ngx_voicegw_v1_status_show(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                     answer;
    ngx_str_t                     type;
    ngx_uint_t                    i, n;
    ngx_voicegw_json_t           *j;
    ngx_voicegw_sql_stmt_t       *st;
    ngx_voicegw_sql_batch_t      *b;
    ngx_voicegw_sql_value_t      *row;
    ngx_voicegw_provider_conf_t  *p;

    b = NULL;

    if (ctx->op != NULL) {
        if (ngx_voicegw_api_batch_rows(r, ctx, &answer) == NULL) {
            return answer;
        }

        b = ctx->op->data;
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "providers");
    ngx_voicegw_json_map_open(j);

    p = ctx->vmcf->providers.elts;

    for (i = 0; i < ctx->vmcf->providers.nelts; i++) {
        ngx_voicegw_v1_status_provider(j, &p[i].id, p[i].type,
                                       p[i].key.len != 0, "config");
    }

    st = b ? &b->stmt[0] : NULL;

    for (n = 0; st && n < st->nrows; n++) {
        row = &st->rows[n * st->ncols];

        if (ngx_voicegw_conf_provider(ctx->vmcf, &row[0].s) != NULL) {
            continue;
        }

        type = row[1].s;

        ngx_voicegw_v1_status_provider(j, &row[0].s,
                                       ngx_voicegw_provider_type(&type),
                                       row[2].type == NGX_VOICEGW_SQL_TEXT
                                       && row[2].s.len, "db");
    }

    ngx_voicegw_json_map_close(j);

    ngx_voicegw_json_key(j, "model_count");
    ngx_voicegw_json_int(j, ctx->vmcf->models.nelts
                            + ngx_voicegw_v1_count_db(b ? &b->stmt[1] : NULL,
                                  &ctx->vmcf->models,
                                  offsetof(ngx_voicegw_model_conf_t, id),
                                  sizeof(ngx_voicegw_model_conf_t)));

    ngx_voicegw_json_key(j, "project_count");
    ngx_voicegw_json_int(j, ctx->vmcf->projects.nelts
                            + ngx_voicegw_v1_count_db(b ? &b->stmt[2] : NULL,
                                  &ctx->vmcf->projects,
                                  offsetof(ngx_voicegw_project_conf_t, id),
                                  sizeof(ngx_voicegw_project_conf_t)));

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


/* GET /v1/audit-log?limit=50&entity_type=&entity_id=&action= */

static ngx_int_t
ngx_voicegw_v1_audit_log(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                 limit;
    ngx_str_t                 v, type, id, action;
    ngx_uint_t                has_type, has_id, has_action;
    ngx_voicegw_sql_stmt_t   *st;
    ngx_voicegw_sql_batch_t  *b;

    limit = 50;

    if (ngx_voicegw_api_arg(r, "limit", &v) == NGX_OK) {
        limit = ngx_atoi(v.data, v.len);

        if (limit == NGX_ERROR || limit < 1 || limit > 500) {
            return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_query",
                                         "limit must be an integer from 1 "
                                         "to 500");
        }
    }

    has_type = (ngx_voicegw_api_arg(r, "entity_type", &type) == NGX_OK);
    has_id = (ngx_voicegw_api_arg(r, "entity_id", &id) == NGX_OK);
    has_action = (ngx_voicegw_api_arg(r, "action", &action) == NGX_OK);

    if (has_type
        && !((type.len == 8 && ngx_strncmp(type.data, "provider", 8) == 0)
             || (type.len == 5 && ngx_strncmp(type.data, "model", 5) == 0)
             || (type.len == 7 && ngx_strncmp(type.data, "project", 7) == 0)))
    {
        return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_query",
                                     "entity_type must be provider, model "
                                     "or project");
    }

    if (has_action
        && !((action.len == 6 && ngx_strncmp(action.data, "create", 6) == 0)
             || (action.len == 6
                 && ngx_strncmp(action.data, "update", 6) == 0)
             || (action.len == 6
                 && ngx_strncmp(action.data, "delete", 6) == 0)))
    {
        return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_query",
                                     "action must be create, update or "
                                     "delete");
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_v1_audit_log_show(r, ctx);
    }

    b = ngx_voicegw_api_batch(r, ctx, 0);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = ngx_voicegw_sql_add(b,
             "SELECT id, timestamp, entity_type, entity_id, action, changes, "
             "source, actor FROM audit_log "
             "WHERE (?1 IS NULL OR entity_type = ?1) "
             "AND (?2 IS NULL OR entity_id = ?2) "
             "AND (?3 IS NULL OR action = ?3) "
             "ORDER BY id DESC LIMIT ?4", NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_sql_text(st, has_type ? &type : NULL);
    ngx_voicegw_sql_text(st, has_id ? &id : NULL);
    ngx_voicegw_sql_text(st, has_action ? &action : NULL);
    ngx_voicegw_sql_int(st, limit);

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_v1_audit_log_show);
}


static ngx_int_t
ngx_voicegw_v1_audit_log_show(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    u_char                     err[64];
    ngx_int_t                  answer;
    ngx_uint_t                 n;
    ngx_voicegw_json_t        *j;
    ngx_voicegw_sql_stmt_t    *st;
    ngx_voicegw_sql_value_t   *row;
    ngx_voicegw_json_value_t  *changes;

    st = NULL;

    if (ctx->op != NULL) {
        if (ngx_voicegw_api_batch_rows(r, ctx, &answer) == NULL) {
            return answer;
        }

        st = &((ngx_voicegw_sql_batch_t *) ctx->op->data)->stmt[0];
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_array_open(j);

    for (n = 0; st && n < st->nrows; n++) {
        row = &st->rows[n * st->ncols];

        ngx_voicegw_json_map_open(j);
        ngx_voicegw_json_key(j, "id");
        ngx_voicegw_json_int(j, row[0].i);
        ngx_voicegw_json_key(j, "timestamp");
        ngx_voicegw_v1_sql_str(j, &row[1]);
        ngx_voicegw_json_key(j, "entity_type");
        ngx_voicegw_v1_sql_str(j, &row[2]);
        ngx_voicegw_json_key(j, "entity_id");
        ngx_voicegw_v1_sql_str(j, &row[3]);
        ngx_voicegw_json_key(j, "action");
        ngx_voicegw_v1_sql_str(j, &row[4]);
        ngx_voicegw_json_key(j, "changes");

        if (row[5].type == NGX_VOICEGW_SQL_TEXT
            && ngx_voicegw_json_parse(r->pool, row[5].s.data, row[5].s.len,
                                      &changes, err, sizeof(err))
               == NGX_OK)
        {
            ngx_voicegw_json_value(j, changes, "api_key");

        } else {
            ngx_voicegw_json_null(j);
        }

        ngx_voicegw_json_key(j, "source");
        ngx_voicegw_v1_sql_str(j, &row[6]);
        ngx_voicegw_json_key(j, "actor");
        ngx_voicegw_v1_sql_str(j, &row[7]);
        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_array_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}
