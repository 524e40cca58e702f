
/*
 * ngx_voicegw_prom.h
 *
 * The Prometheus text writer of /v1/metrics (ngx_voicegw_prom.c).  A
 * family is its HELP and TYPE lines; a sample is a name, labels, then a
 * value, which ends the line.
 */


#ifndef _NGX_VOICEGW_PROM_H_INCLUDED_
#define _NGX_VOICEGW_PROM_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"


typedef struct {
    ngx_voicegw_out_t            out;
    ngx_uint_t                   labels;     /* of the current sample */
} ngx_voicegw_prom_t;


void ngx_voicegw_prom_ctext(ngx_voicegw_prom_t *t, const char *s);
void ngx_voicegw_prom_family(ngx_voicegw_prom_t *t, const char *name,
    const char *type, const char *help);
void ngx_voicegw_prom_metric(ngx_voicegw_prom_t *t, const char *name);
void ngx_voicegw_prom_label(ngx_voicegw_prom_t *t, const char *name,
    u_char *value, size_t len);
void ngx_voicegw_prom_number(ngx_voicegw_prom_t *t, const char *fmt,
    double d);
void ngx_voicegw_prom_uint(ngx_voicegw_prom_t *t, uint64_t n);
ngx_int_t ngx_voicegw_prom_send(ngx_http_request_t *r,
    ngx_voicegw_prom_t *t);


#endif /* _NGX_VOICEGW_PROM_H_INCLUDED_ */
