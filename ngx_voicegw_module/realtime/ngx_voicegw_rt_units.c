
/*
 * ngx_voicegw_rt_units.c
 *
 * Owns what a realtime session used, read from its frames as the relay
 * passes them, never holding a message:
 *
 *   Deepgram live STT     audio seconds: the final Metadata's duration
 *                         (x channels), else the binary audio the client
 *                         sent at the byte rate of the encoding,
 *                         sample_rate and channels query arguments
 *                         (flagged estimated)
 *   AssemblyAI streaming  session seconds: Termination's
 *                         session_duration_seconds, else the time the
 *                         session was open (flagged estimated)
 *   ElevenLabs, Cartesia, characters (code points) of the text the client
 *   Deepgram speech       sends: "text", "transcript", Speak's "text"
 *   OpenAI Realtime       the sum of the usage of every response.done
 *
 * A text message is looked at in two steps: its first bytes (up to
 * NGX_VOICEGW_WS_PEEK) say its "type"; only the types that carry units
 * (a handful per session) go to yajl, through the bounded feed of the
 * proxy (ngx_voicegw_jsonfeed.c), so the frequent ones (Deepgram's
 * Results, OpenAI's audio deltas, the client's audio) cost a peek.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_record.h"
#include "ngx_voicegw_rt.h"
#include "ngx_voicegw_jsonfeed.h"


/* a client's text is counted whole, however long; nothing else is kept */
#define NGX_VOICEGW_RT_MAX_STRING  64

/* where a direction is in its current message */
#define NGX_VOICEGW_RT_IDLE        0    /* no text message, or binary */
#define NGX_VOICEGW_RT_HEAD        1    /* gathering its first bytes */
#define NGX_VOICEGW_RT_PARSE       2    /* fed to yajl */
#define NGX_VOICEGW_RT_SKIP        3    /* of no interest */

/* the values picked out of a message */
#define NGX_VOICEGW_RT_TYPE        1
#define NGX_VOICEGW_RT_DURATION    2
#define NGX_VOICEGW_RT_CHANNELS    3
#define NGX_VOICEGW_RT_SESSION     4
#define NGX_VOICEGW_RT_INPUT       5
#define NGX_VOICEGW_RT_OUTPUT      6
#define NGX_VOICEGW_RT_CACHED      7
#define NGX_VOICEGW_RT_TEXT        8
#define NGX_VOICEGW_RT_NSLOTS      9


typedef struct {
    ngx_voicegw_jsonfeed_t      *json;
    ngx_uint_t                   state;
    u_char                       head[NGX_VOICEGW_WS_PEEK];
    size_t                       hlen;

    /* the message being parsed */
    u_char                       type[32];
    size_t                       type_len;
    double                       v[NGX_VOICEGW_RT_NSLOTS];   /* -1: none */
    double                       chars;
} ngx_voicegw_rt_dir_t;


/* per kind: the message types that carry units, per direction */

typedef struct {
    const char                  *provider;   /* wanted if typeless */
    const char                  *client;
    unsigned                     provider_any:1;
    unsigned                     client_any:1;
} ngx_voicegw_rt_wanted_t;


struct ngx_voicegw_rt_units_s {
    ngx_uint_t                   kind;
    ngx_voicegw_rt_dir_t         dir[2];     /* 0 provider, 1 client */

    double                       audio_bytes;     /* binary, client */
    double                       bytes_per_second;    /* 0: unknown */
    double                       channels;    /* billed channels */
    double                       characters;
    double                       meta_seconds;    /* -1: none */
    double                       meta_channels;
    double                       session_seconds; /* -1: none */
    double                       input_tokens;
    double                       output_tokens;
    double                       cached_tokens;
    ngx_uint_t                   responses;
    ngx_uint_t                   client_texts;
};


static void ngx_voicegw_rt_start(ngx_voicegw_rt_units_t *u,
    ngx_voicegw_rt_dir_t *d, ngx_uint_t from_client);
static ngx_uint_t ngx_voicegw_rt_end(ngx_voicegw_rt_units_t *u,
    ngx_voicegw_rt_dir_t *d, ngx_uint_t from_client);
static void ngx_voicegw_rt_value(void *ctx, ngx_uint_t slot,
    ngx_uint_t type, u_char *s, size_t len);
static ngx_uint_t ngx_voicegw_rt_is(ngx_voicegw_rt_dir_t *d,
    const char *type);
static double ngx_voicegw_rt_arg(ngx_http_request_t *r, const char *name,
    double dflt);


static ngx_voicegw_jsonpath_t  ngx_voicegw_rt_provider_paths[] = {
    { 0, ngx_null_string, 0 },
    { 0, ngx_string("type"), NGX_VOICEGW_RT_TYPE },
    { 0, ngx_string("duration"), NGX_VOICEGW_RT_DURATION },
    { 0, ngx_string("channels"), NGX_VOICEGW_RT_CHANNELS },
    { 0, ngx_string("session_duration_seconds"), NGX_VOICEGW_RT_SESSION },
    { 0, ngx_string("response"), 0 },                              /* 5 */
    { 5, ngx_string("usage"), 0 },                                 /* 6 */
    { 6, ngx_string("input_tokens"), NGX_VOICEGW_RT_INPUT },
    { 6, ngx_string("output_tokens"), NGX_VOICEGW_RT_OUTPUT },
    { 6, ngx_string("input_token_details"), 0 },                   /* 9 */
    { 9, ngx_string("cached_tokens"), NGX_VOICEGW_RT_CACHED }
};


static ngx_voicegw_jsonpath_t  ngx_voicegw_rt_client_paths[] = {
    { 0, ngx_null_string, 0 },
    { 0, ngx_string("type"), NGX_VOICEGW_RT_TYPE },
    { 0, ngx_string("text"), NGX_VOICEGW_RT_TEXT },
    { 0, ngx_string("transcript"), NGX_VOICEGW_RT_TEXT }
};


static ngx_voicegw_rt_wanted_t  ngx_voicegw_rt_wanted[] = {
    /* other */         { NULL, NULL, 0, 0 },
    /* deepgram stt */  { "Metadata", NULL, 1, 0 },
    /* deepgram tts */  { NULL, "Speak", 0, 1 },
    /* assemblyai */    { "Termination", NULL, 1, 0 },
    /* elevenlabs */    { NULL, NULL, 0, 1 },
    /* cartesia */      { NULL, NULL, 0, 1 },
    /* openai */        { "response.done", NULL, 1, 0 }
};


/* bytes per sample of Deepgram's raw encodings */

static struct {
    const char                  *name;
    double                       bytes;
} ngx_voicegw_rt_encodings[] = {
    { "linear16", 2 },
    { "linear32", 4 },
    { "mulaw", 1 },
    { "alaw", 1 },
    { NULL, 0 }
};


ngx_voicegw_rt_units_t *
ngx_voicegw_rt_units_create(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx)
{
    double                   rate, channels;
    ngx_str_t                enc;
    ngx_uint_t               i;
    const char              *type;
    ngx_voicegw_rt_units_t  *u;

    u = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_rt_units_t));
    if (u == NULL) {
        return NULL;
    }

    u->meta_seconds = -1;
    u->session_seconds = -1;
    u->channels = 1;

    type = ctx->provider.type->name;

#define ngx_voicegw_rt_path(word)                                            \
    (ngx_strlcasestrn(ctx->rest.data, ctx->rest.data + ctx->rest.len,      \
                      (u_char *) word, sizeof(word) - 2) != NULL)

    if (ngx_strcmp(type, "deepgram") == 0) {
        u->kind = ngx_voicegw_rt_path("/speak") ? NGX_VOICEGW_RT_DEEPGRAM_TTS
                  : ngx_voicegw_rt_path("/listen") ? NGX_VOICEGW_RT_DEEPGRAM_STT
                  : NGX_VOICEGW_RT_OTHER;

    } else if (ngx_strcmp(type, "assemblyai") == 0) {
        u->kind = NGX_VOICEGW_RT_ASSEMBLYAI;

    } else if (ngx_strcmp(type, "elevenlabs") == 0) {
        u->kind = NGX_VOICEGW_RT_ELEVENLABS;

    } else if (ngx_strcmp(type, "cartesia") == 0) {
        u->kind = ngx_voicegw_rt_path("/tts/") ? NGX_VOICEGW_RT_CARTESIA
                                               : NGX_VOICEGW_RT_OTHER;

    } else if (ngx_strcmp(type, "openai") == 0) {
        u->kind = ngx_voicegw_rt_path("/realtime") ? NGX_VOICEGW_RT_OPENAI
                                                   : NGX_VOICEGW_RT_OTHER;
    }

#undef ngx_voicegw_rt_path

    /* Deepgram's raw audio: its byte rate from the query */

    if (u->kind == NGX_VOICEGW_RT_DEEPGRAM_STT
        && ngx_http_arg(r, (u_char *) "encoding", 8, &enc) == NGX_OK)
    {
        for (i = 0; ngx_voicegw_rt_encodings[i].name; i++) {
            if (enc.len == ngx_strlen(ngx_voicegw_rt_encodings[i].name)
                && ngx_strncasecmp(enc.data,
                                   (u_char *) ngx_voicegw_rt_encodings[i].name,
                                   enc.len)
                   == 0)
            {
                break;
            }
        }

        rate = ngx_voicegw_rt_arg(r, "sample_rate", 0);
        channels = ngx_voicegw_rt_arg(r, "channels", 1);

        if (channels < 1) {
            channels = 1;
        }

        u->bytes_per_second = ngx_voicegw_rt_encodings[i].bytes * rate
                              * channels;

        /* multichannel audio is billed per channel */

        if (ngx_http_arg(r, (u_char *) "multichannel", 12, &enc) == NGX_OK
            && ngx_voicegw_enum_value(ngx_voicegw_booleans, &enc, &i)
               == NGX_OK
            && i)
        {
            u->channels = channels;
        }
    }

    for (i = 0; i < 2; i++) {
        u->dir[i].json = ngx_voicegw_jsonfeed_create(r->pool,
                             i ? ngx_voicegw_rt_client_paths
                               : ngx_voicegw_rt_provider_paths,
                             i ? sizeof(ngx_voicegw_rt_client_paths)
                                 / sizeof(ngx_voicegw_jsonpath_t)
                               : sizeof(ngx_voicegw_rt_provider_paths)
                                 / sizeof(ngx_voicegw_jsonpath_t),
                             NGX_VOICEGW_RT_MAX_STRING,
                             i ? NGX_VOICEGW_JSONFEED_COUNT : 0);
        if (u->dir[i].json == NULL) {
            return NULL;
        }

        u->dir[i].json->value = ngx_voicegw_rt_value;
        u->dir[i].json->ctx = &u->dir[i];
    }

    return u;
}


ngx_uint_t
ngx_voicegw_rt_units_kind(ngx_voicegw_rt_units_t *u)
{
    return u->kind;
}


/*
 * A piece of a data frame's payload (the relay's watch): whether the
 * units changed with it (the budget looks again).
 */

ngx_uint_t
ngx_voicegw_rt_units_feed(ngx_voicegw_rt_units_t *u, ngx_uint_t from_client,
    ngx_voicegw_ws_parser_t *p, u_char *pos, size_t len, ngx_uint_t end)
{
    u_char                 buf[2048];
    size_t                 n, room;
    uint64_t               offset;
    ngx_voicegw_rt_dir_t  *d;

    if (p->opcode >= NGX_VOICEGW_WS_CLOSE) {
        return 0;
    }

    if (p->message == NGX_VOICEGW_WS_BINARY) {
        if (!from_client || u->kind != NGX_VOICEGW_RT_DEEPGRAM_STT) {
            return 0;
        }

        u->audio_bytes += len;
        return len > 0;
    }

    d = &u->dir[from_client];

    if (p->opcode == NGX_VOICEGW_WS_TEXT && p->offset == 0
        && (len > 0 || end))
    {
        /* a text message starts (its first frame, its first piece) */
        d->state = NGX_VOICEGW_RT_HEAD;
        d->hlen = 0;
    }

    if (d->state == NGX_VOICEGW_RT_IDLE || d->state == NGX_VOICEGW_RT_SKIP) {
        goto done;
    }

    offset = p->offset;

    if (d->state == NGX_VOICEGW_RT_HEAD) {
        room = sizeof(d->head) - d->hlen;
        n = ngx_min(room, len);

        ngx_voicegw_ws_unmask(p, offset, d->head + d->hlen, pos, n);
        d->hlen += n;
        pos += n;
        len -= n;
        offset += n;

        if (d->hlen < sizeof(d->head) && !(end && p->fin)) {
            return 0;
        }

        ngx_voicegw_rt_start(u, d, from_client);

        if (d->state != NGX_VOICEGW_RT_PARSE) {
            goto done;
        }
    }

    while (len) {
        n = ngx_min(len, sizeof(buf));

        ngx_voicegw_ws_unmask(p, offset, buf, pos, n);
        (void) ngx_voicegw_jsonfeed_feed(d->json, buf, n);

        pos += n;
        len -= n;
        offset += n;
    }

done:

    if (end && p->fin) {
        if (d->state == NGX_VOICEGW_RT_PARSE) {
            d->state = NGX_VOICEGW_RT_IDLE;
            return ngx_voicegw_rt_end(u, d, from_client);
        }

        d->state = NGX_VOICEGW_RT_IDLE;
    }

    return 0;
}


/* the message's first bytes are in: whether it goes to yajl */

static void
ngx_voicegw_rt_start(ngx_voicegw_rt_units_t *u, ngx_voicegw_rt_dir_t *d,
    ngx_uint_t from_client)
{
    u_char                    buf[NGX_VOICEGW_WS_PEEK];
    ngx_str_t                 type;
    ngx_uint_t                i, want;
    const char               *wanted;
    ngx_voicegw_rt_wanted_t  *w;

    w = &ngx_voicegw_rt_wanted[u->kind];
    wanted = from_client ? w->client : w->provider;

    if (ngx_voicegw_ws_type(d->head, d->hlen, NULL, &type, buf) == NGX_OK) {
        want = (wanted == NULL) ? (from_client ? w->client_any : 0)
               : (type.len == ngx_strlen(wanted)
                  && ngx_strncmp(type.data, wanted, type.len) == 0);

    } else {
        /* no "type" up front: looked at whole, if this side may carry */
        want = from_client ? w->client_any : w->provider_any;
    }

    if (!want) {
        d->state = NGX_VOICEGW_RT_SKIP;
        return;
    }

    d->type_len = 0;
    d->chars = 0;

    for (i = 0; i < NGX_VOICEGW_RT_NSLOTS; i++) {
        d->v[i] = -1;
    }

    if (ngx_voicegw_jsonfeed_begin(d->json) != NGX_OK
        || ngx_voicegw_jsonfeed_feed(d->json, d->head, d->hlen) != NGX_OK)
    {
        d->state = NGX_VOICEGW_RT_SKIP;
        return;
    }

    d->state = NGX_VOICEGW_RT_PARSE;
}


/* a message that went to yajl is whole: its units count */

static ngx_uint_t
ngx_voicegw_rt_end(ngx_voicegw_rt_units_t *u, ngx_voicegw_rt_dir_t *d,
    ngx_uint_t from_client)
{
    if (ngx_voicegw_jsonfeed_end(d->json) != NGX_OK) {
        return 0;
    }

    if (from_client) {
        u->client_texts++;

        switch (u->kind) {

        case NGX_VOICEGW_RT_DEEPGRAM_TTS:
            if (!ngx_voicegw_rt_is(d, "Speak")) {
                return 0;
            }

            break;

        case NGX_VOICEGW_RT_ELEVENLABS:
            /* the single space that opens a stream-input is no text */

            if (u->client_texts == 1 && d->chars == 1) {
                return 0;
            }

            break;
        }

        u->characters += d->chars;

        return d->chars > 0;
    }

    switch (u->kind) {

    case NGX_VOICEGW_RT_DEEPGRAM_STT:
        if (!ngx_voicegw_rt_is(d, "Metadata")
            || d->v[NGX_VOICEGW_RT_DURATION] < 0)
        {
            return 0;
        }

        u->meta_seconds = d->v[NGX_VOICEGW_RT_DURATION];
        u->meta_channels = d->v[NGX_VOICEGW_RT_CHANNELS];
        return 1;

    case NGX_VOICEGW_RT_ASSEMBLYAI:
        if (!ngx_voicegw_rt_is(d, "Termination")
            || d->v[NGX_VOICEGW_RT_SESSION] < 0)
        {
            return 0;
        }

        u->session_seconds = d->v[NGX_VOICEGW_RT_SESSION];
        return 1;

    case NGX_VOICEGW_RT_OPENAI:
        if (!ngx_voicegw_rt_is(d, "response.done")) {
            return 0;
        }

        u->responses++;
        u->input_tokens += ngx_max(d->v[NGX_VOICEGW_RT_INPUT], 0);
        u->output_tokens += ngx_max(d->v[NGX_VOICEGW_RT_OUTPUT], 0);
        u->cached_tokens += ngx_max(d->v[NGX_VOICEGW_RT_CACHED], 0);
        return 1;
    }

    return 0;
}


static void
ngx_voicegw_rt_value(void *ctx, ngx_uint_t slot, ngx_uint_t type, u_char *s,
    size_t len)
{
    ngx_voicegw_rt_dir_t  *d = ctx;

    double  v;

    switch (slot) {

    case NGX_VOICEGW_RT_TYPE:
        if (type == NGX_VOICEGW_JSON_STRING && len <= sizeof(d->type)) {
            ngx_memcpy(d->type, s, len);
            d->type_len = len;
        }

        return;

    case NGX_VOICEGW_RT_TEXT:
        if (type == NGX_VOICEGW_JSON_STRING) {
            d->chars += d->json->last_chars;
        }

        return;

    default:
        if (type == NGX_VOICEGW_JSON_NUMBER && slot < NGX_VOICEGW_RT_NSLOTS
            && ngx_voicegw_jsonfeed_number(s, len, &v) == NGX_OK)
        {
            d->v[slot] = v;
        }

        return;
    }
}


static ngx_uint_t
ngx_voicegw_rt_is(ngx_voicegw_rt_dir_t *d, const char *type)
{
    return d->type_len == ngx_strlen(type)
           && ngx_strncmp(d->type, type, d->type_len) == 0;
}


static double
ngx_voicegw_rt_arg(ngx_http_request_t *r, const char *name, double dflt)
{
    ngx_int_t  n;
    ngx_str_t  value;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &value) != NGX_OK)
    {
        return dflt;
    }

    n = ngx_atoi(value.data, value.len);

    return (n == NGX_ERROR) ? dflt : (double) n;
}


/* the units so far, as the books count them; open_ms: the session's age */

void
ngx_voicegw_rt_units_used(ngx_voicegw_rt_units_t *u, ngx_msec_t open_ms,
    ngx_voicegw_rt_used_t *used)
{
    double  seconds;

    ngx_memzero(used, sizeof(ngx_voicegw_rt_used_t));

    switch (u->kind) {

    case NGX_VOICEGW_RT_DEEPGRAM_STT:
        if (u->meta_seconds >= 0) {
            seconds = u->meta_seconds
                      * (u->meta_channels > 1 ? u->meta_channels : 1);

        } else if (u->bytes_per_second > 0) {
            seconds = u->audio_bytes / u->bytes_per_second * u->channels;
            used->flags |= NGX_VOICEGW_RECORD_ESTIMATED;

        } else {
            seconds = 0;
            used->flags |= NGX_VOICEGW_RECORD_UNKNOWN_UNITS;
        }

        used->input = seconds / 60;
        return;

    case NGX_VOICEGW_RT_ASSEMBLYAI:
        if (u->session_seconds >= 0) {
            seconds = u->session_seconds;

        } else {
            seconds = (double) open_ms / 1000;
            used->flags |= NGX_VOICEGW_RECORD_ESTIMATED;
        }

        used->input = seconds / 60;
        return;

    case NGX_VOICEGW_RT_DEEPGRAM_TTS:
    case NGX_VOICEGW_RT_ELEVENLABS:
    case NGX_VOICEGW_RT_CARTESIA:
        used->input = u->characters;
        return;

    case NGX_VOICEGW_RT_OPENAI:
        used->input = u->input_tokens;
        used->output = u->output_tokens;
        used->cached = u->cached_tokens;

        if (u->responses == 0) {
            used->flags |= NGX_VOICEGW_RECORD_NO_USAGE;
        }

        return;

    default:
        used->flags |= NGX_VOICEGW_RECORD_UNKNOWN_UNITS;
        return;
    }
}
