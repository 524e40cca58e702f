
/*
 * ngx_voicegw_store_ops.c
 *
 * Owns the ops of a worker process: the statements run in a thread of
 * the store's pool on the process's connection (opened and checked by
 * ngx_voicegw_store_conn.c), and the op that looks at the connection
 * every second.
 *
 *   - A connection never crosses fork().  Each worker process opens its
 *     own, lazily, in a thread of the store's thread pool (the first op
 *     is posted from init_process and says "ready" in the error log).
 *
 *   - The event loop never waits for SQLite.  Statements run as thread
 *     tasks ("ops"); one mutex per process serialises them on the
 *     process's connection, and the op's completion handler runs back on
 *     the event loop.  Several processes share the file through WAL mode
 *     and a busy timeout, in the thread, never on the event loop.
 *
 *   - While an op is under way, a timer that is not cancelable is set:
 *     an exiting process (nginx -s reload, quit) leaves only once no
 *     timer of that kind is left, and a thread task is not one, so the
 *     requests waiting for an op (the API's, a provider call waiting for
 *     the entities) would otherwise be cut when it exits.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_schema.h"

#include <sys/resource.h>
#include <sys/syscall.h>


#define NGX_VOICEGW_STORE_NICE  10
#define NGX_VOICEGW_STORE_HOLD  60000       /* ms, set again while ops run */


static void ngx_voicegw_store_thread_handler(void *data, ngx_log_t *log);
static void ngx_voicegw_store_event_handler(ngx_event_t *ev);
static void ngx_voicegw_store_hold(ngx_event_t *ev);
static ngx_int_t ngx_voicegw_store_open_run(ngx_voicegw_store_op_t *op,
    sqlite3 *db);
static void ngx_voicegw_store_open_done(ngx_voicegw_store_op_t *op);
static void ngx_voicegw_store_check_tick(ngx_event_t *ev);
static ngx_int_t ngx_voicegw_store_check_run(ngx_voicegw_store_op_t *op,
    sqlite3 *db);
static void ngx_voicegw_store_check_done(ngx_voicegw_store_op_t *op);


ngx_int_t
ngx_voicegw_store_init_process(ngx_cycle_t *cycle, ngx_voicegw_store_t *store)
{
    ngx_voicegw_store_op_t  *op;

    store->log = cycle->log;

    if (ngx_thread_mutex_create(&store->mutex, cycle->log) != NGX_OK) {
        return NGX_ERROR;
    }

    store->mutex_ready = 1;

    if (ngx_voicegw_store_conn_init(cycle, store) != NGX_OK) {
        return NGX_ERROR;
    }

    /* every second, an op that checks the WAL and retries a failed open */

    store->check_op = ngx_voicegw_store_op_alloc(cycle->pool, store, 0);
    if (store->check_op == NULL) {
        return NGX_ERROR;
    }

    store->check_op->run = ngx_voicegw_store_check_run;
    store->check_op->done = ngx_voicegw_store_check_done;

    store->check.handler = ngx_voicegw_store_check_tick;
    store->check.data = store;
    store->check.log = cycle->log;
    store->check.cancelable = 1;

    ngx_add_timer(&store->check, 1000);

    store->hold.handler = ngx_voicegw_store_hold;
    store->hold.data = store;
    store->hold.log = cycle->log;

    /* open the connection in a thread; the first statement would anyway */

    op = ngx_voicegw_store_op_alloc(cycle->pool, store, 0);
    if (op == NULL) {
        return NGX_ERROR;
    }

    op->run = ngx_voicegw_store_open_run;
    op->done = ngx_voicegw_store_open_done;

    return ngx_voicegw_store_post(op);
}


void
ngx_voicegw_store_exit_process(ngx_voicegw_store_t *store)
{
    /* the thread pools have been stopped by now */

    if (store->db != NULL) {
        (void) sqlite3_close_v2(store->db);
        store->db = NULL;
    }

    if (store->mutex_ready) {
        (void) ngx_thread_mutex_destroy(&store->mutex, store->log);
        store->mutex_ready = 0;
    }
}


static ngx_int_t
ngx_voicegw_store_open_run(ngx_voicegw_store_op_t *op, sqlite3 *db)
{
    /* the thread handler has opened the connection already */

    return NGX_OK;
}


static void
ngx_voicegw_store_open_done(ngx_voicegw_store_op_t *op)
{
    if (op->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, op->store->log, 0,
                      "voicegw_store: cannot open \"%V\": %s",
                      &op->store->path, op->err);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, op->store->log, 0,
                  "voicegw_store: \"%V\" ready, schema version %d",
                  &op->store->path, NGX_VOICEGW_STORE_SCHEMA);
}


static void
ngx_voicegw_store_check_tick(ngx_event_t *ev)
{
    ngx_voicegw_store_t  *store = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (!store->check_busy
        && ngx_voicegw_store_post(store->check_op) == NGX_OK)
    {
        store->check_busy = 1;
    }

    ngx_add_timer(&store->check, 1000);
}


static ngx_int_t
ngx_voicegw_store_check_run(ngx_voicegw_store_op_t *op, sqlite3 *db)
{
    /* the thread handler has opened and checked the connection already */

    return NGX_OK;
}


static void
ngx_voicegw_store_check_done(ngx_voicegw_store_op_t *op)
{
    op->store->check_busy = 0;
}


ngx_voicegw_store_op_t *
ngx_voicegw_store_op_alloc(ngx_pool_t *pool, ngx_voicegw_store_t *store,
    size_t size)
{
    ngx_thread_task_t       *task;
    ngx_voicegw_store_op_t  *op;

    task = ngx_thread_task_alloc(pool, sizeof(ngx_voicegw_store_op_t)
                                       + NGX_ALIGNMENT + size);
    if (task == NULL) {
        return NULL;
    }

    op = task->ctx;
    ngx_memzero(op, sizeof(ngx_voicegw_store_op_t));

    op->store = store;
    op->task = task;

    if (size) {
        op->data = ngx_align_ptr((u_char *) (op + 1), NGX_ALIGNMENT);
        ngx_memzero(op->data, size);
    }

    task->handler = ngx_voicegw_store_thread_handler;
    task->event.handler = ngx_voicegw_store_event_handler;
    task->event.data = op;

    return op;
}


ngx_int_t
ngx_voicegw_store_post(ngx_voicegw_store_op_t *op)
{
    ngx_http_request_t  *r;

    /* an op may be posted again: what went wrong last time is gone */

    op->sqlite_rc = SQLITE_OK;
    op->fault = NGX_VOICEGW_STORE_HEALTHY;

    r = op->request;

    if (r != NULL) {
        r->main->blocked++;
        r->aio = 1;
    }

    if (ngx_thread_task_post(op->store->thread_pool, op->task) != NGX_OK) {

        if (r != NULL) {
            r->main->blocked--;
            r->aio = 0;
        }

        return NGX_ERROR;
    }

    if (op->store->running++ == 0) {
        ngx_add_timer(&op->store->hold, NGX_VOICEGW_STORE_HOLD);
    }

    return NGX_OK;
}


/*
 * An op run at once, in the calling thread: only for a process that is
 * exiting (its event loop and the thread pool are gone), to commit what
 * must not be lost.  Blocks until SQLite is done.
 */

ngx_int_t
ngx_voicegw_store_run_now(ngx_voicegw_store_op_t *op)
{
    ngx_voicegw_store_thread_handler(op, op->store->log);

    return op->rc;
}


/* a thread of the pool: only SQLite and plain memory from here on */

static void
ngx_voicegw_store_thread_handler(void *data, ngx_log_t *log)
{
    ngx_voicegw_store_op_t  *op = data;

    ngx_voicegw_store_t  *store;

    store = op->store;

    /*
     * below the event loops: on a machine short of CPUs, SQLite's work
     * waits for the requests, not the other way round (Linux: nice is
     * per thread)
     */

    (void) setpriority(PRIO_PROCESS, (id_t) syscall(SYS_gettid),
                       NGX_VOICEGW_STORE_NICE);

    if (ngx_thread_mutex_lock(&store->mutex, log) != NGX_OK) {
        op->rc = NGX_ERROR;
        ngx_snprintf(op->err, sizeof(op->err), "mutex failed%Z");
        return;
    }

    if ((store->db == NULL && ngx_voicegw_store_open(store, op) != NGX_OK)
        || ngx_voicegw_store_before(op) != NGX_OK)
    {
        op->rc = NGX_ERROR;

    } else {
        op->rc = op->run(op, store->db);
    }

    if (op->rc == NGX_ERROR) {
        ngx_voicegw_store_after(op);
    }

    (void) ngx_thread_mutex_unlock(&store->mutex, log);
}


/* back on the event loop */

static void
ngx_voicegw_store_event_handler(ngx_event_t *ev)
{
    ngx_voicegw_store_op_t  *op = ev->data;

    ngx_http_request_t  *r;

    r = op->request;

    if (r != NULL) {
        r->main->blocked--;
        r->aio = 0;
    }

    if (--op->store->running == 0 && op->store->hold.timer_set) {
        ngx_del_timer(&op->store->hold);
    }

    ngx_voicegw_store_health(op);

    op->done(op);
}


/* an op still under way after NGX_VOICEGW_STORE_HOLD: keep holding */

static void
ngx_voicegw_store_hold(ngx_event_t *ev)
{
    ngx_voicegw_store_t  *store = ev->data;

    if (store->running) {
        ngx_add_timer(ev, NGX_VOICEGW_STORE_HOLD);
    }
}
