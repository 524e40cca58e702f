
/*
 * ngx_voicegw_queue.c
 *
 * Owns the worker pools and their queues in the shared zone.  This is the
 * one place that decides which task runs on which worker; everything here
 * runs under the zone's mutex and does no I/O beyond ringing doorbells.
 *
 * A task is a ticket.  Every task gets one, also when a worker is free at
 * once, so that its id can be shown and queried.  A ticket is QUEUED in
 * its pool's FIFO, or ASSIGNED to a worker; while it holds the worker it
 * is "running" (on the active list), after release it moves to the done
 * list with CANCELLED, TIMED_OUT and ABANDONED tickets, and is forgotten
 * five minutes later.
 *
 * The reservation of a worker is worker->ticket == ticket id.  It is made
 * here, under the lock, when the ticket is admitted or granted, and it is
 * cleared here, once: release finds the worker by ticket id, so a second
 * release, or one from a process that does not know the pool any more,
 * finds nothing.  Tickets and reservations of a process that died are
 * purged by the sweep.
 *
 * Strict FIFO: a new task takes an idle worker only when nothing is
 * queued in its pool; otherwise it queues behind, and freed workers go to
 * the head of the queue, whichever process owns it.
 *
 * Times shown (enqueued_at, busy_since, ...) come from the wall clock;
 * durations (queue waits, task durations, expiries) from the monotonic
 * one, so that a step of the wall clock changes neither.
 *
 * The pools' life in the zone over reloads and crashes is in
 * ngx_voicegw_queue_zone.c, the copies the API reads in
 * ngx_voicegw_snapshot.c.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_clock.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_doorbell.h"
#include "ngx_voicegw_eta.h"

#include <openssl/rand.h>


static ngx_voicegw_ticket_t *ngx_voicegw_ticket_alloc(ngx_voicegw_pools_t *vp,
    ngx_voicegw_task_req_t *req);
static void ngx_voicegw_ticket_grant_info(ngx_voicegw_ticket_t *t,
    ngx_voicegw_grant_t *grant);
static ngx_int_t ngx_voicegw_worker_select(ngx_voicegw_pool_sh_t *pool,
    ngx_voicegw_ticket_t *t, ngx_uint_t *hit);
static void ngx_voicegw_worker_assign(ngx_voicegw_pools_t *vp,
    ngx_voicegw_pool_sh_t *pool, ngx_int_t wi, ngx_voicegw_ticket_t *t,
    ngx_uint_t hit);
static ngx_voicegw_worker_sh_t *ngx_voicegw_worker_of(
    ngx_voicegw_ticket_t *t);
static void ngx_voicegw_queue_tell_owner_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_ticket_t *t);
static void ngx_voicegw_ticket_affinity(ngx_voicegw_ticket_t *t,
    ngx_voicegw_affinity_t *aff);


ngx_conf_enum_t  ngx_voicegw_worker_states[] = {
    { ngx_string("idle"), NGX_VOICEGW_WORKER_IDLE },
    { ngx_string("busy"), NGX_VOICEGW_WORKER_BUSY },
    { ngx_string("loading"), NGX_VOICEGW_WORKER_LOADING },
    { ngx_string("error"), NGX_VOICEGW_WORKER_ERROR },
    { ngx_string("offline"), NGX_VOICEGW_WORKER_OFFLINE },
    { ngx_null_string, 0 }
};


ngx_conf_enum_t  ngx_voicegw_ticket_states[] = {
    { ngx_string("queued"), NGX_VOICEGW_TICKET_QUEUED },
    { ngx_string("assigned"), NGX_VOICEGW_TICKET_ASSIGNED },
    { ngx_string("cancelled"), NGX_VOICEGW_TICKET_CANCELLED },
    { ngx_string("timed_out"), NGX_VOICEGW_TICKET_TIMED_OUT },
    { ngx_string("abandoned"), NGX_VOICEGW_TICKET_ABANDONED },
    { ngx_null_string, 0 }
};


/* -- admission ------------------------------------------------------------ */

/*
 * NGX_OK: a worker is reserved, *grant says which.  NGX_AGAIN: queued.
 * NGX_DECLINED: the queue is full.  NGX_BUSY: no shared memory for the
 * ticket.  *ticket is the ticket id in the first two cases.
 */

ngx_int_t
ngx_voicegw_queue_admit_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_task_req_t *req, ngx_voicegw_grant_t *grant, uint64_t *ticket)
{
    ngx_int_t               wi;
    ngx_uint_t              hit;
    ngx_voicegw_ticket_t   *t;
    ngx_voicegw_pool_sh_t  *pool;

    pool = req->pool;

    /* a full queue: even a free worker would go to its head first */

    if (pool->queued && pool->queued >= pool->queue_max) {
        pool->rejected++;
        return NGX_DECLINED;
    }

    t = ngx_voicegw_ticket_alloc(vp, req);
    if (t == NULL) {
        return NGX_BUSY;
    }

    *ticket = t->id;

    if (pool->queued == 0) {
        wi = ngx_voicegw_worker_select(pool, t, &hit);

        if (wi >= 0) {
            ngx_voicegw_worker_assign(vp, pool, wi, t, hit);
            ngx_voicegw_ticket_grant_info(t, grant);
            return NGX_OK;
        }
    }

    if (pool->queued >= pool->queue_max) {
        pool->rejected++;
        ngx_voicegw_ticket_free_locked(vp, t);
        return NGX_DECLINED;
    }

    t->state = NGX_VOICEGW_TICKET_QUEUED;
    ngx_queue_insert_tail(&pool->queue, &t->link);
    pool->queued++;

    ngx_voicegw_queue_changed(vp);

    return NGX_AGAIN;
}


static ngx_voicegw_ticket_t *
ngx_voicegw_ticket_alloc(ngx_voicegw_pools_t *vp, ngx_voicegw_task_req_t *req)
{
    size_t                  size;
    uint32_t                nckpt;
    uint64_t                id;
    ngx_uint_t              tries;
    ngx_voicegw_ticket_t   *t;

    nckpt = req->affinity ? req->affinity->nckpt : 0;

    if (nckpt > NGX_VOICEGW_CKPT_TICKET) {
        nckpt = NGX_VOICEGW_CKPT_TICKET;
    }

    size = sizeof(ngx_voicegw_ticket_t)
           + (nckpt ? nckpt - 1 : 0) * sizeof(ngx_voicegw_ckpt_t);

    t = ngx_slab_alloc_locked(vp->zone->shpool, size);

    if (t == NULL) {
        /* make room: forget finished tickets early, oldest first */

        ngx_voicegw_expire_done_locked(vp, 0, 1);

        t = ngx_slab_alloc_locked(vp->zone->shpool, size);
        if (t == NULL) {
            return NULL;
        }
    }

    ngx_memzero(t, size);

    /* unguessable and unique: 64 random bits */

    for (tries = 0; tries < 8; tries++) {
        if (RAND_bytes((u_char *) &id, sizeof(id)) != 1) {
            id = ((uint64_t) ngx_random() << 32) ^ (uint64_t) ngx_random()
                 ^ ngx_voicegw_now_msec();
        }

        if (id != 0 && ngx_voicegw_ticket_find_locked(vp, id) == NULL) {
            break;
        }
    }

    t->id = id;
    t->node.key = (ngx_rbtree_key_t) id;
    t->pool = req->pool;
    t->task_type = req->task_type;
    t->worker = -1;
    t->owner_pid = ngx_pid;
    t->owner_slot = req->owner_slot;
    t->owner_data = req->owner_data;
    t->enqueued = ngx_voicegw_now_msec();
    t->enqueued_mono = ngx_voicegw_mono_msec();

    t->session_len = ngx_min(req->session.len, NGX_VOICEGW_SESSION_LEN);
    ngx_memcpy(t->session, req->session.data, t->session_len);

    if (req->affinity) {
        t->key = req->affinity->key;
        t->nblocks = req->affinity->nblocks;
        t->nckpt = nckpt;

        if (nckpt) {
            /* the first ones, and always the last */
            ngx_memcpy(t->ckpt, req->affinity->ckpt,
                       (nckpt - 1) * sizeof(ngx_voicegw_ckpt_t));
            t->ckpt[nckpt - 1] =
                               req->affinity->ckpt[req->affinity->nckpt - 1];
        }
    }

    ngx_rbtree_insert(&vp->sh->tickets, &t->node);

    return t;
}


void
ngx_voicegw_ticket_free_locked(ngx_voicegw_pools_t *vp, ngx_voicegw_ticket_t *t)
{
    ngx_rbtree_delete(&vp->sh->tickets, &t->node);
    ngx_slab_free_locked(vp->zone->shpool, t);
}


ngx_voicegw_ticket_t *
ngx_voicegw_ticket_find_locked(ngx_voicegw_pools_t *vp, uint64_t id)
{
    ngx_rbtree_key_t    key;
    ngx_rbtree_node_t  *node, *sentinel;

    key = (ngx_rbtree_key_t) id;
    node = vp->sh->tickets.root;
    sentinel = vp->sh->tickets.sentinel;

    while (node != sentinel) {

        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        return (ngx_voicegw_ticket_t *) node;
    }

    return NULL;
}


/* what a parked request needs to know of its ticket: NGX_DECLINED if gone */

ngx_int_t
ngx_voicegw_queue_ticket_locked(ngx_voicegw_pools_t *vp, uint64_t id,
    ngx_voicegw_grant_t *grant)
{
    ngx_voicegw_ticket_t  *t;

    t = ngx_voicegw_ticket_find_locked(vp, id);

    if (t == NULL) {
        return NGX_DECLINED;
    }

    ngx_voicegw_ticket_grant_info(t, grant);

    return NGX_OK;
}


static void
ngx_voicegw_ticket_grant_info(ngx_voicegw_ticket_t *t,
    ngx_voicegw_grant_t *grant)
{
    ngx_voicegw_worker_sh_t  *w;

    ngx_memzero(grant, sizeof(ngx_voicegw_grant_t));

    grant->ticket = t->id;
    grant->state = t->state;
    grant->running = t->running;
    grant->worker = t->worker;
    grant->enqueued_mono = t->enqueued_mono;
    grant->assigned_mono = t->assigned_mono;
    grant->hit = t->hit;

    w = t->running ? ngx_voicegw_worker_of(t) : NULL;

    if (w != NULL) {
        ngx_memcpy(grant->url, w->url, NGX_VOICEGW_NAME_LEN);
        ngx_memcpy(grant->sockaddr, w->sockaddr, NGX_VOICEGW_ADDR_LEN);
        grant->socklen = w->socklen;
    }
}


/* -- choosing a worker ---------------------------------------------------- */

ngx_uint_t
ngx_voicegw_worker_state(ngx_voicegw_worker_sh_t *w)
{
    if (w->ticket || (w->probe && w->health == NGX_VOICEGW_WORKER_IDLE)) {
        return NGX_VOICEGW_WORKER_BUSY;
    }

    return w->health;
}


/*
 * Among idle workers: the longest cached prefix of the ticket's
 * conversation (or its exact cache key); else one with an empty cache;
 * else the least recently used, so that the other caches survive.
 */

static ngx_int_t
ngx_voicegw_worker_select(ngx_voicegw_pool_sh_t *pool,
    ngx_voicegw_ticket_t *t, ngx_uint_t *hit)
{
    uint32_t                  m, best_match;
    ngx_int_t                 best, empty, lru;
    ngx_uint_t                i;
    ngx_voicegw_affinity_t    aff;
    ngx_voicegw_worker_sh_t  *w;

    *hit = 0;
    best = -1;
    empty = -1;
    lru = -1;
    best_match = 0;

    if (t->nckpt) {
        ngx_voicegw_ticket_affinity(t, &aff);
    }

    for (i = 0; i < pool->nworkers; i++) {
        w = &pool->workers[i];

        if (w->health != NGX_VOICEGW_WORKER_IDLE || w->ticket || w->probe) {
            continue;
        }

        if (t->key && w->cache.key == t->key) {
            best = i;
            break;
        }

        if (t->nckpt) {
            m = ngx_voicegw_affinity_match(&aff, &w->cache);

            if (m > best_match) {
                best_match = m;
                best = i;
            }
        }

        if (empty < 0 && w->cache.key == 0 && w->cache.nblocks == 0) {
            empty = i;
        }

        if (lru < 0
            || w->last_used_mono < pool->workers[lru].last_used_mono)
        {
            lru = i;
        }
    }

    if (best >= 0) {
        *hit = 1;
        return best;
    }

    return (empty >= 0) ? empty : lru;
}


static void
ngx_voicegw_worker_assign(ngx_voicegw_pools_t *vp,
    ngx_voicegw_pool_sh_t *pool, ngx_int_t wi, ngx_voicegw_ticket_t *t,
    ngx_uint_t hit)
{
    ngx_voicegw_worker_sh_t  *w;

    w = &pool->workers[wi];

    w->ticket = t->id;
    w->paused = 0;
    w->owner_pid = t->owner_pid;
    w->task_type = t->task_type;
    w->busy_since = ngx_voicegw_now_msec();
    w->busy_mono = ngx_voicegw_mono_msec();
    w->session_len = t->session_len;
    ngx_memcpy(w->session, t->session, t->session_len);

    t->state = NGX_VOICEGW_TICKET_ASSIGNED;
    t->worker = wi;
    t->assigned = w->busy_since;
    t->assigned_mono = w->busy_mono;
    t->running = 1;
    t->hit = hit;

    if (t->key || t->nckpt) {
        if (hit) {
            pool->hits++;

        } else {
            pool->misses++;
        }
    }

    pool->granted++;

    ngx_queue_insert_tail(&vp->sh->active, &t->link);
    vp->sh->nactive++;

    ngx_voicegw_queue_changed(vp);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "voicegw: ticket %016xL granted worker %s of \"%s\"",
                   t->id, w->url, pool->name);
}


static ngx_voicegw_worker_sh_t *
ngx_voicegw_worker_of(ngx_voicegw_ticket_t *t)
{
    ngx_uint_t                i;
    ngx_voicegw_pool_sh_t    *pool;

    pool = t->pool;

    if (t->worker >= 0 && (ngx_uint_t) t->worker < pool->nworkers
        && pool->workers[t->worker].ticket == t->id)
    {
        return &pool->workers[t->worker];
    }

    for (i = 0; i < pool->nworkers; i++) {
        if (pool->workers[i].ticket == t->id) {
            return &pool->workers[i];
        }
    }

    return NULL;
}


static void
ngx_voicegw_ticket_affinity(ngx_voicegw_ticket_t *t,
    ngx_voicegw_affinity_t *aff)
{
    aff->key = t->key;
    aff->nblocks = t->nblocks;
    aff->nckpt = t->nckpt;
    aff->hash = t->nckpt ? t->ckpt[t->nckpt - 1].hash : 0;
    ngx_memcpy(aff->ckpt, t->ckpt, t->nckpt * sizeof(ngx_voicegw_ckpt_t));
}


/* -- the owners' mailboxes ----------------------------------------------- */

/*
 * A ticket changed for its owner: in this process its wake event is
 * posted; in another, the ticket goes into the owner's mailbox and the
 * owner's doorbell rings.
 */

static void
ngx_voicegw_queue_tell_owner_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_ticket_t *t)
{
    ngx_voicegw_mailbox_t  *mb;

    if (t->owner_pid != ngx_pid
        && t->owner_slot >= 0 && t->owner_slot < NGX_VOICEGW_MAILBOXES)
    {
        mb = &vp->sh->mail[t->owner_slot];

        if (mb->pid != t->owner_pid) {
            /* the slot's process changed: what was there is not its */
            mb->pid = t->owner_pid;
            mb->n = 0;
            mb->overflow = 0;
        }

        if (mb->n < NGX_VOICEGW_MAIL) {
            mb->tickets[mb->n++] = t->id;

        } else {
            mb->overflow = 1;
        }
    }

    ngx_voicegw_doorbell_ring(vp, t->owner_pid, t->owner_slot,
                              t->owner_data);
}


/*
 * This process's mailbox, emptied: NGX_OK with the tickets that changed,
 * or NGX_DECLINED when its owner must look at every parked request (it
 * overflowed, or this process's slot has no mailbox).
 */

ngx_int_t
ngx_voicegw_queue_mail_take_locked(ngx_voicegw_pools_t *vp,
    uint64_t *tickets, ngx_uint_t *n)
{
    ngx_voicegw_mailbox_t  *mb;

    *n = 0;

    if (ngx_process_slot < 0 || ngx_process_slot >= NGX_VOICEGW_MAILBOXES) {
        return NGX_DECLINED;
    }

    mb = &vp->sh->mail[ngx_process_slot];

    if (mb->pid != ngx_pid) {
        /* nothing was ever sent to this process */
        mb->pid = ngx_pid;
        mb->n = 0;
        mb->overflow = 0;
        return NGX_OK;
    }

    if (mb->overflow) {
        mb->n = 0;
        mb->overflow = 0;
        return NGX_DECLINED;
    }

    ngx_memcpy(tickets, mb->tickets, mb->n * sizeof(uint64_t));
    *n = mb->n;
    mb->n = 0;

    return NGX_OK;
}


/* -- granting ------------------------------------------------------------- */

/* hand idle workers to the head of the queue, in order */

void
ngx_voicegw_queue_grant_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_pool_sh_t *pool)
{
    ngx_int_t              wi;
    ngx_uint_t             hit;
    ngx_queue_t           *l;
    ngx_voicegw_ticket_t  *t;

    while (!ngx_queue_empty(&pool->queue)) {

        l = ngx_queue_head(&pool->queue);
        t = ngx_queue_data(l, ngx_voicegw_ticket_t, link);

        wi = ngx_voicegw_worker_select(pool, t, &hit);
        if (wi < 0) {
            return;
        }

        ngx_queue_remove(&t->link);
        pool->queued--;

        ngx_voicegw_worker_assign(vp, pool, wi, t, hit);

        ngx_voicegw_queue_tell_owner_locked(vp, t);
    }
}


/*
 * A queued ticket leaves the queue without a worker: cancelled through the
 * API, timed out, or its client went away.  NGX_OK if it was queued,
 * NGX_DECLINED if it is not (any more; *current says what it is then),
 * NGX_ABORT if unknown.
 */

ngx_int_t
ngx_voicegw_queue_leave_locked(ngx_voicegw_pools_t *vp, uint64_t id,
    ngx_uint_t state, ngx_uint_t *current)
{
    ngx_voicegw_ticket_t   *t;
    ngx_voicegw_pool_sh_t  *pool;

    t = ngx_voicegw_ticket_find_locked(vp, id);

    if (t == NULL) {
        return NGX_ABORT;
    }

    if (t->state != NGX_VOICEGW_TICKET_QUEUED) {
        if (current) {
            *current = t->state;
        }

        return NGX_DECLINED;
    }

    pool = t->pool;

    ngx_queue_remove(&t->link);
    pool->queued--;

    switch (state) {
    case NGX_VOICEGW_TICKET_CANCELLED:
        pool->cancelled++;
        break;
    case NGX_VOICEGW_TICKET_TIMED_OUT:
        pool->timed_out++;
        break;
    default:
        pool->abandoned++;
    }

    if (state == NGX_VOICEGW_TICKET_CANCELLED) {
        /*
         * its owner answers 503: told before the ticket is finished,
         * which forgets the owner's wake event (the owner's handler runs
         * later, and sees the ticket cancelled)
         */
        ngx_voicegw_queue_tell_owner_locked(vp, t);
    }

    ngx_voicegw_ticket_finish_locked(vp, t, state);

    /* a cancelled head may have been the one waiting for a busy worker */

    ngx_voicegw_queue_grant_locked(vp, pool);

    return NGX_OK;
}


void
ngx_voicegw_ticket_finish_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_ticket_t *t, ngx_uint_t state)
{
    ngx_voicegw_queue_changed(vp);

    t->state = state;
    t->finished = ngx_voicegw_now_msec();
    t->finished_mono = ngx_voicegw_mono_msec();
    t->owner_data = NULL;

    ngx_queue_insert_tail(&vp->sh->done, &t->link);
    vp->sh->ndone++;
}


/*
 * The end of a task: its worker is free again, exactly once.  "served" is
 * the affinity of the request, which the worker's cache now holds.  Only
 * a task that ended normally teaches the ETA how long a task takes; a
 * worker whose task failed (timed out, broke off, its connection ended
 * abnormally) is checked before it gets another one.
 */

/*
 * A duplex session's client paused or resumed it (the relay saw the
 * frame): shown on its worker until the task ends.  NGX_DECLINED: the
 * ticket holds no worker (any more).
 */

ngx_int_t
ngx_voicegw_queue_paused_locked(ngx_voicegw_pools_t *vp, uint64_t id,
    ngx_uint_t paused)
{
    ngx_voicegw_ticket_t     *t;
    ngx_voicegw_worker_sh_t  *w;

    t = ngx_voicegw_ticket_find_locked(vp, id);

    if (t == NULL || !t->running) {
        return NGX_DECLINED;
    }

    w = ngx_voicegw_worker_of(t);

    if (w == NULL || w->ticket != id) {
        return NGX_DECLINED;
    }

    w->paused = paused;

    return NGX_OK;
}


void
ngx_voicegw_queue_release_locked(ngx_voicegw_pools_t *vp, uint64_t id,
    ngx_voicegw_affinity_t *served, ngx_uint_t outcome)
{
    uint64_t                  now, ms;
    ngx_voicegw_ticket_t     *t;
    ngx_voicegw_worker_sh_t  *w;

    t = ngx_voicegw_ticket_find_locked(vp, id);

    if (t == NULL || !t->running) {
        return;
    }

    now = ngx_voicegw_mono_msec();
    w = ngx_voicegw_worker_of(t);

    if (w != NULL) {
        w->ticket = 0;
        w->owner_pid = 0;
        w->session_len = 0;
        w->paused = 0;

        switch (outcome) {

        case NGX_VOICEGW_RELEASE_OFFLINE:
            w->health = NGX_VOICEGW_WORKER_OFFLINE;
            ngx_memzero(&w->cache, sizeof(ngx_voicegw_affinity_t));
            break;

        case NGX_VOICEGW_RELEASE_UNUSED:
            break;

        case NGX_VOICEGW_RELEASE_FAILED:

            /* suspect: no task until a check says it is idle */

            w->probe = 1;
            w->settling = now + NGX_VOICEGW_SETTLE;

            if (w->health == NGX_VOICEGW_WORKER_BUSY) {
                w->health = NGX_VOICEGW_WORKER_IDLE;
            }

            ngx_memzero(&w->cache, sizeof(ngx_voicegw_affinity_t));

            w->last_used = ngx_voicegw_now_msec();
            w->last_used_mono = now;
            w->served++;
            break;

        case NGX_VOICEGW_RELEASE_CHECK:
            w->probe = 1;

            /* fall through */

        default: /* NGX_VOICEGW_RELEASE_OK */

            /* a worker finishing our task may report busy a while longer */

            w->settling = now + NGX_VOICEGW_SETTLE;

            /* it was busy with our task; anything else is checked again */

            if (w->health == NGX_VOICEGW_WORKER_BUSY) {
                w->health = NGX_VOICEGW_WORKER_IDLE;

            } else if (w->health != NGX_VOICEGW_WORKER_IDLE) {
                w->probe = 1;
            }

            if (served != NULL) {
                w->cache = *served;
            }

            w->last_used = ngx_voicegw_now_msec();
            w->last_used_mono = now;
            w->served++;

            ms = ngx_voicegw_mono_since(t->assigned_mono, now);

            w->served_ok++;
            w->served_ms += ms;

            ngx_voicegw_eta_sample_locked(vp, t->task_type, ms / 1000.0);
        }
    }

    ngx_queue_remove(&t->link);
    vp->sh->nactive--;
    t->running = 0;

    ngx_voicegw_ticket_finish_locked(vp, t, NGX_VOICEGW_TICKET_ASSIGNED);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "voicegw: ticket %016xL released, outcome %ui",
                   t->id, outcome);

    ngx_voicegw_queue_grant_locked(vp, t->pool);
}


/*
 * The reserved worker refused the connection: it is offline, and the same
 * task, which was at the head of the queue when it got that worker, takes
 * another idle worker at once if there is one.
 */

ngx_int_t
ngx_voicegw_queue_retry_locked(ngx_voicegw_pools_t *vp, uint64_t id,
    ngx_voicegw_grant_t *grant)
{
    ngx_int_t                 wi;
    ngx_uint_t                hit;
    ngx_voicegw_ticket_t     *t;
    ngx_voicegw_pool_sh_t    *pool;
    ngx_voicegw_worker_sh_t  *w;

    t = ngx_voicegw_ticket_find_locked(vp, id);

    if (t == NULL || !t->running) {
        return NGX_BUSY;
    }

    pool = t->pool;
    w = ngx_voicegw_worker_of(t);

    if (w != NULL) {
        w->ticket = 0;
        w->owner_pid = 0;
        w->session_len = 0;
        w->paused = 0;
        w->health = NGX_VOICEGW_WORKER_OFFLINE;
        ngx_memzero(&w->cache, sizeof(ngx_voicegw_affinity_t));
    }

    ngx_queue_remove(&t->link);
    vp->sh->nactive--;

    wi = ngx_voicegw_worker_select(pool, t, &hit);

    if (wi < 0) {
        t->running = 0;
        ngx_voicegw_ticket_finish_locked(vp, t, NGX_VOICEGW_TICKET_ASSIGNED);
        return NGX_BUSY;
    }

    pool->granted--;
    ngx_voicegw_worker_assign(vp, pool, wi, t, hit);
    ngx_voicegw_ticket_grant_info(t, grant);

    return NGX_OK;
}


/*
 * Finished tickets are forgotten once they are older than five minutes,
 * or, "all", a batch of the oldest when the zone is short of memory.
 */

void
ngx_voicegw_expire_done_locked(ngx_voicegw_pools_t *vp, uint64_t now,
    ngx_uint_t all)
{
    ngx_uint_t               n;
    ngx_queue_t             *l;
    ngx_voicegw_ticket_t    *t;
    ngx_voicegw_queue_sh_t  *q;

    q = vp->sh;

    for (n = 0; !ngx_queue_empty(&q->done); n++) {
        l = ngx_queue_head(&q->done);
        t = ngx_queue_data(l, ngx_voicegw_ticket_t, link);

        /* "all": under memory pressure, a batch of the oldest */

        if (all ? n >= 64
                : t->finished_mono + NGX_VOICEGW_TICKET_KEEP > now)
        {
            break;
        }

        ngx_queue_remove(l);
        q->ndone--;
        ngx_voicegw_ticket_free_locked(vp, t);
    }
}
