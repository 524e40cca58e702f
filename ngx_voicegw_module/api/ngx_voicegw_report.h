
/*
 * ngx_voicegw_report.h
 *
 * What the reports share: the query string (period, project, and the
 * logs' limit and modality: ngx_voicegw_report_args.c), the
 * report queries over the daily rollups, the reading of their rows
 * (costs by group, latency statistics and percentiles) and the JSON of
 * their values.
 */


#ifndef _NGX_VOICEGW_REPORT_H_INCLUDED_
#define _NGX_VOICEGW_REPORT_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_sql.h"
#include "ngx_voicegw_api.h"


#define NGX_VOICEGW_REPORT_NQUANTILES    3

/* the records /v1/logs gives: by default, at most */
#define NGX_VOICEGW_REPORT_LOGS_DEFAULT  100
#define NGX_VOICEGW_REPORT_LOGS_MAX      1000

/* the groups of the costs statement, its first column */
#define NGX_VOICEGW_REPORT_BY_PROVIDER   0
#define NGX_VOICEGW_REPORT_BY_MODEL      1
#define NGX_VOICEGW_REPORT_BY_PROJECT    2

/* the columns of the costs statement */
#define NGX_VOICEGW_COSTS_GROUP          0
#define NGX_VOICEGW_COSTS_KEY            1
#define NGX_VOICEGW_COSTS_COST           2
#define NGX_VOICEGW_COSTS_REQUESTS       3


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


extern const char  ngx_voicegw_report_costs_query[];
extern const char  ngx_voicegw_report_latency_query[];
extern const char  ngx_voicegw_report_logs_query[];
extern const char  *ngx_voicegw_report_pct_keys[];
extern const char  *ngx_voicegw_report_quantile_labels[];
extern const char  *ngx_voicegw_report_log_fields[];

#define NGX_VOICEGW_REPORT_FLAGS_COL     13      /* its "flags" */


ngx_int_t ngx_voicegw_report_period(ngx_http_request_t *r,
    ngx_voicegw_report_query_t *q, ngx_int_t *answer);
ngx_int_t ngx_voicegw_report_period_name(ngx_voicegw_report_query_t *q,
    ngx_str_t *value);
void ngx_voicegw_report_since(ngx_voicegw_report_query_t *q,
    ngx_int_t days);
ngx_int_t ngx_voicegw_report_limit(ngx_str_t *value, int64_t *limit);
ngx_int_t ngx_voicegw_report_modality(ngx_str_t *value);
ngx_int_t ngx_voicegw_report_project(ngx_http_request_t *r,
    ngx_voicegw_report_query_t *q, ngx_int_t *answer);
ngx_int_t ngx_voicegw_report_window(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, const char *sql,
    ngx_voicegw_api_handler_pt done);
ngx_int_t ngx_voicegw_report_sql(ngx_voicegw_sql_batch_t *b,
    const char *sql, ngx_voicegw_report_query_t *q);
void ngx_voicegw_report_costs_json(ngx_voicegw_json_t *j,
    ngx_voicegw_sql_stmt_t *st, ngx_uint_t by_project);
double ngx_voicegw_report_costs_total(ngx_voicegw_sql_stmt_t *st,
    int64_t *requests);
ngx_uint_t ngx_voicegw_report_latency_next(ngx_voicegw_sql_stmt_t *st,
    ngx_uint_t *next, ngx_voicegw_report_model_t *m);
void ngx_voicegw_report_ms(ngx_voicegw_json_t *j, double ms);
void ngx_voicegw_report_value(ngx_voicegw_json_t *j,
    ngx_voicegw_sql_value_t *v);
void ngx_voicegw_report_timestamp(ngx_voicegw_json_t *j, int64_t msec);


#endif /* _NGX_VOICEGW_REPORT_H_INCLUDED_ */
