
/*
 * ngx_voicegw_api_entities.c
 *
 * Owns what the VoiceGateway API's entity handlers share: every write's
 * audit record (in the write's own transaction: no change without its
 * record; a key is never in it), and the delete of any entity:
 *
 *   DELETE /v1/<type>s/{id}: an id of nginx.conf is read-only (403).
 *   Without ?confirm=true: {"would_delete":{"<type>_id":id}} (404 when
 *   it does not exist), and a provider lists its models.  With it, in
 *   one transaction: it must exist, a provider must have no models left
 *   in the store (409 in_use), then the row goes and the audit log says
 *   so: {"deleted":id}.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_entity_sql.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_api_entities.h"


typedef struct {
    const ngx_voicegw_entity_t  *entity;
    ngx_str_t                   *id;
    ngx_uint_t                   confirm;
} ngx_voicegw_api_delete_t;


static ngx_int_t ngx_voicegw_api_confirm(ngx_http_request_t *r,
    ngx_uint_t *confirm);
static ngx_int_t ngx_voicegw_api_entity_deleted(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);


/*
 * The body of a write as it is recorded: its fields as applied, with
 * api_key redacted; NULL (no body) for a delete.
 */

ngx_int_t
ngx_voicegw_api_changes(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_str_t **changes)
{
    ngx_voicegw_json_t  *j;

    *changes = NULL;

    if (ctx->body == NULL) {
        return NGX_OK;
    }

    *changes = ngx_palloc(r->pool, sizeof(ngx_str_t));
    j = ngx_voicegw_api_json(r);

    if (*changes == NULL || j == NULL) {
        return NGX_ERROR;
    }

    ngx_voicegw_json_value(j, ctx->body, "api_key");

    return ngx_voicegw_json_string(j, r->pool, *changes);
}


/* the audit record of a write, in the same batch */

ngx_int_t
ngx_voicegw_api_audit(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_sql_batch_t *b, const ngx_voicegw_entity_t *e, ngx_str_t *id,
    const char *action)
{
    ngx_str_t  *changes;

    if (ngx_voicegw_api_changes(r, ctx, &changes) != NGX_OK
        || ngx_voicegw_sql_audit(b, e->name, id, action, changes,
                                 &ctx->actor)
           == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a string field of a body that may also be null or absent */

ngx_str_t *
ngx_voicegw_api_opt_str(ngx_voicegw_json_value_t *v)
{
    if (v == NULL || v->type != NGX_VOICEGW_JSON_STRING) {
        return NULL;
    }

    return &v->str;
}


ngx_int_t
ngx_voicegw_api_read_only(ngx_http_request_t *r,
    const ngx_voicegw_entity_t *e, ngx_str_t *id)
{
    return ngx_voicegw_reply_error(r, NGX_HTTP_FORBIDDEN, "read_only",
                                   "%s \"%V\" is defined in nginx.conf and "
                                   "read-only here", e->name, id);
}


/* ?confirm=true deletes; absent or false previews; anything else is 400 */

static ngx_int_t
ngx_voicegw_api_confirm(ngx_http_request_t *r, ngx_uint_t *confirm)
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

    return ngx_voicegw_enum_value_caseless(ngx_voicegw_booleans, &v, confirm);
}


ngx_int_t
ngx_voicegw_api_entity_delete(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, const ngx_voicegw_entity_t *e)
{
    ngx_int_t                  rc;
    ngx_str_t                 *id;
    ngx_uint_t                 confirm;
    ngx_voicegw_sql_batch_t   *b;
    ngx_voicegw_api_delete_t  *d;

    id = &ctx->params[0];

    if (ngx_voicegw_entity_find(ctx->vmcf->registry, e, id) != NULL) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_FORBIDDEN, "read_only",
                                       "%s \"%V\" is defined in nginx.conf "
                                       "and cannot be deleted", e->name, id);
    }

    rc = ngx_voicegw_api_confirm(r, &confirm);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_query",
                                       "confirm must be true or false");
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no %s \"%V\"", e->name, id);
    }

    d = ngx_palloc(r->pool, sizeof(ngx_voicegw_api_delete_t));
    b = ngx_voicegw_api_batch(r, ctx, confirm);

    if (d == NULL || b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    d->entity = e;
    d->id = id;
    d->confirm = confirm;
    ctx->data = d;

    /* 0: it exists; 1: a provider's models (none, to delete it) */

    if (ngx_voicegw_sql_exists(b, e->table, id) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (e->table == NGX_VOICEGW_TABLE_PROVIDERS
        && ngx_voicegw_sql_provider_models(b, id, confirm
                                                  ? NGX_VOICEGW_SQL_NO_ROW
                                                  : NGX_VOICEGW_SQL_ANY)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (confirm
        && (ngx_voicegw_sql_delete(b, e->table, id) == NULL
            || ngx_voicegw_api_audit(r, ctx, b, e, id, "delete") != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_api_entity_deleted);
}


static ngx_int_t
ngx_voicegw_api_entity_deleted(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    u_char                     key[32];
    ngx_int_t                  answer;
    ngx_uint_t                 n;
    ngx_voicegw_json_t        *j;
    ngx_voicegw_sql_stmt_t    *models;
    ngx_voicegw_sql_batch_t   *b;
    ngx_voicegw_api_delete_t  *d;

    b = ctx->op->data;
    d = ctx->data;

    if (ctx->op->rc == NGX_DECLINED && b->failed == 0) {
        ngx_voicegw_sql_free(b);
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no %s \"%V\"", d->entity->name,
                                       d->id);
    }

    if (ctx->op->rc == NGX_DECLINED && b->failed == 1
        && d->entity->table == NGX_VOICEGW_TABLE_PROVIDERS)
    {
        ngx_voicegw_sql_free(b);
        return ngx_voicegw_reply_error(r, NGX_HTTP_CONFLICT, "in_use",
                                       "provider \"%V\" still has models "
                                       "in the store; delete them first",
                                       d->id);
    }

    if (ngx_voicegw_api_batch_rows(r, ctx, &answer) == NULL) {
        return answer;
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);

    if (d->confirm) {
        ngx_voicegw_json_key(j, "deleted");
        ngx_voicegw_json_str(j, d->id);

    } else {
        ngx_voicegw_json_key(j, "would_delete");
        ngx_voicegw_json_map_open(j);
        ngx_snprintf(key, sizeof(key), "%s_id%Z", d->entity->name);
        ngx_voicegw_json_key(j, (char *) key);
        ngx_voicegw_json_str(j, d->id);

        if (d->entity->table == NGX_VOICEGW_TABLE_PROVIDERS) {
            models = &b->stmt[1];

            ngx_voicegw_json_key(j, "models");
            ngx_voicegw_json_array_open(j);

            for (n = 0; n < models->nrows; n++) {
                ngx_voicegw_sql_json(j, ngx_voicegw_sql_cell(models, n,
                                                         NGX_VOICEGW_COL_ID));
            }

            ngx_voicegw_json_array_close(j);
        }

        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}
