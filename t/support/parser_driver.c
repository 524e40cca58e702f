
/*
 * t/support/parser_driver.c
 *
 * Drives the proxy's stream parsers (ngx_voicegw_module/proxy/) outside
 * nginx, for t/050-parsers.t: reads a file of bytes, feeds it in pieces
 * by a split policy, and prints what the parser learned as one JSON line.
 * Every run of a policy must print the same line; when two runs differ it
 * prints {"mismatch": ...} with the first split that did.
 *
 *   parser_driver usage <dialect> sse|json <file> <policy>
 *   parser_driver request <file> <policy>
 *   parser_driver wav <file> <policy>
 *   parser_driver multipart <content-type> <file> <policy>
 *   parser_driver strip <options> <expected-file> <file> <policy>
 *   parser_driver scan
 *   parser_driver bench
 *
 * Policies: whole; bytes (one byte at a time); all2[:stride[:near]] (every
 * split into two pieces within near bytes (4096) of either end, every
 * stride-th between); random:<seed>[:<rounds>] (pieces of 1 to 97 bytes);
 * events (each piece ends with a blank line, "\n\n" or "\r\n\r\n");
 * abort:<n> (n bytes, then the pool is destroyed without end(): nothing
 * may leak, which AddressSanitizer checks).  Several policies joined by
 * '+' run in turn, a line each.
 *
 * "strip" plays nginx around the SSE strip filter: the pieces are the
 * upstream's reads into one buffer of STRIP_UPSTREAM bytes, each a buf
 * of its own handed to the filter, and a writer that sends what the
 * filter passes on (pos = last) after each call; the upstream takes back
 * the bufs of size 0 and, when none is left in flight, reuses its buffer
 * (filled with 0xee first, so that a byte read from it after that shows).
 * It prints whether the client got the expected file, and the faults
 * seen in the chains.  Options, letters of one word ("-" for none):
 * m two reads a call, s the writer sends every third call only, l
 * last_buf on the last read (else a buf of its own, as nginx 1.22 ends a
 * stream that is not buffered), e last_buf on an empty buf in memory, b
 * a 256 KiB upstream buffer, f count the calls whose chain is not the
 * upstream's own.
 *
 * The nginx functions the parsers call are stood in for by
 * t/support/ngx_standin.c: pool memory is malloc()ed and freed, cleanups
 * run, when the pool goes.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <malloc.h>
#include <time.h>

#include "ngx_voicegw_usage.h"
#include "ngx_voicegw_reqscan.h"
#include "ngx_voicegw_wav.h"
#include "ngx_voicegw_multipart.h"
#include "ngx_voicegw_sse_strip.h"
#include "ngx_voicegw_scan.h"
#include "ngx_standin.h"
#include "parser_ops.h"


#define STRIP_UPSTREAM  4096
#define STRIP_QUEUE     256
#define STRIP_OWN       8


static int policies(driver_ops_t *ops, const char *file, char *list);
static int policy(driver_ops_t *ops, const char *file, const char *how);


static const char  *dialect_names[] = {
    "openai", "anthropic", "gemini", "deepgram", "cartesia", "assemblyai",
    "elevenlabs", NULL
};

static const char  *strip_options;
static ngx_str_t    strip_expected;
static ngx_str_t    strip_input;


/* -- the SSE strip filter between an upstream and a writer ------------- */

typedef struct {
    ngx_pool_t               *pool;
    ngx_voicegw_sse_strip_t  *strip;

    /* the upstream: its buffer, the bufs read into it */
    u_char                   *mem;
    size_t                    size;
    size_t                    used;
    ngx_chain_t              *pending;      /* read, not handed over yet */
    ngx_uint_t                npending;
    ngx_chain_t              *busy;         /* handed over, not sent */
    ngx_chain_t              *free;

    /* the writer, and what the client got */
    ngx_buf_t                *queue[STRIP_QUEUE];
    ngx_uint_t                nqueue;
    size_t                    passed;       /* bytes handed over */
    size_t                    scanned;      /* of them, for blank lines */
    size_t                    boundary;     /* after the last one */
    size_t                    got;
    size_t                    differs_at;
    ngx_uint_t                differs;

    /* what was seen */
    ngx_buf_t                *own[STRIP_OWN];   /* the filter's bufs */
    ngx_uint_t                nown;
    ngx_uint_t                calls;
    ngx_uint_t                rebuilt;          /* out was not in */
    ngx_uint_t                faults;
    char                      fault[128];
    unsigned                  ended:1;
} strip_ctx_t;


static void strip_call(strip_ctx_t *c);


static ngx_uint_t
strip_option(int o)
{
    return strchr(strip_options, o) != NULL;
}


static void
strip_fault(strip_ctx_t *c, const char *what)
{
    if (c->faults++ == 0) {
        snprintf(c->fault, sizeof(c->fault), "%s, call %lu", what,
                 (unsigned long) c->calls);
    }
}


static void *
strip_create(ngx_pool_t *pool)
{
    strip_ctx_t  *c;

    c = ngx_pcalloc(pool, sizeof(strip_ctx_t));
    if (c == NULL) {
        return NULL;
    }

    c->pool = pool;
    c->size = strip_option('b') ? 256 * 1024 : STRIP_UPSTREAM;
    c->mem = ngx_palloc(pool, c->size);
    c->strip = ngx_voicegw_sse_strip_create(pool);

    if (c->mem == NULL || c->strip == NULL) {
        return NULL;
    }

    return c;
}


/* one read of the upstream: a buf of its own, into the upstream's buffer */

static ngx_buf_t *
strip_read(strip_ctx_t *c, u_char *p, size_t len)
{
    ngx_buf_t     *b;
    ngx_chain_t   *cl, **ll;

    cl = c->free;

    if (cl) {
        c->free = cl->next;

    } else {
        cl = ngx_alloc_chain_link(c->pool);
        if (cl == NULL || (cl->buf = ngx_calloc_buf(c->pool)) == NULL) {
            fprintf(stderr, "no memory\n");
            exit(2);
        }
    }

    /* as ngx_http_proxy_non_buffered_copy_filter() sets it */

    b = cl->buf;
    b->pos = c->mem + c->used;
    b->last = ngx_cpymem(b->pos, p, len);
    b->temporary = 1;
    b->flush = 1;
    b->last_buf = 0;
    b->tag = (ngx_buf_tag_t) c;

    c->used += len;

    cl->next = NULL;

    for (ll = &c->pending; *ll; ll = &(*ll)->next) { /* void */ }

    *ll = cl;
    c->npending++;

    return b;
}


/* the writer sends all it has been given: the client gets the bytes */

static void
strip_send(strip_ctx_t *c)
{
    size_t      len, i;
    ngx_buf_t  *b;
    ngx_uint_t  q;

    for (q = 0; q < c->nqueue; q++) {
        b = c->queue[q];

        if (!ngx_buf_in_memory(b)) {
            continue;
        }

        len = b->last - b->pos;

        for (i = 0; i < len && !c->differs; i++) {
            if (c->got + i >= strip_expected.len
                || b->pos[i] != strip_expected.data[c->got + i])
            {
                c->differs = 1;
                c->differs_at = c->got + i;
            }
        }

        c->got += len;
        b->pos = b->last;
    }

    c->nqueue = 0;
}


/* the upstream takes back its bufs of size 0, in order, then its buffer */

static void
strip_update(strip_ctx_t *c)
{
    ngx_chain_t  *cl;

    while (c->busy && ngx_buf_size(c->busy->buf) == 0) {
        cl = c->busy;
        c->busy = cl->next;
        cl->next = c->free;
        c->free = cl;
    }

    if (c->busy == NULL && c->pending == NULL && c->used) {
        ngx_memset(c->mem, 0xee, c->used);
        c->used = 0;
    }
}


static void
strip_own(strip_ctx_t *c, ngx_buf_t *b)
{
    ngx_uint_t  i;

    for (i = 0; i < ngx_min(c->nown, STRIP_OWN); i++) {
        if (c->own[i] == b) {
            return;
        }
    }

    if (c->nown < STRIP_OWN) {
        c->own[c->nown] = b;
    }

    c->nown++;
}


/* the pending reads through the filter, what it gives to the writer */

static void
strip_call(strip_ctx_t *c)
{
    u_char        *d;
    ngx_buf_t     *b;
    ngx_uint_t     n, i, in_flush, in_last, out_flush;
    ngx_chain_t   *in, *out, *cl, **ll, *links[4], *nexts[4];

    in = c->pending;

    if (in == NULL) {
        return;
    }

    c->pending = NULL;
    c->npending = 0;

    n = 0;
    in_flush = 0;
    in_last = 0;

    for (cl = in; cl; cl = cl->next) {
        links[n] = cl;
        nexts[n++] = cl->next;
        in_flush |= cl->buf->flush;
        in_last |= cl->buf->last_buf;
        c->passed += ngx_buf_size(cl->buf);
    }

    c->calls++;

    if (ngx_voicegw_sse_strip(c->strip, in, &out) != NGX_OK) {
        strip_fault(c, "NGX_ERROR");
    }

    for (i = 0; i < n; i++) {
        if (links[i]->next != nexts[i]) {
            strip_fault(c, "the upstream's chain changed");
        }
    }

    if (out != in) {
        c->rebuilt++;
    }

    out_flush = 0;

    for (cl = out; cl; cl = cl->next) {
        b = cl->buf;

        for (i = 0; out != in && i < n; i++) {
            if (cl == links[i]) {
                strip_fault(c, "an upstream link in the filter's chain");
            }
        }

        if (ngx_buf_size(b) == 0 && !ngx_buf_special(b)) {
            strip_fault(c, "zero size buf in writer");
        }

        if (ngx_buf_in_memory(b) && (b->pos > b->last || b->pos == NULL)) {
            strip_fault(c, "a buf of negative size");
        }

        if (c->ended) {
            strip_fault(c, "a buf after last_buf");
        }

        c->ended |= b->last_buf;
        out_flush |= b->flush;

        if (b->tag != (ngx_buf_tag_t) c) {
            strip_own(c, b);
        }

        if (c->nqueue == STRIP_QUEUE) {
            strip_send(c);
        }

        c->queue[c->nqueue++] = b;
    }

    if (in_flush && !out_flush) {
        strip_fault(c, "flush lost");
    }

    if (in_last && !c->ended) {
        strip_fault(c, "last_buf lost");
    }

    /* the upstream's links are in flight now */

    for (ll = &c->busy; *ll; ll = &(*ll)->next) { /* void */ }

    *ll = in;

    if (!strip_option('s') || c->calls % 3 == 0) {
        strip_send(c);

        /* nothing is held back but the unfinished event */

        for ( /* void */ ; c->scanned < c->passed; c->scanned++) {
            d = strip_input.data + c->scanned;

            if (d[0] == '\n'
                && ((c->scanned >= 1 && d[-1] == '\n')
                    || (c->scanned >= 3
                        && ngx_memcmp(d - 3, "\r\n\r\n", 4) == 0)))
            {
                c->boundary = c->scanned + 1;
            }
        }

        if (c->passed - c->got > c->passed - c->boundary
                                 + strip_input.len - strip_expected.len)
        {
            strip_fault(c, "bytes held back");
        }
    }

    strip_update(c);
}


static void
strip_feed(void *parser, u_char *p, size_t len)
{
    strip_ctx_t  *c = parser;

    size_t      n;
    ngx_uint_t  group, defer;

    group = strip_option('m') ? 2 : 1;
    defer = strip_option('l');

    while (len) {

        if (c->used == c->size) {
            strip_call(c);
            strip_send(c);
            strip_update(c);

            if (c->used == c->size) {
                strip_fault(c, "the upstream's buffer stays full");
                return;
            }
        }

        if (defer && c->npending == group) {
            strip_call(c);
        }

        n = ngx_min(len, c->size - c->used);
        (void) strip_read(c, p, n);

        if (!defer && c->npending == group) {
            strip_call(c);
        }

        p += n;
        len -= n;
    }
}


static void
strip_end(void *parser)
{
    strip_ctx_t  *c = parser;

    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (strip_option('e') || (strip_option('l') && c->pending == NULL)) {
        (void) strip_read(c, (u_char *) "", 0);
    }

    if (c->pending && (strip_option('e') || strip_option('l'))) {
        for (cl = c->pending; cl->next; cl = cl->next) { /* void */ }

        cl->buf->last_buf = 1;
        strip_call(c);

    } else {
        strip_call(c);

        /* as ngx_http_send_special() ends it */

        cl = ngx_alloc_chain_link(c->pool);
        b = ngx_calloc_buf(c->pool);

        if (cl == NULL || b == NULL) {
            fprintf(stderr, "no memory\n");
            exit(2);
        }

        b->last_buf = 1;
        b->tag = (ngx_buf_tag_t) c;
        cl->buf = b;
        cl->next = NULL;
        c->pending = cl;
        strip_call(c);
    }

    strip_send(c);
}


static void
strip_print(void *parser, char *out)
{
    strip_ctx_t  *c = parser;

    if (!c->differs && c->got == strip_expected.len) {
        out += sprintf(out, "{\"same\":1");

    } else {
        out += sprintf(out, "{\"same\":0,\"differs_at\":%zu,\"got\":%zu,"
                       "\"expected\":%zu",
                       c->differs ? c->differs_at : c->got, c->got,
                       strip_expected.len);
    }

    out += sprintf(out, ",\"faults\":%lu", (unsigned long) c->faults);

    if (c->faults) {
        out += sprintf(out, ",\"fault\":\"%s\"", c->fault);
    }

    if (c->nown <= STRIP_OWN) {
        out += sprintf(out, ",\"own_bufs\":\"few\"");

    } else {
        out += sprintf(out, ",\"own_bufs\":%lu", (unsigned long) c->nown);
    }

    if (strip_option('f')) {
        out += sprintf(out, ",\"rebuilt\":%lu", (unsigned long) c->rebuilt);
    }

    sprintf(out, "}");
}


static driver_ops_t  strip_ops = {
    strip_create, strip_feed, strip_end, strip_print
};


/* -- runs -------------------------------------------------------------- */

static uint64_t  rnd_state;


static ngx_uint_t
rnd(ngx_uint_t n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;

    return (ngx_uint_t) (rnd_state % n);
}


/*
 * One run: the pieces end at cuts[0..ncuts) (ascending, the last one at
 * len).  Each piece is copied into a buffer of its own size, so that
 * AddressSanitizer sees a read past a piece.
 */

static void
run(driver_ops_t *ops, u_char *data, size_t *cuts, size_t ncuts,
    ngx_uint_t finish, char *out)
{
    void        *parser;
    u_char      *piece;
    size_t       i, from;
    ngx_pool_t  *pool;

    pool = ngx_standin_pool_create();
    parser = ops->create(pool);

    if (parser == NULL) {
        fprintf(stderr, "create failed\n");
        exit(2);
    }

    from = 0;

    for (i = 0; i < ncuts; i++) {
        piece = malloc(cuts[i] - from + 1);
        ngx_memcpy(piece, data + from, cuts[i] - from);
        ops->feed(parser, piece, cuts[i] - from);
        free(piece);
        from = cuts[i];
    }

    if (finish) {
        ops->end(parser);
        ops->print(parser, out);

    } else {
        sprintf(out, "{\"aborted\":%zu}", from);
    }

    ngx_standin_pool_destroy(pool);
}


static u_char *
read_file(const char *name, size_t *len)
{
    FILE    *f;
    long     size;
    u_char  *data;

    f = fopen(name, "rb");
    if (f == NULL) {
        perror(name);
        exit(2);
    }

    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);

    data = malloc(size + 1);
    if (data == NULL || fread(data, 1, size, f) != (size_t) size) {
        fprintf(stderr, "%s: cannot read\n", name);
        exit(2);
    }

    fclose(f);
    *len = size;

    return data;
}


static int
policies(driver_ops_t *ops, const char *file, char *list)
{
    int    rc;
    char  *how, *next;

    rc = 0;

    for (how = list; how; how = next) {
        next = strchr(how, '+');

        if (next) {
            *next++ = '\0';
        }

        rc |= policy(ops, file, how);
    }

    return rc;
}


static int
policy(driver_ops_t *ops, const char *file, const char *how)
{
    int          rc;
    char         first[DRIVER_OUT], out[DRIVER_OUT];
    u_char      *data;
    size_t       len, k, n, *cuts, stride, near;
    ngx_uint_t   r, rounds;

    data = read_file(file, &len);
    cuts = malloc((len + 2) * sizeof(size_t));

    if (strcmp(how, "whole") == 0) {
        cuts[0] = len;
        run(ops, data, cuts, 1, 1, first);

    } else if (strcmp(how, "bytes") == 0) {
        for (k = 0; k < len; k++) {
            cuts[k] = k + 1;
        }

        run(ops, data, cuts, len, 1, first);

    } else if (strncmp(how, "all2", 4) == 0) {
        stride = (how[4] == ':') ? (size_t) atol(how + 5) : 1;
        near = (how[4] == ':' && strchr(how + 5, ':'))
               ? (size_t) atol(strchr(how + 5, ':') + 1) : 4096;

        if (stride == 0) {
            stride = 1;
        }

        for (k = 0; k <= len; k += (k < near || len - k <= near) ? 1 : stride)
        {
            cuts[0] = k;
            cuts[1] = len;
            run(ops, data, cuts, 2, 1, k ? out : first);

            if (k && strcmp(out, first) != 0) {
                printf("{\"mismatch\":\"split at %zu\",\"first\":%s,"
                       "\"got\":%s}\n", k, first, out);
                rc = 1;
                goto failed;
            }
        }

    } else if (strncmp(how, "random:", 7) == 0) {
        rnd_state = (uint64_t) atol(how + 7) * 2654435761u + 1;
        rounds = strchr(how + 7, ':') ? atol(strchr(how + 7, ':') + 1) : 20;

        for (r = 0; r < rounds; r++) {
            for (k = 0, n = 0; k < len; n++) {
                k += 1 + rnd(rnd(8) ? 13 : 97);
                cuts[n] = ngx_min(k, len);
            }

            run(ops, data, cuts, n, 1, r ? out : first);

            if (r && strcmp(out, first) != 0) {
                printf("{\"mismatch\":\"random round %lu\",\"first\":%s,"
                       "\"got\":%s}\n", (unsigned long) r, first, out);
                rc = 1;
                goto failed;
            }
        }

    } else if (strcmp(how, "events") == 0) {
        n = 0;

        for (k = 2; k <= len; k++) {
            if (data[k - 1] == '\n'
                && (data[k - 2] == '\n'
                    || (k >= 4 && ngx_memcmp(data + k - 4, "\r\n\r\n", 4)
                                  == 0)))
            {
                cuts[n++] = k;
            }
        }

        if (n == 0 || cuts[n - 1] != len) {
            cuts[n++] = len;
        }

        run(ops, data, cuts, n, 1, first);

    } else if (strncmp(how, "abort:", 6) == 0) {
        n = 0;

        for (k = 0; k < ngx_min((size_t) atol(how + 6), len); n++) {
            k = ngx_min(k + 7, ngx_min((size_t) atol(how + 6), len));
            cuts[n] = k;
        }

        run(ops, data, cuts, n, 0, first);

    } else {
        fprintf(stderr, "unknown policy \"%s\"\n", how);
        rc = 2;
        goto failed;
    }

    printf("%s\n", first);
    rc = 0;

failed:

    free(cuts);
    free(data);

    return rc;
}


/* -- timing ------------------------------------------------------------ */

static double
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e9 + ts.tv_nsec;
}


/* ns per event: the same event fed n times, one feed per event */

static double
bench_events(ngx_uint_t dialect, const char *event, ngx_uint_t n)
{
    double                t;
    size_t                len;
    ngx_uint_t            i;
    ngx_pool_t           *pool;
    ngx_voicegw_usage_t  *u;

    pool = ngx_standin_pool_create();
    u = ngx_voicegw_usage_create(pool, dialect, 1);
    len = strlen(event);

    t = now_ns();

    for (i = 0; i < n; i++) {
        (void) ngx_voicegw_usage_feed(u, (u_char *) event, len);
    }

    t = (now_ns() - t) / n;

    ngx_voicegw_usage_end(u);
    ngx_standin_pool_destroy(pool);

    return t;
}


/* ns per event through the strip filter: a complete event a read */

static double
bench_strip(const char *event, ngx_uint_t n)
{
    double                    t;
    size_t                    len;
    u_char                   *data;
    ngx_buf_t                 b;
    ngx_uint_t                i;
    ngx_pool_t               *pool;
    ngx_chain_t               cl, *out;
    ngx_voicegw_sse_strip_t  *s;

    pool = ngx_standin_pool_create();
    s = ngx_voicegw_sse_strip_create(pool);
    len = strlen(event);
    data = (u_char *) strdup(event);

    ngx_memzero(&b, sizeof(ngx_buf_t));
    b.temporary = 1;
    b.flush = 1;
    cl.buf = &b;
    cl.next = NULL;

    t = now_ns();

    for (i = 0; i < n; i++) {
        b.pos = data;
        b.last = data + len;

        if (ngx_voicegw_sse_strip(s, &cl, &out) != NGX_OK || out != &cl) {
            fprintf(stderr, "the strip filter changed a content event\n");
            exit(2);
        }
    }

    t = (now_ns() - t) / n;

    free(data);
    ngx_standin_pool_destroy(pool);

    return t;
}


static int
bench(void)
{
    char        *big, *p;
    double       t;
    size_t       i, size;
    ngx_pool_t  *pool;

    static const char  *content =
        "data: {\"id\":\"chatcmpl-B9MBs8CjcvOU2j\","
        "\"object\":\"chat.completion.chunk\",\"created\":1741570283,"
        "\"model\":\"gpt-4o-mini\",\"choices\":[{\"delta\":"
        "{\"content\":\" world\"}}]}\n\n";

    static const char  *content_null =
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
        "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":"
        "{\"content\":\" world\"},\"finish_reason\":null}],"
        "\"usage\":null}\n\n";

    static const char  *usage =
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
        "\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{"
        "\"prompt_tokens\":13,\"completion_tokens\":18,\"total_tokens\":31,"
        "\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n";

    static const char  *gemini =
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": "
        "\" world\"}],\"role\": \"model\"},\"index\": 0}],"
        "\"usageMetadata\": {\"promptTokenCount\": 8,"
        "\"candidatesTokenCount\": 2,\"totalTokenCount\": 10},"
        "\"modelVersion\": \"gemini-2.5-flash\"}\r\n\r\n";

    printf("{\"content_bytes\":%zu,", strlen(content));
    printf("\"content_ns\":%.0f,",
           bench_events(NGX_VOICEGW_DIALECT_OPENAI, content, 2000000));
    printf("\"content_usage_null_ns\":%.0f,",
           bench_events(NGX_VOICEGW_DIALECT_OPENAI, content_null, 2000000));
    printf("\"usage_event_ns\":%.0f,",
           bench_events(NGX_VOICEGW_DIALECT_OPENAI, usage, 200000));
    printf("\"gemini_chunk_ns\":%.0f,",
           bench_events(NGX_VOICEGW_DIALECT_GEMINI, gemini, 200000));
    printf("\"strip_content_ns\":%.0f,", bench_strip(content, 2000000));
    printf("\"strip_usage_null_ns\":%.0f,",
           bench_strip(content_null, 2000000));

    /* one 4 MiB response.completed event, fed in 16 KiB reads */

    size = 4 * 1024 * 1024;
    big = malloc(size + 1024);
    p = big + sprintf(big, "event: response.completed\ndata: {\"type\":"
                      "\"response.completed\",\"response\":{\"output\":["
                      "{\"content\":[{\"type\":\"output_text\",\"text\":\"");

    while ((size_t) (p - big) < size) {
        p += sprintf(p, "Lorem ipsum dolor sit amet, \\\"quoted\\\" %zu. ",
                     (size_t) (p - big));
    }

    p += sprintf(p, "\"}]}],\"usage\":{\"input_tokens\":37,"
                 "\"output_tokens\":11}}}\n\n");

    pool = ngx_standin_pool_create();
    {
        ngx_voicegw_usage_t  *u;

        u = ngx_voicegw_usage_create(pool, NGX_VOICEGW_DIALECT_OPENAI, 1);

        t = now_ns();

        for (i = 0; i < (size_t) (p - big); i += 16384) {
            (void) ngx_voicegw_usage_feed(u, (u_char *) big + i,
                                   ngx_min(16384, (size_t) (p - big) - i));
        }

        ngx_voicegw_usage_end(u);
        t = now_ns() - t;

        printf("\"big_event_mb_per_s\":%.0f,\"big_event_output\":%.0f}\n",
               (p - big) / t * 1e3, ngx_voicegw_usage_units(u)->output_tokens);
    }

    ngx_standin_pool_destroy(pool);
    free(big);

    return 0;
}


/*
 * The memory of one usage parser over a long stream: 100,000 usage events,
 * each cut in two reads (yajl holds a token across them), after 1,000 to
 * warm up.  What malloc() holds (mallinfo2(): the stand-in pools are
 * malloc()ed too) must not grow with the events; prints the growth and
 * the last event's output tokens.
 */

static int
heap_check(void)
{
    size_t                len, cut, before, after;
    ngx_uint_t            i;
    ngx_pool_t           *pool;
    ngx_voicegw_usage_t  *u;

    static const char  *event =
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
        "\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{"
        "\"prompt_tokens\":13,\"completion_tokens\":18,\"total_tokens\":31,"
        "\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n";

    pool = ngx_standin_pool_create();
    u = ngx_voicegw_usage_create(pool, NGX_VOICEGW_DIALECT_OPENAI, 1);

    len = strlen(event);
    cut = strstr(event, "_tokens\":18") - event;
    before = 0;

    for (i = 0; i < 101000; i++) {
        if (i == 1000) {
            before = mallinfo2().uordblks;
        }

        (void) ngx_voicegw_usage_feed(u, (u_char *) event, cut);
        (void) ngx_voicegw_usage_feed(u, (u_char *) event + cut, len - cut);
    }

    after = mallinfo2().uordblks;

    ngx_voicegw_usage_end(u);

    printf("{\"events\":%lu,\"growth\":%ld,\"output\":%.0f}\n",
           (unsigned long) i, (long) after - (long) before,
           ngx_voicegw_usage_units(u)->output_tokens);

    ngx_standin_pool_destroy(pool);

    return 0;
}


/*
 * ngx_voicegw_scan_find() with and without AVX2 against memmem(): random
 * bytes from a small alphabet (the key's letters, so that near misses
 * abound) at every length 0 to 400 and every alignment of a 16-byte
 * window, each buffer malloc()ed to its exact length (AddressSanitizer
 * sees a read past its end).  Prints the counts; 1 on a difference.
 */

static int
scan_check(void)
{
    u_char      *buf, *want, *got, *key;
    size_t       len, klen, off;
    uint32_t     seed;
    ngx_uint_t   k, round, avx2, tried, found, with_avx2;

    static const char  *keys[] = { "\"usage", "\"usageMetadata", "ab", "\"ab",
                                   "\"audio_duration", "\n\n", NULL };
    static const char   alphabet[] = "\"usageMtdab\n x";

    seed = 12345;
    tried = 0;
    found = 0;
    with_avx2 = 0;

#if (NGX_VOICEGW_SCAN_AVX2)
    with_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
#endif

    for (len = 0; len <= 400; len++) {
        for (round = 0; round < 24; round++) {

            buf = malloc(len ? len : 1);
            if (buf == NULL) {
                return 2;
            }

            for (off = 0; off < len; off++) {
                seed = seed * 1103515245 + 12345;
                buf[off] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
            }

            for (k = 0; keys[k]; k++) {
                key = (u_char *) keys[k];
                klen = strlen(keys[k]);

                /* sometimes the key itself, somewhere */

                seed = seed * 1103515245 + 12345;

                if (len >= klen && (seed >> 16) % 3 == 0) {
                    off = (seed >> 8) % (len - klen + 1);
                    memcpy(buf + off, key, klen);
                }

                for (off = 0; off < 16 && off <= len; off++) {
                    want = memmem(buf + off, len - off, key, klen);

                    for (avx2 = 0; avx2 <= with_avx2; avx2++) {
                        got = ngx_voicegw_scan_find_with(buf + off,
                                                         buf + len, key,
                                                         klen, avx2);
                        tried++;

                        if (got != want) {
                            printf("{\"mismatch\":\"len %d off %d key %d "
                                   "avx2 %d: %d, memmem %d\"}\n",
                                   (int) len, (int) off, (int) k, (int) avx2,
                                   got ? (int) (got - buf) : -1,
                                   want ? (int) (want - buf) : -1);
                            free(buf);
                            return 1;
                        }

                        found += (got != NULL);
                    }
                }
            }

            free(buf);
        }
    }

    /*
     * ngx_voicegw_scan_string_end() and ngx_voicegw_scan_chars() against
     * byte loops: quotes, backslashes, UTF-8 lead and continuation bytes
     */

    for (len = 0; len <= 200; len++) {
        for (round = 0; round < 8; round++) {

            buf = malloc(len ? len : 1);
            if (buf == NULL) {
                return 2;
            }

            for (off = 0; off < len; off++) {
                seed = seed * 1103515245 + 12345;
                k = (seed >> 16) % 64;
                buf[off] = (k == 0) ? '"' : (k == 1) ? '\\'
                           : (k < 12) ? (u_char) (0x80 + k)
                           : (k < 16) ? (u_char) 0xc3 : (u_char) ('a' + k % 26);
            }

            for (off = 0; off < 16 && off <= len; off++) {
                size_t   chars, want_chars;
                u_char  *q;

                for (q = buf + off; q < buf + len && *q != '"' && *q != '\\';
                     q++)
                {
                    /* void */
                }

                got = ngx_voicegw_scan_string_end(buf + off, buf + len);
                chars = ngx_voicegw_scan_chars(buf + off, buf + len);

                want_chars = 0;

                for (want = buf + off; want < buf + len; want++) {
                    want_chars += ((*want & 0xc0) != 0x80);
                }

                tried++;

                if (got != q || chars != want_chars) {
                    printf("{\"mismatch\":\"string len %d off %d: end %d "
                           "(byte loop %d), chars %d (byte loop %d)\"}\n",
                           (int) len, (int) off, (int) (got - buf),
                           (int) (q - buf), (int) chars, (int) want_chars);
                    free(buf);
                    return 1;
                }
            }

            free(buf);
        }
    }

    printf("{\"tried\":%lu,\"found\":%lu,\"avx2\":%lu}\n",
           (unsigned long) tried, (unsigned long) found,
           (unsigned long) with_avx2);

    return 0;
}


int
main(int argc, char **argv)
{
    int         rc;
    ngx_uint_t  i;
    ngx_str_t   ct;

    if (argc == 2 && strcmp(argv[1], "bench") == 0) {
        return bench();
    }

    if (argc == 2 && strcmp(argv[1], "scan") == 0) {
        return scan_check();
    }

    if (argc == 2 && strcmp(argv[1], "heap") == 0) {
        return heap_check();
    }

    if (argc == 6 && strcmp(argv[1], "usage") == 0) {
        for (i = 0; dialect_names[i]; i++) {
            if (strcmp(argv[2], dialect_names[i]) == 0) {
                break;
            }
        }

        if (dialect_names[i] == NULL) {
            fprintf(stderr, "unknown dialect \"%s\"\n", argv[2]);
            return 2;
        }

        usage_dialect = i;
        usage_sse = (strcmp(argv[3], "sse") == 0);

        return policies(&usage_ops, argv[4], argv[5]);
    }

    if (argc == 4 && strcmp(argv[1], "request") == 0) {
        return policies(&request_ops, argv[2], argv[3]);
    }

    if (argc == 4 && strcmp(argv[1], "wav") == 0) {
        return policies(&wav_ops, argv[2], argv[3]);
    }

    if (argc == 5 && strcmp(argv[1], "multipart") == 0) {
        ct.data = (u_char *) argv[2];
        ct.len = strlen(argv[2]);

        if (ngx_voicegw_multipart_boundary(&ct, &multipart_boundary)
            != NGX_OK)
        {
            printf("{\"boundary\":null}\n");
            return 0;
        }

        return policies(&multipart_ops, argv[3], argv[4]);
    }

    if (argc == 6 && strcmp(argv[1], "strip") == 0) {
        strip_options = argv[2];
        strip_expected.data = read_file(argv[3], &strip_expected.len);
        strip_input.data = read_file(argv[4], &strip_input.len);

        rc = policies(&strip_ops, argv[4], argv[5]);

        free(strip_expected.data);
        free(strip_input.data);

        return rc;
    }

    fprintf(stderr, "usage: see the comment at the top of %s\n", __FILE__);

    return 2;
}
