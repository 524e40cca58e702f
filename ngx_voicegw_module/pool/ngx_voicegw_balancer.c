
/*
 * ngx_voicegw_balancer.c
 *
 * Owns the upstream balancer of "voicegw_pool" upstreams.  It does not
 * choose: the precontent handler reserved a worker before proxy_pass ran,
 * and get() hands that reservation's address to nginx's upstream.
 *
 * free() is where a task ends: nginx calls it when the upstream connection
 * ends, after the last byte of an HTTP or SSE response and when an
 * upgraded (WebSocket) connection closes, just before it closes the
 * connection.  The worker is released once, right after that close:
 *
 *   - a failed connect: the worker is offline, and the task takes another
 *     idle worker at once if there is one (nginx then retries with it);
 *   - an abnormal end (nginx's upstream failed, a timeout or an error on
 *     the connection, a response cut short by either side): released as
 *     failed, checked before it is handed out again, and its duration is
 *     no ETA sample, as nginx's keepalive module trusts no connection
 *     that ended that way;
 *   - the worker ending a WebSocket session itself (it may have died):
 *     released, and checked before it is handed out again;
 *   - a normal end: released, with the request's conversation as the
 *     worker's new cache.
 *
 * A request that reaches a pool without a reservation (a location that
 * proxies to the pool without voicegw_task) gets no worker.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_http.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_task.h"
#include "ngx_voicegw_release.h"
#include "ngx_voicegw_balancer.h"


typedef struct {
    ngx_http_request_t          *request;
    ngx_voicegw_pool_conf_t     *pool;
} ngx_voicegw_balancer_peer_t;


static ngx_int_t ngx_voicegw_balancer_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_voicegw_balancer_get(ngx_peer_connection_t *pc,
    void *data);
static void ngx_voicegw_balancer_free(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state);
static ngx_uint_t ngx_voicegw_balancer_complete(ngx_http_request_t *r,
    ngx_http_upstream_t *u, ngx_connection_t *c);


/*
 * Called by nginx for the upstream block, after its "server" lines are
 * read: every server is one worker with one address.
 */

ngx_int_t
ngx_voicegw_balancer_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    u_char                       *p;
    ngx_uint_t                    i;
    ngx_voicegw_pool_conf_t      *pcf;
    ngx_voicegw_worker_conf_t    *wcf;
    ngx_http_upstream_server_t   *server;
    ngx_voicegw_pool_srv_conf_t  *pscf;

    pscf = ngx_http_conf_upstream_srv_conf(us, ngx_voicegw_pool_module);
    pcf = pscf->pool;

    if (us->servers == NULL || us->servers->nelts == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "no workers (\"server\" lines) in voicegw_pool "
                      "upstream \"%V\" in %s:%ui",
                      &us->host, us->file_name, us->line);
        return NGX_ERROR;
    }

    if (us->servers->nelts > NGX_VOICEGW_MAX_WORKERS) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "too many workers in voicegw_pool upstream \"%V\" "
                      "(at most %d) in %s:%ui",
                      &us->host, NGX_VOICEGW_MAX_WORKERS, us->file_name,
                      us->line);
        return NGX_ERROR;
    }

    if (ngx_array_init(&pcf->workers, cf->pool, us->servers->nelts,
                       sizeof(ngx_voicegw_worker_conf_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    server = us->servers->elts;

    for (i = 0; i < us->servers->nelts; i++) {

        if (server[i].naddrs != 1 || server[i].backup || server[i].down
            || server[i].weight != 1)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "worker \"%V\" of voicegw_pool upstream \"%V\" "
                          "must be one address, without weight, backup "
                          "or down, in %s:%ui",
                          &server[i].name, &us->host, us->file_name,
                          us->line);
            return NGX_ERROR;
        }

        wcf = ngx_array_push(&pcf->workers);
        if (wcf == NULL) {
            return NGX_ERROR;
        }

        wcf->sockaddr = server[i].addrs[0].sockaddr;
        wcf->socklen = server[i].addrs[0].socklen;
        wcf->host = server[i].name.len ? server[i].name
                                       : server[i].addrs[0].name;

        wcf->url.len = sizeof("http://") - 1 + wcf->host.len;

        if (wcf->url.len >= NGX_VOICEGW_NAME_LEN
            || wcf->socklen > NGX_VOICEGW_ADDR_LEN)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "worker name \"%V\" is too long in %s:%ui",
                          &wcf->host, us->file_name, us->line);
            return NGX_ERROR;
        }

        p = ngx_pnalloc(cf->pool, wcf->url.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        wcf->url.data = p;
        p = ngx_cpymem(p, "http://", sizeof("http://") - 1);
        ngx_memcpy(p, wcf->host.data, wcf->host.len);
    }

    us->peer.init = ngx_voicegw_balancer_init_peer;

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_balancer_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_voicegw_balancer_peer_t  *bp;
    ngx_voicegw_pool_srv_conf_t  *pscf;

    pscf = ngx_http_conf_upstream_srv_conf(us, ngx_voicegw_pool_module);

    bp = ngx_palloc(r->pool, sizeof(ngx_voicegw_balancer_peer_t));
    if (bp == NULL) {
        return NGX_ERROR;
    }

    bp->request = r;
    bp->pool = pscf->pool;

    r->upstream->peer.data = bp;
    r->upstream->peer.get = ngx_voicegw_balancer_get;
    r->upstream->peer.free = ngx_voicegw_balancer_free;
    r->upstream->peer.tries = bp->pool->workers.nelts;

    /* the task's body was read first: nginx would send it with Nagle's
       algorithm on */

    ngx_voicegw_http_upstream_nodelay(r->upstream);

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_balancer_get(ngx_peer_connection_t *pc, void *data)
{
    ngx_voicegw_balancer_peer_t  *bp = data;

    ngx_http_request_t      *r;
    ngx_voicegw_task_ctx_t  *ctx;

    r = bp->request;
    ctx = ngx_voicegw_task_get_ctx(r);

    if (ctx == NULL || ctx->tcf->pool != bp->pool) {
        ngx_log_error(NGX_LOG_ERR, pc->log, 0,
                      "voicegw: upstream \"%V\" is a voicegw_pool: only "
                      "locations with a voicegw_task for it may proxy there",
                      &bp->pool->name);
        return NGX_BUSY;
    }

    if (!ctx->held) {
        /* the task lost its worker: no other worker was idle */
        return NGX_BUSY;
    }

    pc->sockaddr = (struct sockaddr *) ctx->grant.sockaddr;
    pc->socklen = ctx->grant.socklen;
    pc->name = &ctx->peer_name;

    ctx->connected = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "voicegw: ticket %016xL on worker %V",
                   ctx->ticket, &ctx->peer_name);

    return NGX_OK;
}


static void
ngx_voicegw_balancer_free(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_voicegw_balancer_peer_t  *bp = data;

    ngx_int_t                rc;
    ngx_connection_t        *c;
    ngx_http_request_t      *r;
    ngx_http_upstream_t     *u;
    ngx_voicegw_grant_t      grant;
    ngx_voicegw_task_ctx_t  *ctx;

    r = bp->request;
    u = r->upstream;
    ctx = ngx_voicegw_task_get_ctx(r);

    if (ctx == NULL || !ctx->held || !ctx->connected) {
        return;
    }

    if ((state & NGX_PEER_FAILED)
        && u->state != NULL && u->state->connect_time == (ngx_msec_t) -1)
    {
        ngx_log_error(NGX_LOG_WARN, pc->log, 0,
                      "voicegw: worker %V refused the connection, "
                      "marked offline", &ctx->peer_name);

        ngx_voicegw_zone_lock(ctx->vp->zone);
        rc = ngx_voicegw_queue_retry_locked(ctx->vp, ctx->ticket, &grant);
        ngx_voicegw_zone_unlock(ctx->vp->zone);

        if (rc == NGX_OK) {
            /* the next get() uses it; the cleanup releases it if not */
            ctx->grant = grant;
            ctx->connected = 0;
            ngx_voicegw_task_granted(ctx);

        } else {
            ctx->held = 0;
        }

        return;
    }

    c = pc->connection;

    if ((state & NGX_PEER_FAILED)
        || c == NULL
        || c->read->error || c->read->timedout
        || c->write->error || c->write->timedout
        || (!u->upgrade && !ngx_voicegw_balancer_complete(r, u, c)))
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                       "voicegw: ticket %016xL ended abnormally",
                       ctx->ticket);

        ngx_voicegw_release_after_close(ctx, NGX_VOICEGW_RELEASE_FAILED);
        return;
    }

    if (u->upgrade && c->read->eof) {
        /* the worker ended the session (it may have died): check it */
        ngx_voicegw_release_after_close(ctx, NGX_VOICEGW_RELEASE_CHECK);
        return;
    }

    ngx_voicegw_release_after_close(ctx, NGX_VOICEGW_RELEASE_OK);
}


/*
 * Whether the worker's whole response was read: through the event pipe
 * (proxy_buffering on), or with nginx's count of what is left to read
 * (0: all of it; -1: until the worker closes).  A response cut short
 * (the client left, the worker stopped in the middle) is no normal end.
 */

static ngx_uint_t
ngx_voicegw_balancer_complete(ngx_http_request_t *r, ngx_http_upstream_t *u,
    ngx_connection_t *c)
{
    ngx_event_pipe_t  *p;

    if (r->header_only) {
        return 1;
    }

    if (u->buffering) {
        p = u->pipe;

        return p != NULL && !p->upstream_error
               && (p->upstream_done || p->upstream_eof);
    }

    return u->length == 0 || (u->length == -1 && c->read->eof);
}
