
/*
 * ngx_voicegw_auth.h
 *
 * Bearer tokens of the API ("voicegw_api_key", "voicegw_api_auth").
 */


#ifndef _NGX_VOICEGW_AUTH_H_INCLUDED_
#define _NGX_VOICEGW_AUTH_H_INCLUDED_


#include "ngx_voicegw_module.h"


#define NGX_VOICEGW_SCOPE_READ   0x01
#define NGX_VOICEGW_SCOPE_WRITE  0x02


typedef struct {
    ngx_str_t                    token;
    ngx_str_t                    name;
    ngx_uint_t                   scopes;
} ngx_voicegw_api_key_t;


char *ngx_voicegw_api_key_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_voicegw_api_auth_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_voicegw_auth_check(ngx_http_request_t *r,
    ngx_voicegw_registry_t *reg, ngx_uint_t write, ngx_str_t *actor);


#endif /* _NGX_VOICEGW_AUTH_H_INCLUDED_ */
