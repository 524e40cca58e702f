
/*
 * ngx_voicegw_doorbell.h
 *
 * Waking a parked request in another nginx worker process: each process
 * listens on its own datagram socket, and whoever grants a ticket rings
 * the doorbell of the ticket's owner.
 */


#ifndef _NGX_VOICEGW_DOORBELL_H_INCLUDED_
#define _NGX_VOICEGW_DOORBELL_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_pool.h"


ngx_int_t ngx_voicegw_doorbell_init_process(ngx_cycle_t *cycle,
    ngx_voicegw_pools_t *vp, ngx_event_handler_pt handler);
void ngx_voicegw_doorbell_exit_process(ngx_voicegw_pools_t *vp);
void ngx_voicegw_doorbell_drain(ngx_voicegw_pools_t *vp);
void ngx_voicegw_doorbell_ring(ngx_voicegw_pools_t *vp, ngx_pid_t pid,
    ngx_int_t slot, void *event);


#endif /* _NGX_VOICEGW_DOORBELL_H_INCLUDED_ */
