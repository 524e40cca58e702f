
/*
 * ngx_voicegw_jsonpath.c
 *
 * Owns the yajl side of the bounded JSON front end
 * (ngx_voicegw_jsonfeed.c): the callbacks that follow the key path of
 * each value down the table of paths, hand the values that have a slot
 * to the parser that asked for them, and end a parse nested deeper than
 * NGX_VOICEGW_JSONFEED_MAX_DEPTH (yajl's own stack stays small).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_voicegw_jsonfeed.h"


#define NGX_VOICEGW_JSONFEED_MAX_DEPTH  512


static void ngx_voicegw_jsonfeed_after(ngx_voicegw_jsonfeed_t *f);
static int ngx_voicegw_jsonfeed_scalar(ngx_voicegw_jsonfeed_t *f,
    ngx_uint_t type, u_char *s, size_t len);
static int ngx_voicegw_jsonfeed_on_null(void *ctx);
static int ngx_voicegw_jsonfeed_on_boolean(void *ctx, int b);
static int ngx_voicegw_jsonfeed_on_number(void *ctx, const char *s,
    size_t len);
static int ngx_voicegw_jsonfeed_on_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_voicegw_jsonfeed_on_start_map(void *ctx);
static int ngx_voicegw_jsonfeed_on_map_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_voicegw_jsonfeed_on_end_map(void *ctx);
static int ngx_voicegw_jsonfeed_on_start_array(void *ctx);
static int ngx_voicegw_jsonfeed_on_end_array(void *ctx);


const yajl_callbacks  ngx_voicegw_jsonfeed_callbacks = {
    ngx_voicegw_jsonfeed_on_null,
    ngx_voicegw_jsonfeed_on_boolean,
    NULL,
    NULL,
    ngx_voicegw_jsonfeed_on_number,
    ngx_voicegw_jsonfeed_on_string,
    ngx_voicegw_jsonfeed_on_start_map,
    ngx_voicegw_jsonfeed_on_map_key,
    ngx_voicegw_jsonfeed_on_end_map,
    ngx_voicegw_jsonfeed_on_start_array,
    ngx_voicegw_jsonfeed_on_end_array
};


/* the path of the value that comes after a closed container */

static void
ngx_voicegw_jsonfeed_after(ngx_voicegw_jsonfeed_t *f)
{
    if (f->depth == 0) {
        f->cur = 0;

    } else if (f->depth <= NGX_VOICEGW_JSONPATH_TRACKED
               && f->array[f->depth - 1])
    {
        f->cur = f->node[f->depth - 1];

    } else {
        f->cur = NGX_VOICEGW_JSONPATH_NONE;
    }
}


static int
ngx_voicegw_jsonfeed_scalar(ngx_voicegw_jsonfeed_t *f, ngx_uint_t type,
    u_char *s, size_t len)
{
    if (f->cur != NGX_VOICEGW_JSONPATH_NONE && f->paths[f->cur].slot) {
        f->value(f->ctx, f->paths[f->cur].slot, type, s, len);
    }

    return 1;
}


static int
ngx_voicegw_jsonfeed_on_null(void *ctx)
{
    return ngx_voicegw_jsonfeed_scalar(ctx, NGX_VOICEGW_JSON_NULL, NULL, 0);
}


static int
ngx_voicegw_jsonfeed_on_boolean(void *ctx, int b)
{
    return ngx_voicegw_jsonfeed_scalar(ctx, b ? NGX_VOICEGW_JSON_TRUE
                                              : NGX_VOICEGW_JSON_FALSE,
                                       NULL, 0);
}


static int
ngx_voicegw_jsonfeed_on_number(void *ctx, const char *s, size_t len)
{
    return ngx_voicegw_jsonfeed_scalar(ctx, NGX_VOICEGW_JSON_NUMBER,
                                       (u_char *) s, len);
}


static int
ngx_voicegw_jsonfeed_on_string(void *ctx, const unsigned char *s, size_t len)
{
    return ngx_voicegw_jsonfeed_scalar(ctx, NGX_VOICEGW_JSON_STRING,
                                       (u_char *) s, len);
}


static int
ngx_voicegw_jsonfeed_on_start_map(void *ctx)
{
    ngx_voicegw_jsonfeed_t  *f = ctx;

    if (f->depth >= NGX_VOICEGW_JSONFEED_MAX_DEPTH) {
        return 0;
    }

    if (f->cur == 0) {
        f->in_object = 1;

        if (f->object) {
            f->object(f->ctx, 0);
        }
    }

    if (f->depth < NGX_VOICEGW_JSONPATH_TRACKED) {
        f->node[f->depth] = (u_char) f->cur;
        f->array[f->depth] = 0;
    }

    f->depth++;
    f->cur = NGX_VOICEGW_JSONPATH_NONE;

    return 1;
}


static int
ngx_voicegw_jsonfeed_on_map_key(void *ctx, const unsigned char *s,
    size_t len)
{
    ngx_voicegw_jsonfeed_t  *f = ctx;

    uint64_t                 m;
    ngx_uint_t               i, parent;
    ngx_voicegw_jsonpath_t  *path;

    f->cur = NGX_VOICEGW_JSONPATH_NONE;

    if (f->depth > NGX_VOICEGW_JSONPATH_TRACKED) {
        return 1;
    }

    parent = f->node[f->depth - 1];

    if (parent == NGX_VOICEGW_JSONPATH_NONE
        || len == 0 || len > NGX_VOICEGW_JSONFEED_KEY_MAX)
    {
        return 1;
    }

    /* the entries whose key has this length */

    for (m = f->keys->bylen[len - 1]; m; m &= m - 1) {
        i = __builtin_ctzll(m);
        path = &f->paths[i];

        if (path->parent == parent && path->key.data[0] == s[0]
            && ngx_memcmp(path->key.data, s, len) == 0)
        {
            f->cur = i;
            break;
        }
    }

    return 1;
}


static int
ngx_voicegw_jsonfeed_on_end_map(void *ctx)
{
    ngx_voicegw_jsonfeed_t  *f = ctx;

    f->depth--;

    if (f->depth < NGX_VOICEGW_JSONPATH_TRACKED && f->node[f->depth] == 0) {
        f->in_object = 0;

        if (f->object) {
            f->object(f->ctx, 1);
        }
    }

    ngx_voicegw_jsonfeed_after(f);

    return 1;
}


static int
ngx_voicegw_jsonfeed_on_start_array(void *ctx)
{
    ngx_voicegw_jsonfeed_t  *f = ctx;

    ngx_uint_t  item;

    if (f->depth >= NGX_VOICEGW_JSONFEED_MAX_DEPTH) {
        return 0;
    }

    item = (f->depth == 0 && (f->flags & NGX_VOICEGW_JSONFEED_UNWRAP))
           ? 0 : NGX_VOICEGW_JSONPATH_NONE;

    if (f->depth < NGX_VOICEGW_JSONPATH_TRACKED) {
        f->node[f->depth] = (u_char) item;
        f->array[f->depth] = 1;
    }

    f->depth++;
    f->cur = item;

    return 1;
}


static int
ngx_voicegw_jsonfeed_on_end_array(void *ctx)
{
    ngx_voicegw_jsonfeed_t  *f = ctx;

    f->depth--;
    ngx_voicegw_jsonfeed_after(f);

    return 1;
}
