
/*
 * ngx_voicegw_api_metrics.c
 *
 * Handler of /v1/metrics: Prometheus text format 0.0.4, every family with
 * its HELP and TYPE lines and its samples together, also when it has no
 * sample at all.  The text is written into a chain of buffers by the
 * same writer as JSON answers (core/ngx_voicegw_json_out.c).
 *
 * The "today" families (the seed's voicegw_cost_usd_total and
 * voicegw_requests_total) are counters, as the seed types them, that
 * reset at 00:00 UTC, which Prometheus's rate() reads as a counter
 * reset.  The families of the recorder (ngx_voicegw_api_books.c) count
 * since nginx started.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_sql.h"
#include "ngx_voicegw_entity_sql.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_report.h"
#include "ngx_voicegw_prom.h"
#include "ngx_voicegw_api_books.h"

#include <math.h>


#define NGX_VOICEGW_METRICS_NOUTCOMES    4


typedef struct {
    ngx_voicegw_report_query_t   query;
    uint64_t                     uptime;      /* ms */
    ngx_uint_t                   npools;
    ngx_voicegw_pool_view_t      pools[NGX_VOICEGW_MAX_POOLS];
} ngx_voicegw_report_metrics_t;


static ngx_int_t ngx_voicegw_api_metrics(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_metrics_done(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_metrics_send(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_sql_batch_t *b);
static void ngx_voicegw_report_pools(ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_report_metrics_t *m);
static void ngx_voicegw_report_groups(ngx_voicegw_prom_t *t,
    const char *name, ngx_voicegw_sql_stmt_t *st, ngx_uint_t cost,
    double total_cost, int64_t total_requests);
static void ngx_voicegw_report_quantiles(ngx_voicegw_prom_t *t,
    const char *name, ngx_str_t *model, double *ms, double avg, int64_t n);


ngx_voicegw_api_route_t  ngx_voicegw_api_metrics_routes[] = {

    { NGX_HTTP_GET, ngx_string("/v1/metrics"),
      ngx_voicegw_api_metrics, 0 },

    { 0, ngx_null_string, NULL, 0 }
};


static const char  *ngx_voicegw_report_outcomes[] = {
    "rejected", "timed_out", "cancelled", "abandoned"
};


/* -- GET /v1/metrics ------------------------------------------------------ */

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

    if (ngx_voicegw_sql_ids(b, NGX_VOICEGW_TABLE_PROVIDERS) == NULL
        || ngx_voicegw_sql_ids(b, NGX_VOICEGW_TABLE_PROJECTS) == NULL
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
    ngx_str_t                     *state;
    ngx_voicegw_pool_view_t       *p;
    ngx_voicegw_registry_t        *reg;
    ngx_voicegw_prom_t      t;
    ngx_voicegw_report_model_t     model;
    ngx_voicegw_report_metrics_t  *m;

    m = ctx->data;
    reg = ctx->vmcf->registry;

    ngx_memzero(&t, sizeof(ngx_voicegw_prom_t));
    ngx_voicegw_out_init(&t.out, r->pool);

    costs = NULL;
    latency = NULL;

    providers = ngx_voicegw_entity_count(reg, &ngx_voicegw_entity_provider,
                                         b ? &b->stmt[0] : NULL);
    projects = ngx_voicegw_entity_count(reg, &ngx_voicegw_entity_project,
                                        b ? &b->stmt[1] : NULL);

    if (b != NULL) {
        costs = &b->stmt[2];
        latency = &b->stmt[3];
    }

    ngx_voicegw_prom_family(&t, "voicegw_uptime_seconds", "gauge",
                              "Seconds since the gateway started "
                              "(kept over reloads)");
    ngx_voicegw_prom_metric(&t, "voicegw_uptime_seconds");
    ngx_voicegw_prom_number(&t, "%.1f", m->uptime / 1000.0);

    ngx_voicegw_prom_family(&t, "voicegw_providers_configured", "gauge",
                              "Providers configured, in nginx.conf and "
                              "through the API");
    ngx_voicegw_prom_metric(&t, "voicegw_providers_configured");
    ngx_voicegw_prom_uint(&t, providers);

    ngx_voicegw_prom_family(&t, "voicegw_projects_configured", "gauge",
                              "Projects configured, in nginx.conf and "
                              "through the API");
    ngx_voicegw_prom_metric(&t, "voicegw_projects_configured");
    ngx_voicegw_prom_uint(&t, projects);

    /* today (UTC): these fall back to 0 at midnight, hence gauges */

    total = 0.0;
    requests = 0;

    if (costs != NULL) {
        total = ngx_voicegw_report_costs_total(costs, &requests);
    }

    ngx_voicegw_prom_family(&t, "voicegw_cost_usd_total", "counter",
                              "Cost in USD today (UTC): in all, and by "
                              "provider, model and project; resets at "
                              "00:00 UTC");
    ngx_voicegw_report_groups(&t, "voicegw_cost_usd_total", costs, 1, total,
                              requests);

    ngx_voicegw_prom_family(&t, "voicegw_requests_total", "counter",
                              "Requests today (UTC): in all, and by "
                              "provider, model and project; resets at "
                              "00:00 UTC");
    ngx_voicegw_report_groups(&t, "voicegw_requests_total", costs, 0, total,
                              requests);

    ngx_voicegw_prom_family(&t, "voicegw_request_ttfb_seconds", "summary",
                              "Time to first byte today (UTC) by model, "
                              "quantiles within 2 %");

    next = 0;

    while (latency && ngx_voicegw_report_latency_next(latency, &next, &model))
    {
        ngx_voicegw_report_quantiles(&t, "voicegw_request_ttfb_seconds",
                                     &model.model, model.ttfb,
                                     model.avg_ttfb, model.ttfb_n);
    }

    ngx_voicegw_prom_family(&t, "voicegw_request_total_latency_seconds",
                              "summary",
                              "Total latency today (UTC) by model, "
                              "quantiles within 2 %");

    next = 0;

    while (latency && ngx_voicegw_report_latency_next(latency, &next, &model))
    {
        ngx_voicegw_report_quantiles(&t,
                                     "voicegw_request_total_latency_seconds",
                                     &model.model, model.latency,
                                     model.avg_latency, model.latency_n);
    }

    /* the worker pools, from the zone */

    ngx_voicegw_prom_family(&t, "voicegw_queue_length", "gauge",
                              "Tickets waiting for a worker");

    for (i = 0; i < m->npools; i++) {
        p = &m->pools[i];
        ngx_voicegw_prom_metric(&t, "voicegw_queue_length");
        ngx_voicegw_prom_label(&t, "pool", p->name,
                                 ngx_strlen(p->name));
        ngx_voicegw_prom_uint(&t, p->queued);
    }

    ngx_voicegw_prom_family(&t, "voicegw_workers", "gauge",
                              "Inference workers by state");

    for (i = 0; i < m->npools; i++) {
        p = &m->pools[i];

        for (k = 0; k < NGX_VOICEGW_WORKER_NSTATES; k++) {
            state = &ngx_voicegw_worker_states[k].name;

            ngx_voicegw_prom_metric(&t, "voicegw_workers");
            ngx_voicegw_prom_label(&t, "pool", p->name,
                                     ngx_strlen(p->name));
            ngx_voicegw_prom_label(&t, "state", state->data, state->len);
            ngx_voicegw_prom_uint(&t, p->workers[k]);
        }
    }

    ngx_voicegw_prom_family(&t, "voicegw_cache_hits_total", "counter",
                              "Tasks given a worker that held their "
                              "KV cache");

    for (i = 0; i < m->npools; i++) {
        p = &m->pools[i];
        ngx_voicegw_prom_metric(&t, "voicegw_cache_hits_total");
        ngx_voicegw_prom_label(&t, "pool", p->name,
                                 ngx_strlen(p->name));
        ngx_voicegw_prom_uint(&t, p->hits);
    }

    ngx_voicegw_prom_family(&t, "voicegw_cache_misses_total", "counter",
                              "Tasks given a worker without their KV "
                              "cache");

    for (i = 0; i < m->npools; i++) {
        p = &m->pools[i];
        ngx_voicegw_prom_metric(&t, "voicegw_cache_misses_total");
        ngx_voicegw_prom_label(&t, "pool", p->name,
                                 ngx_strlen(p->name));
        ngx_voicegw_prom_uint(&t, p->misses);
    }

    ngx_voicegw_prom_family(&t, "voicegw_queue_tickets_total", "counter",
                              "Tickets that did not get a worker, by "
                              "outcome");

    for (i = 0; i < m->npools; i++) {
        p = &m->pools[i];

        for (k = 0; k < NGX_VOICEGW_METRICS_NOUTCOMES; k++) {
            ngx_voicegw_prom_metric(&t, "voicegw_queue_tickets_total");
            ngx_voicegw_prom_label(&t, "pool", p->name,
                                     ngx_strlen(p->name));
            ngx_voicegw_prom_label(&t, "outcome",
                                (u_char *) ngx_voicegw_report_outcomes[k],
                                ngx_strlen(ngx_voicegw_report_outcomes[k]));
            ngx_voicegw_prom_uint(&t, k == 0 ? p->rejected
                                        : k == 1 ? p->timed_out
                                        : k == 2 ? p->cancelled
                                        : p->abandoned);
        }
    }

    ngx_voicegw_books_metrics(&t, r->pool, ctx->vmcf->recorder);

    return ngx_voicegw_prom_send(r, &t);
}


/* the pools and the uptime */

static void
ngx_voicegw_report_pools(ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_report_metrics_t *m)
{
    ngx_voicegw_pools_t  *vp;

    vp = ctx->vmcf->pools;

    m->npools = ngx_voicegw_queue_stats(vp, m->pools, NGX_VOICEGW_MAX_POOLS);

    m->uptime = ngx_voicegw_zone_uptime(ctx->vmcf->zone);
}


/*
 * The samples of the cost (or the requests) family: {period="today"},
 * then one per provider, model and project of the costs statement.
 */

static void
ngx_voicegw_report_groups(ngx_voicegw_prom_t *t, const char *name,
    ngx_voicegw_sql_stmt_t *st, ngx_uint_t cost, double total_cost,
    int64_t total_requests)
{
    ngx_uint_t                row;
    ngx_voicegw_sql_value_t  *v;

    static const char  *labels[] = { "provider", "model", "project" };

    ngx_voicegw_prom_metric(t, name);
    ngx_voicegw_prom_label(t, "period", (u_char *) "today", 5);

    if (cost) {
        ngx_voicegw_prom_number(t, "%.6f", total_cost);

    } else {
        ngx_voicegw_prom_uint(t, total_requests);
    }

    for (row = 0; st && st->ncols >= 4 && row < st->nrows; row++) {
        v = ngx_voicegw_sql_cell(st, row, 0);

        if (v->i < 0 || v->i > NGX_VOICEGW_REPORT_BY_PROJECT) {
            continue;
        }

        ngx_voicegw_prom_metric(t, name);
        ngx_voicegw_prom_label(t, labels[v->i], v[1].s.data, v[1].s.len);

        if (cost) {
            ngx_voicegw_prom_number(t, "%.6f", v[2].d);

        } else {
            ngx_voicegw_prom_uint(t, v[3].i);
        }
    }
}


/*
 * A model's p50, p95 and p99 in seconds, then its sum and count (a
 * Prometheus summary); nothing without samples.
 */

static void
ngx_voicegw_report_quantiles(ngx_voicegw_prom_t *t, const char *name,
    ngx_str_t *model, double *ms, double avg, int64_t n)
{
    u_char      buf[64];
    size_t      len;
    ngx_uint_t  i;

    if (n <= 0) {
        return;
    }

    for (i = 0; i < NGX_VOICEGW_REPORT_NQUANTILES; i++) {

        if (isnan(ms[i])) {
            continue;
        }

        ngx_voicegw_prom_metric(t, name);
        ngx_voicegw_prom_label(t, "model", model->data, model->len);
        ngx_voicegw_prom_label(t, "quantile",
                          (u_char *) ngx_voicegw_report_quantile_labels[i],
                          ngx_strlen(ngx_voicegw_report_quantile_labels[i]));
        ngx_voicegw_prom_number(t, "%.6f", ms[i] / 1000.0);
    }

    len = ngx_strlen(name);

    *ngx_cpymem(ngx_cpymem(buf, name, len), "_sum", 5) = '\0';
    ngx_voicegw_prom_metric(t, (char *) buf);
    ngx_voicegw_prom_label(t, "model", model->data, model->len);
    ngx_voicegw_prom_number(t, "%.6f", avg * (double) n / 1000.0);

    *ngx_cpymem(ngx_cpymem(buf, name, len), "_count", 7) = '\0';
    ngx_voicegw_prom_metric(t, (char *) buf);
    ngx_voicegw_prom_label(t, "model", model->data, model->len);
    ngx_voicegw_prom_uint(t, (uint64_t) n);
}


