
/*
 * ngx_voicegw_proxy.h
 *
 * The provider proxy ("voicegw_proxy"): a location that sends
 * /<prefix>/{provider_id}/<path> to that provider's base URL with its
 * key, through nginx's own proxy module and upstream machinery, and puts
 * every call on the books (units, cost, TTFB, latency, status).
 *
 *   ngx_voicegw_proxy_conf.c     the directive: what it sets up in
 *                                nginx's proxy module and the upstream
 *   ngx_voicegw_proxy_peer.c     the "voicegw_providers" upstream: its
 *                                balancer, keep-alive guard
 *   ngx_voicegw_proxy_request.c  the content handler: provider, project,
 *                                model, headers, then nginx's proxy
 *   ngx_voicegw_proxy_books.c    the filters that measure the answer,
 *                                the record at the log phase
 */


#ifndef _NGX_VOICEGW_PROXY_H_INCLUDED_
#define _NGX_VOICEGW_PROXY_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_entity_cache.h"
#include "ngx_voicegw_usage.h"


#define NGX_VOICEGW_PROXY_UPSTREAM  "voicegw_providers"


typedef struct {
    ngx_flag_t                   enabled;
    ngx_str_t                    prefix;         /* the location's */
    ngx_http_handler_pt          proxy_handler;  /* nginx's proxy */
} ngx_voicegw_proxy_loc_conf_t;


/* one proxied call */

typedef struct {
    ngx_voicegw_main_conf_t     *vmcf;
    ngx_voicegw_entity_waiter_t  waiter;

    ngx_voicegw_provider_view_t  provider;
    ngx_str_t                    project;
    ngx_str_t                    model;          /* as the client named it */
    ngx_uint_t                   modality;       /* NGX_VOICEGW_MODALITY_* */
    ngx_uint_t                   dialect;        /* NGX_VOICEGW_DIALECT_* */

    /* where it goes */
    ngx_str_t                    url;            /* $voicegw_proxy_url */
    ngx_str_t                    host;           /* $voicegw_proxy_host */
    ngx_str_t                    sni;            /* $voicegw_proxy_sni */
    in_port_t                    port;
    ngx_addr_t                  *addrs;
    ngx_uint_t                   naddrs;
    ngx_uint_t                   ssl;

    /* what the request said */
    double                       characters;     /* TTS text, code points */
    ngx_uint_t                   body_read;

    /* what the answer said */
    ngx_voicegw_usage_t         *usage;
    double                       character_cost; /* ElevenLabs header */
    ngx_uint_t                   status;         /* the provider's */
    ngx_msec_t                   start;

    unsigned                     proxied:1;      /* handed to nginx's proxy */
    unsigned                     answered:1;     /* a header came back */
    unsigned                     ended:1;        /* the whole body passed */
    unsigned                     partial:1;      /* ended before its end */
    unsigned                     booked:1;
} ngx_voicegw_proxy_ctx_t;


extern ngx_module_t  ngx_voicegw_proxy_module;


void *ngx_voicegw_proxy_create_loc_conf(ngx_conf_t *cf);
char *ngx_voicegw_proxy_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_voicegw_proxy_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_voicegw_proxy_postconfiguration(ngx_conf_t *cf);

ngx_int_t ngx_voicegw_proxy_upstream(ngx_conf_t *cf);
ngx_int_t ngx_voicegw_proxy_peer_guard(ngx_conf_t *cf);

ngx_int_t ngx_voicegw_proxy_handler(ngx_http_request_t *r);

ngx_int_t ngx_voicegw_proxy_books_init(ngx_conf_t *cf);
ngx_int_t ngx_voicegw_proxy_keep_ctx(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx);


#endif /* _NGX_VOICEGW_PROXY_H_INCLUDED_ */
