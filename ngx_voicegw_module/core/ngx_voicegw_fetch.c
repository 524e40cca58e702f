
/*
 * ngx_voicegw_fetch.c
 *
 * Owns the gateway's own outgoing HTTP requests (worker health checks,
 * provider tests): connect, TLS with a verified certificate when asked,
 * send, read the response until the peer closes or the declared length
 * is in, all on the event loop with one deadline.  It speaks just
 * enough HTTP/1.x: a status line, headers up to an empty line, then a
 * body bounded by Content-Length or by the end of the connection.  Each
 * fetch has its own small pool, destroyed once done() has returned.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_fetch.h"


static void ngx_voicegw_fetch_write_handler(ngx_event_t *wev);
static ngx_int_t ngx_voicegw_fetch_connected(ngx_voicegw_fetch_t *f,
    ngx_connection_t *c);
static void ngx_voicegw_fetch_ssl_handshaked(ngx_connection_t *c);
static void ngx_voicegw_fetch_read_handler(ngx_event_t *rev);
static void ngx_voicegw_fetch_deadline_handler(ngx_event_t *ev);
static ngx_int_t ngx_voicegw_fetch_parse(ngx_voicegw_fetch_t *f,
    ngx_uint_t eof);
static void ngx_voicegw_fetch_finish(ngx_voicegw_fetch_t *f,
    ngx_uint_t outcome);


ngx_voicegw_fetch_t *
ngx_voicegw_fetch_create(ngx_log_t *log, ngx_queue_t *active)
{
    ngx_pool_t           *pool;
    ngx_voicegw_fetch_t  *f;

    pool = ngx_create_pool(2048, log);
    if (pool == NULL) {
        return NULL;
    }

    f = ngx_pcalloc(pool, sizeof(ngx_voicegw_fetch_t));
    if (f == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    f->pool = pool;
    f->log = log;
    f->max_response = 16384;

    /* the owner's list: what to close if the process exits first */
    ngx_queue_insert_tail(active, &f->link);

    return f;
}


/* done() is always called, possibly before this returns */

void
ngx_voicegw_fetch_start(ngx_voicegw_fetch_t *f)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    f->start = ngx_current_msec;

    f->in = ngx_create_temp_buf(f->pool, f->max_response);
    if (f->in == NULL) {
        ngx_voicegw_fetch_finish(f, NGX_VOICEGW_FETCH_FAILED);
        return;
    }

    f->deadline.handler = ngx_voicegw_fetch_deadline_handler;
    f->deadline.data = f;
    f->deadline.log = f->log;
    f->deadline.cancelable = !f->graceful;
    ngx_add_timer(&f->deadline, f->timeout);

    f->peer.sockaddr = f->sockaddr;
    f->peer.socklen = f->socklen;
    f->peer.name = &f->name;
    f->peer.get = ngx_event_get_peer;
    f->peer.log = f->log;
    f->peer.log_error = NGX_ERROR_INFO;

    rc = ngx_event_connect_peer(&f->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_voicegw_fetch_finish(f, NGX_VOICEGW_FETCH_REFUSED);
        return;
    }

    c = f->peer.connection;
    c->data = f;
    c->log_error = NGX_ERROR_INFO;   /* a worker that is down is expected */
    c->pool = f->pool;
    c->log = f->log;
    c->read->log = f->log;
    c->write->log = f->log;
    c->read->handler = ngx_voicegw_fetch_read_handler;
    c->write->handler = ngx_voicegw_fetch_write_handler;

    if (rc == NGX_OK) {
        ngx_voicegw_fetch_write_handler(c->write);
    }

    /* NGX_AGAIN: connecting, the write event tells */
}


static void
ngx_voicegw_fetch_write_handler(ngx_event_t *wev)
{
    ssize_t               n;
    ngx_connection_t     *c;
    ngx_voicegw_fetch_t  *f;

    c = wev->data;
    f = c->data;

    if (!f->connected) {
        if (ngx_voicegw_fetch_connected(f, c) != NGX_OK) {
            return;
        }
    }

    while (f->sent < f->request.len) {

        n = c->send(c, f->request.data + f->sent, f->request.len - f->sent);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_voicegw_fetch_finish(f, NGX_VOICEGW_FETCH_FAILED);
            }

            return;
        }

        if (n == NGX_ERROR) {
            /* a connect refused asynchronously lands here */
            ngx_voicegw_fetch_finish(f, f->sent ? NGX_VOICEGW_FETCH_FAILED
                                                : NGX_VOICEGW_FETCH_REFUSED);
            return;
        }

        f->sent += n;
    }

    wev->handler = ngx_voicegw_fetch_read_handler;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_voicegw_fetch_finish(f, NGX_VOICEGW_FETCH_FAILED);
        return;
    }

    if (c->read->ready) {
        ngx_voicegw_fetch_read_handler(c->read);
    }
}


/*
 * The connect finished: was it refused?  For https, the handshake comes
 * next; NGX_OK only when the request can be sent now.
 */

static ngx_int_t
ngx_voicegw_fetch_connected(ngx_voicegw_fetch_t *f, ngx_connection_t *c)
{
    int        err;
    socklen_t  len;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        f->error = "connection refused";
        ngx_voicegw_fetch_finish(f, NGX_VOICEGW_FETCH_REFUSED);
        return NGX_ERROR;
    }

    f->connected = 1;

    if (f->ssl == NULL) {
        return NGX_OK;
    }

    if (ngx_ssl_create_connection(f->ssl, c,
                                  NGX_SSL_BUFFER|NGX_SSL_CLIENT)
        != NGX_OK)
    {
        f->error = "TLS setup failed";
        ngx_voicegw_fetch_finish(f, NGX_VOICEGW_FETCH_TLS);
        return NGX_ERROR;
    }

    if (SSL_set_tlsext_host_name(c->ssl->connection,
                                 (char *) f->host.data) == 0)
    {
        f->error = "TLS setup failed";
        ngx_voicegw_fetch_finish(f, NGX_VOICEGW_FETCH_TLS);
        return NGX_ERROR;
    }

    if (ngx_ssl_handshake(c) == NGX_AGAIN) {
        c->ssl->handler = ngx_voicegw_fetch_ssl_handshaked;
        return NGX_DONE;
    }

    ngx_voicegw_fetch_ssl_handshaked(c);

    return NGX_DONE;
}


static void
ngx_voicegw_fetch_ssl_handshaked(ngx_connection_t *c)
{
    long                  verify;
    ngx_voicegw_fetch_t  *f;

    f = c->data;

    if (!c->ssl->handshaked) {
        f->error = "TLS handshake failed";
        ngx_voicegw_fetch_finish(f, NGX_VOICEGW_FETCH_TLS);
        return;
    }

    verify = SSL_get_verify_result(c->ssl->connection);

    if (verify != X509_V_OK) {
        f->error = X509_verify_cert_error_string(verify);
        ngx_voicegw_fetch_finish(f, NGX_VOICEGW_FETCH_TLS);
        return;
    }

    if (ngx_ssl_check_host(c, &f->host) != NGX_OK) {
        f->error = "the certificate does not match the host name";
        ngx_voicegw_fetch_finish(f, NGX_VOICEGW_FETCH_TLS);
        return;
    }

    c->read->handler = ngx_voicegw_fetch_read_handler;
    c->write->handler = ngx_voicegw_fetch_write_handler;

    ngx_voicegw_fetch_write_handler(c->write);
}


static void
ngx_voicegw_fetch_read_handler(ngx_event_t *rev)
{
    ssize_t               n;
    ngx_int_t             rc;
    ngx_connection_t     *c;
    ngx_voicegw_fetch_t  *f;

    c = rev->data;
    f = c->data;

    if (!f->connected || f->sent < f->request.len) {
        /* still connecting or sending: the read event came first */
        ngx_voicegw_fetch_write_handler(c->write);
        return;
    }

    for ( ;; ) {

        if (f->in->last == f->in->end) {
            ngx_voicegw_fetch_finish(f, NGX_VOICEGW_FETCH_FAILED);
            return;
        }

        n = c->recv(c, f->in->last, f->in->end - f->in->last);

        if (n == NGX_AGAIN) {
            rc = ngx_voicegw_fetch_parse(f, 0);

            if (rc == NGX_OK) {
                ngx_voicegw_fetch_finish(f, NGX_VOICEGW_FETCH_OK);
                return;
            }

            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_voicegw_fetch_finish(f, NGX_VOICEGW_FETCH_FAILED);
            }

            return;
        }

        if ((n == NGX_ERROR || n == 0) && f->in->last == f->in->pos) {
            /* accepted, then closed or reset without a word: a peer that
               is going away, as its listening socket closes last */
            ngx_voicegw_fetch_finish(f, NGX_VOICEGW_FETCH_CLOSED);
            return;
        }

        if (n == NGX_ERROR) {
            ngx_voicegw_fetch_finish(f, NGX_VOICEGW_FETCH_FAILED);
            return;
        }

        if (n == 0) {
            rc = ngx_voicegw_fetch_parse(f, 1);
            ngx_voicegw_fetch_finish(f, rc == NGX_OK
                                        ? NGX_VOICEGW_FETCH_OK
                                        : NGX_VOICEGW_FETCH_FAILED);
            return;
        }

        f->in->last += n;
    }
}


/* NGX_OK: the whole response is in; NGX_AGAIN: wait; NGX_ERROR: broken */

static ngx_int_t
ngx_voicegw_fetch_parse(ngx_voicegw_fetch_t *f, ngx_uint_t eof)
{
    u_char     *p, *last, *hdr, *line, *eol;
    off_t       length;
    ngx_uint_t  status;

    p = f->in->pos;
    last = f->in->last;

    /* "HTTP/1.1 200 OK" */

    if (last - p < 12) {
        return eof ? NGX_ERROR : NGX_AGAIN;
    }

    if (ngx_strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' '
        || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9'
        || p[11] < '0' || p[11] > '9')
    {
        return NGX_ERROR;
    }

    status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');

    hdr = ngx_strnstr(p, "\r\n\r\n", last - p);
    if (hdr == NULL) {
        return eof ? NGX_ERROR : NGX_AGAIN;
    }

    length = -1;

    for (line = p; line < hdr; line = eol + 2) {
        eol = ngx_strnstr(line, "\r\n", hdr + 2 - line);
        if (eol == NULL) {
            break;
        }

        if (eol - line > 15
            && ngx_strncasecmp(line, (u_char *) "Content-Length:", 15) == 0)
        {
            line += 15;

            while (line < eol && *line == ' ') {
                line++;
            }

            length = ngx_atoof(line, eol - line);

            if (length == NGX_ERROR) {
                return NGX_ERROR;
            }
        }
    }

    f->status = status;
    f->body.data = hdr + 4;
    f->body.len = last - f->body.data;

    if (length >= 0) {
        if ((off_t) f->body.len < length) {
            return eof ? NGX_ERROR : NGX_AGAIN;
        }

        f->body.len = (size_t) length;
        return NGX_OK;
    }

    return eof ? NGX_OK : NGX_AGAIN;
}


static void
ngx_voicegw_fetch_deadline_handler(ngx_event_t *ev)
{
    ngx_voicegw_fetch_finish(ev->data, NGX_VOICEGW_FETCH_TIMEOUT);
}


static void
ngx_voicegw_fetch_finish(ngx_voicegw_fetch_t *f, ngx_uint_t outcome)
{
    if (f->finished) {
        return;
    }

    f->finished = 1;
    f->outcome = outcome;
    f->elapsed = ngx_current_msec - f->start;

    if (f->deadline.timer_set) {
        ngx_del_timer(&f->deadline);
    }

    if (f->error == NULL) {
        switch (outcome) {
        case NGX_VOICEGW_FETCH_REFUSED:
            f->error = "connection refused";
            break;
        case NGX_VOICEGW_FETCH_TIMEOUT:
            f->error = "timed out";
            break;
        case NGX_VOICEGW_FETCH_CLOSED:
            f->error = "connection closed without an answer";
            break;
        case NGX_VOICEGW_FETCH_FAILED:
            f->error = "broken or oversized answer";
            break;
        }
    }

    if (f->peer.connection != NULL) {
        if (f->peer.connection->ssl) {
            f->peer.connection->ssl->no_wait_shutdown = 1;
            (void) ngx_ssl_shutdown(f->peer.connection);
        }

        ngx_close_connection(f->peer.connection);
        f->peer.connection = NULL;
    }

    ngx_queue_remove(&f->link);

    f->done(f);

    ngx_destroy_pool(f->pool);
}


/* the process exits: close what is under way, without calling back */

void
ngx_voicegw_fetch_abort_all(ngx_queue_t *active)
{
    ngx_queue_t          *q;
    ngx_voicegw_fetch_t  *f;

    while (!ngx_queue_empty(active)) {
        q = ngx_queue_head(active);
        f = ngx_queue_data(q, ngx_voicegw_fetch_t, link);

        ngx_queue_remove(q);

        if (f->deadline.timer_set) {
            ngx_del_timer(&f->deadline);
        }

        if (f->peer.connection != NULL) {
            if (f->peer.connection->ssl) {
                f->peer.connection->ssl->no_wait_shutdown = 1;
                (void) ngx_ssl_shutdown(f->peer.connection);
            }

            ngx_close_connection(f->peer.connection);
        }

        ngx_destroy_pool(f->pool);
    }
}
