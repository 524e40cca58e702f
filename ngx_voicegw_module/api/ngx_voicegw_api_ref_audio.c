
/*
 * ngx_voicegw_api_ref_audio.c
 *
 * Handlers of GET /api/default_ref_audio and GET /api/assets/ref_audio:
 * the reference audio of "voicegw_ref_audio" (frontend/), whose answer
 * was built while nginx read its configuration.  A request only points a
 * buffer at it: no file, no copy, nothing computed.
 *
 * The list has the fields of the original gateway's registry of uploaded
 * voices, so that its admin page shows the configured one; uploads and
 * deletions are not served (the original pages work without them).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_ref_audio.h"


static ngx_int_t ngx_voicegw_api_default_ref_audio(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_ref_audios(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);


ngx_voicegw_api_route_t  ngx_voicegw_api_ref_audio_routes[] = {

    { NGX_HTTP_GET, ngx_string("/api/default_ref_audio"),
      ngx_voicegw_api_default_ref_audio, 0 },

    { NGX_HTTP_GET, ngx_string("/api/assets/ref_audio"),
      ngx_voicegw_api_ref_audios, 0 },

    { 0, ngx_null_string, NULL, 0 }
};


/* {"name","duration","sample_rate":16000,"samples","base64"} */

static ngx_int_t
ngx_voicegw_api_default_ref_audio(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_buf_t                *b;
    ngx_chain_t              *out;
    ngx_voicegw_ref_audio_t  *ra;

    static ngx_str_t  type = ngx_string("application/json");

    ra = ctx->vmcf->ref_audio;

    if (ra == NULL) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "No default ref audio configured");
    }

    b = ngx_calloc_buf(r->pool);
    out = ngx_alloc_chain_link(r->pool);

    if (b == NULL || out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = ra->answer.data;
    b->last = ra->answer.data + ra->answer.len;
    b->memory = 1;

    out->buf = b;
    out->next = NULL;

    return ngx_voicegw_reply_chain(r, NGX_HTTP_OK, out, ra->answer.len,
                                   &type);
}


/*
 * {"total":N,"ref_audios":[{"id","name","filename","source_type",
 * "duration","duration_ms","sample_rate","samples","created_at"}]}
 */

static ngx_int_t
ngx_voicegw_api_ref_audios(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_json_t       *j;
    ngx_voicegw_ref_audio_t  *ra;

    ra = ctx->vmcf->ref_audio;

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "total");
    ngx_voicegw_json_int(j, ra ? 1 : 0);
    ngx_voicegw_json_key(j, "ref_audios");
    ngx_voicegw_json_array_open(j);

    if (ra != NULL) {
        ngx_voicegw_json_map_open(j);
        ngx_voicegw_json_key(j, "id");
        ngx_voicegw_json_cstr(j, "default");
        ngx_voicegw_json_key(j, "name");
        ngx_voicegw_json_str(j, &ra->name);
        ngx_voicegw_json_key(j, "filename");
        ngx_voicegw_json_str(j, &ra->name);
        ngx_voicegw_json_key(j, "source_type");
        ngx_voicegw_json_cstr(j, "config");
        ngx_voicegw_json_key(j, "duration");
        ngx_voicegw_json_fixed(j, ra->duration, 3);
        ngx_voicegw_json_key(j, "duration_ms");
        ngx_voicegw_json_int(j, (int64_t) (ra->duration * 1000 + 0.5));
        ngx_voicegw_json_key(j, "sample_rate");
        ngx_voicegw_json_int(j, NGX_VOICEGW_REF_AUDIO_RATE);
        ngx_voicegw_json_key(j, "samples");
        ngx_voicegw_json_int(j, ra->samples);
        ngx_voicegw_json_key(j, "created_at");
        ngx_voicegw_json_time(j, (uint64_t) ra->mtime * 1000);
        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_array_close(j);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}
