
/*
 * ngx_voicegw_store.c
 *
 * Owns the database's life in the master: the "voicegw_store" directive,
 * and every check that a database can be used, made while the
 * configuration is read, so that "nginx -t" and a reload refuse a store
 * that would not work, with the path and the reason, and the running
 * gateway keeps serving.
 *
 *   - The master creates, checks and migrates the database and reads the
 *     settings, then closes its connection before any worker process is
 *     forked: a connection never crosses fork().
 *
 *   - When the master runs as root and the worker processes as another
 *     user, the database (and a directory created for it) become that
 *     user's, and the master, with that user's identity for a moment,
 *     opens the database as a worker will: a folder the worker user
 *     cannot reach (a checkout in /root, a read-only directory) stops the
 *     start or the reload instead of leaving every store operation
 *     failing.
 *
 * The check needs the whole configuration ("user" may come after http{},
 * as Test::Nginx writes it) and must be able to refuse a reload: it runs
 * when the shared zone is set up, the last step of a new configuration
 * that can still fail without harm (ngx_voicegw_zone_on_ready).  Without
 * a zone it runs at the end of http{}.
 *
 * Worker processes open their own connection (ngx_voicegw_store_ops.c).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_sql.h"
#include "ngx_voicegw_schema.h"
#include "ngx_voicegw_store_settings.h"

#include <grp.h>
#include <pwd.h>


#define NGX_VOICEGW_STORE_POOL  "voicegw"


static ngx_int_t ngx_voicegw_store_spend(ngx_pool_t *pool,
    ngx_voicegw_store_t *store, sqlite3 *db, u_char *err, size_t len);
static ngx_int_t ngx_voicegw_store_last_request(sqlite3 *db, uint64_t *id,
    u_char *err, size_t len);
static char *ngx_voicegw_store_thread_pool(ngx_conf_t *cf,
    ngx_voicegw_store_t *store);
static char *ngx_voicegw_store_prepare(ngx_conf_t *cf,
    ngx_voicegw_store_t *store);
static char *ngx_voicegw_store_prepare_dir(ngx_conf_t *cf,
    ngx_voicegw_store_t *store);
static ngx_int_t ngx_voicegw_store_chown(ngx_log_t *log, u_char *path,
    ngx_uid_t user, ngx_gid_t group, ngx_uint_t dir);
static ngx_int_t ngx_voicegw_store_try_as(ngx_log_t *log,
    ngx_voicegw_store_t *store, ngx_uid_t user, ngx_gid_t group,
    char *username);
static void ngx_voicegw_store_try(ngx_voicegw_store_t *store, u_char *err,
    size_t len);


/*
 * voicegw_store PATH [thread_pool=NAME] [flush=200ms] [retention=30d]
 *               [buffer=4m];
 */

char *
ngx_voicegw_store_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ngx_str_t            *value, s;
    ngx_int_t             n;
    ngx_uint_t            i;
    ngx_voicegw_store_t  *store;

    if (vmcf->store != NULL) {
        return "is duplicate";
    }

    store = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_store_t));
    if (store == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    store->path = value[1];
    store->file = cf->conf_file->file.name.data;
    store->line = cf->conf_file->line;
    store->cycle = cf->cycle;

    if (store->path.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty path in \"%V\"", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &store->path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    store->flush = 200;
    store->retention = 30 * 86400;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_voicegw_conf_param(&value[i], "thread_pool", &s) == NGX_OK) {
            store->thread_pool_name = s;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "flush", &s) == NGX_OK) {
            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            store->flush = (ngx_msec_t) n;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "retention", &s) == NGX_OK) {
            n = ngx_parse_time(&s, 1);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            store->retention = (time_t) n;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "buffer", &s) == NGX_OK) {
            n = ngx_parse_size(&s);
            if (n == NGX_ERROR || n < 64 * 1024 || n > 1024 * 1024 * 1024) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid buffer \"%V\" in \"%V\": use "
                                   "64k to 1g", &s, &cmd->name);
                return NGX_CONF_ERROR;
            }

            store->buffer = (size_t) ngx_align(n, 8);
            continue;
        }

        goto invalid;
    }

    if (ngx_voicegw_store_thread_pool(cf, store) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&store->settings, cf->pool, 8,
                       sizeof(ngx_voicegw_setting_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_voicegw_store_prepare(cf, store) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    vmcf->store = store;

    return NGX_CONF_OK;

invalid:

    return ngx_voicegw_conf_invalid(cf, cmd, &value[i]);
}


/*
 * The thread pool of the store: thread_pool= names one; otherwise the
 * store's own "voicegw" pool when nginx.conf declares it ("thread_pool
 * voicegw threads=1;" before http{}, as the shipped configuration does),
 * so that SQLite never waits behind file I/O of other modules; failing
 * that nginx's "default" pool, as aio does.
 */

static char *
ngx_voicegw_store_thread_pool(ngx_conf_t *cf, ngx_voicegw_store_t *store)
{
    ngx_str_t  name;

    if (store->thread_pool_name.len == 0) {
        ngx_str_set(&name, NGX_VOICEGW_STORE_POOL);

        if (ngx_thread_pool_get(cf->cycle, &name) != NULL) {
            store->thread_pool_name = name;

        } else {
            ngx_str_set(&store->thread_pool_name, "default");
        }
    }

    store->thread_pool = ngx_thread_pool_add(cf, &store->thread_pool_name);
    if (store->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The master creates, checks and migrates the database while it reads the
 * configuration, so that "nginx -t" and a reload refuse a path that cannot
 * be used, with SQLite's own words for why.  The connection is closed
 * before any worker process is forked.
 */

static char *
ngx_voicegw_store_prepare(ngx_conf_t *cf, ngx_voicegw_store_t *store)
{
    int              rc;
    u_char           err[512];
    sqlite3         *db;
    ngx_file_info_t  fi;

    if (ngx_voicegw_store_prepare_dir(cf, store) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    /*
     * The master runs as root and will hand the file to the workers'
     * user: a symbolic link could point it anywhere, so none is followed
     */

    if (ngx_link_info(store->path.data, &fi) == 0
        && ngx_is_link(&fi))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_store: \"%V\" is a symbolic link, which "
                           "is not accepted: give the file's own path",
                           &store->path);
        return NGX_CONF_ERROR;
    }

    /*
     * SQLite's memory statistics take a mutex around each of its
     * allocations (the recorder's thread makes a dozen per record) and
     * nothing here reads them.  They can be turned off only before SQLite
     * starts, at the first configuration; a reload keeps that setting.
     */

    (void) sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);

    db = NULL;

    rc = sqlite3_open_v2((char *) store->path.data, &db,
                         SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE
                         |SQLITE_OPEN_NOFOLLOW, NULL);

    if (rc != SQLITE_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_store: cannot open \"%V\": %s",
                           &store->path,
                           db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto failed;
    }

    if (ngx_voicegw_schema_configure(db, err, sizeof(err)) != NGX_OK
        || ngx_voicegw_schema_quick_check(db, err, sizeof(err)) != NGX_OK
        || ngx_voicegw_schema_migrate(db, err, sizeof(err)) != NGX_OK
        || ngx_voicegw_store_read_settings(cf->pool, &store->settings, db,
                                           err, sizeof(err))
           != NGX_OK
        || ngx_voicegw_store_last_request(db, &store->last_request_id, err,
                                          sizeof(err))
           != NGX_OK
        || ngx_voicegw_store_spend(cf->pool, store, db, err, sizeof(err))
           != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_store: cannot use \"%V\": %s",
                           &store->path, err);
        goto failed;
    }

    sqlite3_close(db);

    return NGX_CONF_OK;

failed:

    if (db != NULL) {
        sqlite3_close(db);
    }

    return NGX_CONF_ERROR;
}


/*
 * The highest id of the request log: the ids of new records follow it,
 * so that a record committed twice (by a flusher that took over) is
 * recognised as the same row.
 */

static ngx_int_t
ngx_voicegw_store_last_request(sqlite3 *db, uint64_t *id, u_char *err,
    size_t len)
{
    sqlite3_stmt  *stmt;

    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) FROM requests",
                           -1, &stmt, NULL)
        != SQLITE_OK
        || sqlite3_step(stmt) != SQLITE_ROW)
    {
        ngx_voicegw_sql_error(db, "last request", err, len);
        sqlite3_finalize(stmt);
        return NGX_ERROR;
    }

    *id = (uint64_t) sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);

    return NGX_OK;
}


/*
 * What each project has spent today (UTC), from the daily rollup: the
 * zone's budgets start from it when the gateway starts.
 */

static ngx_int_t
ngx_voicegw_store_spend(ngx_pool_t *pool, ngx_voicegw_store_t *store,
    sqlite3 *db, u_char *err, size_t len)
{
    int                   rc;
    size_t                n;
    sqlite3_stmt         *stmt;
    ngx_voicegw_spend_t  *s;

    if (ngx_array_init(&store->spend, pool, 4, sizeof(ngx_voicegw_spend_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    store->spend_day = ngx_time() - ngx_time() % 86400;

    if (sqlite3_prepare_v2(db, "SELECT project, total(cost_usd) FROM daily"
                               " WHERE day = strftime('%Y-%m-%d', ?1,"
                               " 'unixepoch') GROUP BY project",
                           -1, &stmt, NULL)
        != SQLITE_OK)
    {
        ngx_voicegw_sql_error(db, "today's spend", err, len);
        return NGX_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, (sqlite3_int64) store->spend_day);

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        s = ngx_array_push(&store->spend);
        if (s == NULL) {
            sqlite3_finalize(stmt);
            return NGX_ERROR;
        }

        n = sqlite3_column_bytes(stmt, 0);

        s->project.data = ngx_pnalloc(pool, n + 1);
        if (s->project.data == NULL) {
            sqlite3_finalize(stmt);
            return NGX_ERROR;
        }

        ngx_memcpy(s->project.data, sqlite3_column_text(stmt, 0), n);
        s->project.data[n] = '\0';
        s->project.len = n;
        s->cost_usd = sqlite3_column_double(stmt, 1);
    }

    if (rc != SQLITE_DONE) {
        ngx_voicegw_sql_error(db, "today's spend", err, len);
        sqlite3_finalize(stmt);
        return NGX_ERROR;
    }

    sqlite3_finalize(stmt);

    return NGX_OK;
}


/*
 * The database's directory; a missing one is created (and handed to the
 * worker processes' user by ngx_voicegw_store_check(), once the "user"
 * directive has been read).
 */

static char *
ngx_voicegw_store_prepare_dir(ngx_conf_t *cf, ngx_voicegw_store_t *store)
{
    u_char           *p, *last;
    ngx_err_t         err;
    ngx_file_info_t   fi;

    last = store->path.data + store->path.len;

    for (p = last; p > store->path.data; p--) {
        if (p[-1] == '/') {
            break;
        }
    }

    if (p == last) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_store: \"%V\" names a directory, "
                           "not a database file", &store->path);
        return NGX_CONF_ERROR;
    }

    store->dir.len = (p > store->path.data + 1)
                     ? (size_t) (p - store->path.data - 1) : 1;
    store->dir.data = ngx_pnalloc(cf->pool, store->dir.len + 1);
    if (store->dir.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(store->dir.data, store->path.data, store->dir.len);
    store->dir.data[store->dir.len] = '\0';

    if (ngx_file_info(store->dir.data, &fi) == NGX_FILE_ERROR) {

        if (ngx_errno != NGX_ENOENT) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "voicegw_store: cannot use directory \"%V\"",
                               &store->dir);
            return NGX_CONF_ERROR;
        }

        /* creates every directory up to the last slash of the path */

        err = ngx_create_full_path(store->path.data, 0700);

        if (err != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, err,
                               "voicegw_store: cannot create directory "
                               "\"%V\"", &store->dir);
            return NGX_CONF_ERROR;
        }

        store->created_dir = 1;

        return NGX_CONF_OK;
    }

    if (!ngx_is_dir(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_store: \"%V\" is not a directory",
                           &store->dir);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the check, when the zone is set up (reload or start) */

ngx_int_t
ngx_voicegw_store_check_zone(ngx_voicegw_zone_t *zone, void *data,
    ngx_uint_t reused)
{
    return ngx_voicegw_store_check(data);
}


/*
 * In the master: when the worker processes will run as another user than
 * root, the database (and a directory we created for it) become theirs,
 * and a process with their identity must be able to use it.  Failing
 * that, "nginx -t", a start and a reload fail, with the path and the
 * reason.  A "user" not read yet is nginx's default one.
 */

ngx_int_t
ngx_voicegw_store_check(ngx_voicegw_store_t *store)
{
    char       *username;
    ngx_log_t  *log;
    ngx_uid_t   user;
    ngx_gid_t   group;

    if (geteuid() != 0) {
        /* the workers are who we are: prepare() has tried it */
        return NGX_OK;
    }

    log = store->cycle->log;

    if (ngx_voicegw_conf_workers_user(store->cycle, &user, &group, &username)
        != NGX_OK)
    {
        /* nginx itself will refuse to start */
        return NGX_OK;
    }

    if (user == 0) {
        return NGX_OK;
    }

    if ((store->created_dir
         && ngx_voicegw_store_chown(log, store->dir.data, user, group, 1)
            != NGX_OK)
        || ngx_voicegw_store_chown(log, store->path.data, user, group, 0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_voicegw_store_try_as(log, store, user, group, username);
}


/*
 * Gives a file we created (or the database) to the workers' user: opened
 * without following a symbolic link, changed through the descriptor, and
 * only when it is not theirs already.
 */

static ngx_int_t
ngx_voicegw_store_chown(ngx_log_t *log, u_char *path, ngx_uid_t user,
    ngx_gid_t group, ngx_uint_t dir)
{
    int          fd;
    struct stat  st;

    fd = open((char *) path, O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK
                             |(dir ? O_DIRECTORY : 0));

    if (fd == -1) {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      "voicegw_store: cannot open \"%s\"%s", path,
                      ngx_errno == ELOOP ? " (a symbolic link is not "
                                           "accepted)" : "");
        return NGX_ERROR;
    }

    if (fstat(fd, &st) == -1) {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      "voicegw_store: fstat(\"%s\") failed", path);
        close(fd);
        return NGX_ERROR;
    }

    if (!dir && !S_ISREG(st.st_mode)) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "voicegw_store: \"%s\" is not a regular file", path);
        close(fd);
        return NGX_ERROR;
    }

    if ((st.st_uid != user || st.st_gid != group)
        && fchown(fd, user, group) == -1)
    {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      "voicegw_store: fchown(\"%s\") failed", path);
        close(fd);
        return NGX_ERROR;
    }

    close(fd);

    return NGX_OK;
}


/*
 * The master takes the workers' identity for a moment (its effective ids
 * and groups; the real and saved ids stay root's, so it can come back)
 * and opens the database as a worker process will.  No child process:
 * the master is single-threaded while it reads its configuration, and a
 * forked copy of it would leave the libraries' memory (OpenSSL's
 * contexts) behind unfreed when it exits.
 */

static ngx_int_t
ngx_voicegw_store_try_as(ngx_log_t *log, ngx_voicegw_store_t *store,
    ngx_uid_t user, ngx_gid_t group, char *username)
{
    int        n;
    gid_t     *groups, egid;
    u_char     err[512];
    ngx_err_t  e;

    n = getgroups(0, NULL);

    groups = ngx_alloc((n > 0 ? n : 1) * sizeof(gid_t), log);
    if (groups == NULL) {
        return NGX_ERROR;
    }

    if (n > 0) {
        n = getgroups(n, groups);
    }

    egid = getegid();
    err[0] = '\0';

    if (n == -1
        || initgroups(username, group) == -1
        || setegid(group) == -1
        || seteuid(user) == -1)
    {
        e = ngx_errno;
        *ngx_snprintf(err, sizeof(err) - 1, "cannot take the identity of "
                      "\"%s\": %s", username, strerror(e)) = '\0';

    } else {
        ngx_voicegw_store_try(store, err, sizeof(err));
    }

    /* root again: the effective user first, it may change the rest */

    if (seteuid(0) == -1
        || setegid(egid) == -1
        || (n != -1 && setgroups(n, groups) == -1))
    {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      "voicegw_store: the master cannot take back its own "
                      "identity after checking \"%V\"", &store->path);
        ngx_free(groups);
        return NGX_ERROR;
    }

    ngx_free(groups);

    if (err[0] == '\0') {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, log, 0,
                  "voicegw_store: the worker processes' user \"%s\" cannot "
                  "use \"%V\" (voicegw_store in %s:%ui): %s; run the "
                  "workers as a user that can reach it (\"user\"), or "
                  "keep the database where that user can",
                  username, &store->path, store->file, store->line, err);

    return NGX_ERROR;
}


/*
 * As the workers' user: open the database for writing (a file SQLite can
 * only read is opened read-only, silently: that is a failure too), read
 * it (WAL needs its -shm and -wal files, created in the directory), and
 * take the write lock.  Leaves err empty, and nothing written, when all
 * of that works.
 */

static void
ngx_voicegw_store_try(ngx_voicegw_store_t *store, u_char *err, size_t len)
{
    int       rc;
    sqlite3  *db;

    db = NULL;

    rc = sqlite3_open_v2((char *) store->path.data, &db,
                         SQLITE_OPEN_READWRITE|SQLITE_OPEN_NOFOLLOW, NULL);

    if (rc != SQLITE_OK) {
        *ngx_snprintf(err, len - 1, "%s",
                      db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)) = '\0';

    } else if (sqlite3_db_readonly(db, "main")) {
        *ngx_snprintf(err, len - 1, "the file is read-only") = '\0';

    /* access() would ask for the real user, root: the effective one */

    } else if (faccessat(AT_FDCWD, (char *) store->dir.data, W_OK|X_OK,
                         AT_EACCESS)
               == -1)
    {
        *ngx_snprintf(err, len - 1, "directory \"%V\" is not writable "
                      "(SQLite keeps its -wal and -shm files there)",
                      &store->dir) = '\0';

    } else if (ngx_voicegw_schema_configure(db, err, len) != NGX_OK
               || ngx_voicegw_sql_exec(db, "BEGIN IMMEDIATE;"
                                       "SELECT count(*) FROM sqlite_master;"
                                       "ROLLBACK;", err, len)
                  != NGX_OK)
    {
        /* err says why */
    }

    if (db != NULL) {
        sqlite3_close(db);
    }
}
