
/*
 * ngx_voicegw_release.c
 *
 * Owns the release of a task's worker: exactly once, on every path.
 *
 *   - The balancer's free() is where a task ends when its upstream was
 *     used.  nginx closes the upstream connection right after free()
 *     returns; the worker is given to the next task only then, from a
 *     posted event, so that a worker never sees the next task's
 *     connection while the previous one is still open.  Such a pending
 *     release belongs to the process, not to the request, which may be
 *     gone by then.
 *
 *   - The request pool's cleanup covers every other path: a parked
 *     ticket leaves the queue at once; a worker still held (never handed
 *     to the upstream, or handed and not released by free()) is released.
 *
 * The queue itself makes the release idempotent: it finds the worker by
 * ticket id, so a second release finds nothing.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_clock.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_health.h"
#include "ngx_voicegw_task.h"
#include "ngx_voicegw_park.h"
#include "ngx_voicegw_release.h"


typedef struct ngx_voicegw_release_s  ngx_voicegw_release_t;

struct ngx_voicegw_release_s {
    ngx_voicegw_release_t       *next;
    uint64_t                     ticket;
    ngx_uint_t                   outcome;
    ngx_voicegw_pool_conf_t     *pool;
    u_char                       url[NGX_VOICEGW_NAME_LEN];
    ngx_uint_t                   has_cache;
    ngx_voicegw_affinity_t       cache;
};


static void ngx_voicegw_release_handler(ngx_event_t *ev);


ngx_int_t
ngx_voicegw_release_init_process(ngx_cycle_t *cycle, ngx_voicegw_pools_t *vp)
{
    vp->proc->release_ev.handler = ngx_voicegw_release_handler;
    vp->proc->release_ev.data = vp;
    vp->proc->release_ev.log = cycle->log;

    return NGX_OK;
}


/* releases still pending when the process exits are made now */

void
ngx_voicegw_release_exit_process(ngx_voicegw_pools_t *vp)
{
    if (vp->proc->releases == NULL) {
        return;
    }

    if (vp->proc->release_ev.posted) {
        ngx_delete_posted_event(&vp->proc->release_ev);
    }

    ngx_voicegw_release_handler(&vp->proc->release_ev);
}


/*
 * The request's pool goes away, on every path: a parked ticket leaves the
 * queue at once; a worker still held is released.
 */

void
ngx_voicegw_release_cleanup(void *data)
{
    ngx_voicegw_task_ctx_t  *ctx = data;

    ngx_int_t  rc;

    if (ctx->parked) {
        ngx_voicegw_unpark(ctx);

        ngx_voicegw_zone_lock(ctx->vp->zone);

        rc = ngx_voicegw_queue_leave_locked(ctx->vp, ctx->ticket,
                                            NGX_VOICEGW_TICKET_ABANDONED,
                                            NULL);
        if (rc == NGX_DECLINED) {
            /* granted while the client was leaving */
            ngx_voicegw_queue_release_locked(ctx->vp, ctx->ticket, NULL,
                                             NGX_VOICEGW_RELEASE_UNUSED);
        }

        ngx_voicegw_zone_unlock(ctx->vp->zone);
        return;
    }

    if (ctx->held) {
        ngx_voicegw_release(ctx, ctx->connected
                                 ? NGX_VOICEGW_RELEASE_FAILED
                                 : NGX_VOICEGW_RELEASE_UNUSED);
    }
}


/* the one place that gives a held worker back at once */

void
ngx_voicegw_release(ngx_voicegw_task_ctx_t *ctx, ngx_uint_t outcome)
{
    if (!ctx->held) {
        return;
    }

    ngx_voicegw_task_ended(ctx, outcome);

    ngx_voicegw_zone_lock(ctx->vp->zone);
    ngx_voicegw_queue_release_locked(ctx->vp, ctx->ticket, ctx->affinity,
                                     outcome);
    ngx_voicegw_zone_unlock(ctx->vp->zone);

    if (outcome == NGX_VOICEGW_RELEASE_FAILED
        || outcome == NGX_VOICEGW_RELEASE_CHECK)
    {
        ngx_voicegw_health_probe(ctx->vp, ctx->tcf->pool, ctx->grant.url);
    }
}


/* from the balancer's free(): once the upstream connection is closed */

void
ngx_voicegw_release_after_close(ngx_voicegw_task_ctx_t *ctx,
    ngx_uint_t outcome)
{
    ngx_voicegw_proc_t     *proc;
    ngx_voicegw_release_t  *rel;

    if (!ctx->held) {
        return;
    }

    proc = ctx->vp->proc;

    rel = ngx_alloc(sizeof(ngx_voicegw_release_t), ngx_cycle->log);
    if (rel == NULL) {
        ngx_voicegw_release(ctx, outcome);
        return;
    }

    ngx_voicegw_task_ended(ctx, outcome);

    rel->ticket = ctx->ticket;
    rel->outcome = outcome;
    rel->pool = ctx->tcf->pool;
    ngx_memcpy(rel->url, ctx->grant.url, NGX_VOICEGW_NAME_LEN);
    rel->has_cache = (ctx->affinity != NULL);

    if (ctx->affinity) {
        rel->cache = *ctx->affinity;
    }

    rel->next = proc->releases;
    proc->releases = rel;

    ngx_post_event(&proc->release_ev, &ngx_posted_events);
}


static void
ngx_voicegw_release_handler(ngx_event_t *ev)
{
    ngx_voicegw_pools_t  *vp = ev->data;

    ngx_voicegw_release_t  *rel, *next, *probes;

    ngx_voicegw_zone_lock(vp->zone);

    probes = NULL;

    for (rel = vp->proc->releases; rel; rel = next) {
        next = rel->next;

        ngx_voicegw_queue_release_locked(vp, rel->ticket,
                                         rel->has_cache ? &rel->cache : NULL,
                                         rel->outcome);

        if (rel->outcome == NGX_VOICEGW_RELEASE_FAILED
            || rel->outcome == NGX_VOICEGW_RELEASE_CHECK)
        {
            rel->next = probes;
            probes = rel;

        } else {
            ngx_free(rel);
        }
    }

    vp->proc->releases = NULL;

    ngx_voicegw_zone_unlock(vp->zone);

    for (rel = probes; rel; rel = next) {
        next = rel->next;
        ngx_voicegw_health_probe(vp, rel->pool, rel->url);
        ngx_free(rel);
    }
}
