
/*
 * ngx_voicegw_probe.h
 *
 * The provider connectivity test ("POST /v1/providers/{id}/test"): a
 * request to a provider's health endpoint, with its key.
 */


#ifndef _NGX_VOICEGW_PROBE_H_INCLUDED_
#define _NGX_VOICEGW_PROBE_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_url.h"
#include "ngx_voicegw_registry.h"


typedef struct ngx_voicegw_probe_s  ngx_voicegw_probe_t;

typedef void (*ngx_voicegw_probe_done_pt)(ngx_voicegw_probe_t *p);


struct ngx_voicegw_probe_s {
    /* set by the caller */
    ngx_pool_t                         *pool;
    ngx_voicegw_registry_t             *reg;
    ngx_queue_t                        *fetches;
    ngx_resolver_t                     *resolver;
    ngx_msec_t                          resolver_timeout;
    const ngx_voicegw_provider_type_t  *type;
    ngx_str_t                           key;
    ngx_str_t                           base_url;   /* empty: the type's */
    ngx_voicegw_probe_done_pt           done;
    void                               *data;

    /* the outcome */
    ngx_uint_t                          ok;
    ngx_uint_t                          http_status;
    ngx_msec_t                          latency;
    ngx_str_t                           message;

    /* the target */
    ngx_voicegw_url_t                   url;
    ngx_addr_t                          addr;
};


char *ngx_voicegw_probe_trusted_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_voicegw_probe_timeout_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_voicegw_probe_init_main_conf(ngx_conf_t *cf,
    ngx_voicegw_registry_t *reg, ngx_uint_t api);
void ngx_voicegw_probe_start(ngx_voicegw_probe_t *p);


#endif /* _NGX_VOICEGW_PROBE_H_INCLUDED_ */
