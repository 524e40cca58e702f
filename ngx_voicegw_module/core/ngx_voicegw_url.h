
/*
 * ngx_voicegw_url.h
 *
 * Base URLs of providers ("http[s]://host[:port][/prefix]"): the one
 * parser used where such a URL is written (nginx.conf, the API) and where
 * it is used (the provider test), so that what is accepted is what works.
 */


#ifndef _NGX_VOICEGW_URL_H_INCLUDED_
#define _NGX_VOICEGW_URL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_VOICEGW_URL_MAX  2048


typedef struct {
    ngx_uint_t                   https;
    ngx_str_t                    host;        /* NUL-terminated, no [] */
    in_port_t                    port;
    ngx_uint_t                   default_port;
    ngx_str_t                    prefix;      /* the path, may be empty */
} ngx_voicegw_url_t;


ngx_int_t ngx_voicegw_url_parse(ngx_pool_t *pool, ngx_str_t *text,
    ngx_voicegw_url_t *url, const char **err);


#endif /* _NGX_VOICEGW_URL_H_INCLUDED_ */
