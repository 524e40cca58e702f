
/*
 * ngx_voicegw_schema.c
 *
 * Owns the shape of the database: the connection settings every
 * connection gets (WAL, busy timeout, foreign keys), the forward
 * migrations of the schema (PRAGMA user_version), and the check that a
 * database has the schema this module expects.
 *
 * Migrations run in the master only, while the configuration is read;
 * worker processes only check the version.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_sql.h"
#include "ngx_voicegw_schema.h"
#include "ngx_voicegw_rollup_sql.h"




/* the trigger's pieces: the day of NEW, and one histogram of NEW */

#define NGX_VOICEGW_NEW_DAY                                                  \
    "strftime('%Y-%m-%d', NEW.ts / 1000, 'unixepoch')"

#define NGX_VOICEGW_NEW_LATENCY(p, k, ms)                                    \
    NGX_VOICEGW_SQL_LATENCY_DAY(p, "NEW.model_id", k, NGX_VOICEGW_NEW_DAY,   \
                                ms " IS NOT NULL")                           \
    NGX_VOICEGW_SQL_LATENCY_ADD(p, "NEW.model_id", k, NGX_VOICEGW_NEW_DAY,   \
                                NGX_VOICEGW_SQL_BUCKET(ms), "1",             \
                                ms " IS NOT NULL")


/*
 * Forward migrations: migration i takes the schema from version i to i + 1.
 * Never edit an entry once it has shipped; append a new one.
 */

static const char  *ngx_voicegw_schema_migrations[] = {

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

    /*
     * 2 -> 3: the request recorder.  Its batches roll up what they insert
     * themselves (rolled_up = 1); the trigger rolls up rows inserted by
     * other means.  The request log gets the queue wait and flags, the
     * daily rollup units and errors, and the latency histograms become
     * cumulative (store/ngx_voicegw_rollup_sql.h), so that a month of
     * them is read from two row sets rather than thirty days of rows.
     */

    "DROP TRIGGER requests_rollup;"

    "ALTER TABLE requests ADD COLUMN queue_wait_ms REAL;"
    "ALTER TABLE requests ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN rolled_up INTEGER NOT NULL DEFAULT 0;"

    "ALTER TABLE daily ADD COLUMN errors INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE daily ADD COLUMN input_units REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE daily ADD COLUMN output_units REAL NOT NULL DEFAULT 0;"

    "UPDATE daily SET errors = r.e, input_units = r.i, output_units = r.o"
    "  FROM (SELECT strftime('%Y-%m-%d', ts / 1000, 'unixepoch') AS day,"
    "          project, provider, model_id, modality,"
    "          sum(status != 'success') AS e, total(input_units) AS i,"
    "          total(output_units) AS o"
    "        FROM requests GROUP BY 1, 2, 3, 4, 5) AS r"
    "  WHERE daily.day = r.day AND daily.project = r.project"
    "    AND daily.provider = r.provider AND daily.model_id = r.model_id"
    "    AND daily.modality = r.modality;"

    "CREATE TABLE latency_days ("
    "  project   TEXT NOT NULL,"
    "  model_id  TEXT NOT NULL,"
    "  kind      TEXT NOT NULL,"
    "  day       TEXT NOT NULL,"
    "  PRIMARY KEY (project, model_id, kind, day)"
    ") WITHOUT ROWID;"

    "CREATE TABLE latency_cum ("
    "  project   TEXT NOT NULL,"
    "  model_id  TEXT NOT NULL,"
    "  kind      TEXT NOT NULL,"
    "  day       TEXT NOT NULL,"
    "  bucket    INTEGER NOT NULL,"
    "  n         INTEGER NOT NULL,"
    "  PRIMARY KEY (project, model_id, kind, day, bucket)"
    ") WITHOUT ROWID;"

    "INSERT INTO latency_days"
    "  SELECT DISTINCT project, model_id, kind, day FROM daily_latency"
    "  UNION SELECT DISTINCT '*', model_id, kind, day FROM daily_latency;"

    "INSERT INTO latency_cum"
    "  SELECT d.project, d.model_id, d.kind, d.day, h.bucket, sum(h.n)"
    "  FROM latency_days AS d JOIN daily_latency AS h"
    "    ON h.model_id = d.model_id AND h.kind = d.kind"
    "   AND (d.project = '*' OR h.project = d.project) AND h.day <= d.day"
    "  GROUP BY d.project, d.model_id, d.kind, d.day, h.bucket;"

    "DROP TABLE daily_latency;"

    "CREATE TRIGGER requests_import AFTER INSERT ON requests"
    "  WHEN NEW.rolled_up = 0 BEGIN "
    NGX_VOICEGW_SQL_DAILY(NGX_VOICEGW_NEW_DAY, "NEW.project", "NEW.provider",
                          "NEW.model_id", "NEW.modality", "1",
                          "NEW.status != 'success'", "NEW.cost_usd",
                          "NEW.input_units", "NEW.output_units",
                          "coalesce(NEW.ttfb_ms, 0)",
                          "NEW.ttfb_ms IS NOT NULL",
                          "coalesce(NEW.total_latency_ms, 0)",
                          "NEW.total_latency_ms IS NOT NULL")
    NGX_VOICEGW_NEW_LATENCY("NEW.project", "'ttfb'", "NEW.ttfb_ms")
    NGX_VOICEGW_NEW_LATENCY("'*'", "'ttfb'", "NEW.ttfb_ms")
    NGX_VOICEGW_NEW_LATENCY("NEW.project", "'total'", "NEW.total_latency_ms")
    NGX_VOICEGW_NEW_LATENCY("'*'", "'total'", "NEW.total_latency_ms")
    "END;"

    "CREATE INDEX requests_modality ON requests (modality, ts);",

    /* 3 -> 4: the index of session recordings (voicegw_sessions) */
    "CREATE TABLE sessions ("
    "  session_id  TEXT PRIMARY KEY,"
    "  type        TEXT NOT NULL,"
    "  created_at  TEXT NOT NULL,"
    "  ended_at    TEXT,"
    "  worker      TEXT"
    ") WITHOUT ROWID;"
    "CREATE INDEX sessions_created ON sessions (created_at);",

    /*
     * 4 -> 5: requests_modality goes.  No query used it (the request
     * log's "(?1 IS NULL OR modality = ?1)" is planned on requests_ts),
     * and each recorded request paid for it (bench/RESULTS.md, "proxy":
     * SQLite's instructions per call, 17,900 before, 13,000 without it).
     */
    "DROP INDEX IF EXISTS requests_modality;",

    NULL
};


ngx_int_t
ngx_voicegw_schema_configure(sqlite3 *db, u_char *err, size_t len)
{
    int            rc;
    sqlite3_stmt  *stmt;

    if (sqlite3_busy_timeout(db, NGX_VOICEGW_STORE_BUSY_TIMEOUT)
        != SQLITE_OK)
    {
        ngx_voicegw_sql_error(db, "busy_timeout", err, len);
        return NGX_ERROR;
    }

    /* the first statement to read the file: a corrupt file fails here */

    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &stmt, NULL)
        != SQLITE_OK)
    {
        ngx_voicegw_sql_error(db, "journal_mode", err, len);
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
            ngx_voicegw_sql_error(db, "journal_mode", err, len);
        }

        sqlite3_finalize(stmt);
        return NGX_ERROR;
    }

    sqlite3_finalize(stmt);

    /*
     * a checkpoint every 256 pages (1 MiB of WAL) instead of SQLite's
     * 1000: it runs in the commit that crosses the mark, on the store's
     * thread, and at 1000 pages it held a CPU for 4 ms at once (bench/,
     * perf sched), which on a machine short of CPUs the requests wait for
     */

    return ngx_voicegw_sql_exec(db, "PRAGMA synchronous=NORMAL;"
                                      "PRAGMA foreign_keys=ON;"
                                      "PRAGMA wal_autocheckpoint=256;",
                                err, len);
}


ngx_int_t
ngx_voicegw_schema_migrate(sqlite3 *db, u_char *err, size_t len)
{
    int            version, known;
    u_char         sql[64];
    sqlite3_stmt  *stmt;

    for (known = 0; ngx_voicegw_schema_migrations[known]; known++) {
        /* void */
    }

    if (ngx_voicegw_sql_exec(db, "BEGIN IMMEDIATE", err, len) != NGX_OK) {
        return NGX_ERROR;
    }

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL)
        != SQLITE_OK
        || sqlite3_step(stmt) != SQLITE_ROW)
    {
        ngx_voicegw_sql_error(db, "user_version", err, len);
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

        if (ngx_voicegw_sql_exec(db, ngx_voicegw_schema_migrations[version],
                                   err, len)
            != NGX_OK)
        {
            goto failed;
        }

        ngx_snprintf(sql, sizeof(sql), "PRAGMA user_version=%d%Z",
                     version + 1);

        if (ngx_voicegw_sql_exec(db, (char *) sql, err, len) != NGX_OK) {
            goto failed;
        }
    }

    return ngx_voicegw_sql_exec(db, "COMMIT", err, len);

failed:

    (void) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);

    return NGX_ERROR;
}

/* what a worker process checks on the connection it opened */

ngx_int_t
ngx_voicegw_schema_check(sqlite3 *db, u_char *err, size_t len)
{
    int            version;
    sqlite3_stmt  *stmt;

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL)
        != SQLITE_OK
        || sqlite3_step(stmt) != SQLITE_ROW)
    {
        ngx_voicegw_sql_error(db, "user_version", err, len);
        sqlite3_finalize(stmt);
        return NGX_ERROR;
    }

    version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);

    if (version != NGX_VOICEGW_STORE_SCHEMA) {
        ngx_snprintf(err, len, "schema version %d, expected %d%Z",
                     version, NGX_VOICEGW_STORE_SCHEMA);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * What the master checks before it migrates or reads anything: every
 * page's structure, without cross-checking indexes against tables
 * ("PRAGMA quick_check": 0.35 s for 180 MB, measured, docs/storage-faults.md).
 * A file corrupted between two starts stops "nginx -t", the start and a
 * reload, with SQLite's first finding.
 */

ngx_int_t
ngx_voicegw_schema_quick_check(sqlite3 *db, u_char *err, size_t len)
{
    int            rc;
    u_char        *p, *last;
    const char    *found;
    sqlite3_stmt  *stmt;

    if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &stmt, NULL)
        != SQLITE_OK)
    {
        ngx_voicegw_sql_error(db, "quick_check", err, len);
        return NGX_ERROR;
    }

    rc = sqlite3_step(stmt);

    if (rc != SQLITE_ROW) {
        ngx_voicegw_sql_error(db, "quick_check", err, len);
        sqlite3_finalize(stmt);
        return NGX_ERROR;
    }

    found = (const char *) sqlite3_column_text(stmt, 0);

    if (found == NULL || ngx_strcmp(found, "ok") != 0) {
        last = ngx_snprintf(err, len, "the database is corrupt (quick_check: "
                            "%s); restore it from a backup, or move it away "
                            "to start with an empty one%Z",
                            found ? found : "no answer");

        /* SQLite's finding may take lines: one line in the log */

        for (p = err; p < last; p++) {
            if (*p == '\n') {
                *p = ' ';
            }
        }

        sqlite3_finalize(stmt);
        return NGX_ERROR;
    }

    sqlite3_finalize(stmt);

    return NGX_OK;
}
