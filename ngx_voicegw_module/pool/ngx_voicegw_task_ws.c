
/*
 * ngx_voicegw_task_ws.c
 *
 * Owns the WebSocket face of a task on routes with queue_frames=on (the
 * default of the half_duplex and duplex types), as the original MiniCPM-o
 * gateway shows it to its pages (docs/frontend.md):
 *
 *   - the gateway completes the client's handshake itself (101, its own
 *     accept key, no extensions) before it reserves a worker, so that a
 *     queued client hears of its queue: "queued" (position, estimated
 *     wait, ticket, queue length), "queue_update" every queue_update,
 *     then "queue_done" once a worker is granted (only that when one is
 *     free at once);
 *   - while queued, the client's frames are read and kept (queue_buffer
 *     at most: over it, close 1009), a Close frame or a disconnect
 *     abandons the ticket at once;
 *   - refusals are an error frame and a close (queue full 1013,
 *     cancelled 4000, queue timeout 4008, anything else 1011);
 *   - the worker's handshake goes through proxy_pass as before, without
 *     Sec-WebSocket-Extensions; what it answers and the relay that
 *     follows are ngx_voicegw_task_relay.c's.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_http.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_task.h"
#include "ngx_voicegw_task_ws.h"


#define NGX_VOICEGW_TASK_WS_OUT    4096
#define NGX_VOICEGW_TASK_WS_HELD   16384     /* the first held buffer */


static void ngx_voicegw_task_ws_cleanup(void *data);
static ngx_int_t ngx_voicegw_task_ws_text(ngx_voicegw_task_ws_t *ws,
    u_char *text, size_t len);
static ngx_int_t ngx_voicegw_task_ws_close(ngx_voicegw_task_ws_t *ws,
    ngx_uint_t code, const char *reason);
static ngx_int_t ngx_voicegw_task_ws_flush(ngx_voicegw_task_ws_t *ws);
static ngx_int_t ngx_voicegw_task_ws_position(ngx_voicegw_task_ws_t *ws,
    ngx_uint_t first);
static void ngx_voicegw_task_ws_update(ngx_event_t *ev);
static void ngx_voicegw_task_ws_read(ngx_http_request_t *r);
static void ngx_voicegw_task_ws_write(ngx_http_request_t *r);
static ngx_int_t ngx_voicegw_task_ws_hold(ngx_voicegw_task_ws_t *ws,
    size_t n);


/* how a refusal's code closes the connection (docs/frontend.md) */

typedef struct {
    const char                  *code;
    ngx_uint_t                   close;
    const char                  *reason;
    const char                  *message;     /* NULL: the refusal's own */
} ngx_voicegw_task_ws_close_t;


static ngx_voicegw_task_ws_close_t  ngx_voicegw_task_ws_closes[] = {
    /* the original's words, which its pages show */
    { "queue_full", NGX_VOICEGW_WS_TRY_LATER, "Queue full", "Queue full" },
    { "cancelled", NGX_VOICEGW_WS_CANCELLED, "Cancelled", "Cancelled" },
    { "queue_timeout", NGX_VOICEGW_WS_QUEUE_TIMEOUT, "Queue timeout", NULL },
    { NULL, 0, NULL, NULL }
};


/*
 * NGX_OK: the handshake is the gateway's and its 101 is on its way;
 * NGX_DECLINED: not a WebSocket handshake of a queue_frames route (it
 * goes to the worker as it is); NGX_ERROR.
 */

ngx_int_t
ngx_voicegw_task_ws_handshake(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx)
{
    u_char                  accept[NGX_VOICEGW_WS_ACCEPT_LEN], *p;
    size_t                  n;
    ngx_table_elt_t        *key, *version, *ext;
    ngx_pool_cleanup_t     *cln;
    ngx_voicegw_task_ws_t  *ws;

    if (!ctx->tcf->queue_frames
        || r->method != NGX_HTTP_GET
        || r->http_version != NGX_HTTP_VERSION_11
        || r->headers_in.upgrade == NULL
        || r->headers_in.upgrade->value.len != sizeof("websocket") - 1
        || ngx_strncasecmp(r->headers_in.upgrade->value.data,
                           (u_char *) "websocket", sizeof("websocket") - 1)
           != 0)
    {
        return NGX_DECLINED;
    }

    key = ngx_voicegw_http_header(&r->headers_in.headers,
                                  "Sec-WebSocket-Key");
    version = ngx_voicegw_http_header(&r->headers_in.headers,
                                      "Sec-WebSocket-Version");

    if (key == NULL || version == NULL
        || version->value.len != 2
        || ngx_strncmp(version->value.data, "13", 2) != 0
        || ngx_voicegw_ws_accept_key(&key->value, accept) != NGX_OK)
    {
        /* the worker answers a bad handshake as it does today */
        return NGX_DECLINED;
    }

    /*
     * no extension reaches the worker (its frames must stay readable and
     * the client agreed to none): the header is renamed to one that
     * proxy_pass never sends on (Keep-Alive, always set by the proxy)
     */

    ext = ngx_voicegw_http_header(&r->headers_in.headers,
                                  "Sec-WebSocket-Extensions");
    if (ext != NULL) {
        ngx_str_set(&ext->key, "Keep-Alive");
        ext->lowcase_key = (u_char *) "keep-alive";
        ext->hash = ngx_hash_key_lc(ext->key.data, ext->key.len);
    }

    ws = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_task_ws_t));
    if (ws == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_voicegw_task_ws_cleanup;
    cln->data = ws;

    ws->request = r;
    ws->ctx = ctx;
    ngx_voicegw_ws_next(&ws->parse);

    ws->update.handler = ngx_voicegw_task_ws_update;
    ws->update.data = ws;
    ws->update.log = r->connection->log;

    ws->out.start = ngx_palloc(r->pool, NGX_VOICEGW_TASK_WS_OUT);
    if (ws->out.start == NULL) {
        return NGX_ERROR;
    }

    ws->out.end = ws->out.start + NGX_VOICEGW_TASK_WS_OUT;
    ws->out.pos = ws->out.start;

    p = ngx_cpymem(ws->out.start,
                   "HTTP/1.1 101 Switching Protocols" CRLF
                   "Upgrade: websocket" CRLF
                   "Connection: Upgrade" CRLF
                   "Sec-WebSocket-Accept: ",
                   sizeof("HTTP/1.1 101 Switching Protocols" CRLF
                          "Upgrade: websocket" CRLF
                          "Connection: Upgrade" CRLF
                          "Sec-WebSocket-Accept: ") - 1);
    p = ngx_cpymem(p, accept, NGX_VOICEGW_WS_ACCEPT_LEN);
    p = ngx_cpymem(p, CRLF, 2);
    ws->out.last = p;

    /* frames that came with the handshake are the client's first */

    n = r->header_in->last - r->header_in->pos;

    if (n) {
        if (ngx_voicegw_task_ws_hold(ws, n) != NGX_OK) {
            return NGX_ERROR;
        }

        ws->held.last = ngx_cpymem(ws->held.last, r->header_in->pos, n);
        r->header_in->pos = r->header_in->last;
    }

    ctx->ws = ws;

    return NGX_OK;
}


/* the 101, with the ticket once admission gave one */

void
ngx_voicegw_task_ws_respond(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx)
{
    ngx_voicegw_task_ws_t  *ws;

    ws = ctx->ws;

    if (ctx->ticket) {
        ws->out.last = ngx_sprintf(ws->out.last,
                                   "X-VoiceGW-Ticket: tk_%016xL" CRLF,
                                   ctx->ticket);
    }

    ws->out.last = ngx_cpymem(ws->out.last, CRLF, 2);
    ws->accepted = 1;

    r->keepalive = 0;
    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;

    if (ngx_voicegw_task_ws_flush(ws) == NGX_ERROR) {
        r->connection->error = 1;
    }
}


/*
 * The WebSocket state of the (main) request: through the task's context,
 * or, after an internal redirect (error_page) cleared it, through the
 * cleanup the handshake registered.
 */

ngx_voicegw_task_ws_t *
ngx_voicegw_task_ws_get(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t      *cln;
    ngx_voicegw_task_ctx_t  *ctx;

    r = r->main;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_pool_module);

    if (ctx != NULL) {
        return ctx->ws;
    }

    if (!(r->internal || r->filter_finalize)) {
        return NULL;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_voicegw_task_ws_cleanup) {
            return cln->data;
        }
    }

    return NULL;
}


static void
ngx_voicegw_task_ws_cleanup(void *data)
{
    ngx_voicegw_task_ws_t  *ws = data;

    if (ws->update.timer_set) {
        ngx_del_timer(&ws->update);
    }
}


/* parked: the client hears of its place, and is listened to */

void
ngx_voicegw_task_ws_queued(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx)
{
    ngx_voicegw_task_ws_t  *ws;

    ws = ctx->ws;

    r->read_event_handler = ngx_voicegw_task_ws_read;
    r->write_event_handler = ngx_voicegw_task_ws_write;

    (void) ngx_voicegw_task_ws_position(ws, 1);
    (void) ngx_voicegw_task_ws_flush(ws);

    ngx_add_timer(&ws->update, ctx->tcf->queue_update);

    /* what the client sent with its handshake, or since */

    ngx_voicegw_task_ws_read(r);
}


ngx_int_t
ngx_voicegw_task_ws_granted(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx)
{
    static u_char  done[] = "{\"type\":\"queue_done\"}";

    ngx_voicegw_task_ws_stop(ctx);

    if (ngx_voicegw_task_ws_text(ctx->ws, done, sizeof(done) - 1)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return (ngx_voicegw_task_ws_flush(ctx->ws) == NGX_ERROR) ? NGX_ERROR
                                                             : NGX_OK;
}


void
ngx_voicegw_task_ws_stop(ngx_voicegw_task_ctx_t *ctx)
{
    if (ctx->ws && ctx->ws->update.timer_set) {
        ngx_del_timer(&ctx->ws->update);
    }
}


/* a refusal after our 101: an error frame, a close, and the end */

ngx_int_t
ngx_voicegw_task_ws_refuse(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx, const char *code, u_char *message)
{
    ngx_uint_t                    close;
    const char                   *reason;
    ngx_voicegw_task_ws_close_t  *c;

    ngx_voicegw_task_ws_stop(ctx);

    close = NGX_VOICEGW_WS_INTERNAL;
    reason = code;

    for (c = ngx_voicegw_task_ws_closes; c->code; c++) {
        if (ngx_strcmp(code, c->code) == 0) {
            close = c->close;
            reason = c->reason;
            message = c->message ? (u_char *) c->message : message;
            break;
        }
    }

    ngx_voicegw_task_ws_error(ctx->ws, message, close, reason);

    ngx_http_finalize_request(r, NGX_HTTP_CLOSE);

    return NGX_DONE;
}


/* an error frame and a close frame, once */

void
ngx_voicegw_task_ws_error(ngx_voicegw_task_ws_t *ws, u_char *message,
    ngx_uint_t close, const char *reason)
{
    u_char  *p, buf[NGX_VOICEGW_WS_FRAME_MAX / 2];
    size_t   n;

    if (ws->failed || ws->request->connection->error) {
        ws->failed = 1;
        return;
    }

    ws->failed = 1;

    n = ngx_strlen(message);

    if (n + ngx_escape_json(NULL, message, n) + 32 <= sizeof(buf)) {
        p = ngx_cpymem(buf, "{\"type\":\"error\",\"error\":\"",
                       sizeof("{\"type\":\"error\",\"error\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, message, n);
        p = ngx_cpymem(p, "\"}", 2);

        (void) ngx_voicegw_task_ws_text(ws, buf, p - buf);
    }

    (void) ngx_voicegw_task_ws_close(ws, close, reason);
}


/* the gateway's own frames, queued in out; NGX_DECLINED: no room */

static ngx_int_t
ngx_voicegw_task_ws_text(ngx_voicegw_task_ws_t *ws, u_char *text, size_t len)
{
    if ((size_t) (ws->out.end - ws->out.last) < len + 4) {
        return NGX_DECLINED;
    }

    ws->out.last += ngx_voicegw_ws_frame(ws->out.last, NGX_VOICEGW_WS_TEXT,
                                         text, len);

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_task_ws_close(ngx_voicegw_task_ws_t *ws, ngx_uint_t code,
    const char *reason)
{
    if ((size_t) (ws->out.end - ws->out.last) < 130) {
        return NGX_DECLINED;
    }

    ws->out.last += ngx_voicegw_ws_close_frame(ws->out.last, code, reason);

    return ngx_voicegw_task_ws_flush(ws);
}


/* NGX_OK: all written; NGX_AGAIN: the rest when the client can take it */

static ngx_int_t
ngx_voicegw_task_ws_flush(ngx_voicegw_task_ws_t *ws)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = ws->request->connection;

    while (ws->out.pos < ws->out.last) {

        if (c->error) {
            return NGX_ERROR;
        }

        n = c->send(c, ws->out.pos, ws->out.last - ws->out.pos);

        if (n == NGX_ERROR) {
            c->error = 1;
            return NGX_ERROR;
        }

        if (n <= 0) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                return NGX_ERROR;
            }

            return NGX_AGAIN;
        }

        ws->out.pos += n;
    }

    ws->out.pos = ws->out.start;
    ws->out.last = ws->out.start;

    return NGX_OK;
}


/* "queued" (first) or "queue_update": the ticket's place, as the API
   shows it */

static ngx_int_t
ngx_voicegw_task_ws_position(ngx_voicegw_task_ws_t *ws, ngx_uint_t first)
{
    u_char                   buf[NGX_VOICEGW_WS_FRAME_MAX / 2], *p;
    ngx_int_t                rc;
    ngx_pool_t              *pool;
    ngx_uint_t               length;
    ngx_voicegw_snapshot_t   snap;
    ngx_voicegw_task_ctx_t  *ctx;

    ctx = ws->ctx;

    pool = ngx_create_pool(4096, ws->request->connection->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&snap, sizeof(ngx_voicegw_snapshot_t));
    snap.ticket_id = ctx->ticket;

    rc = ngx_voicegw_queue_snapshot(ctx->vp, pool,
                                    NGX_VOICEGW_SNAP_WORKERS
                                    |NGX_VOICEGW_SNAP_QUEUE, &snap);

    if (rc != NGX_OK || !snap.ticket_found
        || snap.ticket.state != NGX_VOICEGW_TICKET_QUEUED)
    {
        ngx_destroy_pool(pool);
        return NGX_DECLINED;
    }

    length = (snap.ticket.pool < snap.npools)
             ? snap.pools[snap.ticket.pool].queued : 0;

    if (first) {
        p = ngx_snprintf(buf, sizeof(buf),
                         "{\"type\":\"queued\",\"position\":%ui,"
                         "\"estimated_wait_s\":%.1f,"
                         "\"ticket_id\":\"tk_%016xL\",\"queue_length\":%ui}",
                         snap.ticket.position, snap.ticket.eta,
                         ctx->ticket, length);

    } else {
        p = ngx_snprintf(buf, sizeof(buf),
                         "{\"type\":\"queue_update\",\"position\":%ui,"
                         "\"estimated_wait_s\":%.1f,\"queue_length\":%ui}",
                         snap.ticket.position, snap.ticket.eta, length);
    }

    ngx_destroy_pool(pool);

    return ngx_voicegw_task_ws_text(ws, buf, p - buf);
}


static void
ngx_voicegw_task_ws_update(ngx_event_t *ev)
{
    ngx_voicegw_task_ws_t  *ws = ev->data;

    ngx_connection_t  *c;

    c = ws->request->connection;

    ngx_http_set_log_request(c->log, ws->request);

    /* a client that does not read its updates is not sent more */

    if (ws->out.pos == ws->out.last
        && ngx_voicegw_task_ws_position(ws, 0) == NGX_OK)
    {
        (void) ngx_voicegw_task_ws_flush(ws);
    }

    ngx_add_timer(&ws->update, ws->ctx->tcf->queue_update);
}


/*
 * Queued: the client's bytes are kept for the worker, its frames
 * followed for a Close; a client that leaves or closes abandons its
 * ticket at once (the task's cleanup), one that sends more than
 * queue_buffer is closed with 1009.
 */

static void
ngx_voicegw_task_ws_read(ngx_http_request_t *r)
{
    u_char                  *p, *last;
    size_t                   size;
    ssize_t                  n;
    ngx_connection_t        *c;
    ngx_voicegw_task_ctx_t  *ctx;
    ngx_voicegw_task_ws_t   *ws;
    ngx_voicegw_ws_parser_t *ps;

    c = r->connection;
    ws = ngx_voicegw_task_ws_get(r);
    ctx = ws->ctx;
    ps = &ws->parse;

    p = ws->held.pos;

    for ( ;; ) {

        /* the frames of what is held, as far as they go */

        last = ws->held.last;

        while (p < last) {
            if (!ps->in_payload) {
                p += ngx_voicegw_ws_header(ps, p, last);

                if (!ps->in_payload) {
                    break;
                }

                if (ps->bad || !ps->masked) {
                    (void) ngx_voicegw_task_ws_close(ws, 1002,
                                                     "Protocol error");
                    ngx_http_finalize_request(r, NGX_HTTP_CLOSE);
                    return;
                }

                if (ps->opcode == NGX_VOICEGW_WS_CLOSE) {
                    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                                  "voicegw: the client closed its "
                                  "WebSocket while queued");
                    (void) ngx_voicegw_task_ws_close(ws,
                                                     NGX_VOICEGW_WS_NORMAL,
                                                     "");
                    ngx_http_finalize_request(r,
                                              NGX_HTTP_CLIENT_CLOSED_REQUEST);
                    return;
                }
            }

            size = (size_t) ngx_min(ps->left, (uint64_t) (last - p));
            p += size;
            ps->left -= size;

            if (ps->left == 0) {
                ngx_voicegw_ws_next(ps);
            }
        }

        ws->held.pos = p;

        if (!c->read->ready) {
            break;
        }

        if (ngx_voicegw_task_ws_hold(ws, 4096) != NGX_OK) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "voicegw: the client sent more than queue_buffer "
                          "while queued");
            ngx_voicegw_task_ws_stop(ctx);
            (void) ngx_voicegw_task_ws_close(ws, NGX_VOICEGW_WS_TOO_BIG,
                                             "Too much data while queued");
            ngx_http_finalize_request(r, NGX_HTTP_CLOSE);
            return;
        }

        p = ws->held.pos;

        n = c->recv(c, ws->held.last, ws->held.end - ws->held.last);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            c->error = 1;
            ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
            return;
        }

        ws->held.last += n;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


static void
ngx_voicegw_task_ws_write(ngx_http_request_t *r)
{
    if (ngx_voicegw_task_ws_flush(ngx_voicegw_task_ws_get(r)) == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
    }
}


/*
 * Room for n more held bytes: the buffer doubles, up to queue_buffer.
 * held.pos is where the frame scan is; the bytes are kept from
 * held.start.
 */

static ngx_int_t
ngx_voicegw_task_ws_hold(ngx_voicegw_task_ws_t *ws, size_t n)
{
    u_char  *p;
    size_t   size, used, max;

    if (ws->held.start && (size_t) (ws->held.end - ws->held.last) >= n) {
        return NGX_OK;
    }

    used = ws->held.last - ws->held.start;
    max = ws->ctx->tcf->queue_buffer;
    size = ws->held.start ? (size_t) (ws->held.end - ws->held.start) * 2
                          : NGX_VOICEGW_TASK_WS_HELD;

    while (size < used + n) {
        size *= 2;
    }

    size = ngx_min(size, max);

    if (size < used + n || size <= (size_t) (ws->held.end - ws->held.start))
    {
        return NGX_DECLINED;
    }

    p = ngx_palloc(ws->request->pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (used) {
        ngx_memcpy(p, ws->held.start, used);
        ws->held.pos = p + (ws->held.pos - ws->held.start);
        ngx_pfree(ws->request->pool, ws->held.start);

    } else {
        ws->held.pos = p;
    }

    ws->held.start = p;
    ws->held.last = p + used;
    ws->held.end = p + size;

    return NGX_OK;
}
