
/*
 * ngx_voicegw_ws_relay.c
 *
 * Owns the frame-aware relay of an upgraded WebSocket connection between
 * a client and a worker, in place of nginx's byte pump once the worker's
 * handshake is done.  Both directions stream through fixed buffers: a
 * frame of any size crosses in pieces as its bytes arrive, never whole.
 *
 *   - client -> worker: frames are parsed as they pass (masked, as the
 *     client sent them, and forwarded so).  With filter on, the first
 *     bytes of each text message are read for its JSON "type": a
 *     client_diagnostic message is dropped, every frame of it; pause and
 *     resume are reported to the owner; the rest passes.  A message whose
 *     type is not within its first NGX_VOICEGW_WS_PEEK bytes passes.
 *   - worker -> client: passed as read, frames counted.
 *   - the relay ends when either side closes (after what the other side
 *     still had to receive is written, if it can be at once), on a
 *     protocol error, or on nginx's timeouts (proxy_read_timeout on the
 *     worker, send_timeout between two writes that moved bytes): the
 *     request is finalized and nginx's upstream cleanup closes the
 *     worker's connection.
 *   - a side that does not read holds the other back: nothing more is
 *     read from a side while the buffer towards the other is full, so
 *     memory stays at the relay's buffers whatever either side sends.
 */


#include "ngx_voicegw_ws.h"


static ngx_int_t ngx_voicegw_ws_relay_buf(ngx_pool_t *pool, ngx_buf_t *b,
    size_t size, ngx_str_t *data);
static ngx_int_t ngx_voicegw_ws_relay_send(ngx_connection_t *c,
    ngx_buf_t *b);
static ngx_int_t ngx_voicegw_ws_relay_recv(ngx_connection_t *c,
    ngx_buf_t *b, size_t limit, ngx_uint_t *eof);
static void ngx_voicegw_ws_relay_queue_close(ngx_voicegw_ws_relay_t *rl);
static ngx_int_t ngx_voicegw_ws_relay_filter(ngx_voicegw_ws_relay_t *rl);
static void ngx_voicegw_ws_relay_decide(ngx_voicegw_ws_relay_t *rl);
static void ngx_voicegw_ws_relay_keep(ngx_voicegw_ws_relay_t *rl, u_char *p,
    size_t n);
static void ngx_voicegw_ws_relay_compact(ngx_buf_t *b);
static void ngx_voicegw_ws_relay_timers(ngx_voicegw_ws_relay_t *rl,
    ngx_uint_t to_client, ngx_uint_t to_worker);
static void ngx_voicegw_ws_relay_end(ngx_voicegw_ws_relay_t *rl,
    ngx_int_t rc);


/* the client messages the relay acts on, by their JSON "type" */

static ngx_str_t  ngx_voicegw_ws_dropped = ngx_string("client_diagnostic");

static ngx_str_t  ngx_voicegw_ws_reported[] = {
    ngx_string("pause"),
    ngx_string("resume"),
    ngx_null_string
};


ngx_voicegw_ws_relay_t *
ngx_voicegw_ws_relay_create(ngx_http_request_t *r, ngx_connection_t *worker,
    ngx_voicegw_ws_relay_conf_t *conf, ngx_str_t *to_worker,
    ngx_str_t *to_client, ngx_str_t *from_worker)
{
    size_t                   size;
    ngx_str_t                none;
    ngx_voicegw_ws_relay_t  *rl;

    rl = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_ws_relay_t));
    if (rl == NULL) {
        return NULL;
    }

    rl->request = r;
    rl->client = r->connection;
    rl->worker = worker;
    rl->conf = *conf;

    ngx_voicegw_ws_next(&rl->c_parse);
    ngx_voicegw_ws_next(&rl->w_parse);

    ngx_str_null(&none);

    /* what waited (the client's frames while queued, the gateway's own
       frames and the worker's first bytes) goes first */

    size = ngx_max(conf->buffer, NGX_VOICEGW_WS_PEEK + 16);

    if (ngx_voicegw_ws_relay_buf(r->pool, &rl->c_in, size + to_worker->len,
                                 to_worker)
           != NGX_OK
        || ngx_voicegw_ws_relay_buf(r->pool, &rl->c_out, size, &none)
           != NGX_OK
        || ngx_voicegw_ws_relay_buf(r->pool, &rl->w_buf,
                                    size + to_client->len + from_worker->len,
                                    to_client)
           != NGX_OK)
    {
        return NULL;
    }

    if (from_worker->len) {
        if (ngx_voicegw_ws_count(&rl->w_parse, from_worker->data,
                                 from_worker->data + from_worker->len,
                                 &rl->from_worker, conf->watch, conf->data)
            != NGX_OK)
        {
            rl->w_eof = 1;
        }

        rl->w_buf.last = ngx_cpymem(rl->w_buf.last, from_worker->data,
                                    from_worker->len);
    }

    return rl;
}


static ngx_int_t
ngx_voicegw_ws_relay_buf(ngx_pool_t *pool, ngx_buf_t *b, size_t size,
    ngx_str_t *data)
{
    b->start = ngx_palloc(pool, size);
    if (b->start == NULL) {
        return NGX_ERROR;
    }

    b->end = b->start + size;
    b->pos = b->start;
    b->last = ngx_cpymem(b->start, data->data, data->len);
    b->temporary = 1;

    return NGX_OK;
}


/*
 * The relay takes over from nginx's byte pump, from inside the flush of
 * the upgrade (the owner has set the request's and the upstream's event
 * handlers to call ngx_voicegw_ws_relay_event()).  nginx's pump runs once
 * right after: with nothing marked ready it moves nothing; the relay's
 * first run, posted, reads both sides.
 */

void
ngx_voicegw_ws_relay_start(ngx_voicegw_ws_relay_t *rl)
{
    rl->client->read->ready = 0;
    rl->worker->read->ready = 0;
    rl->kick = 1;

    ngx_post_event(rl->client->read, &ngx_posted_events);
}


/* an event of either connection, the first one included */

void
ngx_voicegw_ws_relay_event(ngx_voicegw_ws_relay_t *rl)
{
    if (rl->kick) {
        rl->kick = 0;
        rl->client->read->ready = 1;
        rl->worker->read->ready = 1;
        rl->client->write->ready = 1;
    }

    ngx_voicegw_ws_relay_run(rl);
}


/*
 * Every event of either connection comes here: write what waits, read
 * what there is room for, until nothing moves.
 */

void
ngx_voicegw_ws_relay_run(ngx_voicegw_ws_relay_t *rl)
{
    u_char            *from;
    size_t             limit;
    ngx_int_t          rc, progress;
    ngx_uint_t         eof, to_client, to_worker;
    ngx_connection_t  *c, *w;

    c = rl->client;
    w = rl->worker;

    if (rl->done) {
        return;
    }

    if (c->write->timedout || w->write->timedout || w->read->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "voicegw: WebSocket relay timed out");
        ngx_voicegw_ws_relay_end(rl, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    to_client = 0;
    to_worker = 0;

    do {
        progress = 0;

        /* worker -> client */

        if (rl->w_buf.pos < rl->w_buf.last && c->write->ready) {
            rc = ngx_voicegw_ws_relay_send(c, &rl->w_buf);

            if (rc == NGX_ERROR) {
                ngx_voicegw_ws_relay_end(rl, NGX_HTTP_CLIENT_CLOSED_REQUEST);
                return;
            }

            to_client |= (rc == NGX_OK);
            progress |= (rc == NGX_OK);
        }

        if (rl->closing && !rl->close_queued) {
            ngx_voicegw_ws_relay_queue_close(rl);
            progress |= rl->close_queued;
        }

        if (!rl->w_eof && !rl->close_queued
            && rl->w_buf.last < rl->w_buf.end && w->read->ready)
        {
            /* room first: the new bytes, counted below, start at last */

            ngx_voicegw_ws_relay_compact(&rl->w_buf);
            from = rl->w_buf.last;

            /* closing: no further than the end of the frame under way */

            limit = rl->closing ? ngx_voicegw_ws_frame_left(&rl->w_parse)
                                : (size_t) -1;

            rc = ngx_voicegw_ws_relay_recv(w, &rl->w_buf, limit, &eof);

            if (rc == NGX_ERROR) {
                ngx_voicegw_ws_relay_end(rl, NGX_ERROR);
                return;
            }

            if (rc == NGX_OK
                && ngx_voicegw_ws_count(&rl->w_parse, from, rl->w_buf.last,
                                        &rl->from_worker, rl->conf.watch,
                                        rl->conf.data)
                   != NGX_OK)
            {
                ngx_log_error(NGX_LOG_ERR, c->log, 0,
                              "voicegw: the worker sent an invalid "
                              "WebSocket frame");
                w->read->error = 1;
                ngx_voicegw_ws_relay_end(rl, NGX_ERROR);
                return;
            }

            rl->w_eof = eof;
            progress |= (rc == NGX_OK || eof);
        }

        /* client -> worker */

        if (rl->c_out.pos < rl->c_out.last && w->write->ready
            && !rl->closing)
        {
            rc = ngx_voicegw_ws_relay_send(w, &rl->c_out);

            if (rc == NGX_ERROR) {
                ngx_voicegw_ws_relay_end(rl, NGX_ERROR);
                return;
            }

            to_worker |= (rc == NGX_OK);
            progress |= (rc == NGX_OK);
        }

        if (!rl->c_eof && !rl->closing && rl->c_in.last < rl->c_in.end
            && c->read->ready)
        {
            rc = ngx_voicegw_ws_relay_recv(c, &rl->c_in, (size_t) -1, &eof);

            if (rc == NGX_ERROR) {
                ngx_voicegw_ws_relay_end(rl, NGX_HTTP_CLIENT_CLOSED_REQUEST);
                return;
            }

            rl->c_eof = eof;
            progress |= (rc == NGX_OK || eof);
        }

        if (rl->c_in.pos < rl->c_in.last && !rl->closing) {
            rc = ngx_voicegw_ws_relay_filter(rl);

            if (rc == NGX_ERROR) {
                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "voicegw: the client sent an invalid "
                              "WebSocket frame");
                ngx_voicegw_ws_relay_end(rl, NGX_ERROR);
                return;
            }

            progress |= (rc == NGX_OK);
        }

    } while (progress);

    /* the gateway's close is written: the session ends */

    if (rl->close_queued && rl->w_buf.pos == rl->w_buf.last) {
        ngx_voicegw_ws_relay_end(rl, NGX_OK);
        return;
    }

    /* a side that closed: what it still had to get is gone or written */

    if (rl->w_eof && rl->w_buf.pos == rl->w_buf.last) {
        ngx_voicegw_ws_relay_end(rl, NGX_OK);
        return;
    }

    if (rl->c_eof && rl->c_out.pos == rl->c_out.last) {
        ngx_voicegw_ws_relay_end(rl, NGX_HTTP_CLIENT_CLOSED_REQUEST);
        return;
    }

    ngx_voicegw_ws_relay_timers(rl, to_client, to_worker);
}


/* NGX_OK: bytes went; NGX_AGAIN: none could */

static ngx_int_t
ngx_voicegw_ws_relay_send(ngx_connection_t *c, ngx_buf_t *b)
{
    ssize_t  n;

    n = c->send(c, b->pos, b->last - b->pos);

    if (n == NGX_ERROR) {
        c->error = 1;
        return NGX_ERROR;
    }

    if (n <= 0) {
        return NGX_AGAIN;
    }

    b->pos += n;

    if (b->pos == b->last) {
        b->pos = b->start;
        b->last = b->start;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_ws_relay_recv(ngx_connection_t *c, ngx_buf_t *b, size_t limit,
    ngx_uint_t *eof)
{
    ssize_t  n;

    *eof = 0;

    ngx_voicegw_ws_relay_compact(b);

    n = c->recv(c, b->last, ngx_min((size_t) (b->end - b->last), limit));

    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (n == 0) {
        *eof = 1;
        return NGX_DONE;
    }

    if (n == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    b->last += n;

    return NGX_OK;
}


/*
 * Client bytes from c_in to c_out, frame by frame.  NGX_OK: some moved;
 * NGX_AGAIN: waiting for more bytes or for room; NGX_ERROR: not a
 * frame a client may send (unmasked, reserved bits, bad opcode).
 */

static ngx_int_t
ngx_voicegw_ws_relay_filter(ngx_voicegw_ws_relay_t *rl)
{
    size_t                    n, room;
    ngx_int_t                 moved;
    ngx_buf_t                *in, *out;
    ngx_voicegw_ws_parser_t  *p;

    in = &rl->c_in;
    out = &rl->c_out;
    p = &rl->c_parse;
    moved = NGX_AGAIN;

    while (in->pos < in->last) {

        if (!p->in_payload) {
            in->pos += ngx_voicegw_ws_header(p, in->pos, in->last);
            moved = NGX_OK;

            if (!p->in_payload) {
                break;
            }

            if (p->bad || !p->masked) {
                return NGX_ERROR;
            }

            rl->from_client.frames++;
            rl->from_client.bytes += p->need;
            rl->c_decided = 0;
            rl->c_head = 0;
        }

        if (!rl->c_decided) {
            if (p->opcode == NGX_VOICEGW_WS_TEXT && rl->conf.filter
                && (uint64_t) (in->last - in->pos)
                   < ngx_min(p->left, NGX_VOICEGW_WS_PEEK))
            {
                /* the type is not within reach yet */

                if (in->pos > in->start) {
                    /* room for the rest: the caller reads again */
                    ngx_voicegw_ws_relay_compact(in);
                    moved = NGX_OK;
                    break;
                }

                if (in->last < in->end) {
                    break;
                }
            }

            ngx_voicegw_ws_relay_decide(rl);
        }

        if (!rl->c_skip && !rl->c_head) {
            if ((size_t) (out->end - out->last) < p->need) {
                break;
            }

            out->last = ngx_cpymem(out->last, p->hdr, p->need);
            rl->c_head = 1;
        }

        room = rl->c_skip ? (size_t) -1 : (size_t) (out->end - out->last);
        n = (size_t) ngx_min(p->left, (uint64_t) (in->last - in->pos));
        n = ngx_min(n, room);

        if (n == 0 && p->left) {
            break;
        }

        if (rl->conf.watch) {
            rl->conf.watch(rl->conf.data, 1, p, in->pos, n, n == p->left);
        }

        if (!rl->c_skip) {
            out->last = ngx_cpymem(out->last, in->pos, n);

        } else if (rl->conf.on_dropped) {
            ngx_voicegw_ws_relay_keep(rl, in->pos, n);
        }

        in->pos += n;
        p->left -= n;
        p->offset += n;
        rl->from_client.bytes += n;
        moved = NGX_OK;

        if (p->left == 0) {
            if (rl->c_skip && p->fin && rl->conf.on_dropped) {
                /* the dropped message is whole: the owner keeps it */

                if (!rl->d_over && rl->d_buf) {
                    rl->conf.on_dropped(rl->conf.data, rl->d_buf, rl->d_len);
                }

                rl->d_len = 0;
                rl->d_over = 0;
            }

            ngx_voicegw_ws_next(p);
        }
    }

    if (in->pos == in->last) {
        in->pos = in->start;
        in->last = in->start;
    }

    return moved;
}


/* whether the frame now starting passes: its message's type decides */

static void
ngx_voicegw_ws_relay_decide(ngx_voicegw_ws_relay_t *rl)
{
    u_char                    buf[NGX_VOICEGW_WS_PEEK];
    ngx_str_t                 type;
    ngx_buf_t                *in;
    ngx_uint_t                i;
    ngx_voicegw_ws_parser_t  *p;

    in = &rl->c_in;
    p = &rl->c_parse;

    rl->c_decided = 1;

    switch (p->opcode) {

    case NGX_VOICEGW_WS_TEXT:
        rl->c_drop = 0;

        if (!rl->conf.filter
            || ngx_voicegw_ws_type(in->pos,
                                   (size_t) ngx_min(p->left,
                                              (uint64_t) (in->last - in->pos)),
                                   p->mask, &type, buf)
               != NGX_OK)
        {
            break;
        }

        if (type.len == ngx_voicegw_ws_dropped.len
            && ngx_strncmp(type.data, ngx_voicegw_ws_dropped.data, type.len)
               == 0)
        {
            rl->c_drop = 1;
            rl->dropped++;
            break;
        }

        if (rl->conf.on_type) {
            for (i = 0; ngx_voicegw_ws_reported[i].len; i++) {
                if (type.len == ngx_voicegw_ws_reported[i].len
                    && ngx_strncmp(type.data, ngx_voicegw_ws_reported[i].data,
                                   type.len)
                       == 0)
                {
                    rl->conf.on_type(rl->conf.data, &type);
                    break;
                }
            }
        }

        break;

    case NGX_VOICEGW_WS_BINARY:
        rl->c_drop = 0;
        break;

    default:
        break;
    }

    /* control frames pass, also in the middle of a dropped message */

    rl->c_skip = (p->opcode < NGX_VOICEGW_WS_CLOSE) ? rl->c_drop : 0;
}


/*
 * The gateway ends the session: a Close frame (code, reason) goes to the
 * client once the frame the worker is sending is whole (or, if none of it
 * was written yet, in its place); nothing more is read from either side.
 * The worker gets a Close of its own if its stream is between frames.
 */

void
ngx_voicegw_ws_relay_close(ngx_voicegw_ws_relay_t *rl, ngx_uint_t code,
    const char *reason)
{
    if (rl->closing || rl->done) {
        return;
    }

    rl->closing = 1;
    rl->close_code = code;
    rl->close_len = ngx_voicegw_ws_close_frame(rl->close_frame, code,
                                               reason);
}


static void
ngx_voicegw_ws_relay_queue_close(ngx_voicegw_ws_relay_t *rl)
{
    u_char      frame[8];
    size_t      seen;
    uint32_t    mask;
    ngx_buf_t  *b;

    b = &rl->w_buf;
    seen = ngx_voicegw_ws_frame_seen(&rl->w_parse);

    if (seen) {
        if ((size_t) (b->last - b->pos) < seen) {
            /* part of it was written: the rest must come first */
            return;
        }

        /* none of it was: it goes */
        b->last -= seen;
        ngx_voicegw_ws_next(&rl->w_parse);
    }

    ngx_voicegw_ws_relay_compact(b);

    if ((size_t) (b->end - b->last) < rl->close_len) {
        return;
    }

    b->last = ngx_cpymem(b->last, rl->close_frame, rl->close_len);
    rl->close_queued = 1;

    /* the worker: a masked Close (1000), if it fits between its frames */

    if (rl->c_out.pos == rl->c_out.last && !rl->c_parse.in_payload
        && rl->c_parse.have == 0 && rl->worker->write->ready)
    {
        mask = (uint32_t) ngx_random();

        frame[0] = 0x80 | NGX_VOICEGW_WS_CLOSE;
        frame[1] = 0x80 | 2;
        ngx_memcpy(&frame[2], &mask, 4);
        frame[6] = (u_char) (NGX_VOICEGW_WS_NORMAL >> 8) ^ frame[2];
        frame[7] = (u_char) (NGX_VOICEGW_WS_NORMAL & 0xff) ^ frame[3];

        (void) rl->worker->send(rl->worker, frame, sizeof(frame));
    }
}


/* a dropped message's bytes, unmasked, up to conf.keep */

static void
ngx_voicegw_ws_relay_keep(ngx_voicegw_ws_relay_t *rl, u_char *p, size_t n)
{
    size_t                    i;
    ngx_voicegw_ws_parser_t  *ps;

    ps = &rl->c_parse;

    if (rl->d_over) {
        return;
    }

    if (rl->d_len + n > rl->conf.keep) {
        rl->d_over = 1;
        return;
    }

    if (rl->d_buf == NULL) {
        rl->d_buf = ngx_palloc(rl->request->pool, rl->conf.keep);
        if (rl->d_buf == NULL) {
            rl->d_over = 1;
            return;
        }
    }

    for (i = 0; i < n; i++) {
        rl->d_buf[rl->d_len + i] = ps->masked
                                   ? p[i] ^ ps->mask[(ps->offset + i) & 3]
                                   : p[i];
    }

    rl->d_len += n;
}


static void
ngx_voicegw_ws_relay_compact(ngx_buf_t *b)
{
    size_t  n;

    if (b->pos == b->start) {
        return;
    }

    n = b->last - b->pos;

    if (n) {
        ngx_memmove(b->start, b->pos, n);
    }

    b->pos = b->start;
    b->last = b->start + n;
}


static void
ngx_voicegw_ws_relay_timers(ngx_voicegw_ws_relay_t *rl, ngx_uint_t to_client,
    ngx_uint_t to_worker)
{
    ngx_connection_t  *c, *w;

    c = rl->client;
    w = rl->worker;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK
        || ngx_handle_read_event(w->read, 0) != NGX_OK
        || ngx_handle_write_event(c->write, 0) != NGX_OK
        || ngx_handle_write_event(w->write, 0) != NGX_OK)
    {
        ngx_voicegw_ws_relay_end(rl, NGX_ERROR);
        return;
    }

    /* the worker's silence: proxy_read_timeout, as nginx's own relay */

    if (w->read->active && !w->read->ready) {
        ngx_add_timer(w->read, rl->conf.read_timeout);

    } else if (w->read->timer_set) {
        ngx_del_timer(w->read);
    }

    /*
     * send_timeout runs between two writes that moved bytes: the other
     * side's events do not put it off (a client that keeps sending but
     * never reads is closed, while nginx's own pump would keep it)
     */

    if (rl->c_out.pos < rl->c_out.last) {
        if (to_worker || !w->write->timer_set) {
            ngx_add_timer(w->write, rl->conf.send_timeout);
        }

    } else if (w->write->timer_set) {
        ngx_del_timer(w->write);
    }

    if (rl->w_buf.pos < rl->w_buf.last) {
        if (to_client || !c->write->timer_set) {
            ngx_add_timer(c->write, rl->conf.send_timeout);
        }

    } else if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }
}


static void
ngx_voicegw_ws_relay_end(ngx_voicegw_ws_relay_t *rl, ngx_int_t rc)
{
    ngx_http_request_t  *r;

    r = rl->request;
    rl->done = 1;
    rl->rc = rc;

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "voicegw: ws relay ends %i: client %uL frames %uL bytes, "
                   "worker %uL frames %uL bytes",
                   rc, rl->from_client.frames, rl->from_client.bytes,
                   rl->from_worker.frames, rl->from_worker.bytes);

    /*
     * no HTTP answer can follow an upgrade: the request is terminated
     * (a timeout and a client gone as such, for the logs), and nginx's
     * upstream cleanup releases the worker's connection.  That cleanup
     * ends with ngx_http_finalize_request(r, NGX_DONE), which takes one
     * from the request's count: with the count at 1 (an upstream under
     * way) it would free the request while ngx_http_terminate_request()
     * still walks its cleanups.  The reference taken here is the one it
     * gives back; the request is freed once terminated.
     */

    if (rc != NGX_HTTP_REQUEST_TIME_OUT
        && rc != NGX_HTTP_CLIENT_CLOSED_REQUEST)
    {
        rc = NGX_HTTP_CLOSE;
    }

    r->main->count++;

    ngx_http_finalize_request(r, rc);
}
