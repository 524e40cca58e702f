
/*
 * ngx_voicegw_api_session_download.c
 *
 * Owns GET /api/sessions/{id}/download: the session's folder as a ZIP
 * archive (sessions/ngx_voicegw_session_zip.c), streamed while it is
 * built, "application/zip", an attachment named "{id}.zip", chunked (its
 * length is known only at its end).
 *
 *   - Never on the event loop: the listing and the filling of every
 *     buffer run on the sessions' thread pool, one task at a time, the
 *     request "blocked" meanwhile, so that it cannot be freed under the
 *     thread.
 *
 *   - Flow control: at most NGX_VOICEGW_ZIP_BUFS buffers of
 *     NGX_VOICEGW_ZIP_CHUNK bytes exist per download.  A buffer is filled
 *     again only once nginx has sent all of it (ngx_chain_update_chains()
 *     gives it back); while the client does not read, nothing is read from
 *     the disk, and the write event (send_timeout) wakes the download up.
 *     So a download holds about 1 MiB, whatever the session's size.
 *
 *   - Large files' data by sendfile: where sendfile is on (c->sendfile),
 *     the filling stops at the data of a file of NGX_VOICEGW_ZIP_CHUNK
 *     bytes or more; its bytes go out as a file buffer (the fd the thread
 *     opened), NGX_VOICEGW_ZIP_SLICE bytes at a time, a slice passed only
 *     once the previous one is sent, while tasks compute the CRC-32 of
 *     the same range (NGX_VOICEGW_ZIP_CRC bytes each, read again from the
 *     page cache).  The descriptor is filled once both are done; a CRC
 *     task that finds the file shorter, or nginx's sendfile finding it
 *     truncated, ends the transfer: an incomplete archive, never one
 *     whose descriptor lies.
 *
 *   - A client that goes away: the write fails, the request is
 *     terminated; a thread still filling a buffer holds it until it
 *     returns (nginx's finalizer then closes it); the archive's files
 *     and memory go with the request's pool.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_sessions.h"
#include "ngx_voicegw_session_zip.h"


#define NGX_VOICEGW_ZIP_BUFS   4
#define NGX_VOICEGW_ZIP_CHUNK  (256 * 1024)
#define NGX_VOICEGW_ZIP_SLICE  (4 * 1024 * 1024)    /* by sendfile */
#define NGX_VOICEGW_ZIP_CRC    (16 * 1024 * 1024)   /* per CRC task */


typedef struct {
    ngx_http_request_t          *request;
    ngx_voicegw_session_io_t    *io;
    ngx_voicegw_session_zip_t   *zip;

    ngx_chain_t                 *free;        /* buffers sent, to refill */
    ngx_chain_t                 *busy;        /* passed to the filters */
    ngx_chain_t                 *out;         /* filled, not passed yet */
    ngx_chain_t                 *filling;     /* the thread's */
    ngx_uint_t                   nbufs;

    ngx_buf_t                   *file_buf;    /* a slice of a file's data */
    ngx_file_t                   file;
    off_t                        file_size;
    off_t                        file_sent;   /* passed to the filters */
    off_t                        file_crc;    /* CRC'd */
    off_t                        crc_len;     /* the CRC task's */

    unsigned                     reading:1;   /* a thread task runs */
    unsigned                     in_file:1;   /* at a file's data */
    unsigned                     eof:1;       /* the last buffer is filled */
    unsigned                     last:1;      /* ... and passed on */
    unsigned                     failed:1;
} ngx_voicegw_api_zip_t;


static ngx_int_t ngx_voicegw_api_session_download(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static void ngx_voicegw_api_zip_list(ngx_voicegw_session_io_t *io);
static void ngx_voicegw_api_zip_woken(ngx_voicegw_session_io_t *io);
static ngx_int_t ngx_voicegw_api_zip_listed(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_zip_header(ngx_http_request_t *r,
    ngx_str_t *id);
static void ngx_voicegw_api_zip_write(ngx_http_request_t *r);
static ngx_int_t ngx_voicegw_api_zip_step(ngx_voicegw_api_zip_t *dl);
static ngx_int_t ngx_voicegw_api_zip_read(ngx_voicegw_api_zip_t *dl);
static void ngx_voicegw_api_zip_fill(ngx_voicegw_session_io_t *io);
static void ngx_voicegw_api_zip_filled(ngx_voicegw_session_io_t *io);
static ngx_int_t ngx_voicegw_api_zip_slice(ngx_voicegw_api_zip_t *dl);
static ngx_int_t ngx_voicegw_api_zip_post_crc(ngx_voicegw_api_zip_t *dl);
static void ngx_voicegw_api_zip_crc(ngx_voicegw_session_io_t *io);
static void ngx_voicegw_api_zip_crcd(ngx_voicegw_session_io_t *io);
static ngx_int_t ngx_voicegw_api_zip_post(ngx_voicegw_api_zip_t *dl);


ngx_voicegw_api_route_t  ngx_voicegw_api_session_download_routes[] = {

    { NGX_HTTP_GET, ngx_string("/api/sessions/{}/download"),
      ngx_voicegw_api_session_download, 0 },

    { 0, ngx_null_string, NULL, 0 }
};


static ngx_int_t
ngx_voicegw_api_session_download(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                  rc;
    ngx_voicegw_api_zip_t     *dl;
    ngx_voicegw_sessions_t    *sessions;
    ngx_voicegw_session_io_t  *io;

    if (ngx_voicegw_api_session_id(r, ctx, &sessions, &rc) != NGX_OK) {
        return rc;
    }

    io = ngx_voicegw_session_io_alloc(r->pool, sessions,
                                      sizeof(ngx_voicegw_api_zip_t));
    if (io == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dl = io->data;
    ngx_memzero(dl, sizeof(ngx_voicegw_api_zip_t));

    dl->request = r;
    dl->io = io;
    dl->zip = ngx_voicegw_session_zip_create(r->pool, sessions,
                                             &ctx->params[0]);
    if (dl->zip == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    io->id = ctx->params[0];
    io->run = ngx_voicegw_api_zip_list;
    io->done = ngx_voicegw_api_zip_woken;
    ctx->data = dl;

    if (ngx_voicegw_session_io_post(io) != NGX_OK) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "busy", "the sessions' threads "
                                       "cannot take more work now");
    }

    return ngx_voicegw_api_suspend(r, ctx, ngx_voicegw_api_zip_listed);
}


/* in a thread */

static void
ngx_voicegw_api_zip_list(ngx_voicegw_session_io_t *io)
{
    ngx_voicegw_api_zip_t  *dl = io->data;

    io->rc = ngx_voicegw_session_zip_list(dl->zip);
}


static void
ngx_voicegw_api_zip_woken(ngx_voicegw_session_io_t *io)
{
    ngx_voicegw_api_zip_t  *dl = io->data;

    ngx_voicegw_api_wake(dl->request);
}


static ngx_int_t
ngx_voicegw_api_zip_listed(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t               rc;
    ngx_err_t               err;
    const char             *what;
    ngx_voicegw_api_zip_t  *dl = ctx->data;

    if (dl->io->rc != NGX_OK) {
        what = ngx_voicegw_session_zip_error(dl->zip, &err);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, err,
                      "voicegw_sessions: the listing of session \"%V\" "
                      "failed: %s", &ctx->params[0], what);

        return ngx_voicegw_reply_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "read_failed",
                                       "the session's files could not be "
                                       "listed");
    }

    if (!ngx_voicegw_session_zip_found(dl->zip)) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "Session not found: %V",
                                       &ctx->params[0]);
    }

    rc = ngx_voicegw_api_zip_header(r, &ctx->params[0]);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    if (r->connection->sendfile) {
        ngx_voicegw_session_zip_sendfile(dl->zip, NGX_VOICEGW_ZIP_CHUNK);
    }

    rc = ngx_voicegw_api_zip_step(dl);

    if (rc == NGX_DONE) {
        /* the download finalizes the request itself */

        r->main->count++;
        r->write_event_handler = ngx_voicegw_api_zip_write;
    }

    return rc;
}


static ngx_int_t
ngx_voicegw_api_zip_header(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Content-Disposition");

    h->value.len = sizeof("attachment; filename=\".zip\"") - 1 + id->len;
    h->value.data = ngx_pnalloc(r->pool, h->value.len);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(h->value.data, "attachment; filename=\"%V.zip\"", id);

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type, "application/zip");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);

    return ngx_http_send_header(r);
}


/* the write event, and the end of every thread's filling */

static void
ngx_voicegw_api_zip_write(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_event_t            *wev;
    ngx_voicegw_api_ctx_t  *ctx;

    wev = r->connection->write;
    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);

    if (wev->timedout) {
        if (!wev->delayed) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                          "client timed out");
            r->connection->timedout = 1;
            ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
            return;
        }

        wev->timedout = 0;              /* limit_rate's pause is over */
        wev->delayed = 0;
    }

    rc = ngx_voicegw_api_zip_step(ctx->data);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * Pass on what is filled, refill a free buffer, wait for the client:
 * NGX_DONE while the download goes on, else the rc to finalize with.
 */

static ngx_int_t
ngx_voicegw_api_zip_step(ngx_voicegw_api_zip_t *dl)
{
    ngx_int_t                  rc;
    ngx_chain_t               *out;
    ngx_event_t               *wev;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;

    r = dl->request;
    c = r->connection;
    wev = c->write;

    if (dl->failed) {
        return NGX_ERROR;
    }

    for ( ;; ) {

        if (dl->out || r->buffered || c->buffered || r->postponed) {
            out = dl->out;
            dl->out = NULL;

            if (dl->eof && out) {
                dl->last = 1;
            }

            rc = ngx_http_output_filter(r, out);

            ngx_chain_update_chains(r->pool, &dl->free, &dl->busy, &out,
                                    (ngx_buf_tag_t) &ngx_voicegw_api_zip_step);

            if (rc == NGX_ERROR || dl->last) {
                /* nginx's writer sends what is left of the last buffer */
                return rc;
            }
        }

        /* a file's next slice, once all before it is sent */

        if (!dl->in_file || dl->file_sent == dl->file_size
            || r->buffered || c->buffered)
        {
            break;
        }

        if (ngx_voicegw_api_zip_slice(dl) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (dl->in_file && dl->file_sent == dl->file_size
        && dl->file_crc == dl->file_size && !dl->reading
        && !r->buffered && !c->buffered)
    {
        dl->in_file = 0;                /* sent and CRC'd: the descriptor */
    }

    if (!dl->reading) {
        if (dl->in_file) {
            if (dl->file_crc < dl->file_size
                && ngx_voicegw_api_zip_post_crc(dl) != NGX_OK)
            {
                return NGX_ERROR;
            }

        } else if (!dl->eof && ngx_voicegw_api_zip_read(dl) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (r->buffered || c->buffered) {
        if (!wev->delayed) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

    } else if (wev->timer_set && !wev->delayed) {
        ngx_del_timer(wev);
    }

    if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


/* a free buffer, if there is one, to a thread to fill */

static ngx_int_t
ngx_voicegw_api_zip_read(ngx_voicegw_api_zip_t *dl)
{
    ngx_buf_t           *b;
    ngx_chain_t         *cl;
    ngx_http_request_t  *r;

    r = dl->request;

    if (dl->free) {
        cl = dl->free;
        dl->free = cl->next;

    } else if (dl->nbufs < NGX_VOICEGW_ZIP_BUFS) {
        cl = ngx_alloc_chain_link(r->pool);
        b = ngx_create_temp_buf(r->pool, NGX_VOICEGW_ZIP_CHUNK);

        if (cl == NULL || b == NULL) {
            return NGX_ERROR;
        }

        b->tag = (ngx_buf_tag_t) &ngx_voicegw_api_zip_step;
        cl->buf = b;
        dl->nbufs++;

    } else {
        return NGX_OK;          /* all in the client's hands: wait */
    }

    cl->next = NULL;
    dl->filling = cl;

    dl->io->run = ngx_voicegw_api_zip_fill;
    dl->io->done = ngx_voicegw_api_zip_filled;

    return ngx_voicegw_api_zip_post(dl);
}


/* the task set in dl->io, to the sessions' threads */

static ngx_int_t
ngx_voicegw_api_zip_post(ngx_voicegw_api_zip_t *dl)
{
    ngx_http_request_t  *r;

    r = dl->request;

    if (ngx_voicegw_session_io_post(dl->io) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "voicegw_sessions: the download of \"%V\" stopped: "
                      "the sessions' threads cannot take more work",
                      &dl->io->id);
        return NGX_ERROR;
    }

    dl->reading = 1;
    r->main->blocked++;

    return NGX_OK;
}


/* in a thread */

static void
ngx_voicegw_api_zip_fill(ngx_voicegw_session_io_t *io)
{
    ngx_buf_t              *b;
    ngx_voicegw_api_zip_t  *dl = io->data;

    b = dl->filling->buf;

    io->rc = ngx_voicegw_session_zip_fill(dl->zip, b->start,
                                          b->end - b->start);
}


static void
ngx_voicegw_api_zip_filled(ngx_voicegw_session_io_t *io)
{
    ngx_err_t               err;
    ngx_buf_t              *b;
    const char             *what;
    ngx_chain_t           **ll;
    ngx_voicegw_api_zip_t  *dl = io->data;

    dl->reading = 0;
    b = dl->filling->buf;

    if (io->rc <= 0) {
        what = ngx_voicegw_session_zip_error(dl->zip, &err);

        ngx_log_error(NGX_LOG_ERR, dl->request->connection->log, err,
                      "voicegw_sessions: the download of \"%V\" stopped "
                      "after %O bytes: %s", &io->id,
                      ngx_voicegw_session_zip_bytes(dl->zip),
                      what ? what : "no data");
        dl->failed = 1;

    } else {
        b->pos = b->start;
        b->last = b->start + io->rc;
        b->flush = 1;

        if (ngx_voicegw_session_zip_done(dl->zip)) {
            b->last_buf = 1;
            dl->eof = 1;

            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, dl->request->connection->log,
                           0, "voicegw zip: %ui entries, %O bytes",
                           ngx_voicegw_session_zip_entries(dl->zip),
                           ngx_voicegw_session_zip_bytes(dl->zip));
        }

        for (ll = &dl->out; *ll; ll = &(*ll)->next) { /* void */ }

        *ll = dl->filling;

        /* stopped at a file's data: sent from the file */

        if (ngx_voicegw_session_zip_file(dl->zip, &dl->file.fd,
                                         &dl->file_size, &dl->file.name)
            == NGX_OK)
        {
            dl->in_file = 1;
            dl->file_sent = 0;
            dl->file_crc = 0;
            dl->file.log = dl->request->connection->log;
        }
    }

    dl->filling = NULL;

    /* our write handler, or nginx's finalizer if the client went away */

    ngx_voicegw_api_wake(dl->request);
}


/* the next slice of the file's data, after what is filled before it */

static ngx_int_t
ngx_voicegw_api_zip_slice(ngx_voicegw_api_zip_t *dl)
{
    ngx_buf_t           *b;
    ngx_chain_t         *cl;
    ngx_http_request_t  *r;

    r = dl->request;

    if (dl->file_buf == NULL) {
        dl->file_buf = ngx_calloc_buf(r->pool);
        if (dl->file_buf == NULL) {
            return NGX_ERROR;
        }
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    /* the previous slice is sent (nothing buffered): the buffer is ours */

    b = dl->file_buf;
    ngx_memzero(b, sizeof(ngx_buf_t));

    b->in_file = 1;
    b->file = &dl->file;
    b->file_pos = dl->file_sent;
    b->file_last = dl->file_sent
                   + ngx_min(dl->file_size - dl->file_sent,
                             (off_t) NGX_VOICEGW_ZIP_SLICE);
    b->flush = 1;
    b->tag = (ngx_buf_tag_t) &ngx_voicegw_api_zip_slice;

    dl->file_sent = b->file_last;

    cl->buf = b;
    cl->next = NULL;
    dl->out = cl;

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_api_zip_post_crc(ngx_voicegw_api_zip_t *dl)
{
    dl->crc_len = ngx_min(dl->file_size - dl->file_crc,
                          (off_t) NGX_VOICEGW_ZIP_CRC);

    dl->io->run = ngx_voicegw_api_zip_crc;
    dl->io->done = ngx_voicegw_api_zip_crcd;

    return ngx_voicegw_api_zip_post(dl);
}


/* in a thread */

static void
ngx_voicegw_api_zip_crc(ngx_voicegw_session_io_t *io)
{
    ngx_voicegw_api_zip_t  *dl = io->data;

    io->rc = ngx_voicegw_session_zip_crc(dl->zip, dl->crc_len);
}


static void
ngx_voicegw_api_zip_crcd(ngx_voicegw_session_io_t *io)
{
    ngx_err_t               err;
    const char             *what;
    ngx_voicegw_api_zip_t  *dl = io->data;

    dl->reading = 0;

    if (io->rc != NGX_OK) {
        what = ngx_voicegw_session_zip_error(dl->zip, &err);

        ngx_log_error(NGX_LOG_ERR, dl->request->connection->log, err,
                      "voicegw_sessions: the download of \"%V\" stopped "
                      "in \"%V\": %s", &io->id, &dl->file.name, what);
        dl->failed = 1;

    } else {
        dl->file_crc += dl->crc_len;
    }

    ngx_voicegw_api_wake(dl->request);
}
