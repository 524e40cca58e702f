
/*
 * ngx_voicegw_admission.c
 *
 * Owns admission: the precontent-phase handler of "voicegw_task"
 * locations, which runs before proxy_pass.  In order: the app gate (403
 * for a disabled app, before anything is reserved), the session id, the
 * request body (read whole here, so that a slow client holds no worker,
 * and kept for proxy_pass), the affinity key (cache_key=, or the chat
 * body's messages), then a worker: reserved at once, or a ticket in the
 * pool's queue (ngx_voicegw_park.c waits for it).
 *
 * A request runs one task at most: an internal redirect (error_page, a
 * named location) finds its task again and goes through as it is.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_http.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_apps.h"
#include "ngx_voicegw_task.h"
#include "ngx_voicegw_park.h"
#include "ngx_voicegw_release.h"
#include "ngx_voicegw_task_ws.h"
#include "ngx_voicegw_admission.h"


static ngx_int_t ngx_voicegw_admission_handler(ngx_http_request_t *r);
static void ngx_voicegw_admission_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_voicegw_admit(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
static ngx_int_t ngx_voicegw_admission_session(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
static ngx_int_t ngx_voicegw_admission_key(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
static void ngx_voicegw_admission_body(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);


ngx_int_t
ngx_voicegw_admission_init(ngx_conf_t *cf)
{
    if (ngx_voicegw_http_phase_handler(cf, NGX_HTTP_PRECONTENT_PHASE,
                                       ngx_voicegw_admission_handler)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_voicegw_task_ws_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_voicegw_task_add_variables(cf);
}


static ngx_int_t
ngx_voicegw_admission_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_uint_t                enabled;
    ngx_voicegw_app_t        *app;
    ngx_voicegw_pools_t      *vp;
    ngx_voicegw_task_ctx_t   *ctx;
    ngx_voicegw_task_conf_t  *tcf;
    ngx_voicegw_main_conf_t  *vmcf;

    tcf = ngx_http_get_module_loc_conf(r, ngx_voicegw_pool_module);

    if (tcf->task_type == NGX_CONF_UNSET || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_voicegw_task_get_ctx(r);

    if (ctx != NULL) {

        switch (ctx->phase) {

        case NGX_VOICEGW_TASK_READING:
        case NGX_VOICEGW_TASK_PARKED:
            return NGX_DONE;

        default:
            /*
             * Granted, or answered, or redirected here afterwards
             * (error_page, a named location): the request runs one task
             * at most, and goes on with what it has.
             */
            return NGX_DECLINED;
        }
    }

    vmcf = ngx_http_get_module_main_conf(r, ngx_voicegw_module);
    vp = vmcf->pools;

    if (ngx_voicegw_task_create_ctx(r, tcf, vp, ngx_voicegw_release_cleanup,
                                    &ctx)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a disabled app: 403, before anything is reserved */

    if (tcf->app.len) {
        app = ngx_voicegw_app_find(vp, &tcf->app);

        ngx_voicegw_zone_lock(vp->zone);
        enabled = ngx_voicegw_app_enabled_locked(vp->zone, app);
        ngx_voicegw_zone_unlock(vp->zone);

        if (!enabled) {
            return ngx_voicegw_task_refuse(r, ctx, NGX_HTTP_FORBIDDEN,
                                           "app_disabled",
                                           "%V is currently disabled",
                                           &app->name);
        }
    }

    rc = ngx_voicegw_admission_session(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (tcf->affinity == NGX_VOICEGW_AFFINITY_KEY) {
        rc = ngx_voicegw_admission_key(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        /*
         * the body is read here, before a worker is reserved (a client
         * that sends it slowly holds none), and kept for proxy_pass (as
         * mirror does)
         */

        ctx->phase = NGX_VOICEGW_TASK_READING;

        rc = ngx_http_read_client_request_body(r,
                                          ngx_voicegw_admission_body_handler);
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            ctx->phase = NGX_VOICEGW_TASK_ANSWERED;
            return rc;
        }

        ngx_http_finalize_request(r, NGX_DONE);
        return NGX_DONE;
    }

    /*
     * a WebSocket route with queue frames: the gateway answers the
     * handshake itself, so that whatever follows (a place in the queue,
     * a refusal) reaches the client as frames
     */

    rc = ngx_voicegw_task_ws_handshake(r, ctx);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_admit(r, ctx);
}


static void
ngx_voicegw_admission_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_voicegw_task_ctx_t  *ctx;

    ctx = ngx_voicegw_task_get_ctx(r);

    r->preserve_body = 1;

    if (ctx->tcf->affinity == NGX_VOICEGW_AFFINITY_MESSAGES) {
        ngx_voicegw_admission_body(r, ctx);
    }

    rc = ngx_voicegw_admit(r, ctx);

    if (rc == NGX_DECLINED) {
        r->write_event_handler = ngx_http_core_run_phases;
        ngx_http_core_run_phases(r);
        return;
    }

    /* parked (NGX_DONE), or refused with the answer sent */
}


/*
 * NGX_DECLINED: a worker is reserved, go on to proxy_pass.  NGX_DONE:
 * parked, or refused (the answer is sent and the request finalized).
 */

static ngx_int_t
ngx_voicegw_admit(ngx_http_request_t *r, ngx_voicegw_task_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_uint_t                queued;
    ngx_voicegw_pools_t      *vp;
    ngx_voicegw_task_req_t    req;
    ngx_voicegw_pool_conf_t  *pcf;

    vp = ctx->vp;
    pcf = ctx->tcf->pool;

    ngx_memzero(&req, sizeof(ngx_voicegw_task_req_t));

    req.pool = pcf->sh;
    req.task_type = ctx->tcf->task_type;
    req.session = ctx->session;
    req.affinity = ctx->affinity;
    req.owner_slot = ngx_process_slot;
    req.owner_data = &ctx->wake;

    ngx_voicegw_park_prepare(r, ctx);

    ngx_voicegw_zone_lock(vp->zone);
    rc = ngx_voicegw_queue_admit_locked(vp, &req, &ctx->grant, &ctx->ticket);
    queued = pcf->sh->queued;
    ngx_voicegw_zone_unlock(vp->zone);

    if (ctx->ws) {
        ngx_voicegw_task_ws_respond(r, ctx);
    }

    switch (rc) {

    case NGX_OK:
        ngx_voicegw_task_granted(ctx);

        if (ngx_voicegw_task_headers(r, ctx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ctx->ws && ngx_voicegw_task_ws_granted(r, ctx) != NGX_OK) {
            r->connection->error = 1;
            ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
            return NGX_DONE;
        }

        return NGX_DECLINED;

    case NGX_AGAIN:
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "voicegw: ticket %016xL queued, %ui waiting",
                       ctx->ticket, queued);

        ngx_voicegw_park(r, ctx);

        if (ctx->ws) {
            ngx_voicegw_task_ws_queued(r, ctx);
        }

        return NGX_DONE;

    case NGX_DECLINED:
        return ngx_voicegw_task_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "queue_full",
                                       "Queue full (%ui requests)",
                                       pcf->queue_max);

    default:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "voicegw: no shared memory left for a ticket in "
                      "voicegw_zone");

        return ngx_voicegw_task_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "zone_full",
                                       "the gateway cannot queue more "
                                       "requests now");
    }
}


/* session=: [A-Za-z0-9_-]{1,128}, as the original gateway's routes */

static ngx_int_t
ngx_voicegw_admission_session(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx)
{
    size_t     i;
    ngx_str_t  s;

    if (ctx->tcf->session == NULL) {
        return NGX_OK;
    }

    if (ngx_http_complex_value(r, ctx->tcf->session, &s) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (s.len == 0 || s.len > NGX_VOICEGW_SESSION_LEN) {
        goto invalid;
    }

    for (i = 0; i < s.len; i++) {
        if (!((s.data[i] >= 'a' && s.data[i] <= 'z')
              || (s.data[i] >= 'A' && s.data[i] <= 'Z')
              || (s.data[i] >= '0' && s.data[i] <= '9')
              || s.data[i] == '_' || s.data[i] == '-'))
        {
            goto invalid;
        }
    }

    ctx->session = s;

    return NGX_OK;

invalid:

    return ngx_voicegw_task_refuse(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_session",
                                   "session ids are 1 to 128 characters of "
                                   "[A-Za-z0-9_-]");
}


static ngx_int_t
ngx_voicegw_admission_key(ngx_http_request_t *r, ngx_voicegw_task_ctx_t *ctx)
{
    ngx_str_t  key;

    if (ngx_http_complex_value(r, ctx->tcf->cache_key, &key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (key.len == 0) {
        return NGX_OK;
    }

    ctx->affinity = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_affinity_t));
    if (ctx->affinity == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->affinity->key = ngx_voicegw_affinity_key(key.data, key.len);

    return NGX_OK;
}


/*
 * A body that is no JSON chat simply has no affinity: the worker judges.
 * The body's copy and its JSON tree serve the chain only and go before
 * the request parks: a parked chat would otherwise hold several times its
 * body's size in memory for as long as it waits.
 */

static void
ngx_voicegw_admission_body(ngx_http_request_t *r, ngx_voicegw_task_ctx_t *ctx)
{
    u_char                     err[64];
    ngx_str_t                  body;
    ngx_pool_t                *pool;
    ngx_http_core_loc_conf_t  *clcf;
    ngx_voicegw_json_value_t  *root;
    ngx_voicegw_affinity_t    *aff;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (ngx_voicegw_body_collect(r, clcf->client_max_body_size
                                    ? (size_t) clcf->client_max_body_size
                                    : NGX_MAX_SIZE_T_VALUE,
                                 &body)
        != NGX_OK
        || body.len == 0)
    {
        return;
    }

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, r->connection->log);

    if (pool != NULL
        && ngx_voicegw_json_parse(pool, body.data, body.len, &root, err,
                                  sizeof(err))
           == NGX_OK)
    {
        aff = ngx_palloc(r->pool, sizeof(ngx_voicegw_affinity_t));

        if (aff != NULL
            && ngx_voicegw_affinity_messages(pool, root, aff) == NGX_OK)
        {
            ctx->affinity = aff;
        }
    }

    if (pool != NULL) {
        ngx_destroy_pool(pool);
    }

    (void) ngx_pfree(r->pool, body.data);
}
