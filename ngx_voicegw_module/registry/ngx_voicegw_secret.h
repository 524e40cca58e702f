
/*
 * ngx_voicegw_secret.h
 *
 * Provider API keys at rest: AES-256-GCM under the key of
 * "voicegw_secret PATH;", and the masked form the API shows.
 */


#ifndef _NGX_VOICEGW_SECRET_H_INCLUDED_
#define _NGX_VOICEGW_SECRET_H_INCLUDED_


#include "ngx_voicegw_module.h"


#define NGX_VOICEGW_SECRET_LEN  32


char *ngx_voicegw_secret_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_voicegw_secret_parse(u_char *data, size_t len, u_char *key);
ngx_int_t ngx_voicegw_secret_encrypt(ngx_pool_t *pool, u_char *key,
    ngx_str_t *aad, ngx_str_t *plain, ngx_str_t *out);
ngx_int_t ngx_voicegw_secret_decrypt(ngx_pool_t *pool, u_char *key,
    ngx_str_t *aad, ngx_str_t *sealed, ngx_str_t *plain);
void ngx_voicegw_secret_mask(ngx_pool_t *pool, ngx_str_t *key,
    ngx_str_t *masked);


#endif /* _NGX_VOICEGW_SECRET_H_INCLUDED_ */
