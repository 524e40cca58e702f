
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
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_shm.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_doorbell.h"
#include "ngx_voicegw_eta.h"

#include <openssl/rand.h>


#define NGX_VOICEGW_OWNERS  64


typedef struct {
    ngx_uint_t                   n;
    ngx_pid_t                    pid[NGX_VOICEGW_OWNERS];
    ngx_uint_t                   dead[NGX_VOICEGW_OWNERS];
} ngx_voicegw_owners_t;


static ngx_voicegw_pool_sh_t *ngx_voicegw_pool_create(ngx_voicegw_shm_t *shm,
    ngx_voicegw_pool_conf_t *pcf);
static ngx_int_t ngx_voicegw_pool_update(ngx_voicegw_shm_t *shm,
    ngx_voicegw_pool_sh_t *pool, ngx_voicegw_pool_conf_t *pcf);
static void ngx_voicegw_worker_set(ngx_voicegw_worker_sh_t *w,
    ngx_voicegw_worker_conf_t *wcf, ngx_uint_t index);
static ngx_voicegw_ticket_t *ngx_voicegw_ticket_alloc(ngx_voicegw_shm_t *shm,
    ngx_voicegw_task_req_t *req);
static void ngx_voicegw_ticket_free(ngx_voicegw_shm_t *shm,
    ngx_voicegw_ticket_t *t);
static void ngx_voicegw_ticket_finish(ngx_voicegw_shm_t *shm,
    ngx_voicegw_ticket_t *t, ngx_uint_t state);
static ngx_int_t ngx_voicegw_worker_select(ngx_voicegw_pool_sh_t *pool,
    ngx_voicegw_ticket_t *t, ngx_uint_t *hit);
static void ngx_voicegw_worker_assign(ngx_voicegw_shm_t *shm,
    ngx_voicegw_pool_sh_t *pool, ngx_int_t wi, ngx_voicegw_ticket_t *t,
    ngx_uint_t hit);
static ngx_voicegw_worker_sh_t *ngx_voicegw_worker_of(
    ngx_voicegw_ticket_t *t);
static void ngx_voicegw_ticket_affinity(ngx_voicegw_ticket_t *t,
    ngx_voicegw_affinity_t *aff);
static ngx_uint_t ngx_voicegw_owner_dead(ngx_voicegw_owners_t *owners,
    ngx_pid_t pid);
static void ngx_voicegw_expire_done_locked(ngx_voicegw_shm_t *shm,
    uint64_t now, ngx_uint_t all);


/* -- the zone ------------------------------------------------------------- */

ngx_int_t
ngx_voicegw_queue_init_zone(ngx_voicegw_shm_t *shm, ngx_voicegw_shm_t *oshm)
{
    ngx_uint_t                 i, j;
    ngx_voicegw_queue_sh_t    *q;
    ngx_voicegw_pool_sh_t     *pool;
    ngx_voicegw_pool_conf_t  **pcf;

    q = &shm->sh->queue;

    if (oshm == NULL) {
        ngx_rbtree_init(&q->tickets, &q->sentinel, ngx_rbtree_insert_value);
        ngx_queue_init(&q->active);
        ngx_queue_init(&q->done);
    }

    for (j = 0; j < q->npools; j++) {
        q->pools[j]->retired = 1;
    }

    pcf = shm->mcf->pools.elts;

    for (i = 0; i < shm->mcf->pools.nelts; i++) {

        pool = ngx_voicegw_pool_find_locked(shm, &pcf[i]->name);

        if (pool == NULL) {
            pool = ngx_voicegw_pool_create(shm, pcf[i]);
            if (pool == NULL) {
                return NGX_ERROR;
            }

        } else if (ngx_voicegw_pool_update(shm, pool, pcf[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        pool->retired = 0;
        pool->queue_max = pcf[i]->queue_max;
        pcf[i]->sh = pool;
    }

    return NGX_OK;
}


ngx_voicegw_pool_sh_t *
ngx_voicegw_pool_find_locked(ngx_voicegw_shm_t *shm, ngx_str_t *name)
{
    ngx_uint_t               i;
    ngx_voicegw_queue_sh_t  *q;

    q = &shm->sh->queue;

    for (i = 0; i < q->npools; i++) {
        if (ngx_strlen(q->pools[i]->name) == name->len
            && ngx_strncmp(q->pools[i]->name, name->data, name->len) == 0)
        {
            return q->pools[i];
        }
    }

    return NULL;
}


static ngx_voicegw_pool_sh_t *
ngx_voicegw_pool_create(ngx_voicegw_shm_t *shm, ngx_voicegw_pool_conf_t *pcf)
{
    ngx_uint_t                  i;
    ngx_voicegw_queue_sh_t     *q;
    ngx_voicegw_pool_sh_t      *pool;
    ngx_voicegw_worker_conf_t  *wcf;

    q = &shm->sh->queue;

    if (q->npools == NGX_VOICEGW_MAX_POOLS) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "voicegw: too many pools (at most %d)",
                      NGX_VOICEGW_MAX_POOLS);
        return NULL;
    }

    pool = ngx_slab_calloc_locked(shm->shpool, sizeof(ngx_voicegw_pool_sh_t));
    if (pool == NULL) {
        return NULL;
    }

    pool->nworkers = pcf->workers.nelts;
    pool->workers = ngx_slab_calloc_locked(shm->shpool,
                                   pool->nworkers
                                   * sizeof(ngx_voicegw_worker_sh_t));
    if (pool->workers == NULL) {
        return NULL;
    }

    ngx_cpystrn(pool->name, pcf->name.data,
                ngx_min(pcf->name.len + 1, NGX_VOICEGW_NAME_LEN));
    ngx_queue_init(&pool->queue);

    wcf = pcf->workers.elts;

    for (i = 0; i < pool->nworkers; i++) {
        ngx_voicegw_worker_set(&pool->workers[i], &wcf[i], i);
        pool->workers[i].health = NGX_VOICEGW_WORKER_OFFLINE;
    }

    q->pools[q->npools++] = pool;

    return pool;
}


/*
 * nginx -s reload: a pool keeps its queue; its workers keep their state
 * when their address is still listed, new ones start offline.  Tickets
 * refer to workers by index, which is remapped.
 */

static ngx_int_t
ngx_voicegw_pool_update(ngx_voicegw_shm_t *shm, ngx_voicegw_pool_sh_t *pool,
    ngx_voicegw_pool_conf_t *pcf)
{
    ngx_int_t                   map[256];
    ngx_uint_t                  i, j, same;
    ngx_queue_t                *qs[2], *l;
    ngx_voicegw_ticket_t       *t;
    ngx_voicegw_worker_sh_t    *old, *w;
    ngx_voicegw_worker_conf_t  *wcf;

    wcf = pcf->workers.elts;

    same = (pool->nworkers == pcf->workers.nelts);

    for (i = 0; same && i < pool->nworkers; i++) {
        if (ngx_strlen(pool->workers[i].url) != wcf[i].url.len
            || ngx_strncmp(pool->workers[i].url, wcf[i].url.data,
                           wcf[i].url.len) != 0)
        {
            same = 0;
        }
    }

    if (same) {
        return NGX_OK;
    }

    if (pool->nworkers > 256) {
        return NGX_ERROR;
    }

    w = ngx_slab_calloc_locked(shm->shpool, pcf->workers.nelts
                                            * sizeof(ngx_voicegw_worker_sh_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    old = pool->workers;

    for (j = 0; j < pool->nworkers; j++) {
        map[j] = -1;
    }

    for (i = 0; i < pcf->workers.nelts; i++) {

        for (j = 0; j < pool->nworkers; j++) {
            if (ngx_strlen(old[j].url) == wcf[i].url.len
                && ngx_strncmp(old[j].url, wcf[i].url.data, wcf[i].url.len)
                   == 0)
            {
                break;
            }
        }

        if (j < pool->nworkers) {
            w[i] = old[j];
            map[j] = i;

        } else {
            w[i].health = NGX_VOICEGW_WORKER_OFFLINE;
        }

        ngx_voicegw_worker_set(&w[i], &wcf[i], i);
    }

    qs[0] = &shm->sh->queue.active;
    qs[1] = &shm->sh->queue.done;

    for (i = 0; i < 2; i++) {
        for (l = ngx_queue_head(qs[i]); l != ngx_queue_sentinel(qs[i]);
             l = ngx_queue_next(l))
        {
            t = ngx_queue_data(l, ngx_voicegw_ticket_t, link);

            if (t->pool == pool && t->worker >= 0) {
                t->worker = ((ngx_uint_t) t->worker < pool->nworkers)
                            ? map[t->worker] : -1;
            }
        }
    }

    pool->workers = w;
    pool->nworkers = pcf->workers.nelts;

    ngx_slab_free_locked(shm->shpool, old);

    ngx_voicegw_queue_changed(shm);

    return NGX_OK;
}


static void
ngx_voicegw_worker_set(ngx_voicegw_worker_sh_t *w,
    ngx_voicegw_worker_conf_t *wcf, ngx_uint_t index)
{
    ngx_cpystrn(w->url, wcf->url.data,
                ngx_min(wcf->url.len + 1, NGX_VOICEGW_NAME_LEN));
    ngx_memcpy(w->sockaddr, wcf->sockaddr,
               ngx_min(wcf->socklen, NGX_VOICEGW_ADDR_LEN));
    w->socklen = wcf->socklen;
    w->index = index;
}


/* -- admission -------------------------------------------------------------- */

/*
 * NGX_OK: a worker is reserved, *grant says which.  NGX_AGAIN: queued.
 * NGX_DECLINED: the queue is full.  NGX_BUSY: no shared memory for the
 * ticket.  *ticket is the ticket id in the first two cases.
 */

ngx_int_t
ngx_voicegw_queue_admit_locked(ngx_voicegw_shm_t *shm,
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

    t = ngx_voicegw_ticket_alloc(shm, req);
    if (t == NULL) {
        return NGX_BUSY;
    }

    *ticket = t->id;

    if (pool->queued == 0) {
        wi = ngx_voicegw_worker_select(pool, t, &hit);

        if (wi >= 0) {
            ngx_voicegw_worker_assign(shm, pool, wi, t, hit);
            ngx_voicegw_ticket_grant_info(t, grant);
            return NGX_OK;
        }
    }

    if (pool->queued >= pool->queue_max) {
        pool->rejected++;
        ngx_voicegw_ticket_free(shm, t);
        return NGX_DECLINED;
    }

    t->state = NGX_VOICEGW_TICKET_QUEUED;
    ngx_queue_insert_tail(&pool->queue, &t->link);
    pool->queued++;

    ngx_voicegw_queue_changed(shm);

    return NGX_AGAIN;
}


static ngx_voicegw_ticket_t *
ngx_voicegw_ticket_alloc(ngx_voicegw_shm_t *shm, ngx_voicegw_task_req_t *req)
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

    t = ngx_slab_alloc_locked(shm->shpool, size);

    if (t == NULL) {
        /* make room: forget finished tickets early, oldest first */

        ngx_voicegw_expire_done_locked(shm, 0, 1);

        t = ngx_slab_alloc_locked(shm->shpool, size);
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

        if (id != 0 && ngx_voicegw_ticket_find_locked(shm, id) == NULL) {
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

    ngx_rbtree_insert(&shm->sh->queue.tickets, &t->node);

    return t;
}


static void
ngx_voicegw_ticket_free(ngx_voicegw_shm_t *shm, ngx_voicegw_ticket_t *t)
{
    ngx_rbtree_delete(&shm->sh->queue.tickets, &t->node);
    ngx_slab_free_locked(shm->shpool, t);
}


ngx_voicegw_ticket_t *
ngx_voicegw_ticket_find_locked(ngx_voicegw_shm_t *shm, uint64_t id)
{
    ngx_rbtree_key_t    key;
    ngx_rbtree_node_t  *node, *sentinel;

    key = (ngx_rbtree_key_t) id;
    node = shm->sh->queue.tickets.root;
    sentinel = shm->sh->queue.tickets.sentinel;

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


void
ngx_voicegw_ticket_grant_info(ngx_voicegw_ticket_t *t,
    ngx_voicegw_grant_t *grant)
{
    ngx_voicegw_worker_sh_t  *w;

    ngx_memzero(grant, sizeof(ngx_voicegw_grant_t));

    grant->ticket = t->id;
    grant->worker = t->worker;
    grant->enqueued = t->enqueued;
    grant->assigned = t->assigned;
    grant->hit = t->hit;

    w = ngx_voicegw_worker_of(t);

    if (w != NULL) {
        ngx_memcpy(grant->url, w->url, NGX_VOICEGW_NAME_LEN);
        ngx_memcpy(grant->sockaddr, w->sockaddr, NGX_VOICEGW_ADDR_LEN);
        grant->socklen = w->socklen;
    }
}


/* -- choosing a worker ------------------------------------------------------ */

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

        if (lru < 0 || w->last_used < pool->workers[lru].last_used) {
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
ngx_voicegw_worker_assign(ngx_voicegw_shm_t *shm,
    ngx_voicegw_pool_sh_t *pool, ngx_int_t wi, ngx_voicegw_ticket_t *t,
    ngx_uint_t hit)
{
    ngx_voicegw_worker_sh_t  *w;

    w = &pool->workers[wi];

    w->ticket = t->id;
    w->owner_pid = t->owner_pid;
    w->task_type = t->task_type;
    w->busy_since = ngx_voicegw_now_msec();
    w->session_len = t->session_len;
    ngx_memcpy(w->session, t->session, t->session_len);

    t->state = NGX_VOICEGW_TICKET_ASSIGNED;
    t->worker = wi;
    t->assigned = w->busy_since;
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

    ngx_queue_insert_tail(&shm->sh->queue.active, &t->link);
    shm->sh->queue.nactive++;

    ngx_voicegw_queue_changed(shm);
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


/* -- granting ------------------------------------------------------------- */

/* hand idle workers to the head of the queue, in order */

void
ngx_voicegw_queue_grant_locked(ngx_voicegw_shm_t *shm,
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

        ngx_voicegw_worker_assign(shm, pool, wi, t, hit);

        ngx_voicegw_doorbell_ring(shm, t->owner_pid, t->owner_slot,
                                  t->owner_data);
    }
}


/*
 * A queued ticket leaves the queue without a worker: cancelled through the
 * API, timed out, or its client went away.  NGX_OK if it was queued,
 * NGX_DECLINED if it is not (any more), NGX_ABORT if unknown.
 */

ngx_int_t
ngx_voicegw_queue_leave_locked(ngx_voicegw_shm_t *shm, uint64_t id,
    ngx_uint_t state)
{
    ngx_voicegw_ticket_t   *t;
    ngx_voicegw_pool_sh_t  *pool;

    t = ngx_voicegw_ticket_find_locked(shm, id);

    if (t == NULL) {
        return NGX_ABORT;
    }

    if (t->state != NGX_VOICEGW_TICKET_QUEUED) {
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

    ngx_voicegw_ticket_finish(shm, t, state);

    if (state == NGX_VOICEGW_TICKET_CANCELLED) {
        /* its owner answers 503 */
        ngx_voicegw_doorbell_ring(shm, t->owner_pid, t->owner_slot,
                                  t->owner_data);
    }

    /* a cancelled head may have been the one waiting for a busy worker */

    ngx_voicegw_queue_grant_locked(shm, pool);

    return NGX_OK;
}


static void
ngx_voicegw_ticket_finish(ngx_voicegw_shm_t *shm, ngx_voicegw_ticket_t *t,
    ngx_uint_t state)
{
    ngx_voicegw_queue_changed(shm);

    t->state = state;
    t->finished = ngx_voicegw_now_msec();
    t->owner_data = NULL;

    ngx_queue_insert_tail(&shm->sh->queue.done, &t->link);
    shm->sh->queue.ndone++;
}


/*
 * The end of a task: its worker is free again, exactly once.  "served" is
 * the affinity of the request, which the worker's cache now holds.
 */

void
ngx_voicegw_queue_release_locked(ngx_voicegw_shm_t *shm, uint64_t id,
    ngx_voicegw_affinity_t *served, ngx_uint_t outcome)
{
    uint64_t                  now;
    ngx_voicegw_ticket_t     *t;
    ngx_voicegw_worker_sh_t  *w;

    t = ngx_voicegw_ticket_find_locked(shm, id);

    if (t == NULL || !t->running) {
        return;
    }

    now = ngx_voicegw_now_msec();
    w = ngx_voicegw_worker_of(t);

    if (w != NULL) {
        w->ticket = 0;
        w->owner_pid = 0;
        w->session_len = 0;

        switch (outcome) {

        case NGX_VOICEGW_RELEASE_OFFLINE:
            w->health = NGX_VOICEGW_WORKER_OFFLINE;
            ngx_memzero(&w->cache, sizeof(ngx_voicegw_affinity_t));
            break;

        case NGX_VOICEGW_RELEASE_UNUSED:
            break;

        case NGX_VOICEGW_RELEASE_PROBE:
            w->probe = 1;

            /* fall through */

        default:
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

            w->last_used = now;
            w->served++;

            ngx_voicegw_eta_sample_locked(shm, t->task_type,
                                          (now - t->assigned) / 1000.0);
        }
    }

    ngx_queue_remove(&t->link);
    shm->sh->queue.nactive--;
    t->running = 0;

    ngx_voicegw_ticket_finish(shm, t, NGX_VOICEGW_TICKET_ASSIGNED);

    ngx_voicegw_queue_grant_locked(shm, t->pool);
}


/*
 * The reserved worker refused the connection: it is offline, and the same
 * task, which was at the head of the queue when it got that worker, takes
 * another idle worker at once if there is one.
 */

ngx_int_t
ngx_voicegw_queue_retry_locked(ngx_voicegw_shm_t *shm, uint64_t id,
    ngx_voicegw_affinity_t *aff, ngx_voicegw_grant_t *grant)
{
    ngx_int_t                 wi;
    ngx_uint_t                hit;
    ngx_voicegw_ticket_t     *t;
    ngx_voicegw_pool_sh_t    *pool;
    ngx_voicegw_worker_sh_t  *w;

    t = ngx_voicegw_ticket_find_locked(shm, id);

    if (t == NULL || !t->running) {
        return NGX_BUSY;
    }

    pool = t->pool;
    w = ngx_voicegw_worker_of(t);

    if (w != NULL) {
        w->ticket = 0;
        w->owner_pid = 0;
        w->session_len = 0;
        w->health = NGX_VOICEGW_WORKER_OFFLINE;
        ngx_memzero(&w->cache, sizeof(ngx_voicegw_affinity_t));
    }

    ngx_queue_remove(&t->link);
    shm->sh->queue.nactive--;

    wi = ngx_voicegw_worker_select(pool, t, &hit);

    if (wi < 0) {
        t->running = 0;
        ngx_voicegw_ticket_finish(shm, t, NGX_VOICEGW_TICKET_ASSIGNED);
        return NGX_BUSY;
    }

    pool->granted--;
    ngx_voicegw_worker_assign(shm, pool, wi, t, hit);
    ngx_voicegw_ticket_grant_info(t, grant);

    return NGX_OK;
}


ngx_uint_t
ngx_voicegw_queue_position_locked(ngx_voicegw_ticket_t *t)
{
    ngx_uint_t    n;
    ngx_queue_t  *l;

    if (t->state != NGX_VOICEGW_TICKET_QUEUED) {
        return 0;
    }

    n = 1;

    for (l = ngx_queue_head(&t->pool->queue);
         l != ngx_queue_sentinel(&t->pool->queue);
         l = ngx_queue_next(l))
    {
        if (l == &t->link) {
            return n;
        }

        n++;
    }

    return 0;
}


/* -- cleaning up after the dead and the old --------------------------------- */

/*
 * Tickets and reservations whose owner process died (kill -9, a crash)
 * are purged: its parked requests are gone, and so are its upstream
 * connections, so its workers are free again once a health check says so.
 * Finished tickets older than five minutes are forgotten.
 */

void
ngx_voicegw_queue_sweep_locked(ngx_voicegw_shm_t *shm)
{
    uint64_t                 now;
    ngx_uint_t               i, n;
    ngx_queue_t             *l, *next;
    ngx_voicegw_owners_t     owners;
    ngx_voicegw_ticket_t    *t;
    ngx_voicegw_pool_sh_t   *pool;
    ngx_voicegw_queue_sh_t  *q;

    q = &shm->sh->queue;
    now = ngx_voicegw_now_msec();
    owners.n = 0;

    for (i = 0; i < q->npools; i++) {
        pool = q->pools[i];
        n = 0;

        for (l = ngx_queue_head(&pool->queue);
             l != ngx_queue_sentinel(&pool->queue);
             l = next)
        {
            next = ngx_queue_next(l);
            t = ngx_queue_data(l, ngx_voicegw_ticket_t, link);

            if (ngx_voicegw_owner_dead(&owners, t->owner_pid)) {
                ngx_queue_remove(&t->link);
                pool->queued--;
                pool->abandoned++;
                ngx_voicegw_ticket_finish(shm, t,
                                          NGX_VOICEGW_TICKET_ABANDONED);
                n++;
            }
        }

        if (n) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "voicegw: purged %ui queued tickets of dead "
                          "processes in pool \"%s\"", n, pool->name);
        }
    }

    for (l = ngx_queue_head(&q->active); l != ngx_queue_sentinel(&q->active);
         l = next)
    {
        next = ngx_queue_next(l);
        t = ngx_queue_data(l, ngx_voicegw_ticket_t, link);

        if (ngx_voicegw_owner_dead(&owners, t->owner_pid)) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "voicegw: releasing a worker of pool \"%s\" held "
                          "by dead process %P", t->pool->name, t->owner_pid);

            ngx_voicegw_queue_release_locked(shm, t->id, NULL,
                                             NGX_VOICEGW_RELEASE_PROBE);
        }
    }

    for (i = 0; i < q->npools; i++) {
        ngx_voicegw_queue_grant_locked(shm, q->pools[i]);
    }

    ngx_voicegw_expire_done_locked(shm, now, 0);
}


static void
ngx_voicegw_expire_done_locked(ngx_voicegw_shm_t *shm, uint64_t now,
    ngx_uint_t all)
{
    ngx_uint_t               n;
    ngx_queue_t             *l;
    ngx_voicegw_ticket_t    *t;
    ngx_voicegw_queue_sh_t  *q;

    q = &shm->sh->queue;

    for (n = 0; !ngx_queue_empty(&q->done); n++) {
        l = ngx_queue_head(&q->done);
        t = ngx_queue_data(l, ngx_voicegw_ticket_t, link);

        /* "all": under memory pressure, a batch of the oldest */

        if (all ? n >= 64 : t->finished + NGX_VOICEGW_TICKET_KEEP > now) {
            break;
        }

        ngx_queue_remove(l);
        q->ndone--;
        ngx_voicegw_ticket_free(shm, t);
    }
}


/*
 * kill(pid, 0) says whether the owner still exists; within one sweep the
 * answers are remembered, so a long queue of one process's tickets costs
 * one system call, not one per ticket.
 */

static ngx_uint_t
ngx_voicegw_owner_dead(ngx_voicegw_owners_t *owners, ngx_pid_t pid)
{
    ngx_uint_t  i, dead;

    if (pid <= 0 || pid == ngx_pid) {
        return 0;
    }

    for (i = 0; i < owners->n; i++) {
        if (owners->pid[i] == pid) {
            return owners->dead[i];
        }
    }

    dead = (kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH);

    if (owners->n < NGX_VOICEGW_OWNERS) {
        owners->pid[owners->n] = pid;
        owners->dead[owners->n] = dead;
        owners->n++;
    }

    return dead;
}
