
/*
 * ngx_voicegw_reqscan.c
 *
 * Owns the scan of a JSON request body: the top-level "model" (else
 * "model_id"), the code points of "input" (OpenAI speech), "text"
 * (ElevenLabs, Deepgram speech) and "transcript" (Cartesia), "stream" and
 * "stream_options.include_usage".
 *
 * Code points, not bytes, because the providers bill characters: the
 * filter in front of yajl counts them on the raw text, an escaped
 * surrogate pair being one, so that a long text is counted without being
 * held.  It must never change the body: the proxy sends it on as it came.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_voicegw_jsonfeed.h"
#include "ngx_voicegw_reqscan.h"


/*
 * A model name longer than 200 bytes is no model; a string cut by the
 * filter is longer than that, even if every raw byte were part of a
 * six-byte escape.
 */
#define NGX_VOICEGW_REQSCAN_MAX_STRING  2048

#define NGX_VOICEGW_REQSCAN_MODEL          1
#define NGX_VOICEGW_REQSCAN_MODEL_ID       2
#define NGX_VOICEGW_REQSCAN_TEXT           3
#define NGX_VOICEGW_REQSCAN_STREAM         4
#define NGX_VOICEGW_REQSCAN_INCLUDE_USAGE  5


struct ngx_voicegw_reqscan_s {
    ngx_voicegw_request_info_t   info;
    ngx_voicegw_jsonfeed_t      *json;
    unsigned                     named:1;     /* by "model", not model_id */
    unsigned                     ended:1;
};


static void ngx_voicegw_reqscan_value(void *ctx, ngx_uint_t slot,
    ngx_uint_t type, u_char *s, size_t len);


static ngx_voicegw_jsonpath_t  ngx_voicegw_reqscan_paths[] = {
    { 0, ngx_null_string, 0 },
    { 0, ngx_string("model"), NGX_VOICEGW_REQSCAN_MODEL },
    { 0, ngx_string("model_id"), NGX_VOICEGW_REQSCAN_MODEL_ID },
    { 0, ngx_string("input"), NGX_VOICEGW_REQSCAN_TEXT },
    { 0, ngx_string("text"), NGX_VOICEGW_REQSCAN_TEXT },
    { 0, ngx_string("transcript"), NGX_VOICEGW_REQSCAN_TEXT },
    { 0, ngx_string("stream"), NGX_VOICEGW_REQSCAN_STREAM },
    { 0, ngx_string("stream_options"), 0 },                       /* 7 */
    { 7, ngx_string("include_usage"), NGX_VOICEGW_REQSCAN_INCLUDE_USAGE }
};


ngx_voicegw_reqscan_t *
ngx_voicegw_reqscan_create(ngx_pool_t *pool)
{
    ngx_voicegw_reqscan_t  *rs;

    rs = ngx_pcalloc(pool, sizeof(ngx_voicegw_reqscan_t));
    if (rs == NULL) {
        return NULL;
    }

    rs->info.stream = -1;
    rs->info.include_usage = -1;

    rs->json = ngx_voicegw_jsonfeed_create(pool, ngx_voicegw_reqscan_paths,
                   sizeof(ngx_voicegw_reqscan_paths)
                   / sizeof(ngx_voicegw_jsonpath_t),
                   NGX_VOICEGW_REQSCAN_MAX_STRING,
                   NGX_VOICEGW_JSONFEED_COUNT|NGX_VOICEGW_JSONFEED_VALIDATE
                   |NGX_VOICEGW_JSONFEED_SKIP);
    if (rs->json == NULL) {
        return NULL;
    }

    rs->json->value = ngx_voicegw_reqscan_value;
    rs->json->ctx = rs;

    if (ngx_voicegw_jsonfeed_begin(rs->json) != NGX_OK) {
        return NULL;
    }

    return rs;
}


ngx_int_t
ngx_voicegw_reqscan_feed(ngx_voicegw_reqscan_t *rs, u_char *p, size_t len)
{
    if (rs->ended || rs->info.invalid) {
        return NGX_OK;
    }

    if (ngx_voicegw_jsonfeed_feed(rs->json, p, len) != NGX_OK) {
        rs->info.invalid = 1;
    }

    return NGX_OK;
}


void
ngx_voicegw_reqscan_end(ngx_voicegw_reqscan_t *rs)
{
    if (rs->ended) {
        return;
    }

    rs->ended = 1;

    if (ngx_voicegw_jsonfeed_end(rs->json) != NGX_OK) {
        rs->info.invalid = 1;
    }
}


ngx_voicegw_request_info_t *
ngx_voicegw_reqscan_info(ngx_voicegw_reqscan_t *rs)
{
    return &rs->info;
}


static void
ngx_voicegw_reqscan_value(void *ctx, ngx_uint_t slot, ngx_uint_t type,
    u_char *s, size_t len)
{
    ngx_voicegw_reqscan_t  *rs = ctx;

    ngx_voicegw_request_info_t  *info;

    info = &rs->info;

    switch (slot) {

    case NGX_VOICEGW_REQSCAN_MODEL:
    case NGX_VOICEGW_REQSCAN_MODEL_ID:

        if (type != NGX_VOICEGW_JSON_STRING || rs->json->last_cut
            || len == 0 || len > NGX_VOICEGW_REQSCAN_MODEL_LEN
            || (slot == NGX_VOICEGW_REQSCAN_MODEL_ID && rs->named))
        {
            return;
        }

        ngx_memcpy(info->model, s, len);
        info->model_len = len;

        if (slot == NGX_VOICEGW_REQSCAN_MODEL) {
            rs->named = 1;
        }

        return;

    case NGX_VOICEGW_REQSCAN_TEXT:

        if (type == NGX_VOICEGW_JSON_STRING) {
            info->chars += rs->json->last_chars;
            info->text_fields++;
        }

        return;

    case NGX_VOICEGW_REQSCAN_STREAM:
    case NGX_VOICEGW_REQSCAN_INCLUDE_USAGE:

        if (type != NGX_VOICEGW_JSON_TRUE && type != NGX_VOICEGW_JSON_FALSE) {
            return;
        }

        if (slot == NGX_VOICEGW_REQSCAN_STREAM) {
            info->stream = (type == NGX_VOICEGW_JSON_TRUE);

        } else {
            info->include_usage = (type == NGX_VOICEGW_JSON_TRUE);
        }

        return;
    }
}
