
/*
 * ngx_voicegw_release.h
 *
 * Giving a task's worker back, exactly once, on every path.
 */


#ifndef _NGX_VOICEGW_RELEASE_H_INCLUDED_
#define _NGX_VOICEGW_RELEASE_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_task.h"


ngx_int_t ngx_voicegw_release_init_process(ngx_cycle_t *cycle,
    ngx_voicegw_pools_t *vp);
void ngx_voicegw_release_exit_process(ngx_voicegw_pools_t *vp);
void ngx_voicegw_release_cleanup(void *data);
void ngx_voicegw_release(ngx_voicegw_task_ctx_t *ctx, ngx_uint_t outcome);
void ngx_voicegw_release_after_close(ngx_voicegw_task_ctx_t *ctx,
    ngx_uint_t outcome);


#endif /* _NGX_VOICEGW_RELEASE_H_INCLUDED_ */
