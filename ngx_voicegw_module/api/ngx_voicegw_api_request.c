
/*
 * ngx_voicegw_api_request.c
 *
 * Owns the request layer under every API handler: the checks of a JSON
 * body's fields, and waiting for work off the event loop (query
 * arguments are ngx_voicegw_api_args.c's).  A handler that needs the store posts a batch and returns
 * NGX_DONE; the request stays "blocked" until the batch's thread is done,
 * and the handler's resume function answers on the event loop.  Work that
 * is not a store op (an outgoing request) suspends the request the same
 * way until ngx_voicegw_api_wake().
 *
 * Every answer ends in ngx_voicegw_api_finalize(): a handler's bare
 * status (NGX_HTTP_INTERNAL_SERVER_ERROR and the like) is answered in
 * JSON there, never with nginx's HTML page.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_sql.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_entity_cache.h"


static void ngx_voicegw_api_store_done(ngx_voicegw_store_op_t *op);
static void ngx_voicegw_api_resume_handler(ngx_http_request_t *r);


ngx_voicegw_json_t *
ngx_voicegw_api_json(ngx_http_request_t *r)
{
    return ngx_voicegw_json_create(r->pool);
}


/* the request's end: a bare error status is answered in JSON */

void
ngx_voicegw_api_finalize(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        rc = ngx_voicegw_reply_status(r, rc);
    }

    ngx_http_finalize_request(r, rc);
}


ngx_int_t
ngx_voicegw_api_no_store(ngx_http_request_t *r)
{
    return ngx_voicegw_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "no_store",
                                   "no voicegw_store is configured");
}


/*
 * Checks the body against the fields an endpoint knows: an unknown field,
 * a value of the wrong type, a missing required field or a string with a
 * NUL byte or over 4096 bytes are answered 400 here (NGX_DECLINED, with
 * *answer the status of that answer).  found[i] is field i's value, or
 * NULL when absent.
 */

ngx_int_t
ngx_voicegw_api_fields(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    const ngx_voicegw_field_t *fields, ngx_voicegw_json_value_t **found,
    ngx_int_t *answer)
{
    ngx_str_t                 *key;
    ngx_uint_t                 i, k, f, ok;
    ngx_voicegw_json_value_t  *v, *body;

    body = ctx->body;

    for (f = 0; fields[f].name; f++) {
        found[f] = NULL;
    }

    for (i = 0; i < body->n; i++) {
        key = &body->keys[i];
        v = body->items[i];

        for (f = 0; fields[f].name; f++) {
            if (key->len == ngx_strlen(fields[f].name)
                && ngx_strncmp(key->data, fields[f].name, key->len) == 0)
            {
                break;
            }
        }

        if (fields[f].name == NULL) {
            *answer = ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                            "unknown_field",
                                            "unknown field \"%V\"", key);
            return NGX_DECLINED;
        }

        switch (v->type) {

        case NGX_VOICEGW_JSON_STRING:
            ok = (fields[f].flags & NGX_VOICEGW_F_STRING)
                 && v->str.len <= NGX_VOICEGW_FIELD_MAX_LEN
                 && ngx_strlchr(v->str.data, v->str.data + v->str.len, '\0')
                    == NULL;
            break;

        case NGX_VOICEGW_JSON_NUMBER:
            ok = fields[f].flags & NGX_VOICEGW_F_NUMBER;
            break;

        case NGX_VOICEGW_JSON_BOOL:
            ok = fields[f].flags & NGX_VOICEGW_F_BOOL;
            break;

        case NGX_VOICEGW_JSON_NULL:
            ok = fields[f].flags & NGX_VOICEGW_F_NULL;
            break;

        case NGX_VOICEGW_JSON_ARRAY:
            ok = (fields[f].flags & NGX_VOICEGW_F_STRINGS) && v->n <= 64;

            for (k = 0; ok && k < v->n; k++) {
                ok = v->items[k]->type == NGX_VOICEGW_JSON_STRING
                     && v->items[k]->str.len > 0
                     && v->items[k]->str.len <= 64
                     && ngx_strlchr(v->items[k]->str.data,
                                    v->items[k]->str.data
                                    + v->items[k]->str.len, '\0')
                        == NULL;
            }

            break;

        default:
            ok = 0;
        }

        if (!ok) {
            *answer = ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                 "invalid_field",
                                 "%V must be %s%s%s%s%s",
                                 key,
                                 (fields[f].flags & NGX_VOICEGW_F_STRING)
                                 ? "a string (at most 4096 bytes, no NUL) "
                                 : "",
                                 (fields[f].flags & NGX_VOICEGW_F_NUMBER)
                                 ? "a number " : "",
                                 (fields[f].flags & NGX_VOICEGW_F_BOOL)
                                 ? "true or false " : "",
                                 (fields[f].flags & NGX_VOICEGW_F_STRINGS)
                                 ? "a list of at most 64 strings of 1 to 64 "
                                   "bytes " : "",
                                 (fields[f].flags & NGX_VOICEGW_F_NULL)
                                 ? "or null" : "");
            return NGX_DECLINED;
        }

        found[f] = v;
    }

    for (f = 0; fields[f].name; f++) {
        if ((fields[f].flags & NGX_VOICEGW_F_REQUIRED) && found[f] == NULL) {
            *answer = ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                            "missing_field",
                                            "%s is required", fields[f].name);
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


ngx_voicegw_store_op_t *
ngx_voicegw_api_store_op(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    size_t size)
{
    ngx_voicegw_store_op_t  *op;

    if (ctx->vmcf->store == NULL) {
        return NULL;
    }

    op = ngx_voicegw_store_op_alloc(r->pool, ctx->vmcf->store, size);
    if (op == NULL) {
        return NULL;
    }

    op->request = r;
    op->done = ngx_voicegw_api_store_done;

    ctx->op = op;

    return op;
}


/*
 * A batch of SQL statements for the request.  The result buffers the
 * thread malloc()s are freed when the rows are collected, or by the pool
 * cleanup when the request went away first (nginx finalized it while the
 * batch ran, and the resume handler never runs).
 */

ngx_voicegw_sql_batch_t *
ngx_voicegw_api_batch(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_uint_t write)
{
    ngx_pool_cleanup_t       *cln;
    ngx_voicegw_store_op_t   *op;
    ngx_voicegw_sql_batch_t  *b;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    op = ngx_voicegw_api_store_op(r, ctx, sizeof(ngx_voicegw_sql_batch_t));
    if (op == NULL) {
        return NULL;
    }

    op->run = ngx_voicegw_sql_run;

    op->write = write;

    b = op->data;
    b->write = write;

    cln->handler = ngx_voicegw_sql_cleanup;
    cln->data = b;

    return b;
}


/*
 * The batch that has just run, with its rows collected; NULL when it
 * failed, the failure answered in *answer.
 */

ngx_voicegw_sql_batch_t *
ngx_voicegw_api_batch_rows(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_int_t *answer)
{
    if (ctx->op->rc != NGX_OK
        || ngx_voicegw_sql_collect(r->pool, ctx->op->data) != NGX_OK)
    {
        *answer = ngx_voicegw_api_batch_failed(r, ctx);
        return NULL;
    }

    return ctx->op->data;
}


/* a batch that failed */

ngx_int_t
ngx_voicegw_api_batch_failed(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_sql_free(ctx->op->data);

    return ngx_voicegw_api_store_failed(r, ctx, "nothing was changed");
}


/*
 * The answer to an op that failed: a fault of the storage is said in the
 * error log once for all (ngx_voicegw_store_health), and to the client
 * with its own status and code; anything else is logged here, 500.
 */

ngx_int_t
ngx_voicegw_api_store_failed(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    const char *outcome)
{
    ngx_uint_t   status;
    const char  *code, *what;

    status = ngx_voicegw_store_fault_status(ctx->op, &code, &what);

    if (ctx->op->fault == NGX_VOICEGW_STORE_HEALTHY) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "voicegw: store: %s", ctx->op->err);
    }

    return ngx_voicegw_reply_error(r, status, code, "%s; %s", what, outcome);
}


ngx_int_t
ngx_voicegw_api_store_post(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_api_handler_pt resume)
{
    ctx->resume = resume;
    ctx->waiting = 1;

    r->write_event_handler = ngx_voicegw_api_resume_handler;

    if (ngx_voicegw_store_post(ctx->op) != NGX_OK) {
        ctx->waiting = 0;
        r->write_event_handler = ngx_http_request_empty_handler;

        return ngx_voicegw_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "store_busy",
                                     "the store cannot take more work now");
    }

    /* released by the finalization in ngx_voicegw_api_resume_handler() */

    r->main->count++;

    return NGX_DONE;
}


/*
 * For work that is not a store op (a thread task, an outgoing request):
 * the request waits, "blocked" like for a store op, until
 * ngx_voicegw_api_wake() runs resume().
 */

ngx_int_t
ngx_voicegw_api_suspend(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_api_handler_pt resume)
{
    ctx->resume = resume;
    ctx->waiting = 1;

    r->write_event_handler = ngx_voicegw_api_resume_handler;

    r->main->count++;
    r->main->blocked++;

    return NGX_DONE;
}


void
ngx_voicegw_api_wake(ngx_http_request_t *r)
{
    ngx_connection_t       *c;
    ngx_voicegw_api_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    ctx->waiting = 0;

    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_voicegw_api_store_done(ngx_voicegw_store_op_t *op)
{
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_voicegw_api_ctx_t  *ctx;

    r = op->request;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);

    ngx_http_set_log_request(c->log, r);

    ctx->waiting = 0;

    /* a committed write: every process's copy of the entities reloads */

    if (op->run == ngx_voicegw_sql_run && op->rc == NGX_OK
        && ((ngx_voicegw_sql_batch_t *) op->data)->write)
    {
        ngx_voicegw_entity_cache_bump(ctx->vmcf->zone);
    }

    /* our resume handler, or nginx's finalizer if the request went away */

    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_voicegw_api_resume_handler(ngx_http_request_t *r)
{
    ngx_voicegw_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);

    if (ctx->waiting) {
        /* a write event while the op still runs */
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_voicegw_api_finalize(r, ctx->resume(r, ctx));
}
