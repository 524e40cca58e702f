
/*
 * ngx_voicegw_fetch.h
 *
 * A small HTTP client on nginx's event loop, for requests the gateway
 * makes itself (worker health checks): one request, one connection, a
 * deadline, a callback.
 */


#ifndef _NGX_VOICEGW_FETCH_H_INCLUDED_
#define _NGX_VOICEGW_FETCH_H_INCLUDED_


#include "ngx_voicegw_module.h"


typedef struct ngx_voicegw_fetch_s  ngx_voicegw_fetch_t;

typedef void (*ngx_voicegw_fetch_done_pt)(ngx_voicegw_fetch_t *f);


/* outcome */
#define NGX_VOICEGW_FETCH_OK       0      /* a response, see status */
#define NGX_VOICEGW_FETCH_REFUSED  1      /* could not connect */
#define NGX_VOICEGW_FETCH_TIMEOUT  2
#define NGX_VOICEGW_FETCH_FAILED   3      /* broken or oversized response */
#define NGX_VOICEGW_FETCH_CLOSED   4      /* closed before any answer */
#define NGX_VOICEGW_FETCH_TLS      5      /* handshake or certificate */


struct ngx_voicegw_fetch_s {
    ngx_pool_t                  *pool;        /* freed after done() */
    ngx_log_t                   *log;

    /* set by the caller */
    struct sockaddr             *sockaddr;
    socklen_t                    socklen;
    ngx_str_t                    name;
    ngx_str_t                    request;     /* raw bytes to send */
    ngx_msec_t                   timeout;     /* for everything */
    size_t                       max_response;
    ngx_voicegw_fetch_done_pt    done;
    void                        *data;

    /* https: the context, and the host name to send and to verify */
    ngx_ssl_t                   *ssl;
    ngx_str_t                    host;

    /* a graceful shutdown waits for it (a client waits for its answer);
       otherwise it is dropped when the process exits */
    unsigned                     graceful:1;

    /* the result */
    ngx_uint_t                   outcome;
    ngx_uint_t                   status;
    ngx_str_t                    body;
    ngx_msec_t                   elapsed;
    const char                  *error;       /* why, when it failed */

    ngx_peer_connection_t        peer;
    ngx_buf_t                   *in;
    size_t                       sent;
    ngx_event_t                  deadline;
    ngx_msec_t                   start;
    ngx_queue_t                  link;        /* in the owner's list */
    unsigned                     connected:1;
    unsigned                     finished:1;
};


ngx_voicegw_fetch_t *ngx_voicegw_fetch_create(ngx_log_t *log,
    ngx_queue_t *active);
void ngx_voicegw_fetch_start(ngx_voicegw_fetch_t *f);
void ngx_voicegw_fetch_abort_all(ngx_queue_t *active);


#endif /* _NGX_VOICEGW_FETCH_H_INCLUDED_ */
