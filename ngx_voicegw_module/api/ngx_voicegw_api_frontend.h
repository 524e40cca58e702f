
/*
 * ngx_voicegw_api_frontend.h
 *
 * The fields of the original MiniCPM-o gateway that its pages read,
 * written beside the seed's by the handlers of /status, /workers and
 * /api/queue (ngx_voicegw_api_pool.c).
 */


#ifndef _NGX_VOICEGW_API_FRONTEND_H_INCLUDED_
#define _NGX_VOICEGW_API_FRONTEND_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_queue.h"


void ngx_voicegw_api_frontend_worker(ngx_voicegw_json_t *j,
    ngx_voicegw_worker_view_t *w);
void ngx_voicegw_api_frontend_status(ngx_voicegw_json_t *j,
    ngx_voicegw_snapshot_t *snap);
void ngx_voicegw_api_frontend_queue(ngx_voicegw_json_t *j,
    ngx_voicegw_snapshot_t *snap);


#endif /* _NGX_VOICEGW_API_FRONTEND_H_INCLUDED_ */
