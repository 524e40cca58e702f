
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
 *   ngx_voicegw_proxy_path.c     the URI: provider id, path, modality,
 *                                the query's model, the upstream URL
 *   ngx_voicegw_proxy_ws.c       a WebSocket handshake's particulars
 *                                (realtime/ has the session)
 *   ngx_voicegw_proxy_body.c     what the request body says (model,
 *                                characters, audio, stream options)
 *   ngx_voicegw_proxy_budget.c   the project's daily budget: reserve,
 *                                settle, refuse
 *   ngx_voicegw_proxy_books.c    the filters that measure the answer,
 *                                the record at the log phase
 */


#ifndef _NGX_VOICEGW_PROXY_H_INCLUDED_
#define _NGX_VOICEGW_PROXY_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_entity_cache.h"
#include "ngx_voicegw_usage.h"
#include "ngx_voicegw_reqscan.h"
#include "ngx_voicegw_multipart.h"
#include "ngx_voicegw_wav.h"
#include "ngx_voicegw_record.h"
#include "ngx_voicegw_url.h"


#define NGX_VOICEGW_PROXY_UPSTREAM  "voicegw_providers"
#define NGX_VOICEGW_PROXY_INTERIM   60000    /* ms, interim=1m */
#define NGX_VOICEGW_PROXY_BODY_BUFFER  (128 * 1024)

/* base URLs kept parsed, per location and process (ngx_voicegw_proxy_base) */
#define NGX_VOICEGW_PROXY_BASES     4
#define NGX_VOICEGW_PROXY_BASE_LEN  256


typedef struct {
    size_t                       len;            /* of text; 0: free */
    u_char                       text[NGX_VOICEGW_PROXY_BASE_LEN];
    ngx_voicegw_url_t            url;            /* strings in strings */
    ngx_str_t                    host;           /* the Host header */
    u_char                       strings[3 * NGX_VOICEGW_PROXY_BASE_LEN
                                         + 16];
} ngx_voicegw_proxy_base_t;


typedef struct {
    ngx_flag_t                   enabled;
    ngx_uint_t                   strict_models;
    ngx_msec_t                   interim;        /* a WebSocket session's
                                                    interim records */
    ngx_resolver_t              *resolver;       /* resolv.conf's servers */
    ngx_str_t                    prefix;         /* the location's */
    ngx_http_handler_pt          proxy_handler;  /* nginx's proxy */
    ngx_voicegw_proxy_base_t    *bases;          /* this process's */
    ngx_uint_t                   next_base;
} ngx_voicegw_proxy_loc_conf_t;


/* one proxied call */

typedef struct ngx_voicegw_proxy_ctx_s  ngx_voicegw_proxy_ctx_t;

typedef ngx_int_t (*ngx_voicegw_budget_again_pt)(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx);

/* a WebSocket session books itself (realtime/): the log phase calls it */
typedef void (*ngx_voicegw_proxy_book_pt)(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx);


struct ngx_voicegw_proxy_ctx_s {
    ngx_voicegw_main_conf_t     *vmcf;
    ngx_voicegw_entity_waiter_t  waiter;

    ngx_voicegw_provider_view_t  provider;
    ngx_str_t                    project;
    ngx_voicegw_project_view_t   project_view;
    ngx_str_t                    rest;           /* the provider's path */
    ngx_str_t                    model;          /* as the client named it */
    ngx_str_t                    record_model;   /* provider/model */
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
    ngx_voicegw_reqscan_t       *reqscan;        /* a JSON body */
    ngx_voicegw_multipart_t     *multipart;      /* a form upload */
    ngx_voicegw_wav_t           *wav;            /* a raw upload */
    double                       characters;     /* TTS text, code points */
    double                       audio_seconds;  /* of the upload; -1 */

    /* what the answer said */
    ngx_voicegw_usage_t         *usage;
    void                        *strip;          /* ngx_voicegw_sse_strip_t,
                                                    when include_usage was
                                                    asked for */
    double                       character_cost; /* ElevenLabs header */
    ngx_uint_t                   status;         /* the provider's */
    ngx_msec_t                   start;

    unsigned                     proxied:1;      /* handed to nginx's proxy */
    unsigned                     answered:1;     /* a header came back */
    unsigned                     ended:1;        /* the whole body passed */
    unsigned                     partial:1;      /* ended before its end */
    unsigned                     booked:1;
    unsigned                     rejected:1;     /* by the budget */
    unsigned                     asked_usage:1;  /* include_usage added */
    unsigned                     stt_tokens:1;   /* billed in tokens */
    unsigned                     usage_declined:1; /* include_usage: false */
    unsigned                     websocket:1;    /* an Upgrade: websocket */

    /* a WebSocket session: its accounting (realtime/), once upgraded */
    void                        *session;
    ngx_voicegw_proxy_book_pt    book;

    /* the project's daily budget */
    ngx_event_t                  budget_ev;      /* waits for an estimate */
    ngx_voicegw_budget_again_pt  budget_again;
    double                       budget_reserved;
    ngx_uint_t                   budget_state;   /* 1 warning, 2 exceeded */
    unsigned                     budget_cleanup:1;
    unsigned                     budget_held:1;  /* reserved, not settled */
    unsigned                     budget_blind:1; /* with no estimate */
};


extern ngx_module_t  ngx_voicegw_proxy_module;


void *ngx_voicegw_proxy_create_loc_conf(ngx_conf_t *cf);
char *ngx_voicegw_proxy_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
char *ngx_voicegw_proxy_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_voicegw_proxy_params.c */
ngx_int_t ngx_voicegw_proxy_param(ngx_voicegw_proxy_loc_conf_t *plcf,
    ngx_str_t *arg, ngx_str_t *resolv, ngx_str_t *bad);
ngx_int_t ngx_voicegw_proxy_nameservers(ngx_pool_t *pool, u_char *buf,
    size_t len, ngx_str_t *names, ngx_uint_t max);

ngx_int_t ngx_voicegw_proxy_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_voicegw_proxy_postconfiguration(ngx_conf_t *cf);

ngx_int_t ngx_voicegw_proxy_upstream(ngx_conf_t *cf);
ngx_int_t ngx_voicegw_proxy_peer_guard(ngx_conf_t *cf);

ngx_int_t ngx_voicegw_proxy_handler(ngx_http_request_t *r);

/* ngx_voicegw_proxy_path.c */
void ngx_voicegw_proxy_split(ngx_str_t *uri, ngx_str_t *prefix, ngx_str_t *id,
    ngx_str_t *rest);
ngx_uint_t ngx_voicegw_proxy_modality(ngx_str_t *path);
ngx_int_t ngx_voicegw_proxy_model_arg(ngx_http_request_t *r,
    ngx_str_t *model);
ngx_int_t ngx_voicegw_proxy_record_model(ngx_pool_t *pool,
    ngx_str_t *provider, ngx_str_t *model, ngx_str_t *name);
ngx_int_t ngx_voicegw_proxy_base(ngx_http_request_t *r,
    ngx_voicegw_proxy_loc_conf_t *plcf, ngx_str_t *text,
    ngx_voicegw_url_t *url, ngx_str_t *host, const char **err);
ngx_int_t ngx_voicegw_proxy_url(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx, ngx_uint_t https, ngx_str_t *prefix,
    ngx_str_t *rest);

ngx_uint_t ngx_voicegw_proxy_rt_modality(ngx_str_t *path);
ngx_int_t ngx_voicegw_proxy_subprotocols(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx, ngx_table_elt_t *h);
u_char *ngx_voicegw_proxy_args(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx, u_char *p);

ngx_int_t ngx_voicegw_proxy_body_init(ngx_conf_t *cf);
ngx_int_t ngx_voicegw_proxy_read_body(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx, ngx_http_client_body_handler_pt done);
ngx_int_t ngx_voicegw_proxy_body_read(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx);

ngx_int_t ngx_voicegw_proxy_budget_conf(ngx_conf_t *cf,
    ngx_voicegw_main_conf_t *vmcf);
ngx_int_t ngx_voicegw_proxy_budget_reserve(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx, ngx_voicegw_project_view_t *project,
    double estimate, ngx_voicegw_budget_again_pt again);
void ngx_voicegw_proxy_budget_settle(ngx_voicegw_proxy_ctx_t *ctx,
    double cost, ngx_str_t *model);
ngx_uint_t ngx_voicegw_proxy_budget_running(ngx_voicegw_proxy_ctx_t *ctx,
    double cost, double *headroom);
void ngx_voicegw_proxy_budget_settle_part(ngx_voicegw_proxy_ctx_t *ctx,
    double cost);

ngx_int_t ngx_voicegw_proxy_books_init(ngx_conf_t *cf);
void ngx_voicegw_proxy_cost(ngx_voicegw_proxy_ctx_t *ctx,
    ngx_voicegw_record_t *rec);
ngx_uint_t ngx_voicegw_proxy_prices(ngx_voicegw_proxy_ctx_t *ctx,
    ngx_str_t *model, ngx_uint_t unit, double *price);
ngx_uint_t ngx_voicegw_proxy_unit(ngx_uint_t kind);
double ngx_voicegw_proxy_price_units(ngx_uint_t kind, double *price,
    ngx_uint_t priced, double input, double output, double cached);
double ngx_voicegw_proxy_estimate(ngx_voicegw_proxy_ctx_t *ctx);
ngx_int_t ngx_voicegw_proxy_keep_ctx(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx);


#endif /* _NGX_VOICEGW_PROXY_H_INCLUDED_ */
