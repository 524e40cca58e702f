
/*
 * ngx_voicegw_reply.h
 *
 * What every answer of the gateway shares, whoever builds it: JSON with
 * the right headers, errors as {"detail":"...","error":"code"}, the
 * request body in one piece, and "voicegw_error", the handler that turns
 * nginx's own error pages into such JSON errors.
 */


#ifndef _NGX_VOICEGW_REPLY_H_INCLUDED_
#define _NGX_VOICEGW_REPLY_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"


ngx_int_t ngx_voicegw_reply_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_voicegw_json_t *j);
ngx_int_t ngx_voicegw_reply_chain(ngx_http_request_t *r, ngx_uint_t status,
    ngx_chain_t *out, size_t size, ngx_str_t *type);
ngx_int_t ngx_voicegw_reply_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, ...);
ngx_int_t ngx_voicegw_reply_status(ngx_http_request_t *r, ngx_int_t status);
ngx_int_t ngx_voicegw_body_collect(ngx_http_request_t *r, size_t limit,
    ngx_str_t *body);

char *ngx_voicegw_error_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_VOICEGW_REPLY_H_INCLUDED_ */
