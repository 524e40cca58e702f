
/*
 * ngx_voicegw_store.c
 *
 * Owns the SQLite database: the "voicegw_store" directive, the schema and
 * its forward migrations, and the connection each nginx process opens for
 * itself.  All SQL of the gateway lives here.
 *
 * Two rules shape this file:
 *
 *   - A connection never crosses fork().  The master opens the database
 *     only while it reads the configuration (to report an unusable path to
 *     "nginx -t", to migrate the schema and to read settings), and closes
 *     it again.  Each worker process opens its own connection, lazily, in
 *     a thread of the store's thread pool.
 *
 *   - The event loop never waits for SQLite.  Statements run as thread
 *     tasks ("ops"); one mutex per process serialises them on the
 *     process's connection, and the op's completion handler runs back on
 *     the event loop.  Several processes share the file through WAL mode
 *     and a busy timeout.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_store.h"



#define NGX_VOICEGW_STORE_BUSY_TIMEOUT  5000


static char *ngx_voicegw_store_prepare(ngx_conf_t *cf,
    ngx_voicegw_store_t *store);
static char *ngx_voicegw_store_prepare_dir(ngx_conf_t *cf,
    ngx_voicegw_store_t *store);
static ngx_int_t ngx_voicegw_store_chown(ngx_cycle_t *cycle, u_char *path,
    ngx_core_conf_t *ccf);
static ngx_int_t ngx_voicegw_store_configure(sqlite3 *db, u_char *err,
    size_t len);
static ngx_int_t ngx_voicegw_store_migrate(sqlite3 *db, u_char *err,
    size_t len);
static ngx_int_t ngx_voicegw_store_read_settings(ngx_conf_t *cf,
    ngx_voicegw_store_t *store, sqlite3 *db, u_char *err, size_t len);
static ngx_int_t ngx_voicegw_store_open(ngx_voicegw_store_t *store,
    u_char *err, size_t len);
static ngx_int_t ngx_voicegw_store_exec(sqlite3 *db, const char *sql,
    u_char *err, size_t len);
static void ngx_voicegw_store_error(sqlite3 *db, const char *what,
    u_char *err, size_t len);
static void ngx_voicegw_store_thread_handler(void *data, ngx_log_t *log);
static void ngx_voicegw_store_event_handler(ngx_event_t *ev);
static ngx_int_t ngx_voicegw_store_open_run(ngx_voicegw_store_op_t *op,
    sqlite3 *db);
static void ngx_voicegw_store_open_done(ngx_voicegw_store_op_t *op);


/*
 * Forward migrations: migration i takes the schema from version i to i + 1.
 * Never edit an entry once it has shipped; append a new one.
 */

static const char  *ngx_voicegw_store_migrations[] = {

    /* 0 -> 1: gateway settings (ETA overrides, apps, ...) */
    "CREATE TABLE settings ("
    "  key         TEXT PRIMARY KEY,"
    "  value       TEXT NOT NULL,"
    "  updated_at  TEXT NOT NULL"
    "              DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))"
    ") WITHOUT ROWID;",

    /*
     * 1 -> 2: the VoiceGateway entities managed through the API, their
     * audit trail, and request accounting: the raw request log and the
     * daily rollups that reports read, kept up to date by a trigger, so
     * that whatever inserts into "requests" is accounted.  Latencies are
     * rolled up as histograms with buckets 2 % wide (bucket b holds
     * 1.02^b <= ms < 1.02^(b+1)), so percentiles are within 2 %.
     */

    "CREATE TABLE providers ("
    "  id              TEXT PRIMARY KEY,"
    "  type            TEXT NOT NULL,"
    "  api_key_enc     TEXT NOT NULL DEFAULT '',"
    "  api_key_masked  TEXT NOT NULL DEFAULT '',"
    "  base_url        TEXT,"
    "  created_at      TEXT NOT NULL,"
    "  updated_at      TEXT NOT NULL"
    ") WITHOUT ROWID;"

    "CREATE TABLE models ("
    "  id                 TEXT PRIMARY KEY,"
    "  provider_id        TEXT NOT NULL,"
    "  model_name         TEXT NOT NULL,"
    "  modality           TEXT NOT NULL,"
    "  display_name       TEXT,"
    "  default_language   TEXT,"
    "  default_voice      TEXT,"
    "  price_per_minute   REAL,"
    "  price_per_1k_input_tokens   REAL,"
    "  price_per_1k_output_tokens  REAL,"
    "  price_per_character         REAL,"
    "  created_at         TEXT NOT NULL,"
    "  updated_at         TEXT NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX models_provider ON models (provider_id);"

    "CREATE TABLE projects ("
    "  id              TEXT PRIMARY KEY,"
    "  name            TEXT NOT NULL,"
    "  description     TEXT NOT NULL DEFAULT '',"
    "  daily_budget    REAL NOT NULL DEFAULT 0,"
    "  budget_action   TEXT NOT NULL DEFAULT 'warn',"
    "  default_stack   TEXT,"
    "  tags            TEXT NOT NULL DEFAULT '[]',"
    "  accent          TEXT,"
    "  created_at      TEXT NOT NULL,"
    "  updated_at      TEXT NOT NULL"
    ") WITHOUT ROWID;"

    "CREATE TABLE audit_log ("
    "  id           INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  timestamp    TEXT NOT NULL,"
    "  entity_type  TEXT NOT NULL,"
    "  entity_id    TEXT NOT NULL,"
    "  action       TEXT NOT NULL,"
    "  changes      TEXT,"
    "  source       TEXT NOT NULL,"
    "  actor        TEXT"
    ");"
    "CREATE INDEX audit_entity ON audit_log (entity_type, entity_id);"

    "CREATE TABLE requests ("
    "  id                INTEGER PRIMARY KEY,"
    "  ts                INTEGER NOT NULL,"
    "  project           TEXT NOT NULL DEFAULT 'default',"
    "  modality          TEXT NOT NULL,"
    "  model_id          TEXT NOT NULL,"
    "  provider          TEXT NOT NULL,"
    "  input_units       REAL NOT NULL DEFAULT 0,"
    "  output_units      REAL NOT NULL DEFAULT 0,"
    "  cost_usd          REAL NOT NULL DEFAULT 0,"
    "  ttfb_ms           REAL,"
    "  total_latency_ms  REAL,"
    "  status            TEXT NOT NULL DEFAULT 'success',"
    "  http_status       INTEGER"
    ");"
    "CREATE INDEX requests_ts ON requests (ts);"

    "CREATE TABLE daily ("
    "  day          TEXT NOT NULL,"
    "  project      TEXT NOT NULL,"
    "  provider     TEXT NOT NULL,"
    "  model_id     TEXT NOT NULL,"
    "  modality     TEXT NOT NULL,"
    "  requests     INTEGER NOT NULL,"
    "  cost_usd     REAL NOT NULL,"
    "  ttfb_sum     REAL NOT NULL,"
    "  ttfb_n       INTEGER NOT NULL,"
    "  latency_sum  REAL NOT NULL,"
    "  latency_n    INTEGER NOT NULL,"
    "  PRIMARY KEY (day, project, provider, model_id, modality)"
    ") WITHOUT ROWID;"

    "CREATE TABLE daily_latency ("
    "  day       TEXT NOT NULL,"
    "  project   TEXT NOT NULL,"
    "  model_id  TEXT NOT NULL,"
    "  kind      TEXT NOT NULL,"
    "  bucket    INTEGER NOT NULL,"
    "  n         INTEGER NOT NULL,"
    "  PRIMARY KEY (day, project, model_id, kind, bucket)"
    ") WITHOUT ROWID;"

    "CREATE TRIGGER requests_rollup AFTER INSERT ON requests BEGIN"
    "  INSERT INTO daily VALUES ("
    "    strftime('%Y-%m-%d', NEW.ts / 1000, 'unixepoch'),"
    "    NEW.project, NEW.provider, NEW.model_id, NEW.modality, 1,"
    "    NEW.cost_usd, coalesce(NEW.ttfb_ms, 0),"
    "    NEW.ttfb_ms IS NOT NULL, coalesce(NEW.total_latency_ms, 0),"
    "    NEW.total_latency_ms IS NOT NULL)"
    "  ON CONFLICT DO UPDATE SET"
    "    requests = requests + 1,"
    "    cost_usd = cost_usd + excluded.cost_usd,"
    "    ttfb_sum = ttfb_sum + excluded.ttfb_sum,"
    "    ttfb_n = ttfb_n + excluded.ttfb_n,"
    "    latency_sum = latency_sum + excluded.latency_sum,"
    "    latency_n = latency_n + excluded.latency_n;"
    "  INSERT INTO daily_latency"
    "    SELECT strftime('%Y-%m-%d', NEW.ts / 1000, 'unixepoch'),"
    "      NEW.project, NEW.model_id, 'ttfb',"
    "      CAST(floor(ln(max(NEW.ttfb_ms, 0.001)) / ln(1.02)) AS INTEGER),"
    "      1 WHERE NEW.ttfb_ms IS NOT NULL"
    "  ON CONFLICT DO UPDATE SET n = n + 1;"
    "  INSERT INTO daily_latency"
    "    SELECT strftime('%Y-%m-%d', NEW.ts / 1000, 'unixepoch'),"
    "      NEW.project, NEW.model_id, 'total',"
    "      CAST(floor(ln(max(NEW.total_latency_ms, 0.001)) / ln(1.02))"
    "           AS INTEGER),"
    "      1 WHERE NEW.total_latency_ms IS NOT NULL"
    "  ON CONFLICT DO UPDATE SET n = n + 1;"
    "END;",

    NULL
};


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

        if (ngx_strncmp(value[i].data, "thread_pool=", 12) == 0) {
            store->thread_pool_name.len = value[i].len - 12;
            store->thread_pool_name.data = value[i].data + 12;

            if (store->thread_pool_name.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "flush=", 6) == 0) {
            s.len = value[i].len - 6;
            s.data = value[i].data + 6;

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            store->flush = (ngx_msec_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "retention=", 10) == 0) {
            s.len = value[i].len - 10;
            s.data = value[i].data + 10;

            n = ngx_parse_time(&s, 1);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            store->retention = (time_t) n;
            continue;
        }

        goto invalid;
    }

    store->thread_pool = ngx_thread_pool_add(cf,
                                     store->thread_pool_name.len
                                     ? &store->thread_pool_name : NULL);
    if (store->thread_pool == NULL) {
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
 * The master creates, checks and migrates the database while it reads the
 * configuration, so that "nginx -t" and a reload refuse a path that cannot
 * be used, with SQLite's own words for why.  The connection is closed
 * before any worker process is forked.
 */

static char *
ngx_voicegw_store_prepare(ngx_conf_t *cf, ngx_voicegw_store_t *store)
{
    int       rc;
    u_char    err[512];
    sqlite3  *db;

    if (ngx_voicegw_store_prepare_dir(cf, store) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    db = NULL;

    rc = sqlite3_open_v2((char *) store->path.data, &db,
                         SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE, NULL);

    if (rc != SQLITE_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_store: cannot open \"%V\": %s",
                           &store->path,
                           db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto failed;
    }

    if (ngx_voicegw_store_configure(db, err, sizeof(err)) != NGX_OK
        || ngx_voicegw_store_migrate(db, err, sizeof(err)) != NGX_OK
        || ngx_voicegw_store_read_settings(cf, store, db, err, sizeof(err))
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
 * The database's directory; a missing one is created (and handed to the
 * worker processes' user in ngx_voicegw_store_init_module(), once the
 * "user" directive, wherever it stands, has been read).
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


/*
 * In the master, after the whole configuration is read: when the workers
 * will run as another user than root, the database, and a directory we
 * created for it, become theirs, and the directory must be writable for
 * them, because SQLite keeps its -wal and -shm files there.  Failing that
 * stops "nginx -t" and a first start; on reload the running gateway is
 * kept and the error is logged.
 */

ngx_int_t
ngx_voicegw_store_init_module(ngx_cycle_t *cycle, ngx_voicegw_store_t *store)
{
    ngx_uint_t        fatal;
    ngx_file_info_t   fi;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (geteuid() != 0 || ccf->user == 0
        || ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT)
    {
        return NGX_OK;
    }

    fatal = ngx_test_config || ngx_is_init_cycle(cycle->old_cycle);

    if ((store->created_dir
         && ngx_voicegw_store_chown(cycle, store->dir.data, ccf) != NGX_OK)
        || ngx_voicegw_store_chown(cycle, store->path.data, ccf) != NGX_OK)
    {
        return fatal ? NGX_ERROR : NGX_OK;
    }

    if (ngx_file_info(store->dir.data, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "voicegw_store: cannot use directory \"%V\"",
                      &store->dir);
        return fatal ? NGX_ERROR : NGX_OK;
    }

    if (!((fi.st_uid == ccf->user && (fi.st_mode & S_IWUSR))
          || (fi.st_gid == ccf->group && (fi.st_mode & S_IWGRP))
          || (fi.st_mode & S_IWOTH)))
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "voicegw_store: directory \"%V\" is not writable by "
                      "the worker processes' user \"%s\"; SQLite keeps its "
                      "-wal and -shm files there", &store->dir,
                      ccf->username);
        return fatal ? NGX_ERROR : NGX_OK;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_store_chown(ngx_cycle_t *cycle, u_char *path,
    ngx_core_conf_t *ccf)
{
    if (chown((char *) path, ccf->user, ccf->group) == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "voicegw_store: chown(\"%s\", %s) failed",
                      path, ccf->username);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_store_configure(sqlite3 *db, u_char *err, size_t len)
{
    int            rc;
    sqlite3_stmt  *stmt;

    if (sqlite3_busy_timeout(db, NGX_VOICEGW_STORE_BUSY_TIMEOUT)
        != SQLITE_OK)
    {
        ngx_voicegw_store_error(db, "busy_timeout", err, len);
        return NGX_ERROR;
    }

    /* the first statement to read the file: a corrupt file fails here */

    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &stmt, NULL)
        != SQLITE_OK)
    {
        ngx_voicegw_store_error(db, "journal_mode", err, len);
        return NGX_ERROR;
    }

    rc = sqlite3_step(stmt);

    if (rc != SQLITE_ROW
        || ngx_strcasecmp((u_char *) sqlite3_column_text(stmt, 0),
                          (u_char *) "wal") != 0)
    {
        if (rc == SQLITE_ROW) {
            ngx_snprintf(err, len, "cannot switch to WAL mode (\"%s\")%Z",
                         sqlite3_column_text(stmt, 0));

        } else {
            ngx_voicegw_store_error(db, "journal_mode", err, len);
        }

        sqlite3_finalize(stmt);
        return NGX_ERROR;
    }

    sqlite3_finalize(stmt);

    return ngx_voicegw_store_exec(db, "PRAGMA synchronous=NORMAL;"
                                      "PRAGMA foreign_keys=ON;", err, len);
}


static ngx_int_t
ngx_voicegw_store_migrate(sqlite3 *db, u_char *err, size_t len)
{
    int            version, known;
    u_char         sql[64];
    sqlite3_stmt  *stmt;

    for (known = 0; ngx_voicegw_store_migrations[known]; known++) {
        /* void */
    }

    if (ngx_voicegw_store_exec(db, "BEGIN IMMEDIATE", err, len) != NGX_OK) {
        return NGX_ERROR;
    }

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL)
        != SQLITE_OK
        || sqlite3_step(stmt) != SQLITE_ROW)
    {
        ngx_voicegw_store_error(db, "user_version", err, len);
        sqlite3_finalize(stmt);
        goto failed;
    }

    version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);

    if (version > known) {
        ngx_snprintf(err, len, "schema version %d is newer than this module "
                     "knows (%d)%Z", version, known);
        goto failed;
    }

    for ( /* void */ ; version < known; version++) {

        if (ngx_voicegw_store_exec(db, ngx_voicegw_store_migrations[version],
                                   err, len)
            != NGX_OK)
        {
            goto failed;
        }

        ngx_snprintf(sql, sizeof(sql), "PRAGMA user_version=%d%Z",
                     version + 1);

        if (ngx_voicegw_store_exec(db, (char *) sql, err, len) != NGX_OK) {
            goto failed;
        }
    }

    return ngx_voicegw_store_exec(db, "COMMIT", err, len);

failed:

    (void) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);

    return NGX_ERROR;
}


static ngx_int_t
ngx_voicegw_store_read_settings(ngx_conf_t *cf, ngx_voicegw_store_t *store,
    sqlite3 *db, u_char *err, size_t len)
{
    int                     rc;
    size_t                  klen, vlen;
    sqlite3_stmt           *stmt;
    ngx_voicegw_setting_t  *s;

    if (sqlite3_prepare_v2(db, "SELECT key, value FROM settings", -1, &stmt,
                           NULL)
        != SQLITE_OK)
    {
        ngx_voicegw_store_error(db, "settings", err, len);
        return NGX_ERROR;
    }

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {

        s = ngx_array_push(&store->settings);
        if (s == NULL) {
            sqlite3_finalize(stmt);
            return NGX_ERROR;
        }

        klen = sqlite3_column_bytes(stmt, 0);
        vlen = sqlite3_column_bytes(stmt, 1);

        s->key.data = ngx_pnalloc(cf->pool, klen + vlen + 2);
        if (s->key.data == NULL) {
            sqlite3_finalize(stmt);
            return NGX_ERROR;
        }

        s->key.len = klen;
        ngx_memcpy(s->key.data, sqlite3_column_text(stmt, 0), klen);
        s->key.data[klen] = '\0';

        s->value.len = vlen;
        s->value.data = s->key.data + klen + 1;
        ngx_memcpy(s->value.data, sqlite3_column_text(stmt, 1), vlen);
        s->value.data[vlen] = '\0';
    }

    if (rc != SQLITE_DONE) {
        ngx_voicegw_store_error(db, "settings", err, len);
        sqlite3_finalize(stmt);
        return NGX_ERROR;
    }

    sqlite3_finalize(stmt);

    return NGX_OK;
}


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
    int            rc, version;
    sqlite3       *db;
    sqlite3_stmt  *stmt;

    db = NULL;

    rc = sqlite3_open_v2((char *) store->path.data, &db,
                         SQLITE_OPEN_READWRITE|SQLITE_OPEN_NOMUTEX, NULL);

    if (rc != SQLITE_OK) {
        ngx_snprintf(err, len, "%s%Z",
                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto failed;
    }

    if (ngx_voicegw_store_configure(db, err, len) != NGX_OK) {
        goto failed;
    }

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL)
        != SQLITE_OK
        || sqlite3_step(stmt) != SQLITE_ROW)
    {
        ngx_voicegw_store_error(db, "user_version", err, len);
        sqlite3_finalize(stmt);
        goto failed;
    }

    version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);

    if (version != NGX_VOICEGW_STORE_SCHEMA) {
        ngx_snprintf(err, len, "schema version %d, expected %d%Z",
                     version, NGX_VOICEGW_STORE_SCHEMA);
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


/* a thread of the pool: only SQLite and plain memory from here on */

static void
ngx_voicegw_store_thread_handler(void *data, ngx_log_t *log)
{
    ngx_voicegw_store_op_t  *op = data;

    ngx_voicegw_store_t  *store;

    store = op->store;

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


ngx_int_t
ngx_voicegw_settings_add(ngx_voicegw_store_settings_t *s, ngx_str_t *key,
    ngx_str_t *value)
{
    if (s->nput == NGX_VOICEGW_SETTINGS_MAX
        || key->len >= NGX_VOICEGW_SETTING_KEY_LEN
        || value->len >= NGX_VOICEGW_SETTING_VALUE_LEN)
    {
        return NGX_ERROR;
    }

    ngx_cpystrn(s->put_key[s->nput], key->data, key->len + 1);
    ngx_cpystrn(s->put_value[s->nput], value->data, value->len + 1);
    s->nput++;

    return NGX_OK;
}


/*
 * Upserts the settings of op->data (ngx_voicegw_store_settings_t), bumps
 * its version counter and reads back every setting under its prefix, all
 * in one transaction: the caller applies exactly what was committed.
 */

ngx_int_t
ngx_voicegw_store_put_settings(ngx_voicegw_store_op_t *op, sqlite3 *db)
{
    ngx_voicegw_store_settings_t  *s = op->data;

    int            rc;
    size_t         len;
    ngx_uint_t     i;
    sqlite3_stmt  *stmt;

    stmt = NULL;

    if (ngx_voicegw_store_exec(db, "BEGIN IMMEDIATE", op->err,
                               sizeof(op->err))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (sqlite3_prepare_v2(db,
            "INSERT INTO settings (key, value) VALUES (?1, ?2) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
            -1, &stmt, NULL)
        != SQLITE_OK)
    {
        goto failed;
    }

    for (i = 0; i < s->nput; i++) {
        sqlite3_bind_text(stmt, 1, (char *) s->put_key[i], -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, (char *) s->put_value[i], -1,
                          SQLITE_STATIC);

        if (sqlite3_step(stmt) != SQLITE_DONE) {
            goto failed;
        }

        sqlite3_reset(stmt);
    }

    sqlite3_finalize(stmt);
    stmt = NULL;

    if (s->version_key[0]) {

        if (sqlite3_prepare_v2(db,
                "INSERT INTO settings (key, value) VALUES (?1, '1') "
                "ON CONFLICT (key) DO UPDATE SET "
                "value = CAST(value AS INTEGER) + 1 "
                "RETURNING CAST(value AS INTEGER)",
                -1, &stmt, NULL)
            != SQLITE_OK)
        {
            goto failed;
        }

        sqlite3_bind_text(stmt, 1, (char *) s->version_key, -1,
                          SQLITE_STATIC);

        if (sqlite3_step(stmt) != SQLITE_ROW) {
            goto failed;
        }

        s->version = (uint64_t) sqlite3_column_int64(stmt, 0);

        if (sqlite3_step(stmt) != SQLITE_DONE) {
            goto failed;
        }

        sqlite3_finalize(stmt);
        stmt = NULL;
    }

    if (sqlite3_prepare_v2(db,
            "SELECT key, value FROM settings "
            "WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
            -1, &stmt, NULL)
        != SQLITE_OK)
    {
        goto failed;
    }

    sqlite3_bind_text(stmt, 1, (char *) s->prefix, -1, SQLITE_STATIC);

    s->nget = 0;

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {

        if (s->nget == NGX_VOICEGW_SETTINGS_MAX) {
            continue;
        }

        len = ngx_min((size_t) sqlite3_column_bytes(stmt, 0),
                      NGX_VOICEGW_SETTING_KEY_LEN - 1);
        ngx_cpystrn(s->get_key[s->nget],
                    (u_char *) sqlite3_column_text(stmt, 0), len + 1);

        len = ngx_min((size_t) sqlite3_column_bytes(stmt, 1),
                      NGX_VOICEGW_SETTING_VALUE_LEN - 1);
        ngx_cpystrn(s->get_value[s->nget],
                    (u_char *) sqlite3_column_text(stmt, 1), len + 1);

        s->nget++;
    }

    if (rc != SQLITE_DONE) {
        goto failed;
    }

    sqlite3_finalize(stmt);
    stmt = NULL;

    return ngx_voicegw_store_exec(db, "COMMIT", op->err, sizeof(op->err));

failed:

    ngx_voicegw_store_error(db, "settings", op->err, sizeof(op->err));

    if (stmt != NULL) {
        sqlite3_finalize(stmt);
    }

    (void) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);

    return NGX_ERROR;
}


static ngx_int_t
ngx_voicegw_store_exec(sqlite3 *db, const char *sql, u_char *err, size_t len)
{
    char  *msg;

    msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        ngx_snprintf(err, len, "%s%Z", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_voicegw_store_error(sqlite3 *db, const char *what, u_char *err,
    size_t len)
{
    ngx_snprintf(err, len, "%s: %s%Z", what, sqlite3_errmsg(db));
}


/* -- batches of statements ---------------------------------------------------- */

ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_add(ngx_voicegw_sql_batch_t *b, const char *sql,
    ngx_uint_t expect)
{
    ngx_voicegw_sql_stmt_t  *st;

    if (b->nstmts == NGX_VOICEGW_SQL_STMTS) {
        return NULL;
    }

    st = &b->stmt[b->nstmts++];
    ngx_memzero(st, sizeof(ngx_voicegw_sql_stmt_t));

    st->sql = sql;
    st->expect = expect;

    return st;
}


/*
 * The next parameter.  Too many of them is a programming error: the last
 * slot is reused, and the batch fails when it runs, saying why.
 */

static ngx_voicegw_sql_value_t *
ngx_voicegw_sql_param(ngx_voicegw_sql_stmt_t *st)
{
    if (st->nparams == NGX_VOICEGW_SQL_PARAMS) {
        st->sql = NULL;
        return &st->param[NGX_VOICEGW_SQL_PARAMS - 1];
    }

    return &st->param[st->nparams++];
}


void
ngx_voicegw_sql_text(ngx_voicegw_sql_stmt_t *st, ngx_str_t *s)
{
    ngx_voicegw_sql_value_t  *v;

    v = ngx_voicegw_sql_param(st);

    if (s == NULL || s->data == NULL) {
        v->type = NGX_VOICEGW_SQL_NULL;
        return;
    }

    v->type = NGX_VOICEGW_SQL_TEXT;
    v->s = *s;
}


void
ngx_voicegw_sql_ctext(ngx_voicegw_sql_stmt_t *st, const char *s)
{
    ngx_voicegw_sql_value_t  *v;

    v = ngx_voicegw_sql_param(st);
    v->type = NGX_VOICEGW_SQL_TEXT;
    v->s.data = (u_char *) s;
    v->s.len = ngx_strlen(s);
}


void
ngx_voicegw_sql_real(ngx_voicegw_sql_stmt_t *st, double d)
{
    ngx_voicegw_sql_value_t  *v;

    v = ngx_voicegw_sql_param(st);
    v->type = NGX_VOICEGW_SQL_REAL;
    v->d = d;
}


void
ngx_voicegw_sql_int(ngx_voicegw_sql_stmt_t *st, int64_t i)
{
    ngx_voicegw_sql_value_t  *v;

    v = ngx_voicegw_sql_param(st);
    v->type = NGX_VOICEGW_SQL_INT;
    v->i = i;
}


void
ngx_voicegw_sql_null(ngx_voicegw_sql_stmt_t *st)
{
    ngx_voicegw_sql_param(st)->type = NGX_VOICEGW_SQL_NULL;
}


/* the thread's side: append to a statement's result buffer */

static ngx_int_t
ngx_voicegw_sql_append(ngx_voicegw_sql_stmt_t *st, const void *data,
    size_t len)
{
    size_t   cap;
    u_char  *buf;

    if (st->len + len > st->cap) {
        cap = ngx_max(st->cap * 2, st->len + len + 1024);

        buf = realloc(st->buf, cap);
        if (buf == NULL) {
            return NGX_ERROR;
        }

        st->buf = buf;
        st->cap = cap;
    }

    ngx_memcpy(st->buf + st->len, data, len);
    st->len += len;

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_sql_row(ngx_voicegw_sql_stmt_t *st, sqlite3_stmt *stmt)
{
    int             i, n, type;
    u_char          t;
    double          d;
    int64_t         v;
    uint32_t        len;
    const u_char   *text;

    n = sqlite3_column_count(stmt);
    st->ncols = n;

    for (i = 0; i < n; i++) {
        type = sqlite3_column_type(stmt, i);

        switch (type) {

        case SQLITE_INTEGER:
            t = NGX_VOICEGW_SQL_INT;
            v = sqlite3_column_int64(stmt, i);

            if (ngx_voicegw_sql_append(st, &t, 1) != NGX_OK
                || ngx_voicegw_sql_append(st, &v, sizeof(v)) != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;

        case SQLITE_FLOAT:
            t = NGX_VOICEGW_SQL_REAL;
            d = sqlite3_column_double(stmt, i);

            if (ngx_voicegw_sql_append(st, &t, 1) != NGX_OK
                || ngx_voicegw_sql_append(st, &d, sizeof(d)) != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;

        case SQLITE_NULL:
            t = NGX_VOICEGW_SQL_NULL;

            if (ngx_voicegw_sql_append(st, &t, 1) != NGX_OK) {
                return NGX_ERROR;
            }

            break;

        default:
            t = NGX_VOICEGW_SQL_TEXT;
            text = sqlite3_column_text(stmt, i);
            len = sqlite3_column_bytes(stmt, i);

            if (text == NULL) {
                if (sqlite3_errcode(sqlite3_db_handle(stmt)) == SQLITE_NOMEM) {
                    return NGX_ERROR;
                }

                text = (const u_char *) "";   /* an empty blob */
                len = 0;
            }

            if (ngx_voicegw_sql_append(st, &t, 1) != NGX_OK
                || ngx_voicegw_sql_append(st, &len, sizeof(len)) != NGX_OK
                || ngx_voicegw_sql_append(st, text, len)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    st->nrows++;

    return NGX_OK;
}


/*
 * Runs the batch of op->data (ngx_voicegw_sql_batch_t) in a thread: NGX_OK;
 * NGX_DECLINED when a statement's expectation failed or a constraint was
 * violated (b->failed says which, b->sqlite_rc why); NGX_ERROR otherwise.
 */

ngx_int_t
ngx_voicegw_sql_run(ngx_voicegw_store_op_t *op, sqlite3 *db)
{
    ngx_voicegw_sql_batch_t  *b = op->data;

    int                       rc;
    ngx_int_t                 result;
    ngx_uint_t                i, k;
    sqlite3_stmt             *stmt;
    ngx_voicegw_sql_stmt_t   *st;
    ngx_voicegw_sql_value_t  *v;

    b->failed = -1;
    stmt = NULL;
    result = NGX_ERROR;

    /* a write takes the lock now; a read sees one snapshot throughout */

    if (ngx_voicegw_store_exec(db, b->write ? "BEGIN IMMEDIATE" : "BEGIN",
                               op->err, sizeof(op->err))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < b->nstmts; i++) {
        st = &b->stmt[i];

        if (st->sql == NULL) {
            ngx_snprintf(op->err, sizeof(op->err),
                         "statement %ui has more than %d parameters%Z",
                         i, NGX_VOICEGW_SQL_PARAMS);
            goto rollback;
        }

        if (sqlite3_prepare_v2(db, st->sql, -1, &stmt, NULL) != SQLITE_OK) {
            goto failed;
        }

        for (k = 0; k < st->nparams; k++) {
            v = &st->param[k];

            switch (v->type) {
            case NGX_VOICEGW_SQL_INT:
                rc = sqlite3_bind_int64(stmt, k + 1, v->i);
                break;
            case NGX_VOICEGW_SQL_REAL:
                rc = sqlite3_bind_double(stmt, k + 1, v->d);
                break;
            case NGX_VOICEGW_SQL_TEXT:
                rc = sqlite3_bind_text(stmt, k + 1, (char *) v->s.data,
                                       (int) v->s.len, SQLITE_STATIC);
                break;
            default:
                rc = sqlite3_bind_null(stmt, k + 1);
            }

            if (rc != SQLITE_OK) {
                goto failed;
            }
        }

        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            if (ngx_voicegw_sql_row(st, stmt) != NGX_OK) {
                ngx_snprintf(op->err, sizeof(op->err), "out of memory%Z");
                sqlite3_finalize(stmt);
                stmt = NULL;
                goto rollback;
            }
        }

        if (rc != SQLITE_DONE) {
            b->sqlite_rc = rc;

            if ((rc & 0xff) == SQLITE_CONSTRAINT) {
                b->failed = i;
                result = NGX_DECLINED;
            }

            goto failed;
        }

        /* sqlite3_changes() keeps the last write's count over a SELECT */
        st->changes = sqlite3_stmt_readonly(stmt) ? 0 : sqlite3_changes(db);

        sqlite3_finalize(stmt);
        stmt = NULL;

        if ((st->expect == NGX_VOICEGW_SQL_ROW && st->nrows == 0)
            || (st->expect == NGX_VOICEGW_SQL_NO_ROW && st->nrows)
            || (st->expect == NGX_VOICEGW_SQL_CHANGED && st->changes == 0))
        {
            b->failed = i;
            result = NGX_DECLINED;
            goto rollback;
        }
    }

    if (ngx_voicegw_store_exec(db, "COMMIT", op->err, sizeof(op->err))
        != NGX_OK)
    {
        goto rollback;
    }

    return NGX_OK;

failed:

    ngx_voicegw_store_error(db, "statement", op->err, sizeof(op->err));

    if (stmt != NULL) {
        sqlite3_finalize(stmt);
    }

rollback:

    (void) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);

    return result;
}


/* back on the event loop: the rows into the pool, the buffers freed */

ngx_int_t
ngx_voicegw_sql_collect(ngx_pool_t *pool, ngx_voicegw_sql_batch_t *b)
{
    u_char                   *p, *last;
    uint32_t                  len;
    ngx_uint_t                i, n;
    ngx_voicegw_sql_stmt_t   *st;
    ngx_voicegw_sql_value_t  *v;

    for (i = 0; i < b->nstmts; i++) {
        st = &b->stmt[i];

        if (st->nrows == 0) {
            continue;
        }

        st->rows = ngx_pcalloc(pool, st->nrows * st->ncols
                                     * sizeof(ngx_voicegw_sql_value_t));
        if (st->rows == NULL) {
            ngx_voicegw_sql_free(b);
            return NGX_ERROR;
        }

        p = st->buf;
        last = st->buf + st->len;

        for (n = 0; n < st->nrows * st->ncols && p < last; n++) {
            v = &st->rows[n];
            v->type = *p++;

            switch (v->type) {

            case NGX_VOICEGW_SQL_INT:
                ngx_memcpy(&v->i, p, sizeof(int64_t));
                v->d = (double) v->i;
                p += sizeof(int64_t);
                break;

            case NGX_VOICEGW_SQL_REAL:
                ngx_memcpy(&v->d, p, sizeof(double));
                v->i = (int64_t) v->d;
                p += sizeof(double);
                break;

            case NGX_VOICEGW_SQL_TEXT:
                ngx_memcpy(&len, p, sizeof(uint32_t));
                p += sizeof(uint32_t);

                v->s.data = ngx_pnalloc(pool, len + 1);
                if (v->s.data == NULL) {
                    ngx_voicegw_sql_free(b);
                    return NGX_ERROR;
                }

                ngx_memcpy(v->s.data, p, len);
                v->s.data[len] = '\0';
                v->s.len = len;
                p += len;
                break;

            default:
                break;
            }
        }
    }

    ngx_voicegw_sql_free(b);

    return NGX_OK;
}


/* a pool cleanup: the buffers of a batch whose request went away */

void
ngx_voicegw_sql_cleanup(void *data)
{
    ngx_voicegw_sql_free(data);
}


void
ngx_voicegw_sql_free(ngx_voicegw_sql_batch_t *b)
{
    ngx_uint_t  i;

    for (i = 0; i < b->nstmts; i++) {
        free(b->stmt[i].buf);
        b->stmt[i].buf = NULL;
        b->stmt[i].len = 0;
        b->stmt[i].cap = 0;
    }
}
