
/*
 * ngx_voicegw_api.h
 *
 * The JSON API served by "voicegw_api;": the route table each resource
 * file contributes to, the per-request context a handler receives, and the
 * helpers that send JSON answers and errors.
 */


#ifndef _NGX_VOICEGW_API_H_INCLUDED_
#define _NGX_VOICEGW_API_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_shm.h"
#include "ngx_voicegw_store.h"


#define NGX_VOICEGW_API_MAX_PARAMS  4

/* route flags */
#define NGX_VOICEGW_API_BODY        0x01     /* a JSON object body */


/* what a body field may be; ngx_voicegw_api_fields() checks them */
#define NGX_VOICEGW_F_STRING        0x01
#define NGX_VOICEGW_F_NUMBER        0x02
#define NGX_VOICEGW_F_BOOL          0x04
#define NGX_VOICEGW_F_NULL          0x08
#define NGX_VOICEGW_F_STRINGS       0x10     /* an array of strings */
#define NGX_VOICEGW_F_REQUIRED      0x100

#define NGX_VOICEGW_FIELD_MAX_LEN   4096


typedef struct {
    const char                  *name;
    ngx_uint_t                   flags;
} ngx_voicegw_field_t;


typedef struct ngx_voicegw_api_ctx_s  ngx_voicegw_api_ctx_t;

typedef ngx_int_t (*ngx_voicegw_api_handler_pt)(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);


typedef struct {
    ngx_uint_t                   method;      /* one NGX_HTTP_* method */
    ngx_str_t                    pattern;     /* "/api/queue/{}", "{*}" */
    ngx_voicegw_api_handler_pt   handler;
    ngx_uint_t                   flags;
} ngx_voicegw_api_route_t;


struct ngx_voicegw_api_ctx_s {
    ngx_voicegw_api_route_t     *route;
    ngx_str_t                    params[NGX_VOICEGW_API_MAX_PARAMS];
    ngx_uint_t                   nparams;

    ngx_voicegw_main_conf_t     *vmcf;
    ngx_voicegw_loc_conf_t      *vlcf;
    ngx_voicegw_shm_t           *shm;

    ngx_voicegw_json_value_t    *body;
    ngx_str_t                    actor;       /* key name or address */
    off_t                        header_length;

    /* a store op runs; resume() answers once it is done */
    ngx_voicegw_store_op_t      *op;
    ngx_voicegw_api_handler_pt   resume;
    void                        *data;
    unsigned                     waiting:1;
    unsigned                     body_read:1;
    unsigned                     body_complete:1;
};


extern ngx_voicegw_api_route_t  ngx_voicegw_api_service_routes[];
extern ngx_voicegw_api_route_t  ngx_voicegw_api_pool_routes[];
extern ngx_voicegw_api_route_t  ngx_voicegw_api_v1_routes[];
extern ngx_voicegw_api_route_t  ngx_voicegw_api_report_routes[];


ngx_int_t ngx_voicegw_api_handler(ngx_http_request_t *r);

ngx_int_t ngx_voicegw_api_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_voicegw_json_t *j);
ngx_int_t ngx_voicegw_api_send_chain(ngx_http_request_t *r,
    ngx_uint_t status, ngx_chain_t *out, size_t size);
void ngx_voicegw_api_exit_process(ngx_voicegw_shm_t *shm);
ngx_int_t ngx_voicegw_api_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, ...);
ngx_voicegw_json_t *ngx_voicegw_api_json(ngx_http_request_t *r);
ngx_int_t ngx_voicegw_body_collect(ngx_http_request_t *r, size_t limit,
    ngx_str_t *body);

ngx_int_t ngx_voicegw_api_fields(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, const ngx_voicegw_field_t *fields,
    ngx_voicegw_json_value_t **found, ngx_int_t *answer);
ngx_int_t ngx_voicegw_api_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);

ngx_voicegw_store_op_t *ngx_voicegw_api_store_op(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, size_t size);
ngx_voicegw_sql_batch_t *ngx_voicegw_api_batch(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_uint_t write);
ngx_voicegw_sql_batch_t *ngx_voicegw_api_batch_rows(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_int_t *answer);
ngx_int_t ngx_voicegw_api_batch_failed(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
ngx_int_t ngx_voicegw_api_store_post(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_api_handler_pt resume);
ngx_int_t ngx_voicegw_api_suspend(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_api_handler_pt resume);
void ngx_voicegw_api_wake(ngx_http_request_t *r);


#endif /* _NGX_VOICEGW_API_H_INCLUDED_ */
