
/*
 * ngx_voicegw_api_report.c
 *
 * Handlers of the VoiceGateway API's reports: /v1/costs, /v1/latency,
 * /v1/logs and /v1/metrics (SPEC sections 5-7).  They only read: the
 * store through one read batch on its thread pool, the zone under its
 * lock for copies only.
 *
 * The ideas a reader needs:
 *
 *   - Costs and latency never scan the raw request log: they read the
 *     daily rollups ("daily", "daily_latency") that the store's trigger
 *     keeps, so their cost grows with days x groups, not with requests.
 *     Periods are UTC calendar windows, i.e. ranges of rollup days.
 *
 *   - Each report is ONE SELECT (a compound one where it needs several
 *     groupings): a read batch runs its statements outside of any
 *     transaction, and only a single statement is sure to see one
 *     snapshot, so that a total always equals the sum of its groups.
 *
 *   - Latency percentiles come from histograms with buckets 2 % wide
 *     (bucket b holds 1.02^b <= ms < 1.02^(b+1)).  Each sample is taken as
 *     its bucket's geometric midpoint, which is within 1 % of it, and the
 *     percentile is then numpy's "linear" one over those samples, computed
 *     on the event loop in a few passes over the rows the thread returned.
 *
 *   - The "today" figures of /v1/metrics fall back to zero at 00:00 UTC:
 *     they are gauges, whatever their "_total" names (kept from the seed)
 *     suggest.  Counters are only what never goes down while the zone
 *     lives (cache hits and misses, ticket outcomes).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_entities.h"

#include <math.h>


#define NGX_VOICEGW_REPORT_LOGS_DEFAULT  100
#define NGX_VOICEGW_REPORT_LOGS_MAX      1000

/* the width of a latency bucket, as in the store's trigger */
#define NGX_VOICEGW_REPORT_BUCKET        1.02

#define NGX_VOICEGW_REPORT_NQUANTILES    3
#define NGX_VOICEGW_REPORT_NSTATES       5    /* NGX_VOICEGW_WORKER_* */
#define NGX_VOICEGW_REPORT_NOUTCOMES     4

#define NGX_VOICEGW_REPORT_TEXT_BUF      4096

/* the groups of the costs statement, its first column */
#define NGX_VOICEGW_REPORT_BY_PROVIDER   0
#define NGX_VOICEGW_REPORT_BY_MODEL      1
#define NGX_VOICEGW_REPORT_BY_PROJECT    2

#define ngx_voicegw_report_cell(st, row, col)                                 \
    (&(st)->rows[(row) * (st)->ncols + (col)])


/* what the query string asked for */

typedef struct {
    ngx_str_t                    period;      /* "today", ... */
    ngx_str_t                    since;       /* first day; "" for all */
    u_char                       day[sizeof("YYYY-MM-DD")];
    ngx_str_t                    project;     /* .data NULL: no filter */
    ngx_str_t                    modality;    /* .data NULL: no filter */
    int64_t                      limit;
} ngx_voicegw_report_query_t;


/* one model's latency statistics, NAN where there is no sample */

typedef struct {
    ngx_str_t                    model;
    int64_t                      requests;
    int64_t                      ttfb_n;
    int64_t                      latency_n;
    double                       avg_ttfb;
    double                       avg_latency;
    double                       ttfb[NGX_VOICEGW_REPORT_NQUANTILES];
    double                       latency[NGX_VOICEGW_REPORT_NQUANTILES];
} ngx_voicegw_report_model_t;


/* a pool as /v1/metrics shows it, copied out of the zone */

typedef struct {
    u_char                       name[NGX_VOICEGW_NAME_LEN];
    ngx_uint_t                   queued;
    ngx_uint_t                   workers[NGX_VOICEGW_REPORT_NSTATES];
    ngx_uint_t                   hits;
    ngx_uint_t                   misses;
    ngx_uint_t                   outcome[NGX_VOICEGW_REPORT_NOUTCOMES];
} ngx_voicegw_report_pool_t;


typedef struct {
    ngx_voicegw_report_query_t   query;
    uint64_t                     uptime;      /* ms */
    ngx_uint_t                   npools;
    ngx_voicegw_report_pool_t    pools[NGX_VOICEGW_MAX_POOLS];
} ngx_voicegw_report_metrics_t;


/* Prometheus text, written straight into a chain of buffers */

typedef struct {
    ngx_pool_t                  *pool;
    ngx_chain_t                 *out;
    ngx_chain_t                **last;
    ngx_buf_t                   *buf;
    size_t                       size;
    ngx_uint_t                   labels;      /* labels in the open sample */
    ngx_uint_t                   failed;
} ngx_voicegw_report_text_t;


static ngx_int_t ngx_voicegw_api_costs(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_costs_done(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_costs_send(ngx_http_request_t *r,
    ngx_voicegw_report_query_t *q, ngx_voicegw_sql_stmt_t *st);
static ngx_int_t ngx_voicegw_api_latency(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_latency_done(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_latency_send(ngx_http_request_t *r,
    ngx_voicegw_sql_stmt_t *st);
static ngx_int_t ngx_voicegw_api_logs(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_logs_done(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_logs_send(ngx_http_request_t *r,
    ngx_voicegw_sql_stmt_t *st);
static ngx_int_t ngx_voicegw_api_metrics(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_metrics_done(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_metrics_send(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_sql_batch_t *b);

static ngx_int_t ngx_voicegw_report_period(ngx_http_request_t *r,
    ngx_voicegw_report_query_t *q, ngx_int_t *answer);
static void ngx_voicegw_report_since(ngx_voicegw_report_query_t *q,
    ngx_int_t days);
static ngx_int_t ngx_voicegw_report_project(ngx_http_request_t *r,
    ngx_voicegw_report_query_t *q, ngx_int_t *answer);

static ngx_int_t ngx_voicegw_report_window(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, const char *sql,
    ngx_voicegw_api_handler_pt done);
static ngx_int_t ngx_voicegw_report_sql(ngx_voicegw_sql_batch_t *b,
    const char *sql, ngx_voicegw_report_query_t *q);
static void ngx_voicegw_report_costs_json(ngx_voicegw_json_t *j,
    ngx_voicegw_sql_stmt_t *st, ngx_uint_t by_project);
static double ngx_voicegw_report_costs_total(ngx_voicegw_sql_stmt_t *st,
    int64_t *requests);
static ngx_uint_t ngx_voicegw_report_latency_next(ngx_voicegw_sql_stmt_t *st,
    ngx_uint_t *next, ngx_voicegw_report_model_t *m);
static void ngx_voicegw_report_percentiles(ngx_voicegw_sql_stmt_t *st,
    ngx_uint_t from, ngx_uint_t to, double *out);
static double ngx_voicegw_report_sample(ngx_voicegw_sql_stmt_t *st,
    ngx_uint_t from, ngx_uint_t to, int64_t k);
static void ngx_voicegw_report_ms(ngx_voicegw_json_t *j, double ms);
static void ngx_voicegw_report_value(ngx_voicegw_json_t *j,
    ngx_voicegw_sql_value_t *v);
static void ngx_voicegw_report_timestamp(ngx_voicegw_json_t *j,
    int64_t msec);
static ngx_uint_t ngx_voicegw_report_str_eq(ngx_str_t *a, ngx_str_t *b);

static void ngx_voicegw_report_pools(ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_report_metrics_t *m);
static ngx_uint_t ngx_voicegw_report_count_new(ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_sql_stmt_t *st, ngx_uint_t projects);
static void ngx_voicegw_report_text(ngx_voicegw_report_text_t *t,
    const void *data, size_t len);
static void ngx_voicegw_report_ctext(ngx_voicegw_report_text_t *t,
    const char *s);
static void ngx_voicegw_report_family(ngx_voicegw_report_text_t *t,
    const char *name, const char *type, const char *help);
static void ngx_voicegw_report_metric(ngx_voicegw_report_text_t *t,
    const char *name);
static void ngx_voicegw_report_label(ngx_voicegw_report_text_t *t,
    const char *name, u_char *value, size_t len);
static void ngx_voicegw_report_number(ngx_voicegw_report_text_t *t,
    const char *fmt, double d);
static void ngx_voicegw_report_uint(ngx_voicegw_report_text_t *t,
    uint64_t n);
static void ngx_voicegw_report_groups(ngx_voicegw_report_text_t *t,
    const char *name, ngx_voicegw_sql_stmt_t *st, ngx_uint_t cost,
    double total_cost, int64_t total_requests);
static void ngx_voicegw_report_quantiles(ngx_voicegw_report_text_t *t,
    const char *name, ngx_str_t *model, double *ms);
static ngx_int_t ngx_voicegw_report_send_text(ngx_http_request_t *r,
    ngx_voicegw_report_text_t *t);


ngx_voicegw_api_route_t  ngx_voicegw_api_report_routes[] = {

    { NGX_HTTP_GET, ngx_string("/v1/costs"),
      ngx_voicegw_api_costs, 0 },

    { NGX_HTTP_GET, ngx_string("/v1/latency"),
      ngx_voicegw_api_latency, 0 },

    { NGX_HTTP_GET, ngx_string("/v1/logs"),
      ngx_voicegw_api_logs, 0 },

    { NGX_HTTP_GET, ngx_string("/v1/metrics"),
      ngx_voicegw_api_metrics, 0 },

    { 0, ngx_null_string, NULL, 0 }
};


/* periods are UTC calendar windows: today and the N days before it */

static struct {
    ngx_str_t                    name;
    ngx_int_t                    days;        /* -1: all */
} ngx_voicegw_report_periods[] = {
    { ngx_string("today"), 0 },
    { ngx_string("week"), 6 },
    { ngx_string("month"), 29 },
    { ngx_string("all"), -1 },
    { ngx_null_string, 0 }
};


static const double  ngx_voicegw_report_pct[NGX_VOICEGW_REPORT_NQUANTILES] = {
    50.0, 95.0, 99.0
};

static const char  *ngx_voicegw_report_pct_keys[] = { "p50", "p95", "p99" };

static const char  *ngx_voicegw_report_quantile_labels[] = {
    "0.5", "0.95", "0.99"
};

static const char  *ngx_voicegw_report_worker_states[] = {
    "idle", "busy", "loading", "error", "offline"
};

static const char  *ngx_voicegw_report_outcomes[] = {
    "rejected", "timed_out", "cancelled", "abandoned"
};


/*
 * Groups of the rollups in the window, for one project or all, as
 * (group, key, cost, requests), groups in the order of the
 * NGX_VOICEGW_REPORT_BY_* values, each by cost, highest first.
 */

static const char  ngx_voicegw_report_costs_query[] =
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

static const char  ngx_voicegw_report_latency_query[] =
    "SELECT 0, model_id, NULL, NULL, total(ttfb_sum), sum(ttfb_n),"
    " total(latency_sum), sum(latency_n), sum(requests) FROM daily"
    " WHERE day >= ?1 AND (?2 IS NULL OR project = ?2)"
    " GROUP BY model_id"
    " UNION ALL "
    "SELECT 1, model_id, kind, bucket, sum(n), NULL, NULL, NULL, NULL"
    " FROM daily_latency"
    " WHERE day >= ?1 AND (?2 IS NULL OR project = ?2)"
    " GROUP BY model_id, kind, bucket"
    " ORDER BY 2, 1, 3, 4";


static const char  ngx_voicegw_report_logs_query[] =
    "SELECT id, ts, project, modality, model_id, provider, input_units,"
    " output_units, cost_usd, ttfb_ms, total_latency_ms, status, http_status"
    " FROM requests"
    " WHERE (?1 IS NULL OR modality = ?1) AND (?2 IS NULL OR project = ?2)"
    " ORDER BY ts DESC, id DESC LIMIT ?3";


/* the record fields, in the order of the columns above */

static const char  *ngx_voicegw_report_log_fields[] = {
    "id", "timestamp", "project", "modality", "model_id", "provider",
    "input_units", "output_units", "cost_usd", "ttfb_ms",
    "total_latency_ms", "status", "http_status", NULL
};


/* -- GET /v1/costs --------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_api_costs(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    return ngx_voicegw_report_window(r, ctx, ngx_voicegw_report_costs_query,
                                     ngx_voicegw_api_costs_done);
}


static ngx_int_t
ngx_voicegw_api_costs_done(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                 answer;
    ngx_voicegw_sql_batch_t  *b;

    if (ctx->op == NULL) {
        return ngx_voicegw_api_costs_send(r, ctx->data, NULL);
    }

    b = ngx_voicegw_api_batch_rows(r, ctx, &answer);
    if (b == NULL) {
        return answer;
    }

    return ngx_voicegw_api_costs_send(r, ctx->data, &b->stmt[0]);
}


/*
 * {"period","project","total","by_provider","by_model","by_project"};
 * by_project has the filtered project alone when there is a filter.
 */

static ngx_int_t
ngx_voicegw_api_costs_send(ngx_http_request_t *r,
    ngx_voicegw_report_query_t *q, ngx_voicegw_sql_stmt_t *st)
{
    ngx_voicegw_json_t  *j;

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);

    ngx_voicegw_json_key(j, "period");
    ngx_voicegw_json_str(j, &q->period);

    ngx_voicegw_json_key(j, "project");

    if (q->project.data) {
        ngx_voicegw_json_str(j, &q->project);

    } else {
        ngx_voicegw_json_null(j);
    }

    ngx_voicegw_report_costs_json(j, st, 1);

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


/* -- GET /v1/latency ------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_api_latency(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    return ngx_voicegw_report_window(r, ctx, ngx_voicegw_report_latency_query,
                                     ngx_voicegw_api_latency_done);
}


static ngx_int_t
ngx_voicegw_api_latency_done(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                 answer;
    ngx_voicegw_sql_batch_t  *b;

    if (ctx->op == NULL) {
        return ngx_voicegw_api_latency_send(r, NULL);
    }

    b = ngx_voicegw_api_batch_rows(r, ctx, &answer);
    if (b == NULL) {
        return answer;
    }

    return ngx_voicegw_api_latency_send(r, &b->stmt[0]);
}


/*
 * {model_id: {"avg_ttfb_ms","avg_latency_ms","request_count",
 * "ttfb_percentiles":{"p50","p95","p99"},"latency_percentiles":{..},
 * "ttfb_samples","latency_samples"}}, models in id order.
 */

static ngx_int_t
ngx_voicegw_api_latency_send(ngx_http_request_t *r,
    ngx_voicegw_sql_stmt_t *st)
{
    ngx_uint_t                  next, i;
    ngx_voicegw_json_t         *j;
    ngx_voicegw_report_model_t  m;

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);

    next = 0;

    while (st && ngx_voicegw_report_latency_next(st, &next, &m)) {

        ngx_voicegw_json_str(j, &m.model);
        ngx_voicegw_json_map_open(j);

        ngx_voicegw_json_key(j, "avg_ttfb_ms");
        ngx_voicegw_report_ms(j, m.avg_ttfb);
        ngx_voicegw_json_key(j, "avg_latency_ms");
        ngx_voicegw_report_ms(j, m.avg_latency);
        ngx_voicegw_json_key(j, "request_count");
        ngx_voicegw_json_int(j, m.requests);

        ngx_voicegw_json_key(j, "ttfb_percentiles");
        ngx_voicegw_json_map_open(j);

        for (i = 0; i < NGX_VOICEGW_REPORT_NQUANTILES; i++) {
            ngx_voicegw_json_key(j, ngx_voicegw_report_pct_keys[i]);
            ngx_voicegw_report_ms(j, m.ttfb[i]);
        }

        ngx_voicegw_json_map_close(j);

        ngx_voicegw_json_key(j, "latency_percentiles");
        ngx_voicegw_json_map_open(j);

        for (i = 0; i < NGX_VOICEGW_REPORT_NQUANTILES; i++) {
            ngx_voicegw_json_key(j, ngx_voicegw_report_pct_keys[i]);
            ngx_voicegw_report_ms(j, m.latency[i]);
        }

        ngx_voicegw_json_map_close(j);

        ngx_voicegw_json_key(j, "ttfb_samples");
        ngx_voicegw_json_int(j, m.ttfb_n);
        ngx_voicegw_json_key(j, "latency_samples");
        ngx_voicegw_json_int(j, m.latency_n);

        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


/* -- GET /v1/logs ---------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_api_logs(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                    rc, answer, n;
    ngx_str_t                    value;
    ngx_voicegw_sql_stmt_t      *st;
    ngx_voicegw_sql_batch_t     *b;
    ngx_voicegw_report_query_t  *q;

    q = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_report_query_t));
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q->limit = NGX_VOICEGW_REPORT_LOGS_DEFAULT;

    rc = ngx_voicegw_api_arg(r, "limit", &value);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        n = (value.len && value.len <= 4) ? ngx_atoi(value.data, value.len)
                                          : NGX_ERROR;

        if (n < 1 || n > NGX_VOICEGW_REPORT_LOGS_MAX) {
            return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_query",
                                         "limit must be an integer from 1 "
                                         "to %d",
                                         NGX_VOICEGW_REPORT_LOGS_MAX);
        }

        q->limit = n;
    }

    rc = ngx_voicegw_api_arg(r, "modality", &value);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK && value.len) {

        /* worker-pool tasks are accounted as "omni" (SPEC 6) */

        if (!ngx_voicegw_valid_modality(&value)
            && !(value.len == 4 && ngx_strncmp(value.data, "omni", 4) == 0))
        {
            return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_query",
                                         "modality must be one of stt, llm, "
                                         "tts, omni");
        }

        q->modality = value;
    }

    if (ngx_voicegw_report_project(r, q, &answer) != NGX_OK) {
        return answer;
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_api_logs_send(r, NULL);
    }

    b = ngx_voicegw_api_batch(r, ctx, 0);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = ngx_voicegw_sql_add(b, ngx_voicegw_report_logs_query,
                             NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_sql_text(st, &q->modality);
    ngx_voicegw_sql_text(st, &q->project);
    ngx_voicegw_sql_int(st, q->limit);

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_api_logs_done);
}


static ngx_int_t
ngx_voicegw_api_logs_done(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                 answer;
    ngx_voicegw_sql_batch_t  *b;

    b = ngx_voicegw_api_batch_rows(r, ctx, &answer);
    if (b == NULL) {
        return answer;
    }

    return ngx_voicegw_api_logs_send(r, &b->stmt[0]);
}


/* an array of records, newest first */

static ngx_int_t
ngx_voicegw_api_logs_send(ngx_http_request_t *r, ngx_voicegw_sql_stmt_t *st)
{
    ngx_uint_t                row, col;
    ngx_voicegw_json_t       *j;
    ngx_voicegw_sql_value_t  *v;

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_array_open(j);

    for (row = 0; st && row < st->nrows; row++) {

        ngx_voicegw_json_map_open(j);

        for (col = 0; ngx_voicegw_report_log_fields[col]; col++) {
            ngx_voicegw_json_key(j, ngx_voicegw_report_log_fields[col]);

            if (col >= st->ncols) {
                ngx_voicegw_json_null(j);
                continue;
            }

            v = ngx_voicegw_report_cell(st, row, col);

            if (col == 1 && v->type != NGX_VOICEGW_SQL_NULL) {
                ngx_voicegw_report_timestamp(j, v->i);
                continue;
            }

            ngx_voicegw_report_value(j, v);
        }

        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_array_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


/* -- GET /v1/metrics ------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_api_metrics(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_sql_batch_t       *b;
    ngx_voicegw_report_metrics_t  *m;

    m = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_report_metrics_t));
    if (m == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_report_since(&m->query, 0);
    ngx_voicegw_report_pools(ctx, m);

    ctx->data = m;

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_api_metrics_send(r, ctx, NULL);
    }

    b = ngx_voicegw_api_batch(r, ctx, 0);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* 0, 1: the entities of the store; 2: costs; 3: latency, today */

    if (ngx_voicegw_sql_add(b, "SELECT id FROM providers",
                            NGX_VOICEGW_SQL_ANY)
        == NULL
        || ngx_voicegw_sql_add(b, "SELECT id FROM projects",
                               NGX_VOICEGW_SQL_ANY)
           == NULL
        || ngx_voicegw_report_sql(b, ngx_voicegw_report_costs_query,
                                  &m->query) != NGX_OK
        || ngx_voicegw_report_sql(b, ngx_voicegw_report_latency_query,
                                  &m->query) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_api_metrics_done);
}


static ngx_int_t
ngx_voicegw_api_metrics_done(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                 answer;
    ngx_voicegw_sql_batch_t  *b;

    b = ngx_voicegw_api_batch_rows(r, ctx, &answer);
    if (b == NULL) {
        return answer;
    }

    return ngx_voicegw_api_metrics_send(r, ctx, b);
}


/*
 * Prometheus text format 0.0.4.  Every family has its HELP and TYPE lines
 * and its samples together, also when it has no sample at all.
 */

static ngx_int_t
ngx_voicegw_api_metrics_send(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_sql_batch_t *b)
{
    double                         total;
    int64_t                        requests;
    ngx_uint_t                     i, k, next, providers, projects;
    ngx_voicegw_sql_stmt_t        *costs, *latency;
    ngx_voicegw_report_pool_t     *p;
    ngx_voicegw_report_text_t      t;
    ngx_voicegw_report_model_t     model;
    ngx_voicegw_report_metrics_t  *m;

    m = ctx->data;

    ngx_memzero(&t, sizeof(ngx_voicegw_report_text_t));
    t.pool = r->pool;
    t.last = &t.out;

    providers = ctx->vmcf->providers.nelts;
    projects = ctx->vmcf->projects.nelts;
    costs = NULL;
    latency = NULL;

    if (b != NULL) {
        providers += ngx_voicegw_report_count_new(ctx, &b->stmt[0], 0);
        projects += ngx_voicegw_report_count_new(ctx, &b->stmt[1], 1);
        costs = &b->stmt[2];
        latency = &b->stmt[3];
    }

    ngx_voicegw_report_family(&t, "voicegw_uptime_seconds", "gauge",
                              "Seconds since the gateway started "
                              "(kept over reloads)");
    ngx_voicegw_report_metric(&t, "voicegw_uptime_seconds");
    ngx_voicegw_report_number(&t, "%.1f", m->uptime / 1000.0);

    ngx_voicegw_report_family(&t, "voicegw_providers_configured", "gauge",
                              "Providers configured, in nginx.conf and "
                              "through the API");
    ngx_voicegw_report_metric(&t, "voicegw_providers_configured");
    ngx_voicegw_report_uint(&t, providers);

    ngx_voicegw_report_family(&t, "voicegw_projects_configured", "gauge",
                              "Projects configured, in nginx.conf and "
                              "through the API");
    ngx_voicegw_report_metric(&t, "voicegw_projects_configured");
    ngx_voicegw_report_uint(&t, projects);

    /* today (UTC): these fall back to 0 at midnight, hence gauges */

    total = 0.0;
    requests = 0;

    if (costs != NULL) {
        total = ngx_voicegw_report_costs_total(costs, &requests);
    }

    ngx_voicegw_report_family(&t, "voicegw_cost_usd_total", "gauge",
                              "Cost in USD today (UTC): in all, and by "
                              "provider, model and project");
    ngx_voicegw_report_groups(&t, "voicegw_cost_usd_total", costs, 1, total,
                              requests);

    ngx_voicegw_report_family(&t, "voicegw_requests_total", "gauge",
                              "Requests today (UTC): in all, and by "
                              "provider, model and project");
    ngx_voicegw_report_groups(&t, "voicegw_requests_total", costs, 0, total,
                              requests);

    ngx_voicegw_report_family(&t, "voicegw_request_ttfb_seconds", "gauge",
                              "Time to first byte today (UTC) by model, "
                              "quantiles within 2 %");

    next = 0;

    while (latency && ngx_voicegw_report_latency_next(latency, &next, &model))
    {
        ngx_voicegw_report_quantiles(&t, "voicegw_request_ttfb_seconds",
                                     &model.model, model.ttfb);
    }

    ngx_voicegw_report_family(&t, "voicegw_request_total_latency_seconds",
                              "gauge",
                              "Total latency today (UTC) by model, "
                              "quantiles within 2 %");

    next = 0;

    while (latency && ngx_voicegw_report_latency_next(latency, &next, &model))
    {
        ngx_voicegw_report_quantiles(&t,
                                     "voicegw_request_total_latency_seconds",
                                     &model.model, model.latency);
    }

    /* the worker pools, from the zone */

    ngx_voicegw_report_family(&t, "voicegw_queue_length", "gauge",
                              "Tickets waiting for a worker");

    for (i = 0; i < m->npools; i++) {
        p = &m->pools[i];
        ngx_voicegw_report_metric(&t, "voicegw_queue_length");
        ngx_voicegw_report_label(&t, "pool", p->name,
                                 ngx_strlen(p->name));
        ngx_voicegw_report_uint(&t, p->queued);
    }

    ngx_voicegw_report_family(&t, "voicegw_workers", "gauge",
                              "Inference workers by state");

    for (i = 0; i < m->npools; i++) {
        p = &m->pools[i];

        for (k = 0; k < NGX_VOICEGW_REPORT_NSTATES; k++) {
            ngx_voicegw_report_metric(&t, "voicegw_workers");
            ngx_voicegw_report_label(&t, "pool", p->name,
                                     ngx_strlen(p->name));
            ngx_voicegw_report_label(&t, "state",
                            (u_char *) ngx_voicegw_report_worker_states[k],
                            ngx_strlen(ngx_voicegw_report_worker_states[k]));
            ngx_voicegw_report_uint(&t, p->workers[k]);
        }
    }

    ngx_voicegw_report_family(&t, "voicegw_cache_hits_total", "counter",
                              "Tasks given a worker that held their "
                              "KV cache");

    for (i = 0; i < m->npools; i++) {
        p = &m->pools[i];
        ngx_voicegw_report_metric(&t, "voicegw_cache_hits_total");
        ngx_voicegw_report_label(&t, "pool", p->name,
                                 ngx_strlen(p->name));
        ngx_voicegw_report_uint(&t, p->hits);
    }

    ngx_voicegw_report_family(&t, "voicegw_cache_misses_total", "counter",
                              "Tasks given a worker without their KV "
                              "cache");

    for (i = 0; i < m->npools; i++) {
        p = &m->pools[i];
        ngx_voicegw_report_metric(&t, "voicegw_cache_misses_total");
        ngx_voicegw_report_label(&t, "pool", p->name,
                                 ngx_strlen(p->name));
        ngx_voicegw_report_uint(&t, p->misses);
    }

    ngx_voicegw_report_family(&t, "voicegw_queue_tickets_total", "counter",
                              "Tickets that did not get a worker, by "
                              "outcome");

    for (i = 0; i < m->npools; i++) {
        p = &m->pools[i];

        for (k = 0; k < NGX_VOICEGW_REPORT_NOUTCOMES; k++) {
            ngx_voicegw_report_metric(&t, "voicegw_queue_tickets_total");
            ngx_voicegw_report_label(&t, "pool", p->name,
                                     ngx_strlen(p->name));
            ngx_voicegw_report_label(&t, "outcome",
                                (u_char *) ngx_voicegw_report_outcomes[k],
                                ngx_strlen(ngx_voicegw_report_outcomes[k]));
            ngx_voicegw_report_uint(&t, p->outcome[k]);
        }
    }

    return ngx_voicegw_report_send_text(r, &t);
}


/* -- the query string ------------------------------------------------------ */

/* "period": NGX_OK, or NGX_DECLINED with the error answered */

static ngx_int_t
ngx_voicegw_report_period(ngx_http_request_t *r,
    ngx_voicegw_report_query_t *q, ngx_int_t *answer)
{
    ngx_int_t   rc;
    ngx_str_t   value;
    ngx_uint_t  i;

    rc = ngx_voicegw_api_arg(r, "period", &value);

    if (rc == NGX_ERROR) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (rc == NGX_DECLINED) {
        ngx_str_set(&value, "today");
    }

    for (i = 0; ngx_voicegw_report_periods[i].name.len; i++) {
        if (value.len == ngx_voicegw_report_periods[i].name.len
            && ngx_strncmp(value.data, ngx_voicegw_report_periods[i].name.data,
                           value.len)
               == 0)
        {
            q->period = ngx_voicegw_report_periods[i].name;
            ngx_voicegw_report_since(q, ngx_voicegw_report_periods[i].days);

            return NGX_OK;
        }
    }

    *answer = ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST, "invalid_query",
                                    "period must be one of today, week, "
                                    "month, all");
    return NGX_DECLINED;
}


/* the first UTC day of a window of today and the "days" before it */

static void
ngx_voicegw_report_since(ngx_voicegw_report_query_t *q, ngx_int_t days)
{
    ngx_tm_t  tm;

    q->since.data = q->day;

    if (days < 0) {
        q->since.len = 0;
        return;
    }

    ngx_gmtime(ngx_time() - days * 86400, &tm);

    q->since.len = ngx_sprintf(q->day, "%4d-%02d-%02d", tm.ngx_tm_year,
                               tm.ngx_tm_mon, tm.ngx_tm_mday)
                   - q->day;
}


/* "project": an id, or nothing (an empty value is no filter either) */

static ngx_int_t
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
        *answer = ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_query",
                                        "project must be a project id "
                                        "([a-z0-9][a-z0-9._-]{0,63})");
        return NGX_DECLINED;
    }

    q->project = value;

    return NGX_OK;
}


/* -- costs ----------------------------------------------------------------- */

/*
 * A report over a window of days ("period", "project"): the query's rows
 * go to done(), which is called with no op when there is no store.
 */

static ngx_int_t
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

static ngx_int_t
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

static void
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
            v = ngx_voicegw_report_cell(st, row, 0);

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

static double
ngx_voicegw_report_costs_total(ngx_voicegw_sql_stmt_t *st, int64_t *requests)
{
    double                    total;
    ngx_uint_t                row;
    ngx_voicegw_sql_value_t  *v;

    total = 0.0;
    *requests = 0;

    for (row = 0; st->ncols >= 4 && row < st->nrows; row++) {
        v = ngx_voicegw_report_cell(st, row, 0);

        if (v->i != NGX_VOICEGW_REPORT_BY_PROVIDER) {
            break;
        }

        total += v[2].d;
        *requests += v[3].i;
    }

    return total;
}


/* -- latency --------------------------------------------------------------- */

/*
 * The statistics of the next model in the rows of the latency statement,
 * from row *next on: 1, or 0 when there is none left.
 */

static ngx_uint_t
ngx_voicegw_report_latency_next(ngx_voicegw_sql_stmt_t *st, ngx_uint_t *next,
    ngx_voicegw_report_model_t *m)
{
    ngx_str_t                *kind;
    ngx_uint_t                i, end, k, kend;
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

    m->model = ngx_voicegw_report_cell(st, *next, 1)->s;

    for (end = *next; end < st->nrows; end++) {
        w = ngx_voicegw_report_cell(st, end, 0);

        if (!ngx_voicegw_report_str_eq(&w[1].s, &m->model)) {
            break;
        }
    }

    for (k = *next; k < end; k = kend) {
        v = ngx_voicegw_report_cell(st, k, 0);

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
            w = ngx_voicegw_report_cell(st, kend, 0);

            if (!ngx_voicegw_report_str_eq(&w[2].s, kind)) {
                break;
            }
        }

        if (kind->len == 4 && ngx_strncmp(kind->data, "ttfb", 4) == 0) {
            ngx_voicegw_report_percentiles(st, k, kend, m->ttfb);

        } else if (kind->len == 5 && ngx_strncmp(kind->data, "total", 5) == 0)
        {
            ngx_voicegw_report_percentiles(st, k, kend, m->latency);
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
        if (ngx_voicegw_report_cell(st, i, 4)->i > 0) {
            total += ngx_voicegw_report_cell(st, i, 4)->i;
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
        v = ngx_voicegw_report_cell(st, i, 0);
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


/* -- JSON values ----------------------------------------------------------- */

/* milliseconds to the microsecond, null when there is no sample */

static void
ngx_voicegw_report_ms(ngx_voicegw_json_t *j, double ms)
{
    if (isnan(ms)) {
        ngx_voicegw_json_null(j);
        return;
    }

    ngx_voicegw_json_double(j, round(ms * 1000.0) / 1000.0);
}


static void
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

static void
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


/* -- metrics --------------------------------------------------------------- */

/* the pools and the uptime, copied under the zone's lock */

static void
ngx_voicegw_report_pools(ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_report_metrics_t *m)
{
    uint64_t                    start, now;
    ngx_uint_t                  i, k, state;
    ngx_voicegw_queue_sh_t     *q;
    ngx_voicegw_pool_sh_t      *pool;
    ngx_voicegw_report_pool_t  *p;

    q = &ctx->shm->sh->queue;
    now = ngx_voicegw_now_msec();

    ngx_voicegw_shm_lock(ctx->shm);

    start = ctx->shm->sh->start_msec;

    for (i = 0; i < q->npools && m->npools < NGX_VOICEGW_MAX_POOLS; i++) {
        pool = q->pools[i];

        if (pool->retired) {
            continue;
        }

        p = &m->pools[m->npools++];

        ngx_memcpy(p->name, pool->name, NGX_VOICEGW_NAME_LEN);
        p->name[NGX_VOICEGW_NAME_LEN - 1] = '\0';

        p->queued = pool->queued;
        p->hits = pool->hits;
        p->misses = pool->misses;
        p->outcome[0] = pool->rejected;
        p->outcome[1] = pool->timed_out;
        p->outcome[2] = pool->cancelled;
        p->outcome[3] = pool->abandoned;

        for (k = 0; k < pool->nworkers; k++) {
            state = ngx_voicegw_worker_state(&pool->workers[k]);
            p->workers[state % NGX_VOICEGW_REPORT_NSTATES]++;
        }
    }

    ngx_voicegw_shm_unlock(ctx->shm);

    m->uptime = (now > start) ? now - start : 0;
}


/* the ids of the store that nginx.conf does not define as well */

static ngx_uint_t
ngx_voicegw_report_count_new(ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_sql_stmt_t *st, ngx_uint_t projects)
{
    ngx_uint_t                row, n;
    ngx_voicegw_sql_value_t  *v;

    n = 0;

    for (row = 0; st->ncols >= 1 && row < st->nrows; row++) {
        v = ngx_voicegw_report_cell(st, row, 0);

        if (v->type != NGX_VOICEGW_SQL_TEXT) {
            continue;
        }

        if (projects ? ngx_voicegw_conf_project(ctx->vmcf, &v->s) == NULL
                     : ngx_voicegw_conf_provider(ctx->vmcf, &v->s) == NULL)
        {
            n++;
        }
    }

    return n;
}


static void
ngx_voicegw_report_text(ngx_voicegw_report_text_t *t, const void *data,
    size_t len)
{
    size_t        n;
    const u_char *p;
    ngx_chain_t  *cl;

    p = data;

    while (len && !t->failed) {

        if (t->buf == NULL || t->buf->last == t->buf->end) {

            t->buf = ngx_create_temp_buf(t->pool,
                                         NGX_VOICEGW_REPORT_TEXT_BUF);
            cl = ngx_alloc_chain_link(t->pool);

            if (t->buf == NULL || cl == NULL) {
                t->failed = 1;
                return;
            }

            cl->buf = t->buf;
            cl->next = NULL;
            *t->last = cl;
            t->last = &cl->next;
        }

        n = ngx_min(len, (size_t) (t->buf->end - t->buf->last));
        t->buf->last = ngx_cpymem(t->buf->last, p, n);
        t->size += n;
        p += n;
        len -= n;
    }
}


static void
ngx_voicegw_report_ctext(ngx_voicegw_report_text_t *t, const char *s)
{
    ngx_voicegw_report_text(t, s, ngx_strlen(s));
}


static void
ngx_voicegw_report_family(ngx_voicegw_report_text_t *t, const char *name,
    const char *type, const char *help)
{
    ngx_voicegw_report_ctext(t, "# HELP ");
    ngx_voicegw_report_ctext(t, name);
    ngx_voicegw_report_ctext(t, " ");
    ngx_voicegw_report_ctext(t, help);
    ngx_voicegw_report_ctext(t, "\n# TYPE ");
    ngx_voicegw_report_ctext(t, name);
    ngx_voicegw_report_ctext(t, " ");
    ngx_voicegw_report_ctext(t, type);
    ngx_voicegw_report_ctext(t, "\n");
}


/* a sample: its name, then labels, then its value ends the line */

static void
ngx_voicegw_report_metric(ngx_voicegw_report_text_t *t, const char *name)
{
    ngx_voicegw_report_ctext(t, name);
    t->labels = 0;
}


/* name="value", the value escaped: \ as \\, " as \", newline as \n */

static void
ngx_voicegw_report_label(ngx_voicegw_report_text_t *t, const char *name,
    u_char *value, size_t len)
{
    u_char  *p, *last, *run;

    ngx_voicegw_report_ctext(t, t->labels ? "," : "{");
    t->labels++;

    ngx_voicegw_report_ctext(t, name);
    ngx_voicegw_report_ctext(t, "=\"");

    last = value + len;

    for (p = value, run = value; p < last; p++) {

        if (*p != '\\' && *p != '"' && *p != '\n') {
            continue;
        }

        ngx_voicegw_report_text(t, run, p - run);
        ngx_voicegw_report_ctext(t, (*p == '\\') ? "\\\\"
                                    : (*p == '"') ? "\\\"" : "\\n");
        run = p + 1;
    }

    ngx_voicegw_report_text(t, run, last - run);
    ngx_voicegw_report_ctext(t, "\"");
}


static void
ngx_voicegw_report_number(ngx_voicegw_report_text_t *t, const char *fmt,
    double d)
{
    int   n;
    char  buf[64];

    ngx_voicegw_report_ctext(t, t->labels ? "} " : " ");

    if (isnan(d)) {
        ngx_voicegw_report_ctext(t, "NaN\n");
        return;
    }

    n = snprintf(buf, sizeof(buf), fmt, d);

    if (n <= 0 || n >= (int) sizeof(buf)) {
        t->failed = 1;
        return;
    }

    ngx_voicegw_report_text(t, buf, n);
    ngx_voicegw_report_ctext(t, "\n");
}


static void
ngx_voicegw_report_uint(ngx_voicegw_report_text_t *t, uint64_t n)
{
    u_char  buf[NGX_INT64_LEN + 4], *p;

    p = ngx_sprintf(buf, "%s%uL\n", t->labels ? "} " : " ", n);

    ngx_voicegw_report_text(t, buf, p - buf);
}


/*
 * The samples of the cost (or the requests) family: {period="today"},
 * then one per provider, model and project of the costs statement.
 */

static void
ngx_voicegw_report_groups(ngx_voicegw_report_text_t *t, const char *name,
    ngx_voicegw_sql_stmt_t *st, ngx_uint_t cost, double total_cost,
    int64_t total_requests)
{
    ngx_uint_t                row;
    ngx_voicegw_sql_value_t  *v;

    static const char  *labels[] = { "provider", "model", "project" };

    ngx_voicegw_report_metric(t, name);
    ngx_voicegw_report_label(t, "period", (u_char *) "today", 5);

    if (cost) {
        ngx_voicegw_report_number(t, "%.6f", total_cost);

    } else {
        ngx_voicegw_report_uint(t, total_requests);
    }

    for (row = 0; st && st->ncols >= 4 && row < st->nrows; row++) {
        v = ngx_voicegw_report_cell(st, row, 0);

        if (v->i < 0 || v->i > NGX_VOICEGW_REPORT_BY_PROJECT) {
            continue;
        }

        ngx_voicegw_report_metric(t, name);
        ngx_voicegw_report_label(t, labels[v->i], v[1].s.data, v[1].s.len);

        if (cost) {
            ngx_voicegw_report_number(t, "%.6f", v[2].d);

        } else {
            ngx_voicegw_report_uint(t, v[3].i);
        }
    }
}


/* a model's p50, p95 and p99 in seconds; none without samples */

static void
ngx_voicegw_report_quantiles(ngx_voicegw_report_text_t *t, const char *name,
    ngx_str_t *model, double *ms)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_VOICEGW_REPORT_NQUANTILES; i++) {

        if (isnan(ms[i])) {
            continue;
        }

        ngx_voicegw_report_metric(t, name);
        ngx_voicegw_report_label(t, "model", model->data, model->len);
        ngx_voicegw_report_label(t, "quantile",
                          (u_char *) ngx_voicegw_report_quantile_labels[i],
                          ngx_strlen(ngx_voicegw_report_quantile_labels[i]));
        ngx_voicegw_report_number(t, "%.6f", ms[i] / 1000.0);
    }
}


static ngx_int_t
ngx_voicegw_report_send_text(ngx_http_request_t *r,
    ngx_voicegw_report_text_t *t)
{
    ngx_int_t  rc;

    if (t->failed || t->out == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "voicegw: cannot build the metrics");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    t->buf->last_buf = (r == r->main) ? 1 : 0;
    t->buf->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = t->size;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, t->out);
}
