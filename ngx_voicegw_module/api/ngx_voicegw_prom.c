
/*
 * ngx_voicegw_prom.c
 *
 * Owns the Prometheus text format 0.0.4 writer of /v1/metrics: HELP and
 * TYPE lines, samples with escaped label values, numbers, and the answer.
 * It writes into the same chain of buffers as JSON answers
 * (core/ngx_voicegw_json_out.c).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_prom.h"

#include <math.h>


void
ngx_voicegw_prom_ctext(ngx_voicegw_prom_t *t, const char *s)
{
    ngx_voicegw_out_cstr(&t->out, s);
}


void
ngx_voicegw_prom_family(ngx_voicegw_prom_t *t, const char *name,
    const char *type, const char *help)
{
    ngx_voicegw_prom_ctext(t, "# HELP ");
    ngx_voicegw_prom_ctext(t, name);
    ngx_voicegw_prom_ctext(t, " ");
    ngx_voicegw_prom_ctext(t, help);
    ngx_voicegw_prom_ctext(t, "\n# TYPE ");
    ngx_voicegw_prom_ctext(t, name);
    ngx_voicegw_prom_ctext(t, " ");
    ngx_voicegw_prom_ctext(t, type);
    ngx_voicegw_prom_ctext(t, "\n");
}


/* a sample: its name, then labels, then its value ends the line */

void
ngx_voicegw_prom_metric(ngx_voicegw_prom_t *t, const char *name)
{
    ngx_voicegw_prom_ctext(t, name);
    t->labels = 0;
}


/* name="value", the value escaped: \ as \\, " as \", newline as \n */

void
ngx_voicegw_prom_label(ngx_voicegw_prom_t *t, const char *name,
    u_char *value, size_t len)
{
    u_char  *p, *last, *run;

    ngx_voicegw_prom_ctext(t, t->labels ? "," : "{");
    t->labels++;

    ngx_voicegw_prom_ctext(t, name);
    ngx_voicegw_prom_ctext(t, "=\"");

    last = value + len;

    for (p = value, run = value; p < last; p++) {

        if (*p != '\\' && *p != '"' && *p != '\n') {
            continue;
        }

        ngx_voicegw_out_write(&t->out, run, p - run);
        ngx_voicegw_prom_ctext(t, (*p == '\\') ? "\\\\"
                                    : (*p == '"') ? "\\\"" : "\\n");
        run = p + 1;
    }

    ngx_voicegw_out_write(&t->out, run, last - run);
    ngx_voicegw_prom_ctext(t, "\"");
}


void
ngx_voicegw_prom_number(ngx_voicegw_prom_t *t, const char *fmt,
    double d)
{
    int   n;
    char  buf[64];

    ngx_voicegw_prom_ctext(t, t->labels ? "} " : " ");

    if (isnan(d)) {
        ngx_voicegw_prom_ctext(t, "NaN\n");
        return;
    }

    n = snprintf(buf, sizeof(buf), fmt, d);

    if (n <= 0 || n >= (int) sizeof(buf)) {
        t->out.failed = 1;
        return;
    }

    ngx_voicegw_out_write(&t->out, buf, n);
    ngx_voicegw_prom_ctext(t, "\n");
}


void
ngx_voicegw_prom_uint(ngx_voicegw_prom_t *t, uint64_t n)
{
    u_char  buf[NGX_INT64_LEN + 4], *p;

    p = ngx_sprintf(buf, "%s%uL\n", t->labels ? "} " : " ", n);

    ngx_voicegw_out_write(&t->out, buf, p - buf);
}


ngx_int_t
ngx_voicegw_prom_send(ngx_http_request_t *r,
    ngx_voicegw_prom_t *t)
{
    size_t        size;
    ngx_chain_t  *out;

    static ngx_str_t  type =
                       ngx_string("text/plain; version=0.0.4; charset=utf-8");

    out = ngx_voicegw_out_finish(&t->out, &size);

    if (out == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "voicegw: cannot build the metrics");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_reply_chain(r, NGX_HTTP_OK, out, size, &type);
}

