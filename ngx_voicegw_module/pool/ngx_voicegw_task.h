
/*
 * ngx_voicegw_task.h
 *
 * A request that runs a worker task ("voicegw_task"): its state from
 * admission to release, shared by the precontent handler that admits or
 * parks it and by the balancer that hands its worker to nginx's upstream.
 */


#ifndef _NGX_VOICEGW_TASK_H_INCLUDED_
#define _NGX_VOICEGW_TASK_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_pool.h"


#define NGX_VOICEGW_TASK_NEW      0
#define NGX_VOICEGW_TASK_READING  1     /* reading the body for affinity */
#define NGX_VOICEGW_TASK_PARKED   2     /* waiting in the queue */
#define NGX_VOICEGW_TASK_GRANTED  3     /* holds a worker */
#define NGX_VOICEGW_TASK_ANSWERED 4     /* refused; the answer is sent */


typedef struct {
    ngx_http_request_t          *request;
    ngx_voicegw_task_conf_t     *tcf;
    ngx_voicegw_shm_t           *shm;

    ngx_uint_t                   phase;
    uint64_t                     ticket;
    ngx_voicegw_grant_t          grant;
    ngx_str_t                    peer_name;   /* "host:port" of the grant */
    ngx_voicegw_affinity_t      *affinity;
    ngx_str_t                    session;
    uint64_t                     started;

    ngx_event_t                  wake;
    ngx_event_t                  timeout;
    ngx_queue_t                  link;        /* parked requests of ours */

    unsigned                     held:1;      /* a reservation to release */
    unsigned                     connected:1; /* the balancer used it */
    unsigned                     parked:1;
} ngx_voicegw_task_ctx_t;


ngx_int_t ngx_voicegw_task_init(ngx_conf_t *cf);
ngx_int_t ngx_voicegw_task_init_process(ngx_cycle_t *cycle,
    ngx_voicegw_shm_t *shm);
void ngx_voicegw_task_exit_process(ngx_voicegw_shm_t *shm);
char *ngx_voicegw_task_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_voicegw_task_resolve(ngx_conf_t *cf,
    ngx_voicegw_main_conf_t *vmcf);
void ngx_voicegw_task_release(ngx_voicegw_task_ctx_t *ctx,
    ngx_uint_t outcome);
void ngx_voicegw_task_release_after_close(ngx_voicegw_task_ctx_t *ctx,
    ngx_uint_t outcome);


#endif /* _NGX_VOICEGW_TASK_H_INCLUDED_ */
