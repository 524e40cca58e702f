
/*
 * ngx_voicegw_queue_zone.c
 *
 * Owns the life of the worker pools in the shared zone over reloads and
 * crashes: setting them up when a configuration is loaded (pools matched
 * by name, workers by address), and the sweep that the health lease
 * holder runs twice a second: tickets and reservations of processes that
 * died are purged, finished tickets forgotten after five minutes, and
 * pools gone from nginx.conf freed.
 *
 * A pool that a reload removed from nginx.conf stays in the zone while a
 * process of an older configuration may still use it (worker processes
 * register with the configuration generation they run), and is freed by
 * the sweep once none is left: renaming upstreams over many reloads never
 * runs out of pools or memory.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_clock.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"


#define NGX_VOICEGW_OWNERS      64
#define NGX_VOICEGW_SWEEP_WALK  120     /* sweeps (of 500 ms): a minute */


typedef struct {
    ngx_uint_t                   n;
    ngx_pid_t                    pid[NGX_VOICEGW_OWNERS];
    ngx_uint_t                   dead[NGX_VOICEGW_OWNERS];
} ngx_voicegw_owners_t;


static ngx_voicegw_pool_sh_t *ngx_voicegw_pool_find_locked(
    ngx_voicegw_queue_sh_t *q, ngx_str_t *name);
static ngx_voicegw_pool_sh_t *ngx_voicegw_pool_create(
    ngx_voicegw_zone_t *zone, ngx_voicegw_queue_sh_t *q,
    ngx_voicegw_pool_conf_t *pcf);
static ngx_int_t ngx_voicegw_pool_update(ngx_voicegw_zone_t *zone,
    ngx_voicegw_queue_sh_t *q, ngx_voicegw_pool_sh_t *pool,
    ngx_voicegw_pool_conf_t *pcf);
static void ngx_voicegw_worker_set(ngx_voicegw_worker_sh_t *w,
    ngx_voicegw_worker_conf_t *wcf, ngx_uint_t index);
static void ngx_voicegw_retire_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_owners_t *owners);
static ngx_uint_t ngx_voicegw_owner_dead(ngx_voicegw_owners_t *owners,
    ngx_pid_t pid);


/*
 * init_zone, with the zone locked: the pools' part of the zone, and each
 * pool of this configuration in it (pools of nginx.conf are matched by
 * name; those it no longer has are retired).
 */

ngx_int_t
ngx_voicegw_queue_init_zone(ngx_voicegw_zone_t *zone, void *data,
    ngx_uint_t reused)
{
    ngx_voicegw_pools_t  *vp = data;

    ngx_uint_t                 i, j;
    ngx_voicegw_queue_sh_t    *q;
    ngx_voicegw_pool_sh_t     *pool;
    ngx_voicegw_pool_conf_t  **pcf;

    q = ngx_voicegw_zone_part_locked(zone, "pools",
                                     sizeof(ngx_voicegw_queue_sh_t));
    if (q == NULL) {
        return NGX_ERROR;
    }

    if (q->tickets.sentinel == NULL) {
        ngx_rbtree_init(&q->tickets, &q->sentinel, ngx_rbtree_insert_value);
        ngx_queue_init(&q->active);
        ngx_queue_init(&q->done);
    }

    q->generation++;

    vp->sh = q;

    for (j = 0; j < q->npools; j++) {
        if (!q->pools[j]->retired) {
            q->pools[j]->retired = q->generation;
        }
    }

    pcf = vp->pools.elts;

    for (i = 0; i < vp->pools.nelts; i++) {

        pool = ngx_voicegw_pool_find_locked(q, &pcf[i]->name);

        if (pool == NULL) {
            pool = ngx_voicegw_pool_create(zone, q, pcf[i]);
            if (pool == NULL) {
                return NGX_ERROR;
            }

        } else if (ngx_voicegw_pool_update(zone, q, pool, pcf[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }

        pool->retired = 0;
        pool->queue_max = pcf[i]->queue_max;
        pcf[i]->sh = pool;
    }

    return NGX_OK;
}


/*
 * A worker process of this configuration says it uses the pools: a pool
 * retired later is not freed while it lives.
 */

void
ngx_voicegw_queue_join_locked(ngx_voicegw_pools_t *vp)
{
    ngx_uint_t               i, free;
    ngx_voicegw_proc_sh_t   *p;
    ngx_voicegw_owners_t     owners;

    owners.n = 0;
    free = NGX_VOICEGW_PROCS;
    p = vp->sh->procs;

    for (i = 0; i < NGX_VOICEGW_PROCS; i++) {
        if (p[i].pid == 0 || p[i].pid == ngx_pid
            || ngx_voicegw_owner_dead(&owners, p[i].pid))
        {
            free = i;
            break;
        }
    }

    if (free == NGX_VOICEGW_PROCS) {
        /* a full table only delays the freeing of retired pools; the
           sweeps look at every ticket, as they cannot tell who is known */
        vp->sh->sweep_all = 1;
        return;
    }

    if (p[free].pid != 0 && p[free].pid != ngx_pid) {
        /* a dead process's entry: the next sweep finds its tickets */
        vp->sh->sweep_all = 1;
    }

    p[free].pid = ngx_pid;
    p[free].generation = vp->sh->generation;
}


static ngx_voicegw_pool_sh_t *
ngx_voicegw_pool_find_locked(ngx_voicegw_queue_sh_t *q, ngx_str_t *name)
{
    ngx_uint_t  i;

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
ngx_voicegw_pool_create(ngx_voicegw_zone_t *zone, ngx_voicegw_queue_sh_t *q,
    ngx_voicegw_pool_conf_t *pcf)
{
    ngx_uint_t                  i;
    ngx_voicegw_pool_sh_t      *pool;
    ngx_voicegw_worker_conf_t  *wcf;

    if (q->npools == NGX_VOICEGW_MAX_POOLS) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "voicegw: too many pools (at most %d, counting pools "
                      "that processes of an older configuration still use)",
                      NGX_VOICEGW_MAX_POOLS);
        return NULL;
    }

    pool = ngx_slab_calloc_locked(zone->shpool, sizeof(ngx_voicegw_pool_sh_t));
    if (pool == NULL) {
        return NULL;
    }

    pool->nworkers = pcf->workers.nelts;
    pool->workers = ngx_slab_calloc_locked(zone->shpool,
                                   pool->nworkers
                                   * sizeof(ngx_voicegw_worker_sh_t));
    if (pool->workers == NULL) {
        ngx_slab_free_locked(zone->shpool, pool);
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
ngx_voicegw_pool_update(ngx_voicegw_zone_t *zone, ngx_voicegw_queue_sh_t *q,
    ngx_voicegw_pool_sh_t *pool, ngx_voicegw_pool_conf_t *pcf)
{
    ngx_int_t                   map[NGX_VOICEGW_MAX_WORKERS];
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

    if (pool->nworkers > NGX_VOICEGW_MAX_WORKERS) {
        return NGX_ERROR;
    }

    w = ngx_slab_calloc_locked(zone->shpool, pcf->workers.nelts
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

    qs[0] = &q->active;
    qs[1] = &q->done;

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

    ngx_slab_free_locked(zone->shpool, old);

    q->version++;

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


/* the worker of this process's configuration, as the zone knows it */

ngx_voicegw_worker_sh_t *
ngx_voicegw_queue_worker_locked(ngx_voicegw_pool_conf_t *pcf,
    ngx_uint_t index)
{
    ngx_uint_t                  i;
    ngx_voicegw_pool_sh_t      *pool;
    ngx_voicegw_worker_conf_t  *wcf;

    pool = pcf->sh;
    wcf = pcf->workers.elts;

    if (index < pool->nworkers
        && ngx_strlen(pool->workers[index].url) == wcf[index].url.len
        && ngx_strncmp(pool->workers[index].url, wcf[index].url.data,
                       wcf[index].url.len) == 0)
    {
        return &pool->workers[index];
    }

    /* a reload changed the pool under an older process */

    for (i = 0; i < pool->nworkers; i++) {
        if (ngx_strlen(pool->workers[i].url) == wcf[index].url.len
            && ngx_strncmp(pool->workers[i].url, wcf[index].url.data,
                           wcf[index].url.len) == 0)
        {
            return &pool->workers[i];
        }
    }

    return NULL;
}


/*
 * Tickets and reservations whose owner process died (kill -9, a crash)
 * are purged: its parked requests are gone, and so are its upstream
 * connections, so its workers are free again once a health check says so.
 * Finished tickets older than five minutes are forgotten, and retired
 * pools nobody can use any more are freed.
 */

void
ngx_voicegw_queue_sweep_locked(ngx_voicegw_pools_t *vp)
{
    ngx_uint_t               i, n, walk;
    ngx_queue_t             *l, *next;
    ngx_voicegw_owners_t     owners;
    ngx_voicegw_ticket_t    *t;
    ngx_voicegw_pool_sh_t   *pool;
    ngx_voicegw_queue_sh_t  *q;

    q = vp->sh;
    owners.n = 0;

    /*
     * The queues are walked only when a process that may own tickets is
     * dead (every worker process is in procs[] once it started, unless
     * the table was full: then sweep_all stays set), and once a minute
     * anyway: with 10,000 requests parked, a walk every tick would hold
     * the zone's lock for each of them twice a second.
     */

    walk = q->sweep_all || ++q->sweeps % NGX_VOICEGW_SWEEP_WALK == 0;

    for (i = 0; !walk && i < NGX_VOICEGW_PROCS; i++) {
        walk = (q->procs[i].pid != 0
                && ngx_voicegw_owner_dead(&owners, q->procs[i].pid));
    }

    q->sweep_all = 0;

    for (i = 0; walk && i < q->npools; i++) {
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
                ngx_voicegw_ticket_finish_locked(vp, t,
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

            ngx_voicegw_queue_release_locked(vp, t->id, NULL,
                                             NGX_VOICEGW_RELEASE_FAILED);
        }
    }

    for (i = 0; i < q->npools; i++) {
        ngx_voicegw_queue_grant_locked(vp, q->pools[i]);
    }

    ngx_voicegw_expire_done_locked(vp, ngx_voicegw_mono_msec(), 0);

    ngx_voicegw_retire_locked(vp, &owners);
}


/*
 * A pool gone from nginx.conf is freed once no process of a configuration
 * that had it is alive and no task of it runs; its finished tickets are
 * forgotten with it.
 */

static void
ngx_voicegw_retire_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_owners_t *owners)
{
    ngx_uint_t               i, k, older;
    ngx_queue_t             *l, *next;
    ngx_voicegw_ticket_t    *t;
    ngx_voicegw_pool_sh_t   *pool;
    ngx_voicegw_queue_sh_t  *q;
    ngx_voicegw_proc_sh_t   *p;

    q = vp->sh;
    p = q->procs;

    for (i = 0; i < q->npools; /* void */ ) {
        pool = q->pools[i];

        if (!pool->retired || pool->queued) {
            i++;
            continue;
        }

        older = 0;

        for (k = 0; k < NGX_VOICEGW_PROCS; k++) {
            if (p[k].pid == 0 || p[k].generation >= pool->retired) {
                continue;
            }

            if (p[k].pid != ngx_pid
                && ngx_voicegw_owner_dead(owners, p[k].pid))
            {
                p[k].pid = 0;
                continue;
            }

            older = 1;
            break;
        }

        for (l = ngx_queue_head(&q->active);
             !older && l != ngx_queue_sentinel(&q->active);
             l = ngx_queue_next(l))
        {
            t = ngx_queue_data(l, ngx_voicegw_ticket_t, link);
            older = (t->pool == pool);
        }

        if (older) {
            i++;
            continue;
        }

        for (l = ngx_queue_head(&q->done); l != ngx_queue_sentinel(&q->done);
             l = next)
        {
            next = ngx_queue_next(l);
            t = ngx_queue_data(l, ngx_voicegw_ticket_t, link);

            if (t->pool == pool) {
                ngx_queue_remove(l);
                q->ndone--;
                ngx_voicegw_ticket_free_locked(vp, t);
            }
        }

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "voicegw: pool \"%s\" is gone from nginx.conf and no "
                      "process uses it any more: freed", pool->name);

        ngx_slab_free_locked(vp->zone->shpool, pool->workers);
        ngx_slab_free_locked(vp->zone->shpool, pool);

        q->npools--;

        for (k = i; k < q->npools; k++) {
            q->pools[k] = q->pools[k + 1];
        }

        ngx_voicegw_queue_changed(vp);
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
