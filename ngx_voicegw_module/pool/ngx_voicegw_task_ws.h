
/*
 * ngx_voicegw_task_ws.h
 *
 * The WebSocket face of a task: the gateway's own handshake, the queue
 * frames and refusals as frames (ngx_voicegw_task_ws.c), and what
 * follows the worker's answer (ngx_voicegw_task_relay.c).
 */


#ifndef _NGX_VOICEGW_TASK_WS_H_INCLUDED_
#define _NGX_VOICEGW_TASK_WS_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_task.h"
#include "ngx_voicegw_ws.h"


struct ngx_voicegw_task_ws_s {
    ngx_http_request_t          *request;
    ngx_voicegw_task_ctx_t      *ctx;

    ngx_buf_t                    out;         /* the gateway's frames */
    ngx_buf_t                    held;        /* client bytes, queued */
    ngx_voicegw_ws_parser_t      parse;       /* over the held bytes */
    ngx_event_t                  update;      /* queue_update */

    ngx_voicegw_ws_relay_t      *relay;

    unsigned                     accepted:1;  /* our 101 is written */
    unsigned                     upgraded:1;  /* the worker's 101 came */
    unsigned                     failed:1;    /* an error frame went */
};


ngx_int_t ngx_voicegw_task_ws_init(ngx_conf_t *cf);
ngx_int_t ngx_voicegw_task_ws_handshake(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
void ngx_voicegw_task_ws_respond(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
void ngx_voicegw_task_ws_queued(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
ngx_int_t ngx_voicegw_task_ws_granted(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
void ngx_voicegw_task_ws_stop(ngx_voicegw_task_ctx_t *ctx);
ngx_int_t ngx_voicegw_task_ws_refuse(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx, const char *code, u_char *message);
ngx_voicegw_task_ws_t *ngx_voicegw_task_ws_get(ngx_http_request_t *r);
void ngx_voicegw_task_ws_error(ngx_voicegw_task_ws_t *ws, u_char *message,
    ngx_uint_t close, const char *reason);


#endif /* _NGX_VOICEGW_TASK_WS_H_INCLUDED_ */
