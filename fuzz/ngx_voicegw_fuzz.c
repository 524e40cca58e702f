
/*
 * fuzz/ngx_voicegw_fuzz.c
 *
 * Owns the libFuzzer targets of the module's parsers (issue 13, point 2),
 * one binary per target, chosen at compile time (-DFUZZ_<TARGET>); they
 * run outside nginx on the stand-ins of t/support/ngx_standin.c, built
 * with AddressSanitizer and UndefinedBehaviorSanitizer by
 * "./build.sh fuzz" (fuzz/run.sh).
 *
 * Every stream parser is fed the input in pieces whose sizes come from
 * the input itself (its first bytes seed the split), as the network
 * splits reads: a parser must survive any split, and any bytes.
 *
 *   usage      the usage of a provider's answer: each dialect, SSE and
 *              whole JSON (proxy/ngx_voicegw_usage.c, jsonfeed.c)
 *   reqscan    a JSON request body (proxy/ngx_voicegw_reqscan.c)
 *   json       an API request body, parsed whole into a tree
 *              (core/ngx_voicegw_json_in.c)
 *   multipart  a form upload, its boundary from the input's first line
 *              (core/ngx_voicegw_multipart.c, wav.c)
 *   wav        a WAV header (core/ngx_voicegw_wav.c)
 *   strip      the usage-chunk strip filter of chat streams, its chains
 *              consumed as nginx's writer would
 *              (proxy/ngx_voicegw_sse_strip.c)
 *   wsframe    WebSocket frames from a client (masked) and from a server,
 *              with every payload unmasked and its "type" peeked
 *              (ws/ngx_voicegw_ws_frame.c)
 *   rtunits    a realtime session's frames, either way, read for their
 *              units by each provider's rules
 *              (realtime/ngx_voicegw_rt_units.c)
 *
 * What a request's URI brings and the ZIP writer have theirs in
 * ngx_voicegw_fuzz_api.c, what an operator writes in
 * ngx_voicegw_fuzz_conf.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdint.h>

#include "ngx_standin.h"
#include "parser_ops.h"


typedef struct {
    const uint8_t               *data;
    size_t                       size;
    uint32_t                     state;
} fuzz_split_t;


/* the next piece of the input: 1 to 97 bytes, or the rest */

static size_t
fuzz_piece(fuzz_split_t *s, u_char **p)
{
    size_t  n;

    if (s->size == 0) {
        return 0;
    }

    s->state ^= s->state << 13;
    s->state ^= s->state >> 17;
    s->state ^= s->state << 5;

    n = (s->state % 8 == 0) ? s->size : 1 + s->state % 97;
    n = ngx_min(n, s->size);

    *p = (u_char *) s->data;
    s->data += n;
    s->size -= n;

    return n;
}


/* the first bytes seed the split and the target's options */

static ngx_int_t
fuzz_split_init(fuzz_split_t *s, const uint8_t *data, size_t size,
    size_t head)
{
    if (size < head + 2) {
        return NGX_DECLINED;
    }

    s->state = (uint32_t) data[head] << 8 | data[head + 1] | 1;
    s->data = data + head + 2;
    s->size = size - head - 2;

    return NGX_OK;
}


/*
 * A stream parser fed the input after its head (head bytes of options,
 * then the split's seed), in pieces, through the glue the parser driver
 * of t/050 uses (t/support/parser_ops.c); ended unless the head's first
 * byte says the stream was cut off (bit 7), and what it learned printed.
 * With "compare", it is fed again whole, and the two must have learned
 * the same (what t/050 asserts of its cases): else the input is a crash.
 */

static int
fuzz_stream(driver_ops_t *ops, const uint8_t *data, size_t size, size_t head,
    ngx_uint_t compare)
{
    char           out[2][DRIVER_OUT];
    void          *parser;
    u_char        *p;
    size_t         n;
    ngx_uint_t     whole;
    ngx_pool_t    *pool;
    fuzz_split_t   s;

    for (whole = 0; whole < 1 + compare; whole++) {

        if (fuzz_split_init(&s, data, size, head) != NGX_OK) {
            return 0;
        }

        out[whole][0] = '\0';

        pool = ngx_standin_pool_create();
        parser = ops->create(pool);

        if (parser) {
            if (whole) {
                if (s.size) {
                    ops->feed(parser, (u_char *) s.data, s.size);
                }

            } else {
                while ((n = fuzz_piece(&s, &p))) {
                    ops->feed(parser, p, n);
                }
            }

            if (!(head && (data[0] & 0x80))) {
                ops->end(parser);
            }

            ops->print(parser, out[whole]);
        }

        ngx_standin_pool_destroy(pool);
    }

    if (compare && strcmp(out[0], out[1]) != 0) {
        fprintf(stderr, "in pieces: %s\nwhole:     %s\n", out[0], out[1]);
        abort();
    }

    return 0;
}


/* -- usage ------------------------------------------------------------- */

#if defined(FUZZ_USAGE)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }

    usage_dialect = (data[0] >> 1) % 7;
    usage_sse = data[0] & 1;

    return fuzz_stream(&usage_ops, data, size, 1, 1);
}


/* -- reqscan ----------------------------------------------------------- */

#elif defined(FUZZ_REQSCAN)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_stream(&request_ops, data, size, 0, 1);
}


/* -- multipart ---------------------------------------------------------- */

#elif defined(FUZZ_MULTIPART)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char  *nl;

    /* "boundary\n" then the body */

    nl = memchr(data, '\n', ngx_min(size, 72));

    if (nl == NULL || nl == data) {
        return 0;
    }

    multipart_boundary.data = (u_char *) data;
    multipart_boundary.len = nl - (u_char *) data;

    return fuzz_stream(&multipart_ops, nl + 1,
                       size - multipart_boundary.len - 1, 0, 0);
}


/* -- wav --------------------------------------------------------------- */

#elif defined(FUZZ_WAV)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_stream(&wav_ops, data, size, 0, 0);
}


/* -- json -------------------------------------------------------------- */

#elif defined(FUZZ_JSON)

#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"

/*
 * An API request body, whole, as the API parses it: a tree with the depth
 * limit, UTF-8 and escapes checked, numbers finite; every key looked up.
 */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                     err[256];
    ngx_uint_t                 i;
    ngx_pool_t                *pool;
    ngx_voicegw_json_value_t  *root;

    static const char  *keys[] = { "provider_id", "base_url", "api_key",
                                   "model", "daily_budget", "tags", NULL };

    pool = ngx_standin_pool_create();

    if (ngx_voicegw_json_parse(pool, (u_char *) data, size, &root, err,
                               sizeof(err))
        == NGX_OK)
    {
        for (i = 0; keys[i]; i++) {
            (void) ngx_voicegw_json_get(root, keys[i]);
        }

        (void) ngx_voicegw_json_type_name(root);
    }

    ngx_standin_pool_destroy(pool);

    return 0;
}


/* -- strip ------------------------------------------------------------- */

#elif defined(FUZZ_STRIP)

#include "ngx_voicegw_sse_strip.h"

/*
 * Each piece is a read of its own into a fresh buffer, as the upstream
 * hands them over; what the filter passes on is "sent" at once.  Every
 * byte of the pieces is checked to be one the filter may pass: the
 * filter must never pass memory that is not the input's or its own.
 */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                   *p;
    size_t                    n, total, passed;
    ngx_buf_t                *b;
    ngx_pool_t               *pool;
    ngx_chain_t              *in, *out, *cl;
    fuzz_split_t              s;
    ngx_voicegw_sse_strip_t  *st;

    if (fuzz_split_init(&s, data, size, 0) != NGX_OK) {
        return 0;
    }

    pool = ngx_standin_pool_create();
    st = ngx_voicegw_sse_strip_create(pool);
    total = 0;
    passed = 0;

    while (st && (n = fuzz_piece(&s, &p))) {
        b = ngx_create_temp_buf(pool, n);
        in = ngx_alloc_chain_link(pool);

        if (b == NULL || in == NULL) {
            break;
        }

        b->last = ngx_cpymem(b->pos, p, n);
        in->buf = b;
        in->next = NULL;
        b->last_buf = (s.size == 0);
        total += n;

        if (ngx_voicegw_sse_strip(st, in, &out) != NGX_OK) {
            break;
        }

        for (cl = out; cl; cl = cl->next) {
            if (ngx_buf_in_memory(cl->buf)) {
                passed += cl->buf->last - cl->buf->pos;
                cl->buf->pos = cl->buf->last;
            }
        }
    }

    /* the filter takes out, never adds */

    if (passed > total) {
        __builtin_trap();
    }

    ngx_standin_pool_destroy(pool);

    return 0;
}


/* -- wsframe ------------------------------------------------------------ */

#elif defined(FUZZ_WSFRAME)

#include "ngx_voicegw_ws.h"

static uint64_t  fuzz_payload;


static void
fuzz_watch(void *data, ngx_uint_t from_client, ngx_voicegw_ws_parser_t *p,
    u_char *pos, size_t len, ngx_uint_t end)
{
    u_char     buf[512], peek[NGX_VOICEGW_WS_PEEK];
    size_t     n;
    ngx_str_t  type;

    n = ngx_min(len, sizeof(buf));

    ngx_voicegw_ws_unmask(p, p->offset, buf, pos, n);
    (void) ngx_voicegw_ws_type(pos, n, p->masked ? p->mask : NULL, &type,
                               peek);

    fuzz_payload += len;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                   *p, frame[NGX_VOICEGW_WS_CLOSE_MAX];
    size_t                    n;
    fuzz_split_t              s;
    ngx_voicegw_ws_parser_t   ps;
    ngx_voicegw_ws_count_t    count;

    if (fuzz_split_init(&s, data, size, 0) != NGX_OK) {
        return 0;
    }

    ngx_memzero(&ps, sizeof(ngx_voicegw_ws_parser_t));
    ngx_memzero(&count, sizeof(ngx_voicegw_ws_count_t));
    ngx_voicegw_ws_next(&ps);
    fuzz_payload = 0;

    while ((n = fuzz_piece(&s, &p))) {
        if (ngx_voicegw_ws_count(&ps, p, p + n, &count, fuzz_watch, NULL)
            != NGX_OK)
        {
            break;
        }

        (void) ngx_voicegw_ws_frame_left(&ps);
        (void) ngx_voicegw_ws_frame_seen(&ps);
    }

    if (fuzz_payload > size || count.bytes > size) {
        __builtin_trap();
    }

    /* the gateway's own close frames, with any reason */

    n = ngx_voicegw_ws_close_frame(frame, 1008,
                                   size > 3 && data[2] == 'r'
                                   ? "budget exceeded" : "");

    return n > sizeof(frame) ? (__builtin_trap(), 0) : 0;
}


/* -- rtunits ------------------------------------------------------------ */

#elif defined(FUZZ_RTUNITS)

#include "ngx_voicegw_rt.h"

/*
 * The units of a realtime session read from its frames, as the relay's
 * watch hands them over (realtime/ngx_voicegw_rt_units.c): the head
 * chooses the provider and route, and whether the frames are the
 * client's or the provider's; the rest is a stream of frames.
 */

static const char  *fuzz_types[] = {
    "deepgram", "deepgram", "assemblyai", "elevenlabs", "cartesia", "openai"
};

static const char  *fuzz_paths[] = {
    "/v1/listen", "/v1/speak", "/v3/ws", "/v1/text-to-speech/v/stream-input",
    "/tts/websocket", "/v1/realtime"
};


static void
fuzz_watch(void *data, ngx_uint_t from_client, ngx_voicegw_ws_parser_t *p,
    u_char *pos, size_t len, ngx_uint_t end)
{
    ngx_voicegw_rt_units_t  *u = data;

    ngx_voicegw_rt_used_t  used;

    /* the watch says "provider"; the head says whose frames these are */

    (void) ngx_voicegw_rt_units_feed(u, p->masked, p, pos, len, end);
    ngx_voicegw_rt_units_used(u, 1000, &used);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                           *p;
    size_t                            n;
    ngx_pool_t                       *pool;
    fuzz_split_t                      s;
    ngx_http_request_t                r;
    ngx_voicegw_rt_used_t             used;
    ngx_voicegw_proxy_ctx_t           ctx;
    ngx_voicegw_rt_units_t           *u;
    ngx_voicegw_ws_parser_t           ps;
    ngx_voicegw_ws_count_t            count;
    ngx_voicegw_provider_type_t       type;

    if (fuzz_split_init(&s, data, size, 1) != NGX_OK) {
        return 0;
    }

    pool = ngx_standin_pool_create();

    ngx_memzero(&r, sizeof(ngx_http_request_t));
    ngx_memzero(&ctx, sizeof(ngx_voicegw_proxy_ctx_t));
    ngx_memzero(&type, sizeof(ngx_voicegw_provider_type_t));

    type.name = fuzz_types[data[0] % 6];
    ctx.provider.type = &type;
    ctx.rest.data = (u_char *) fuzz_paths[data[0] % 6];
    ctx.rest.len = ngx_strlen(ctx.rest.data);

    r.pool = pool;
    ngx_str_set(&r.args, "model=nova-3&encoding=linear16&sample_rate=16000"
                         "&channels=2&multichannel=true");

    u = ngx_voicegw_rt_units_create(&r, &ctx);

    if (u) {
        ngx_memzero(&ps, sizeof(ngx_voicegw_ws_parser_t));
        ngx_memzero(&count, sizeof(ngx_voicegw_ws_count_t));
        ngx_voicegw_ws_next(&ps);

        while ((n = fuzz_piece(&s, &p))) {
            if (ngx_voicegw_ws_count(&ps, p, p + n, &count, fuzz_watch, u)
                != NGX_OK)
            {
                break;
            }
        }

        ngx_voicegw_rt_units_used(u, 60000, &used);

        if (used.input < 0 || used.output < 0) {
            __builtin_trap();
        }
    }

    ngx_standin_pool_destroy(pool);

    return 0;
}

#else
#error "define FUZZ_USAGE, FUZZ_REQSCAN, FUZZ_JSON, FUZZ_MULTIPART, FUZZ_WAV, FUZZ_STRIP, FUZZ_WSFRAME or FUZZ_RTUNITS"
#endif
