
/*
 * ngx_voicegw_balancer.h
 *
 * The upstream balancer of "voicegw_pool" upstreams.
 */


#ifndef _NGX_VOICEGW_BALANCER_H_INCLUDED_
#define _NGX_VOICEGW_BALANCER_H_INCLUDED_


#include "ngx_voicegw_module.h"


ngx_int_t ngx_voicegw_balancer_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);


#endif /* _NGX_VOICEGW_BALANCER_H_INCLUDED_ */
