
/*
 * ngx_voicegw_api_sessions.c
 *
 * Handlers of the session endpoints (sessions/): GET /api/sessions/{id}
 * (meta.json), .../recording (recording.json), .../assets/{path}, the
 * comment (GET and POST .../comment, comment.txt) and the viewer page
 * GET /s/{id}.
 *
 *   - Files are served by nginx's static module: the id and the path are
 *     checked here, then the request is redirected to the internal
 *     location of "voicegw_session_files" (Range, HEAD, ETag, sendfile;
 *     no symbolic link below the folder).  The content type is set here
 *     from the original gateway's map, before the redirect.
 *
 *   - The comment and the viewer's check of the session touch files:
 *     they run on the sessions' thread pool while the request waits.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_sessions.h"


#define NGX_VOICEGW_COMMENT_MAX  2000         /* characters */


typedef struct {
    ngx_http_request_t          *request;
    u_char                      *path;        /* the file */
    u_char                      *folder;      /* the session's folder */
    ngx_str_t                    text;        /* in or out */
    ngx_uint_t                   found;       /* the session exists */
} ngx_voicegw_api_session_file_t;


static ngx_int_t ngx_voicegw_api_session_meta(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_session_recording(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_session_named(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_str_t *name);
static ngx_int_t ngx_voicegw_api_session_asset(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_session_serve(ngx_http_request_t *r,
    ngx_voicegw_sessions_t *sessions, ngx_str_t *id, ngx_str_t *rel);
static ngx_int_t ngx_voicegw_api_comment_get(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_comment_post(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_session_viewer(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_session_io(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, const char *name, ngx_str_t *text,
    ngx_voicegw_session_io_pt run, ngx_voicegw_api_handler_pt resume);
static size_t ngx_voicegw_api_chars(ngx_str_t *s);
static void ngx_voicegw_api_session_io_done(ngx_voicegw_session_io_t *io);
static void ngx_voicegw_api_comment_read(ngx_voicegw_session_io_t *io);
static void ngx_voicegw_api_comment_write(ngx_voicegw_session_io_t *io);
static void ngx_voicegw_api_session_exists(ngx_voicegw_session_io_t *io);
static ngx_int_t ngx_voicegw_api_comment_got(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_comment_saved(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_viewer_page(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);


ngx_voicegw_api_route_t  ngx_voicegw_api_sessions_routes[] = {

    { NGX_HTTP_GET, ngx_string("/api/sessions/{}"),
      ngx_voicegw_api_session_meta, 0 },

    { NGX_HTTP_GET, ngx_string("/api/sessions/{}/recording"),
      ngx_voicegw_api_session_recording, 0 },

    { NGX_HTTP_GET, ngx_string("/api/sessions/{}/assets/{*}"),
      ngx_voicegw_api_session_asset, 0 },

    { NGX_HTTP_GET, ngx_string("/api/sessions/{}/comment"),
      ngx_voicegw_api_comment_get, 0 },

    { NGX_HTTP_POST, ngx_string("/api/sessions/{}/comment"),
      ngx_voicegw_api_comment_post, NGX_VOICEGW_API_BODY },

    { NGX_HTTP_GET, ngx_string("/s/{}"),
      ngx_voicegw_api_session_viewer, 0 },

    { 0, ngx_null_string, NULL, 0 }
};


/* the original gateway's map; JSON as Python's mimetypes; else text */

static ngx_conf_enum_t  ngx_voicegw_session_types[] = {
    { ngx_string("wav"), 0 },
    { ngx_string("jpg"), 1 },
    { ngx_string("jpeg"), 1 },
    { ngx_string("png"), 2 },
    { ngx_string("webm"), 3 },
    { ngx_string("mp4"), 4 },
    { ngx_string("mp3"), 5 },
    { ngx_string("json"), 6 },
    { ngx_string("html"), 7 },
    { ngx_string("txt"), 8 },
    { ngx_null_string, 0 }
};

static ngx_str_t  ngx_voicegw_session_type_names[] = {
    ngx_string("audio/wav"),
    ngx_string("image/jpeg"),
    ngx_string("image/png"),
    ngx_string("video/webm"),
    ngx_string("video/mp4"),
    ngx_string("audio/mpeg"),
    ngx_string("application/json"),
    ngx_string("text/html"),
    ngx_string("text/plain")
};


static ngx_int_t
ngx_voicegw_api_session_meta(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    static ngx_str_t  meta = ngx_string("meta.json");

    return ngx_voicegw_api_session_named(r, ctx, &meta);
}


static ngx_int_t
ngx_voicegw_api_session_recording(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    static ngx_str_t  recording = ngx_string("recording.json");

    return ngx_voicegw_api_session_named(r, ctx, &recording);
}


static ngx_int_t
ngx_voicegw_api_session_named(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_str_t *name)
{
    ngx_int_t                rc;
    ngx_voicegw_sessions_t  *sessions;

    if (ngx_voicegw_api_session_id(r, ctx, &sessions, &rc) != NGX_OK) {
        return rc;
    }

    return ngx_voicegw_api_session_serve(r, sessions, &ctx->params[0], name);
}


/*
 * A relative path that stays below the session's folder
 * (ngx_voicegw_session_rel_valid()) is looked up there only; symbolic
 * links and non-regular files are the static module's refusals.
 */

static ngx_int_t
ngx_voicegw_api_session_asset(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                rc;
    ngx_voicegw_sessions_t  *sessions;

    if (ngx_voicegw_api_session_id(r, ctx, &sessions, &rc) != NGX_OK) {
        return rc;
    }

    if (!ngx_voicegw_session_rel_valid(&ctx->params[1])) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_path", "Invalid asset path");
    }

    return ngx_voicegw_api_session_serve(r, sessions, &ctx->params[0],
                                         &ctx->params[1]);
}


/*
 * The sessions (404 without), and a valid id (400 otherwise): NGX_OK, or
 * NGX_DECLINED with *answer the rc of the error sent.
 */

ngx_int_t
ngx_voicegw_api_session_id(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_sessions_t **sessions, ngx_int_t *answer)
{
    *sessions = ctx->vmcf->sessions;

    if (*sessions == NULL) {
        *answer = ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND,
                                          "no_sessions",
                                          "no voicegw_sessions is "
                                          "configured");
        return NGX_DECLINED;
    }

    if (!ngx_voicegw_session_id_valid(&ctx->params[0])) {
        *answer = ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_session",
                                       "Invalid session_id: session ids "
                                       "are 1 to 128 characters of "
                                       "A-Z a-z 0-9 _ -");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* to the files location, with the content type of the file's extension */

static ngx_int_t
ngx_voicegw_api_session_serve(ngx_http_request_t *r,
    ngx_voicegw_sessions_t *sessions, ngx_str_t *id, ngx_str_t *rel)
{
    u_char      *p, *dot;
    ngx_str_t    uri, ext;
    ngx_uint_t   type;

    if (sessions->files.len == 0) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "no_session_files",
                                       "no voicegw_session_files location "
                                       "is configured");
    }

    uri.len = sessions->files.len + id->len + 1 + rel->len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(uri.data, "%V%V/%V", &sessions->files, id, rel);

    type = 8;
    dot = NULL;

    for (p = rel->data + rel->len; p > rel->data; p--) {
        if (p[-1] == '.') {
            dot = p;
            break;
        }

        if (p[-1] == '/') {
            break;
        }
    }

    if (dot) {
        ext.data = dot;
        ext.len = rel->data + rel->len - dot;

        if (ngx_voicegw_enum_value_caseless(ngx_voicegw_session_types, &ext,
                                            &type)
            != NGX_OK)
        {
            type = 8;
        }
    }

    r->headers_out.content_type = ngx_voicegw_session_type_names[type];
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    (void) ngx_http_internal_redirect(r, &uri, NULL);

    return NGX_DONE;
}


/* -- the comment ------------------------------------------------------------ */

static ngx_int_t
ngx_voicegw_api_comment_get(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    return ngx_voicegw_api_session_io(r, ctx, "comment.txt", NULL,
                                      ngx_voicegw_api_comment_read,
                                      ngx_voicegw_api_comment_got);
}


/* {"comment":"..."}: at most 2000 characters; "" deletes comment.txt */

static ngx_int_t
ngx_voicegw_api_comment_post(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_uint_t                 i;
    ngx_voicegw_json_value_t  *body, *v;

    static ngx_str_t  name = ngx_string("comment");

    body = ctx->body;
    v = NULL;

    for (i = 0; i < body->n; i++) {
        if (body->keys[i].len == name.len
            && ngx_strncmp(body->keys[i].data, name.data, name.len) == 0)
        {
            v = body->items[i];
        }
    }

    if (v == NULL || v->type != NGX_VOICEGW_JSON_STRING) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_field",
                                       "\"comment\" must be a string");
    }

    if (ngx_voicegw_api_chars(&v->str) > NGX_VOICEGW_COMMENT_MAX) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "too_large",
                                       "Comment too long (max %d "
                                       "characters)",
                                       NGX_VOICEGW_COMMENT_MAX);
    }

    return ngx_voicegw_api_session_io(r, ctx, "comment.txt", &v->str,
                                      ngx_voicegw_api_comment_write,
                                      ngx_voicegw_api_comment_saved);
}


/* UTF-8 characters (the body's strings are valid UTF-8) */

static size_t
ngx_voicegw_api_chars(ngx_str_t *s)
{
    u_char  *p, *last;
    size_t   n;

    n = 0;
    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        n += ((*p & 0xc0) != 0x80);
    }

    return n;
}


static ngx_int_t
ngx_voicegw_api_comment_got(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_json_t              *j;
    ngx_voicegw_api_session_file_t  *f = ctx->data;

    if (!f->found) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "Session not found: %V",
                                       &ctx->params[0]);
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "comment");
    ngx_voicegw_json_str(j, &f->text);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


static ngx_int_t
ngx_voicegw_api_comment_saved(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_json_t              *j;
    ngx_voicegw_api_session_file_t  *f = ctx->data;

    if (!f->found) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "Session not found: %V",
                                       &ctx->params[0]);
    }

    if (f->path == NULL) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "write_failed",
                                       "the comment could not be saved");
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "status");
    ngx_voicegw_json_cstr(j, "ok");
    ngx_voicegw_json_key(j, "len");
    ngx_voicegw_json_int(j, ngx_voicegw_api_chars(&f->text));
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


/* -- the viewer page ------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_api_session_viewer(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    if (ctx->vmcf->sessions == NULL || ctx->vmcf->sessions->viewer.len == 0) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "Not Found");
    }

    return ngx_voicegw_api_session_io(r, ctx, "meta.json", NULL,
                                      ngx_voicegw_api_session_exists,
                                      ngx_voicegw_api_viewer_page);
}


static ngx_int_t
ngx_voicegw_api_viewer_page(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_buf_t                       *b;
    ngx_chain_t                     *out;
    ngx_voicegw_api_session_file_t  *f = ctx->data;

    static ngx_str_t  html = ngx_string("text/html; charset=utf-8");

    if (!f->found) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "Session not found: %V",
                                       &ctx->params[0]);
    }

    b = ngx_calloc_buf(r->pool);
    out = ngx_alloc_chain_link(r->pool);

    if (b == NULL || out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = ctx->vmcf->sessions->viewer.data;
    b->last = b->pos + ctx->vmcf->sessions->viewer.len;
    b->memory = 1;

    out->buf = b;
    out->next = NULL;

    return ngx_voicegw_reply_chain(r, NGX_HTTP_OK, out,
                                   ctx->vmcf->sessions->viewer.len, &html);
}


/* -- file work in a thread, the request waiting ------------------------------ */

static ngx_int_t
ngx_voicegw_api_session_io(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    const char *name, ngx_str_t *text, ngx_voicegw_session_io_pt run,
    ngx_voicegw_api_handler_pt resume)
{
    ngx_int_t                        rc;
    ngx_voicegw_sessions_t          *sessions;
    ngx_voicegw_session_io_t        *io;
    ngx_voicegw_api_session_file_t  *f;

    if (ngx_voicegw_api_session_id(r, ctx, &sessions, &rc) != NGX_OK) {
        return rc;
    }

    io = ngx_voicegw_session_io_alloc(r->pool, sessions,
                                  sizeof(ngx_voicegw_api_session_file_t));
    if (io == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    f = io->data;
    ngx_memzero(f, sizeof(ngx_voicegw_api_session_file_t));

    f->request = r;
    f->path = ngx_voicegw_session_file(r->pool, sessions, &ctx->params[0],
                                       name);
    f->folder = ngx_voicegw_session_file(r->pool, sessions, &ctx->params[0],
                                         NULL);
    /* what the thread writes, or room for what it reads: a comment */

    if (text) {
        f->text = *text;

    } else {
        f->text.data = ngx_pnalloc(r->pool, 4 * NGX_VOICEGW_COMMENT_MAX);
    }

    if (f->path == NULL || f->folder == NULL || f->text.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    io->run = run;
    io->done = ngx_voicegw_api_session_io_done;
    ctx->data = f;

    return ngx_voicegw_api_session_post(r, ctx, io, resume);
}


/* io on the sessions' threads, the request waiting; resume() answers */

ngx_int_t
ngx_voicegw_api_session_post(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_session_io_t *io,
    ngx_voicegw_api_handler_pt resume)
{
    if (ngx_voicegw_session_io_post(io) != NGX_OK) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "busy", "the sessions' threads "
                                       "cannot take more work now");
    }

    return ngx_voicegw_api_suspend(r, ctx, resume);
}


static void
ngx_voicegw_api_session_io_done(ngx_voicegw_session_io_t *io)
{
    ngx_voicegw_api_session_file_t  *f = io->data;

    ngx_voicegw_api_wake(f->request);
}


/* in a thread: the session is a folder with meta.json */

static void
ngx_voicegw_api_session_exists(ngx_voicegw_session_io_t *io)
{
    struct stat                      st;
    ngx_voicegw_api_session_file_t  *f = io->data;

    f->found = (lstat((char *) f->folder, &st) == 0 && S_ISDIR(st.st_mode)
                && lstat((char *) f->path, &st) == 0 && S_ISREG(st.st_mode));
}


/* in a thread: comment.txt, "" when there is none */

static void
ngx_voicegw_api_comment_read(ngx_voicegw_session_io_t *io)
{
    ssize_t                          n;
    ngx_fd_t                         fd;
    ngx_voicegw_api_session_file_t  *f = io->data;

    struct stat  st;

    f->found = (lstat((char *) f->folder, &st) == 0 && S_ISDIR(st.st_mode));
    f->text.len = 0;

    if (!f->found) {
        return;
    }

    fd = open((char *) f->path, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC);
    if (fd == -1) {
        return;
    }

    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        n = read(fd, f->text.data, 4 * NGX_VOICEGW_COMMENT_MAX);
        f->text.len = (n > 0) ? (size_t) n : 0;
    }

    close(fd);
}


/* in a thread: comment.txt replaced whole, or removed */

static void
ngx_voicegw_api_comment_write(ngx_voicegw_session_io_t *io)
{
    u_char                           tmp[NGX_MAX_PATH];
    ssize_t                          n;
    ngx_fd_t                         fd;
    ngx_voicegw_api_session_file_t  *f = io->data;

    struct stat  st;

    f->found = (lstat((char *) f->folder, &st) == 0 && S_ISDIR(st.st_mode));

    if (!f->found) {
        return;
    }

    if (f->text.len == 0) {
        if (unlink((char *) f->path) == -1 && ngx_errno != NGX_ENOENT) {
            f->path = NULL;
        }

        return;
    }

    ngx_snprintf(tmp, sizeof(tmp) - 1, "%s.%P.%p.tmp%Z", f->path, ngx_pid,
                 f);

    fd = open((char *) tmp, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC,
              0644);
    if (fd == -1) {
        f->path = NULL;
        return;
    }

    n = write(fd, f->text.data, f->text.len);

    if (close(fd) == -1 || n != (ssize_t) f->text.len
        || rename((char *) tmp, (char *) f->path) == -1)
    {
        unlink((char *) tmp);
        f->path = NULL;
    }
}
