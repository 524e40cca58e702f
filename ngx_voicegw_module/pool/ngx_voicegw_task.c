
/*
 * ngx_voicegw_task.c
 *
 * Owns what a task request carries: its context, found again after an
 * internal redirect, the answer that refuses it, and what its response
 * and the access log show of it (X-VoiceGW-* headers, $voicegw_*
 * variables).
 *
 * The context survives "error_page" and named-location redirects, which
 * wipe the module contexts of a request: like limit_req's flag on the
 * main request, it is found again through the request pool's cleanup
 * that every task registers (as the realip module does), so that a
 * redirect never starts a second task and the variables stay set for
 * the access log.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_http.h"
#include "ngx_voicegw_clock.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_task.h"
#include "ngx_voicegw_task_ws.h"


typedef struct {
    ngx_voicegw_task_ctx_t       ctx;
    ngx_pool_cleanup_pt          cleanup;
} ngx_voicegw_task_holder_t;


static void ngx_voicegw_task_cleanup(void *data);
static ngx_int_t ngx_voicegw_task_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#define NGX_VOICEGW_VAR_TICKET     0
#define NGX_VOICEGW_VAR_WAIT       1
#define NGX_VOICEGW_VAR_WORKER     2
#define NGX_VOICEGW_VAR_CACHE      3


static ngx_http_variable_t  ngx_voicegw_task_vars[] = {

    { ngx_string("voicegw_ticket"), NULL, ngx_voicegw_task_variable,
      NGX_VOICEGW_VAR_TICKET, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("voicegw_queue_wait_ms"), NULL, ngx_voicegw_task_variable,
      NGX_VOICEGW_VAR_WAIT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("voicegw_worker"), NULL, ngx_voicegw_task_variable,
      NGX_VOICEGW_VAR_WORKER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("voicegw_cache"), NULL, ngx_voicegw_task_variable,
      NGX_VOICEGW_VAR_CACHE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/*
 * A new task context on the main request, with the pool cleanup that
 * runs "cleanup" (the release of whatever the task still holds) when the
 * request goes away.
 */

ngx_int_t
ngx_voicegw_task_create_ctx(ngx_http_request_t *r,
    ngx_voicegw_task_conf_t *tcf, ngx_voicegw_pools_t *vp,
    ngx_pool_cleanup_pt cleanup, ngx_voicegw_task_ctx_t **ctxp)
{
    ngx_pool_cleanup_t         *cln;
    ngx_voicegw_task_holder_t  *h;

    h = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_task_holder_t));
    if (h == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    h->ctx.request = r;
    h->ctx.tcf = tcf;
    h->ctx.vp = vp;
    h->ctx.created_mono = ngx_voicegw_mono_msec();
    h->cleanup = cleanup;

    cln->handler = ngx_voicegw_task_cleanup;
    cln->data = h;

    ngx_http_set_ctx(r, &h->ctx, ngx_voicegw_pool_module);

    *ctxp = &h->ctx;

    return NGX_OK;
}


static void
ngx_voicegw_task_cleanup(void *data)
{
    ngx_voicegw_task_holder_t  *h = data;

    h->cleanup(&h->ctx);
}


/* the task of the (main) request, also after an internal redirect */

ngx_voicegw_task_ctx_t *
ngx_voicegw_task_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t         *cln;
    ngx_voicegw_task_ctx_t     *ctx;
    ngx_voicegw_task_holder_t  *h;

    r = r->main;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_pool_module);

    if (ctx != NULL || !(r->internal || r->filter_finalize)) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_voicegw_task_cleanup) {
            h = cln->data;
            ngx_http_set_ctx(r, &h->ctx, ngx_voicegw_pool_module);
            return &h->ctx;
        }
    }

    return NULL;
}


void
ngx_voicegw_task_granted(ngx_voicegw_task_ctx_t *ctx)
{
    u_char  *p;

    ctx->phase = NGX_VOICEGW_TASK_GRANTED;
    ctx->held = 1;

    /* "http://host:port" -> "host:port", nginx's $upstream_addr */

    p = ctx->grant.url;

    if (ngx_strncmp(p, "http://", 7) == 0) {
        p += 7;
    }

    ctx->peer_name.data = p;
    ctx->peer_name.len = ngx_strlen(p);

    if (ctx->session.len && ctx->vp->session_start && ctx->tcf->task_type
                                                  < NGX_VOICEGW_TASK_NTYPES)
    {
        ctx->session_rec = ctx->vp->session_start(ctx->vp->session_data,
                                &ctx->session,
                                &ngx_voicegw_task_types[ctx->tcf->task_type]
                                 .name,
                                &ctx->peer_name);
    }
}


/* the worker is given back (the queue is told by the caller) */

void
ngx_voicegw_task_ended(ngx_voicegw_task_ctx_t *ctx, ngx_uint_t outcome)
{
    ctx->held = 0;
    ctx->outcome = outcome + 1;
    ctx->ended_mono = ngx_voicegw_mono_msec();

    if (ctx->session_rec) {
        ctx->vp->session_end(ctx->session_rec);
        ctx->session_rec = NULL;
    }
}


/* a JSON error instead of proxying; the request is finalized here */

ngx_int_t
ngx_voicegw_task_refuse(ngx_http_request_t *r, ngx_voicegw_task_ctx_t *ctx,
    ngx_uint_t status, const char *code, const char *fmt, ...)
{
    u_char     buf[256], *p;
    va_list    args;
    ngx_int_t  rc;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);
    *p = '\0';

    ctx->phase = NGX_VOICEGW_TASK_ANSWERED;
    ctx->refused = code;

    if (ctx->ws) {
        /* after the gateway's own 101: frames, not HTTP */
        return ngx_voicegw_task_ws_refuse(r, ctx, code, buf);
    }

    if (ctx->ticket) {
        (void) ngx_voicegw_task_headers(r, ctx);
    }

    if (r->connection->error) {
        ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc == NGX_OK) {
        rc = ngx_voicegw_reply_error(r, status, code, "%s", buf);
    }

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/* -- what the response and the logs show ---------------------------------- */

ngx_int_t
ngx_voicegw_task_headers(ngx_http_request_t *r, ngx_voicegw_task_ctx_t *ctx)
{
    u_char           *p;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, sizeof("tk_0123456789abcdef"));
    if (p == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-VoiceGW-Ticket");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "tk_%016xL", ctx->ticket) - p;

    if (ctx->phase != NGX_VOICEGW_TASK_GRANTED) {
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-VoiceGW-Queue-Wait-Ms");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%uL",
                               ngx_voicegw_mono_since(ctx->grant.enqueued_mono,
                                                   ctx->grant.assigned_mono))
                   - p;

    return NGX_OK;
}


ngx_int_t
ngx_voicegw_task_add_variables(ngx_conf_t *cf)
{
    return ngx_voicegw_http_add_variables(cf, ngx_voicegw_task_vars);
}


static ngx_int_t
ngx_voicegw_task_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char                  *p;
    ngx_voicegw_task_ctx_t  *ctx;

    ctx = ngx_voicegw_task_get_ctx(r);

    if (ctx == NULL || ctx->ticket == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    switch (data) {

    case NGX_VOICEGW_VAR_TICKET:
        p = ngx_pnalloc(r->pool, sizeof("tk_0123456789abcdef"));
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "tk_%016xL", ctx->ticket) - p;
        break;

    case NGX_VOICEGW_VAR_WAIT:
        if (ctx->grant.assigned_mono == 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "%uL",
                             ngx_voicegw_mono_since(ctx->grant.enqueued_mono,
                                                    ctx->grant.assigned_mono))
                 - p;
        break;

    case NGX_VOICEGW_VAR_WORKER:
        if (ctx->grant.assigned_mono == 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = ctx->grant.url;
        v->len = ngx_strlen(ctx->grant.url);
        break;

    default: /* NGX_VOICEGW_VAR_CACHE */
        if (ctx->grant.assigned_mono == 0 || ctx->affinity == NULL) {
            v->not_found = 1;
            return NGX_OK;
        }

        if (ctx->grant.hit) {
            v->data = (u_char *) "hit";
            v->len = 3;

        } else {
            v->data = (u_char *) "miss";
            v->len = 4;
        }
    }

    return NGX_OK;
}
