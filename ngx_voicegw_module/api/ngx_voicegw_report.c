
/*
 * ngx_voicegw_report.c
 *
 * Owns what the reports (ngx_voicegw_api_reports.c, _metrics.c) share:
 * the periods and the project of the query string, the report queries,
 * and the reading of their rows.
 *
 *   - Costs and latency never scan the raw request log: they read the
 *     daily rollups ("daily") and the cumulative latency histograms
 *     ("latency_cum": a period is its latest row set minus the latest
 *     one before it; store/ngx_voicegw_rollup_sql.h), so their cost grows
 *     with days x groups, or only with groups, never with requests.
 *     Periods are UTC calendar windows, i.e. ranges of rollup days.
 *
 *   - Each report is ONE SELECT (a compound one where it needs several
 *     groupings), so that a total always equals the sum of its groups.
 *
 *   - Latency percentiles come from histograms with buckets 2 % wide
 *     (bucket b holds 1.02^b <= ms < 1.02^(b+1)).  Each sample is taken as
 *     its bucket's geometric midpoint, which is within 1 % of it, and the
 *     percentile is then numpy's "linear" one over those samples, computed
 *     on the event loop in a few passes over the rows the thread returned.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_sql.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_report.h"

#include <math.h>


/* the kinds of latency histograms in "latency_cum" */

static ngx_conf_enum_t  ngx_voicegw_report_kinds[] = {
    { ngx_string("ttfb"), 0 },
    { ngx_string("total"), 1 },
    { ngx_null_string, 0 }
};


/* the width of a latency bucket, as in the store's trigger */
#define NGX_VOICEGW_REPORT_BUCKET        1.02


static void ngx_voicegw_report_percentiles(ngx_voicegw_sql_stmt_t *st,
    ngx_uint_t from, ngx_uint_t to, double *out);
static double ngx_voicegw_report_sample(ngx_voicegw_sql_stmt_t *st,
    ngx_uint_t from, ngx_uint_t to, int64_t k);
static ngx_uint_t ngx_voicegw_report_str_eq(ngx_str_t *a, ngx_str_t *b);


static const double  ngx_voicegw_report_pct[NGX_VOICEGW_REPORT_NQUANTILES] = {
    50.0, 95.0, 99.0
};

const char  *ngx_voicegw_report_pct_keys[] = { "p50", "p95", "p99" };

const char  *ngx_voicegw_report_quantile_labels[] = {
    "0.5", "0.95", "0.99"
};

/*
 * Groups of the rollups in the window, for one project or all, as
 * (group, key, cost, requests), groups in the order of the
 * NGX_VOICEGW_REPORT_BY_* values, each by cost, highest first.
 */

const char  ngx_voicegw_report_costs_query[] =
    "SELECT 0, provider, total(cost_usd), sum(requests) FROM daily"
    " WHERE day >= ?1 AND (?2 IS NULL OR project = ?2)"
    " GROUP BY provider"
    " UNION ALL "
    "SELECT 1, model_id, total(cost_usd), sum(requests) FROM daily"
    " WHERE day >= ?1 AND (?2 IS NULL OR project = ?2)"
    " GROUP BY model_id"
    " UNION ALL "
    "SELECT 2, project, total(cost_usd), sum(requests) FROM daily"
    " WHERE day >= ?1 AND (?2 IS NULL OR project = ?2)"
    " GROUP BY project"
    " ORDER BY 1, 3 DESC, 2";


/*
 * Per model: first its sums and counts (group 0: key, -, -, ttfb sum and
 * count, latency sum and count, requests), then its histograms (group 1:
 * key, kind, bucket, count), kinds apart, buckets ascending.
 */

const char  ngx_voicegw_report_latency_query[] =
    "SELECT 0, model_id, NULL, NULL, total(ttfb_sum), sum(ttfb_n),"
    " total(latency_sum), sum(latency_n), sum(requests) FROM daily"
    " WHERE day >= ?1 AND (?2 IS NULL OR project = ?2)"
    " GROUP BY model_id"
    " UNION ALL "
    "SELECT 1, c.model_id, c.kind, c.bucket, c.n - coalesce(o.n, 0),"
    " NULL, NULL, NULL, NULL"
    " FROM (SELECT model_id, kind, project, max(day) AS hi,"
    "        (SELECT max(e.day) FROM latency_days AS e"
    "          WHERE e.project = d.project AND e.model_id = d.model_id"
    "            AND e.kind = d.kind AND e.day < ?1) AS lo"
    "       FROM latency_days AS d WHERE d.project = coalesce(?2, '*')"
    "       GROUP BY model_id, kind) AS w"
    " JOIN latency_cum AS c ON c.project = w.project"
    "  AND c.model_id = w.model_id AND c.kind = w.kind AND c.day = w.hi"
    " LEFT JOIN latency_cum AS o ON o.project = w.project"
    "  AND o.model_id = w.model_id AND o.kind = w.kind AND o.day = w.lo"
    "  AND o.bucket = c.bucket"
    " WHERE c.n > coalesce(o.n, 0)"
    " ORDER BY 2, 1, 3, 4";


const char  ngx_voicegw_report_logs_query[] =
    "SELECT id, ts, project, modality, model_id, provider, input_units,"
    " output_units, cost_usd, ttfb_ms, total_latency_ms, status, http_status,"
    " flags FROM requests"
    " WHERE (?1 IS NULL OR modality = ?1) AND (?2 IS NULL OR project = ?2)"
    " ORDER BY ts DESC, id DESC LIMIT ?3";


/* the record fields, in the order of the columns above */

const char  *ngx_voicegw_report_log_fields[] = {
    "id", "timestamp", "project", "modality", "model_id", "provider",
    "input_units", "output_units", "cost_usd", "ttfb_ms",
    "total_latency_ms", "status", "http_status", "flags", NULL
};


/* "period": NGX_OK, or NGX_DECLINED with the error answered */

ngx_int_t
ngx_voicegw_report_period(ngx_http_request_t *r,
    ngx_voicegw_report_query_t *q, ngx_int_t *answer)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    rc = ngx_voicegw_api_arg(r, "period", &value);

    if (rc == NGX_ERROR) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (rc == NGX_DECLINED) {
        ngx_str_set(&value, "today");
    }

    if (ngx_voicegw_report_period_name(q, &value) == NGX_OK) {
        return NGX_OK;
    }

    *answer = ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST, "invalid_query",
                                    "period must be one of today, week, "
                                    "month, all");
    return NGX_DECLINED;
}


/* "project": an id, or nothing (an empty value is no filter either) */

ngx_int_t
ngx_voicegw_report_project(ngx_http_request_t *r,
    ngx_voicegw_report_query_t *q, ngx_int_t *answer)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    rc = ngx_voicegw_api_arg(r, "project", &value);

    if (rc == NGX_ERROR) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (rc == NGX_DECLINED || value.len == 0) {
        return NGX_OK;
    }

    if (!ngx_voicegw_valid_id(&value)) {
        *answer = ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_query",
                                        "project must be a project id "
                                        "([a-z0-9][a-z0-9._-]{0,63})");
        return NGX_DECLINED;
    }

    q->project = value;

    return NGX_OK;
}


/*
 * A report over a window of days ("period", "project"): the query's rows
 * go to done(), which is called with no op when there is no store.
 */

ngx_int_t
ngx_voicegw_report_window(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    const char *sql, ngx_voicegw_api_handler_pt done)
{
    ngx_int_t                    answer;
    ngx_voicegw_sql_batch_t     *b;
    ngx_voicegw_report_query_t  *q;

    q = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_report_query_t));
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_voicegw_report_period(r, q, &answer) != NGX_OK
        || ngx_voicegw_report_project(r, q, &answer) != NGX_OK)
    {
        return answer;
    }

    ctx->data = q;

    if (ctx->vmcf->store == NULL) {
        return done(r, ctx);
    }

    b = ngx_voicegw_api_batch(r, ctx, 0);
    if (b == NULL || ngx_voicegw_report_sql(b, sql, q) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx, done);
}


/* a report's statement: ?1 the first day, ?2 the project (may be empty) */

ngx_int_t
ngx_voicegw_report_sql(ngx_voicegw_sql_batch_t *b, const char *sql,
    ngx_voicegw_report_query_t *q)
{
    ngx_voicegw_sql_stmt_t  *st;

    st = ngx_voicegw_sql_add(b, sql, NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NGX_ERROR;
    }

    ngx_voicegw_sql_text(st, &q->since);
    ngx_voicegw_sql_text(st, &q->project);

    return NGX_OK;
}


/*
 * The members "total", "by_provider", "by_model" (and "by_project") of
 * the caller's open map, from the rows of the costs statement (NULL: no
 * store, all empty).
 */

void
ngx_voicegw_report_costs_json(ngx_voicegw_json_t *j,
    ngx_voicegw_sql_stmt_t *st, ngx_uint_t by_project)
{
    double                    total;
    int64_t                   requests;
    ngx_uint_t                g, row, ngroups;
    ngx_voicegw_sql_value_t  *v;

    static const char  *names[] = { "by_provider", "by_model", "by_project" };

    total = (st != NULL) ? ngx_voicegw_report_costs_total(st, &requests)
                         : 0.0;

    ngx_voicegw_json_key(j, "total");
    ngx_voicegw_json_double(j, total);

    ngroups = by_project ? 3 : 2;
    row = 0;

    for (g = 0; g < ngroups; g++) {
        ngx_voicegw_json_key(j, names[g]);
        ngx_voicegw_json_map_open(j);

        for ( /* void */ ; st && st->ncols >= 4 && row < st->nrows; row++) {
            v = ngx_voicegw_sql_cell(st, row, 0);

            if (v->i < (int64_t) g) {
                continue;
            }

            if (v->i > (int64_t) g) {
                break;
            }

            ngx_voicegw_json_str(j, &v[1].s);
            ngx_voicegw_json_map_open(j);
            ngx_voicegw_json_key(j, "cost");
            ngx_voicegw_json_double(j, v[2].d);
            ngx_voicegw_json_key(j, "requests");
            ngx_voicegw_json_int(j, v[3].i);
            ngx_voicegw_json_map_close(j);
        }

        ngx_voicegw_json_map_close(j);
    }
}


/* the sum over the providers: every request has exactly one */

double
ngx_voicegw_report_costs_total(ngx_voicegw_sql_stmt_t *st, int64_t *requests)
{
    double                    total;
    ngx_uint_t                row;
    ngx_voicegw_sql_value_t  *v;

    total = 0.0;
    *requests = 0;

    for (row = 0; st->ncols >= 4 && row < st->nrows; row++) {
        v = ngx_voicegw_sql_cell(st, row, 0);

        if (v->i != NGX_VOICEGW_REPORT_BY_PROVIDER) {
            break;
        }

        total += v[2].d;
        *requests += v[3].i;
    }

    return total;
}


/*
 * The statistics of the next model in the rows of the latency statement,
 * from row *next on: 1, or 0 when there is none left.
 */

ngx_uint_t
ngx_voicegw_report_latency_next(ngx_voicegw_sql_stmt_t *st, ngx_uint_t *next,
    ngx_voicegw_report_model_t *m)
{
    ngx_str_t                *kind;
    ngx_uint_t                i, end, k, kend, which;
    ngx_voicegw_sql_value_t  *v, *w;

    if (st->ncols < 9 || *next >= st->nrows) {
        return 0;
    }

    ngx_memzero(m, sizeof(ngx_voicegw_report_model_t));

    m->avg_ttfb = NAN;
    m->avg_latency = NAN;

    for (i = 0; i < NGX_VOICEGW_REPORT_NQUANTILES; i++) {
        m->ttfb[i] = NAN;
        m->latency[i] = NAN;
    }

    m->model = ngx_voicegw_sql_cell(st, *next, 1)->s;

    for (end = *next; end < st->nrows; end++) {
        w = ngx_voicegw_sql_cell(st, end, 0);

        if (!ngx_voicegw_report_str_eq(&w[1].s, &m->model)) {
            break;
        }
    }

    for (k = *next; k < end; k = kend) {
        v = ngx_voicegw_sql_cell(st, k, 0);

        if (v->i == 0) {
            m->ttfb_n = v[5].i;
            m->latency_n = v[7].i;
            m->requests = v[8].i;

            if (m->ttfb_n > 0) {
                m->avg_ttfb = v[4].d / m->ttfb_n;
            }

            if (m->latency_n > 0) {
                m->avg_latency = v[6].d / m->latency_n;
            }

            kend = k + 1;
            continue;
        }

        kind = &v[2].s;

        for (kend = k + 1; kend < end; kend++) {
            w = ngx_voicegw_sql_cell(st, kend, 0);

            if (!ngx_voicegw_report_str_eq(&w[2].s, kind)) {
                break;
            }
        }

        if (ngx_voicegw_enum_value(ngx_voicegw_report_kinds, kind, &which)
            == NGX_OK)
        {
            ngx_voicegw_report_percentiles(st, k, kend,
                                           which ? m->latency : m->ttfb);
        }
    }

    *next = end;

    return 1;
}


/*
 * numpy's "linear" percentiles of the samples of a histogram's rows
 * [from, to) (bucket in column 3, count in column 4, buckets ascending),
 * each sample taken as its bucket's geometric midpoint 1.02^(b + 0.5).
 * That is within 1 % of every value of the bucket, and an interpolation
 * between two such values stays within 1 % of the exact interpolation.
 */

static void
ngx_voicegw_report_percentiles(ngx_voicegw_sql_stmt_t *st, ngx_uint_t from,
    ngx_uint_t to, double *out)
{
    double      h, frac, a, b;
    int64_t     total, lo;
    ngx_uint_t  i;

    total = 0;

    for (i = from; i < to; i++) {
        if (ngx_voicegw_sql_cell(st, i, 4)->i > 0) {
            total += ngx_voicegw_sql_cell(st, i, 4)->i;
        }
    }

    if (total == 0) {
        return;
    }

    for (i = 0; i < NGX_VOICEGW_REPORT_NQUANTILES; i++) {
        h = (double) (total - 1) * ngx_voicegw_report_pct[i] / 100.0;
        lo = (int64_t) floor(h);
        frac = h - (double) lo;

        a = ngx_voicegw_report_sample(st, from, to, lo);
        b = (frac > 0.0 && lo + 1 < total)
            ? ngx_voicegw_report_sample(st, from, to, lo + 1) : a;

        out[i] = a + frac * (b - a);
    }
}


/* the k-th smallest sample (from 0) of a histogram's rows */

static double
ngx_voicegw_report_sample(ngx_voicegw_sql_stmt_t *st, ngx_uint_t from,
    ngx_uint_t to, int64_t k)
{
    int64_t                   n;
    ngx_uint_t                i;
    ngx_voicegw_sql_value_t  *v;

    v = NULL;

    for (i = from; i < to; i++) {
        v = ngx_voicegw_sql_cell(st, i, 0);
        n = v[4].i;

        if (n <= 0) {
            continue;
        }

        if (k < n) {
            break;
        }

        k -= n;
    }

    return pow(NGX_VOICEGW_REPORT_BUCKET, v[3].d + 0.5);
}


/* milliseconds to the microsecond, null when there is no sample */

void
ngx_voicegw_report_ms(ngx_voicegw_json_t *j, double ms)
{
    if (isnan(ms)) {
        ngx_voicegw_json_null(j);
        return;
    }

    ngx_voicegw_json_double(j, round(ms * 1000.0) / 1000.0);
}


void
ngx_voicegw_report_value(ngx_voicegw_json_t *j, ngx_voicegw_sql_value_t *v)
{
    switch (v->type) {

    case NGX_VOICEGW_SQL_INT:
        ngx_voicegw_json_int(j, v->i);
        break;

    case NGX_VOICEGW_SQL_REAL:
        ngx_voicegw_json_double(j, v->d);
        break;

    case NGX_VOICEGW_SQL_TEXT:
        ngx_voicegw_json_str(j, &v->s);
        break;

    default:
        ngx_voicegw_json_null(j);
    }
}


/* ISO-8601 UTC to the millisecond: "2025-01-31T12:00:00.250Z" */

void
ngx_voicegw_report_timestamp(ngx_voicegw_json_t *j, int64_t msec)
{
    u_char    buf[64], *p;
    time_t    sec;
    int64_t   ms;
    ngx_tm_t  tm;

    sec = (time_t) (msec / 1000);
    ms = msec % 1000;

    if (ms < 0) {
        sec--;
        ms += 1000;
    }

    ngx_gmtime(sec, &tm);

    p = ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02d.%03LZ",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec, ms);

    ngx_voicegw_json_strn(j, buf, p - buf);
}


static ngx_uint_t
ngx_voicegw_report_str_eq(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len
           && (a->len == 0 || ngx_memcmp(a->data, b->data, a->len) == 0);
}
