
/*
 * ngx_voicegw_api_providers.c
 *
 * Handlers of /v1/providers (seed "voicegateway-http-api.txt", SPEC
 * section 5): the list, create, PATCH, delete and the connectivity test.
 *
 * A provider's key goes only where its owner sent it: a PATCH that
 * changes the base URL or the type drops the stored key unless it sets
 * one too (the answer and the audit record say so), so that nobody can
 * point a stored key at a server of their own.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_entity_sql.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_secret.h"
#include "ngx_voicegw_probe.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_api_entities.h"


#define NGX_VOICEGW_PROVIDER_F_ID    0
#define NGX_VOICEGW_PROVIDER_F_TYPE  1
#define NGX_VOICEGW_PROVIDER_F_KEY   2
#define NGX_VOICEGW_PROVIDER_F_URL   3


static ngx_int_t ngx_voicegw_api_providers(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_providers_list(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_provider_item(void *data, void *conf,
    ngx_voicegw_sql_value_t *row);
static ngx_int_t ngx_voicegw_api_provider_values(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_str_t *id, ngx_voicegw_json_value_t **f,
    ngx_voicegw_provider_row_t *p, ngx_int_t *answer);
static ngx_int_t ngx_voicegw_api_provider_create(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_provider_created(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_provider_update(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_provider_updated(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_provider_delete(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_provider_test(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_provider_found(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_provider_probe(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_probe_t *p);
static void ngx_voicegw_api_provider_probed(ngx_voicegw_probe_t *p);
static ngx_int_t ngx_voicegw_api_provider_tested(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);


ngx_voicegw_api_route_t  ngx_voicegw_api_providers_routes[] = {

    { NGX_HTTP_GET, ngx_string("/v1/providers"),
      ngx_voicegw_api_providers, 0 },

    { NGX_HTTP_POST, ngx_string("/v1/providers"),
      ngx_voicegw_api_provider_create, NGX_VOICEGW_API_BODY },

    { NGX_HTTP_PATCH, ngx_string("/v1/providers/{}"),
      ngx_voicegw_api_provider_update, NGX_VOICEGW_API_BODY },

    { NGX_HTTP_DELETE, ngx_string("/v1/providers/{}"),
      ngx_voicegw_api_provider_delete, 0 },

    { NGX_HTTP_POST, ngx_string("/v1/providers/{}/test"),
      ngx_voicegw_api_provider_test, 0 },

    { 0, ngx_null_string, NULL, 0 }
};


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
} ngx_voicegw_api_written_t;


/* -- the list ------------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_api_providers(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_sql_batch_t  *b;

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_api_providers_list(r, ctx);
    }

    b = ngx_voicegw_api_batch(r, ctx, 0);

    if (b == NULL || ngx_voicegw_sql_providers(b) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx,
                                      ngx_voicegw_api_providers_list);
}


typedef struct {
    ngx_voicegw_json_t          *json;
    ngx_pool_t                  *pool;
} ngx_voicegw_api_list_t;


static ngx_int_t
ngx_voicegw_api_provider_item(void *data, void *conf,
    ngx_voicegw_sql_value_t *row)
{
    ngx_voicegw_api_list_t  *l = data;

    ngx_voicegw_json_map_open(l->json);
    ngx_voicegw_entity_provider.json(l->json, l->pool, conf, row);
    ngx_voicegw_json_map_close(l->json);

    return NGX_OK;
}


/* {"providers":[...]}: nginx.conf's, then the store's */

static ngx_int_t
ngx_voicegw_api_providers_list(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                 answer;
    ngx_voicegw_sql_batch_t  *b;
    ngx_voicegw_api_list_t    l;

    b = NULL;

    if (ctx->op != NULL) {
        b = ngx_voicegw_api_batch_rows(r, ctx, &answer);
        if (b == NULL) {
            return answer;
        }
    }

    l.json = ngx_voicegw_api_json(r);
    l.pool = r->pool;

    if (l.json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(l.json);
    ngx_voicegw_json_key(l.json, "providers");
    ngx_voicegw_json_array_open(l.json);

    (void) ngx_voicegw_entity_merge(ctx->vmcf->registry,
                                    &ngx_voicegw_entity_provider,
                                    b ? &b->stmt[0] : NULL,
                                    ngx_voicegw_api_provider_item, &l);

    ngx_voicegw_json_array_close(l.json);
    ngx_voicegw_json_map_close(l.json);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, l.json);
}


/* -- writes --------------------------------------------------------------- */

/*
 * The checks POST and PATCH share: the type is known, the base URL is
 * one (and loses its trailing slashes), and a key is sealed, which needs
 * voicegw_secret.  NGX_OK with p filled, or NGX_DECLINED with *answer
 * sent.
 */

static ngx_int_t
ngx_voicegw_api_provider_values(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_str_t *id, ngx_voicegw_json_value_t **f,
    ngx_voicegw_provider_row_t *p, ngx_int_t *answer)
{
    u_char       *c;
    ngx_str_t    *key, *url;
    const char   *err;

    p->id = id;

    if (f[NGX_VOICEGW_PROVIDER_F_TYPE] != NULL) {
        p->type = &f[NGX_VOICEGW_PROVIDER_F_TYPE]->str;

        if (ngx_voicegw_provider_type(p->type) == NULL) {
            *answer = ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                              "unknown_provider_type",
                                              "unknown provider_type \"%V\"",
                                              p->type);
            return NGX_DECLINED;
        }
    }

    if (f[NGX_VOICEGW_PROVIDER_F_URL] != NULL) {
        p->set_url = 1;
        url = ngx_voicegw_api_opt_str(f[NGX_VOICEGW_PROVIDER_F_URL]);

        if (url != NULL
            && ngx_voicegw_provider_base_url(r->pool, url, &err) != NGX_OK)
        {
            *answer = ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                              "invalid_field",
                                              "base_url must be an http:// "
                                              "or https:// URL of a host: it "
                                              "%s", err);
            return NGX_DECLINED;
        }

        if (url != NULL
            && ngx_voicegw_provider_destination(ctx->vmcf->registry, r->pool,
                                                url, &err)
               != NGX_OK)
        {
            *answer = ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                              "destination_refused",
                                              "base_url is %s address, which "
                                              "voicegw_provider_destinations "
                                              "does not allow", err);
            return NGX_DECLINED;
        }

        p->base_url = url;
    }

    if (f[NGX_VOICEGW_PROVIDER_F_KEY] == NULL) {
        return NGX_OK;
    }

    /* a key named, possibly null or "": that is the new key */

    p->sealed = ngx_pcalloc(r->pool, 2 * sizeof(ngx_str_t));
    if (p->sealed == NULL) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    p->masked = p->sealed + 1;

    ngx_str_set(p->sealed, "");
    ngx_str_set(p->masked, "");

    key = ngx_voicegw_api_opt_str(f[NGX_VOICEGW_PROVIDER_F_KEY]);

    if (key == NULL || key->len == 0) {
        return NGX_OK;
    }

    for (c = key->data; c < key->data + key->len; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            *answer = ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                              "invalid_field",
                                              "api_key must be printable");
            return NGX_DECLINED;
        }
    }

    if (ctx->vmcf->registry->secret == NULL) {
        *answer = ngx_voicegw_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "no_secret",
                                          "no voicegw_secret is configured: "
                                          "provider keys cannot be stored");
        return NGX_DECLINED;
    }

    if (ngx_voicegw_secret_encrypt(r->pool, ctx->vmcf->registry->secret, id,
                                   key, p->sealed)
        != NGX_OK)
    {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    ngx_voicegw_secret_mask(r->pool, key, p->masked);

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_api_provider_create(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_str_t                   *id, empty;
    ngx_int_t                    answer;
    ngx_voicegw_sql_batch_t     *b;
    ngx_voicegw_json_value_t    *f[4];
    ngx_voicegw_api_written_t   *w;
    ngx_voicegw_provider_row_t   p;

    if (ngx_voicegw_api_fields(r, ctx, ngx_voicegw_provider_fields, f,
                               &answer)
        != NGX_OK)
    {
        return answer;
    }

    if (f[NGX_VOICEGW_PROVIDER_F_ID] == NULL
        || !ngx_voicegw_valid_id(&f[NGX_VOICEGW_PROVIDER_F_ID]->str))
    {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST, "invalid_id",
                                       "provider_id is required and must "
                                       "match [a-z0-9][a-z0-9._-]{0,63}");
    }

    id = &f[NGX_VOICEGW_PROVIDER_F_ID]->str;

    ngx_memzero(&p, sizeof(ngx_voicegw_provider_row_t));

    /* without provider_type, the id names the type ("openai") */

    if (f[NGX_VOICEGW_PROVIDER_F_TYPE] == NULL
        && ngx_voicegw_provider_type(id) == NULL)
    {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "unknown_provider_type",
                                       "unknown provider_type \"%V\"", id);
    }

    if (ngx_voicegw_conf_provider(ctx->vmcf->registry, id) != NULL) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_CONFLICT, "conflict",
                                       "provider \"%V\" is defined in "
                                       "nginx.conf", id);
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_api_no_store(r);
    }

    if (ngx_voicegw_api_provider_values(r, ctx, id, f, &p, &answer)
        != NGX_OK)
    {
        return answer;
    }

    if (p.type == NULL) {
        p.type = id;
    }

    w = ngx_palloc(r->pool, sizeof(ngx_voicegw_api_written_t));
    b = ngx_voicegw_api_batch(r, ctx, 1);

    if (w == NULL || b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&empty, "");

    w->id = *id;
    w->masked = p.masked ? *p.masked : empty;
    ctx->data = w;

    /* 0: the row (a constraint failure: it exists), 1: the audit record */

    if (ngx_voicegw_sql_provider_insert(b, &p) == NULL
        || ngx_voicegw_api_audit(r, ctx, b, &ngx_voicegw_entity_provider, id,
                                 "create")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx,
                                      ngx_voicegw_api_provider_created);
}


static ngx_int_t
ngx_voicegw_api_provider_created(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                   answer;
    ngx_voicegw_json_t         *j;
    ngx_voicegw_sql_batch_t    *b;
    ngx_voicegw_api_written_t  *w;

    b = ctx->op->data;
    w = ctx->data;

    if (ctx->op->rc == NGX_DECLINED && b->failed == 0) {
        ngx_voicegw_sql_free(b);
        return ngx_voicegw_reply_error(r, NGX_HTTP_CONFLICT, "conflict",
                                       "provider \"%V\" already exists",
                                       &w->id);
    }

    if (ngx_voicegw_api_batch_rows(r, ctx, &answer) == NULL) {
        return answer;
    }

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

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


/* PATCH: the fields named change, the others keep their values */

static ngx_int_t
ngx_voicegw_api_provider_update(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_str_t                   *id, *changes;
    ngx_int_t                    answer;
    ngx_voicegw_sql_batch_t     *b;
    ngx_voicegw_json_value_t    *f[4];
    ngx_voicegw_provider_row_t   p;

    id = &ctx->params[0];

    if (ngx_voicegw_api_fields(r, ctx, ngx_voicegw_provider_fields, f,
                               &answer)
        != NGX_OK)
    {
        return answer;
    }

    if (f[NGX_VOICEGW_PROVIDER_F_ID] != NULL
        && (f[NGX_VOICEGW_PROVIDER_F_ID]->str.len != id->len
            || ngx_strncmp(f[NGX_VOICEGW_PROVIDER_F_ID]->str.data, id->data,
                           id->len)
               != 0))
    {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_field",
                                       "provider_id cannot be changed");
    }

    if (ngx_voicegw_conf_provider(ctx->vmcf->registry, id) != NULL) {
        return ngx_voicegw_api_read_only(r, &ngx_voicegw_entity_provider, id);
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_api_no_store(r);
    }

    ngx_memzero(&p, sizeof(ngx_voicegw_provider_row_t));

    if (ngx_voicegw_api_provider_values(r, ctx, id, f, &p, &answer)
        != NGX_OK)
    {
        return answer;
    }

    b = ngx_voicegw_api_batch(r, ctx, 1);

    if (b == NULL
        || ngx_voicegw_api_changes(r, ctx, &changes) != NGX_OK
        || ngx_voicegw_sql_provider_update(b, &p, changes, &ctx->actor)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx,
                                      ngx_voicegw_api_provider_updated);
}


/* {"provider_id","updated":true}, and "api_key_dropped":true if it was */

static ngx_int_t
ngx_voicegw_api_provider_updated(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                 answer;
    ngx_uint_t                dropped;
    ngx_voicegw_json_t       *j;
    ngx_voicegw_sql_stmt_t   *st;
    ngx_voicegw_sql_batch_t  *b;

    b = ctx->op->data;

    if (ctx->op->rc == NGX_DECLINED && b->failed == 0) {
        ngx_voicegw_sql_free(b);
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no provider \"%V\"",
                                       &ctx->params[0]);
    }

    b = ngx_voicegw_api_batch_rows(r, ctx, &answer);
    if (b == NULL) {
        return answer;
    }

    st = &b->stmt[1];
    dropped = st->nrows
              && ngx_voicegw_sql_cell(st, 0,
                                      NGX_VOICEGW_PUPD_KEY_DROPPED)->i != 0;

    if (dropped) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "voicegw: the stored key of provider \"%V\" was "
                      "dropped: its base_url or type changed",
                      &ctx->params[0]);
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "provider_id");
    ngx_voicegw_json_str(j, &ctx->params[0]);
    ngx_voicegw_json_key(j, "updated");
    ngx_voicegw_json_bool(j, 1);

    if (dropped) {
        ngx_voicegw_json_key(j, "api_key_dropped");
        ngx_voicegw_json_bool(j, 1);
    }

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


static ngx_int_t
ngx_voicegw_api_provider_delete(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    return ngx_voicegw_api_entity_delete(r, ctx,
                                         &ngx_voicegw_entity_provider);
}


/* -- POST /v1/providers/{id}/test ----------------------------------------- */

static ngx_int_t
ngx_voicegw_api_provider_test(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_str_t                    *id;
    ngx_voicegw_probe_t          *p;
    ngx_voicegw_sql_batch_t      *b;
    ngx_voicegw_provider_conf_t  *pc;

    id = &ctx->params[0];

    p = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_probe_t));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = p;

    pc = ngx_voicegw_conf_provider(ctx->vmcf->registry, id);

    if (pc != NULL) {
        p->type = pc->type;
        p->key = pc->key;
        p->base_url = pc->base_url;

        return ngx_voicegw_api_provider_probe(r, ctx, p);
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no provider \"%V\"", id);
    }

    b = ngx_voicegw_api_batch(r, ctx, 0);

    if (b == NULL || ngx_voicegw_sql_provider_key(b, id) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_api_provider_found);
}


static ngx_int_t
ngx_voicegw_api_provider_found(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                 answer;
    ngx_str_t                *id, *sealed;
    ngx_voicegw_probe_t      *p;
    ngx_voicegw_sql_stmt_t   *st;
    ngx_voicegw_sql_batch_t  *b;
    ngx_voicegw_sql_value_t  *row;

    id = &ctx->params[0];
    p = ctx->data;

    b = ngx_voicegw_api_batch_rows(r, ctx, &answer);
    if (b == NULL) {
        return answer;
    }

    st = &b->stmt[0];

    if (st->nrows == 0) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no provider \"%V\"", id);
    }

    row = ngx_voicegw_sql_cell(st, 0, 0);

    p->type = ngx_voicegw_provider_type(&row[NGX_VOICEGW_PKEY_TYPE].s);

    if (p->type == NULL) {
        p->message.data = ngx_pnalloc(r->pool,
                                      sizeof("unknown provider type \"\"")
                                      + row[NGX_VOICEGW_PKEY_TYPE].s.len);
        if (p->message.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p->message.len = ngx_sprintf(p->message.data,
                                     "unknown provider type \"%V\"",
                                     &row[NGX_VOICEGW_PKEY_TYPE].s)
                         - p->message.data;

        return ngx_voicegw_api_provider_tested(r, ctx);
    }

    if (row[NGX_VOICEGW_PKEY_BASE_URL].type == NGX_VOICEGW_SQL_TEXT) {
        p->base_url = row[NGX_VOICEGW_PKEY_BASE_URL].s;
    }

    sealed = &row[NGX_VOICEGW_PKEY_SEALED].s;

    if (row[NGX_VOICEGW_PKEY_SEALED].type == NGX_VOICEGW_SQL_TEXT
        && sealed->len)
    {
        if (ctx->vmcf->registry->secret == NULL
            || ngx_voicegw_secret_decrypt(r->pool,
                                          ctx->vmcf->registry->secret, id,
                                          sealed, &p->key)
               != NGX_OK)
        {
            ngx_str_set(&p->message, "the stored key cannot be decrypted "
                                     "with this voicegw_secret");
            return ngx_voicegw_api_provider_tested(r, ctx);
        }
    }

    return ngx_voicegw_api_provider_probe(r, ctx, p);
}


/* the request waits for the test, which may end before this returns */

static ngx_int_t
ngx_voicegw_api_provider_probe(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_probe_t *p)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p->pool = r->pool;
    p->reg = ctx->vmcf->registry;
    p->fetches = &ctx->vmcf->proc.fetches;
    p->resolver = clcf->resolver;
    p->resolver_timeout = clcf->resolver_timeout;
    p->done = ngx_voicegw_api_provider_probed;
    p->data = r;

    (void) ngx_voicegw_api_suspend(r, ctx, ngx_voicegw_api_provider_tested);

    ngx_voicegw_probe_start(p);

    return NGX_DONE;
}


static void
ngx_voicegw_api_provider_probed(ngx_voicegw_probe_t *p)
{
    ngx_voicegw_api_wake(p->data);
}


/* {"status":"ok"|"failed","latency_ms","http_status","message"} */

static ngx_int_t
ngx_voicegw_api_provider_tested(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_json_t   *j;
    ngx_voicegw_probe_t  *p;

    p = ctx->data;

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "status");
    ngx_voicegw_json_cstr(j, p->ok ? "ok" : "failed");
    ngx_voicegw_json_key(j, "latency_ms");
    ngx_voicegw_json_int(j, (int64_t) p->latency);
    ngx_voicegw_json_key(j, "http_status");

    if (p->http_status) {
        ngx_voicegw_json_int(j, (int64_t) p->http_status);

    } else {
        ngx_voicegw_json_null(j);
    }

    ngx_voicegw_json_key(j, "message");
    ngx_voicegw_json_str(j, &p->message);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}
