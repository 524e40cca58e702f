
/*
 * ngx_voicegw_usage.c
 *
 * Owns reading the units out of a provider's answer as it streams by:
 * the SSE framing (a resumable line tokenizer), the per-dialect tables of
 * where the units sit, and the rules for combining them: every value is
 * assigned, never added, so the cumulative counts of Anthropic's
 * message_delta and the running totals of Gemini's chunks come out right,
 * and a "usage": null or a chunk without usage changes nothing.
 *
 * It must never cost much on the events that carry no usage, which are
 * nearly all of them: an event's data is gathered in a small buffer and
 * handed to yajl only when it names the dialect's usage key with
 * something other than null after it, and the events of a read that end
 * before the first such key are passed over without being gathered at
 * all (ngx_voicegw_usage_skip()).  An event that outgrows the buffer
 * (the Responses API's response.completed repeats the whole answer) is
 * fed to yajl as it comes instead, so memory stays bounded.  It never
 * fails the request: an event that does not parse is skipped.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <math.h>

#include "ngx_voicegw_jsonfeed.h"
#include "ngx_voicegw_scan.h"
#include "ngx_voicegw_usage.h"


#define NGX_VOICEGW_USAGE_FIRST_BUF   2048
#define NGX_VOICEGW_USAGE_MAX_BUF     32768
#define NGX_VOICEGW_USAGE_MAX_STRING  64
#define NGX_VOICEGW_USAGE_MAX_NUMBER  63

/* where the SSE tokenizer is in a line */
#define NGX_VOICEGW_SSE_LINE          0   /* at its start */
#define NGX_VOICEGW_SSE_FIELD         1   /* in the field name */
#define NGX_VOICEGW_SSE_SPACE         2   /* after "data:" */
#define NGX_VOICEGW_SSE_DATA          3   /* in the value of "data" */
#define NGX_VOICEGW_SSE_SKIP          4   /* in a line of no interest */

/* the field name so far is this long a prefix of "data"; 5: it is not */
#define NGX_VOICEGW_SSE_DATA_FIELD    4
#define NGX_VOICEGW_SSE_OTHER_FIELD   5

/* what a value at a path means */
#define NGX_VOICEGW_USAGE_INPUT          1
#define NGX_VOICEGW_USAGE_OUTPUT         2
#define NGX_VOICEGW_USAGE_CACHED         3
#define NGX_VOICEGW_USAGE_CACHE_WRITE    4
#define NGX_VOICEGW_USAGE_SECONDS        5
#define NGX_VOICEGW_USAGE_CHANNELS       6
#define NGX_VOICEGW_USAGE_CANDIDATES     7   /* Gemini, output part */
#define NGX_VOICEGW_USAGE_THOUGHTS       8   /* Gemini, output part */
#define NGX_VOICEGW_USAGE_TYPED_SECONDS  9   /* OpenAI usage.seconds */
#define NGX_VOICEGW_USAGE_TYPE           10  /* OpenAI usage.type */
#define NGX_VOICEGW_USAGE_DURATION       11  /* OpenAI verbose_json */

/* the OpenAI usage.type of the current object */
#define NGX_VOICEGW_USAGE_TYPE_UNKNOWN   0
#define NGX_VOICEGW_USAGE_TYPE_DURATION  1
#define NGX_VOICEGW_USAGE_TYPE_OTHER     2


typedef struct {
    ngx_voicegw_jsonpath_t      *paths;
    ngx_uint_t                   npaths;
    ngx_str_t                    needle;      /* no usage without it */
} ngx_voicegw_usage_dialect_t;


struct ngx_voicegw_usage_s {
    ngx_voicegw_units_t          units;
    ngx_pool_t                  *pool;
    ngx_voicegw_usage_dialect_t *dialect;
    ngx_voicegw_jsonfeed_t      *json;

    /* the values the units are made of */
    double                       candidates;
    double                       thoughts;
    double                       typed_seconds;
    double                       duration;

    /* the top-level object being read */
    double                       object_seconds;
    ngx_uint_t                   object_type;

    /* the SSE event being gathered */
    u_char                      *buf;
    size_t                       len;
    size_t                       size;
    ngx_uint_t                   state;
    ngx_uint_t                   field;

    unsigned                     sse:1;
    unsigned                     off:1;       /* nothing more to read */
    unsigned                     started:1;   /* the JSON answer began */
    unsigned                     object_units:1;
    unsigned                     cr:1;        /* a '\n' now ends nothing */
    unsigned                     has_data:1;
    unsigned                     streaming:1; /* the event goes to yajl */
    unsigned                     skip:1;      /* the event is given up */
};


static void ngx_voicegw_usage_data_line(ngx_voicegw_usage_t *u);
static void ngx_voicegw_usage_append(ngx_voicegw_usage_t *u, u_char *p,
    size_t len);
static void ngx_voicegw_usage_event(ngx_voicegw_usage_t *u);
static ngx_uint_t ngx_voicegw_usage_worth(ngx_voicegw_usage_t *u);
static u_char *ngx_voicegw_usage_skip(ngx_voicegw_usage_t *u, u_char *p,
    u_char *last, u_char **checked);
static u_char *ngx_voicegw_usage_hit(ngx_voicegw_usage_t *u, u_char *p,
    u_char *last);
static void ngx_voicegw_usage_object(void *ctx, ngx_uint_t end);
static void ngx_voicegw_usage_value(void *ctx, ngx_uint_t slot,
    ngx_uint_t type, u_char *s, size_t len);
static void ngx_voicegw_usage_sum(ngx_voicegw_usage_t *u);


/*
 * The tables: each entry is { index of the enclosing key, key, meaning },
 * entry 0 being the top-level object.
 */

static ngx_voicegw_jsonpath_t  ngx_voicegw_usage_openai[] = {
    { 0, ngx_null_string, 0 },
    { 0, ngx_string("usage"), 0 },                                /* 1 */
    { 1, ngx_string("prompt_tokens"), NGX_VOICEGW_USAGE_INPUT },
    { 1, ngx_string("completion_tokens"), NGX_VOICEGW_USAGE_OUTPUT },
    { 1, ngx_string("input_tokens"), NGX_VOICEGW_USAGE_INPUT },
    { 1, ngx_string("output_tokens"), NGX_VOICEGW_USAGE_OUTPUT },
    { 1, ngx_string("prompt_tokens_details"), 0 },                /* 6 */
    { 6, ngx_string("cached_tokens"), NGX_VOICEGW_USAGE_CACHED },
    { 1, ngx_string("input_tokens_details"), 0 },                 /* 8 */
    { 8, ngx_string("cached_tokens"), NGX_VOICEGW_USAGE_CACHED },
    { 1, ngx_string("seconds"), NGX_VOICEGW_USAGE_TYPED_SECONDS },
    { 1, ngx_string("type"), NGX_VOICEGW_USAGE_TYPE },
    { 0, ngx_string("duration"), NGX_VOICEGW_USAGE_DURATION },
    { 0, ngx_string("response"), 0 },                             /* 13 */
    { 13, ngx_string("usage"), 0 },                               /* 14 */
    { 14, ngx_string("input_tokens"), NGX_VOICEGW_USAGE_INPUT },
    { 14, ngx_string("output_tokens"), NGX_VOICEGW_USAGE_OUTPUT },
    { 14, ngx_string("input_tokens_details"), 0 },                /* 17 */
    { 17, ngx_string("cached_tokens"), NGX_VOICEGW_USAGE_CACHED },
    { 0, ngx_string("x_groq"), 0 },                               /* 19 */
    { 19, ngx_string("usage"), 0 },                               /* 20 */
    { 20, ngx_string("prompt_tokens"), NGX_VOICEGW_USAGE_INPUT },
    { 20, ngx_string("completion_tokens"), NGX_VOICEGW_USAGE_OUTPUT },
    { 20, ngx_string("prompt_tokens_details"), 0 },               /* 23 */
    { 23, ngx_string("cached_tokens"), NGX_VOICEGW_USAGE_CACHED }
};


/* message_start carries message.usage, message_delta (cumulative) usage */

static ngx_voicegw_jsonpath_t  ngx_voicegw_usage_anthropic[] = {
    { 0, ngx_null_string, 0 },
    { 0, ngx_string("message"), 0 },                              /* 1 */
    { 1, ngx_string("usage"), 0 },                                /* 2 */
    { 2, ngx_string("input_tokens"), NGX_VOICEGW_USAGE_INPUT },
    { 2, ngx_string("output_tokens"), NGX_VOICEGW_USAGE_OUTPUT },
    { 2, ngx_string("cache_read_input_tokens"),
      NGX_VOICEGW_USAGE_CACHED },
    { 2, ngx_string("cache_creation_input_tokens"),
      NGX_VOICEGW_USAGE_CACHE_WRITE },
    { 0, ngx_string("usage"), 0 },                                /* 7 */
    { 7, ngx_string("input_tokens"), NGX_VOICEGW_USAGE_INPUT },
    { 7, ngx_string("output_tokens"), NGX_VOICEGW_USAGE_OUTPUT },
    { 7, ngx_string("cache_read_input_tokens"),
      NGX_VOICEGW_USAGE_CACHED },
    { 7, ngx_string("cache_creation_input_tokens"),
      NGX_VOICEGW_USAGE_CACHE_WRITE }
};


static ngx_voicegw_jsonpath_t  ngx_voicegw_usage_gemini[] = {
    { 0, ngx_null_string, 0 },
    { 0, ngx_string("usageMetadata"), 0 },                        /* 1 */
    { 1, ngx_string("promptTokenCount"), NGX_VOICEGW_USAGE_INPUT },
    { 1, ngx_string("candidatesTokenCount"),
      NGX_VOICEGW_USAGE_CANDIDATES },
    { 1, ngx_string("thoughtsTokenCount"), NGX_VOICEGW_USAGE_THOUGHTS },
    { 1, ngx_string("cachedContentTokenCount"),
      NGX_VOICEGW_USAGE_CACHED }
};


static ngx_voicegw_jsonpath_t  ngx_voicegw_usage_deepgram[] = {
    { 0, ngx_null_string, 0 },
    { 0, ngx_string("metadata"), 0 },                             /* 1 */
    { 1, ngx_string("duration"), NGX_VOICEGW_USAGE_SECONDS },
    { 1, ngx_string("channels"), NGX_VOICEGW_USAGE_CHANNELS }
};


static ngx_voicegw_jsonpath_t  ngx_voicegw_usage_cartesia[] = {
    { 0, ngx_null_string, 0 },
    { 0, ngx_string("duration"), NGX_VOICEGW_USAGE_SECONDS }
};


static ngx_voicegw_jsonpath_t  ngx_voicegw_usage_assemblyai[] = {
    { 0, ngx_null_string, 0 },
    { 0, ngx_string("audio_duration"), NGX_VOICEGW_USAGE_SECONDS }
};


#define ngx_voicegw_usage_table(t)  t, sizeof(t) / sizeof(t[0])

/* by NGX_VOICEGW_DIALECT_* */
static ngx_voicegw_usage_dialect_t  ngx_voicegw_usage_dialects[] = {
    { ngx_voicegw_usage_table(ngx_voicegw_usage_openai),
      ngx_string("\"usage") },
    { ngx_voicegw_usage_table(ngx_voicegw_usage_anthropic),
      ngx_string("\"usage") },
    { ngx_voicegw_usage_table(ngx_voicegw_usage_gemini),
      ngx_string("\"usageMetadata") },
    { ngx_voicegw_usage_table(ngx_voicegw_usage_deepgram),
      ngx_string("\"metadata") },
    { ngx_voicegw_usage_table(ngx_voicegw_usage_cartesia),
      ngx_string("\"duration") },
    { ngx_voicegw_usage_table(ngx_voicegw_usage_assemblyai),
      ngx_string("\"audio_duration") },
    { NULL, 0, ngx_null_string }
};


static ngx_str_t  ngx_voicegw_usage_done = ngx_string("[DONE]");
static ngx_str_t  ngx_voicegw_usage_null = ngx_string("null");
static ngx_str_t  ngx_voicegw_usage_type_duration = ngx_string("duration");


ngx_voicegw_usage_t *
ngx_voicegw_usage_create(ngx_pool_t *pool, ngx_uint_t dialect, ngx_uint_t sse)
{
    ngx_voicegw_usage_t  *u;

    u = ngx_pcalloc(pool, sizeof(ngx_voicegw_usage_t));
    if (u == NULL) {
        return NULL;
    }

    u->units.input_tokens = -1;
    u->units.output_tokens = -1;
    u->units.cached_tokens = -1;
    u->units.cache_write_tokens = -1;
    u->units.seconds = -1;
    u->units.channels = -1;

    u->candidates = -1;
    u->thoughts = -1;
    u->typed_seconds = -1;
    u->duration = -1;

    u->pool = pool;
    u->sse = sse ? 1 : 0;

    if (dialect >= NGX_VOICEGW_DIALECT_COUNT
        || ngx_voicegw_usage_dialects[dialect].paths == NULL)
    {
        u->off = 1;
        return u;
    }

    u->dialect = &ngx_voicegw_usage_dialects[dialect];

    u->json = ngx_voicegw_jsonfeed_create(pool, u->dialect->paths,
                                          u->dialect->npaths,
                                          NGX_VOICEGW_USAGE_MAX_STRING,
                                          sse ? NGX_VOICEGW_JSONFEED_SKIP
                                          : NGX_VOICEGW_JSONFEED_MULTIPLE
                                            |NGX_VOICEGW_JSONFEED_UNWRAP
                                            |NGX_VOICEGW_JSONFEED_SKIP);
    if (u->json == NULL) {
        return NULL;
    }

    u->json->value = ngx_voicegw_usage_value;
    u->json->object = ngx_voicegw_usage_object;
    u->json->ctx = u;

    return u;
}


ngx_voicegw_units_t *
ngx_voicegw_usage_units(ngx_voicegw_usage_t *u)
{
    return &u->units;
}


ngx_int_t
ngx_voicegw_usage_feed(ngx_voicegw_usage_t *u, u_char *p, size_t len)
{
    u_char  c, *q, *cr, *last, *checked;

    if (u->off) {
        return NGX_OK;
    }

    if (!u->sse) {
        if (!u->started) {
            u->started = 1;

            if (ngx_voicegw_jsonfeed_begin(u->json) != NGX_OK) {
                u->off = 1;
                return NGX_OK;
            }
        }

        (void) ngx_voicegw_jsonfeed_feed(u->json, p, len);
        return NGX_OK;
    }

    last = p + len;
    checked = p;

    while (p < last) {

        if (u->cr) {
            u->cr = 0;

            if (*p == '\n') {
                p++;
                continue;
            }
        }

        switch (u->state) {

        case NGX_VOICEGW_SSE_LINE:

            if (p >= checked && u->len == 0 && !u->has_data
                && !u->streaming && !u->skip)
            {
                p = ngx_voicegw_usage_skip(u, p, last, &checked);

                if (p == last) {
                    break;
                }
            }

            c = *p;

            if (c == '\n' || c == '\r') {
                u->cr = (c == '\r');
                p++;
                ngx_voicegw_usage_event(u);
                break;
            }

            if (c == ':') {
                u->state = NGX_VOICEGW_SSE_SKIP;
                p++;
                break;
            }

            u->state = NGX_VOICEGW_SSE_FIELD;
            u->field = 0;

            /* fall through */

        case NGX_VOICEGW_SSE_FIELD:

            while (p < last && *p != ':' && *p != '\n' && *p != '\r') {
                u->field = (u->field < NGX_VOICEGW_SSE_DATA_FIELD
                            && *p == "data"[u->field])
                           ? u->field + 1 : NGX_VOICEGW_SSE_OTHER_FIELD;
                p++;
            }

            if (p == last) {
                break;
            }

            if (u->field == NGX_VOICEGW_SSE_DATA_FIELD) {
                ngx_voicegw_usage_data_line(u);
            }

            if (*p == ':') {
                u->state = (u->field == NGX_VOICEGW_SSE_DATA_FIELD)
                           ? NGX_VOICEGW_SSE_SPACE : NGX_VOICEGW_SSE_SKIP;

            } else {
                u->cr = (*p == '\r');
                u->state = NGX_VOICEGW_SSE_LINE;
            }

            p++;
            break;

        case NGX_VOICEGW_SSE_SPACE:

            if (*p == ' ') {
                p++;
            }

            u->state = NGX_VOICEGW_SSE_DATA;
            break;

        default: /* NGX_VOICEGW_SSE_DATA, NGX_VOICEGW_SSE_SKIP */

            /* the line's end: memchr() goes by words, not bytes */

            q = memchr(p, '\n', last - p);

            if (q == NULL) {
                q = last;
            }

            cr = memchr(p, '\r', q - p);

            if (cr != NULL) {
                q = cr;
            }

            if (u->state == NGX_VOICEGW_SSE_DATA && q > p) {
                ngx_voicegw_usage_append(u, p, q - p);
            }

            if (q == last) {
                p = q;
                break;
            }

            u->cr = (*q == '\r');
            u->state = NGX_VOICEGW_SSE_LINE;
            p = q + 1;
            break;
        }
    }

    return NGX_OK;
}


/*
 * The end of the answer: a last line without its line end and a last
 * event without its blank line still count (a stream cut just after the
 * usage event must not lose it); a JSON answer gets its last number.
 */

void
ngx_voicegw_usage_end(ngx_voicegw_usage_t *u)
{
    if (u->off) {
        return;
    }

    u->off = 1;

    if (!u->sse) {
        if (u->started) {
            (void) ngx_voicegw_jsonfeed_end(u->json);
        }

        return;
    }

    if (u->state == NGX_VOICEGW_SSE_FIELD
        && u->field == NGX_VOICEGW_SSE_DATA_FIELD)
    {
        ngx_voicegw_usage_data_line(u);
    }

    ngx_voicegw_usage_event(u);
}


/* lines of an event's data are joined by '\n' */

static void
ngx_voicegw_usage_data_line(ngx_voicegw_usage_t *u)
{
    if (u->has_data) {
        ngx_voicegw_usage_append(u, (u_char *) "\n", 1);
    }

    u->has_data = 1;
}


static void
ngx_voicegw_usage_append(ngx_voicegw_usage_t *u, u_char *p, size_t len)
{
    size_t   size;
    u_char  *buf;

    if (u->skip) {
        return;
    }

    if (u->streaming) {
        if (ngx_voicegw_jsonfeed_feed(u->json, p, len) != NGX_OK) {
            u->skip = 1;
        }

        return;
    }

    if (u->len + len > u->size) {

        if (u->len + len > NGX_VOICEGW_USAGE_MAX_BUF) {

            /* too large to gather: yajl reads it as it comes */

            u->streaming = 1;

            if (ngx_voicegw_jsonfeed_begin(u->json) != NGX_OK
                || ngx_voicegw_jsonfeed_feed(u->json, u->buf, u->len)
                   != NGX_OK
                || ngx_voicegw_jsonfeed_feed(u->json, p, len) != NGX_OK)
            {
                u->skip = 1;
            }

            u->len = 0;
            return;
        }

        size = (u->len + len <= NGX_VOICEGW_USAGE_FIRST_BUF)
               ? NGX_VOICEGW_USAGE_FIRST_BUF : NGX_VOICEGW_USAGE_MAX_BUF;

        buf = ngx_palloc(u->pool, size);
        if (buf == NULL) {
            u->skip = 1;
            return;
        }

        if (u->len) {
            ngx_memcpy(buf, u->buf, u->len);
        }

        u->buf = buf;
        u->size = size;
    }

    ngx_memcpy(u->buf + u->len, p, len);
    u->len += len;
}


/* a blank line: the event is complete */

static void
ngx_voicegw_usage_event(ngx_voicegw_usage_t *u)
{
    if (u->streaming) {
        (void) ngx_voicegw_jsonfeed_end(u->json);

    } else if (u->has_data && !u->skip && ngx_voicegw_usage_worth(u)) {

        if (ngx_voicegw_jsonfeed_begin(u->json) == NGX_OK) {
            (void) ngx_voicegw_jsonfeed_feed(u->json, u->buf, u->len);
            (void) ngx_voicegw_jsonfeed_end(u->json);
        }
    }

    u->len = 0;
    u->has_data = 0;
    u->streaming = 0;
    u->skip = 0;
}


/* whether the gathered event may carry usage (ngx_voicegw_usage_hit()) */

static ngx_uint_t
ngx_voicegw_usage_worth(ngx_voicegw_usage_t *u)
{
    if (u->len == 0) {
        /* an empty "data:" (its buffer may not even be there yet) */
        return 0;
    }

    if (u->len == ngx_voicegw_usage_done.len
        && ngx_memcmp(u->buf, ngx_voicegw_usage_done.data, u->len) == 0)
    {
        return 0;
    }

    return ngx_voicegw_usage_hit(u, u->buf, u->buf + u->len) != NULL;
}


/*
 * At a line's start with nothing of an event gathered: the events of
 * [p, last) that end before the first place that may carry usage are
 * passed over whole (ngx_voicegw_scan_last_event_end()).  *checked is
 * where the search stopped: no new search before it.
 */

static u_char *
ngx_voicegw_usage_skip(ngx_voicegw_usage_t *u, u_char *p, u_char *last,
    u_char **checked)
{
    u_char  *end;

    end = ngx_voicegw_usage_hit(u, p, last);

    if (end == NULL) {
        end = last;
    }

    *checked = end;

    return ngx_voicegw_scan_last_event_end(p, end);
}


/*
 * The first place of [p, last) that may carry usage: the needle
 * ('"usage'), then, once past the rest of its key, anything but null (or
 * the end of the bytes, or of a line).  A needle met elsewhere (inside a
 * string) only costs a parse for nothing.  An escaped key ("\u0075sage")
 * is not seen.
 */

static u_char *
ngx_voicegw_usage_hit(ngx_voicegw_usage_t *u, u_char *p, u_char *last)
{
    u_char     *q, *n;
    ngx_str_t  *needle;

    needle = &u->dialect->needle;

    while ((size_t) (last - p) >= needle->len) {

        n = ngx_voicegw_scan_find(p, last, needle->data, needle->len);

        if (n == NULL) {
            break;
        }

        /*
         * not across a line's end: in the stream it may be the event's,
         * and the same bytes gathered into an event end there
         */

        for (q = n + needle->len;
             q < last && *q != '"' && *q != '\n' && *q != '\r';
             q++)
        {
            /* void */
        }

        if (q >= last || *q != '"') {
            return n;
        }

        for (q++; q < last && (*q == ' ' || *q == '\t'); q++) {
            /* void */
        }

        if (q >= last || *q != ':') {
            return n;
        }

        for (q++; q < last && (*q == ' ' || *q == '\t'); q++) {
            /* void */
        }

        if ((size_t) (last - q) < ngx_voicegw_usage_null.len
            || ngx_memcmp(q, ngx_voicegw_usage_null.data,
                          ngx_voicegw_usage_null.len) != 0)
        {
            return n;
        }

        p = q;
    }

    return NULL;
}


/* a top-level object (an event, a chunk of a JSON array) opens or closes */

static void
ngx_voicegw_usage_object(void *ctx, ngx_uint_t end)
{
    ngx_voicegw_usage_t  *u = ctx;

    if (!end) {
        u->object_seconds = -1;
        u->object_type = NGX_VOICEGW_USAGE_TYPE_UNKNOWN;
        u->object_units = 0;
        return;
    }

    /* OpenAI's usage.seconds counts when usage.type is "duration" */

    if (u->object_seconds >= 0
        && u->object_type != NGX_VOICEGW_USAGE_TYPE_OTHER)
    {
        u->typed_seconds = u->object_seconds;
        u->object_units = 1;
        ngx_voicegw_usage_sum(u);
    }

    if (u->object_units) {
        u->units.usage_chunks++;
    }

    u->object_units = 0;
}


static void
ngx_voicegw_usage_value(void *ctx, ngx_uint_t slot, ngx_uint_t type,
    u_char *s, size_t len)
{
    ngx_voicegw_usage_t  *u = ctx;

    double  v;

    if (slot == NGX_VOICEGW_USAGE_TYPE) {
        if (type == NGX_VOICEGW_JSON_STRING) {
            u->object_type =
                (len == ngx_voicegw_usage_type_duration.len
                 && ngx_memcmp(s, ngx_voicegw_usage_type_duration.data, len)
                    == 0)
                ? NGX_VOICEGW_USAGE_TYPE_DURATION
                : NGX_VOICEGW_USAGE_TYPE_OTHER;
        }

        return;
    }

    if (type != NGX_VOICEGW_JSON_NUMBER || len > NGX_VOICEGW_USAGE_MAX_NUMBER
        || ngx_voicegw_jsonfeed_number(s, len, &v) != NGX_OK)
    {
        return;
    }

    switch (slot) {

    case NGX_VOICEGW_USAGE_INPUT:
        u->units.input_tokens = v;
        break;

    case NGX_VOICEGW_USAGE_OUTPUT:
        u->units.output_tokens = v;
        break;

    case NGX_VOICEGW_USAGE_CACHED:
        u->units.cached_tokens = v;
        break;

    case NGX_VOICEGW_USAGE_CACHE_WRITE:
        u->units.cache_write_tokens = v;
        break;

    case NGX_VOICEGW_USAGE_SECONDS:
        u->units.seconds = v;
        break;

    case NGX_VOICEGW_USAGE_CHANNELS:
        u->units.channels = v;
        break;

    case NGX_VOICEGW_USAGE_CANDIDATES:
        u->candidates = v;
        ngx_voicegw_usage_sum(u);
        break;

    case NGX_VOICEGW_USAGE_THOUGHTS:
        u->thoughts = v;
        ngx_voicegw_usage_sum(u);
        break;

    case NGX_VOICEGW_USAGE_TYPED_SECONDS:
        u->object_seconds = v;
        return;                     /* counts when its object closes */

    case NGX_VOICEGW_USAGE_DURATION:
        u->duration = v;
        ngx_voicegw_usage_sum(u);
        break;

    default:
        return;
    }

    u->object_units = 1;
}


/* the units made of several values */

static void
ngx_voicegw_usage_sum(ngx_voicegw_usage_t *u)
{
    if (u->candidates >= 0 || u->thoughts >= 0) {
        u->units.output_tokens = (u->candidates >= 0 ? u->candidates : 0)
                                 + (u->thoughts >= 0 ? u->thoughts : 0);
    }

    if (u->typed_seconds >= 0) {
        u->units.seconds = u->typed_seconds;

    } else if (u->duration >= 0) {
        u->units.seconds = u->duration;
    }
}
