
/*
 * ngx_voicegw_record_rows.c
 *
 * Owns the request log's raw rows as the recorder writes and deletes
 * them: the INSERT statement for one record or for a group of
 * NGX_VOICEGW_RECORD_GROUP records at once, the binding of a record to
 * its row's parameters, and one step of retention.  One statement per group, not per record: the
 * statement's own cost (its reset, cursors, the end of each step) is a
 * third of a row's when each row is a statement of its own (Python's
 * sqlite3 on this table: 3.0 us a row one by one, 2.1 by 16 or more).
 * Which rows were already there is known only one statement at a time;
 * ngx_voicegw_record_sql.c does the groups first and the records one by
 * one only when a group inserted fewer rows than it had.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_record.h"
#include "ngx_voicegw_recorder.h"
#include "ngx_voicegw_sql.h"
#include "ngx_voicegw_record_sql.h"
#include "ngx_voicegw_record_rows.h"


static ngx_int_t ngx_voicegw_record_prune(sqlite3 *db,
    ngx_voicegw_store_op_t *op, const char *sql, ngx_str_t *cut);


#define NGX_VOICEGW_RECORD_COLUMNS                                           \
    "INSERT OR IGNORE INTO requests (id, ts, project, modality, model_id,"   \
    " provider, input_units, output_units, cost_usd, ttfb_ms,"               \
    " total_latency_ms, status, http_status, queue_wait_ms, flags,"          \
    " rolled_up) VALUES "

/* a row's values: NGX_VOICEGW_RECORD_PARAMS parameters, then rolled_up */
#define NGX_VOICEGW_RECORD_ROW  "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1)"


ngx_int_t
ngx_voicegw_record_rows_prepare(sqlite3 *db, ngx_uint_t rows,
    sqlite3_stmt **st)
{
    u_char      *p;
    ngx_uint_t   i;
    u_char       sql[sizeof(NGX_VOICEGW_RECORD_COLUMNS)
                     + NGX_VOICEGW_RECORD_GROUP
                       * sizeof("," NGX_VOICEGW_RECORD_ROW)];

    if (rows == 0 || rows > NGX_VOICEGW_RECORD_GROUP) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(sql, NGX_VOICEGW_RECORD_COLUMNS,
                   sizeof(NGX_VOICEGW_RECORD_COLUMNS) - 1);

    for (i = 0; i < rows; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, NGX_VOICEGW_RECORD_ROW,
                       sizeof(NGX_VOICEGW_RECORD_ROW) - 1);
    }

    *p = '\0';

    if (sqlite3_prepare_v2(db, (char *) sql, -1, st, NULL) != SQLITE_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the record's values, as the row'th row of the statement (from 0) */

void
ngx_voicegw_record_rows_bind(sqlite3_stmt *st, ngx_uint_t row,
    ngx_voicegw_rec_t *h)
{
    int         n;
    u_char     *s;
    ngx_str_t  *name;

    n = (int) (row * NGX_VOICEGW_RECORD_PARAMS);
    s = (u_char *) (h + 1);

    sqlite3_bind_int64(st, n + 1, (sqlite3_int64) h->id);
    sqlite3_bind_int64(st, n + 2, (sqlite3_int64) h->ts);
    sqlite3_bind_text(st, n + 3, (char *) s, h->project_len, SQLITE_STATIC);

    name = &ngx_voicegw_modality_names[h->modality];
    sqlite3_bind_text(st, n + 4, (char *) name->data, name->len,
                      SQLITE_STATIC);

    sqlite3_bind_text(st, n + 5, (char *) s + h->project_len + h->provider_len,
                      h->model_len, SQLITE_STATIC);
    sqlite3_bind_text(st, n + 6, (char *) s + h->project_len, h->provider_len,
                      SQLITE_STATIC);
    sqlite3_bind_double(st, n + 7, h->input_units);
    sqlite3_bind_double(st, n + 8, h->output_units);
    sqlite3_bind_double(st, n + 9, h->cost_usd);

    if (h->ttfb_ms >= 0) {
        sqlite3_bind_double(st, n + 10, h->ttfb_ms);
    } else {
        sqlite3_bind_null(st, n + 10);
    }

    if (h->total_ms >= 0) {
        sqlite3_bind_double(st, n + 11, h->total_ms);
    } else {
        sqlite3_bind_null(st, n + 11);
    }

    name = &ngx_voicegw_status_names[h->status];
    sqlite3_bind_text(st, n + 12, (char *) name->data, name->len,
                      SQLITE_STATIC);

    if (h->http_status) {
        sqlite3_bind_int(st, n + 13, h->http_status);
    } else {
        sqlite3_bind_null(st, n + 13);
    }

    if (h->queue_wait_ms >= 0) {
        sqlite3_bind_double(st, n + 14, h->queue_wait_ms);
    } else {
        sqlite3_bind_null(st, n + 14);
    }

    sqlite3_bind_int(st, n + 15, h->flags);
}


/*
 * One step of retention: at most NGX_VOICEGW_RETENTION_STEP raw rows
 * older than the limit (rollups stay), and, once none is left, the
 * histogram row sets that no period reaches any more (all but the
 * latest one before the 30 days of "month").
 */

ngx_int_t
ngx_voicegw_record_sql_retention(ngx_voicegw_store_op_t *op, sqlite3 *db)
{
    ngx_voicegw_retention_t  *rt = op->data;

    u_char         dbuf[16];
    ngx_str_t      cut;
    sqlite3_stmt  *st;

    rt->deleted = 0;

    if (sqlite3_prepare_v2(db,
            "DELETE FROM requests WHERE id IN (SELECT id FROM requests"
            " WHERE ts < ?1 ORDER BY ts LIMIT ?2)", -1, &st, NULL)
        != SQLITE_OK)
    {
        ngx_voicegw_sql_error(db, "retention", op->err, sizeof(op->err));
        return NGX_ERROR;
    }

    sqlite3_bind_int64(st, 1, rt->before);
    sqlite3_bind_int(st, 2, NGX_VOICEGW_RETENTION_STEP);

    if (sqlite3_step(st) != SQLITE_DONE) {
        ngx_voicegw_sql_error(db, "retention", op->err, sizeof(op->err));
        sqlite3_finalize(st);
        return NGX_ERROR;
    }

    rt->deleted = sqlite3_changes(db);
    sqlite3_finalize(st);

    if (rt->deleted == NGX_VOICEGW_RETENTION_STEP) {
        return NGX_OK;
    }

    ngx_voicegw_record_day(dbuf, rt->today - 31, &cut);

    /* by the row sets' keys, so that only those row sets are read */

    if (ngx_voicegw_record_prune(db, op,
            "DELETE FROM latency_cum WHERE (project, model_id, kind, day) IN"
            " (SELECT project, model_id, kind, day FROM latency_days AS o"
            "  WHERE o.day < ?1 AND EXISTS (SELECT 1 FROM latency_days AS d"
            "   WHERE d.project = o.project AND d.model_id = o.model_id"
            "   AND d.kind = o.kind AND d.day > o.day AND d.day < ?1))",
            &cut)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_voicegw_record_prune(db, op,
            "DELETE FROM latency_days WHERE day < ?1 AND EXISTS (SELECT 1"
            " FROM latency_days AS d WHERE d.project = latency_days.project"
            " AND d.model_id = latency_days.model_id"
            " AND d.kind = latency_days.kind"
            " AND d.day > latency_days.day AND d.day < ?1)", &cut);
}


/* one DELETE of the histograms' row sets before the day ?1 */

static ngx_int_t
ngx_voicegw_record_prune(sqlite3 *db, ngx_voicegw_store_op_t *op,
    const char *sql, ngx_str_t *cut)
{
    int            rc;
    sqlite3_stmt  *st;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        ngx_voicegw_sql_error(db, "retention", op->err, sizeof(op->err));
        return NGX_ERROR;
    }

    sqlite3_bind_text(st, 1, (char *) cut->data, cut->len, SQLITE_STATIC);

    rc = sqlite3_step(st);

    if (rc != SQLITE_DONE) {
        ngx_voicegw_sql_error(db, "retention", op->err, sizeof(op->err));
    }

    sqlite3_finalize(st);

    return (rc == SQLITE_DONE) ? NGX_OK : NGX_ERROR;
}


/* "YYYY-MM-DD" of a day number (days since 1970-01-01, UTC) */

void
ngx_voicegw_record_day(u_char *buf, int32_t day, ngx_str_t *s)
{
    ngx_tm_t  tm;

    ngx_gmtime((time_t) day * 86400, &tm);

    s->data = buf;
    s->len = ngx_sprintf(buf, "%4d-%02d-%02d", tm.ngx_tm_year,
                         tm.ngx_tm_mon, tm.ngx_tm_mday)
             - buf;
}
