
/*
 * ngx_voicegw_rt_session.c
 *
 * Owns a realtime provider session once the provider has answered 101 to
 * a voicegw_proxy location's WebSocket handshake: the hand-over from
 * nginx's byte pump to the frame-aware relay (ws/ngx_voicegw_ws_relay.c),
 * which shows this file every payload as it passes; the units it then
 * reads (ngx_voicegw_rt_units.c); the TTFB (the provider's first frame)
 * and the close codes of either side.
 *
 *   - The running cost is the units so far at the prices the model had
 *     when the session opened.  With a daily budget it is the session's
 *     reservation (proxy/ngx_voicegw_proxy_budget.c), looked at again
 *     whenever the cost has used half of what the project had left, and
 *     every second: a "block" project past its budget has its session
 *     closed by the gateway, 1008 "budget exceeded".
 *   - Every "interim=" (voicegw_proxy) an open session writes a record of
 *     what it used since the last one, flagged interim, and that cost is
 *     spent; the record at its end has the rest, so the rows of a session
 *     add up to it.
 *   - The record at its end (the log phase, through the call's "book"):
 *     ok (the client closed it, or the provider with 1000/1001),
 *     error with the close code as its http_status (the provider's, 1006
 *     when the provider went without one, 1008 over budget),
 *     client_closed (the client went without a Close), timeout.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_record.h"
#include "ngx_voicegw_catalog.h"
#include "ngx_voicegw_rt.h"


#define NGX_VOICEGW_RT_TICK          1000       /* ms */
#define NGX_VOICEGW_RT_BUFFER        (16 * 1024)
#define NGX_VOICEGW_RT_NO_STATUS     1005
#define NGX_VOICEGW_RT_ABNORMAL      1006


typedef struct {
    ngx_http_request_t          *request;
    ngx_voicegw_proxy_ctx_t     *ctx;
    ngx_voicegw_ws_relay_t      *relay;
    ngx_voicegw_rt_units_t      *units;

    /* prices when it opened */
    double                       price[NGX_VOICEGW_CATALOG_NPRICES];
    ngx_uint_t                   priced;
    ngx_uint_t                   kind;        /* modality priced */

    /* what interim records have booked */
    ngx_voicegw_rt_used_t        booked;
    double                       booked_cost;

    double                       next_check;  /* running cost */
    ngx_event_t                  tick;
    ngx_msec_t                   interim_at;

    ngx_msec_t                   ttfb;        /* ms after the handshake */

    /* Close frames seen: their code (1005 without one) */
    u_char                       close_buf[2][2];
    size_t                       close_len[2];
    ngx_uint_t                   close_code[2];   /* 0 provider, 1 client */
    ngx_uint_t                   closed_first;    /* 1 + direction */

    unsigned                     first:1;     /* a provider frame came */
    unsigned                     over_budget:1;
} ngx_voicegw_rt_session_t;


static ngx_int_t ngx_voicegw_rt_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_voicegw_rt_start(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx);
static ngx_int_t ngx_voicegw_rt_unsent(ngx_http_request_t *r,
    ngx_str_t *out);
static void ngx_voicegw_rt_client_event(ngx_http_request_t *r);
static void ngx_voicegw_rt_provider_event(ngx_http_request_t *r,
    ngx_http_upstream_t *u);
static void ngx_voicegw_rt_watch(void *data, ngx_uint_t from_client,
    ngx_voicegw_ws_parser_t *p, u_char *pos, size_t len, ngx_uint_t end);
static double ngx_voicegw_rt_cost(ngx_voicegw_rt_session_t *s,
    ngx_voicegw_rt_used_t *used);
static void ngx_voicegw_rt_budget(ngx_voicegw_rt_session_t *s);
static void ngx_voicegw_rt_tick(ngx_event_t *ev);
static void ngx_voicegw_rt_interim(ngx_voicegw_rt_session_t *s);
static void ngx_voicegw_rt_record(ngx_voicegw_rt_session_t *s,
    ngx_voicegw_record_t *rec, ngx_voicegw_rt_used_t *used,
    ngx_uint_t final);
static void ngx_voicegw_rt_book(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx);
static void ngx_voicegw_rt_ending(ngx_voicegw_rt_session_t *s,
    ngx_voicegw_record_t *rec);
static void ngx_voicegw_rt_cleanup(void *data);


static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_voicegw_rt_init(ngx_conf_t *cf)
{
    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_voicegw_rt_body_filter;

    return NGX_OK;
}


/*
 * nginx's upgrade of the connection passes here (its flush) once the
 * provider's 101 came: the 101 goes out, and the relay takes over.
 */

static ngx_int_t
ngx_voicegw_rt_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                 rc;
    ngx_voicegw_proxy_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_proxy_module);

    if (ctx == NULL || !ctx->websocket || ctx->session
        || r->upstream == NULL || !r->upstream->upgrade
        || r->upstream->peer.connection == NULL)
    {
        return ngx_http_next_body_filter(r, in);
    }

    rc = ngx_http_next_body_filter(r, in);

    if (rc == NGX_ERROR) {
        return rc;
    }

    return ngx_voicegw_rt_start(r, ctx);
}


static ngx_int_t
ngx_voicegw_rt_start(ngx_http_request_t *r, ngx_voicegw_proxy_ctx_t *ctx)
{
    ngx_str_t                      to_client, none, from_provider;
    ngx_connection_t              *c, *w;
    ngx_pool_cleanup_t            *cln;
    ngx_http_upstream_t           *u;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_voicegw_rt_session_t      *s;
    ngx_voicegw_ws_relay_conf_t    conf;
    ngx_voicegw_proxy_loc_conf_t  *plcf;

    u = r->upstream;
    c = r->connection;
    w = u->peer.connection;
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    plcf = ngx_http_get_module_loc_conf(r, ngx_voicegw_proxy_module);

    s = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_rt_session_t));
    if (s == NULL) {
        return NGX_ERROR;
    }

    s->request = r;
    s->ctx = ctx;

    s->units = ngx_voicegw_rt_units_create(r, ctx);
    if (s->units == NULL) {
        return NGX_ERROR;
    }

    s->kind = ctx->modality;

    if (s->kind == NGX_VOICEGW_MODALITY_STT
        || s->kind == NGX_VOICEGW_MODALITY_TTS
        || s->kind == NGX_VOICEGW_MODALITY_LLM)
    {
        s->priced = ngx_voicegw_proxy_prices(ctx, &ctx->record_model,
                                             ngx_voicegw_proxy_unit(s->kind),
                                             s->price);
    }

    /* the 101 if nginx could not write it all, then what the provider
       sent right after it */

    if (ngx_voicegw_rt_unsent(r, &to_client) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_null(&none);
    from_provider.data = u->buffer.pos;
    from_provider.len = u->buffer.last - u->buffer.pos;

    ngx_memzero(&conf, sizeof(ngx_voicegw_ws_relay_conf_t));

    conf.buffer = NGX_VOICEGW_RT_BUFFER;
    conf.read_timeout = u->conf->read_timeout;
    conf.send_timeout = clcf->send_timeout;
    conf.watch = ngx_voicegw_rt_watch;
    conf.data = s;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_voicegw_rt_cleanup;
    cln->data = s;

    ctx->session = s;
    ctx->book = ngx_voicegw_rt_book;

    s->relay = ngx_voicegw_ws_relay_create(r, w, &conf, &none, &to_client,
                                           &from_provider);
    if (s->relay == NULL) {
        return NGX_ERROR;
    }

    if (s->over_budget) {
        ngx_voicegw_ws_relay_close(s->relay, NGX_VOICEGW_RT_POLICY,
                                   "budget exceeded");
    }

    u->buffer.pos = u->buffer.last;

    r->read_event_handler = ngx_voicegw_rt_client_event;
    r->write_event_handler = ngx_voicegw_rt_client_event;
    u->read_event_handler = ngx_voicegw_rt_provider_event;
    u->write_event_handler = ngx_voicegw_rt_provider_event;

    s->tick.handler = ngx_voicegw_rt_tick;
    s->tick.data = s;
    s->tick.log = c->log;
    s->interim_at = ngx_current_msec + plcf->interim;

    ngx_add_timer(&s->tick, NGX_VOICEGW_RT_TICK);

    ngx_voicegw_ws_relay_start(s->relay);

    return NGX_OK;
}


/* what nginx's write filter still holds of the 101, taken out of it */

static ngx_int_t
ngx_voicegw_rt_unsent(ngx_http_request_t *r, ngx_str_t *out)
{
    u_char       *p;
    size_t        len;
    ngx_chain_t  *cl;

    len = 0;

    for (cl = r->out; cl; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf)) {
            len += cl->buf->last - cl->buf->pos;
        }
    }

    ngx_str_null(out);

    if (len == 0) {
        return NGX_OK;
    }

    out->data = ngx_pnalloc(r->pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;

    for (cl = r->out; cl; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf)) {
            p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
            cl->buf->pos = cl->buf->last;
        }
    }

    out->len = len;
    r->out = NULL;
    r->connection->buffered &= ~NGX_HTTP_WRITE_BUFFERED;

    return NGX_OK;
}


static void
ngx_voicegw_rt_client_event(ngx_http_request_t *r)
{
    ngx_voicegw_proxy_ctx_t   *ctx;
    ngx_voicegw_rt_session_t  *s;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_proxy_module);
    s = ctx->session;

    ngx_voicegw_ws_relay_event(s->relay);
}


static void
ngx_voicegw_rt_provider_event(ngx_http_request_t *r, ngx_http_upstream_t *u)
{
    ngx_voicegw_rt_client_event(r);
}


/* every payload either way, as the relay passes it */

static void
ngx_voicegw_rt_watch(void *data, ngx_uint_t from_client,
    ngx_voicegw_ws_parser_t *p, u_char *pos, size_t len, ngx_uint_t end)
{
    ngx_voicegw_rt_session_t  *s = data;

    size_t                  n;
    ngx_voicegw_rt_used_t   used;

    if (!from_client && !s->first) {
        s->first = 1;
        s->ttfb = ngx_current_msec - s->ctx->start;
    }

    if (p->opcode == NGX_VOICEGW_WS_CLOSE) {

        /* its code: the payload's first two bytes, unmasked */

        n = ngx_min(len, 2 - s->close_len[from_client]);

        ngx_voicegw_ws_unmask(p, p->offset,
                              s->close_buf[from_client]
                              + s->close_len[from_client], pos, n);
        s->close_len[from_client] += n;

        if (end && s->close_code[from_client] == 0) {
            s->close_code[from_client] =
                (s->close_len[from_client] == 2)
                ? (ngx_uint_t) (s->close_buf[from_client][0] << 8
                                | s->close_buf[from_client][1])
                : NGX_VOICEGW_RT_NO_STATUS;

            if (s->closed_first == 0) {
                s->closed_first = 1 + from_client;
            }
        }

        return;
    }

    if (!ngx_voicegw_rt_units_feed(s->units, from_client, p, pos, len, end)
        || !s->ctx->budget_held || s->over_budget)
    {
        return;
    }

    /* more units: the budget looks again once they are worth it */

    ngx_voicegw_rt_units_used(s->units, ngx_current_msec - s->ctx->start,
                              &used);

    if (ngx_voicegw_rt_cost(s, &used) >= s->next_check) {
        ngx_voicegw_rt_budget(s);
    }
}


/* the session's cost so far, all of it */

static double
ngx_voicegw_rt_cost(ngx_voicegw_rt_session_t *s, ngx_voicegw_rt_used_t *used)
{
    if (s->priced == 0) {
        return 0;
    }

    return ngx_voicegw_proxy_price_units(s->kind, s->price, s->priced,
                                         used->input, used->output,
                                         used->cached);
}


static void
ngx_voicegw_rt_budget(ngx_voicegw_rt_session_t *s)
{
    double                 cost, headroom;
    ngx_uint_t             state;
    ngx_voicegw_rt_used_t  used;

    ngx_voicegw_rt_units_used(s->units, ngx_current_msec - s->ctx->start,
                              &used);

    cost = ngx_voicegw_rt_cost(s, &used);

    state = ngx_voicegw_proxy_budget_running(s->ctx, cost - s->booked_cost,
                                             &headroom);

    if (state == 2) {
        ngx_log_error(NGX_LOG_INFO, s->request->connection->log, 0,
                      "voicegw: project \"%V\" passed its daily budget: "
                      "the session is closed", &s->ctx->project);

        s->over_budget = 1;

        /* NULL: the provider's first bytes, read with its 101, did it;
           the relay is closed as soon as it is made */

        if (s->relay) {
            ngx_voicegw_ws_relay_close(s->relay, NGX_VOICEGW_RT_POLICY,
                                       "budget exceeded");
        }

        return;
    }

    /* the next look: when half of what is left is used, or at the tick */

    s->next_check = cost + ngx_max(headroom / 2, 1e-9);
}


static void
ngx_voicegw_rt_tick(ngx_event_t *ev)
{
    ngx_voicegw_rt_session_t  *s = ev->data;

    ngx_connection_t  *c;

    if (s->relay->done) {
        return;
    }

    c = s->request->connection;

    if (s->ctx->budget_held && !s->over_budget) {
        ngx_voicegw_rt_budget(s);
    }

    if ((ngx_msec_int_t) (ngx_current_msec - s->interim_at) >= 0) {
        ngx_voicegw_rt_interim(s);
    }

    ngx_add_timer(&s->tick, NGX_VOICEGW_RT_TICK);

    if (s->over_budget) {
        /* the relay writes the Close as soon as it can */
        ngx_voicegw_ws_relay_run(s->relay);
        ngx_http_run_posted_requests(c);
    }
}


/* what the session used since the last interim record, on the books */

static void
ngx_voicegw_rt_interim(ngx_voicegw_rt_session_t *s)
{
    ngx_voicegw_record_t           rec;
    ngx_voicegw_rt_used_t          used;
    ngx_voicegw_proxy_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(s->request, ngx_voicegw_proxy_module);
    s->interim_at = ngx_current_msec + plcf->interim;

    ngx_voicegw_rt_units_used(s->units, ngx_current_msec - s->ctx->start,
                              &used);

    if (used.input <= s->booked.input && used.output <= s->booked.output) {
        return;
    }

    ngx_voicegw_rt_record(s, &rec, &used, 0);

    rec.status = NGX_VOICEGW_STATUS_SUCCESS;
    rec.http_status = NGX_HTTP_SWITCHING_PROTOCOLS;
    rec.flags |= NGX_VOICEGW_RECORD_INTERIM;

    ngx_voicegw_proxy_budget_settle_part(s->ctx, rec.cost_usd);

    (void) ngx_voicegw_record(s->ctx->vmcf->recorder, &rec);
}


/*
 * A record of what was used since the last one: its units and cost, and
 * they count as booked.  The final one settles: when the provider's own
 * figure (Deepgram's Metadata) comes in under the estimate that interim
 * records booked, its units and cost are negative, so that the rows of
 * the session add up to what it used.
 */

static void
ngx_voicegw_rt_record(ngx_voicegw_rt_session_t *s, ngx_voicegw_record_t *rec,
    ngx_voicegw_rt_used_t *used, ngx_uint_t final)
{
    double                    cost;
    ngx_voicegw_proxy_ctx_t  *ctx;

    ctx = s->ctx;

    ngx_voicegw_record_init(rec);

    rec->project = ctx->project;
    rec->provider = ctx->provider.id;
    rec->modality = ctx->modality;
    rec->model = ctx->record_model;
    rec->flags = used->flags;

    cost = ngx_voicegw_rt_cost(s, used);

    rec->input_units = used->input - s->booked.input;
    rec->output_units = used->output - s->booked.output;
    rec->cost_usd = cost - s->booked_cost;

    if (!final) {
        rec->input_units = ngx_max(rec->input_units, 0);
        rec->output_units = ngx_max(rec->output_units, 0);
        rec->cost_usd = ngx_max(rec->cost_usd, 0);
    }

    if (s->priced == 0 && (used->input > 0 || used->output > 0)) {
        rec->flags |= NGX_VOICEGW_RECORD_UNPRICED;
    }

    s->booked.input += rec->input_units;
    s->booked.output += rec->output_units;
    s->booked_cost += rec->cost_usd;
}


/* the log phase: the rest of the session, and how it ended */

static void
ngx_voicegw_rt_book(ngx_http_request_t *r, ngx_voicegw_proxy_ctx_t *ctx)
{
    ngx_voicegw_record_t       rec;
    ngx_voicegw_rt_used_t      used;
    ngx_voicegw_rt_session_t  *s;

    s = ctx->session;

    if (s->tick.timer_set) {
        ngx_del_timer(&s->tick);
    }

    ngx_voicegw_rt_units_used(s->units, ngx_current_msec - ctx->start, &used);
    ngx_voicegw_rt_record(s, &rec, &used, 1);

    rec.total_ms = (double) (ngx_current_msec - ctx->start);
    rec.ttfb_ms = s->first ? (double) s->ttfb : -1;

    ngx_voicegw_rt_ending(s, &rec);

    ngx_voicegw_proxy_budget_settle(ctx, rec.cost_usd, NULL);

    (void) ngx_voicegw_record(ctx->vmcf->recorder, &rec);
}


static void
ngx_voicegw_rt_ending(ngx_voicegw_rt_session_t *s, ngx_voicegw_record_t *rec)
{
    ngx_uint_t  code;

    rec->http_status = NGX_HTTP_SWITCHING_PROTOCOLS;
    rec->status = NGX_VOICEGW_STATUS_SUCCESS;

    if (s->over_budget) {
        rec->status = NGX_VOICEGW_STATUS_ERROR;
        rec->http_status = NGX_VOICEGW_RT_POLICY;
        rec->flags |= NGX_VOICEGW_RECORD_BUDGET;
        return;
    }

    if (s->closed_first == 1) {
        /* the provider ended it */
        code = s->close_code[0];

        if (code != NGX_VOICEGW_WS_NORMAL && code != 1001
            && code != NGX_VOICEGW_RT_NO_STATUS)
        {
            rec->status = NGX_VOICEGW_STATUS_ERROR;
            rec->http_status = code;
        }

        return;
    }

    if (s->closed_first == 2) {
        /* the client ended it */
        return;
    }

    switch (s->relay->rc) {

    case NGX_HTTP_CLIENT_CLOSED_REQUEST:
        rec->status = NGX_VOICEGW_STATUS_CLIENT_CLOSED;
        rec->http_status = NGX_HTTP_CLIENT_CLOSED_REQUEST;
        rec->flags |= NGX_VOICEGW_RECORD_PARTIAL;
        return;

    case NGX_HTTP_REQUEST_TIME_OUT:
        rec->status = NGX_VOICEGW_STATUS_TIMEOUT;
        rec->http_status = NGX_HTTP_GATEWAY_TIME_OUT;
        return;

    default:
        /* the provider went without a Close, or broke the protocol */
        rec->status = NGX_VOICEGW_STATUS_ERROR;
        rec->http_status = NGX_VOICEGW_RT_ABNORMAL;
        rec->flags |= NGX_VOICEGW_RECORD_PARTIAL;
        return;
    }
}


/* a request freed without its log phase: no timer is left behind */

static void
ngx_voicegw_rt_cleanup(void *data)
{
    ngx_voicegw_rt_session_t  *s = data;

    if (s->tick.timer_set) {
        ngx_del_timer(&s->tick);
    }
}
