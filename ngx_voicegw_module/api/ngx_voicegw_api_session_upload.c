
/*
 * ngx_voicegw_api_session_upload.c
 *
 * Owns POST /api/sessions/{id}/upload-recording: a front end's recording
 * sent as multipart/form-data, field "file", kept as frontend_replay.
 * {webm|mp4|wav} in the session's folder (sessions/session_upload).
 *
 *   - The body is never held.  nginx reads it as it reads any body and
 *     keeps it in its own temporary file (client_body_temp_path), while a
 *     request body filter hands every byte to the streaming multipart
 *     scanner (core/multipart): it learns the "file" part's type, where
 *     its bytes start and how many there are, and stops the body as soon
 *     as the part passes max_upload or its type is not taken.
 *
 *   - What max_upload counts is the "file" part's own bytes: exactly
 *     max_upload is taken.  The rest of the body (delimiters, the parts'
 *     headers, other fields) may add NGX_VOICEGW_UPLOAD_FORM bytes, so a
 *     Content-Length over max_upload + NGX_VOICEGW_UPLOAD_FORM is refused
 *     before anything is read.
 *
 *   - Once the body is in, the part's byte range is copied into the
 *     session's folder on the sessions' thread pool (temporary file,
 *     sync, rename): the event loop never writes a recording.
 *
 * Every answer is JSON, errors of the body's reading included.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_multipart.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_sessions.h"
#include "ngx_voicegw_session_upload.h"


#define NGX_VOICEGW_UPLOAD_FORM  65536


typedef struct {
    ngx_voicegw_sessions_t      *sessions;
    ngx_voicegw_multipart_t     *mp;
    ngx_str_t                    name;        /* frontend_replay.<ext> */
    off_t                        received;    /* body bytes seen */
    ngx_voicegw_session_io_t    *io;
    unsigned                     typed:1;     /* the type was checked */
    unsigned                     complete:1;  /* the body is in */
} ngx_voicegw_api_upload_t;


static ngx_int_t ngx_voicegw_api_upload(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static void ngx_voicegw_api_upload_read(ngx_http_request_t *r);
static void ngx_voicegw_api_upload_mark(ngx_http_request_t *r);
static void ngx_voicegw_api_upload_read_handler(ngx_http_request_t *r);
static ngx_int_t ngx_voicegw_api_upload_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_voicegw_api_upload_check(ngx_http_request_t *r,
    ngx_voicegw_api_upload_t *u);
static ngx_int_t ngx_voicegw_api_upload_store(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static void ngx_voicegw_api_upload_stored(ngx_voicegw_session_io_t *io);
static ngx_int_t ngx_voicegw_api_upload_answer(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_upload_refuse(ngx_http_request_t *r,
    ngx_int_t rc);


ngx_voicegw_api_route_t  ngx_voicegw_api_session_upload_routes[] = {

    { NGX_HTTP_POST, ngx_string("/api/sessions/{}/upload-recording"),
      ngx_voicegw_api_upload, NGX_VOICEGW_API_UPLOAD },

    { 0, ngx_null_string, NULL, 0 }
};


static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;


ngx_int_t
ngx_voicegw_api_upload_init(ngx_conf_t *cf)
{
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_voicegw_api_upload_filter;

    return NGX_OK;
}


/* the route's handler: it reads the body itself (NGX_VOICEGW_API_UPLOAD) */

static ngx_int_t
ngx_voicegw_api_upload(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                  rc;
    ngx_str_t                  boundary, *ct;
    ngx_voicegw_sessions_t    *sessions;
    ngx_voicegw_api_upload_t  *u;

    static ngx_str_t  form = ngx_string("multipart/form-data");

    if (ngx_voicegw_api_session_id(r, ctx, &sessions, &rc) != NGX_OK) {
        return rc;
    }

    ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                    : NULL;

    if (ct == NULL || ct->len < form.len
        || ngx_strncasecmp(ct->data, form.data, form.len) != 0
        || ngx_voicegw_multipart_boundary(ct, &boundary) != NGX_OK)
    {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_body",
                                       "a multipart/form-data body with a "
                                       "\"file\" part is expected");
    }

    if (r->headers_in.content_length_n
        > sessions->max_upload + NGX_VOICEGW_UPLOAD_FORM)
    {
        return ngx_voicegw_api_upload_refuse(r,
                                          NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
    }

    u = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_api_upload_t));
    if (u == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    u->sessions = sessions;
    u->mp = ngx_voicegw_multipart_create(r->pool, &boundary);
    if (u->mp == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = u;

    /* into nginx's temporary file, whatever its size; removed at the end */

    r->request_body_in_file_only = 1;
    r->request_body_in_clean_file = 1;
    r->request_body_file_log_level = 0;

    rc = ngx_http_read_client_request_body(r, ngx_voicegw_api_upload_read);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return ngx_voicegw_api_upload_refuse(r, rc);
    }

    /*
     * As the router does for JSON bodies: while the body still arrives,
     * its errors are answered here, in JSON, and the post handler only
     * marks it complete (nginx touches the request after calling it).
     */

    if (!u->complete
#if (NGX_HTTP_V2)
        && r->stream == NULL
#endif
       )
    {
        r->request_body->post_handler = ngx_voicegw_api_upload_mark;
        r->read_event_handler = ngx_voicegw_api_upload_read_handler;
    }

    return NGX_DONE;
}


static void
ngx_voicegw_api_upload_read(ngx_http_request_t *r)
{
    ngx_voicegw_api_upload_mark(r);

    ngx_voicegw_api_finalize(r, ngx_voicegw_api_upload_store(r,
                             ngx_http_get_module_ctx(r, ngx_voicegw_module)));
}


static void
ngx_voicegw_api_upload_mark(ngx_http_request_t *r)
{
    ngx_voicegw_api_ctx_t     *ctx;
    ngx_voicegw_api_upload_t  *u;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);
    u = ctx->data;

    u->complete = 1;
}


static void
ngx_voicegw_api_upload_read_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_voicegw_api_ctx_t     *ctx;
    ngx_voicegw_api_upload_t  *u;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);
    u = ctx->data;

    rc = ngx_http_read_unbuffered_request_body(r);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ngx_http_finalize_request(r, ngx_voicegw_api_upload_refuse(r, rc));
        return;
    }

    if (u->complete) {
        ngx_voicegw_api_finalize(r, ngx_voicegw_api_upload_store(r, ctx));
    }
}


/* every byte of an upload's body, as it arrives, into the scanner */

static ngx_int_t
ngx_voicegw_api_upload_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                     len;
    ngx_int_t                  rc;
    ngx_chain_t               *cl;
    ngx_voicegw_api_ctx_t     *ctx;
    ngx_voicegw_api_upload_t  *u;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);

    if (ctx == NULL || ctx->route == NULL
        || !(ctx->route->flags & NGX_VOICEGW_API_UPLOAD)
        || ctx->data == NULL)
    {
        return ngx_http_next_request_body_filter(r, in);
    }

    u = ctx->data;

    for (cl = in; cl; cl = cl->next) {

        if (!ngx_buf_in_memory(cl->buf)) {
            continue;
        }

        len = cl->buf->last - cl->buf->pos;
        u->received += len;

        if (len) {
            ngx_voicegw_multipart_feed(u->mp, cl->buf->pos, len);
        }
    }

    if (u->received > u->sessions->max_upload + NGX_VOICEGW_UPLOAD_FORM) {
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    rc = ngx_voicegw_api_upload_check(r, u);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_next_request_body_filter(r, in);
}


/* what the scanner has found so far: NGX_OK or the status to refuse with */

static ngx_int_t
ngx_voicegw_api_upload_check(ngx_http_request_t *r,
    ngx_voicegw_api_upload_t *u)
{
    ngx_str_t                      type;
    ngx_voicegw_multipart_info_t  *mi;

    mi = ngx_voicegw_multipart_info(u->mp);

    if (mi->file_bytes > (uint64_t) u->sessions->max_upload) {
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    if (mi->invalid) {
        return NGX_HTTP_BAD_REQUEST;
    }

    if (mi->file_data && !u->typed) {
        u->typed = 1;

        type.data = mi->file_type;
        type.len = mi->file_type_len;

        if (ngx_voicegw_session_upload_name(&type, &u->name) != NGX_OK) {
            return NGX_HTTP_UNSUPPORTED_MEDIA_TYPE;
        }
    }

    return NGX_OK;
}


/* the body is in: its "file" part to the session's folder, in a thread */

static ngx_int_t
ngx_voicegw_api_upload_store(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                      rc;
    ngx_voicegw_session_io_t      *io;
    ngx_voicegw_multipart_info_t  *mi;
    ngx_voicegw_session_upload_t  *up;
    ngx_voicegw_api_upload_t      *u = ctx->data;

    ngx_voicegw_multipart_end(u->mp);
    mi = ngx_voicegw_multipart_info(u->mp);

    rc = ngx_voicegw_api_upload_check(r, u);
    if (rc != NGX_OK) {
        return ngx_voicegw_api_upload_refuse(r, rc);
    }

    if (!mi->file || !mi->file_data) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "missing_file",
                                       "the form has no \"file\" part");
    }

    if (!mi->complete || r->request_body == NULL
        || r->request_body->temp_file == NULL)
    {
        return ngx_voicegw_api_upload_refuse(r, NGX_HTTP_BAD_REQUEST);
    }

    io = ngx_voicegw_session_upload_io(r->pool, u->sessions, &ctx->params[0],
                                       &u->name);
    if (io == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up = io->data;
    up->body = r->request_body->temp_file->file.fd;
    up->start = mi->file_start;
    up->size = (off_t) mi->file_bytes;
    up->owner = r;

    io->done = ngx_voicegw_api_upload_stored;
    u->io = io;

    return ngx_voicegw_api_session_post(r, ctx, io,
                                        ngx_voicegw_api_upload_answer);
}


static void
ngx_voicegw_api_upload_stored(ngx_voicegw_session_io_t *io)
{
    ngx_voicegw_session_upload_t  *up = io->data;

    ngx_voicegw_api_wake(up->owner);
}


static ngx_int_t
ngx_voicegw_api_upload_answer(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_json_t            *j;
    ngx_voicegw_api_upload_t      *u = ctx->data;
    ngx_voicegw_session_upload_t  *up = u->io->data;

    if (!up->found) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "Session not found: %V",
                                       &ctx->params[0]);
    }

    if (u->io->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, u->io->err,
                      "voicegw_sessions: %s failed storing \"%s\"",
                      u->io->what, up->path);

        return ngx_voicegw_reply_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "write_failed",
                                       "the recording could not be "
                                       "stored");
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "status");
    ngx_voicegw_json_cstr(j, "ok");
    ngx_voicegw_json_key(j, "path");
    ngx_voicegw_json_str(j, &u->name);
    ngx_voicegw_json_key(j, "size_bytes");
    ngx_voicegw_json_int(j, up->size);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


/* a refusal, or an error of the body's reading, in JSON */

static ngx_int_t
ngx_voicegw_api_upload_refuse(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_voicegw_api_ctx_t         *ctx;
    ngx_voicegw_api_upload_t      *u;
    ngx_voicegw_multipart_info_t  *mi;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);
    u = ctx->data;

    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        r->keepalive = 0;
        r->lingering_close = 1;

        return ngx_voicegw_reply_error(r, rc, "too_large",
                                       "File too large (max %O bytes)",
                                       ctx->vmcf->sessions->max_upload);
    }

    if (rc == NGX_HTTP_UNSUPPORTED_MEDIA_TYPE) {
        r->keepalive = 0;
        r->lingering_close = 1;
        mi = ngx_voicegw_multipart_info(u->mp);

        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "unsupported_type",
                                       "Unsupported file type: \"%*s\" "
                                       "(video/webm, video/mp4, audio/wav "
                                       "or audio/webm)",
                                       mi->file_type_len, mi->file_type);
    }

    if (r->connection->error || rc == NGX_HTTP_REQUEST_TIME_OUT
        || rc != NGX_HTTP_BAD_REQUEST)
    {
        return rc;
    }

    r->keepalive = 0;
    r->lingering_close = 1;

    return ngx_voicegw_reply_error(r, rc, "invalid_body",
                                   "the body is not a complete "
                                   "multipart/form-data form");
}
