
/*
 * ngx_voicegw_park.c
 *
 * Owns parked requests: a task whose ticket is queued waits here, the way
 * limit_req delays a request.  The phase handler returns NGX_DONE, the
 * read handler watches for the client leaving (ngx_http_test_reading:
 * it finalizes with 499 and the release drops the ticket at once), and a
 * timer enforces queue_timeout.
 *
 * When a worker is granted to the ticket, in this process or another, the
 * request's wake event runs (posted directly, or after the doorbell
 * rang), restores the normal handlers and runs the phases again; this
 * time the admission lets the request through to proxy_pass, and the
 * balancer hands nginx the reserved worker.  Another process that grants
 * or cancels one of our tickets puts it in our mailbox in the zone
 * (ngx_voicegw_queue.c) before it rings: the doorbell's handler finds
 * those requests by ticket id, so a grant costs the same with 10,000
 * requests parked as with 10.  A lost ring is covered by a slow backstop
 * timer that empties the mailbox, and now and then looks at every parked
 * request.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_doorbell.h"
#include "ngx_voicegw_task.h"
#include "ngx_voicegw_task_ws.h"
#include "ngx_voicegw_park.h"


#define NGX_VOICEGW_BACKSTOP   250     /* ms */
#define NGX_VOICEGW_FULL_LOOK  20      /* backstops: every 5 s */
#define NGX_VOICEGW_LOOK_SLICE 128     /* tickets per hold of the lock */


static void ngx_voicegw_park_wake_handler(ngx_event_t *ev);
static void ngx_voicegw_park_timeout_handler(ngx_event_t *ev);
static void ngx_voicegw_park_parked_handler(ngx_http_request_t *r);
static void ngx_voicegw_park_doorbell_handler(ngx_event_t *ev);
static void ngx_voicegw_park_backstop_handler(ngx_event_t *ev);
static void ngx_voicegw_park_check(ngx_voicegw_pools_t *vp,
    ngx_uint_t full);
static ngx_voicegw_task_ctx_t *ngx_voicegw_park_find(ngx_voicegw_proc_t *proc,
    uint64_t ticket);


ngx_int_t
ngx_voicegw_park_init_process(ngx_cycle_t *cycle, ngx_voicegw_pools_t *vp)
{
    ngx_voicegw_proc_t  *proc;

    proc = vp->proc;

    proc->backstop.handler = ngx_voicegw_park_backstop_handler;
    proc->backstop.data = vp;
    proc->backstop.log = cycle->log;
    proc->backstop.cancelable = 1;

    return ngx_voicegw_doorbell_init_process(cycle, vp,
                                          ngx_voicegw_park_doorbell_handler);
}


void
ngx_voicegw_park_exit_process(ngx_voicegw_pools_t *vp)
{
    ngx_voicegw_doorbell_exit_process(vp);
}


/* the wake event the queue posts or rings for, set before admission */

void
ngx_voicegw_park_prepare(ngx_http_request_t *r, ngx_voicegw_task_ctx_t *ctx)
{
    ctx->wake.handler = ngx_voicegw_park_wake_handler;
    ctx->wake.data = ctx;
    ctx->wake.log = r->connection->log;
}


void
ngx_voicegw_park(ngx_http_request_t *r, ngx_voicegw_task_ctx_t *ctx)
{
    ngx_voicegw_proc_t  *proc;

    proc = ctx->vp->proc;

    ctx->phase = NGX_VOICEGW_TASK_PARKED;
    ctx->parked = 1;

    ngx_queue_insert_tail(&proc->parked, &ctx->link);
    proc->nparked++;

    ctx->node.key = (ngx_rbtree_key_t) ctx->ticket;
    ngx_rbtree_insert(&proc->parked_tree, &ctx->node);

    ctx->timeout.handler = ngx_voicegw_park_timeout_handler;
    ctx->timeout.data = ctx;
    ctx->timeout.log = r->connection->log;

    ngx_add_timer(&ctx->timeout, ctx->tcf->pool->queue_timeout);

    if (!proc->backstop.timer_set) {
        ngx_add_timer(&proc->backstop, NGX_VOICEGW_BACKSTOP);
    }

    /* a client that leaves is noticed at once: 499, ticket dropped */

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_voicegw_park_parked_handler;
}


void
ngx_voicegw_unpark(ngx_voicegw_task_ctx_t *ctx)
{
    if (!ctx->parked) {
        return;
    }

    ctx->parked = 0;

    ngx_queue_remove(&ctx->link);
    ctx->vp->proc->nparked--;

    ngx_rbtree_delete(&ctx->vp->proc->parked_tree, &ctx->node);

    if (ctx->timeout.timer_set) {
        ngx_del_timer(&ctx->timeout);
    }

    if (ctx->wake.posted) {
        ngx_delete_posted_event(&ctx->wake);
    }

    ngx_voicegw_task_ws_stop(ctx);
}


static void
ngx_voicegw_park_parked_handler(ngx_http_request_t *r)
{
    /* nothing to write while waiting */
}


/*
 * The ticket changed while parked: granted (go on to proxy_pass),
 * cancelled through the API (503), or lost (its process was taken for
 * dead: 503).  Still queued: a spurious wake-up.
 */

static void
ngx_voicegw_park_wake_handler(ngx_event_t *ev)
{
    ngx_voicegw_task_ctx_t  *ctx = ev->data;

    ngx_int_t             rc;
    ngx_uint_t            state, running;
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_voicegw_grant_t   grant;

    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    if (!ctx->parked) {
        return;
    }

    ngx_voicegw_zone_lock(ctx->vp->zone);
    rc = ngx_voicegw_queue_ticket_locked(ctx->vp, ctx->ticket, &grant);
    ngx_voicegw_zone_unlock(ctx->vp->zone);

    state = (rc == NGX_OK) ? grant.state : NGX_VOICEGW_TICKET_ABANDONED;
    running = (rc == NGX_OK) ? grant.running : 0;

    if (state == NGX_VOICEGW_TICKET_QUEUED) {
        return;
    }

    ngx_voicegw_unpark(ctx);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "voicegw: ticket %016xL woken, state %ui",
                   ctx->ticket, state);

    if (state == NGX_VOICEGW_TICKET_ASSIGNED && running) {
        ctx->grant = grant;
        ngx_voicegw_task_granted(ctx);

        if (ngx_voicegw_task_headers(r, ctx) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            ngx_http_run_posted_requests(c);
            return;
        }

        if (ctx->ws && ngx_voicegw_task_ws_granted(r, ctx) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
            ngx_http_run_posted_requests(c);
            return;
        }

        r->read_event_handler = ngx_http_block_reading;
        r->write_event_handler = ngx_http_core_run_phases;

        ngx_http_core_run_phases(r);
        ngx_http_run_posted_requests(c);
        return;
    }

    if (state == NGX_VOICEGW_TICKET_CANCELLED) {
        (void) ngx_voicegw_task_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "cancelled", "Request cancelled");

    } else {
        (void) ngx_voicegw_task_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "ticket_lost",
                                       "the request lost its place in "
                                       "the queue");
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_voicegw_park_timeout_handler(ngx_event_t *ev)
{
    ngx_voicegw_task_ctx_t  *ctx = ev->data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ngx_voicegw_zone_lock(ctx->vp->zone);
    rc = ngx_voicegw_queue_leave_locked(ctx->vp, ctx->ticket,
                                        NGX_VOICEGW_TICKET_TIMED_OUT, NULL);
    ngx_voicegw_zone_unlock(ctx->vp->zone);

    if (rc != NGX_OK) {
        /* granted or cancelled just now: the wake-up decides */
        ngx_voicegw_park_wake_handler(&ctx->wake);
        return;
    }

    ngx_voicegw_unpark(ctx);

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "voicegw: queue_timeout of pool \"%V\" passed",
                  &ctx->tcf->pool->name);

    (void) ngx_voicegw_task_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "queue_timeout",
                                   "no worker became free within the "
                                   "queue timeout");

    ngx_http_run_posted_requests(c);
}


static void
ngx_voicegw_park_doorbell_handler(ngx_event_t *ev)
{
    ngx_connection_t     *c = ev->data;
    ngx_voicegw_pools_t  *vp = c->data;

    ngx_voicegw_doorbell_drain(vp);
    ngx_voicegw_park_check(vp, 0);
}


/*
 * A lost ring leaves its tickets in the mailbox: the backstop empties it;
 * every NGX_VOICEGW_FULL_LOOK-th time it looks at every parked request,
 * for a ticket that changed without a word (its process taken for dead).
 */

static void
ngx_voicegw_park_backstop_handler(ngx_event_t *ev)
{
    ngx_voicegw_pools_t  *vp = ev->data;

    ngx_voicegw_park_check(vp,
                           ++vp->proc->backstops % NGX_VOICEGW_FULL_LOOK == 0);

    if (vp->proc->nparked && !ngx_exiting) {
        ngx_add_timer(&vp->proc->backstop, NGX_VOICEGW_BACKSTOP);
    }
}


/*
 * Post the wake event of every parked request whose ticket moved: those
 * of the mailbox, found by ticket id (O(1) under the zone's lock however
 * many are parked); all of them when the mailbox says so, or "full".
 */

static void
ngx_voicegw_park_check(ngx_voicegw_pools_t *vp, ngx_uint_t full)
{
    uint64_t                 mail[NGX_VOICEGW_MAIL];
    ngx_int_t                rc;
    ngx_uint_t               i, n;
    ngx_queue_t             *l, *parked;
    ngx_voicegw_grant_t      grant;
    ngx_voicegw_task_ctx_t  *ctx;

    if (vp->proc->nparked == 0) {
        return;
    }

    parked = &vp->proc->parked;

    ngx_voicegw_zone_lock(vp->zone);

    rc = ngx_voicegw_queue_mail_take_locked(vp, mail, &n);

    if (rc == NGX_OK && !full) {
        ngx_voicegw_zone_unlock(vp->zone);

        for (i = 0; i < n; i++) {
            ctx = ngx_voicegw_park_find(vp->proc, mail[i]);

            if (ctx != NULL) {
                ngx_post_event(&ctx->wake, &ngx_posted_events);
            }
        }

        return;
    }

    /* every parked request, NGX_VOICEGW_LOOK_SLICE per hold of the lock:
       the list is this process's own, and nothing changes it meanwhile */

    n = 0;

    for (l = ngx_queue_head(parked); l != ngx_queue_sentinel(parked);
         l = ngx_queue_next(l))
    {
        ctx = ngx_queue_data(l, ngx_voicegw_task_ctx_t, link);

        rc = ngx_voicegw_queue_ticket_locked(vp, ctx->ticket, &grant);

        if (rc != NGX_OK || grant.state != NGX_VOICEGW_TICKET_QUEUED) {
            ngx_post_event(&ctx->wake, &ngx_posted_events);
        }

        if (++n % NGX_VOICEGW_LOOK_SLICE == 0) {
            ngx_voicegw_zone_unlock(vp->zone);
            ngx_voicegw_zone_lock(vp->zone);
        }
    }

    ngx_voicegw_zone_unlock(vp->zone);
}


/* this process's parked request of a ticket, or NULL */

static ngx_voicegw_task_ctx_t *
ngx_voicegw_park_find(ngx_voicegw_proc_t *proc, uint64_t ticket)
{
    ngx_rbtree_key_t    key;
    ngx_rbtree_node_t  *node, *sentinel;

    key = (ngx_rbtree_key_t) ticket;
    node = proc->parked_tree.root;
    sentinel = proc->parked_tree.sentinel;

    while (node != sentinel) {

        if (key == node->key) {
            return (ngx_voicegw_task_ctx_t *)
                       ((u_char *) node
                        - offsetof(ngx_voicegw_task_ctx_t, node));
        }

        node = (key < node->key) ? node->left : node->right;
    }

    return NULL;
}
