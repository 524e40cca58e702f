
/*
 * ngx_voicegw_task_relay.c
 *
 * Owns what follows the gateway's own WebSocket handshake once the
 * worker answers its own (pool/ngx_voicegw_task_ws.c has the handshake
 * and the queue): the header and body filters that keep the worker's
 * answer from the client (its 101 is the gateway's to keep; anything
 * else becomes an error frame and a close), the hand-over from nginx's
 * byte pump to the frame-aware relay (ws/ngx_voicegw_ws_relay.c) with
 * what waited going first (the client's frames kept while queued, then
 * the gateway's own frames and the worker's first bytes), the pause
 * state it reports, and the variables of what it counted.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_http.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_task.h"
#include "ngx_voicegw_task_ws.h"


static ngx_int_t ngx_voicegw_task_ws_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_voicegw_task_ws_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_voicegw_task_ws_relay(ngx_http_request_t *r,
    ngx_voicegw_task_ws_t *ws);
static void ngx_voicegw_task_ws_client_event(ngx_http_request_t *r);
static void ngx_voicegw_task_ws_worker_event(ngx_http_request_t *r,
    ngx_http_upstream_t *u);
static void ngx_voicegw_task_ws_paused(void *data, ngx_str_t *type);
static void ngx_voicegw_task_ws_dropped(void *data, u_char *buf,
    size_t len);
static ngx_int_t ngx_voicegw_task_ws_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* what the relay counted, for log_format (docs/frontend.md) */

static ngx_http_variable_t  ngx_voicegw_task_ws_vars[] = {

    { ngx_string("voicegw_ws_client_frames"), NULL,
      ngx_voicegw_task_ws_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("voicegw_ws_client_bytes"), NULL,
      ngx_voicegw_task_ws_variable, 1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("voicegw_ws_worker_frames"), NULL,
      ngx_voicegw_task_ws_variable, 2, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("voicegw_ws_worker_bytes"), NULL,
      ngx_voicegw_task_ws_variable, 3, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("voicegw_ws_dropped"), NULL,
      ngx_voicegw_task_ws_variable, 4, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_voicegw_task_ws_init(ngx_conf_t *cf)
{
    if (ngx_voicegw_http_add_variables(cf, ngx_voicegw_task_ws_vars)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_voicegw_task_ws_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_voicegw_task_ws_body_filter;

    return NGX_OK;
}


/*
 * The worker's answer to its handshake: a 101 is the gateway's to keep
 * (the client has ours); anything else becomes an error frame and a
 * close.  Either way nothing of it is written as HTTP.
 */

static ngx_int_t
ngx_voicegw_task_ws_header_filter(ngx_http_request_t *r)
{
    u_char                   msg[64];
    ngx_voicegw_task_ws_t   *ws;
    ngx_voicegw_task_ctx_t  *ctx;

    ws = (r == r->main) ? ngx_voicegw_task_ws_get(r) : NULL;

    if (ws == NULL || !ws->accepted) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ws->ctx;
    r->keepalive = 0;

    if (r->headers_out.status == NGX_HTTP_SWITCHING_PROTOCOLS
        && r->upstream && !ws->upgraded && !ws->failed)
    {
        ws->upgraded = 1;
        return NGX_OK;
    }

    if (!ws->failed) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "voicegw: the worker %V did not take the WebSocket "
                      "session (HTTP %ui)", &ctx->peer_name,
                      r->headers_out.status);

        ngx_snprintf(msg, sizeof(msg), "Worker unavailable (HTTP %ui)%Z",
                     r->headers_out.status);

        ngx_voicegw_task_ws_error(ws, msg, NGX_VOICEGW_WS_INTERNAL,
                                  "Worker unavailable");
    }

    return NGX_OK;
}


/*
 * The body filter sees nothing worth writing after our 101; it is where
 * nginx's upgrade of the connection passes (its flush) once the worker's
 * 101 came, and where the relay takes over from nginx's byte pump.
 */

static ngx_int_t
ngx_voicegw_task_ws_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_voicegw_task_ws_t  *ws;

    ws = (r == r->main) ? ngx_voicegw_task_ws_get(r) : NULL;

    if (ws == NULL || !ws->accepted) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ws->upgraded && ws->relay == NULL && !ws->failed
        && r->upstream && r->upstream->upgrade
        && r->upstream->peer.connection)
    {
        if (ngx_voicegw_task_ws_relay(r, ws) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_task_ws_relay(ngx_http_request_t *r, ngx_voicegw_task_ws_t *ws)
{
    ngx_str_t                     to_worker, to_client, from_worker;
    ngx_connection_t             *w;
    ngx_http_upstream_t          *u;
    ngx_voicegw_task_conf_t      *tcf;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_voicegw_ws_relay_conf_t   conf;

    u = r->upstream;
    w = u->peer.connection;
    tcf = ws->ctx->tcf;
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ngx_memzero(&conf, sizeof(ngx_voicegw_ws_relay_conf_t));

    conf.buffer = tcf->relay_buffer;
    conf.read_timeout = u->conf->read_timeout;
    conf.send_timeout = clcf->send_timeout;
    conf.filter = (tcf->task_type == NGX_VOICEGW_TASK_AUDIO_DUPLEX
                   || tcf->task_type == NGX_VOICEGW_TASK_OMNI_DUPLEX);
    conf.on_type = conf.filter ? ngx_voicegw_task_ws_paused : NULL;

    /* with voicegw_sessions, dropped diagnostics go to the session's
       folder (client_diagnostic.jsonl); else they are only counted */

    conf.on_dropped = (conf.filter && ws->ctx->vp->session_append
                       && ws->ctx->session.len)
                      ? ngx_voicegw_task_ws_dropped : NULL;
    conf.keep = 65536;
    conf.data = ws->ctx;

    /* what waited goes first: the client's frames, then our own and
       whatever the worker sent right after its 101 */

    to_worker.data = ws->held.start;
    to_worker.len = ws->held.last - ws->held.start;
    to_client.data = ws->out.pos;
    to_client.len = ws->out.last - ws->out.pos;
    from_worker.data = u->buffer.pos;
    from_worker.len = u->buffer.last - u->buffer.pos;

    ws->relay = ngx_voicegw_ws_relay_create(r, w, &conf, &to_worker,
                                            &to_client, &from_worker);
    if (ws->relay == NULL) {
        return NGX_ERROR;
    }

    u->buffer.pos = u->buffer.last;
    ws->out.pos = ws->out.last;
    ws->held.pos = ws->held.last;

    r->read_event_handler = ngx_voicegw_task_ws_client_event;
    r->write_event_handler = ngx_voicegw_task_ws_client_event;
    u->read_event_handler = ngx_voicegw_task_ws_worker_event;
    u->write_event_handler = ngx_voicegw_task_ws_worker_event;

    ngx_voicegw_ws_relay_start(ws->relay);

    return NGX_OK;
}


static void
ngx_voicegw_task_ws_client_event(ngx_http_request_t *r)
{
    ngx_voicegw_task_ws_t  *ws;

    ws = ngx_voicegw_task_ws_get(r);

    ngx_voicegw_ws_relay_event(ws->relay);
}


static void
ngx_voicegw_task_ws_worker_event(ngx_http_request_t *r,
    ngx_http_upstream_t *u)
{
    ngx_voicegw_task_ws_client_event(r);
}


/* the relay saw pause or resume: the worker shows it */

static void
ngx_voicegw_task_ws_paused(void *data, ngx_str_t *type)
{
    ngx_voicegw_task_ctx_t  *ctx = data;

    ngx_voicegw_zone_lock(ctx->vp->zone);
    (void) ngx_voicegw_queue_paused_locked(ctx->vp, ctx->ticket,
                                           type->len == 5);
    ngx_voicegw_zone_unlock(ctx->vp->zone);
}


static void
ngx_voicegw_task_ws_dropped(void *data, u_char *buf, size_t len)
{
    ngx_voicegw_task_ctx_t  *ctx = data;

    ctx->vp->session_append(ctx->vp->session_data, &ctx->session, buf, len);
}


static ngx_int_t
ngx_voicegw_task_ws_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                  *p;
    uint64_t                 n;
    ngx_voicegw_ws_relay_t  *rl;
    ngx_voicegw_task_ws_t   *ws;

    ws = ngx_voicegw_task_ws_get(r);

    if (ws == NULL || ws->relay == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    rl = ws->relay;

    switch (data) {
    case 0:
        n = rl->from_client.frames;
        break;
    case 1:
        n = rl->from_client.bytes;
        break;
    case 2:
        n = rl->from_worker.frames;
        break;
    case 3:
        n = rl->from_worker.bytes;
        break;
    default:
        n = rl->dropped;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%uL", n) - p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}
