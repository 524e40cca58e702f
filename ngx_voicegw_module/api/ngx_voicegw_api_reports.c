
/*
 * ngx_voicegw_api_reports.c
 *
 * Handlers of the VoiceGateway API's reports: /v1/costs, /v1/latency and
 * /v1/logs (SPEC sections 5-7).  They only read the store, through one
 * read batch on its thread pool (ngx_voicegw_report.c reads the rows).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_sql.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_record.h"
#include "ngx_voicegw_report.h"


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
static void ngx_voicegw_api_logs_flags(ngx_voicegw_json_t *j,
    ngx_voicegw_sql_value_t *v);
static ngx_int_t ngx_voicegw_api_logs_send(ngx_http_request_t *r,
    ngx_voicegw_sql_stmt_t *st);


ngx_voicegw_api_route_t  ngx_voicegw_api_reports_routes[] = {

    { NGX_HTTP_GET, ngx_string("/v1/costs"),
      ngx_voicegw_api_costs, 0 },

    { NGX_HTTP_GET, ngx_string("/v1/latency"),
      ngx_voicegw_api_latency, 0 },

    { NGX_HTTP_GET, ngx_string("/v1/logs"),
      ngx_voicegw_api_logs, 0 },

    { 0, ngx_null_string, NULL, 0 }
};


/* -- GET /v1/costs -------------------------------------------------------- */

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

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


/* -- GET /v1/latency ------------------------------------------------------ */

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

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


/* -- GET /v1/logs --------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_api_logs(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                    rc, answer;
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

    if (rc == NGX_OK
        && ngx_voicegw_report_limit(&value, &q->limit) != NGX_OK)
    {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_query",
                                     "limit must be an integer from 1 "
                                     "to %d", NGX_VOICEGW_REPORT_LOGS_MAX);
    }

    rc = ngx_voicegw_api_arg(r, "modality", &value);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK && value.len) {

        if (ngx_voicegw_report_modality(&value) != NGX_OK) {
            return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
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


/* the record's flags, by name: ["unpriced","partial"] */

static void
ngx_voicegw_api_logs_flags(ngx_voicegw_json_t *j, ngx_voicegw_sql_value_t *v)
{
    ngx_uint_t  i, flags;

    flags = v->type == NGX_VOICEGW_SQL_NULL ? 0 : (ngx_uint_t) v->i;

    ngx_voicegw_json_array_open(j);

    for (i = 0; ngx_voicegw_flag_names[i].len; i++) {
        if (flags & (1 << i)) {
            ngx_voicegw_json_strn(j, ngx_voicegw_flag_names[i].data,
                                  ngx_voicegw_flag_names[i].len);
        }
    }

    ngx_voicegw_json_array_close(j);
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

            v = ngx_voicegw_sql_cell(st, row, col);

            if (col == 1 && v->type != NGX_VOICEGW_SQL_NULL) {
                ngx_voicegw_report_timestamp(j, v->i);
                continue;
            }

            if (col == NGX_VOICEGW_REPORT_FLAGS_COL) {
                ngx_voicegw_api_logs_flags(j, v);
                continue;
            }

            ngx_voicegw_report_value(j, v);
        }

        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_array_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}
