
/*
 * ngx_voicegw_report_args.c
 *
 * Owns the checks of the reports' query arguments, once a handler has
 * read one (ngx_voicegw_api_arg()): "period" (a window of UTC days by
 * its name, and the window's first day), "limit" of /v1/logs (an
 * integer from 1 to NGX_VOICEGW_REPORT_LOGS_MAX) and its "modality" (one
 * of the request records').  Nothing is answered here (a handler answers
 * what is refused) and no request is read, so that this also builds
 * outside nginx (fuzz/).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_report.h"


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


/* the modalities of request records: worker-pool tasks are "omni" */

static ngx_conf_enum_t  ngx_voicegw_report_modalities[] = {
    { ngx_string("stt"), 0 },
    { ngx_string("llm"), 1 },
    { ngx_string("tts"), 2 },
    { ngx_string("omni"), 3 },
    { ngx_null_string, 0 }
};


/* a period by its name: NGX_OK, its window in q; NGX_DECLINED, none */

ngx_int_t
ngx_voicegw_report_period_name(ngx_voicegw_report_query_t *q,
    ngx_str_t *value)
{
    ngx_uint_t  i;

    for (i = 0; ngx_voicegw_report_periods[i].name.len; i++) {
        if (value->len == ngx_voicegw_report_periods[i].name.len
            && ngx_strncmp(value->data,
                           ngx_voicegw_report_periods[i].name.data,
                           value->len)
               == 0)
        {
            q->period = ngx_voicegw_report_periods[i].name;
            ngx_voicegw_report_since(q, ngx_voicegw_report_periods[i].days);

            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* the first UTC day of a window of today and the "days" before it */

void
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


/* "limit": NGX_OK, *limit from 1 to the most; NGX_DECLINED, not one */

ngx_int_t
ngx_voicegw_report_limit(ngx_str_t *value, int64_t *limit)
{
    ngx_int_t  n;

    n = (value->len && value->len <= 4) ? ngx_atoi(value->data, value->len)
                                        : NGX_ERROR;

    if (n < 1 || n > NGX_VOICEGW_REPORT_LOGS_MAX) {
        return NGX_DECLINED;
    }

    *limit = n;

    return NGX_OK;
}


/* "modality" of the logs: NGX_OK, one of the records'; NGX_DECLINED */

ngx_int_t
ngx_voicegw_report_modality(ngx_str_t *value)
{
    ngx_uint_t  m;

    return ngx_voicegw_enum_value(ngx_voicegw_report_modalities, value, &m);
}
