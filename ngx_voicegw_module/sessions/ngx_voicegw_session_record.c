
/*
 * ngx_voicegw_session_record.c
 *
 * Owns the gateway's records of a session: when a task with a session id
 * starts, PATH/{id}/ and its meta.json (session_id, type, created_at,
 * ended_at, duration_s, worker, config) and a row of the store's
 * "sessions" index; when the task's worker is released, ended_at in
 * both.  The pools call in through the hooks the root sets
 * (ngx_voicegw_pools_t's session_start and session_end).
 *
 *   - Files are written on the sessions' thread pool, the index through
 *     the store's ops: never on the event loop.
 *
 *   - meta.json appears whole (a temporary file linked into place) and
 *     is never overwritten at start: a worker that wrote its own keeps
 *     it.  At the end only a meta.json of ours is rewritten (it still
 *     says "ended_at":null in our spelling), atomically.
 *
 *   - A record lives in a pool of its own, from the task's start until
 *     both its start and its end are written, whichever order the
 *     threads finish in; the request may be long gone by then.
 *
 *   - The client_diagnostic messages the duplex relay keeps from the
 *     worker are appended to PATH/{id}/client_diagnostic.jsonl, one line
 *     each (O_APPEND, a write each), also off the event loop.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_sql.h"
#include "ngx_voicegw_sessions.h"
#include "ngx_voicegw_session_record.h"


#define NGX_VOICEGW_META_MAX   65536
#define NGX_VOICEGW_META_OPEN  "\"ended_at\":null,\"duration_s\":null"


typedef struct {
    ngx_pool_t                  *pool;
    ngx_voicegw_sessions_t      *sessions;
    ngx_str_t                    id;
    ngx_str_t                    type;
    ngx_str_t                    worker;
    time_t                       started;
    time_t                       ended;
    ngx_str_t                    meta;          /* what we write at start */
    unsigned                     start_done:1;
    unsigned                     ending:1;      /* end() called */
    unsigned                     end_posted:1;
} ngx_voicegw_session_rec_t;


/* a store op's batch (first: the op runs it) and whose it is */

typedef struct {
    ngx_voicegw_sql_batch_t      batch;
    ngx_voicegw_session_rec_t   *rec;
    ngx_uint_t                   end;
    u_char                       when[32];
} ngx_voicegw_session_sql_t;


static void ngx_voicegw_session_start_run(ngx_voicegw_session_io_t *io);
static void ngx_voicegw_session_start_done(ngx_voicegw_session_io_t *io);
static void ngx_voicegw_session_end_post(ngx_voicegw_session_rec_t *rec);
static void ngx_voicegw_session_end_run(ngx_voicegw_session_io_t *io);
static void ngx_voicegw_session_end_done(ngx_voicegw_session_io_t *io);
static ngx_int_t ngx_voicegw_session_index(ngx_voicegw_session_rec_t *rec,
    ngx_uint_t end);
static void ngx_voicegw_session_index_done(ngx_voicegw_store_op_t *op);
static ngx_int_t ngx_voicegw_session_write(u_char *path, u_char *data,
    size_t len, ngx_uint_t replace);
static void ngx_voicegw_session_rec_free(ngx_voicegw_session_rec_t *rec);
static void ngx_voicegw_session_append_run(ngx_voicegw_session_io_t *io);
static void ngx_voicegw_session_append_done(ngx_voicegw_session_io_t *io);


/* a line to append to a file of a session's folder */

typedef struct {
    ngx_pool_t                  *pool;
    u_char                      *dir;
    u_char                      *path;
    ngx_str_t                    line;
} ngx_voicegw_session_line_t;


static u_char *
ngx_voicegw_session_iso(u_char *p, time_t t)
{
    ngx_tm_t  tm;

    ngx_gmtime(t, &tm);

    return ngx_sprintf(p, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
}


/* the task's worker is reserved: the record starts (NULL if it cannot) */

void *
ngx_voicegw_session_start(void *data, ngx_str_t *id, ngx_str_t *type,
    ngx_str_t *worker)
{
    ngx_voicegw_sessions_t  *sessions = data;

    u_char                     *p;
    ngx_pool_t                 *pool;
    ngx_voicegw_session_io_t   *io;
    ngx_voicegw_session_rec_t  *rec;

    if (!ngx_voicegw_session_id_valid(id)) {
        return NULL;
    }

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    io = ngx_voicegw_session_io_alloc(pool, sessions,
                                      sizeof(ngx_voicegw_session_rec_t));
    if (io == NULL) {
        goto failed;
    }

    rec = io->data;
    ngx_memzero(rec, sizeof(ngx_voicegw_session_rec_t));

    rec->pool = pool;
    rec->sessions = sessions;
    rec->started = ngx_time();

    rec->id.data = ngx_pstrdup(pool, id);
    rec->type.data = ngx_pstrdup(pool, type);
    rec->worker.data = ngx_pstrdup(pool, worker);
    rec->meta.data = ngx_pnalloc(pool, 256 + id->len + type->len * 2
                                       + worker->len);

    if (rec->id.data == NULL || rec->type.data == NULL
        || rec->worker.data == NULL || rec->meta.data == NULL)
    {
        goto failed;
    }

    rec->id.len = id->len;
    rec->type.len = type->len;
    rec->worker.len = worker->len;

    /* ids, types and "host:port" need no JSON escapes */

    p = ngx_sprintf(rec->meta.data, "{\"session_id\":\"%V\",\"type\":\"%V\","
                    "\"app_type\":\"%V\",\"created_at\":\"", id, type, type);
    p = ngx_voicegw_session_iso(p, rec->started);
    p = ngx_sprintf(p, "\"," NGX_VOICEGW_META_OPEN ",\"worker\":\"%V\","
                    "\"config\":{}}\n", worker);

    rec->meta.len = p - rec->meta.data;

    io->id = rec->id;
    io->run = ngx_voicegw_session_start_run;
    io->done = ngx_voicegw_session_start_done;

    if (ngx_voicegw_session_io_post(io) != NGX_OK) {
        goto failed;
    }

    return rec;

failed:

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "voicegw_sessions: cannot record session \"%V\"", id);
    ngx_destroy_pool(pool);

    return NULL;
}


/* the task's worker is released */

void
ngx_voicegw_session_end(void *data)
{
    ngx_voicegw_session_rec_t  *rec = data;

    rec->ending = 1;
    rec->ended = ngx_time();

    if (rec->start_done) {
        ngx_voicegw_session_end_post(rec);
    }

    /* else once the start is written */
}


/* in a thread: the folder, then meta.json unless there is one */

static void
ngx_voicegw_session_start_run(ngx_voicegw_session_io_t *io)
{
    u_char                     *dir, *meta;
    ngx_voicegw_session_rec_t  *rec = io->data;

    dir = ngx_voicegw_session_file(rec->pool, rec->sessions, &rec->id, NULL);
    meta = ngx_voicegw_session_file(rec->pool, rec->sessions, &rec->id,
                                    "meta.json");

    io->rc = NGX_ERROR;

    if (dir == NULL || meta == NULL) {
        io->what = "memory";
        return;
    }

    if (mkdir((char *) dir, 0755) == -1 && ngx_errno != NGX_EEXIST) {
        io->err = ngx_errno;
        io->what = "mkdir()";
        return;
    }

    if (ngx_voicegw_session_write(meta, rec->meta.data, rec->meta.len, 0)
        != NGX_OK
        && ngx_errno != NGX_EEXIST)
    {
        io->err = ngx_errno;
        io->what = "writing meta.json";
        return;
    }

    io->rc = NGX_OK;
}


static void
ngx_voicegw_session_start_done(ngx_voicegw_session_io_t *io)
{
    ngx_voicegw_session_rec_t  *rec = io->data;

    if (io->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, io->err,
                      "voicegw_sessions: session \"%V\": %s failed",
                      &rec->id, io->what);
    }

    if (ngx_voicegw_session_index(rec, 0) != NGX_OK) {
        /* no index: the start is written */
        rec->start_done = 1;

        if (rec->ending) {
            ngx_voicegw_session_end_post(rec);
        }
    }
}


static void
ngx_voicegw_session_end_post(ngx_voicegw_session_rec_t *rec)
{
    ngx_voicegw_session_io_t  *io;

    if (rec->end_posted) {
        return;
    }

    rec->end_posted = 1;

    io = ngx_voicegw_session_io_alloc(rec->pool, rec->sessions, 0);

    if (io == NULL) {
        ngx_voicegw_session_rec_free(rec);
        return;
    }

    io->data = rec;
    io->run = ngx_voicegw_session_end_run;
    io->done = ngx_voicegw_session_end_done;

    if (ngx_voicegw_session_io_post(io) != NGX_OK) {
        ngx_voicegw_session_rec_free(rec);
    }
}


/* in a thread: ended_at and duration_s into a meta.json of ours */

static void
ngx_voicegw_session_end_run(ngx_voicegw_session_io_t *io)
{
    u_char                     *meta, *buf, *at, *p;
    ssize_t                     n;
    ngx_fd_t                    fd;
    ngx_voicegw_session_rec_t  *rec = io->data;

    static u_char  open_marker[] = NGX_VOICEGW_META_OPEN;

    io->rc = NGX_OK;

    meta = ngx_voicegw_session_file(rec->pool, rec->sessions, &rec->id,
                                    "meta.json");
    buf = ngx_pnalloc(rec->pool, 2 * NGX_VOICEGW_META_MAX);

    if (meta == NULL || buf == NULL) {
        return;
    }

    fd = open((char *) meta, O_RDONLY|O_NOFOLLOW|O_CLOEXEC);
    if (fd == -1) {
        return;
    }

    n = read(fd, buf, NGX_VOICEGW_META_MAX);
    close(fd);

    if (n <= 0 || n == NGX_VOICEGW_META_MAX) {
        return;
    }

    at = ngx_strlcasestrn(buf, buf + n, open_marker,
                          sizeof(open_marker) - 2);
    if (at == NULL) {
        /* a worker's meta.json, or ended already */
        return;
    }

    p = buf + NGX_VOICEGW_META_MAX;
    p = ngx_cpymem(p, buf, at - buf);
    p = ngx_cpymem(p, "\"ended_at\":\"", sizeof("\"ended_at\":\"") - 1);
    p = ngx_voicegw_session_iso(p, rec->ended);
    p = ngx_sprintf(p, "\",\"duration_s\":%T", rec->ended - rec->started);
    at += sizeof(open_marker) - 1;
    p = ngx_cpymem(p, at, buf + n - at);

    if (ngx_voicegw_session_write(meta, buf + NGX_VOICEGW_META_MAX,
                                  p - buf - NGX_VOICEGW_META_MAX, 1)
        != NGX_OK)
    {
        io->rc = NGX_ERROR;
        io->err = ngx_errno;
        io->what = "rewriting meta.json";
    }
}


static void
ngx_voicegw_session_end_done(ngx_voicegw_session_io_t *io)
{
    ngx_voicegw_session_rec_t  *rec = io->data;

    if (io->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, io->err,
                      "voicegw_sessions: session \"%V\": %s failed",
                      &rec->id, io->what);
    }

    if (ngx_voicegw_session_index(rec, 1) != NGX_OK) {
        ngx_voicegw_session_rec_free(rec);
    }
}


/*
 * The index row: inserted at start (a session id seen again starts
 * over: ended_at is cleared), ended_at at the end.  NGX_DECLINED when
 * there is no store; the op's completion goes on from there.
 */

static ngx_int_t
ngx_voicegw_session_index(ngx_voicegw_session_rec_t *rec, ngx_uint_t end)
{
    ngx_str_t                  when;
    ngx_voicegw_store_op_t    *op;
    ngx_voicegw_sql_stmt_t    *st;
    ngx_voicegw_session_sql_t *q;

    if (rec->sessions->store == NULL) {
        return NGX_DECLINED;
    }

    op = ngx_voicegw_store_op_alloc(rec->pool, rec->sessions->store,
                                    sizeof(ngx_voicegw_session_sql_t));
    if (op == NULL) {
        return NGX_DECLINED;
    }

    q = op->data;
    q->rec = rec;
    q->end = end;
    q->batch.write = 1;
    op->write = 1;

    when.data = q->when;
    when.len = ngx_voicegw_session_iso(q->when,
                                       end ? rec->ended : rec->started)
               - q->when;

    if (end) {
        st = ngx_voicegw_sql_add(&q->batch,
                                 "UPDATE sessions SET ended_at = ?1"
                                 " WHERE session_id = ?2",
                                 NGX_VOICEGW_SQL_ANY);
        ngx_voicegw_sql_text(st, &when);
        ngx_voicegw_sql_text(st, &rec->id);

    } else {
        st = ngx_voicegw_sql_add(&q->batch,
                                 "INSERT INTO sessions"
                                 " (session_id, type, created_at, worker)"
                                 " VALUES (?1, ?2, ?3, ?4)"
                                 " ON CONFLICT (session_id) DO UPDATE"
                                 " SET ended_at = NULL",
                                 NGX_VOICEGW_SQL_ANY);
        ngx_voicegw_sql_text(st, &rec->id);
        ngx_voicegw_sql_text(st, &rec->type);
        ngx_voicegw_sql_text(st, &when);
        ngx_voicegw_sql_text(st, &rec->worker);
    }

    op->run = ngx_voicegw_sql_run;
    op->done = ngx_voicegw_session_index_done;

    if (ngx_voicegw_store_post(op) != NGX_OK) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_voicegw_session_index_done(ngx_voicegw_store_op_t *op)
{
    ngx_voicegw_session_sql_t  *q = op->data;
    ngx_voicegw_session_rec_t  *rec = q->rec;

    if (op->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "voicegw_sessions: the index of session \"%V\": %s",
                      &rec->id, op->err);
    }

    ngx_voicegw_sql_free(&q->batch);

    if (q->end) {
        ngx_voicegw_session_rec_free(rec);
        return;
    }

    rec->start_done = 1;

    if (rec->ending) {
        ngx_voicegw_session_end_post(rec);
    }
}


/*
 * A file that appears whole: written to a temporary file in the same
 * folder, then linked in place (replace: renamed over the old one).
 * Without replace, an existing file stays and errno is EEXIST.
 */

static ngx_int_t
ngx_voicegw_session_write(u_char *path, u_char *data, size_t len,
    ngx_uint_t replace)
{
    u_char    tmp[NGX_MAX_PATH];
    ssize_t   n;
    ngx_fd_t  fd;
    ngx_err_t err;

    if (ngx_snprintf(tmp, sizeof(tmp) - 1, "%s.%P.tmp%Z", path, ngx_pid)
        == tmp + sizeof(tmp) - 1)
    {
        ngx_set_errno(NGX_ENAMETOOLONG);
        return NGX_ERROR;
    }

    fd = open((char *) tmp, O_WRONLY|O_CREAT|O_TRUNC|O_NOFOLLOW|O_CLOEXEC,
              0644);
    if (fd == -1) {
        return NGX_ERROR;
    }

    n = write(fd, data, len);
    err = ngx_errno;

    if (close(fd) == -1 || n != (ssize_t) len) {
        unlink((char *) tmp);
        ngx_set_errno(n == -1 ? err : NGX_ENOSPC);
        return NGX_ERROR;
    }

    if (replace) {
        if (rename((char *) tmp, (char *) path) == -1) {
            err = ngx_errno;
            unlink((char *) tmp);
            ngx_set_errno(err);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    n = link((char *) tmp, (char *) path);
    err = ngx_errno;
    unlink((char *) tmp);
    ngx_set_errno(err);

    return n == -1 ? NGX_ERROR : NGX_OK;
}


static void
ngx_voicegw_session_rec_free(ngx_voicegw_session_rec_t *rec)
{
    ngx_destroy_pool(rec->pool);
}


/* a dropped client_diagnostic message of session id, kept as a line */

void
ngx_voicegw_session_append(void *data, ngx_str_t *id, u_char *buf,
    size_t len)
{
    ngx_voicegw_sessions_t  *sessions = data;

    u_char                      *p;
    ngx_pool_t                  *pool;
    ngx_voicegw_session_io_t    *io;
    ngx_voicegw_session_line_t  *l;

    if (!ngx_voicegw_session_id_valid(id)) {
        return;
    }

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    io = ngx_voicegw_session_io_alloc(pool, sessions,
                                      sizeof(ngx_voicegw_session_line_t));
    p = ngx_pnalloc(pool, len + 1);

    if (io == NULL || p == NULL) {
        goto failed;
    }

    l = io->data;
    l->pool = pool;
    l->dir = ngx_voicegw_session_file(pool, sessions, id, NULL);
    l->path = ngx_voicegw_session_file(pool, sessions, id,
                                       "client_diagnostic.jsonl");
    l->line.data = p;
    l->line.len = ngx_cpymem(p, buf, len) - p;

    /* one line each: the message's own line breaks are JSON whitespace */

    for (p = l->line.data; p < l->line.data + l->line.len; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }

    *p = '\n';
    l->line.len++;

    if (l->dir == NULL || l->path == NULL) {
        goto failed;
    }

    io->id.data = ngx_pstrdup(pool, id);
    io->id.len = id->len;
    io->run = ngx_voicegw_session_append_run;
    io->done = ngx_voicegw_session_append_done;

    if (io->id.data != NULL && ngx_voicegw_session_io_post(io) == NGX_OK) {
        return;
    }

failed:

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "voicegw_sessions: cannot keep a client_diagnostic of "
                  "session \"%V\"", id);
    ngx_destroy_pool(pool);
}


static void
ngx_voicegw_session_append_run(ngx_voicegw_session_io_t *io)
{
    ssize_t                      n;
    ngx_fd_t                     fd;
    ngx_voicegw_session_line_t  *l = io->data;

    io->rc = NGX_ERROR;

    fd = open((char *) l->path,
              O_WRONLY|O_CREAT|O_APPEND|O_NOFOLLOW|O_CLOEXEC, 0644);

    if (fd == -1 && ngx_errno == NGX_ENOENT) {
        /* before the session's start made its folder */
        if (mkdir((char *) l->dir, 0755) == -1 && ngx_errno != NGX_EEXIST) {
            io->err = ngx_errno;
            io->what = "mkdir()";
            return;
        }

        fd = open((char *) l->path,
                  O_WRONLY|O_CREAT|O_APPEND|O_NOFOLLOW|O_CLOEXEC, 0644);
    }

    if (fd == -1) {
        io->err = ngx_errno;
        io->what = "open()";
        return;
    }

    n = write(fd, l->line.data, l->line.len);
    io->err = ngx_errno;

    if (close(fd) == -1 || n != (ssize_t) l->line.len) {
        io->what = "write()";
        return;
    }

    io->rc = NGX_OK;
}


static void
ngx_voicegw_session_append_done(ngx_voicegw_session_io_t *io)
{
    ngx_voicegw_session_line_t  *l = io->data;

    if (io->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, io->err,
                      "voicegw_sessions: %s of \"%s\" failed", io->what,
                      l->path);
    }

    ngx_destroy_pool(l->pool);
}
