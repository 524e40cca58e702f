
/*
 * ngx_voicegw_api_pool.c
 *
 * Handlers of the service API that show the worker pools: /status,
 * /workers, /api/cache, /api/queue and /api/queue/{ticket_id} (GET and
 * DELETE).  Each takes a snapshot of the zone under its lock, then builds
 * the JSON without it: the lock is held for copies only.
 *
 * GET /api/queue lists every queued ticket: with a thousand it is a 160 KB
 * answer that takes a millisecond to build.  Each process keeps its last
 * answer and serves it again, byte for byte, while nothing in the queues
 * or workers changed (a version counter in the zone) and for at most
 * 100 ms, the resolution of its times.  Requests still sending an answer
 * hold a reference to it.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_eta.h"
#include "ngx_voicegw_pool.h"


typedef struct {
    ngx_voicegw_pool_sh_t       *pool;
    u_char                       url[NGX_VOICEGW_NAME_LEN];
    ngx_uint_t                   index;
    ngx_uint_t                   state;
    ngx_uint_t                   task_type;
    uint64_t                     ticket;
    uint64_t                     busy_since;
    uint64_t                     cached_hash;
    uint64_t                     last_used;
    uint64_t                     checked_at;
    ngx_uint_t                   served;
    size_t                       session_len;
    u_char                       session[NGX_VOICEGW_SESSION_LEN];
    u_char                       reported[32];
} ngx_voicegw_worker_view_t;


typedef struct {
    ngx_voicegw_pool_sh_t       *pool;
    uint64_t                     id;
    ngx_uint_t                   task_type;
    ngx_uint_t                   position;
    uint64_t                     enqueued;
    double                       eta;
    size_t                       session_len;
    u_char                       session[NGX_VOICEGW_SESSION_LEN];
} ngx_voicegw_entry_view_t;


typedef struct {
    ngx_array_t                  workers;     /* ngx_voicegw_worker_view_t */
    ngx_array_t                  entries;     /* ngx_voicegw_entry_view_t */
    ngx_uint_t                   count[5];    /* workers by state */
    ngx_uint_t                   queue_max;
    ngx_uint_t                   queued;
    ngx_uint_t                   hits;
    ngx_uint_t                   misses;
    uint64_t                     now;
} ngx_voicegw_snapshot_t;


#define NGX_VOICEGW_SNAP_WORKERS  0x01
#define NGX_VOICEGW_SNAP_QUEUE    0x02

#define NGX_VOICEGW_QUEUE_REUSE   100


typedef struct {
    ngx_uint_t                   refs;
    ngx_uint_t                   version;
    ngx_msec_t                   made;
    size_t                       len;
    u_char                       data[1];
} ngx_voicegw_answer_t;


static ngx_int_t ngx_voicegw_api_status(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_workers(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_cache(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_queue(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_ticket(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_ticket_cancel(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_snapshot(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_snapshot_t *snap,
    ngx_uint_t what);
static ngx_voicegw_json_t *ngx_voicegw_api_begin(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_snapshot_t *snap,
    ngx_uint_t what);
static void ngx_voicegw_api_workers_json(ngx_voicegw_json_t *j,
    ngx_voicegw_snapshot_t *snap, ngx_uint_t brief);
static ngx_int_t ngx_voicegw_api_pool_queue_locked(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_pool_sh_t *pool,
    ngx_voicegw_eta_state_t *st, ngx_array_t *entries, uint64_t now,
    uint64_t upto);
static ngx_int_t ngx_voicegw_ticket_parse(ngx_str_t *s, uint64_t *id);
static ngx_int_t ngx_voicegw_api_queue_build(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_answer_send(ngx_http_request_t *r,
    ngx_voicegw_answer_t *a);
static void ngx_voicegw_api_answer_unref(void *data);


static const char  *ngx_voicegw_worker_states[] = {
    "idle", "busy", "loading", "error", "offline"
};

static const char  *ngx_voicegw_ticket_states[] = {
    "queued", "assigned", "cancelled", "timed_out", "abandoned"
};


ngx_voicegw_api_route_t  ngx_voicegw_api_pool_routes[] = {

    { NGX_HTTP_GET, ngx_string("/status"),
      ngx_voicegw_api_status, 0 },

    { NGX_HTTP_GET, ngx_string("/workers"),
      ngx_voicegw_api_workers, 0 },

    { NGX_HTTP_GET, ngx_string("/api/cache"),
      ngx_voicegw_api_cache, 0 },

    { NGX_HTTP_GET, ngx_string("/api/queue"),
      ngx_voicegw_api_queue, 0 },

    { NGX_HTTP_GET, ngx_string("/api/queue/{}"),
      ngx_voicegw_api_ticket, 0 },

    { NGX_HTTP_DELETE, ngx_string("/api/queue/{}"),
      ngx_voicegw_api_ticket_cancel, 0 },

    { 0, ngx_null_string, NULL, 0 }
};


/* -- snapshots ------------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_api_snapshot(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_snapshot_t *snap, ngx_uint_t what)
{
    ngx_uint_t                  i, k, state;
    ngx_voicegw_queue_sh_t     *q;
    ngx_voicegw_pool_sh_t      *pool;
    ngx_voicegw_worker_sh_t    *w;
    ngx_voicegw_eta_state_t     st;
    ngx_voicegw_worker_view_t  *wv;

    ngx_memzero(snap, sizeof(ngx_voicegw_snapshot_t));

    if (ngx_array_init(&snap->workers, r->pool, 8,
                       sizeof(ngx_voicegw_worker_view_t))
        != NGX_OK
        || ngx_array_init(&snap->entries, r->pool, 8,
                          sizeof(ngx_voicegw_entry_view_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    snap->now = ngx_voicegw_now_msec();
    q = &ctx->shm->sh->queue;

    ngx_voicegw_shm_lock(ctx->shm);

    ngx_voicegw_eta_state_locked(ctx->shm, &st);

    for (i = 0; i < q->npools; i++) {
        pool = q->pools[i];

        if (pool->retired) {
            continue;
        }

        snap->queue_max += pool->queue_max;
        snap->queued += pool->queued;
        snap->hits += pool->hits;
        snap->misses += pool->misses;

        for (k = 0; k < pool->nworkers; k++) {
            w = &pool->workers[k];
            state = ngx_voicegw_worker_state(w);
            snap->count[state]++;

            if (!(what & NGX_VOICEGW_SNAP_WORKERS)) {
                continue;
            }

            wv = ngx_array_push(&snap->workers);
            if (wv == NULL) {
                goto failed;
            }

            wv->pool = pool;
            ngx_memcpy(wv->url, w->url, NGX_VOICEGW_NAME_LEN);
            wv->index = k;
            wv->state = state;
            wv->task_type = w->task_type;
            wv->ticket = w->ticket;
            wv->busy_since = w->busy_since;
            wv->cached_hash = w->cache.hash ? w->cache.hash : w->cache.key;
            wv->last_used = w->last_used;
            wv->checked_at = w->checked_at;
            wv->served = w->served;
            wv->session_len = w->session_len;
            ngx_memcpy(wv->session, w->session, w->session_len);
            ngx_memcpy(wv->reported, w->reported, sizeof(wv->reported));
        }

        if ((what & NGX_VOICEGW_SNAP_QUEUE)
            && ngx_voicegw_api_pool_queue_locked(r, ctx, pool, &st,
                                                 &snap->entries, snap->now,
                                                 0)
               != NGX_OK)
        {
            goto failed;
        }
    }

    ngx_voicegw_shm_unlock(ctx->shm);

    return NGX_OK;

failed:

    ngx_voicegw_shm_unlock(ctx->shm);

    return NGX_ERROR;
}


/*
 * The queued tickets of a pool, with positions and ETAs (up to the ticket
 * "upto" only, when it is not 0).  The ETA itself is computed here, under
 * the lock: a heap over the busy workers, microseconds for 1000 tickets.
 */

static ngx_int_t
ngx_voicegw_api_pool_queue_locked(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_pool_sh_t *pool,
    ngx_voicegw_eta_state_t *st, ngx_array_t *entries, uint64_t now,
    uint64_t upto)
{
    double                     *heap, *eta, est, elapsed;
    ngx_uint_t                  i, n, nbusy, *types;
    ngx_queue_t                *l;
    ngx_voicegw_ticket_t       *t;
    ngx_voicegw_worker_sh_t    *w;
    ngx_voicegw_entry_view_t   *e, *first;

    if (pool->queued == 0) {
        return NGX_OK;
    }

    heap = ngx_palloc(r->pool, (pool->nworkers + 2 * pool->queued)
                               * sizeof(double));
    types = ngx_palloc(r->pool, pool->queued * sizeof(ngx_uint_t));

    if (heap == NULL || types == NULL) {
        return NGX_ERROR;
    }

    eta = heap + pool->nworkers;

    /* remaining time of every worker busy with one of our tasks */

    nbusy = 0;

    for (i = 0; i < pool->nworkers; i++) {
        w = &pool->workers[i];

        if (w->ticket == 0) {
            continue;
        }

        est = ngx_voicegw_eta_estimate(st, w->task_type);
        elapsed = (now > w->busy_since) ? (now - w->busy_since) / 1000.0 : 0;

        heap[nbusy++] = (elapsed < est) ? est - elapsed : 15.0;
    }

    n = 0;

    for (l = ngx_queue_head(&pool->queue); l != ngx_queue_sentinel(&pool->queue);
         l = ngx_queue_next(l))
    {
        t = ngx_queue_data(l, ngx_voicegw_ticket_t, link);

        e = ngx_array_push(entries);
        if (e == NULL) {
            return NGX_ERROR;
        }

        e->pool = pool;
        e->id = t->id;
        e->task_type = t->task_type;
        e->position = n + 1;
        e->enqueued = t->enqueued;
        e->session_len = t->session_len;
        ngx_memcpy(e->session, t->session, t->session_len);

        types[n++] = t->task_type;

        if (t->id == upto) {
            break;
        }
    }

    /* the array may have moved while growing: index from the end */

    first = (ngx_voicegw_entry_view_t *) entries->elts + entries->nelts - n;

    ngx_voicegw_eta_queue(st, heap, nbusy, types, n, eta);

    for (i = 0; i < n; i++) {
        first[i].eta = eta[i];
    }

    return NGX_OK;
}


/* -- /status, /workers, /api/cache ------------------------------------------ */

/* a snapshot, and a JSON object opened for the answer */

static ngx_voicegw_json_t *
ngx_voicegw_api_begin(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_snapshot_t *snap, ngx_uint_t what)
{
    ngx_voicegw_json_t  *j;

    if (ngx_voicegw_api_snapshot(r, ctx, snap, what) != NGX_OK) {
        return NULL;
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NULL;
    }

    ngx_voicegw_json_map_open(j);

    return j;
}


/* "workers":[...]: as /workers shows them, or "brief" as /api/cache does */

static void
ngx_voicegw_api_workers_json(ngx_voicegw_json_t *j,
    ngx_voicegw_snapshot_t *snap, ngx_uint_t brief)
{
    ngx_uint_t                  i;
    ngx_voicegw_worker_view_t  *w;

    ngx_voicegw_json_key(j, "workers");
    ngx_voicegw_json_array_open(j);

    w = snap->workers.elts;

    for (i = 0; i < snap->workers.nelts; i++) {
        ngx_voicegw_json_map_open(j);

        ngx_voicegw_json_key(j, "url");
        ngx_voicegw_json_cstr(j, (char *) w[i].url);
        ngx_voicegw_json_key(j, "index");
        ngx_voicegw_json_int(j, w[i].index);
        ngx_voicegw_json_key(j, "status");
        ngx_voicegw_json_cstr(j, ngx_voicegw_worker_states[w[i].state]);

        if (!brief) {
            ngx_voicegw_json_key(j, "current_task");

            if (w[i].ticket) {
                ngx_voicegw_json_str(j,
                                 &ngx_voicegw_task_names[w[i].task_type]);

            } else {
                ngx_voicegw_json_null(j);
            }

            ngx_voicegw_json_key(j, "current_session_id");
            ngx_voicegw_json_strn(j, w[i].session,
                                  w[i].ticket ? w[i].session_len : 0);
        }

        ngx_voicegw_json_key(j, "cached_hash");
        ngx_voicegw_json_hex(j, "", w[i].cached_hash);

        if (!brief) {
            ngx_voicegw_json_key(j, "busy_since");
            ngx_voicegw_json_time(j, w[i].ticket ? w[i].busy_since : 0);
            ngx_voicegw_json_key(j, "ticket_id");
            ngx_voicegw_json_hex(j, "tk_", w[i].ticket);
            ngx_voicegw_json_key(j, "worker_status");
            ngx_voicegw_json_strn(j, w[i].reported,
                                  ngx_strlen(w[i].reported));
            ngx_voicegw_json_key(j, "checked_at");
            ngx_voicegw_json_time(j, w[i].checked_at);
            ngx_voicegw_json_key(j, "tasks_served");
            ngx_voicegw_json_int(j, w[i].served);
        }

        ngx_voicegw_json_key(j, "last_used_at");
        ngx_voicegw_json_time(j, w[i].last_used);
        ngx_voicegw_json_key(j, "pool");
        ngx_voicegw_json_cstr(j, (char *) w[i].pool->name);

        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_array_close(j);
}


static ngx_int_t
ngx_voicegw_api_status(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_json_t      *j;
    ngx_voicegw_snapshot_t   snap;

    j = ngx_voicegw_api_begin(r, ctx, &snap, NGX_VOICEGW_SNAP_WORKERS);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_key(j, "total_workers");
    ngx_voicegw_json_int(j, snap.workers.nelts);
    ngx_voicegw_json_key(j, "idle_workers");
    ngx_voicegw_json_int(j, snap.count[NGX_VOICEGW_WORKER_IDLE]);
    ngx_voicegw_json_key(j, "busy_workers");
    ngx_voicegw_json_int(j, snap.count[NGX_VOICEGW_WORKER_BUSY]);
    ngx_voicegw_json_key(j, "queue_length");
    ngx_voicegw_json_int(j, snap.queued);

    ngx_voicegw_api_workers_json(j, &snap, 0);

    ngx_voicegw_json_key(j, "loading_workers");
    ngx_voicegw_json_int(j, snap.count[NGX_VOICEGW_WORKER_LOADING]);
    ngx_voicegw_json_key(j, "error_workers");
    ngx_voicegw_json_int(j, snap.count[NGX_VOICEGW_WORKER_ERROR]);
    ngx_voicegw_json_key(j, "offline_workers");
    ngx_voicegw_json_int(j, snap.count[NGX_VOICEGW_WORKER_OFFLINE]);
    ngx_voicegw_json_key(j, "max_queue_size");
    ngx_voicegw_json_int(j, snap.queue_max);

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


static ngx_int_t
ngx_voicegw_api_workers(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_json_t      *j;
    ngx_voicegw_snapshot_t   snap;

    j = ngx_voicegw_api_begin(r, ctx, &snap, NGX_VOICEGW_SNAP_WORKERS);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_api_workers_json(j, &snap, 0);

    ngx_voicegw_json_key(j, "total");
    ngx_voicegw_json_int(j, snap.workers.nelts);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


static ngx_int_t
ngx_voicegw_api_cache(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_uint_t               total;
    ngx_voicegw_json_t      *j;
    ngx_voicegw_snapshot_t   snap;

    j = ngx_voicegw_api_begin(r, ctx, &snap, NGX_VOICEGW_SNAP_WORKERS);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_api_workers_json(j, &snap, 1);

    total = snap.hits + snap.misses;

    ngx_voicegw_json_key(j, "hits");
    ngx_voicegw_json_int(j, snap.hits);
    ngx_voicegw_json_key(j, "misses");
    ngx_voicegw_json_int(j, snap.misses);
    ngx_voicegw_json_key(j, "hit_rate");
    ngx_voicegw_json_double(j, total ? (double) snap.hits / total : 0.0);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


/* -- the queue ---------------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_api_queue(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_answer_t  *a;

    a = ctx->shm->queue_answer;

    /* a plain read of the version: a change makes the next one rebuild */

    if (a != NULL
        && a->version == *(volatile ngx_uint_t *) &ctx->shm->sh->queue.version
        && ngx_current_msec - a->made < NGX_VOICEGW_QUEUE_REUSE)
    {
        return ngx_voicegw_api_answer_send(r, a);
    }

    return ngx_voicegw_api_queue_build(r, ctx);
}


static ngx_int_t
ngx_voicegw_api_answer_send(ngx_http_request_t *r, ngx_voicegw_answer_t *a)
{
    ngx_buf_t           *b;
    ngx_chain_t         *out;
    ngx_pool_cleanup_t  *cln;

    b = ngx_calloc_buf(r->pool);
    out = ngx_alloc_chain_link(r->pool);
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (b == NULL || out == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->memory = 1;
    b->pos = a->data;
    b->last = a->data + a->len;

    out->buf = b;
    out->next = NULL;

    a->refs++;
    cln->handler = ngx_voicegw_api_answer_unref;
    cln->data = a;

    return ngx_voicegw_api_send_chain(r, NGX_HTTP_OK, out, a->len);
}


static void
ngx_voicegw_api_answer_unref(void *data)
{
    ngx_voicegw_answer_t  *a = data;

    if (--a->refs == 0) {
        ngx_free(a);
    }
}


void
ngx_voicegw_api_exit_process(ngx_voicegw_shm_t *shm)
{
    if (shm->queue_answer != NULL) {
        ngx_voicegw_api_answer_unref(shm->queue_answer);
        shm->queue_answer = NULL;
    }
}


static ngx_int_t
ngx_voicegw_api_queue_build(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    u_char                     *p;
    size_t                      size;
    ngx_uint_t                  version;
    ngx_chain_t                *out, *cl;
    ngx_voicegw_answer_t       *a;
    ngx_uint_t                  i;
    ngx_voicegw_json_t         *j;
    ngx_voicegw_snapshot_t      snap;
    ngx_voicegw_entry_view_t   *e;
    ngx_voicegw_worker_view_t  *w;

    version = *(volatile ngx_uint_t *) &ctx->shm->sh->queue.version;

    j = ngx_voicegw_api_begin(r, ctx, &snap,
                              NGX_VOICEGW_SNAP_WORKERS|NGX_VOICEGW_SNAP_QUEUE);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_key(j, "queue_length");
    ngx_voicegw_json_int(j, snap.entries.nelts);

    ngx_voicegw_json_key(j, "entries");
    ngx_voicegw_json_array_open(j);

    e = snap.entries.elts;

    for (i = 0; i < snap.entries.nelts; i++) {
        ngx_voicegw_json_map_open(j);
        ngx_voicegw_json_key(j, "ticket_id");
        ngx_voicegw_json_hex(j, "tk_", e[i].id);
        ngx_voicegw_json_key(j, "position");
        ngx_voicegw_json_int(j, e[i].position);
        ngx_voicegw_json_key(j, "task_type");
        ngx_voicegw_json_str(j, &ngx_voicegw_task_names[e[i].task_type]);
        ngx_voicegw_json_key(j, "eta_seconds");
        ngx_voicegw_json_fixed(j, e[i].eta, 1);
        ngx_voicegw_json_key(j, "session_id");
        ngx_voicegw_json_strn(j, e[i].session, e[i].session_len);

        ngx_voicegw_json_key(j, "enqueued_at");
        ngx_voicegw_json_time(j, e[i].enqueued);
        ngx_voicegw_json_key(j, "pool");
        ngx_voicegw_json_cstr(j, (char *) e[i].pool->name);
        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_array_close(j);

    ngx_voicegw_json_key(j, "running");
    ngx_voicegw_json_array_open(j);

    w = snap.workers.elts;

    for (i = 0; i < snap.workers.nelts; i++) {
        if (w[i].ticket == 0) {
            continue;
        }

        ngx_voicegw_json_map_open(j);
        ngx_voicegw_json_key(j, "worker_url");
        ngx_voicegw_json_cstr(j, (char *) w[i].url);
        ngx_voicegw_json_key(j, "task_type");
        ngx_voicegw_json_str(j, &ngx_voicegw_task_names[w[i].task_type]);
        ngx_voicegw_json_key(j, "session_id");
        ngx_voicegw_json_strn(j, w[i].session, w[i].session_len);

        ngx_voicegw_json_key(j, "started_at");
        ngx_voicegw_json_time(j, w[i].busy_since);
        ngx_voicegw_json_key(j, "elapsed_s");
        ngx_voicegw_json_fixed(j, snap.now > w[i].busy_since
                                  ? (snap.now - w[i].busy_since) / 1000.0
                                  : 0.0, 1);
        ngx_voicegw_json_key(j, "ticket_id");
        ngx_voicegw_json_hex(j, "tk_", w[i].ticket);
        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_array_close(j);
    ngx_voicegw_json_map_close(j);

    out = ngx_voicegw_json_finish(j, &size);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* keep it, in one piece, for the next requests of this process */

    a = ngx_alloc(sizeof(ngx_voicegw_answer_t) + size, r->connection->log);
    if (a == NULL) {
        return ngx_voicegw_api_send_chain(r, NGX_HTTP_OK, out, size);
    }

    a->refs = 1;
    a->version = version;
    a->made = ngx_current_msec;
    a->len = size;

    p = a->data;

    for (cl = out; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    if (ctx->shm->queue_answer != NULL) {
        ngx_voicegw_api_answer_unref(ctx->shm->queue_answer);
    }

    ctx->shm->queue_answer = a;

    return ngx_voicegw_api_answer_send(r, a);
}


/* "tk_" and 16 lowercase hex digits */

static ngx_int_t
ngx_voicegw_ticket_parse(ngx_str_t *s, uint64_t *id)
{
    u_char      c;
    uint64_t    n;
    ngx_uint_t  i;

    if (s->len != 19 || ngx_strncmp(s->data, "tk_", 3) != 0) {
        return NGX_ERROR;
    }

    n = 0;

    for (i = 3; i < 19; i++) {
        c = s->data[i];

        if (c >= '0' && c <= '9') {
            n = (n << 4) | (c - '0');

        } else if (c >= 'a' && c <= 'f') {
            n = (n << 4) | (c - 'a' + 10);

        } else {
            return NGX_ERROR;
        }
    }

    if (n == 0) {
        return NGX_ERROR;
    }

    *id = n;

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_api_ticket(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    u_char                     url[NGX_VOICEGW_NAME_LEN];
    uint64_t                   id, now;
    ngx_uint_t                 found;
    ngx_array_t                entries;
    ngx_voicegw_json_t        *j;
    ngx_voicegw_ticket_t      *t, copy;
    ngx_voicegw_eta_state_t    st;
    ngx_voicegw_worker_sh_t   *w;
    ngx_voicegw_entry_view_t  *e;

    if (ngx_voicegw_ticket_parse(&ctx->params[0], &id) != NGX_OK) {
        return ngx_voicegw_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "unknown ticket");
    }

    if (ngx_array_init(&entries, r->pool, 16,
                       sizeof(ngx_voicegw_entry_view_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now = ngx_voicegw_now_msec();
    found = 0;
    url[0] = '\0';

    ngx_voicegw_shm_lock(ctx->shm);

    t = ngx_voicegw_ticket_find_locked(ctx->shm, id);

    if (t != NULL) {
        found = 1;
        ngx_memcpy(&copy, t, sizeof(ngx_voicegw_ticket_t));

        if (t->worker >= 0 && (ngx_uint_t) t->worker < t->pool->nworkers) {
            w = &t->pool->workers[t->worker];
            ngx_memcpy(url, w->url, NGX_VOICEGW_NAME_LEN);
        }

        if (t->state == NGX_VOICEGW_TICKET_QUEUED) {
            ngx_voicegw_eta_state_locked(ctx->shm, &st);

            if (ngx_voicegw_api_pool_queue_locked(r, ctx, t->pool, &st,
                                                  &entries, now, id)
                != NGX_OK)
            {
                ngx_voicegw_shm_unlock(ctx->shm);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }

    ngx_voicegw_shm_unlock(ctx->shm);

    if (!found) {
        return ngx_voicegw_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "unknown ticket");
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    e = entries.nelts ? (ngx_voicegw_entry_view_t *) entries.elts
                        + entries.nelts - 1
                      : NULL;

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "ticket_id");
    ngx_voicegw_json_hex(j, "tk_", copy.id);
    ngx_voicegw_json_key(j, "status");
    ngx_voicegw_json_cstr(j, ngx_voicegw_ticket_states[copy.state]);
    ngx_voicegw_json_key(j, "position");
    ngx_voicegw_json_int(j, e ? e->position : 0);
    ngx_voicegw_json_key(j, "eta_seconds");
    ngx_voicegw_json_fixed(j, e ? e->eta : 0.0, 1);
    ngx_voicegw_json_key(j, "task_type");
    ngx_voicegw_json_str(j, &ngx_voicegw_task_names[copy.task_type]);
    ngx_voicegw_json_key(j, "session_id");
    ngx_voicegw_json_strn(j, copy.session, copy.session_len);

    ngx_voicegw_json_key(j, "enqueued_at");
    ngx_voicegw_json_time(j, copy.enqueued);
    ngx_voicegw_json_key(j, "worker_url");

    if (copy.state == NGX_VOICEGW_TICKET_ASSIGNED && url[0]) {
        ngx_voicegw_json_cstr(j, (char *) url);

    } else {
        ngx_voicegw_json_null(j);
    }

    ngx_voicegw_json_key(j, "assigned_at");
    ngx_voicegw_json_time(j, copy.assigned);
    ngx_voicegw_json_key(j, "finished_at");
    ngx_voicegw_json_time(j, copy.finished);
    ngx_voicegw_json_key(j, "queue_wait_ms");

    if (copy.assigned) {
        ngx_voicegw_json_int(j, copy.assigned - copy.enqueued);

    } else {
        ngx_voicegw_json_null(j);
    }

    ngx_voicegw_json_key(j, "pool");
    ngx_voicegw_json_cstr(j, (char *) copy.pool->name);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


static ngx_int_t
ngx_voicegw_api_ticket_cancel(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    uint64_t             id;
    ngx_int_t            rc;
    ngx_uint_t           state;
    ngx_voicegw_json_t  *j;

    if (ngx_voicegw_ticket_parse(&ctx->params[0], &id) != NGX_OK) {
        return ngx_voicegw_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "unknown ticket");
    }

    state = 0;

    ngx_voicegw_shm_lock(ctx->shm);

    rc = ngx_voicegw_queue_leave_locked(ctx->shm, id,
                                        NGX_VOICEGW_TICKET_CANCELLED);
    if (rc == NGX_DECLINED) {
        state = ngx_voicegw_ticket_find_locked(ctx->shm, id)->state;
    }

    ngx_voicegw_shm_unlock(ctx->shm);

    if (rc == NGX_ABORT) {
        return ngx_voicegw_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "unknown ticket");
    }

    if (rc == NGX_DECLINED) {
        return ngx_voicegw_api_error(r, NGX_HTTP_CONFLICT, "not_queued",
                                     "the ticket is not queued (%s)",
                                     ngx_voicegw_ticket_states[state]);
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "ticket_id");
    ngx_voicegw_json_hex(j, "tk_", id);
    ngx_voicegw_json_key(j, "cancelled");
    ngx_voicegw_json_bool(j, 1);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}
