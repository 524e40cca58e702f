
/*
 * ngx_voicegw_probe.h
 *
 * The provider connectivity test, "POST /v1/providers/{id}/test".
 */


#ifndef _NGX_VOICEGW_PROBE_H_INCLUDED_
#define _NGX_VOICEGW_PROBE_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_api.h"


char *ngx_voicegw_probe_trusted_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_voicegw_probe_init_main_conf(ngx_conf_t *cf,
    ngx_voicegw_main_conf_t *vmcf);
ngx_int_t ngx_voicegw_probe_handler(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);


#endif /* _NGX_VOICEGW_PROBE_H_INCLUDED_ */
