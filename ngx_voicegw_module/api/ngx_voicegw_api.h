
/*
 * ngx_voicegw_api.h
 *
 * The JSON API served by "voicegw_api;": the route tables each resource
 * file exports (the router reads them), the per-request context a
 * handler receives, and the request layer every handler uses (body
 * fields, query arguments, store batches, waiting for outside work).
 */


#ifndef _NGX_VOICEGW_API_H_INCLUDED_
#define _NGX_VOICEGW_API_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_sql.h"


#define NGX_VOICEGW_API_MAX_PARAMS  4

/* which APIs a location serves ("voicegw_api [service] [voicegateway];") */
#define NGX_VOICEGW_API_SERVICE       0x0002
#define NGX_VOICEGW_API_VOICEGATEWAY  0x0004
#define NGX_VOICEGW_API_ALL           (NGX_VOICEGW_API_SERVICE               \
                                       |NGX_VOICEGW_API_VOICEGATEWAY)

/* route flags */
#define NGX_VOICEGW_API_BODY        0x01     /* a JSON object body */
#define NGX_VOICEGW_API_UPLOAD      0x02     /* the handler reads the body
                                                itself (a file upload) */


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


typedef struct {
    ngx_uint_t                   api;         /* NGX_VOICEGW_API_*, 0: none */
    size_t                       body_limit;
} ngx_voicegw_api_loc_conf_t;


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
    ngx_voicegw_api_loc_conf_t  *vlcf;

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


/* the API's own configuration */

struct ngx_voicegw_api_main_s {
    /* core location configurations of "voicegw_api" locations */
    ngx_array_t                  locations;
};


/* the route tables of the resource files */

extern ngx_voicegw_api_route_t  ngx_voicegw_api_service_routes[];
extern ngx_voicegw_api_route_t  ngx_voicegw_api_pool_routes[];
extern ngx_voicegw_api_route_t  ngx_voicegw_api_providers_routes[];
extern ngx_voicegw_api_route_t  ngx_voicegw_api_models_routes[];
extern ngx_voicegw_api_route_t  ngx_voicegw_api_projects_routes[];
extern ngx_voicegw_api_route_t  ngx_voicegw_api_audit_routes[];
extern ngx_voicegw_api_route_t  ngx_voicegw_api_reports_routes[];
extern ngx_voicegw_api_route_t  ngx_voicegw_api_metrics_routes[];
extern ngx_voicegw_api_route_t  ngx_voicegw_api_ref_audio_routes[];
extern ngx_voicegw_api_route_t  ngx_voicegw_api_sessions_routes[];
extern ngx_voicegw_api_route_t  ngx_voicegw_api_session_upload_routes[];
extern ngx_voicegw_api_route_t  ngx_voicegw_api_session_download_routes[];


/* the router (ngx_voicegw_api_router.c) */

ngx_voicegw_api_main_t *ngx_voicegw_api_create_main(ngx_conf_t *cf);
ngx_int_t ngx_voicegw_api_init_main_conf(ngx_conf_t *cf,
    ngx_voicegw_api_main_t *am, ngx_voicegw_zone_t *zone);
ngx_int_t ngx_voicegw_api_postconfiguration(ngx_conf_t *cf,
    ngx_voicegw_api_main_t *am);
void *ngx_voicegw_api_create_loc_conf(ngx_conf_t *cf);
char *ngx_voicegw_api_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
char *ngx_voicegw_api_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* what the URI brings (ngx_voicegw_api_args.c) */

ngx_uint_t ngx_voicegw_api_match(ngx_str_t *pattern, ngx_str_t *uri,
    ngx_str_t *params, ngx_uint_t *nparams);
ngx_int_t ngx_voicegw_api_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
ngx_int_t ngx_voicegw_api_ticket_id(ngx_str_t *s, uint64_t *id);


/* the request layer (ngx_voicegw_api_request.c) */

ngx_voicegw_json_t *ngx_voicegw_api_json(ngx_http_request_t *r);
ngx_int_t ngx_voicegw_api_fields(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, const ngx_voicegw_field_t *fields,
    ngx_voicegw_json_value_t **found, ngx_int_t *answer);
ngx_int_t ngx_voicegw_api_no_store(ngx_http_request_t *r);

ngx_voicegw_store_op_t *ngx_voicegw_api_store_op(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, size_t size);
ngx_voicegw_sql_batch_t *ngx_voicegw_api_batch(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_uint_t write);
ngx_voicegw_sql_batch_t *ngx_voicegw_api_batch_rows(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_int_t *answer);
ngx_int_t ngx_voicegw_api_store_failed(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, const char *outcome);
ngx_int_t ngx_voicegw_api_batch_failed(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
ngx_int_t ngx_voicegw_api_store_post(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_api_handler_pt resume);
ngx_int_t ngx_voicegw_api_suspend(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_api_handler_pt resume);
void ngx_voicegw_api_wake(ngx_http_request_t *r);
void ngx_voicegw_api_finalize(ngx_http_request_t *r, ngx_int_t rc);


/* what the session handlers share (ngx_voicegw_api_sessions.c) */

ngx_int_t ngx_voicegw_api_session_id(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_sessions_t **sessions,
    ngx_int_t *answer);


/* the resources' own hooks */

void ngx_voicegw_api_exit_process(ngx_voicegw_proc_t *proc);
ngx_int_t ngx_voicegw_api_upload_init(ngx_conf_t *cf);


/* what the session handlers share (ngx_voicegw_api_sessions.c) */

struct ngx_voicegw_session_io_s;            /* sessions/ngx_voicegw_sessions.h */

ngx_int_t ngx_voicegw_api_session_id(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_sessions_t **sessions,
    ngx_int_t *answer);
ngx_int_t ngx_voicegw_api_session_post(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, struct ngx_voicegw_session_io_s *io,
    ngx_voicegw_api_handler_pt resume);


#endif /* _NGX_VOICEGW_API_H_INCLUDED_ */
