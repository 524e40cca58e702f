
/*
 * ngx_voicegw_proxy_body.c
 *
 * Owns what a provider call's request body tells the books before
 * anything is sent.  The body is read the way nginx reads any body: on
 * the event loop, in memory and past client_body_buffer_size in a
 * temporary file, never more than client_max_body_size.  A request body
 * filter hands every byte, as it arrives and without keeping it, to the
 * scanner of the body's type:
 *
 *   JSON                 the model, the characters a speech request is
 *                        billed for, a chat stream's stream options
 *                        (ngx_voicegw_reqscan.c)
 *   multipart/form-data  the "model" field, the WAV header of the "file"
 *                        part (ngx_voicegw_multipart.c)
 *   anything else, STT   the WAV header of the raw upload
 *
 * Once the body is in, what was found goes into the call's context, and
 * an OpenAI chat stream that did not say whether it wants its usage is
 * asked for it: "stream_options":{"include_usage":true} is added to its
 * (small, in memory) JSON body; the usage-only chunk this adds to the
 * answer is taken out again on the way back (ngx_voicegw_sse_strip.c).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_reqscan.h"
#include "ngx_voicegw_multipart.h"
#include "ngx_voicegw_wav.h"
#include "ngx_voicegw_record.h"
#include "ngx_voicegw_proxy.h"


static ngx_int_t ngx_voicegw_proxy_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_voicegw_proxy_content_type(ngx_http_request_t *r,
    const char *type);
static ngx_int_t ngx_voicegw_proxy_copy(ngx_http_request_t *r, ngx_str_t *to,
    u_char *from, size_t len);
static ngx_int_t ngx_voicegw_proxy_ask_usage(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx);


static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;


/* provider types whose chat streams are asked for their usage */

static ngx_str_t  ngx_voicegw_proxy_ask_types[] = {
    ngx_string("openai"),
    ngx_null_string
};


ngx_int_t
ngx_voicegw_proxy_body_init(ngx_conf_t *cf)
{
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_voicegw_proxy_request_body_filter;

    return NGX_OK;
}


/*
 * Reads the body with a scanner for its type, then "done" runs; the
 * return value is the content handler's.
 */

ngx_int_t
ngx_voicegw_proxy_read_body(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx, ngx_http_client_body_handler_pt done)
{
    ngx_int_t   rc;
    ngx_str_t   boundary;

    if (ngx_voicegw_proxy_content_type(r, "multipart/form-data") == NGX_OK) {

        if (ngx_voicegw_multipart_boundary(&r->headers_in.content_type->value,
                                           &boundary)
            == NGX_OK)
        {
            ctx->multipart = ngx_voicegw_multipart_create(r->pool, &boundary);
            if (ctx->multipart == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

    } else if (ngx_voicegw_proxy_content_type(r, "json") == NGX_OK) {

        ctx->reqscan = ngx_voicegw_reqscan_create(r->pool);
        if (ctx->reqscan == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else if (ctx->modality == NGX_VOICEGW_MODALITY_STT) {

        ctx->wav = ngx_palloc(r->pool, sizeof(ngx_voicegw_wav_t));
        if (ctx->wav == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_voicegw_wav_init(ctx->wav);
    }

    rc = ngx_http_read_client_request_body(r, done);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* every byte of the body, as it arrives */

static ngx_int_t
ngx_voicegw_proxy_request_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                    len;
    ngx_chain_t              *cl;
    ngx_voicegw_proxy_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_proxy_module);

    if (ctx == NULL || ctx->proxied) {
        return ngx_http_next_request_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {

        if (!ngx_buf_in_memory(cl->buf)) {
            continue;
        }

        len = cl->buf->last - cl->buf->pos;

        if (len == 0) {
            continue;
        }

        if (ctx->reqscan) {
            (void) ngx_voicegw_reqscan_feed(ctx->reqscan, cl->buf->pos, len);

        } else if (ctx->multipart) {
            ngx_voicegw_multipart_feed(ctx->multipart, cl->buf->pos, len);

        } else if (ctx->wav) {
            ngx_voicegw_wav_feed(ctx->wav, cl->buf->pos, len);
        }
    }

    return ngx_http_next_request_body_filter(r, in);
}


/*
 * The body is in: the model it names (when the client sent none in a
 * header), the characters of a speech request, the audio's length, the
 * stream options.
 */

ngx_int_t
ngx_voicegw_proxy_body_read(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx)
{
    ngx_str_t                      *t;
    ngx_voicegw_request_info_t     *ri;
    ngx_voicegw_multipart_info_t   *mi;

    ctx->audio_seconds = -1;

    if (ctx->reqscan) {
        ngx_voicegw_reqscan_end(ctx->reqscan);
        ri = ngx_voicegw_reqscan_info(ctx->reqscan);

        if (ctx->model.len == 0 && ri->model_len) {
            if (ngx_voicegw_proxy_copy(r, &ctx->model, ri->model,
                                       ri->model_len)
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        if (ri->text_fields) {
            ctx->characters = (double) ri->chars;
        }

        if (ctx->modality == NGX_VOICEGW_MODALITY_LLM && ri->stream == 1) {

            if (ri->include_usage == 0) {
                ctx->usage_declined = 1;

            } else if (ri->include_usage == -1) {

                for (t = ngx_voicegw_proxy_ask_types; t->len; t++) {
                    if (ngx_strcmp(t->data, ctx->provider.type->name) == 0) {
                        return ngx_voicegw_proxy_ask_usage(r, ctx);
                    }
                }
            }
        }

    } else if (ctx->multipart) {
        ngx_voicegw_multipart_end(ctx->multipart);
        mi = ngx_voicegw_multipart_info(ctx->multipart);

        if (ctx->model.len == 0 && mi->model_len) {
            if (ngx_voicegw_proxy_copy(r, &ctx->model, mi->model,
                                       mi->model_len)
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        if (mi->file) {
            ctx->audio_seconds = ngx_voicegw_wav_duration(&mi->wav);
        }

    } else if (ctx->wav) {
        ctx->audio_seconds = ngx_voicegw_wav_duration(ctx->wav);
    }

    return NGX_OK;
}


/*
 * "stream_options":{"include_usage":true} goes in after the body's
 * opening brace; a body that is not all in memory, or that has stream
 * options of its own, is sent as it is.
 */

static ngx_int_t
ngx_voicegw_proxy_ask_usage(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx)
{
    u_char                    *p, *brace;
    size_t                     len;
    ngx_buf_t                 *b;
    ngx_chain_t               *cl;
    ngx_http_request_body_t   *rb;

    static u_char  ask[] = "\"stream_options\":{\"include_usage\":true},";

    rb = r->request_body;

    if (rb == NULL || rb->temp_file || rb->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = rb->bufs; cl; cl = cl->next) {
        if (ngx_buf_special(cl->buf)) {
            continue;
        }

        if (!ngx_buf_in_memory(cl->buf) || cl->buf->in_file) {
            return NGX_OK;
        }

        len += cl->buf->last - cl->buf->pos;
    }

    b = ngx_create_temp_buf(r->pool, len + sizeof(ask) - 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (cl = rb->bufs; cl; cl = cl->next) {
        if (!ngx_buf_special(cl->buf)) {
            b->last = ngx_cpymem(b->last, cl->buf->pos,
                                 cl->buf->last - cl->buf->pos);
        }
    }

    if (ngx_strlcasestrn(b->pos, b->last, (u_char *) "\"stream_options\"",
                         sizeof("\"stream_options\"") - 2)
        != NULL)
    {
        return NGX_OK;
    }

    for (brace = b->pos; brace < b->last; brace++) {
        if (*brace == '{') {
            break;
        }

        if (*brace != ' ' && *brace != '\t' && *brace != '\r'
            && *brace != '\n')
        {
            return NGX_OK;
        }
    }

    if (brace == b->last) {
        return NGX_OK;
    }

    p = brace + 1;
    ngx_memmove(p + sizeof(ask) - 1, p, b->last - p);
    ngx_memcpy(p, ask, sizeof(ask) - 1);
    b->last += sizeof(ask) - 1;
    b->last_buf = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    rb->bufs = cl;
    r->headers_in.content_length_n = b->last - b->pos;

    ctx->asked_usage = 1;

    return NGX_OK;
}


/* is the request's Content-Type this one (or does it contain "json") */

static ngx_int_t
ngx_voicegw_proxy_content_type(ngx_http_request_t *r, const char *type)
{
    size_t      len;
    ngx_str_t  *ct;

    if (r->headers_in.content_type == NULL) {
        return NGX_DECLINED;
    }

    ct = &r->headers_in.content_type->value;
    len = ngx_strlen(type);

    if (ngx_strlcasestrn(ct->data, ct->data + ct->len, (u_char *) type,
                         len - 1)
        == NULL)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_proxy_copy(ngx_http_request_t *r, ngx_str_t *to, u_char *from,
    size_t len)
{
    to->data = from;
    to->len = len;

    to->data = ngx_pstrdup(r->pool, to);

    return to->data ? NGX_OK : NGX_ERROR;
}
