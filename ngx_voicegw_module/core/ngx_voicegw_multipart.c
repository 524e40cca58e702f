
/*
 * ngx_voicegw_multipart.c
 *
 * Owns the streaming multipart/form-data scan (RFC 7578 over RFC 2046):
 * find each delimiter "\r\n--<boundary>", read the part's headers for its
 * Content-Disposition name and Content-Type, and route the part's bytes:
 * "model" (else "model_id", as ElevenLabs names it) to a bounded copy,
 * the first "file" to the WAV parser and a count (its place in the body
 * noted, so that a caller holding the body can copy the range), the rest
 * nowhere.
 *
 * The one idea: a boundary never holds CR or LF, so the delimiter has a
 * single '\r', at its start.  When a partial match fails, the bytes held
 * so far are the delimiter's own prefix (emitted from it, they may lie in
 * an earlier buffer) and only the failing byte can start a new match.
 * The body is never held; the part order is the client's, so the model
 * may only be known at the end.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_voicegw_wav.h"
#include "ngx_voicegw_multipart.h"


#define NGX_VOICEGW_MP_PREAMBLE     0
#define NGX_VOICEGW_MP_AFTER        1   /* after a delimiter */
#define NGX_VOICEGW_MP_HEADERS      2
#define NGX_VOICEGW_MP_BODY         3
#define NGX_VOICEGW_MP_EPILOGUE     4   /* after the close, or given up */

#define NGX_VOICEGW_MP_OTHER        0
#define NGX_VOICEGW_MP_MODEL        1
#define NGX_VOICEGW_MP_FILE         2
#define NGX_VOICEGW_MP_MODEL_ID     3

#define NGX_VOICEGW_MP_BOUNDARY_LEN 70
#define NGX_VOICEGW_MP_LINE_LEN     1024
#define NGX_VOICEGW_MP_HEADERS_LEN  16384


struct ngx_voicegw_multipart_s {
    ngx_voicegw_multipart_info_t  info;
    u_char                       *delim;
    size_t                        delim_len;
    size_t                        match;       /* delimiter bytes held */
    ngx_uint_t                    state;
    ngx_uint_t                    after;       /* 1: one '-', 2: padding */
    ngx_uint_t                    kind;        /* of the part in hand */
    size_t                        header_len;
    size_t                        line_len;
    size_t                        value_len;
    unsigned                      value_long:1;
    unsigned                      named:1;     /* by "model" */
    off_t                         received;    /* bytes fed so far */
    off_t                         base;        /* ... before this piece */
    u_char                       *start;       /* this piece */
    size_t                        type_len;    /* the part's Content-Type */
    u_char                        type[NGX_VOICEGW_MULTIPART_TYPE_LEN];
    u_char                        line[NGX_VOICEGW_MP_LINE_LEN];
    u_char                        value[NGX_VOICEGW_MULTIPART_MODEL_LEN];
};


static u_char *ngx_voicegw_multipart_body(ngx_voicegw_multipart_t *mp,
    u_char *p, u_char *last);
static u_char *ngx_voicegw_multipart_headers(ngx_voicegw_multipart_t *mp,
    u_char *p, u_char *last);
static void ngx_voicegw_multipart_emit(ngx_voicegw_multipart_t *mp,
    u_char *p, size_t len);
static void ngx_voicegw_multipart_part_end(ngx_voicegw_multipart_t *mp);
static void ngx_voicegw_multipart_header(ngx_voicegw_multipart_t *mp,
    u_char *p, u_char *last);
static void ngx_voicegw_multipart_type(ngx_voicegw_multipart_t *mp,
    u_char *p, u_char *last);
static ngx_int_t ngx_voicegw_multipart_param(u_char *p, u_char *last,
    ngx_str_t *name, ngx_str_t *value);
static ngx_uint_t ngx_voicegw_multipart_same(u_char *p, size_t len,
    ngx_str_t *name);


static ngx_str_t  ngx_voicegw_multipart_boundary_name =
    ngx_string("boundary");
static ngx_str_t  ngx_voicegw_multipart_disposition =
    ngx_string("content-disposition");
static ngx_str_t  ngx_voicegw_multipart_content_type =
    ngx_string("content-type");
static ngx_str_t  ngx_voicegw_multipart_name = ngx_string("name");
static ngx_str_t  ngx_voicegw_multipart_model = ngx_string("model");
static ngx_str_t  ngx_voicegw_multipart_model_id = ngx_string("model_id");
static ngx_str_t  ngx_voicegw_multipart_file = ngx_string("file");


/*
 * The boundary parameter of a Content-Type value, pointing into it;
 * NGX_DECLINED without a usable one (1 to 70 characters, no CR or LF, no
 * escape in a quoted one).
 */

ngx_int_t
ngx_voicegw_multipart_boundary(ngx_str_t *content_type, ngx_str_t *boundary)
{
    if (ngx_voicegw_multipart_param(content_type->data,
                                    content_type->data + content_type->len,
                                    &ngx_voicegw_multipart_boundary_name,
                                    boundary)
        != NGX_OK
        || boundary->len == 0 || boundary->len > NGX_VOICEGW_MP_BOUNDARY_LEN
        || ngx_strlchr(boundary->data, boundary->data + boundary->len, '\r')
        || ngx_strlchr(boundary->data, boundary->data + boundary->len, '\n')
        || ngx_strlchr(boundary->data, boundary->data + boundary->len, '\\'))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_voicegw_multipart_t *
ngx_voicegw_multipart_create(ngx_pool_t *pool, ngx_str_t *boundary)
{
    ngx_voicegw_multipart_t  *mp;

    if (boundary->len == 0 || boundary->len > NGX_VOICEGW_MP_BOUNDARY_LEN
        || ngx_strlchr(boundary->data, boundary->data + boundary->len, '\r')
        || ngx_strlchr(boundary->data, boundary->data + boundary->len, '\n'))
    {
        return NULL;
    }

    mp = ngx_pcalloc(pool, sizeof(ngx_voicegw_multipart_t));
    if (mp == NULL) {
        return NULL;
    }

    mp->delim_len = 4 + boundary->len;

    mp->delim = ngx_palloc(pool, mp->delim_len);
    if (mp->delim == NULL) {
        return NULL;
    }

    ngx_memcpy(mp->delim, "\r\n--", 4);
    ngx_memcpy(mp->delim + 4, boundary->data, boundary->len);

    ngx_voicegw_wav_init(&mp->info.wav);

    /* the first delimiter may open the body: as if after a "\r\n" */

    mp->state = NGX_VOICEGW_MP_PREAMBLE;
    mp->match = 2;

    return mp;
}


ngx_voicegw_multipart_info_t *
ngx_voicegw_multipart_info(ngx_voicegw_multipart_t *mp)
{
    return &mp->info;
}


void
ngx_voicegw_multipart_feed(ngx_voicegw_multipart_t *mp, u_char *p,
    size_t len)
{
    u_char  c, *last;

    last = p + len;

    mp->start = p;
    mp->base = mp->received;
    mp->received += len;

    while (p < last) {

        switch (mp->state) {

        case NGX_VOICEGW_MP_PREAMBLE:
        case NGX_VOICEGW_MP_BODY:
            p = ngx_voicegw_multipart_body(mp, p, last);
            break;

        case NGX_VOICEGW_MP_AFTER:
            c = *p++;

            if (mp->after == 1) {
                if (c == '-') {
                    mp->info.complete = 1;

                } else {
                    mp->info.invalid = 1;
                }

                mp->state = NGX_VOICEGW_MP_EPILOGUE;
                break;
            }

            if (c == '\n') {
                mp->state = NGX_VOICEGW_MP_HEADERS;
                mp->info.parts++;
                mp->kind = NGX_VOICEGW_MP_OTHER;
                mp->header_len = 0;
                mp->line_len = 0;
                mp->value_len = 0;
                mp->value_long = 0;
                mp->type_len = 0;
                break;
            }

            if (c == '-' && mp->after == 0) {
                mp->after = 1;
                break;
            }

            if (c == ' ' || c == '\t' || c == '\r') {
                mp->after = 2;
                break;
            }

            mp->info.invalid = 1;
            mp->state = NGX_VOICEGW_MP_EPILOGUE;
            break;

        case NGX_VOICEGW_MP_HEADERS:
            p = ngx_voicegw_multipart_headers(mp, p, last);
            break;

        default: /* NGX_VOICEGW_MP_EPILOGUE */
            return;
        }
    }
}


/* the end of the body: a part still open gives its bytes, not its model */

void
ngx_voicegw_multipart_end(ngx_voicegw_multipart_t *mp)
{
    if (mp->state == NGX_VOICEGW_MP_BODY && mp->match) {
        ngx_voicegw_multipart_emit(mp, mp->delim, mp->match);
    }

    mp->match = 0;
    mp->state = NGX_VOICEGW_MP_EPILOGUE;
}


static u_char *
ngx_voicegw_multipart_body(ngx_voicegw_multipart_t *mp, u_char *p,
    u_char *last)
{
    u_char  *q;

    while (p < last) {

        if (mp->match == 0) {
            for (q = p; q < last && *q != '\r'; q++) {
                /* void */
            }

            ngx_voicegw_multipart_emit(mp, p, q - p);

            if (q == last) {
                return last;
            }

            mp->match = 1;
            p = q + 1;
            continue;
        }

        if (*p == mp->delim[mp->match]) {
            p++;

            if (++mp->match == mp->delim_len) {
                mp->match = 0;
                ngx_voicegw_multipart_part_end(mp);
                mp->state = NGX_VOICEGW_MP_AFTER;
                mp->after = 0;
                return p;
            }

            continue;
        }

        /* not a delimiter: what was held is data, *p is looked at again */

        ngx_voicegw_multipart_emit(mp, mp->delim, mp->match);
        mp->match = 0;
    }

    return p;
}


static u_char *
ngx_voicegw_multipart_headers(ngx_voicegw_multipart_t *mp, u_char *p,
    u_char *last)
{
    u_char  c;
    size_t  len;

    while (p < last) {
        c = *p++;

        if (++mp->header_len > NGX_VOICEGW_MP_HEADERS_LEN) {
            mp->info.invalid = 1;
            mp->state = NGX_VOICEGW_MP_EPILOGUE;
            return last;
        }

        if (c != '\n') {
            if (mp->line_len < NGX_VOICEGW_MP_LINE_LEN) {
                mp->line[mp->line_len++] = c;
            }

            continue;
        }

        len = mp->line_len;
        mp->line_len = 0;

        if (len && mp->line[len - 1] == '\r') {
            len--;
        }

        if (len == 0) {
            mp->state = NGX_VOICEGW_MP_BODY;
            mp->match = 0;

            if (mp->kind == NGX_VOICEGW_MP_FILE) {
                mp->info.file_data = 1;
                mp->info.file_start = mp->base + (p - mp->start);
                mp->info.file_type_len = mp->type_len;
                ngx_memcpy(mp->info.file_type, mp->type, mp->type_len);
            }

            return p;
        }

        ngx_voicegw_multipart_header(mp, mp->line, mp->line + len);
    }

    return p;
}


static void
ngx_voicegw_multipart_emit(ngx_voicegw_multipart_t *mp, u_char *p,
    size_t len)
{
    if (len == 0 || mp->state != NGX_VOICEGW_MP_BODY) {
        return;
    }

    switch (mp->kind) {

    case NGX_VOICEGW_MP_MODEL:
    case NGX_VOICEGW_MP_MODEL_ID:
        if (mp->value_len + len > NGX_VOICEGW_MULTIPART_MODEL_LEN) {
            mp->value_long = 1;

        } else {
            ngx_memcpy(mp->value + mp->value_len, p, len);
            mp->value_len += len;
        }

        break;

    case NGX_VOICEGW_MP_FILE:
        ngx_voicegw_wav_feed(&mp->info.wav, p, len);
        mp->info.file_bytes += len;
        break;

    default:
        break;
    }
}


static void
ngx_voicegw_multipart_part_end(ngx_voicegw_multipart_t *mp)
{
    if (mp->state != NGX_VOICEGW_MP_BODY
        || (mp->kind != NGX_VOICEGW_MP_MODEL
            && (mp->kind != NGX_VOICEGW_MP_MODEL_ID || mp->named)))
    {
        return;
    }

    if (mp->value_long) {
        return;
    }

    ngx_memcpy(mp->info.model, mp->value, mp->value_len);
    mp->info.model_len = mp->value_len;

    if (mp->kind == NGX_VOICEGW_MP_MODEL) {
        mp->named = 1;
    }
}


/* a part header line, without its line end */

static void
ngx_voicegw_multipart_header(ngx_voicegw_multipart_t *mp, u_char *p,
    u_char *last)
{
    u_char     *colon, *end;
    ngx_str_t   name;

    colon = ngx_strlchr(p, last, ':');
    if (colon == NULL) {
        return;
    }

    for (end = colon; end > p && (end[-1] == ' ' || end[-1] == '\t'); end--) {
        /* void */
    }

    if (ngx_voicegw_multipart_same(p, end - p,
                                   &ngx_voicegw_multipart_content_type))
    {
        ngx_voicegw_multipart_type(mp, colon + 1, last);
        return;
    }

    if (!ngx_voicegw_multipart_same(p, end - p,
                                    &ngx_voicegw_multipart_disposition)
        || ngx_voicegw_multipart_param(colon + 1, last,
                                       &ngx_voicegw_multipart_name, &name)
           != NGX_OK)
    {
        return;
    }

    if (name.len == ngx_voicegw_multipart_model.len
        && ngx_memcmp(name.data, ngx_voicegw_multipart_model.data, name.len)
           == 0)
    {
        mp->kind = NGX_VOICEGW_MP_MODEL;

    } else if (name.len == ngx_voicegw_multipart_model_id.len
               && ngx_memcmp(name.data, ngx_voicegw_multipart_model_id.data,
                             name.len) == 0)
    {
        mp->kind = NGX_VOICEGW_MP_MODEL_ID;

    } else if (name.len == ngx_voicegw_multipart_file.len
               && ngx_memcmp(name.data, ngx_voicegw_multipart_file.data,
                             name.len) == 0
               && !mp->info.file)
    {
        mp->kind = NGX_VOICEGW_MP_FILE;
        mp->info.file = 1;
    }
}


/* a part's Content-Type, its parameters and spaces left out */

static void
ngx_voicegw_multipart_type(ngx_voicegw_multipart_t *mp, u_char *p,
    u_char *last)
{
    u_char  *end;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    end = ngx_strlchr(p, last, ';');
    if (end == NULL) {
        end = last;
    }

    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    if ((size_t) (end - p) > NGX_VOICEGW_MULTIPART_TYPE_LEN) {
        mp->type_len = 0;
        return;
    }

    mp->type_len = end - p;
    ngx_memcpy(mp->type, p, mp->type_len);
}


/*
 * The value of parameter "name" in "type; a=b; name="v"" (RFC 2045
 * syntax, names without case), the quotes left out; a quoted value is
 * returned raw, escapes included.
 */

static ngx_int_t
ngx_voicegw_multipart_param(u_char *p, u_char *last, ngx_str_t *name,
    ngx_str_t *value)
{
    u_char  *key, *v;
    size_t   key_len;

    for ( ;; ) {

        /* to the next ';' out of quotes */

        while (p < last && *p != ';') {

            if (*p++ != '"') {
                continue;
            }

            while (p < last && *p != '"') {
                p += (*p == '\\' && last - p > 1) ? 2 : 1;
            }

            if (p < last) {
                p++;
            }
        }

        if (p == last) {
            return NGX_DECLINED;
        }

        for (p++; p < last && (*p == ' ' || *p == '\t'); p++) {
            /* void */
        }

        key = p;

        while (p < last && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
        {
            p++;
        }

        key_len = p - key;

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == last || *p != '=') {
            continue;
        }

        for (p++; p < last && (*p == ' ' || *p == '\t'); p++) {
            /* void */
        }

        if (p < last && *p == '"') {
            v = ++p;

            while (p < last && *p != '"') {
                p += (*p == '\\' && last - p > 1) ? 2 : 1;
            }

            value->len = p - v;

            if (p < last) {
                p++;
            }

        } else {
            v = p;

            while (p < last && *p != ';' && *p != ' ' && *p != '\t') {
                p++;
            }

            value->len = p - v;
        }

        if (ngx_voicegw_multipart_same(key, key_len, name)) {
            value->data = v;
            return NGX_OK;
        }
    }
}


static ngx_uint_t
ngx_voicegw_multipart_same(u_char *p, size_t len, ngx_str_t *name)
{
    size_t  i;

    if (len != name->len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (ngx_tolower(p[i]) != name->data[i]) {
            return 0;
        }
    }

    return 1;
}
