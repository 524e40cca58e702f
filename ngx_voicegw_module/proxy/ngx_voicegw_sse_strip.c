
/*
 * ngx_voicegw_sse_strip.c
 *
 * Owns taking the usage-only event out of a chat completion stream: the
 * framing (a resumable scan for the blank line that ends an event), the
 * hold buffers of an event that spans reads, the decision on a complete
 * event, and the chain handed on.
 *
 * It must never pass a slice of an upstream buf while the buf itself
 * counts as sent: the upstream reuses a buf's memory once its size is
 * zero.  So an event is removed by moving the bytes inside its buf
 * (memmove, pos, last), and the unfinished event at the end of a buf is
 * copied out and cut off before the buf leaves; the copy goes out ahead
 * of the rest of its event once that has come and the event is kept.
 *
 * Nearly every event is kept, so that path is short: a key search
 * (ngx_voicegw_scan.h) looks for "usage" followed by an object over the
 * rest of the buf (every other chunk says "usage":null, or nothing), and
 * the events that end before such a place are kept without more ado;
 * only an event that has one is framed line by line (memchr()) and goes
 * to yajl, which decides.  Once the event is dropped, the chains
 * pass untouched.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <yajl/yajl_parse.h>

#include "ngx_voicegw_scan.h"
#include "ngx_voicegw_sse_strip.h"


#define NGX_VOICEGW_SSE_STRIP_FIRST_HOLD  1024
#define NGX_VOICEGW_SSE_STRIP_MAX_DEPTH   512

/* what starts at a place of the JSON text */
#define NGX_VOICEGW_SSE_STRIP_SCALAR      0
#define NGX_VOICEGW_SSE_STRIP_OBJECT      1
#define NGX_VOICEGW_SSE_STRIP_ARRAY       2

/* the top-level key whose value comes next */
#define NGX_VOICEGW_SSE_STRIP_OTHER       0
#define NGX_VOICEGW_SSE_STRIP_CHOICES     1
#define NGX_VOICEGW_SSE_STRIP_USAGE       2

/* what is known of the top-level "choices" */
#define NGX_VOICEGW_SSE_STRIP_NO_ARRAY    0   /* absent, or no array */
#define NGX_VOICEGW_SSE_STRIP_OPEN        1   /* an array, no item yet */
#define NGX_VOICEGW_SSE_STRIP_EMPTY       2


struct ngx_voicegw_sse_strip_s {
    ngx_pool_t                  *pool;
    ngx_log_t                   *log;

    ngx_buf_t                   *hold;      /* the event so far, or NULL */
    ngx_chain_t                 *holds;     /* every hold buf: free again
                                               once sent (pos == last) */
    ngx_buf_t                   *special;   /* the last flags-only buf */

    ngx_chain_t                 *free;      /* links for out */
    ngx_chain_t                 *busy;      /* the links of the last out */
    ngx_chain_t                **last;      /* the end of out, as built */

    /* where the scan is */
    unsigned                     line_start:1;
    unsigned                     cr:1;      /* a '\n' now ends nothing */
    unsigned                     blank:1;   /* a blank line ended by '\r':
                                               the event ends after the
                                               '\n' that may follow */
    unsigned                     passing:1; /* an event over the limit */
    unsigned                     done:1;    /* dropped, or given up */
};


/* the walk of an event's data by yajl */

typedef struct {
    ngx_uint_t                   depth;
    ngx_uint_t                   key;
    ngx_uint_t                   choices;
    unsigned                     usage:1;   /* "usage" is an object */
} ngx_voicegw_sse_strip_json_t;


static ngx_int_t ngx_voicegw_sse_strip_buf(ngx_voicegw_sse_strip_t *s,
    ngx_buf_t *b, ngx_buf_t **before);
static u_char *ngx_voicegw_sse_strip_scan(ngx_voicegw_sse_strip_t *s,
    u_char *p, u_char *last);
static ngx_int_t ngx_voicegw_sse_strip_keep(ngx_voicegw_sse_strip_t *s,
    u_char *p, size_t len);
static ngx_int_t ngx_voicegw_sse_strip_link(ngx_voicegw_sse_strip_t *s,
    ngx_buf_t *b);
static ngx_buf_t *ngx_voicegw_sse_strip_special(ngx_voicegw_sse_strip_t *s,
    ngx_buf_t *flags);
static ngx_uint_t ngx_voicegw_sse_strip_usage_only(u_char *p, u_char *last);
static u_char *ngx_voicegw_sse_strip_skip(u_char *p, u_char *last);
static u_char *ngx_voicegw_sse_strip_hit(u_char *p, u_char *last);
static int ngx_voicegw_sse_strip_value(ngx_voicegw_sse_strip_json_t *js,
    ngx_uint_t type);
static int ngx_voicegw_sse_strip_on_null(void *ctx);
static int ngx_voicegw_sse_strip_on_boolean(void *ctx, int b);
static int ngx_voicegw_sse_strip_on_number(void *ctx, const char *s,
    size_t len);
static int ngx_voicegw_sse_strip_on_string(void *ctx,
    const unsigned char *s, size_t len);
static int ngx_voicegw_sse_strip_on_start_map(void *ctx);
static int ngx_voicegw_sse_strip_on_map_key(void *ctx,
    const unsigned char *s, size_t len);
static int ngx_voicegw_sse_strip_on_end_map(void *ctx);
static int ngx_voicegw_sse_strip_on_start_array(void *ctx);
static int ngx_voicegw_sse_strip_on_end_array(void *ctx);


static yajl_callbacks  ngx_voicegw_sse_strip_callbacks = {
    ngx_voicegw_sse_strip_on_null,
    ngx_voicegw_sse_strip_on_boolean,
    NULL,
    NULL,
    ngx_voicegw_sse_strip_on_number,
    ngx_voicegw_sse_strip_on_string,
    ngx_voicegw_sse_strip_on_start_map,
    ngx_voicegw_sse_strip_on_map_key,
    ngx_voicegw_sse_strip_on_end_map,
    ngx_voicegw_sse_strip_on_start_array,
    ngx_voicegw_sse_strip_on_end_array
};


static ngx_str_t  ngx_voicegw_sse_strip_usage_key = ngx_string("\"usage\"");
static ngx_str_t  ngx_voicegw_sse_strip_data = ngx_string("data");
static ngx_str_t  ngx_voicegw_sse_strip_choices = ngx_string("choices");
static ngx_str_t  ngx_voicegw_sse_strip_usage = ngx_string("usage");


ngx_voicegw_sse_strip_t *
ngx_voicegw_sse_strip_create(ngx_pool_t *pool)
{
    ngx_voicegw_sse_strip_t  *s;

    s = ngx_pcalloc(pool, sizeof(ngx_voicegw_sse_strip_t));
    if (s == NULL) {
        return NULL;
    }

    s->pool = pool;
    s->log = pool->log;
    s->line_start = 1;

    return s;
}


/*
 * out is in itself until a buf needs a link of its own (a held head goes
 * before it, or it is left out); from there on out is made of the
 * filter's links, the ones for the bufs before included.  Once the event
 * is dropped, only an empty buf (which the writer would refuse) is still
 * left out.
 */

ngx_int_t
ngx_voicegw_sse_strip(ngx_voicegw_sse_strip_t *s, ngx_chain_t *in,
    ngx_chain_t **out)
{
    ngx_buf_t    *b, *before, *special;
    ngx_chain_t  *cl, *ln, *head;

    /* the links of the last out were passed on: free again */

    if (s->busy) {
        for (ln = s->busy; ln->next; ln = ln->next) { /* void */ }

        ln->next = s->free;
        s->free = s->busy;
        s->busy = NULL;
    }

    *out = in;
    head = NULL;
    s->last = NULL;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_voicegw_sse_strip_buf(s, b, &before) != NGX_OK) {
            return NGX_ERROR;
        }

        if (s->last == NULL) {

            if (before == NULL
                && (ngx_buf_size(b) != 0 || ngx_buf_special(b)))
            {
                continue;
            }

            s->last = &head;

            for (ln = in; ln != cl; ln = ln->next) {
                if (ngx_voicegw_sse_strip_link(s, ln->buf) != NGX_OK) {
                    return NGX_ERROR;
                }
            }
        }

        if (before && ngx_voicegw_sse_strip_link(s, before) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_buf_size(b) != 0 || ngx_buf_special(b)) {
            if (ngx_voicegw_sse_strip_link(s, b) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        /* an empty buf is left out, its flags are not */

        if (!b->flush && !b->last_buf && !b->sync) {
            continue;
        }

        if (before) {
            before->flush |= b->flush;
            before->sync |= b->sync;
            before->last_buf |= b->last_buf;
            before->last_in_chain |= b->last_in_chain;
            continue;
        }

        special = ngx_voicegw_sse_strip_special(s, b);

        if (special == NULL
            || ngx_voicegw_sse_strip_link(s, special) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (s->last) {
        *s->last = NULL;
        *out = head;
        s->busy = head;
    }

    return NGX_OK;
}


/*
 * One buf of the upstream: every event that ends in it is decided, the
 * unfinished one at its end is held.  before: the held head of an event
 * kept here, or the hold given up, to go out ahead of the buf.
 */

static ngx_int_t
ngx_voicegw_sse_strip_buf(ngx_voicegw_sse_strip_t *s, ngx_buf_t *b,
    ngx_buf_t **before)
{
    u_char  *ev, *e;
    size_t   held, len;

    *before = NULL;

    if (s->done) {
        return NGX_OK;
    }

    if (!ngx_buf_in_memory_only(b)) {

        if (ngx_buf_size(b) == 0 && !b->last_buf) {
            return NGX_OK;                          /* flush, sync */
        }

        /* the end, or bytes that cannot be read here */

        *before = s->hold;
        s->hold = NULL;

        if (ngx_buf_size(b) != 0) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, s->log, 0,
                           "voicegw sse strip: a file buf, given up");
            s->done = 1;
        }

        return NGX_OK;
    }

    ev = b->pos;        /* the event starts here, or in s->hold */

    for ( ;; ) {

        if (s->hold == NULL && !s->passing
            && s->line_start && !s->cr && !s->blank)
        {
            ev = ngx_voicegw_sse_strip_skip(ev, b->last);
        }

        e = ngx_voicegw_sse_strip_scan(s, ev, b->last);

        if (e == NULL) {
            break;
        }

        if (s->passing) {
            s->passing = 0;
            ev = e;
            continue;
        }

        if (s->hold == NULL) {

            if (ngx_voicegw_sse_strip_usage_only(ev, e)) {
                ngx_memmove(ev, e, b->last - e);
                b->last -= e - ev;
                len = e - ev;
                goto dropped;
            }

            ev = e;
            continue;
        }

        /* the event began in an earlier buf: it is made whole in the hold */

        held = s->hold->last - s->hold->pos;

        if (held + (e - ev) > NGX_VOICEGW_SSE_STRIP_MAX_EVENT) {
            *before = s->hold;
            s->hold = NULL;
            ev = e;
            continue;
        }

        if (ngx_voicegw_sse_strip_keep(s, ev, e - ev) != NGX_OK) {
            return NGX_ERROR;
        }

        b->pos = e;
        ev = e;

        if (ngx_voicegw_sse_strip_usage_only(s->hold->pos, s->hold->last)) {
            len = s->hold->last - s->hold->pos;
            s->hold->pos = s->hold->last;
            s->hold = NULL;
            goto dropped;
        }

        *before = s->hold;
        s->hold = NULL;
    }

    /* [ev, last) is the start of an event, or its next part */

    if (b->last_buf) {
        if (s->hold) {
            *before = s->hold;
            s->hold = NULL;
        }

        return NGX_OK;
    }

    len = b->last - ev;

    if (s->passing || len == 0) {
        return NGX_OK;
    }

    held = s->hold ? (size_t) (s->hold->last - s->hold->pos) : 0;

    if (held + len > NGX_VOICEGW_SSE_STRIP_MAX_EVENT) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, s->log, 0,
                       "voicegw sse strip: an event over %uz bytes passes",
                       (size_t) NGX_VOICEGW_SSE_STRIP_MAX_EVENT);

        *before = s->hold;
        s->hold = NULL;
        s->passing = 1;

        return NGX_OK;
    }

    if (ngx_voicegw_sse_strip_keep(s, ev, len) != NGX_OK) {
        return NGX_ERROR;
    }

    b->last = ev;

    return NGX_OK;

dropped:

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, s->log, 0,
                   "voicegw sse strip: the usage-only event dropped, "
                   "%uz bytes", len);

    s->done = 1;

    return NGX_OK;
}


/*
 * The end of the first event in [p, last), or NULL when none ends there
 * (the scan then stands at last).  An event ends with a blank line: at
 * the start of a line, "\n", "\r\n" or "\r".
 */

static u_char *
ngx_voicegw_sse_strip_scan(ngx_voicegw_sse_strip_t *s, u_char *p,
    u_char *last)
{
    u_char  c, *nl, *cr;

    while (p < last) {

        if (s->cr) {
            s->cr = 0;

            if (*p == '\n') {
                p++;

                if (s->blank) {
                    s->blank = 0;
                    return p;
                }

                continue;
            }

            if (s->blank) {
                s->blank = 0;
                return p;
            }
        }

        if (!s->line_start) {

            /* to the line's end, by memchr(): lines end with '\n' mostly */

            nl = memchr(p, '\n', last - p);
            cr = memchr(p, '\r', (nl ? nl : last) - p);
            p = cr ? cr : nl;

            if (p == NULL) {
                return NULL;
            }

            s->line_start = 1;
            s->cr = (*p == '\r');
            p++;
            continue;
        }

        c = *p++;

        if (c == '\n') {
            return p;
        }

        if (c == '\r') {
            s->cr = 1;
            s->blank = 1;
            continue;
        }

        s->line_start = 0;
    }

    return NULL;
}


/* bytes of the unfinished event, added to the hold (a larger one if so) */

static ngx_int_t
ngx_voicegw_sse_strip_keep(ngx_voicegw_sse_strip_t *s, u_char *p,
    size_t len)
{
    size_t        held, size;
    ngx_buf_t    *b, *old;
    ngx_chain_t  *cl;

    old = s->hold;

    if (old && (size_t) (old->end - old->last) >= len) {
        old->last = ngx_cpymem(old->last, p, len);
        return NGX_OK;
    }

    held = old ? (size_t) (old->last - old->pos) : 0;

    /* a hold buf sent to the client already and large enough, or a new one */

    for (cl = s->holds; cl; cl = cl->next) {
        b = cl->buf;

        if (b != old && b->pos == b->last
            && (size_t) (b->end - b->start) >= held + len)
        {
            break;
        }
    }

    if (cl) {
        b = cl->buf;

    } else {
        for (size = NGX_VOICEGW_SSE_STRIP_FIRST_HOLD;
             size < held + len;
             size *= 2)
        {
            /* void */
        }

        b = ngx_create_temp_buf(s->pool, size);
        if (b == NULL) {
            return NGX_ERROR;
        }

        cl = ngx_alloc_chain_link(s->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = b;
        cl->next = s->holds;
        s->holds = cl;
    }

    b->pos = b->start;
    b->last = b->start;
    b->flush = 0;
    b->sync = 0;
    b->last_buf = 0;
    b->last_in_chain = 0;

    if (old) {
        b->last = ngx_cpymem(b->last, old->pos, held);
        old->pos = old->last;
    }

    b->last = ngx_cpymem(b->last, p, len);
    s->hold = b;

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_sse_strip_link(ngx_voicegw_sse_strip_t *s, ngx_buf_t *b)
{
    ngx_chain_t  *cl;

    cl = s->free;

    if (cl) {
        s->free = cl->next;

    } else {
        cl = ngx_alloc_chain_link(s->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }
    }

    cl->buf = b;
    *s->last = cl;
    s->last = &cl->next;

    return NGX_OK;
}


/* a buf of no bytes that carries the flags of an upstream buf left out */

static ngx_buf_t *
ngx_voicegw_sse_strip_special(ngx_voicegw_sse_strip_t *s, ngx_buf_t *flags)
{
    ngx_buf_t  *b;

    b = s->special;

    if (b && b->flush == flags->flush && b->sync == flags->sync
        && b->last_buf == flags->last_buf
        && b->last_in_chain == flags->last_in_chain)
    {
        return b;
    }

    b = ngx_calloc_buf(s->pool);
    if (b == NULL) {
        return NULL;
    }

    b->flush = flags->flush;
    b->sync = flags->sync;
    b->last_buf = flags->last_buf;
    b->last_in_chain = flags->last_in_chain;

    s->special = b;

    return b;
}


/*
 * Whether a complete event is the usage-only one: its data (the values of
 * its "data" lines joined by '\n') is an object whose top-level "choices"
 * is an empty array and whose "usage" is an object.
 */

static ngx_uint_t
ngx_voicegw_sse_strip_usage_only(u_char *p, u_char *last)
{
    u_char                        *q, *value;
    ngx_str_t                     *data;
    yajl_handle                    yh;
    yajl_status                    rc;
    ngx_uint_t                     lines;
    ngx_voicegw_sse_strip_json_t   js;

    if (ngx_voicegw_sse_strip_hit(p, last) == NULL) {
        return 0;
    }

    ngx_memzero(&js, sizeof(ngx_voicegw_sse_strip_json_t));

    yh = yajl_alloc(&ngx_voicegw_sse_strip_callbacks, NULL, &js);
    if (yh == NULL) {
        return 0;
    }

    data = &ngx_voicegw_sse_strip_data;
    rc = yajl_status_ok;
    lines = 0;

    while (p < last && rc == yajl_status_ok) {

        for (q = p; q < last && *q != '\n' && *q != '\r'; q++) {
            /* void */
        }

        if ((size_t) (q - p) >= data->len
            && ngx_memcmp(p, data->data, data->len) == 0
            && (p + data->len == q || p[data->len] == ':'))
        {
            value = p + data->len;

            if (value < q) {
                value++;

                if (value < q && *value == ' ') {
                    value++;
                }
            }

            if (lines++) {
                rc = yajl_parse(yh, (u_char *) "\n", 1);
            }

            if (rc == yajl_status_ok && value < q) {
                rc = yajl_parse(yh, value, q - value);
            }
        }

        if (q + 1 < last && q[0] == '\r' && q[1] == '\n') {
            q++;
        }

        p = q + 1;
    }

    if (rc == yajl_status_ok && lines) {
        rc = yajl_complete_parse(yh);
    }

    yajl_free(yh);

    return rc == yajl_status_ok && lines
           && js.choices == NGX_VOICEGW_SSE_STRIP_EMPTY && js.usage;
}


/*
 * At an event's start: the events of [p, last) that end before the first
 * place that may be the usage-only event's are kept whole without being
 * scanned one by one (ngx_voicegw_scan_last_event_end()).
 */

static u_char *
ngx_voicegw_sse_strip_skip(u_char *p, u_char *last)
{
    u_char  *end;

    end = ngx_voicegw_sse_strip_hit(p, last);

    if (end == NULL) {
        end = last;
    }

    return ngx_voicegw_scan_last_event_end(p, end);
}


/*
 * Where an event may be the one, cheaply: "usage", a colon, then an
 * object (or a line end, the value being on the next data line, or the
 * end of the bytes).  The other chunks have "usage":null, or no usage.
 */

static u_char *
ngx_voicegw_sse_strip_hit(u_char *p, u_char *last)
{
    u_char     *k;
    ngx_str_t  *key;

    key = &ngx_voicegw_sse_strip_usage_key;

    for ( ;; ) {
        k = ngx_voicegw_scan_find(p, last, key->data, key->len);

        if (k == NULL) {
            return NULL;
        }

        for (p = k + key->len; p < last && (*p == ' ' || *p == '\t'); p++) {
            /* void */
        }

        if (p < last && *p == ':') {
            for (p++; p < last && (*p == ' ' || *p == '\t'); p++) {
                /* void */
            }
        }

        if (p == last || *p == '{' || *p == '\n' || *p == '\r') {
            return k;
        }
    }
}


/* a value starts: a scalar, or an object or an array that opens a level */

static int
ngx_voicegw_sse_strip_value(ngx_voicegw_sse_strip_json_t *js,
    ngx_uint_t type)
{
    int  go_on;

    switch (js->depth) {

    case 0:
        /* the data is no object: no need to read on */
        go_on = (type == NGX_VOICEGW_SSE_STRIP_OBJECT);
        break;

    case 1:
        if (js->key == NGX_VOICEGW_SSE_STRIP_CHOICES) {
            js->choices = (type == NGX_VOICEGW_SSE_STRIP_ARRAY)
                          ? NGX_VOICEGW_SSE_STRIP_OPEN
                          : NGX_VOICEGW_SSE_STRIP_NO_ARRAY;

        } else if (js->key == NGX_VOICEGW_SSE_STRIP_USAGE) {
            js->usage = (type == NGX_VOICEGW_SSE_STRIP_OBJECT);
        }

        go_on = 1;
        break;

    case 2:
        /* an item of "choices": a chunk that says something, read no more */
        go_on = (js->choices != NGX_VOICEGW_SSE_STRIP_OPEN);
        break;

    default:
        go_on = (js->depth < NGX_VOICEGW_SSE_STRIP_MAX_DEPTH);
        break;
    }

    if (type != NGX_VOICEGW_SSE_STRIP_SCALAR) {
        js->depth++;
    }

    return go_on;
}


static int
ngx_voicegw_sse_strip_on_null(void *ctx)
{
    return ngx_voicegw_sse_strip_value(ctx, NGX_VOICEGW_SSE_STRIP_SCALAR);
}


static int
ngx_voicegw_sse_strip_on_boolean(void *ctx, int b)
{
    return ngx_voicegw_sse_strip_value(ctx, NGX_VOICEGW_SSE_STRIP_SCALAR);
}


static int
ngx_voicegw_sse_strip_on_number(void *ctx, const char *s, size_t len)
{
    return ngx_voicegw_sse_strip_value(ctx, NGX_VOICEGW_SSE_STRIP_SCALAR);
}


static int
ngx_voicegw_sse_strip_on_string(void *ctx, const unsigned char *s,
    size_t len)
{
    return ngx_voicegw_sse_strip_value(ctx, NGX_VOICEGW_SSE_STRIP_SCALAR);
}


static int
ngx_voicegw_sse_strip_on_start_map(void *ctx)
{
    return ngx_voicegw_sse_strip_value(ctx, NGX_VOICEGW_SSE_STRIP_OBJECT);
}


static int
ngx_voicegw_sse_strip_on_map_key(void *ctx, const unsigned char *s,
    size_t len)
{
    ngx_voicegw_sse_strip_json_t  *js = ctx;

    if (js->depth != 1) {
        return 1;
    }

    if (len == ngx_voicegw_sse_strip_choices.len
        && ngx_memcmp(s, ngx_voicegw_sse_strip_choices.data, len) == 0)
    {
        js->key = NGX_VOICEGW_SSE_STRIP_CHOICES;

    } else if (len == ngx_voicegw_sse_strip_usage.len
               && ngx_memcmp(s, ngx_voicegw_sse_strip_usage.data, len) == 0)
    {
        js->key = NGX_VOICEGW_SSE_STRIP_USAGE;

    } else {
        js->key = NGX_VOICEGW_SSE_STRIP_OTHER;
    }

    return 1;
}


static int
ngx_voicegw_sse_strip_on_end_map(void *ctx)
{
    ngx_voicegw_sse_strip_json_t  *js = ctx;

    js->depth--;

    return 1;
}


static int
ngx_voicegw_sse_strip_on_start_array(void *ctx)
{
    return ngx_voicegw_sse_strip_value(ctx, NGX_VOICEGW_SSE_STRIP_ARRAY);
}


/* the array of "choices" closes with no item in it */

static int
ngx_voicegw_sse_strip_on_end_array(void *ctx)
{
    ngx_voicegw_sse_strip_json_t  *js = ctx;

    js->depth--;

    if (js->depth == 1 && js->choices == NGX_VOICEGW_SSE_STRIP_OPEN) {
        js->choices = NGX_VOICEGW_SSE_STRIP_EMPTY;
    }

    return 1;
}
