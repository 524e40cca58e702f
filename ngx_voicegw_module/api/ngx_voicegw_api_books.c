
/*
 * ngx_voicegw_api_books.c
 *
 * Owns the families of /v1/metrics that come from the recorder's
 * counters in the zone (accounting/ngx_voicegw_recorder.c): requests,
 * cost and units per project x provider x model x modality, histograms
 * of TTFB, latency and queue wait, budget rejections, and the recorder's
 * own health (records accepted, dropped, committed, buffer use, flusher
 * lag).
 *
 * They are counters since the zone was created: they survive
 * "nginx -s reload" and start again from zero when nginx restarts (the
 * store's rollups are what keeps history; the "today" families above
 * read them).  Labels come from a bounded table of series; what does not
 * fit is counted under "_other".
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_recorder.h"
#include "ngx_voicegw_prom.h"
#include "ngx_voicegw_api_books.h"


static void ngx_voicegw_books_labels(ngx_voicegw_prom_t *t,
    ngx_voicegw_series_t *s, ngx_uint_t modality);
static void ngx_voicegw_books_counter(ngx_voicegw_prom_t *t,
    ngx_voicegw_recorder_view_t *v, const char *name, size_t field);
static void ngx_voicegw_books_slots(ngx_voicegw_prom_t *t, const char *name,
    const char *help, const char *over_name, uint32_t *max, uint32_t *over);
static void ngx_voicegw_books_hist(ngx_voicegw_prom_t *t,
    ngx_voicegw_recorder_view_t *v, const char *name, const char *help,
    size_t field, ngx_uint_t omni_only);


void
ngx_voicegw_books_metrics(ngx_voicegw_prom_t *t, ngx_pool_t *pool,
    ngx_voicegw_recorder_t *rec)
{
    u_char                        buf[NGX_INT_T_LEN];
    ngx_str_t                    *st;
    ngx_uint_t                    i, k;
    ngx_voicegw_series_t         *s;
    ngx_voicegw_recorder_view_t   v;

    ngx_memzero(&v, sizeof(ngx_voicegw_recorder_view_t));

    v.series = ngx_palloc(pool, (NGX_VOICEGW_SERIES_MAX + 1)
                                * sizeof(ngx_voicegw_series_t));

    if (v.series == NULL || ngx_voicegw_recorder_view(rec, &v) != NGX_OK) {
        v.nseries = 0;
    }

    ngx_voicegw_prom_family(t, "voicegw_served_requests_total", "counter",
                            "Requests put on the books since nginx started, "
                            "by project, provider, model, modality and "
                            "status");

    for (i = 0; i < v.nseries; i++) {
        s = &v.series[i];

        for (k = 0; k < NGX_VOICEGW_NSTATUSES; k++) {
            if (s->requests[k] == 0) {
                continue;
            }

            st = &ngx_voicegw_status_names[k];

            ngx_voicegw_prom_metric(t, "voicegw_served_requests_total");
            ngx_voicegw_books_labels(t, s, 1);
            ngx_voicegw_prom_label(t, "status", st->data, st->len);
            ngx_voicegw_prom_uint(t, s->requests[k]);
        }
    }

    ngx_voicegw_prom_family(t, "voicegw_served_cost_usd_total", "counter",
                            "Cost in USD since nginx started");
    ngx_voicegw_books_counter(t, &v, "voicegw_served_cost_usd_total",
                              offsetof(ngx_voicegw_series_t, cost_usd));

    ngx_voicegw_prom_family(t, "voicegw_served_input_units_total",
                            "counter",
                            "Units in (tokens, audio minutes, characters) "
                            "since nginx started");
    ngx_voicegw_books_counter(t, &v, "voicegw_served_input_units_total",
                              offsetof(ngx_voicegw_series_t, input_units));

    ngx_voicegw_prom_family(t, "voicegw_served_output_units_total",
                            "counter",
                            "Units out since nginx started");
    ngx_voicegw_books_counter(t, &v, "voicegw_served_output_units_total",
                              offsetof(ngx_voicegw_series_t, output_units));

    ngx_voicegw_prom_family(t, "voicegw_unpriced_requests_total",
                            "counter",
                            "Requests of a model with no price: booked at "
                            "cost 0");
    ngx_voicegw_books_counter(t, &v, "voicegw_unpriced_requests_total",
                              offsetof(ngx_voicegw_series_t, unpriced));

    ngx_voicegw_prom_family(t, "voicegw_partial_requests_total", "counter",
                            "Requests that broke off (the client left, the "
                            "provider stopped): booked with the units seen");
    ngx_voicegw_books_counter(t, &v, "voicegw_partial_requests_total",
                              offsetof(ngx_voicegw_series_t, partial));

    ngx_voicegw_books_hist(t, &v, "voicegw_ttfb_seconds",
                           "Time to the first byte of the answer",
                           offsetof(ngx_voicegw_series_t, ttfb), 0);

    ngx_voicegw_books_hist(t, &v, "voicegw_latency_seconds",
                           "Total latency (a worker-pool task: its time on "
                           "the worker)",
                           offsetof(ngx_voicegw_series_t, latency), 0);

    ngx_voicegw_books_hist(t, &v, "voicegw_queue_wait_seconds",
                           "Time worker-pool tasks waited for a worker, by "
                           "pool (model)",
                           offsetof(ngx_voicegw_series_t, queue_wait), 1);

    ngx_voicegw_prom_family(t, "voicegw_budget_rejections_total", "counter",
                            "Requests refused by a project's daily budget");

    for (i = 0; i < v.nseries; i++) {
        s = &v.series[i];

        if (s->budget_rejections) {
            ngx_voicegw_prom_metric(t, "voicegw_budget_rejections_total");
            ngx_voicegw_prom_label(t, "project", s->project,
                                   ngx_strlen(s->project));
            ngx_voicegw_prom_uint(t, s->budget_rejections);
        }
    }

    ngx_voicegw_prom_family(t, "voicegw_records_total", "counter",
                            "Request records: accepted into the buffer, "
                            "dropped because it was full, committed to the "
                            "store");

    ngx_voicegw_prom_metric(t, "voicegw_records_total");
    ngx_voicegw_prom_label(t, "outcome", (u_char *) "accepted", 8);
    ngx_voicegw_prom_uint(t, v.accepted);
    ngx_voicegw_prom_metric(t, "voicegw_records_total");
    ngx_voicegw_prom_label(t, "outcome", (u_char *) "dropped", 7);
    ngx_voicegw_prom_uint(t, v.dropped);
    ngx_voicegw_prom_metric(t, "voicegw_records_total");
    ngx_voicegw_prom_label(t, "outcome", (u_char *) "committed", 9);
    ngx_voicegw_prom_uint(t, v.committed);

    ngx_voicegw_prom_family(t, "voicegw_record_time_seconds_total",
                            "counter",
                            "Time the nginx worker processes spent putting "
                            "requests on the books (in the record API)");
    ngx_voicegw_prom_metric(t, "voicegw_record_time_seconds_total");
    ngx_voicegw_prom_number(t, "%.6f", v.record_ns / 1e9);

    ngx_voicegw_prom_family(t, "voicegw_record_calls_total", "counter",
                            "Calls of the record API, timed above");
    ngx_voicegw_prom_metric(t, "voicegw_record_calls_total");
    ngx_voicegw_prom_uint(t, v.record_calls);

    ngx_voicegw_prom_family(t, "voicegw_record_buffer_bytes", "gauge",
                            "The record buffer: its size, and the bytes "
                            "not committed yet");

    ngx_voicegw_prom_metric(t, "voicegw_record_buffer_bytes");
    ngx_voicegw_prom_label(t, "kind", (u_char *) "size", 4);
    ngx_voicegw_prom_uint(t, v.size);
    ngx_voicegw_prom_metric(t, "voicegw_record_buffer_bytes");
    ngx_voicegw_prom_label(t, "kind", (u_char *) "used", 4);
    ngx_voicegw_prom_uint(t, v.used);

    ngx_voicegw_prom_family(t, "voicegw_event_loop_lag_max_seconds",
                            "gauge",
                            "The longest an nginx worker process's event "
                            "loop held up its timers, since nginx started "
                            "(by process slot; includes up to 1 ms of "
                            "timer resolution)");

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        if (v.late_max[i]) {
            ngx_voicegw_prom_metric(t, "voicegw_event_loop_lag_max_seconds");
            ngx_voicegw_prom_label(t, "slot", buf,
                                   ngx_sprintf(buf, "%ui", i) - buf);
            ngx_voicegw_prom_number(t, "%.6f", v.late_max[i] / 1000000.0);
        }
    }

    ngx_voicegw_books_slots(t, "voicegw_record_hold_max_seconds",
                            "The longest the flusher's own work held an "
                            "nginx worker process's event loop (its CPU "
                            "time), by process slot",
                            "voicegw_record_holds_over_1ms_total",
                            v.hold_max, v.hold_over);

    ngx_voicegw_books_slots(t, "voicegw_record_call_max_seconds",
                            "The longest call of the record API (wall "
                            "time: waiting for the zone's lock and the "
                            "process not running included), by process "
                            "slot",
                            "voicegw_record_calls_over_1ms_total",
                            v.call_max, v.call_over);

    ngx_voicegw_prom_family(t, "voicegw_record_flusher_lag_seconds",
                            "gauge",
                            "Age of the oldest record not committed yet "
                            "(0: none)");
    ngx_voicegw_prom_metric(t, "voicegw_record_flusher_lag_seconds");
    ngx_voicegw_prom_number(t, "%.3f", v.lag / 1000.0);
}


static void
ngx_voicegw_books_labels(ngx_voicegw_prom_t *t, ngx_voicegw_series_t *s,
    ngx_uint_t modality)
{
    ngx_str_t  *m;

    ngx_voicegw_prom_label(t, "project", s->project, ngx_strlen(s->project));
    ngx_voicegw_prom_label(t, "provider", s->provider,
                           ngx_strlen(s->provider));
    ngx_voicegw_prom_label(t, "model", s->model, ngx_strlen(s->model));

    if (modality) {
        m = &ngx_voicegw_modality_names[s->modality];
        ngx_voicegw_prom_label(t, "modality", m->data, m->len);
    }
}


/* a double of every series, at offset field */

static void
ngx_voicegw_books_counter(ngx_voicegw_prom_t *t,
    ngx_voicegw_recorder_view_t *v, const char *name, size_t field)
{
    double                 d;
    ngx_uint_t             i;
    ngx_voicegw_series_t  *s;

    for (i = 0; i < v->nseries; i++) {
        s = &v->series[i];
        d = *(double *) ((u_char *) s + field);

        ngx_voicegw_prom_metric(t, name);
        ngx_voicegw_books_labels(t, s, 1);
        ngx_voicegw_prom_number(t, "%.6f", d);
    }
}


/* per process slot: a longest time (gauge), and times over 1 ms */

static void
ngx_voicegw_books_slots(ngx_voicegw_prom_t *t, const char *name,
    const char *help, const char *over_name, uint32_t *max, uint32_t *over)
{
    u_char      buf[NGX_INT_T_LEN];
    size_t      len;
    ngx_uint_t  i, pass;

    ngx_voicegw_prom_family(t, name, "gauge", help);

    for (pass = 0; pass < 2; pass++) {

        if (pass == 1) {
            ngx_voicegw_prom_family(t, over_name, "counter",
                                    "Times over 1 ms, by process slot");
        }

        for (i = 0; i < NGX_MAX_PROCESSES; i++) {
            if (max[i] == 0) {
                continue;
            }

            len = ngx_sprintf(buf, "%ui", i) - buf;

            ngx_voicegw_prom_metric(t, pass ? over_name : name);
            ngx_voicegw_prom_label(t, "slot", buf, len);

            if (pass) {
                ngx_voicegw_prom_uint(t, over[i]);

            } else {
                ngx_voicegw_prom_number(t, "%.6f", max[i] / 1000000.0);
            }
        }
    }
}


/* a Prometheus histogram in seconds: _bucket{le}, _sum, _count */

static void
ngx_voicegw_books_hist(ngx_voicegw_prom_t *t, ngx_voicegw_recorder_view_t *v,
    const char *name, const char *help, size_t field, ngx_uint_t omni_only)
{
    u_char                 buf[64], le[32];
    size_t                 len;
    uint64_t               cum;
    ngx_uint_t             i, k;
    ngx_voicegw_hist_t    *h;
    ngx_voicegw_series_t  *s;

    ngx_voicegw_prom_family(t, name, "histogram", help);

    len = ngx_strlen(name);

    for (i = 0; i < v->nseries; i++) {
        s = &v->series[i];
        h = (ngx_voicegw_hist_t *) ((u_char *) s + field);

        if (h->n == 0
            || (omni_only && s->modality != NGX_VOICEGW_MODALITY_OMNI))
        {
            continue;
        }

        cum = 0;

        for (k = 0; k <= NGX_VOICEGW_HIST_BOUNDS; k++) {
            cum += h->count[k];

            *ngx_cpymem(ngx_cpymem(buf, name, len), "_bucket", 8) = '\0';
            ngx_voicegw_prom_metric(t, (char *) buf);
            ngx_voicegw_books_labels(t, s, !omni_only);

            if (k < NGX_VOICEGW_HIST_BOUNDS) {
                ngx_voicegw_prom_label(t, "le", le,
                            ngx_sprintf(le, "%.3f",
                                        ngx_voicegw_hist_bounds[k] / 1000.0)
                            - le);
            } else {
                ngx_voicegw_prom_label(t, "le", (u_char *) "+Inf", 4);
            }

            ngx_voicegw_prom_uint(t, cum);
        }

        *ngx_cpymem(ngx_cpymem(buf, name, len), "_sum", 5) = '\0';
        ngx_voicegw_prom_metric(t, (char *) buf);
        ngx_voicegw_books_labels(t, s, !omni_only);
        ngx_voicegw_prom_number(t, "%.6f", h->sum / 1000.0);

        *ngx_cpymem(ngx_cpymem(buf, name, len), "_count", 7) = '\0';
        ngx_voicegw_prom_metric(t, (char *) buf);
        ngx_voicegw_books_labels(t, s, !omni_only);
        ngx_voicegw_prom_uint(t, h->n);
    }
}
