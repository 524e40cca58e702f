
/*
 * ngx_voicegw_task.h
 *
 * A request that runs a worker task ("voicegw_task"): its state from
 * admission to release, shared by the files that admit it
 * (ngx_voicegw_admission.c), park and wake it (ngx_voicegw_park.c),
 * release its worker (ngx_voicegw_release.c) and hand that worker to
 * nginx's upstream (ngx_voicegw_balancer.c).
 */


#ifndef _NGX_VOICEGW_TASK_H_INCLUDED_
#define _NGX_VOICEGW_TASK_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"


#define NGX_VOICEGW_TASK_NEW      0
#define NGX_VOICEGW_TASK_READING  1     /* reading the body for affinity */
#define NGX_VOICEGW_TASK_PARKED   2     /* waiting in the queue */
#define NGX_VOICEGW_TASK_GRANTED  3     /* holds a worker */
#define NGX_VOICEGW_TASK_ANSWERED 4     /* refused; the answer is sent */


typedef struct ngx_voicegw_task_ws_s  ngx_voicegw_task_ws_t;


typedef struct {
    ngx_http_request_t          *request;
    ngx_voicegw_task_conf_t     *tcf;
    ngx_voicegw_pools_t         *vp;

    ngx_uint_t                   phase;
    uint64_t                     ticket;
    ngx_voicegw_grant_t          grant;
    ngx_str_t                    peer_name;   /* "host:port" of the grant */
    ngx_voicegw_affinity_t      *affinity;
    ngx_str_t                    session;
    void                        *session_rec; /* its record, once started */
    ngx_voicegw_task_ws_t       *ws;          /* the gateway's own
                                                 WebSocket handshake */

    ngx_event_t                  wake;
    ngx_event_t                  timeout;
    ngx_queue_t                  link;        /* parked requests of ours */
    ngx_rbtree_node_t            node;        /* ... by ticket id */
    /* what the books say of it (ngx_voicegw_task_books.c) */
    uint64_t                     created_mono;
    uint64_t                     ended_mono;  /* the worker released */
    ngx_uint_t                   outcome;     /* release outcome + 1 */
    const char                  *refused;     /* the error code, if so */
    unsigned                     booked:1;
    unsigned                     held:1;      /* a reservation to release */
    unsigned                     connected:1; /* the balancer used it */
    unsigned                     parked:1;
} ngx_voicegw_task_ctx_t;


ngx_voicegw_task_ctx_t *ngx_voicegw_task_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_voicegw_task_create_ctx(ngx_http_request_t *r,
    ngx_voicegw_task_conf_t *tcf, ngx_voicegw_pools_t *vp,
    ngx_pool_cleanup_pt cleanup, ngx_voicegw_task_ctx_t **ctxp);
void ngx_voicegw_task_granted(ngx_voicegw_task_ctx_t *ctx);
void ngx_voicegw_task_ended(ngx_voicegw_task_ctx_t *ctx, ngx_uint_t outcome);
ngx_int_t ngx_voicegw_task_refuse(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx, ngx_uint_t status, const char *code,
    const char *fmt, ...);
ngx_int_t ngx_voicegw_task_headers(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
ngx_int_t ngx_voicegw_task_add_variables(ngx_conf_t *cf);


#endif /* _NGX_VOICEGW_TASK_H_INCLUDED_ */
