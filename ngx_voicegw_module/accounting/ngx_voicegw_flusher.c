
/*
 * ngx_voicegw_flusher.c
 *
 * Owns the draining of the record buffer into the store.
 *
 *   - Every nginx worker process ticks every "flush=" (voicegw_store);
 *     the first to find the lease in the zone free, or expired, takes it,
 *     and renews it at each tick.  A holder that dies (kill -9) stops
 *     renewing: within NGX_VOICEGW_FLUSH_LEASE another process takes over.
 *   - The holder copies records from the buffer's tail into its own
 *     memory, a slice at a time under the lock, and commits them in one
 *     transaction on the store's thread pool.  Only once that commit is
 *     done does the tail move: a holder that dies between the two leaves
 *     the records where they were, and the next holder commits them
 *     again, which adds nothing (ngx_voicegw_record_sql.c).  So kill -9
 *     of any nginx worker process loses no record that was accepted.
 *   - A process that exits (reload, quit) commits before it goes: the
 *     holder drains the whole buffer itself; any other waits, at most a
 *     few seconds, until its own records are committed, or takes the
 *     lease and commits them if the holder is gone.
 *   - Retention runs in the holder, once a minute, a step at a time.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_clock.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_recorder.h"
#include "ngx_voicegw_record_sql.h"
#include "ngx_voicegw_flusher.h"


/* bytes copied from the ring per hold of the lock */

#define NGX_VOICEGW_FLUSH_SLICE      (64 * 1024)

/* bytes committed per transaction, at most */

#define NGX_VOICEGW_FLUSH_BATCH      (2 * 1024 * 1024)

#define NGX_VOICEGW_RETENTION_EVERY  60000      /* ms */

#define NGX_VOICEGW_EXIT_WAIT        5000       /* ms */


typedef struct {
    ngx_voicegw_recorder_t      *rec;
    ngx_event_t                  tick;
    ngx_voicegw_store_op_t      *batch_op;
    ngx_voicegw_store_op_t      *retention_op;
    u_char                      *buf;
    size_t                       cap;
    uint64_t                     end;         /* ring position after it */
    ngx_uint_t                   n;
    unsigned                     busy:1;      /* an op is in flight */
    unsigned                     more:1;      /* retention left to do */
    unsigned                     full:1;      /* the last batch was */
    uint64_t                     retention_at;  /* monotonic, ms */
    uint64_t                     due;         /* the tick's, microseconds */
    uint32_t                     late_max;
    time_t                       failed_log;
} ngx_voicegw_flusher_t;


static void ngx_voicegw_flusher_tick(ngx_event_t *ev);
static ngx_uint_t ngx_voicegw_flusher_lease(ngx_voicegw_flusher_t *f,
    uint64_t now);
static ngx_uint_t ngx_voicegw_flusher_fill(ngx_voicegw_flusher_t *f);
static void ngx_voicegw_flusher_committed(ngx_voicegw_store_op_t *op);
static void ngx_voicegw_flusher_advance(ngx_voicegw_flusher_t *f);
static void ngx_voicegw_flusher_retained(ngx_voicegw_store_op_t *op);
static void ngx_voicegw_flusher_failed(ngx_voicegw_flusher_t *f,
    ngx_voicegw_store_op_t *op, const char *what);
static void ngx_voicegw_flusher_drain_now(ngx_voicegw_flusher_t *f);
static void ngx_voicegw_flusher_arm(ngx_voicegw_flusher_t *f);
static uint64_t ngx_voicegw_flusher_cpu_usec(void);


ngx_int_t
ngx_voicegw_flusher_init_process(ngx_cycle_t *cycle,
    ngx_voicegw_recorder_t *rec, ngx_voicegw_proc_t *proc)
{
    ngx_voicegw_flusher_t       *f;
    ngx_voicegw_record_batch_t  *b;

    if (rec == NULL || rec->sh == NULL) {
        return NGX_OK;
    }

    f = ngx_pcalloc(cycle->pool, sizeof(ngx_voicegw_flusher_t));
    if (f == NULL) {
        return NGX_ERROR;
    }

    f->rec = rec;
    f->cap = ngx_min(rec->sh->size, NGX_VOICEGW_FLUSH_BATCH);

    f->buf = ngx_palloc(cycle->pool, f->cap);
    if (f->buf == NULL) {
        return NGX_ERROR;
    }

    f->batch_op = ngx_voicegw_store_op_alloc(cycle->pool, rec->store,
                                        sizeof(ngx_voicegw_record_batch_t));
    f->retention_op = ngx_voicegw_store_op_alloc(cycle->pool, rec->store,
                                        sizeof(ngx_voicegw_retention_t));

    if (f->batch_op == NULL || f->retention_op == NULL) {
        return NGX_ERROR;
    }

    f->batch_op->write = 1;
    f->retention_op->write = 1;

    f->batch_op->run = ngx_voicegw_record_sql_batch;
    f->batch_op->done = ngx_voicegw_flusher_committed;
    f->retention_op->run = ngx_voicegw_record_sql_retention;
    f->retention_op->done = ngx_voicegw_flusher_retained;

    b = f->batch_op->data;
    b->owner = f;
    b->data = f->buf;

    ((ngx_voicegw_retention_t *) f->retention_op->data)->owner = f;

    f->tick.handler = ngx_voicegw_flusher_tick;
    f->tick.data = f;
    f->tick.log = cycle->log;
    f->tick.cancelable = 1;

    /* the first pass at the first tick of a holder, then once a minute */
    f->retention_at = 0;

    proc->flusher = f;

    ngx_voicegw_flusher_arm(f);

    return NGX_OK;
}


/*
 * The tick, and when it is due: how late it comes says how long the
 * event loop was held up, the figure /v1/metrics shows as
 * voicegw_event_loop_lag_max_seconds.
 */

static void
ngx_voicegw_flusher_arm(ngx_voicegw_flusher_t *f)
{
    f->due = ngx_voicegw_recorder_usec() + f->rec->store->flush * 1000;
    ngx_add_timer(&f->tick, f->rec->store->flush);
}


static void
ngx_voicegw_flusher_tick(ngx_event_t *ev)
{
    ngx_voicegw_flusher_t  *f = ev->data;

    uint64_t                  now, late, start;
    ngx_voicegw_retention_t  *rt;

    /*
     * nginx's timers have millisecond resolution and the cached time
     * lags: up to about 1 ms late is the clock, not a stall
     */

    late = ngx_voicegw_recorder_usec();
    late = (late > f->due) ? late - f->due : 0;
    start = ngx_voicegw_flusher_cpu_usec();

    if (late > f->late_max) {
        f->late_max = (uint32_t) ngx_min(late, 0xffffffff);

        if (ngx_process_slot >= 0 && ngx_process_slot < NGX_MAX_PROCESSES) {
            ngx_voicegw_zone_lock(f->rec->zone);
            f->rec->sh->late_max[ngx_process_slot] = f->late_max;
            ngx_voicegw_zone_unlock(f->rec->zone);
        }
    }

    if (!ngx_exiting) {
        ngx_voicegw_flusher_arm(f);
    }

    now = ngx_voicegw_mono_msec();

    if (!ngx_voicegw_flusher_lease(f, now) || f->busy) {
        return;
    }

    if (ngx_voicegw_flusher_fill(f)) {
        f->batch_op->request = NULL;

        if (ngx_voicegw_store_post(f->batch_op) == NGX_OK) {
            f->busy = 1;
        }

        ngx_voicegw_recorder_held(f->rec,
                                  ngx_voicegw_flusher_cpu_usec() - start, 0);
        return;
    }

    if (f->rec->store->retention && (f->more || now >= f->retention_at)) {
        f->retention_at = now + NGX_VOICEGW_RETENTION_EVERY;

        rt = f->retention_op->data;
        rt->before = (int64_t) ngx_voicegw_now_msec()
                     - (int64_t) f->rec->store->retention * 1000;
        rt->today = (int32_t) (ngx_time() / 86400);

        if (ngx_voicegw_store_post(f->retention_op) == NGX_OK) {
            f->busy = 1;
        }
    }
}


/* whether this process holds the lease (taken or renewed now) */

static ngx_uint_t
ngx_voicegw_flusher_lease(ngx_voicegw_flusher_t *f, uint64_t now)
{
    ngx_uint_t                  ours;
    ngx_voicegw_recorder_sh_t  *sh;

    sh = f->rec->sh;

    ngx_voicegw_zone_lock(f->rec->zone);

    if (sh->flusher != ngx_pid
        && sh->flusher != 0
        && sh->lease_until > now)
    {
        ours = 0;

    } else {
        if (sh->flusher != ngx_pid) {
            ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                          "voicegw: this process commits the request "
                          "records now%s",
                          sh->flusher ? " (the previous one stopped)" : "");
        }

        sh->flusher = ngx_pid;
        sh->lease_until = now + NGX_VOICEGW_FLUSH_LEASE;
        ours = 1;
    }

    ngx_voicegw_zone_unlock(f->rec->zone);

    return ours;
}


/* the next batch from the buffer's tail; whether there is one */

static ngx_uint_t
ngx_voicegw_flusher_fill(ngx_voicegw_flusher_t *f)
{
    size_t                       len, got;
    uint64_t                     pos;
    ngx_uint_t                   n, total;
    ngx_voicegw_record_batch_t  *b;

    b = f->batch_op->data;
    len = 0;
    total = 0;

    ngx_voicegw_zone_lock(f->rec->zone);
    pos = f->rec->sh->tail;
    ngx_voicegw_zone_unlock(f->rec->zone);

    /* a slice per hold of the lock, so that no request waits long */

    for ( ;; ) {
        ngx_voicegw_zone_lock(f->rec->zone);
        got = ngx_voicegw_recorder_copy_locked(f->rec->sh, f->buf + len,
                                   ngx_min(f->cap - len,
                                           NGX_VOICEGW_FLUSH_SLICE),
                                   &pos, &n);
        ngx_voicegw_zone_unlock(f->rec->zone);

        len += got;
        total += n;

        if (got == 0 || len + NGX_VOICEGW_FLUSH_SLICE > f->cap) {
            break;
        }
    }

    b->len = len;
    f->end = pos;
    f->n = total;
    f->full = (len + NGX_VOICEGW_FLUSH_SLICE > f->cap);
    b->backlog = f->full;

    return total > 0;
}


static void
ngx_voicegw_flusher_committed(ngx_voicegw_store_op_t *op)
{
    ngx_voicegw_record_batch_t  *b = op->data;

    uint64_t                start;
    ngx_voicegw_flusher_t  *f;

    start = ngx_voicegw_flusher_cpu_usec();

    f = b->owner;
    f->busy = 0;

    if (op->rc != NGX_OK) {
        ngx_voicegw_flusher_failed(f, op, "committing request records");
        return;
    }

    ngx_voicegw_flusher_advance(f);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "voicegw: %ui records committed, %ui new, %ui known",
                   f->n, b->inserted, b->known);

    /*
     * a full batch: more is waiting, the next batch now rather than at the
     * next tick; otherwise the tick gathers the next one (a transaction,
     * and its statements, per few records would cost the store's thread
     * more than the records)
     */

    if (!ngx_exiting && f->full && f->batch_op->task->event.active == 0
        && ngx_voicegw_flusher_fill(f)
        && ngx_voicegw_store_post(f->batch_op) == NGX_OK)
    {
        f->busy = 1;
    }

    ngx_voicegw_recorder_held(f->rec, ngx_voicegw_flusher_cpu_usec() - start,
                              0);
}


/*
 * The event-loop thread's CPU time: what the flusher's own work holds
 * the loop for, without the time the thread was not running at all
 * (another process or thread on the CPU, a paused machine).
 */

static uint64_t
ngx_voicegw_flusher_cpu_usec(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/* the tail moves past a committed batch; never backwards */

static void
ngx_voicegw_flusher_advance(ngx_voicegw_flusher_t *f)
{
    ngx_voicegw_recorder_sh_t  *sh;

    sh = f->rec->sh;

    ngx_voicegw_zone_lock(f->rec->zone);

    if (sh->tail < f->end) {
        sh->tail = f->end;
    }

    sh->committed += f->n;
    sh->last_commit = ngx_voicegw_now_msec();

    ngx_voicegw_zone_unlock(f->rec->zone);
}


static void
ngx_voicegw_flusher_retained(ngx_voicegw_store_op_t *op)
{
    ngx_voicegw_retention_t  *rt = op->data;

    ngx_voicegw_flusher_t  *f;

    f = rt->owner;
    f->busy = 0;

    if (op->rc != NGX_OK) {
        ngx_voicegw_flusher_failed(f, op, "retention");
        return;
    }

    /* a full step: more to delete, at the next tick */

    f->more = (rt->deleted == NGX_VOICEGW_RETENTION_STEP);

    if (rt->deleted) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "voicegw: retention deleted %ui request records",
                      rt->deleted);
    }
}


/*
 * The records stay in the buffer; said once a minute at most, and not at
 * all for a fault of the storage, which the store says once for all.
 */

static void
ngx_voicegw_flusher_failed(ngx_voicegw_flusher_t *f,
    ngx_voicegw_store_op_t *op, const char *what)
{
    if (ngx_time() - f->failed_log < 60
        || (op->fault != NGX_VOICEGW_STORE_HEALTHY
            && op->fault != NGX_VOICEGW_STORE_BUSY))
    {
        return;
    }

    f->failed_log = ngx_time();

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "voicegw_store: %s failed: %s; the records stay in the "
                  "buffer (a full buffer drops new ones)", what, op->err);
}


/*
 * The process exits: its records must be in the store before it goes.
 * The event loop and the thread pool are gone; the store is used at once.
 */

void
ngx_voicegw_flusher_exit_process(ngx_voicegw_proc_t *proc)
{
    uint64_t                    now, deadline;
    ngx_uint_t                  ours, done;
    ngx_voicegw_flusher_t      *f;
    ngx_voicegw_recorder_sh_t  *sh;

    f = proc->flusher;

    if (f == NULL) {
        return;
    }

    if (f->tick.timer_set) {
        ngx_del_timer(&f->tick);
    }

    sh = f->rec->sh;

    ngx_time_update();
    deadline = ngx_voicegw_mono_msec() + NGX_VOICEGW_EXIT_WAIT;

    for ( ;; ) {
        ngx_time_update();
        now = ngx_voicegw_mono_msec();

        ngx_voicegw_zone_lock(f->rec->zone);

        done = (sh->tail >= f->rec->mine && sh->flusher != ngx_pid);
        ours = (sh->flusher == ngx_pid || sh->flusher == 0
                || sh->lease_until <= now);

        if (!done && ours) {
            sh->flusher = ngx_pid;
            sh->lease_until = now + NGX_VOICEGW_FLUSH_LEASE;
        }

        ngx_voicegw_zone_unlock(f->rec->zone);

        if (done) {
            return;
        }

        if (ours) {
            ngx_voicegw_flusher_drain_now(f);
            return;
        }

        if (now >= deadline) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "voicegw: exiting before the flusher (pid %P) "
                          "committed this process's last records; they "
                          "stay in the buffer", sh->flusher);
            return;
        }

        ngx_msleep(10);
    }
}


static void
ngx_voicegw_flusher_drain_now(ngx_voicegw_flusher_t *f)
{
    ngx_voicegw_recorder_sh_t  *sh;

    sh = f->rec->sh;

    while (ngx_voicegw_flusher_fill(f)) {

        if (ngx_voicegw_store_run_now(f->batch_op) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "voicegw_store: committing request records at "
                          "exit failed: %s", f->batch_op->err);
            break;
        }

        ngx_voicegw_flusher_advance(f);

        /* renew the lease: draining a large buffer may take a while */

        ngx_time_update();

        ngx_voicegw_zone_lock(f->rec->zone);
        sh->lease_until = ngx_voicegw_mono_msec() + NGX_VOICEGW_FLUSH_LEASE;
        ngx_voicegw_zone_unlock(f->rec->zone);
    }

    ngx_voicegw_zone_lock(f->rec->zone);

    if (sh->flusher == ngx_pid) {
        sh->flusher = 0;
        sh->lease_until = 0;
    }

    ngx_voicegw_zone_unlock(f->rec->zone);
}
