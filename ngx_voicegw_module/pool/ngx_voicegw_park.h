
/*
 * ngx_voicegw_park.h
 *
 * Requests that wait in the queue for a worker, and their wake-up.
 */


#ifndef _NGX_VOICEGW_PARK_H_INCLUDED_
#define _NGX_VOICEGW_PARK_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_task.h"


ngx_int_t ngx_voicegw_park_init_process(ngx_cycle_t *cycle,
    ngx_voicegw_pools_t *vp);
void ngx_voicegw_park_exit_process(ngx_voicegw_pools_t *vp);
void ngx_voicegw_park_prepare(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
void ngx_voicegw_park(ngx_http_request_t *r, ngx_voicegw_task_ctx_t *ctx);
void ngx_voicegw_unpark(ngx_voicegw_task_ctx_t *ctx);


#endif /* _NGX_VOICEGW_PARK_H_INCLUDED_ */
