
/*
 * ngx_voicegw_proxy_books.c
 *
 * Owns the accounting of a provider call: a header filter that notes the
 * provider's status and billing headers, a body filter that hands every
 * byte of the answer, as it passes and without holding it, to the usage
 * parser of the provider's dialect (ngx_voicegw_usage.c), and the log
 * phase handler that prices the units and puts the call on the books.
 *
 * The call's context outlives nginx's internal redirects (an error_page
 * after a failed connection clears the modules' contexts): it is found
 * again through the request pool's cleanup.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_http.h"
#include "ngx_voicegw_record.h"
#include "ngx_voicegw_sse_strip.h"
#include "ngx_voicegw_proxy.h"
#include "ngx_voicegw_catalog.h"


static ngx_int_t ngx_voicegw_proxy_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_voicegw_proxy_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_voicegw_proxy_log_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_voicegw_proxy_dialect(ngx_voicegw_proxy_ctx_t *ctx);
static void ngx_voicegw_proxy_units(ngx_voicegw_proxy_ctx_t *ctx,
    ngx_voicegw_record_t *rec);
static ngx_uint_t ngx_voicegw_proxy_status(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx, ngx_uint_t http_status);
static double ngx_voicegw_proxy_number(ngx_http_request_t *r,
    const char *name);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* provider types and the shape of their answers */

static struct {
    const char                  *type;
    ngx_uint_t                   dialect;
} ngx_voicegw_proxy_dialects[] = {
    { "anthropic", NGX_VOICEGW_DIALECT_ANTHROPIC },
    { "gemini", NGX_VOICEGW_DIALECT_GEMINI },
    { "deepgram", NGX_VOICEGW_DIALECT_DEEPGRAM },
    { "cartesia", NGX_VOICEGW_DIALECT_CARTESIA },
    { "assemblyai", NGX_VOICEGW_DIALECT_ASSEMBLYAI },
    { "elevenlabs", NGX_VOICEGW_DIALECT_ELEVENLABS },
    { NULL, NGX_VOICEGW_DIALECT_OPENAI }      /* and compatible servers */
};


ngx_int_t
ngx_voicegw_proxy_books_init(ngx_conf_t *cf)
{
    if (ngx_voicegw_http_phase_handler(cf, NGX_HTTP_LOG_PHASE,
                                       ngx_voicegw_proxy_log_handler)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_voicegw_proxy_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_voicegw_proxy_body_filter;

    return NGX_OK;
}


static void
ngx_voicegw_proxy_ctx_cleanup(void *data)
{
    /* only a mark: the context is found by it */
}


ngx_int_t
ngx_voicegw_proxy_keep_ctx(ngx_http_request_t *r, ngx_voicegw_proxy_ctx_t *ctx)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_voicegw_proxy_ctx_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_voicegw_proxy_module);

    return NGX_OK;
}


static ngx_voicegw_proxy_ctx_t *
ngx_voicegw_proxy_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t       *cln;
    ngx_voicegw_proxy_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_proxy_module);

    if (ctx != NULL || !r->internal) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_voicegw_proxy_ctx_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_voicegw_proxy_module);
            return ctx;
        }
    }

    return NULL;
}


/* -- the answer as it passes ---------------------------------------------- */

static ngx_int_t
ngx_voicegw_proxy_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                sse;
    ngx_table_elt_t          *h;
    ngx_voicegw_proxy_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_proxy_module);

    if (ctx == NULL || !ctx->proxied || ctx->answered
        || r->upstream == NULL)
    {
        return ngx_http_next_header_filter(r);
    }

    ctx->answered = 1;
    ctx->status = r->headers_out.status;

    if (ctx->budget_state) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "X-VoiceGW-Budget");

        if (ctx->budget_state == 2) {
            ngx_str_set(&h->value, "exceeded");

        } else {
            ngx_str_set(&h->value, "warning");
        }
    }

    ctx->character_cost = ngx_voicegw_proxy_number(r, "character-cost");

    if (ctx->character_cost < 0) {
        ctx->character_cost = ngx_voicegw_proxy_number(r, "dg-char-count");
    }

    if (ctx->status >= NGX_HTTP_OK && ctx->status < NGX_HTTP_SPECIAL_RESPONSE
        && r->header_only == 0)
    {
        sse = r->headers_out.content_type.len >= sizeof("text/event-stream")
                                                 - 1
              && ngx_strncasecmp(r->headers_out.content_type.data,
                                 (u_char *) "text/event-stream",
                                 sizeof("text/event-stream") - 1)
                 == 0;

        ctx->dialect = ngx_voicegw_proxy_dialect(ctx);
        ctx->usage = ngx_voicegw_usage_create(r->pool, ctx->dialect, sse);
        if (ctx->usage == NULL) {
            return NGX_ERROR;
        }

        /* the usage chunk the gateway asked for is not the client's */

        if (sse && ctx->asked_usage) {
            ctx->strip = ngx_voicegw_sse_strip_create(r->pool);
            if (ctx->strip == NULL) {
                return NGX_ERROR;
            }

            /* the answer gets shorter: chunked (or closed) instead */
            ngx_http_clear_content_length(r);
            ngx_http_clear_accept_ranges(r);
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_voicegw_proxy_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t              *cl, *out;
    ngx_voicegw_proxy_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_proxy_module);

    if (ctx == NULL || ctx->usage == NULL || ctx->ended) {
        return ngx_http_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {

        if (ngx_buf_in_memory(cl->buf) && cl->buf->last > cl->buf->pos) {
            (void) ngx_voicegw_usage_feed(ctx->usage, cl->buf->pos,
                                          cl->buf->last - cl->buf->pos);
        }

        if (cl->buf->last_buf) {
            ngx_voicegw_usage_end(ctx->usage);
            ctx->ended = 1;
            break;
        }
    }

    if (ctx->strip) {
        /* after the usage parser has seen the bytes */

        if (ngx_voicegw_sse_strip(ctx->strip, in, &out) != NGX_OK) {
            return NGX_ERROR;
        }

        return ngx_http_next_body_filter(r, out);
    }

    return ngx_http_next_body_filter(r, in);
}


static ngx_uint_t
ngx_voicegw_proxy_dialect(ngx_voicegw_proxy_ctx_t *ctx)
{
    ngx_uint_t  i;

    for (i = 0; ngx_voicegw_proxy_dialects[i].type; i++) {
        if (ngx_strcmp(ngx_voicegw_proxy_dialects[i].type,
                       ctx->provider.type->name)
            == 0)
        {
            break;
        }
    }

    return ngx_voicegw_proxy_dialects[i].dialect;
}


/* a numeric response header, or -1 */

static double
ngx_voicegw_proxy_number(ngx_http_request_t *r, const char *name)
{
    ngx_int_t         n;
    ngx_table_elt_t  *h;

    h = ngx_voicegw_http_header(&r->headers_out.headers, name);

    if (h == NULL) {
        return -1;
    }

    n = ngx_atoi(h->value.data, h->value.len);

    return n == NGX_ERROR ? -1 : (double) n;
}


/* -- on the books ------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_proxy_log_handler(ngx_http_request_t *r)
{
    ngx_voicegw_record_t        rec;
    ngx_voicegw_proxy_ctx_t    *ctx;
    ngx_http_upstream_state_t  *state;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_voicegw_proxy_get_ctx(r);

    if (ctx == NULL || !(ctx->proxied || ctx->rejected) || ctx->booked) {
        return NGX_OK;
    }

    ctx->booked = 1;

    if (ctx->book) {
        /* an upgraded WebSocket session books itself */
        ctx->book(r, ctx);
        return NGX_OK;
    }

    ngx_voicegw_record_init(&rec);

    rec.project = ctx->project;
    rec.provider = ctx->provider.id;
    rec.modality = ctx->modality;
    rec.model = ctx->record_model;
    rec.total_ms = (double) (ngx_current_msec - ctx->start);

    if (ctx->rejected) {
        rec.status = NGX_VOICEGW_STATUS_REJECTED;
        rec.http_status = NGX_HTTP_TOO_MANY_REQUESTS;
        rec.flags |= NGX_VOICEGW_RECORD_BUDGET;

        (void) ngx_voicegw_record(ctx->vmcf->recorder, &rec);
        return NGX_OK;
    }

    state = NULL;

    if (r->upstream_states && r->upstream_states->nelts) {
        state = r->upstream_states->elts;
        state += r->upstream_states->nelts - 1;

        if (state->header_time != (ngx_msec_t) -1) {
            rec.ttfb_ms = (double) state->header_time;
        }
    }

    if (ctx->status) {
        rec.http_status = ctx->status;

    } else if (state && state->status) {
        rec.http_status = state->status;

    } else {
        rec.http_status = r->err_status ? (ngx_uint_t) r->err_status
                                        : r->headers_out.status;
    }

    if (r->connection->error && !ctx->answered) {
        rec.http_status = NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    rec.status = ngx_voicegw_proxy_status(r, ctx, rec.http_status);

    if (ctx->partial) {
        rec.flags |= NGX_VOICEGW_RECORD_PARTIAL;
    }

    ngx_voicegw_proxy_units(ctx, &rec);
    ngx_voicegw_proxy_cost(ctx, &rec);

    ngx_voicegw_proxy_budget_settle(ctx, rec.cost_usd, &rec.model);

    (void) ngx_voicegw_record(ctx->vmcf->recorder, &rec);

    return NGX_OK;
}


/*
 * How the call ended: success (the "ok"), error (the provider
 * answered 4xx or 5xx), client_closed (the client left first: the units
 * seen so far, flagged partial), upstream_failed (no answer: refused,
 * reset, timed out; or an answer that broke off).
 */

static ngx_uint_t
ngx_voicegw_proxy_status(ngx_http_request_t *r, ngx_voicegw_proxy_ctx_t *ctx,
    ngx_uint_t http_status)
{
    if (!ctx->answered) {

        if (http_status == NGX_HTTP_CLIENT_CLOSED_REQUEST) {
            return NGX_VOICEGW_STATUS_CLIENT_CLOSED;
        }

        return NGX_VOICEGW_STATUS_UPSTREAM_FAILED;
    }

    if (ctx->status >= NGX_HTTP_BAD_REQUEST) {
        return NGX_VOICEGW_STATUS_ERROR;
    }

    if (!ctx->ended && r->connection->error) {
        ctx->partial = 1;
        return NGX_VOICEGW_STATUS_CLIENT_CLOSED;
    }

    if (!ctx->ended && ctx->usage) {
        ctx->partial = 1;
        return NGX_VOICEGW_STATUS_UPSTREAM_FAILED;
    }

    return NGX_VOICEGW_STATUS_SUCCESS;
}


/*
 * Before the call: what it will cost as far as the request says (the
 * characters of a speech request, the length of a WAV upload); 0 when
 * the request does not say.
 */

double
ngx_voicegw_proxy_estimate(ngx_voicegw_proxy_ctx_t *ctx)
{
    ngx_voicegw_record_t  rec;

    ngx_voicegw_record_init(&rec);

    rec.model = ctx->record_model;
    rec.input_units = 0;
    rec.output_units = 0;

    if (ctx->modality == NGX_VOICEGW_MODALITY_TTS) {
        rec.input_units = ctx->characters;

    } else if (ctx->modality == NGX_VOICEGW_MODALITY_STT
               && ctx->audio_seconds > 0)
    {
        rec.input_units = ctx->audio_seconds / 60;
    }

    if (rec.input_units <= 0) {
        return 0;
    }

    ngx_voicegw_proxy_cost(ctx, &rec);

    return rec.cost_usd;
}


/*
 * The units of the record, as VoiceGateway counts them: STT in minutes of
 * audio, LLM in input and output tokens, TTS in characters.
 */

static void
ngx_voicegw_proxy_units(ngx_voicegw_proxy_ctx_t *ctx,
    ngx_voicegw_record_t *rec)
{
    double                channels;
    ngx_voicegw_units_t  *u;

    u = ctx->usage ? ngx_voicegw_usage_units(ctx->usage) : NULL;

    switch (ctx->modality) {

    case NGX_VOICEGW_MODALITY_STT:
        if (u && u->seconds >= 0) {
            channels = u->channels > 1 ? u->channels : 1;
            rec->input_units = u->seconds * channels / 60;

        } else if (u && u->input_tokens >= 0) {
            /* OpenAI's token-billed transcription */
            ctx->stt_tokens = 1;
            rec->input_units = u->input_tokens;

            if (u->output_tokens >= 0) {
                rec->output_units = u->output_tokens;
            }

        } else if (ctx->audio_seconds >= 0) {
            rec->input_units = ctx->audio_seconds / 60;
            rec->flags |= NGX_VOICEGW_RECORD_ESTIMATED;

        } else if (rec->status == NGX_VOICEGW_STATUS_SUCCESS) {
            rec->flags |= NGX_VOICEGW_RECORD_UNKNOWN_UNITS;
        }

        break;

    case NGX_VOICEGW_MODALITY_TTS:
        /*
         * the request's characters; beside them (output) what the
         * provider says it billed: ElevenLabs' character-cost (credits),
         * Deepgram's dg-char-count
         */

        rec->input_units = ctx->characters > 0 ? ctx->characters
                                               : ctx->character_cost;

        if (ctx->character_cost >= 0) {
            rec->output_units = ctx->character_cost;
        }

        break;

    default:
        if (u == NULL || (u->input_tokens < 0 && u->output_tokens < 0)) {

            if (ctx->modality == NGX_VOICEGW_MODALITY_LLM
                && rec->status == NGX_VOICEGW_STATUS_SUCCESS)
            {
                rec->flags |= NGX_VOICEGW_RECORD_NO_USAGE;
            }

            break;
        }

        if (u->input_tokens >= 0) {
            rec->input_units = u->input_tokens;
        }

        if (ctx->dialect == NGX_VOICEGW_DIALECT_ANTHROPIC) {
            /* Anthropic counts cache reads and writes apart from input */

            if (u->cached_tokens > 0) {
                rec->input_units += u->cached_tokens;
            }

            if (u->cache_write_tokens > 0) {
                rec->input_units += u->cache_write_tokens;
            }
        }

        if (u->output_tokens >= 0) {
            rec->output_units = u->output_tokens;
        }

        break;
    }

    if (rec->input_units < 0) {
        rec->input_units = 0;
    }
}


/*
 * The price of the units: the model's own prices (nginx.conf or the API),
 * else, when it has none for the call's unit, the price catalogue's row of
 * the provider's type and the model as the client named it, else nothing
 * (cost 0, unpriced).  Cache reads are charged at the cached-token price
 * where there is one: they are part of the input units in every dialect.
 */

void
ngx_voicegw_proxy_cost(ngx_voicegw_proxy_ctx_t *ctx,
    ngx_voicegw_record_t *rec)
{
    double                price[NGX_VOICEGW_CATALOG_NPRICES];
    ngx_uint_t            priced, kind;
    ngx_voicegw_units_t  *u;

    /* a transcription billed in tokens is priced as tokens */

    kind = ctx->stt_tokens ? NGX_VOICEGW_MODALITY_LLM : ctx->modality;

    priced = ngx_voicegw_proxy_prices(ctx, &rec->model,
                                      ngx_voicegw_proxy_unit(kind), price);

    if (priced == 0) {
        rec->flags |= NGX_VOICEGW_RECORD_UNPRICED;
        return;
    }

    u = ctx->usage ? ngx_voicegw_usage_units(ctx->usage) : NULL;

    rec->cost_usd = ngx_voicegw_proxy_price_units(kind, price, priced,
                                                  rec->input_units,
                                                  rec->output_units,
                                                  u ? u->cached_tokens : 0);
}


/* the prices a modality's units are billed by */

ngx_uint_t
ngx_voicegw_proxy_unit(ngx_uint_t kind)
{
    switch (kind) {

    case NGX_VOICEGW_MODALITY_STT:
        return 1 << NGX_VOICEGW_PRICE_MINUTE;

    case NGX_VOICEGW_MODALITY_TTS:
        return 1 << NGX_VOICEGW_PRICE_CHARACTER;

    default:
        return 1 << NGX_VOICEGW_PRICE_INPUT | 1 << NGX_VOICEGW_PRICE_OUTPUT;
    }
}


/*
 * What units cost at these prices: STT minutes, TTS characters, tokens
 * (input, of which "cached" were cache reads, and output) per 1k.
 */

double
ngx_voicegw_proxy_price_units(ngx_uint_t kind, double *price,
    ngx_uint_t priced, double input, double output, double cached)
{
    switch (kind) {

    case NGX_VOICEGW_MODALITY_STT:
        return input * price[NGX_VOICEGW_PRICE_MINUTE];

    case NGX_VOICEGW_MODALITY_TTS:
        return input * price[NGX_VOICEGW_PRICE_CHARACTER];

    default:
        if (cached < 0 || !(priced & 1 << NGX_VOICEGW_PRICE_CACHED)) {
            cached = 0;
        }

        cached = ngx_min(cached, input);

        return (input - cached) / 1000 * price[NGX_VOICEGW_PRICE_INPUT]
               + cached / 1000 * price[NGX_VOICEGW_PRICE_CACHED]
               + output / 1000 * price[NGX_VOICEGW_PRICE_OUTPUT];
    }
}


/*
 * The prices of a model for a unit (a mask of NGX_VOICEGW_PRICE_* bits):
 * its own (nginx.conf or the API), else the price catalogue's row of the
 * provider's type and the model as the client named it.  Returns which
 * prices are set (0: unpriced); price has NGX_VOICEGW_CATALOG_NPRICES.
 */

ngx_uint_t
ngx_voicegw_proxy_prices(ngx_voicegw_proxy_ctx_t *ctx, ngx_str_t *model,
    ngx_uint_t unit, double *price)
{
    ngx_voicegw_model_view_t          m;
    const ngx_voicegw_catalog_row_t  *row;

    ngx_memzero(price, NGX_VOICEGW_CATALOG_NPRICES * sizeof(double));

    if (ngx_voicegw_entity_cache_model(ctx->vmcf->proc.entities, model, &m)
        == NGX_OK
        && (m.priced & unit))
    {
        ngx_memcpy(price, m.price, sizeof(m.price));
        return m.priced;
    }

    row = ngx_voicegw_catalog_find(ctx->vmcf->catalog,
                                   ctx->provider.type->name, &ctx->model);

    if (row == NULL || !(row->priced & unit)) {
        return 0;
    }

    ngx_memcpy(price, row->price, sizeof(row->price));

    return row->priced;
}
