
/*
 * ngx_voicegw_json_in.c
 *
 * Owns JSON parsing, on yajl, and the UTF-8 rules every string obeys.
 *
 * The parser builds its tree in pool memory through yajl's callbacks, with
 * a depth limit (yajl_tree would recurse without one) and a check that
 * every number is finite.  Duplicate keys are kept; a lookup finds the
 * last one, as most JSON readers do.  Strings must be Unicode: invalid
 * UTF-8 and "\u" escapes of lone UTF-16 surrogates are refused (yajl
 * would turn the latter into "?").
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"

#include <math.h>


typedef struct {
    ngx_voicegw_json_value_t    *value;
    ngx_array_t                  items;       /* ngx_voicegw_json_value_t * */
    ngx_array_t                  keys;        /* ngx_str_t */
} ngx_voicegw_json_frame_t;


typedef struct {
    ngx_pool_t                  *pool;
    ngx_voicegw_json_value_t    *root;
    ngx_str_t                    key;
    ngx_uint_t                   depth;
    ngx_voicegw_json_frame_t     stack[NGX_VOICEGW_JSON_MAX_DEPTH];
    const char                  *error;
    ngx_uint_t                   nomem;
} ngx_voicegw_json_parser_t;


static ngx_uint_t ngx_voicegw_json_escapes_valid(u_char *p, size_t len);
static ngx_voicegw_json_value_t *ngx_voicegw_json_node(
    ngx_voicegw_json_parser_t *p, ngx_voicegw_json_type_e type);
static int ngx_voicegw_json_add(ngx_voicegw_json_parser_t *p,
    ngx_voicegw_json_value_t *v);
static int ngx_voicegw_json_on_null(void *ctx);
static int ngx_voicegw_json_on_boolean(void *ctx, int b);
static int ngx_voicegw_json_on_number(void *ctx, const char *s, size_t len);
static int ngx_voicegw_json_on_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_voicegw_json_on_start(ngx_voicegw_json_parser_t *p,
    ngx_voicegw_json_type_e type);
static int ngx_voicegw_json_on_start_map(void *ctx);
static int ngx_voicegw_json_on_start_array(void *ctx);
static int ngx_voicegw_json_on_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_voicegw_json_on_end(void *ctx);


static yajl_callbacks  ngx_voicegw_json_callbacks = {
    ngx_voicegw_json_on_null,
    ngx_voicegw_json_on_boolean,
    NULL,
    NULL,
    ngx_voicegw_json_on_number,
    ngx_voicegw_json_on_string,
    ngx_voicegw_json_on_start_map,
    ngx_voicegw_json_on_key,
    ngx_voicegw_json_on_end,
    ngx_voicegw_json_on_start_array,
    ngx_voicegw_json_on_end
};


/*
 * The length of the UTF-8 character at p (1 to 4), or 0 when it is not
 * one: RFC 3629, so no overlong forms, no surrogates, nothing past
 * U+10FFFF.
 */

size_t
ngx_voicegw_utf8_len(u_char *p, u_char *last)
{
    u_char  c, lo, hi;
    size_t  n, i;

    c = *p;

    if (c < 0x80) {
        return 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = (c == 0xe0) ? 0xa0 : 0x80;
        hi = (c == 0xed) ? 0x9f : 0xbf;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = (c == 0xf0) ? 0x90 : 0x80;
        hi = (c == 0xf4) ? 0x8f : 0xbf;

    } else {
        return 0;
    }

    if ((size_t) (last - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


ngx_uint_t
ngx_voicegw_utf8_valid(u_char *p, size_t len)
{
    size_t   n;
    u_char  *last;

    last = p + len;

    while (p < last) {
        n = ngx_voicegw_utf8_len(p, last);

        if (n == 0) {
            return 0;
        }

        p += n;
    }

    return 1;
}


/*
 * Whether every "\uD800" to "\uDBFF" escape of a document yajl accepted
 * is followed by a "\uDC00" to "\uDFFF" one, and no low one stands
 * alone.  Backslashes only appear inside strings there, each starting an
 * escape, so pairs of characters can be skipped without tracking quotes.
 */

static ngx_uint_t
ngx_voicegw_json_escapes_valid(u_char *p, size_t len)
{
    u_char      *last;
    ngx_int_t    u;
    ngx_uint_t   high;

    last = p + len;
    high = 0;

    while (p < last) {

        if (*p++ != '\\' || p == last) {
            if (high) {
                return 0;
            }

            continue;
        }

        if (*p++ != 'u' || last - p < 4) {
            if (high) {
                return 0;
            }

            continue;
        }

        u = ngx_hextoi(p, 4);
        p += 4;

        if (u >= 0xdc00 && u <= 0xdfff) {
            if (!high) {
                return 0;
            }

            high = 0;
            continue;
        }

        if (high) {
            return 0;
        }

        high = (u >= 0xd800 && u <= 0xdbff);
    }

    return !high;
}


/*
 * Parses len bytes into *root.  On failure returns NGX_DECLINED with a
 * message for the client in err, or NGX_ERROR when out of memory.
 */

ngx_int_t
ngx_voicegw_json_parse(ngx_pool_t *pool, u_char *data, size_t len,
    ngx_voicegw_json_value_t **root, u_char *err, size_t errlen)
{
    u_char                     *msg, *p;
    yajl_handle                 h;
    yajl_status                 st;
    ngx_voicegw_json_parser_t  *parser;

    parser = ngx_pcalloc(pool, sizeof(ngx_voicegw_json_parser_t));
    if (parser == NULL) {
        return NGX_ERROR;
    }

    parser->pool = pool;

    h = yajl_alloc(&ngx_voicegw_json_callbacks, NULL, parser);
    if (h == NULL) {
        return NGX_ERROR;
    }

    st = yajl_parse(h, data, len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    if (st == yajl_status_ok && parser->root != NULL
        && !ngx_voicegw_json_escapes_valid(data, len))
    {
        parser->error = "a \\u escape of a lone UTF-16 surrogate in a string";
        st = yajl_status_error;
    }

    if (st == yajl_status_ok && parser->root != NULL) {
        yajl_free(h);
        *root = parser->root;
        return NGX_OK;
    }

    if (parser->error != NULL) {
        ngx_snprintf(err, errlen, "%s%Z", parser->error);

    } else if (st == yajl_status_error) {
        msg = yajl_get_error(h, 0, data, len);

        /* "parse error: premature EOF\n" and the like, on one line */

        for (p = msg; p && *p; p++) {
            if (*p == '\n' || *p == '\r' || *p == '\t') {
                *p = ' ';
            }
        }

        ngx_snprintf(err, errlen, "%s%Z", msg ? (char *) msg : "invalid");

        p = err + ngx_strlen(err);
        while (p > err && p[-1] == ' ') {
            *--p = '\0';
        }

        yajl_free_error(h, msg);

    } else {
        ngx_snprintf(err, errlen, "empty document%Z");
    }

    yajl_free(h);

    return parser->nomem ? NGX_ERROR : NGX_DECLINED;
}


ngx_voicegw_json_value_t *
ngx_voicegw_json_get(ngx_voicegw_json_value_t *obj, const char *key)
{
    size_t      len;
    ngx_uint_t  i;

    if (obj == NULL || obj->type != NGX_VOICEGW_JSON_OBJECT) {
        return NULL;
    }

    len = ngx_strlen(key);

    for (i = obj->n; i > 0; i--) {
        if (obj->keys[i - 1].len == len
            && ngx_memcmp(obj->keys[i - 1].data, key, len) == 0)
        {
            return obj->items[i - 1];
        }
    }

    return NULL;
}


const char *
ngx_voicegw_json_type_name(ngx_voicegw_json_value_t *v)
{
    static const char  *names[] = {
        "null", "boolean", "number", "string", "array", "object"
    };

    return names[v->type];
}


static ngx_voicegw_json_value_t *
ngx_voicegw_json_node(ngx_voicegw_json_parser_t *p,
    ngx_voicegw_json_type_e type)
{
    ngx_voicegw_json_value_t  *v;

    v = ngx_pcalloc(p->pool, sizeof(ngx_voicegw_json_value_t));
    if (v == NULL) {
        p->error = "out of memory";
        p->nomem = 1;
        return NULL;
    }

    v->type = type;

    return v;
}


static int
ngx_voicegw_json_add(ngx_voicegw_json_parser_t *p,
    ngx_voicegw_json_value_t *v)
{
    ngx_str_t                  *key;
    ngx_voicegw_json_frame_t   *f;
    ngx_voicegw_json_value_t  **item;

    if (p->depth == 0) {
        p->root = v;
        return 1;
    }

    f = &p->stack[p->depth - 1];

    item = ngx_array_push(&f->items);
    if (item == NULL) {
        p->error = "out of memory";
        p->nomem = 1;
        return 0;
    }

    *item = v;

    if (f->value->type == NGX_VOICEGW_JSON_OBJECT) {
        key = ngx_array_push(&f->keys);
        if (key == NULL) {
            p->error = "out of memory";
            p->nomem = 1;
            return 0;
        }

        *key = p->key;
    }

    return 1;
}


static int
ngx_voicegw_json_on_null(void *ctx)
{
    ngx_voicegw_json_parser_t  *p = ctx;

    ngx_voicegw_json_value_t  *v;

    v = ngx_voicegw_json_node(p, NGX_VOICEGW_JSON_NULL);
    if (v == NULL) {
        return 0;
    }

    return ngx_voicegw_json_add(p, v);
}


static int
ngx_voicegw_json_on_boolean(void *ctx, int b)
{
    ngx_voicegw_json_parser_t  *p = ctx;

    ngx_voicegw_json_value_t  *v;

    v = ngx_voicegw_json_node(p, NGX_VOICEGW_JSON_BOOL);
    if (v == NULL) {
        return 0;
    }

    v->boolean = b ? 1 : 0;

    return ngx_voicegw_json_add(p, v);
}


static int
ngx_voicegw_json_on_number(void *ctx, const char *s, size_t len)
{
    ngx_voicegw_json_parser_t  *p = ctx;

    char                      *end;
    u_char                    *text;
    int64_t                    i;
    ngx_uint_t                 k, integer, neg;
    ngx_voicegw_json_value_t  *v;

    v = ngx_voicegw_json_node(p, NGX_VOICEGW_JSON_NUMBER);
    if (v == NULL) {
        return 0;
    }

    text = ngx_pnalloc(p->pool, len + 1);
    if (text == NULL) {
        p->error = "out of memory";
        p->nomem = 1;
        return 0;
    }

    ngx_memcpy(text, s, len);
    text[len] = '\0';

    v->str.data = text;
    v->str.len = len;

    v->d = strtod((char *) text, &end);

    if (end != (char *) text + len || !isfinite(v->d)) {
        p->error = "number out of range";
        return 0;
    }

    /* an integer as written, when it fits in 64 bits */

    integer = (len > 0);
    neg = (len > 0 && text[0] == '-');
    i = 0;

    for (k = neg; k < len; k++) {

        if (text[k] < '0' || text[k] > '9') {
            integer = 0;
            break;
        }

        if (i > (INT64_MAX - (text[k] - '0')) / 10) {
            integer = 0;
            break;
        }

        i = i * 10 + (text[k] - '0');
    }

    if (integer) {
        v->integer = 1;
        v->i = neg ? -i : i;
    }

    return ngx_voicegw_json_add(p, v);
}


static int
ngx_voicegw_json_on_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_voicegw_json_parser_t  *p = ctx;

    ngx_voicegw_json_value_t  *v;

    /* yajl checks the shape of UTF-8 only */

    if (!ngx_voicegw_utf8_valid((u_char *) s, len)) {
        p->error = "invalid UTF-8 in a string";
        return 0;
    }

    v = ngx_voicegw_json_node(p, NGX_VOICEGW_JSON_STRING);
    if (v == NULL) {
        return 0;
    }

    v->str.data = ngx_pnalloc(p->pool, len + 1);
    if (v->str.data == NULL) {
        p->error = "out of memory";
        p->nomem = 1;
        return 0;
    }

    ngx_memcpy(v->str.data, s, len);
    v->str.data[len] = '\0';
    v->str.len = len;

    return ngx_voicegw_json_add(p, v);
}


static int
ngx_voicegw_json_on_start(ngx_voicegw_json_parser_t *p,
    ngx_voicegw_json_type_e type)
{
    ngx_voicegw_json_frame_t  *f;
    ngx_voicegw_json_value_t  *v;

    if (p->depth == NGX_VOICEGW_JSON_MAX_DEPTH) {
        p->error = "document nested too deeply";
        return 0;
    }

    v = ngx_voicegw_json_node(p, type);
    if (v == NULL) {
        return 0;
    }

    if (!ngx_voicegw_json_add(p, v)) {
        return 0;
    }

    f = &p->stack[p->depth++];
    f->value = v;

    if (ngx_array_init(&f->items, p->pool, 4,
                       sizeof(ngx_voicegw_json_value_t *))
        != NGX_OK
        || ngx_array_init(&f->keys, p->pool, 4, sizeof(ngx_str_t)) != NGX_OK)
    {
        p->error = "out of memory";
        p->nomem = 1;
        return 0;
    }

    return 1;
}


static int
ngx_voicegw_json_on_start_map(void *ctx)
{
    return ngx_voicegw_json_on_start(ctx, NGX_VOICEGW_JSON_OBJECT);
}


static int
ngx_voicegw_json_on_start_array(void *ctx)
{
    return ngx_voicegw_json_on_start(ctx, NGX_VOICEGW_JSON_ARRAY);
}


static int
ngx_voicegw_json_on_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_voicegw_json_parser_t  *p = ctx;

    if (!ngx_voicegw_utf8_valid((u_char *) s, len)) {
        p->error = "invalid UTF-8 in a key";
        return 0;
    }

    p->key.data = ngx_pnalloc(p->pool, len + 1);
    if (p->key.data == NULL) {
        p->error = "out of memory";
        p->nomem = 1;
        return 0;
    }

    ngx_memcpy(p->key.data, s, len);
    p->key.data[len] = '\0';
    p->key.len = len;

    return 1;
}


static int
ngx_voicegw_json_on_end(void *ctx)
{
    ngx_voicegw_json_parser_t  *p = ctx;

    ngx_voicegw_json_frame_t  *f;

    f = &p->stack[--p->depth];

    f->value->n = f->items.nelts;
    f->value->items = f->items.elts;

    if (f->value->type == NGX_VOICEGW_JSON_OBJECT) {
        f->value->keys = f->keys.elts;
    }

    return 1;
}
