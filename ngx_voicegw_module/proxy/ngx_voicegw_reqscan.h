
/*
 * ngx_voicegw_reqscan.h
 *
 * What a JSON request body tells the accounting before the provider
 * answers: the model, the characters a speech request will be billed for,
 * and whether a chat stream asked for its usage.  Read from the body's
 * bytes in pieces of any size; only top-level fields count.
 */


#ifndef _NGX_VOICEGW_REQSCAN_H_INCLUDED_
#define _NGX_VOICEGW_REQSCAN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_VOICEGW_REQSCAN_MODEL_LEN  200


typedef struct {
    u_char                       model[NGX_VOICEGW_REQSCAN_MODEL_LEN];
    size_t                       model_len;     /* 0: none, or too long */
    size_t                       chars;         /* code points of "input",
                                                   "text", "transcript" */
    ngx_uint_t                   text_fields;   /* how many were strings */
    ngx_int_t                    stream;        /* -1: absent, 0, 1 */
    ngx_int_t                    include_usage; /* stream_options' */
    unsigned                     invalid:1;     /* not JSON: what came
                                                   before the fault holds */
} ngx_voicegw_request_info_t;


typedef struct ngx_voicegw_reqscan_s  ngx_voicegw_reqscan_t;


ngx_voicegw_reqscan_t *ngx_voicegw_reqscan_create(ngx_pool_t *pool);
ngx_int_t ngx_voicegw_reqscan_feed(ngx_voicegw_reqscan_t *rs, u_char *p,
    size_t len);
void ngx_voicegw_reqscan_end(ngx_voicegw_reqscan_t *rs);
ngx_voicegw_request_info_t *ngx_voicegw_reqscan_info(
    ngx_voicegw_reqscan_t *rs);


#endif /* _NGX_VOICEGW_REQSCAN_H_INCLUDED_ */
