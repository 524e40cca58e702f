
/*
 * ngx_voicegw_api_pool.c
 *
 * Handlers of the service API that show the worker pools: /status,
 * /workers, /api/cache, /api/queue and /api/queue/{ticket_id} (GET and
 * DELETE).  Each takes a snapshot of the pools (pool/ngx_voicegw_snapshot.c:
 * copies made under the zone's lock into memory allocated before it), and
 * builds the JSON without the lock.  The original MiniCPM-o gateway's
 * fields, which its pages read, follow the seed's in each answer
 * (ngx_voicegw_api_frontend.c).
 *
 * GET /api/queue lists every queued ticket, twice (the seed's entries[],
 * the original's items[]): with a thousand it is a 340 KB answer, twice
 * the bytes and the work of the seed's list alone.  Each process keeps
 * its last answer and serves it again, byte for byte, while nothing in
 * the queues or workers changed, nor the settings (version counters in
 * the zone), and for at most 100 ms, the resolution of its times.
 * Requests still sending an answer hold a reference to it.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_settings.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_api_frontend.h"


#define NGX_VOICEGW_QUEUE_REUSE   100


typedef struct {
    ngx_uint_t                   refs;
    ngx_uint_t                   version;
    ngx_uint_t                   settings;
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
static ngx_voicegw_json_t *ngx_voicegw_api_begin(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_snapshot_t *snap,
    ngx_uint_t what);
static void ngx_voicegw_api_workers_json(ngx_voicegw_json_t *j,
    ngx_voicegw_snapshot_t *snap, ngx_uint_t brief);
static void ngx_voicegw_api_count(ngx_voicegw_snapshot_t *snap,
    ngx_uint_t *count, ngx_uint_t *queued, ngx_uint_t *queue_max,
    ngx_uint_t *hits, ngx_uint_t *misses);
static ngx_int_t ngx_voicegw_api_queue_build(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_answer_send(ngx_http_request_t *r,
    ngx_voicegw_answer_t *a);
static void ngx_voicegw_api_answer_unref(void *data);


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


/* -- /status, /workers, /api/cache ---------------------------------------- */

/* a snapshot, and a JSON object opened for the answer */

static ngx_voicegw_json_t *
ngx_voicegw_api_begin(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_snapshot_t *snap, ngx_uint_t what)
{
    ngx_voicegw_json_t  *j;

    ngx_memzero(snap, sizeof(ngx_voicegw_snapshot_t));

    if (ngx_voicegw_queue_snapshot(ctx->vmcf->pools, r->pool, what, snap)
        != NGX_OK)
    {
        return NULL;
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NULL;
    }

    ngx_voicegw_json_map_open(j);

    return j;
}


/* the sums over the pools of a snapshot */

static void
ngx_voicegw_api_count(ngx_voicegw_snapshot_t *snap, ngx_uint_t *count,
    ngx_uint_t *queued, ngx_uint_t *queue_max, ngx_uint_t *hits,
    ngx_uint_t *misses)
{
    ngx_uint_t  i, k;

    for (k = 0; k < NGX_VOICEGW_WORKER_NSTATES; k++) {
        count[k] = 0;
    }

    *queued = 0;
    *queue_max = 0;
    *hits = 0;
    *misses = 0;

    for (i = 0; i < snap->npools; i++) {
        for (k = 0; k < NGX_VOICEGW_WORKER_NSTATES; k++) {
            count[k] += snap->pools[i].workers[k];
        }

        *queued += snap->pools[i].queued;
        *queue_max += snap->pools[i].queue_max;
        *hits += snap->pools[i].hits;
        *misses += snap->pools[i].misses;
    }
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

    w = snap->workers;

    for (i = 0; i < snap->nworkers; i++) {
        ngx_voicegw_json_map_open(j);

        ngx_voicegw_json_key(j, "url");
        ngx_voicegw_json_cstr(j, (char *) w[i].url);
        ngx_voicegw_json_key(j, "index");
        ngx_voicegw_json_int(j, w[i].index);
        ngx_voicegw_json_key(j, "status");
        ngx_voicegw_json_str(j, &ngx_voicegw_worker_states[w[i].state].name);

        if (!brief) {
            ngx_voicegw_json_key(j, "current_task");

            if (w[i].ticket) {
                ngx_voicegw_json_str(j,
                              &ngx_voicegw_task_types[w[i].task_type].name);

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

            ngx_voicegw_api_frontend_worker(j, &w[i]);
        }

        ngx_voicegw_json_key(j, "last_used_at");
        ngx_voicegw_json_time(j, w[i].last_used);
        ngx_voicegw_json_key(j, "pool");
        ngx_voicegw_json_cstr(j, (char *) snap->pools[w[i].pool].name);

        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_array_close(j);
}


static ngx_int_t
ngx_voicegw_api_status(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_uint_t               count[NGX_VOICEGW_WORKER_NSTATES];
    ngx_uint_t               queued, queue_max, hits, misses;
    ngx_voicegw_json_t      *j;
    ngx_voicegw_snapshot_t   snap;

    j = ngx_voicegw_api_begin(r, ctx, &snap, NGX_VOICEGW_SNAP_WORKERS);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_api_count(&snap, count, &queued, &queue_max, &hits,
                          &misses);

    ngx_voicegw_json_key(j, "total_workers");
    ngx_voicegw_json_int(j, snap.nworkers);
    ngx_voicegw_json_key(j, "idle_workers");
    ngx_voicegw_json_int(j, count[NGX_VOICEGW_WORKER_IDLE]);
    ngx_voicegw_json_key(j, "busy_workers");
    ngx_voicegw_json_int(j, count[NGX_VOICEGW_WORKER_BUSY]);
    ngx_voicegw_json_key(j, "queue_length");
    ngx_voicegw_json_int(j, queued);

    ngx_voicegw_api_workers_json(j, &snap, 0);

    ngx_voicegw_json_key(j, "loading_workers");
    ngx_voicegw_json_int(j, count[NGX_VOICEGW_WORKER_LOADING]);
    ngx_voicegw_json_key(j, "error_workers");
    ngx_voicegw_json_int(j, count[NGX_VOICEGW_WORKER_ERROR]);
    ngx_voicegw_json_key(j, "offline_workers");
    ngx_voicegw_json_int(j, count[NGX_VOICEGW_WORKER_OFFLINE]);
    ngx_voicegw_json_key(j, "max_queue_size");
    ngx_voicegw_json_int(j, queue_max);

    ngx_voicegw_api_frontend_status(j, &snap);

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
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
    ngx_voicegw_json_int(j, snap.nworkers);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


static ngx_int_t
ngx_voicegw_api_cache(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_uint_t               count[NGX_VOICEGW_WORKER_NSTATES];
    ngx_uint_t               queued, queue_max, hits, misses, total;
    ngx_voicegw_json_t      *j;
    ngx_voicegw_snapshot_t   snap;

    j = ngx_voicegw_api_begin(r, ctx, &snap, NGX_VOICEGW_SNAP_WORKERS);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_api_count(&snap, count, &queued, &queue_max, &hits,
                          &misses);

    ngx_voicegw_api_workers_json(j, &snap, 1);

    total = hits + misses;

    ngx_voicegw_json_key(j, "hits");
    ngx_voicegw_json_int(j, hits);
    ngx_voicegw_json_key(j, "misses");
    ngx_voicegw_json_int(j, misses);
    ngx_voicegw_json_key(j, "hit_rate");
    ngx_voicegw_json_double(j, total ? (double) hits / total : 0.0);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


/* -- the queue ------------------------------------------------------------ */

static ngx_int_t
ngx_voicegw_api_queue(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_answer_t  *a;

    a = ctx->vmcf->proc.queue_answer;

    if (a != NULL
        && a->version == ngx_voicegw_queue_version(ctx->vmcf->pools)
        && a->settings == ngx_voicegw_settings_version(ctx->vmcf->zone)
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

    static ngx_str_t  type = ngx_string("application/json");

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

    return ngx_voicegw_reply_chain(r, NGX_HTTP_OK, out, a->len, &type);
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
ngx_voicegw_api_exit_process(ngx_voicegw_proc_t *proc)
{
    if (proc->queue_answer != NULL) {
        ngx_voicegw_api_answer_unref(proc->queue_answer);
        proc->queue_answer = NULL;
    }
}


static ngx_int_t
ngx_voicegw_api_queue_build(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    u_char                     *p;
    size_t                      size;
    ngx_uint_t                  i, queued, settings;
    ngx_chain_t                *out, *cl;
    ngx_voicegw_answer_t       *a;
    ngx_voicegw_json_t         *j;
    ngx_voicegw_snapshot_t      snap;
    ngx_voicegw_entry_view_t   *e;
    ngx_voicegw_worker_view_t  *w;

    static ngx_str_t  type = ngx_string("application/json");

    settings = ngx_voicegw_settings_version(ctx->vmcf->zone);

    j = ngx_voicegw_api_begin(r, ctx, &snap,
                              NGX_VOICEGW_SNAP_WORKERS|NGX_VOICEGW_SNAP_QUEUE);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    queued = snap.nentries;

    ngx_voicegw_json_key(j, "queue_length");
    ngx_voicegw_json_int(j, queued);

    ngx_voicegw_json_key(j, "entries");
    ngx_voicegw_json_array_open(j);

    e = snap.entries;

    for (i = 0; i < snap.nentries; i++) {
        ngx_voicegw_json_map_open(j);
        ngx_voicegw_json_key(j, "ticket_id");
        ngx_voicegw_json_hex(j, "tk_", e[i].id);
        ngx_voicegw_json_key(j, "position");
        ngx_voicegw_json_int(j, e[i].position);
        ngx_voicegw_json_key(j, "task_type");
        ngx_voicegw_json_str(j, &ngx_voicegw_task_types[e[i].task_type].name);
        ngx_voicegw_json_key(j, "eta_seconds");
        ngx_voicegw_json_fixed(j, e[i].eta, 1);
        ngx_voicegw_json_key(j, "session_id");
        ngx_voicegw_json_strn(j, e[i].session, e[i].session_len);

        ngx_voicegw_json_key(j, "enqueued_at");
        ngx_voicegw_json_time(j, e[i].enqueued);
        ngx_voicegw_json_key(j, "pool");
        ngx_voicegw_json_cstr(j, (char *) snap.pools[e[i].pool].name);
        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_array_close(j);

    ngx_voicegw_json_key(j, "running");
    ngx_voicegw_json_array_open(j);

    w = snap.workers;

    for (i = 0; i < snap.nworkers; i++) {
        if (w[i].ticket == 0) {
            continue;
        }

        ngx_voicegw_json_map_open(j);
        ngx_voicegw_json_key(j, "worker_url");
        ngx_voicegw_json_cstr(j, (char *) w[i].url);
        ngx_voicegw_json_key(j, "task_type");
        ngx_voicegw_json_str(j, &ngx_voicegw_task_types[w[i].task_type].name);
        ngx_voicegw_json_key(j, "session_id");
        ngx_voicegw_json_strn(j, w[i].session, w[i].session_len);

        ngx_voicegw_json_key(j, "started_at");
        ngx_voicegw_json_time(j, w[i].busy_since);
        ngx_voicegw_json_key(j, "elapsed_s");
        ngx_voicegw_json_fixed(j, w[i].busy_ms / 1000.0, 1);
        ngx_voicegw_json_key(j, "ticket_id");
        ngx_voicegw_json_hex(j, "tk_", w[i].ticket);
        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_array_close(j);

    ngx_voicegw_api_frontend_queue(j, &snap);

    ngx_voicegw_json_map_close(j);

    out = ngx_voicegw_json_finish(j, &size);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* keep it, in one piece, for the next requests of this process */

    a = ngx_alloc(sizeof(ngx_voicegw_answer_t) + size, r->connection->log);
    if (a == NULL) {
        return ngx_voicegw_reply_chain(r, NGX_HTTP_OK, out, size, &type);
    }

    a->refs = 1;
    a->version = snap.version;
    a->settings = settings;
    a->made = ngx_current_msec;
    a->len = size;

    p = a->data;

    for (cl = out; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    if (ctx->vmcf->proc.queue_answer != NULL) {
        ngx_voicegw_api_answer_unref(ctx->vmcf->proc.queue_answer);
    }

    ctx->vmcf->proc.queue_answer = a;

    return ngx_voicegw_api_answer_send(r, a);
}


static ngx_int_t
ngx_voicegw_api_ticket(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    uint64_t                    id;
    ngx_voicegw_json_t         *j;
    ngx_voicegw_snapshot_t      snap;
    ngx_voicegw_ticket_view_t  *t;

    if (ngx_voicegw_api_ticket_id(&ctx->params[0], &id) != NGX_OK) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "unknown ticket");
    }

    ngx_memzero(&snap, sizeof(ngx_voicegw_snapshot_t));
    snap.ticket_id = id;

    if (ngx_voicegw_queue_snapshot(ctx->vmcf->pools, r->pool,
                                   NGX_VOICEGW_SNAP_QUEUE, &snap)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!snap.ticket_found) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "unknown ticket");
    }

    t = &snap.ticket;

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "ticket_id");
    ngx_voicegw_json_hex(j, "tk_", t->id);
    ngx_voicegw_json_key(j, "status");
    ngx_voicegw_json_str(j, &ngx_voicegw_ticket_states[t->state].name);
    ngx_voicegw_json_key(j, "position");
    ngx_voicegw_json_int(j, t->position);
    ngx_voicegw_json_key(j, "eta_seconds");
    ngx_voicegw_json_fixed(j, t->eta, 1);
    ngx_voicegw_json_key(j, "task_type");
    ngx_voicegw_json_str(j, &ngx_voicegw_task_types[t->task_type].name);
    ngx_voicegw_json_key(j, "session_id");
    ngx_voicegw_json_strn(j, t->session, t->session_len);

    ngx_voicegw_json_key(j, "enqueued_at");
    ngx_voicegw_json_time(j, t->enqueued);
    ngx_voicegw_json_key(j, "worker_url");

    if (t->state == NGX_VOICEGW_TICKET_ASSIGNED && t->url[0]) {
        ngx_voicegw_json_cstr(j, (char *) t->url);

    } else {
        ngx_voicegw_json_null(j);
    }

    ngx_voicegw_json_key(j, "assigned_at");
    ngx_voicegw_json_time(j, t->assigned);
    ngx_voicegw_json_key(j, "finished_at");
    ngx_voicegw_json_time(j, t->finished);
    ngx_voicegw_json_key(j, "queue_wait_ms");

    if (t->assigned) {
        ngx_voicegw_json_int(j, t->wait_ms);

    } else {
        ngx_voicegw_json_null(j);
    }

    ngx_voicegw_json_key(j, "pool");
    ngx_voicegw_json_cstr(j, (char *) snap.pools[t->pool].name);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


static ngx_int_t
ngx_voicegw_api_ticket_cancel(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    uint64_t              id;
    ngx_int_t             rc;
    ngx_uint_t            state;
    ngx_voicegw_json_t   *j;
    ngx_voicegw_pools_t  *vp;

    if (ngx_voicegw_api_ticket_id(&ctx->params[0], &id) != NGX_OK) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "unknown ticket");
    }

    vp = ctx->vmcf->pools;
    state = 0;

    ngx_voicegw_zone_lock(vp->zone);
    rc = ngx_voicegw_queue_leave_locked(vp, id, NGX_VOICEGW_TICKET_CANCELLED,
                                        &state);
    ngx_voicegw_zone_unlock(vp->zone);

    if (rc == NGX_ABORT) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "unknown ticket");
    }

    if (rc == NGX_DECLINED) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_CONFLICT, "not_queued",
                                       "the ticket is not queued (%V)",
                                       &ngx_voicegw_ticket_states[state].name);
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

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}
