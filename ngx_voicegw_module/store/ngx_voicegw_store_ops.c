
/*
 * ngx_voicegw_store_ops.c
 *
 * Owns the store in a worker process: its connection and the ops that
 * run on it.
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
 */


#include "ngx_voicegw_module.h"

#include <sys/resource.h>
#include <sys/syscall.h>


#define NGX_VOICEGW_STORE_NICE  10
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_schema.h"


static ngx_int_t ngx_voicegw_store_open(ngx_voicegw_store_t *store,
    u_char *err, size_t len);
static void ngx_voicegw_store_thread_handler(void *data, ngx_log_t *log);
static void ngx_voicegw_store_event_handler(ngx_event_t *ev);
static ngx_int_t ngx_voicegw_store_open_run(ngx_voicegw_store_op_t *op,
    sqlite3 *db);
static void ngx_voicegw_store_open_done(ngx_voicegw_store_op_t *op);


ngx_int_t
ngx_voicegw_store_init_process(ngx_cycle_t *cycle, ngx_voicegw_store_t *store)
{
    ngx_voicegw_store_op_t  *op;

    store->log = cycle->log;

    if (ngx_thread_mutex_create(&store->mutex, cycle->log) != NGX_OK) {
        return NGX_ERROR;
    }

    store->mutex_ready = 1;

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


/* called in a thread, with the store's mutex held */

static ngx_int_t
ngx_voicegw_store_open(ngx_voicegw_store_t *store, u_char *err, size_t len)
{
    int       rc;
    sqlite3  *db;

    db = NULL;

    rc = sqlite3_open_v2((char *) store->path.data, &db,
                         SQLITE_OPEN_READWRITE|SQLITE_OPEN_NOMUTEX
                         |SQLITE_OPEN_NOFOLLOW, NULL);

    if (rc != SQLITE_OK) {
        ngx_snprintf(err, len, "%s%Z",
                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto failed;
    }

    /*
     * SQLite opens a file it cannot write read-only, silently; such a
     * connection would fail every write even after the file is fixed,
     * and its first read would leave a -shm file as read-only as the
     * database.  Refused before any read: the next op tries again.
     */

    if (sqlite3_db_readonly(db, "main")) {
        ngx_snprintf(err, len, "the file is read-only for this process%Z");
        goto failed;
    }

    if (ngx_voicegw_schema_configure(db, err, len) != NGX_OK
        || ngx_voicegw_schema_check(db, err, len) != NGX_OK)
    {
        goto failed;
    }

    store->db = db;

    return NGX_OK;

failed:

    if (db != NULL) {
        sqlite3_close(db);
    }

    return NGX_ERROR;
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

    if (store->db == NULL
        && ngx_voicegw_store_open(store, op->err, sizeof(op->err)) != NGX_OK)
    {
        op->rc = NGX_ERROR;

    } else {
        op->rc = op->run(op, store->db);
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

    op->done(op);
}
