
/*
 * ngx_voicegw_session_retention.c
 *
 * Owns the deletion of old session folders: those whose created_at is
 * older than "retention=", then, while the folder's total passes
 * "max_size=", the oldest first; the store's index follows (their rows
 * are deleted).
 *
 *   - One process at a time: every worker ticks; the first to find the
 *     lease in the zone's "sessions" part free or expired takes it and
 *     renews it at each tick, as the recorder's flusher does.  A holder
 *     that dies stops renewing and another takes over; one that exits
 *     gives the lease back.  Without voicegw_zone, worker 0 does it.
 *
 *   - Never on the event loop: a pass (list, read meta.json, measure,
 *     delete) is one task on the sessions' thread pool; the index's rows
 *     go through the store's ops.
 *
 *   - A folder is first renamed to ".deleting.{id}" (no session id
 *     starts with a dot), so the API stops seeing it at once, then
 *     removed; a pass also removes what an interrupted one left.  No
 *     symbolic link is followed.  A folder without a readable meta.json
 *     is never deleted (as the original gateway does).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_clock.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_sql.h"
#include "ngx_voicegw_sessions.h"
#include "ngx_voicegw_session_retention.h"

#include <dirent.h>


#define NGX_VOICEGW_RETENTION_EVERY  60000      /* ms, at most */
#define NGX_VOICEGW_RETENTION_FIRST  1000       /* ms after the start */
#define NGX_VOICEGW_RETENTION_DEPTH  32
#define NGX_VOICEGW_RETENTION_META   65536
#define NGX_VOICEGW_RETENTION_GONE   ".deleting."


typedef struct {
    ngx_pid_t                    holder;
    uint64_t                     until;       /* monotonic, ms */
} ngx_voicegw_retention_sh_t;


typedef struct {
    char                        *id;          /* malloc */
    time_t                       created;
    off_t                        size;
} ngx_voicegw_retention_dir_t;


typedef struct ngx_voicegw_retention_s  ngx_voicegw_retention_t;


/* the index's op: the batch first (ngx_voicegw_sql_run() runs it) */

typedef struct {
    ngx_voicegw_sql_batch_t      batch;
    ngx_voicegw_retention_t     *rt;
} ngx_voicegw_retention_sql_t;


struct ngx_voicegw_retention_s {
    ngx_voicegw_sessions_t      *sessions;
    ngx_voicegw_zone_t          *zone;
    ngx_voicegw_retention_sh_t  *sh;
    ngx_msec_t                   every;
    ngx_event_t                  tick;
    ngx_voicegw_session_io_t    *io;
    ngx_voicegw_store_op_t      *op;
    unsigned                     busy:1;

    /* a pass's results, malloc()ed in the thread */
    time_t                       now;
    ngx_str_t                    deleted;     /* ["id",...] */
    ngx_uint_t                   scanned;
    ngx_uint_t                   expired;
    ngx_uint_t                   capacity;
    off_t                        remaining;
};


static ngx_int_t ngx_voicegw_retention_init_zone(ngx_voicegw_zone_t *zone,
    void *data, ngx_uint_t reused);
static void ngx_voicegw_retention_tick(ngx_event_t *ev);
static ngx_uint_t ngx_voicegw_retention_lease(ngx_voicegw_retention_t *rt);
static void ngx_voicegw_retention_pass(ngx_voicegw_session_io_t *io);
static ngx_int_t ngx_voicegw_retention_dir(int top, char *name,
    ngx_voicegw_retention_dir_t *d);
static time_t ngx_voicegw_retention_created(u_char *p, u_char *last);
static ngx_int_t ngx_voicegw_retention_tree(int dir, const char *name,
    off_t *size, ngx_uint_t remove, ngx_uint_t depth);
static ngx_int_t ngx_voicegw_retention_delete(ngx_voicegw_retention_t *rt,
    int top, char *id, ngx_str_t *deleted);
static int ngx_voicegw_retention_cmp(const void *a, const void *b);
static void ngx_voicegw_retention_passed(ngx_voicegw_session_io_t *io);
static void ngx_voicegw_retention_indexed(ngx_voicegw_store_op_t *op);
static void ngx_voicegw_retention_arm(ngx_voicegw_retention_t *rt,
    ngx_msec_t after);


/* while nginx reads its configuration, once the zone is known */

ngx_int_t
ngx_voicegw_session_retention_conf(ngx_conf_t *cf,
    ngx_voicegw_sessions_t *sessions, ngx_voicegw_zone_t *zone)
{
    ngx_voicegw_retention_t  *rt;

    if (sessions->retention == 0 && sessions->max_size == 0) {
        return NGX_OK;
    }

    rt = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_retention_t));
    if (rt == NULL) {
        return NGX_ERROR;
    }

    rt->sessions = sessions;
    rt->zone = zone;

    /* at least twice per retention period, at most a minute apart */

    rt->every = NGX_VOICEGW_RETENTION_EVERY;

    if (sessions->retention
        && (ngx_msec_t) sessions->retention * 500 < rt->every)
    {
        rt->every = ngx_max((ngx_msec_t) sessions->retention * 500, 1000);
    }

    sessions->cleaner = rt;

    if (zone == NULL) {
        return NGX_OK;
    }

    return ngx_voicegw_zone_on_init(zone, ngx_voicegw_retention_init_zone,
                                    rt);
}


static ngx_int_t
ngx_voicegw_retention_init_zone(ngx_voicegw_zone_t *zone, void *data,
    ngx_uint_t reused)
{
    ngx_voicegw_retention_t  *rt = data;

    rt->sh = ngx_voicegw_zone_part_locked(zone, "sessions",
                                          sizeof(ngx_voicegw_retention_sh_t));
    if (rt->sh == NULL) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "voicegw_zone \"%V\" is too small for the sessions' "
                      "retention", &zone->shm_zone->shm.name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_voicegw_session_retention_init_process(ngx_cycle_t *cycle,
    ngx_voicegw_sessions_t *sessions)
{
    ngx_voicegw_retention_t  *rt;

    rt = sessions->cleaner;

    if (rt == NULL || (rt->sh == NULL && ngx_worker != 0)) {
        return NGX_OK;
    }

    rt->io = ngx_voicegw_session_io_alloc(cycle->pool, sessions, 0);
    if (rt->io == NULL) {
        return NGX_ERROR;
    }

    rt->io->data = rt;
    rt->io->run = ngx_voicegw_retention_pass;
    rt->io->done = ngx_voicegw_retention_passed;

    if (sessions->store) {
        rt->op = ngx_voicegw_store_op_alloc(cycle->pool, sessions->store,
                                        sizeof(ngx_voicegw_retention_sql_t));
        if (rt->op == NULL) {
            return NGX_ERROR;
        }

        ((ngx_voicegw_retention_sql_t *) rt->op->data)->rt = rt;

        rt->op->run = ngx_voicegw_sql_run;
        rt->op->done = ngx_voicegw_retention_indexed;
    }

    rt->tick.handler = ngx_voicegw_retention_tick;
    rt->tick.data = rt;
    rt->tick.log = cycle->log;
    rt->tick.cancelable = 1;

    ngx_voicegw_retention_arm(rt, NGX_VOICEGW_RETENTION_FIRST);

    return NGX_OK;
}


/* an exiting holder gives the lease back: the new workers take it */

void
ngx_voicegw_session_retention_exit_process(ngx_voicegw_sessions_t *sessions)
{
    ngx_voicegw_retention_t  *rt;

    rt = sessions->cleaner;

    if (rt == NULL || rt->sh == NULL) {
        return;
    }

    ngx_voicegw_zone_lock(rt->zone);

    if (rt->sh->holder == ngx_pid) {
        rt->sh->holder = 0;
        rt->sh->until = 0;
    }

    ngx_voicegw_zone_unlock(rt->zone);
}


static void
ngx_voicegw_retention_arm(ngx_voicegw_retention_t *rt, ngx_msec_t after)
{
    if (!ngx_exiting && !ngx_quit && !ngx_terminate) {
        ngx_add_timer(&rt->tick, after);
    }
}


static void
ngx_voicegw_retention_tick(ngx_event_t *ev)
{
    ngx_voicegw_retention_t  *rt = ev->data;

    ngx_voicegw_retention_arm(rt, rt->every);

    if (rt->busy || !ngx_voicegw_retention_lease(rt)) {
        return;
    }

    rt->now = ngx_time();

    if (ngx_voicegw_session_io_post(rt->io) == NGX_OK) {
        rt->busy = 1;
    }
}


static ngx_uint_t
ngx_voicegw_retention_lease(ngx_voicegw_retention_t *rt)
{
    uint64_t    now;
    ngx_uint_t  ours;

    if (rt->sh == NULL) {
        return 1;                       /* worker 0, without a zone */
    }

    now = ngx_voicegw_mono_msec();

    ngx_voicegw_zone_lock(rt->zone);

    ours = (rt->sh->holder == ngx_pid || rt->sh->holder == 0
            || rt->sh->until <= now);

    if (ours) {
        rt->sh->holder = ngx_pid;
        rt->sh->until = now + 3 * rt->every;
    }

    ngx_voicegw_zone_unlock(rt->zone);

    return ours;
}


/* -- the pass, in a thread ------------------------------------------------- */

static void
ngx_voicegw_retention_pass(ngx_voicegw_session_io_t *io)
{
    ngx_voicegw_retention_t  *rt = io->data;

    int                           top;
    DIR                          *d;
    off_t                         total;
    ngx_uint_t                    i, n, nalloc;
    struct dirent                *de;
    ngx_voicegw_sessions_t       *s;
    ngx_voicegw_retention_dir_t  *dirs, *more, one;

    s = rt->sessions;

    rt->deleted.data = NULL;
    rt->deleted.len = 0;
    rt->scanned = 0;
    rt->expired = 0;
    rt->capacity = 0;
    rt->remaining = 0;

    io->rc = NGX_ERROR;
    io->what = "opendir()";

    top = open((char *) s->path.data, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
    if (top == -1) {
        io->err = errno;
        return;
    }

    d = fdopendir(dup(top));
    if (d == NULL) {
        io->err = errno;
        (void) close(top);
        return;
    }

    dirs = NULL;
    n = 0;
    nalloc = 0;
    total = 0;

    while ((de = readdir(d)) != NULL) {

        if (ngx_strncmp(de->d_name, NGX_VOICEGW_RETENTION_GONE,
                        sizeof(NGX_VOICEGW_RETENTION_GONE) - 1)
            == 0)
        {
            /* what an interrupted pass left */
            (void) ngx_voicegw_retention_tree(top, de->d_name, NULL, 1, 0);
            continue;
        }

        if (ngx_voicegw_retention_dir(top, de->d_name, &one) != NGX_OK) {
            continue;
        }

        rt->scanned++;
        total += one.size;

        if (one.created == 0) {
            continue;                   /* no meta.json: never deleted */
        }

        if (n == nalloc) {
            nalloc = nalloc ? 2 * nalloc : 64;
            more = realloc(dirs, nalloc * sizeof(ngx_voicegw_retention_dir_t));

            if (more == NULL) {
                break;
            }

            dirs = more;
        }

        one.id = strdup(de->d_name);
        if (one.id == NULL) {
            break;
        }

        dirs[n++] = one;
    }

    (void) closedir(d);

    if (n > 1) {
        qsort(dirs, n, sizeof(ngx_voicegw_retention_dir_t),
              ngx_voicegw_retention_cmp);
    }

    for (i = 0; i < n; i++) {

        if (s->retention && dirs[i].created < rt->now - s->retention) {
            if (ngx_voicegw_retention_delete(rt, top, dirs[i].id,
                                             &rt->deleted)
                == NGX_OK)
            {
                rt->expired++;
                total -= dirs[i].size;
            }

            continue;
        }

        if (s->max_size && total > s->max_size) {
            if (ngx_voicegw_retention_delete(rt, top, dirs[i].id,
                                             &rt->deleted)
                == NGX_OK)
            {
                rt->capacity++;
                total -= dirs[i].size;
            }
        }
    }

    for (i = 0; i < n; i++) {
        free(dirs[i].id);
    }

    free(dirs);
    (void) close(top);

    rt->remaining = total;
    io->rc = NGX_OK;
}


/*
 * A session's folder: its size, and its created_at (from meta.json, or
 * meta.json's mtime; 0 without a readable meta.json).  NGX_DECLINED for
 * what is not a session's folder.
 */

static ngx_int_t
ngx_voicegw_retention_dir(int top, char *name, ngx_voicegw_retention_dir_t *d)
{
    int          dir, fd;
    u_char       buf[NGX_VOICEGW_RETENTION_META];
    ssize_t      n;
    ngx_str_t    id;
    struct stat  st;

    id.data = (u_char *) name;
    id.len = ngx_strlen(name);

    if (!ngx_voicegw_session_id_valid(&id)
        || fstatat(top, name, &st, AT_SYMLINK_NOFOLLOW) == -1
        || !S_ISDIR(st.st_mode))
    {
        return NGX_DECLINED;
    }

    ngx_memzero(d, sizeof(ngx_voicegw_retention_dir_t));

    if (ngx_voicegw_retention_tree(top, name, &d->size, 0, 0) != NGX_OK) {
        return NGX_DECLINED;
    }

    dir = openat(top, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
    if (dir == -1) {
        return NGX_DECLINED;
    }

    fd = openat(dir, "meta.json", O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC);
    (void) close(dir);

    if (fd == -1) {
        return NGX_OK;
    }

    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        n = read(fd, buf, sizeof(buf));

        if (n >= 0) {
            d->created = ngx_voicegw_retention_created(buf, buf + n);

            if (d->created == 0) {
                d->created = ngx_max(st.st_mtime, 1);
            }
        }
    }

    (void) close(fd);

    return NGX_OK;
}


/* "created_at":"YYYY-MM-DDTHH:MM:SS[.frac][Z|+HH:MM|-HH:MM]"; 0: none */

static time_t
ngx_voicegw_retention_created(u_char *p, u_char *last)
{
    u_char     *q;
    time_t      t;
    ngx_int_t   v[6], off, sign;
    ngx_uint_t  i;
    struct tm   tm;

    static const char  key[] = "\"created_at\"";
    static const char  seps[] = "--T::";

    q = ngx_strlcasestrn(p, last, (u_char *) key, sizeof(key) - 2);
    if (q == NULL) {
        return 0;
    }

    for (q += sizeof(key) - 1; q < last && (*q == ' ' || *q == ':'); q++) {
        /* void */
    }

    if (q == last || *q++ != '"') {
        return 0;
    }

    for (i = 0; i < 6; i++) {
        v[i] = 0;

        while (q < last && *q >= '0' && *q <= '9') {
            v[i] = v[i] * 10 + (*q++ - '0');
        }

        if (i < 5) {
            if (q == last || (*q != seps[i] && !(i == 2 && *q == ' '))) {
                return 0;
            }

            q++;
        }
    }

    while (q < last && (*q == '.' || (*q >= '0' && *q <= '9'))) {
        q++;
    }

    off = 0;

    if (q + 6 <= last && (*q == '+' || *q == '-')) {
        sign = (*q == '-') ? -1 : 1;
        off = sign * (((q[1] - '0') * 10 + (q[2] - '0')) * 3600
                      + ((q[4] - '0') * 10 + (q[5] - '0')) * 60);
    }

    ngx_memzero(&tm, sizeof(struct tm));
    tm.tm_year = v[0] - 1900;
    tm.tm_mon = v[1] - 1;
    tm.tm_mday = v[2];
    tm.tm_hour = v[3];
    tm.tm_min = v[4];
    tm.tm_sec = v[5];

    t = timegm(&tm);

    return (t <= 0) ? 0 : t - off;
}


/* the bytes of a tree's regular files, or its removal; no link followed */

static ngx_int_t
ngx_voicegw_retention_tree(int dir, const char *name, off_t *size,
    ngx_uint_t remove, ngx_uint_t depth)
{
    int             fd;
    DIR            *d;
    ngx_int_t       rc;
    struct stat     st;
    struct dirent  *de;

    fd = openat(dir, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
    if (fd == -1) {
        return NGX_ERROR;
    }

    d = fdopendir(fd);
    if (d == NULL) {
        (void) close(fd);
        return NGX_ERROR;
    }

    rc = NGX_OK;

    while ((de = readdir(d)) != NULL) {

        if (de->d_name[0] == '.'
            && (de->d_name[1] == '\0'
                || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
        {
            continue;
        }

        if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
            continue;
        }

        if (S_ISDIR(st.st_mode)) {
            if (depth == NGX_VOICEGW_RETENTION_DEPTH
                || ngx_voicegw_retention_tree(fd, de->d_name, size, remove,
                                              depth + 1)
                   != NGX_OK)
            {
                rc = NGX_ERROR;
            }

            continue;
        }

        if (remove) {
            if (unlinkat(fd, de->d_name, 0) == -1 && errno != ENOENT) {
                rc = NGX_ERROR;
            }

        } else if (S_ISREG(st.st_mode)) {
            *size += st.st_size;
        }
    }

    (void) closedir(d);

    if (remove && unlinkat(dir, name, AT_REMOVEDIR) == -1) {
        rc = NGX_ERROR;
    }

    return rc;
}


/* renamed out of the API's sight, removed, added to the JSON list */

static ngx_int_t
ngx_voicegw_retention_delete(ngx_voicegw_retention_t *rt, int top, char *id,
    ngx_str_t *deleted)
{
    u_char  *p, gone[NGX_VOICEGW_SESSION_ID_MAX + 32];
    size_t   len;

    ngx_sprintf(gone, NGX_VOICEGW_RETENTION_GONE "%s%Z", id);

    if (renameat(top, id, top, (char *) gone) == -1) {
        return NGX_ERROR;
    }

    (void) ngx_voicegw_retention_tree(top, (char *) gone, NULL, 1, 0);

    /* ids are [A-Za-z0-9_-]: nothing to escape */

    len = ngx_strlen(id);

    p = realloc(deleted->data, deleted->len + len + 4);
    if (p == NULL) {
        return NGX_OK;                  /* the index keeps a stale row */
    }

    deleted->data = p;
    p += deleted->len;

    *p++ = deleted->len ? ',' : '[';
    *p++ = '"';
    p = ngx_cpymem(p, id, len);
    *p++ = '"';

    deleted->len = p - deleted->data;

    return NGX_OK;
}


/* oldest first */

static int
ngx_voicegw_retention_cmp(const void *a, const void *b)
{
    const ngx_voicegw_retention_dir_t  *x = a, *y = b;

    if (x->created != y->created) {
        return (x->created < y->created) ? -1 : 1;
    }

    return strcmp(x->id, y->id);
}


/* -- on the event loop --------------------------------------------------- */

static void
ngx_voicegw_retention_passed(ngx_voicegw_session_io_t *io)
{
    ngx_voicegw_retention_t  *rt = io->data;

    u_char                   *p;
    ngx_voicegw_sql_stmt_t   *st;
    ngx_voicegw_sql_batch_t  *b;

    if (io->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, io->err,
                      "voicegw_sessions: retention: %s \"%V\" failed",
                      io->what, &rt->sessions->path);
        rt->busy = 0;
        return;
    }

    if (rt->deleted.len == 0) {
        rt->busy = 0;
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "voicegw_sessions: retention deleted %ui session(s) "
                  "(%ui expired, %ui over max_size) of %ui; %O bytes remain",
                  rt->expired + rt->capacity, rt->expired, rt->capacity,
                  rt->scanned, rt->remaining);

    /* close the JSON list */

    p = realloc(rt->deleted.data, rt->deleted.len + 1);

    if (p == NULL || rt->op == NULL) {
        free(p ? p : rt->deleted.data);
        rt->busy = 0;
        return;
    }

    p[rt->deleted.len++] = ']';
    rt->deleted.data = p;

    b = &((ngx_voicegw_retention_sql_t *) rt->op->data)->batch;
    ngx_memzero(b, sizeof(ngx_voicegw_sql_batch_t));
    b->write = 1;
    rt->op->write = 1;

    st = ngx_voicegw_sql_add(b, "DELETE FROM sessions WHERE session_id IN"
                                " (SELECT value FROM json_each(?1))",
                             NGX_VOICEGW_SQL_ANY);
    ngx_voicegw_sql_text(st, &rt->deleted);

    if (ngx_voicegw_store_post(rt->op) != NGX_OK) {
        ngx_voicegw_retention_indexed(rt->op);
    }
}


static void
ngx_voicegw_retention_indexed(ngx_voicegw_store_op_t *op)
{
    ngx_voicegw_retention_t  *rt;

    rt = ((ngx_voicegw_retention_sql_t *) op->data)->rt;

    if (op->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "voicegw_sessions: retention: the index: %s", op->err);
    }

    ngx_voicegw_sql_free(op->data);

    free(rt->deleted.data);
    rt->deleted.data = NULL;
    rt->deleted.len = 0;
    rt->busy = 0;
}
