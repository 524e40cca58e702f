
/*
 * ngx_voicegw_health.h
 *
 * Active health checks of the inference workers ("GET health_uri", the
 * JSON worker_status), made by one nginx process at a time, and the
 * immediate check of a worker whose task ended suspiciously.
 */


#ifndef _NGX_VOICEGW_HEALTH_H_INCLUDED_
#define _NGX_VOICEGW_HEALTH_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_pool.h"


ngx_int_t ngx_voicegw_health_init_process(ngx_cycle_t *cycle,
    ngx_voicegw_pools_t *vp);
void ngx_voicegw_health_exit_process(ngx_voicegw_pools_t *vp);
void ngx_voicegw_health_probe(ngx_voicegw_pools_t *vp,
    ngx_voicegw_pool_conf_t *pcf, u_char *url);
ngx_uint_t ngx_voicegw_health_state(ngx_uint_t http_status,
    ngx_str_t *worker_status);


#endif /* _NGX_VOICEGW_HEALTH_H_INCLUDED_ */
