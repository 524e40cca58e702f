
/*
 * ngx_voicegw_http.h
 *
 * Small helpers over nginx's own HTTP structures that several parts of
 * the gateway need: a header of a list by its name, a phase handler, a
 * table of variables added in one go, and an upstream request written
 * with TCP_NODELAY.
 */


#ifndef _NGX_VOICEGW_HTTP_H_INCLUDED_
#define _NGX_VOICEGW_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* the first header of a list (headers_in or headers_out) so named */
ngx_table_elt_t *ngx_voicegw_http_header(ngx_list_t *headers,
    const char *name);

/* a handler of one of nginx's phases (postconfiguration) */
ngx_int_t ngx_voicegw_http_phase_handler(ngx_conf_t *cf,
    ngx_http_phases phase, ngx_http_handler_pt handler);

/* every variable of a table ending with ngx_http_null_variable */
ngx_int_t ngx_voicegw_http_add_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars);

/* the request goes out with TCP_NODELAY (from a balancer's peer init) */
void ngx_voicegw_http_upstream_nodelay(ngx_http_upstream_t *u);


#endif /* _NGX_VOICEGW_HTTP_H_INCLUDED_ */
