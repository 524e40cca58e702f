
/*
 * ngx_voicegw_store_conn.c
 *
 * Owns a worker process's connection to the database and its health:
 * opening it, the checks before each op, which failures are the
 * storage's rather than one statement's (a read-only file or folder, a
 * full disk, corruption, I/O errors, a lock held past the busy timeout, a
 * WAL file deleted under the running gateway), the recovery from a
 * deleted WAL file, and the error log's one line when a condition starts
 * and one when it ends, however many requests and processes meet it.
 *
 *   - The condition is shared by the processes (a part of the zone, under
 *     its lock; without a zone each process keeps its own), so that N
 *     worker processes and a thousand failed writes say it once.
 *
 *   - A write is tried only when the file and its folder are writable for
 *     the process (access()): an open descriptor writes on after a chmod,
 *     the next process to open the file would not.
 *
 *   - Writes that succeed for a second, with no failure between, end the
 *     condition: the fault was removed, and the store goes on without a
 *     restart.  Reads are not proof (a read-only or full store still
 *     reads), and one write is not either (a full disk takes the write
 *     that fits in the WAL's free pages).
 *
 *   - A deleted WAL file: the processes' connections still hold it open,
 *     and every committed transaction is in it.  The first process to see
 *     the name gone copies it into the database (a TRUNCATE checkpoint,
 *     through the file it holds), closes its connection without a second
 *     checkpoint and reopens, which creates a new WAL; the others follow
 *     the new WAL once the zone says it is the recovered one.  One process
 *     at a time, by a claim in the zone.  Every process looks at least
 *     every second (ngx_voicegw_store_ops.c), and a process does not open
 *     the database while its -shm file says that others hold a WAL whose
 *     name is gone: a new WAL of its own would split the processes
 *     between two.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_schema.h"


static ngx_int_t ngx_voicegw_store_wal_check(ngx_voicegw_store_op_t *op);
static ngx_int_t ngx_voicegw_store_wal_recover(ngx_voicegw_store_op_t *op,
    ngx_uint_t lost);
static ngx_int_t ngx_voicegw_store_wal_follow(ngx_voicegw_store_op_t *op);
static void ngx_voicegw_store_close(ngx_voicegw_store_t *store);
static void ngx_voicegw_store_sh_lock(ngx_voicegw_store_t *store);
static void ngx_voicegw_store_sh_unlock(ngx_voicegw_store_t *store);


static const char  *ngx_voicegw_store_conditions[] = {
    "works",
    "cannot be written",
    "is full",
    "is corrupt",
    "fails with I/O errors",
    "is locked by another process",
    "lost its WAL file"
};


ngx_int_t
ngx_voicegw_store_init_zone(ngx_voicegw_zone_t *zone, void *data,
    ngx_uint_t reused)
{
    ngx_voicegw_store_t  *store = data;

    store->sh = ngx_voicegw_zone_part_locked(zone, "store",
                                             sizeof(ngx_voicegw_store_sh_t));
    if (store->sh == NULL) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "voicegw_zone \"%V\" is too small for voicegw_store",
                      &zone->shm_zone->shm.name);
        return NGX_ERROR;
    }

    store->zone = zone;

    return NGX_OK;
}


/* in a worker process, before its first op */

ngx_int_t
ngx_voicegw_store_conn_init(ngx_cycle_t *cycle, ngx_voicegw_store_t *store)
{
    if (store->sh == NULL) {
        store->sh = ngx_pcalloc(cycle->pool, sizeof(ngx_voicegw_store_sh_t));
        if (store->sh == NULL) {
            return NGX_ERROR;
        }
    }

    store->wal_path = ngx_pnalloc(cycle->pool, 2 * (store->path.len
                                                    + sizeof("-wal")));
    if (store->wal_path == NULL) {
        return NGX_ERROR;
    }

    store->shm_path = ngx_sprintf(store->wal_path, "%V-wal%Z", &store->path);
    ngx_sprintf(store->shm_path, "%V-shm%Z", &store->path);

    return NGX_OK;
}


/* called in a thread, with the store's mutex held */

ngx_int_t
ngx_voicegw_store_open(ngx_voicegw_store_t *store, ngx_voicegw_store_op_t *op)
{
    int               rc;
    sqlite3          *db;

    db = NULL;

    if (ngx_voicegw_store_may_open(op) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = sqlite3_open_v2((char *) store->path.data, &db,
                         SQLITE_OPEN_READWRITE|SQLITE_OPEN_NOMUTEX
                         |SQLITE_OPEN_NOFOLLOW, NULL);

    if (rc != SQLITE_OK) {
        op->sqlite_rc = db ? sqlite3_extended_errcode(db) : rc;
        ngx_snprintf(op->err, sizeof(op->err), "%s%Z",
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
        ngx_snprintf(op->err, sizeof(op->err),
                     "the file is read-only for this process%Z");
        op->fault = NGX_VOICEGW_STORE_READ_ONLY;
        goto failed;
    }

    if (ngx_voicegw_schema_configure(db, op->err, sizeof(op->err)) != NGX_OK
        || ngx_voicegw_schema_check(db, op->err, sizeof(op->err)) != NGX_OK)
    {
        op->sqlite_rc = sqlite3_extended_errcode(db);
        goto failed;
    }

    store->db = db;

    /* the WAL this connection writes, checked before every op */

    return ngx_voicegw_store_opened(op);

failed:

    if (db != NULL) {
        sqlite3_close(db);
    }

    return NGX_ERROR;
}


/*
 * In the thread, before a connection is opened: no -wal file beside a
 * -shm file means that other processes write a WAL whose name is gone
 * (the last connection to close deletes both); they copy it into the
 * database within a second.  Waited for 5 s at most: a process that
 * crashed while closing may have left a -shm file alone.
 */

ngx_int_t
ngx_voicegw_store_may_open(ngx_voicegw_store_op_t *op)
{
    ngx_file_info_t       fi;
    ngx_voicegw_store_t  *store;

    store = op->store;
    store->wal_ino = 0;

    if (ngx_file_info(store->wal_path, &fi) != NGX_FILE_ERROR) {
        /* the WAL the others write; opened, it must still be the one */
        store->wal_ino = ngx_file_uniq(&fi);
    }

    if (store->wal_wait == NGX_MAX_TIME_T_VALUE
        || store->wal_ino
        || ngx_errno != NGX_ENOENT
        || ngx_file_info(store->shm_path, &fi) == NGX_FILE_ERROR)
    {
        store->wal_wait = 0;
        return NGX_OK;
    }

    if (store->wal_wait == 0) {
        store->wal_wait = ngx_time();
    }

    if (ngx_time() - store->wal_wait >= 5) {
        return NGX_OK;
    }

    ngx_snprintf(op->err, sizeof(op->err),
                 "its WAL file is missing while other processes have it "
                 "open: waiting for them to copy it into the database%Z");
    op->fault = NGX_VOICEGW_STORE_IO;

    return NGX_ERROR;
}


/*
 * In the thread, a connection just opened: the WAL at the path must be
 * the one that was there before.  Deleted meanwhile, SQLite has started
 * a new one, which would split the processes between two WAL files:
 * this connection is closed and its new WAL removed, so that the
 * processes holding the old one see it gone and copy it over.
 */

ngx_int_t
ngx_voicegw_store_opened(ngx_voicegw_store_op_t *op)
{
    ino_t                 seen;
    ngx_file_info_t       fi;
    ngx_voicegw_store_t  *store;

    store = op->store;
    seen = store->wal_ino;

    store->wal_ino = (ngx_file_info(store->wal_path, &fi) == NGX_FILE_ERROR)
                     ? 0 : ngx_file_uniq(&fi);

    if (seen == 0 || store->wal_ino == seen) {
        return NGX_OK;
    }

    ngx_voicegw_store_close(store);

    if (ngx_file_info(store->wal_path, &fi) != NGX_FILE_ERROR
        && ngx_file_uniq(&fi) != seen)
    {
        (void) ngx_delete_file(store->wal_path);
    }

    ngx_snprintf(op->err, sizeof(op->err),
                 "its WAL file was deleted while the database was being "
                 "opened: waiting for the other processes to copy it into "
                 "the database%Z");
    op->fault = NGX_VOICEGW_STORE_IO;

    return NGX_ERROR;
}


/*
 * In the thread, the store's mutex held, the connection open: NGX_OK to
 * run the op; otherwise op->err and op->fault say why not.
 */

ngx_int_t
ngx_voicegw_store_before(ngx_voicegw_store_op_t *op)
{
    ngx_voicegw_store_t  *store;

    store = op->store;

    if (ngx_voicegw_store_wal_check(op) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!op->write) {
        return NGX_OK;
    }

    /*
     * An open descriptor writes on after a chmod; the next process to
     * open the file would not.  The same answer for all, before
     * anything is written: the worker processes' user must be able to
     * write the file and its folder (the -wal and -shm files live there).
     */

    if (access((char *) store->path.data, W_OK) == -1) {
        ngx_snprintf(op->err, sizeof(op->err),
                     "the file \"%V\" is not writable: %s%Z",
                     &store->path, strerror(ngx_errno));
        op->fault = NGX_VOICEGW_STORE_READ_ONLY;
        return NGX_ERROR;
    }

    if (access((char *) store->dir.data, W_OK) == -1) {
        ngx_snprintf(op->err, sizeof(op->err),
                     "its folder \"%V\" is not writable: %s%Z",
                     &store->dir, strerror(ngx_errno));
        op->fault = NGX_VOICEGW_STORE_READ_ONLY;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* in the thread, after the op (or its connection) failed */

void
ngx_voicegw_store_after(ngx_voicegw_store_op_t *op)
{
    if (op->fault != NGX_VOICEGW_STORE_HEALTHY) {
        return;
    }

    if (op->sqlite_rc == SQLITE_OK && op->store->db != NULL) {
        op->sqlite_rc = sqlite3_extended_errcode(op->store->db);
    }

    switch (op->sqlite_rc & 0xff) {

    case SQLITE_READONLY:
    case SQLITE_PERM:
        op->fault = NGX_VOICEGW_STORE_READ_ONLY;
        break;

    case SQLITE_FULL:
        op->fault = NGX_VOICEGW_STORE_FULL;
        break;

    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        op->fault = NGX_VOICEGW_STORE_CORRUPT;
        break;

    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
        /* ENOSPC while growing the -shm file, EROFS and EPERM of a write */
        op->fault = (op->sqlite_rc == SQLITE_IOERR_SHMSIZE)
                    ? NGX_VOICEGW_STORE_FULL : NGX_VOICEGW_STORE_IO;
        break;

    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        op->fault = NGX_VOICEGW_STORE_BUSY;
        break;

    default:
        break;
    }
}


/*
 * Back on the event loop, after every op: a condition that starts is
 * logged once, and once when a write shows it has ended.
 */

void
ngx_voicegw_store_health(ngx_voicegw_store_op_t *op)
{
    u_char                   code[32];
    time_t                   since;
    ngx_uint_t               was;
    ngx_voicegw_store_t     *store;
    ngx_voicegw_store_sh_t  *sh;

    store = op->store;
    sh = store->sh;

    if (sh == NULL) {
        return;
    }

    if (op->fault == NGX_VOICEGW_STORE_WAL_LOST) {
        /* an event, not a condition: the process that recovered says it */
        ngx_log_error(NGX_LOG_ERR, store->log, 0,
                      "voicegw_store: \"%V\" lost its WAL file while open "
                      "(deleted?): %s", &store->path, op->err);
        return;
    }

    if (op->fault == NGX_VOICEGW_STORE_BUSY) {
        /* another process's long transaction: not the storage's fault */
        return;
    }

    if (op->fault != NGX_VOICEGW_STORE_HEALTHY) {

        ngx_voicegw_store_sh_lock(store);

        was = sh->fault;
        sh->ok_since = 0;

        if (was != op->fault) {
            sh->fault = op->fault;
            sh->since = ngx_time();
        }

        ngx_voicegw_store_sh_unlock(store);

        if (was != op->fault) {
            code[0] = '\0';

            if (op->sqlite_rc) {
                ngx_sprintf(code, " (SQLite code %d)%Z", op->sqlite_rc);
            }

            ngx_log_error(NGX_LOG_ERR, store->log, 0,
                          "voicegw_store: \"%V\" %s: %s%s; writes are "
                          "refused and request records wait in the buffer "
                          "(new ones are dropped once it is full) until it "
                          "is fixed",
                          &store->path, ngx_voicegw_store_conditions[op->fault],
                          op->err, code);
        }

        return;
    }

    if (op->rc != NGX_OK || !op->write || sh->fault == 0) {
        return;
    }

    ngx_voicegw_store_sh_lock(store);

    was = sh->fault;
    since = sh->since;

    if (sh->ok_since == 0) {
        sh->ok_since = ngx_time();
        was = NGX_VOICEGW_STORE_HEALTHY;

    } else if (ngx_time() - sh->ok_since >= 1) {
        sh->fault = NGX_VOICEGW_STORE_HEALTHY;
        sh->ok_since = 0;

    } else {
        was = NGX_VOICEGW_STORE_HEALTHY;
    }

    ngx_voicegw_store_sh_unlock(store);

    if (was != NGX_VOICEGW_STORE_HEALTHY) {
        ngx_log_error(NGX_LOG_NOTICE, store->log, 0,
                      "voicegw_store: \"%V\" works again (it %s for %T s)",
                      &store->path, ngx_voicegw_store_conditions[was],
                      ngx_time() - since);
    }
}


/*
 * What a client is told of a failed op: the HTTP status, an error code
 * and what happened, in words.
 */

ngx_uint_t
ngx_voicegw_store_fault_status(ngx_voicegw_store_op_t *op, const char **code,
    const char **what)
{
    switch (op->fault) {

    case NGX_VOICEGW_STORE_READ_ONLY:
        *code = "store_read_only";
        *what = "the store cannot be written (read-only)";
        return NGX_HTTP_SERVICE_UNAVAILABLE;

    case NGX_VOICEGW_STORE_FULL:
        *code = "store_full";
        *what = "the store's disk is full";
        return NGX_HTTP_INSUFFICIENT_STORAGE;

    case NGX_VOICEGW_STORE_CORRUPT:
        *code = "store_corrupt";
        *what = "the store's database file is corrupt";
        return NGX_HTTP_SERVICE_UNAVAILABLE;

    case NGX_VOICEGW_STORE_IO:
    case NGX_VOICEGW_STORE_WAL_LOST:
        *code = "store_unavailable";
        *what = "the store fails with I/O errors";
        return NGX_HTTP_SERVICE_UNAVAILABLE;

    case NGX_VOICEGW_STORE_BUSY:
        *code = "store_busy";
        *what = "the store is locked by another process";
        return NGX_HTTP_SERVICE_UNAVAILABLE;

    default:
        *code = "store_error";
        *what = "the store failed";
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/*
 * The WAL file the connection writes must still be the one of the path:
 * deleted, or replaced by a recovery in another process, it is not.
 */

static ngx_int_t
ngx_voicegw_store_wal_check(ngx_voicegw_store_op_t *op)
{
    ngx_file_info_t       fi;
    ngx_voicegw_store_t  *store;

    store = op->store;

    if (ngx_file_info(store->wal_path, &fi) == NGX_FILE_ERROR) {

        if (ngx_errno != NGX_ENOENT) {
            return NGX_OK;
        }

        return ngx_voicegw_store_wal_recover(op, 1);
    }

    if (store->wal_ino == 0) {
        /* the name was gone for a moment when the connection opened */
        store->wal_ino = ngx_file_uniq(&fi);
        return NGX_OK;
    }

    if (ngx_file_uniq(&fi) != store->wal_ino) {
        return ngx_voicegw_store_wal_follow(op);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_store_wal_recover(ngx_voicegw_store_op_t *op, ngx_uint_t lost)
{
    int                      rc, frames, copied;
    ngx_pid_t                claim;
    ngx_uint_t               waited;
    ngx_file_info_t          fi;
    ngx_voicegw_store_t     *store;
    ngx_voicegw_store_sh_t  *sh;

    store = op->store;
    sh = store->sh;

    for (waited = 0; lost; waited += 10) {

        ngx_voicegw_store_sh_lock(store);

        claim = sh->wal_claim;

        if (claim == 0 || claim == ngx_pid || kill(claim, 0) == -1) {
            claim = 0;

            /* the name is still gone: this process recovers */

            if (ngx_file_info(store->wal_path, &fi) == NGX_FILE_ERROR) {
                sh->wal_claim = ngx_pid;

            } else {
                lost = 0;
            }
        }

        ngx_voicegw_store_sh_unlock(store);

        if (claim == 0) {
            break;
        }

        /* another process is at it: a few milliseconds, in this thread */

        if (waited >= NGX_VOICEGW_STORE_BUSY_TIMEOUT) {
            ngx_snprintf(op->err, sizeof(op->err),
                         "process %P is recovering the deleted WAL file%Z",
                         claim);
            op->fault = NGX_VOICEGW_STORE_IO;
            return NGX_ERROR;
        }

        ngx_msleep(10);
    }

    if (!lost) {
        return ngx_voicegw_store_wal_follow(op);
    }

    /* count what is copied, then empty the file with a second pass */

    rc = sqlite3_wal_checkpoint_v2(store->db, NULL, SQLITE_CHECKPOINT_FULL,
                                   &frames, &copied);

    if (rc == SQLITE_OK) {
        rc = sqlite3_wal_checkpoint_v2(store->db, NULL,
                                       SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }

    if (rc == SQLITE_OK) {
        ngx_voicegw_store_close(store);

        /* this process starts the new WAL: the others wait for it */
        store->wal_wait = NGX_MAX_TIME_T_VALUE;

        if (ngx_voicegw_store_open(store, op) == NGX_OK) {
            ngx_snprintf(op->err, sizeof(op->err),
                         "its %d committed frames were copied into the "
                         "database, and a new WAL file started%Z", copied);
            op->fault = NGX_VOICEGW_STORE_WAL_LOST;
        }

    } else {
        op->sqlite_rc = rc;
        ngx_snprintf(op->err, sizeof(op->err),
                     "the WAL file was deleted, and copying it into the "
                     "database failed: %s%Z", sqlite3_errmsg(store->db));
    }

    ngx_voicegw_store_sh_lock(store);

    sh->wal_claim = 0;

    if (store->db != NULL) {
        sh->wal_ino = store->wal_ino;
    }

    ngx_voicegw_store_sh_unlock(store);

    /* the op itself runs on the new connection */

    return (rc == SQLITE_OK && store->db != NULL) ? NGX_OK : NGX_ERROR;
}


/*
 * Another WAL has the name: the one a recovery started (the old one is in
 * the database now), or one that a process opening the database just
 * created by mistake and is about to remove (ngx_voicegw_store_opened):
 * followed only in the first case.
 */

static ngx_int_t
ngx_voicegw_store_wal_follow(ngx_voicegw_store_op_t *op)
{
    ino_t                 recovered;
    ngx_file_info_t       fi;
    ngx_voicegw_store_t  *store;

    store = op->store;

    ngx_voicegw_store_sh_lock(store);
    recovered = store->sh->wal_ino;
    ngx_voicegw_store_sh_unlock(store);

    if (ngx_file_info(store->wal_path, &fi) == NGX_FILE_ERROR
        || ngx_file_uniq(&fi) != recovered)
    {
        ngx_snprintf(op->err, sizeof(op->err),
                     "its WAL file was replaced by another process%Z");
        op->fault = NGX_VOICEGW_STORE_IO;
        return NGX_ERROR;
    }

    ngx_voicegw_store_close(store);

    return ngx_voicegw_store_open(store, op);
}


/* a connection whose WAL is gone or not the path's: no checkpoint of it */

static void
ngx_voicegw_store_close(ngx_voicegw_store_t *store)
{
    (void) sqlite3_db_config(store->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,
                             NULL);
    (void) sqlite3_close_v2(store->db);

    store->db = NULL;
    store->wal_ino = 0;
}


static void
ngx_voicegw_store_sh_lock(ngx_voicegw_store_t *store)
{
    if (store->zone) {
        ngx_voicegw_zone_lock(store->zone);
    }
}


static void
ngx_voicegw_store_sh_unlock(ngx_voicegw_store_t *store)
{
    if (store->zone) {
        ngx_voicegw_zone_unlock(store->zone);
    }
}
