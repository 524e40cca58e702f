
/*
 * ngx_voicegw_snapshot.c
 *
 * Owns the copies of the pools that the API reads: /status, /workers,
 * /api/cache, /api/queue, a ticket, the metrics.  The lock is held for
 * copies only: the memory is allocated before it, and the ETA and the
 * JSON are made after it.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_clock.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_eta.h"


static void ngx_voicegw_pool_view(ngx_voicegw_pool_sh_t *pool,
    ngx_voicegw_pool_view_t *pv);
static void ngx_voicegw_ticket_view(ngx_voicegw_queue_sh_t *q,
    ngx_voicegw_ticket_t *t, ngx_voicegw_ticket_view_t *tv);
static ngx_int_t ngx_voicegw_snapshot_eta(ngx_pool_t *pool,
    ngx_voicegw_snapshot_t *snap);


/*
 * A snapshot of the pools: how many workers and queued tickets there are
 * is read under the lock, the memory for them allocated after it, and
 * the copy made under the lock again (once more if the queue grew in
 * between).  The ETA of each queued ticket is computed from the copy.
 */

ngx_int_t
ngx_voicegw_queue_snapshot(ngx_voicegw_pools_t *vp, ngx_pool_t *pool,
    ngx_uint_t what, ngx_voicegw_snapshot_t *snap)
{
    ngx_int_t                rc;
    ngx_uint_t               i, tries, nworkers, nqueued;
    ngx_voicegw_queue_sh_t  *q;

    q = vp->sh;
    snap->what = what;

    for (tries = 0; tries < 4; tries++) {

        nworkers = 0;
        nqueued = 0;

        ngx_voicegw_zone_lock(vp->zone);

        for (i = 0; i < q->npools; i++) {
            nworkers += q->pools[i]->nworkers;
            nqueued += q->pools[i]->queued;
        }

        ngx_voicegw_zone_unlock(vp->zone);

        /* room for a few more, so that a growing queue rarely retries */

        snap->maxworkers = nworkers + 4;
        snap->maxentries = (what & NGX_VOICEGW_SNAP_QUEUE)
                           ? nqueued + nqueued / 8 + 16 : 0;

        snap->workers = ngx_palloc(pool, snap->maxworkers
                                         * sizeof(ngx_voicegw_worker_view_t));
        if (snap->workers == NULL) {
            return NGX_ERROR;
        }

        if (snap->maxentries) {
            snap->entries = ngx_palloc(pool, snap->maxentries
                                          * sizeof(ngx_voicegw_entry_view_t));
            if (snap->entries == NULL) {
                return NGX_ERROR;
            }
        }

        ngx_voicegw_zone_lock(vp->zone);
        rc = ngx_voicegw_queue_snapshot_locked(vp, snap);
        ngx_voicegw_zone_unlock(vp->zone);

        if (rc == NGX_OK) {
            if ((what & NGX_VOICEGW_SNAP_QUEUE)
                && ngx_voicegw_snapshot_eta(pool, snap) != NGX_OK)
            {
                return NGX_ERROR;
            }

            return NGX_OK;
        }
    }

    return NGX_ERROR;
}


/* copies only; NGX_AGAIN when the memory prepared is too small */

ngx_int_t
ngx_voicegw_queue_snapshot_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_snapshot_t *snap)
{
    uint64_t                    mono;
    ngx_uint_t                  i, k, n;
    ngx_queue_t                *l;
    ngx_voicegw_ticket_t       *t;
    ngx_voicegw_pool_sh_t      *pool;
    ngx_voicegw_queue_sh_t     *q;
    ngx_voicegw_worker_sh_t    *w;
    ngx_voicegw_entry_view_t   *e;
    ngx_voicegw_worker_view_t  *wv;

    q = vp->sh;

    snap->now = ngx_voicegw_now_msec();
    snap->version = q->version;
    snap->npools = 0;
    snap->nworkers = 0;
    snap->nentries = 0;
    snap->ticket_found = 0;

    mono = ngx_voicegw_mono_msec();

    ngx_voicegw_eta_state_locked(vp, &snap->eta);

    for (i = 0; i < q->npools; i++) {
        pool = q->pools[i];

        if (pool->retired) {
            continue;
        }

        ngx_voicegw_pool_view(pool, &snap->pools[snap->npools]);

        if (snap->nworkers + pool->nworkers > snap->maxworkers
            || ((snap->what & NGX_VOICEGW_SNAP_QUEUE)
                && snap->nentries + pool->queued > snap->maxentries))
        {
            return NGX_AGAIN;
        }

        for (k = 0; k < pool->nworkers; k++) {
            w = &pool->workers[k];
            wv = &snap->workers[snap->nworkers++];

            wv->pool = snap->npools;
            ngx_memcpy(wv->url, w->url, NGX_VOICEGW_NAME_LEN);
            wv->index = k;
            wv->state = ngx_voicegw_worker_state(w);
            wv->task_type = w->task_type;
            wv->ticket = w->ticket;
            wv->busy_since = w->busy_since;
            wv->busy_ms = w->ticket ? ngx_voicegw_mono_since(w->busy_mono,
                                                             mono)
                                    : 0;
            wv->cached_hash = w->cache.hash ? w->cache.hash : w->cache.key;
            wv->last_used = w->last_used;
            wv->checked_at = w->checked_at;
            wv->served = w->served;
            wv->served_ok = w->served_ok;
            wv->served_ms = w->served_ms;
            wv->paused = w->ticket ? w->paused : 0;
            wv->session_len = w->session_len;
            ngx_memcpy(wv->session, w->session, w->session_len);
            ngx_memcpy(wv->reported, w->reported, NGX_VOICEGW_REPORTED_LEN);
        }

        if (snap->what & NGX_VOICEGW_SNAP_QUEUE) {
            n = 0;

            for (l = ngx_queue_head(&pool->queue);
                 l != ngx_queue_sentinel(&pool->queue);
                 l = ngx_queue_next(l))
            {
                t = ngx_queue_data(l, ngx_voicegw_ticket_t, link);
                e = &snap->entries[snap->nentries++];

                e->pool = snap->npools;
                e->id = t->id;
                e->task_type = t->task_type;
                e->position = ++n;
                e->enqueued = t->enqueued;
                e->wait_ms = ngx_voicegw_mono_since(t->enqueued_mono, mono);
                e->eta = 0.0;
                e->session_len = t->session_len;
                ngx_memcpy(e->session, t->session, t->session_len);
            }
        }

        snap->npools++;
    }

    if (snap->ticket_id) {
        t = ngx_voicegw_ticket_find_locked(vp, snap->ticket_id);

        if (t != NULL && !t->pool->retired) {
            ngx_voicegw_ticket_view(q, t, &snap->ticket);
            snap->ticket_found = 1;
        }
    }

    return NGX_OK;
}


static void
ngx_voicegw_ticket_view(ngx_voicegw_queue_sh_t *q, ngx_voicegw_ticket_t *t,
    ngx_voicegw_ticket_view_t *tv)
{
    ngx_uint_t                i, pool;
    ngx_voicegw_worker_sh_t  *w;

    pool = 0;

    for (i = 0; i < q->npools && q->pools[i] != t->pool; i++) {
        if (!q->pools[i]->retired) {
            pool++;
        }
    }

    ngx_memzero(tv, sizeof(ngx_voicegw_ticket_view_t));

    tv->id = t->id;
    tv->pool = pool;
    tv->state = t->state;
    tv->task_type = t->task_type;
    tv->enqueued = t->enqueued;
    tv->assigned = t->assigned;
    tv->finished = t->finished;
    tv->wait_ms = t->assigned ? ngx_voicegw_mono_since(t->enqueued_mono,
                                                       t->assigned_mono)
                              : 0;
    tv->session_len = t->session_len;
    ngx_memcpy(tv->session, t->session, t->session_len);

    if (t->state == NGX_VOICEGW_TICKET_ASSIGNED && t->worker >= 0
        && (ngx_uint_t) t->worker < t->pool->nworkers)
    {
        w = &t->pool->workers[t->worker];
        ngx_memcpy(tv->url, w->url, NGX_VOICEGW_NAME_LEN);
    }
}


/*
 * The estimated wait of each queued ticket (SPEC 3.5), pool by pool:
 * every worker busy with one of our tasks is in a heap with its remaining
 * time (estimate - elapsed, or 15 s when overrun); each ticket in FIFO
 * order takes the smallest, which is its wait, and puts back that time
 * plus its own estimate.
 */

static ngx_int_t
ngx_voicegw_snapshot_eta(ngx_pool_t *pool, ngx_voicegw_snapshot_t *snap)
{
    double                     *heap, *eta, est, elapsed;
    ngx_uint_t                  p, i, k, nbusy, first, n, *types;
    ngx_voicegw_entry_view_t   *e;
    ngx_voicegw_worker_view_t  *w;

    if (snap->nentries == 0) {
        return NGX_OK;
    }

    heap = ngx_palloc(pool, (snap->nworkers + snap->nentries)
                            * sizeof(double));
    types = ngx_palloc(pool, snap->nentries * sizeof(ngx_uint_t));

    if (heap == NULL || types == NULL) {
        return NGX_ERROR;
    }

    eta = heap + snap->nworkers;
    e = snap->entries;
    i = 0;

    for (p = 0; p < snap->npools; p++) {

        nbusy = 0;

        for (k = 0; k < snap->nworkers; k++) {
            w = &snap->workers[k];

            if (w->pool != p || w->ticket == 0) {
                continue;
            }

            est = ngx_voicegw_eta_estimate(&snap->eta, w->task_type);
            elapsed = w->busy_ms / 1000.0;

            heap[nbusy++] = (elapsed < est) ? est - elapsed : 15.0;
        }

        first = i;

        while (i < snap->nentries && e[i].pool == p) {
            types[i] = e[i].task_type;
            i++;
        }

        n = i - first;

        if (n == 0) {
            continue;
        }

        ngx_voicegw_eta_queue(&snap->eta, heap, nbusy, types + first, n,
                              eta + first);

        for (k = first; k < i; k++) {
            e[k].eta = eta[k];
        }
    }

    if (snap->ticket_found
        && snap->ticket.state == NGX_VOICEGW_TICKET_QUEUED)
    {
        for (k = 0; k < snap->nentries; k++) {
            if (e[k].id == snap->ticket.id) {
                snap->ticket.position = e[k].position;
                snap->ticket.eta = e[k].eta;
                break;
            }
        }
    }

    return NGX_OK;
}


static void
ngx_voicegw_pool_view(ngx_voicegw_pool_sh_t *pool,
    ngx_voicegw_pool_view_t *pv)
{
    ngx_uint_t  k;

    ngx_memcpy(pv->name, pool->name, NGX_VOICEGW_NAME_LEN);
    pv->nworkers = pool->nworkers;
    pv->queue_max = pool->queue_max;
    pv->queued = pool->queued;
    pv->hits = pool->hits;
    pv->misses = pool->misses;
    pv->rejected = pool->rejected;
    pv->timed_out = pool->timed_out;
    pv->cancelled = pool->cancelled;
    pv->abandoned = pool->abandoned;
    pv->granted = pool->granted;

    ngx_memzero(pv->workers, sizeof(pv->workers));

    for (k = 0; k < pool->nworkers; k++) {
        pv->workers[ngx_voicegw_worker_state(&pool->workers[k])]++;
    }
}


/* the counters of the pools in use, for the metrics */

ngx_uint_t
ngx_voicegw_queue_stats(ngx_voicegw_pools_t *vp,
    ngx_voicegw_pool_view_t *pools, ngx_uint_t max)
{
    ngx_uint_t               i, n;
    ngx_voicegw_queue_sh_t  *q;

    q = vp->sh;
    n = 0;

    if (q == NULL) {
        return 0;
    }

    ngx_voicegw_zone_lock(vp->zone);

    for (i = 0; i < q->npools && n < max; i++) {
        if (!q->pools[i]->retired) {
            ngx_voicegw_pool_view(q->pools[i], &pools[n++]);
        }
    }

    ngx_voicegw_zone_unlock(vp->zone);

    return n;
}


/* a plain read: a change shows at the latest in the next read */

ngx_uint_t
ngx_voicegw_queue_version(ngx_voicegw_pools_t *vp)
{
    return *(volatile ngx_uint_t *) &vp->sh->version;
}
