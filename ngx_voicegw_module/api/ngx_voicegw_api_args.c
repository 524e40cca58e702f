
/*
 * ngx_voicegw_api_args.c
 *
 * Owns the reading of what a request's URI brings an API handler: the
 * parameters of its route's pattern ("{}" one path segment, "{*}" the
 * rest of the path), its query arguments, unescaped, and the ids that
 * are the API's own (ticket ids).  Of a request, only its pool and its
 * arguments are read, and nothing is answered (a handler answers what
 * does not parse), so that this also builds outside nginx (fuzz/).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_api.h"


/* "{}" matches one path segment, "{*}" the rest of the path */

ngx_uint_t
ngx_voicegw_api_match(ngx_str_t *pattern, ngx_str_t *uri, ngx_str_t *params,
    ngx_uint_t *nparams)
{
    u_char  *p, *pe, *u, *ue, *start;

    p = pattern->data;
    pe = p + pattern->len;
    u = uri->data;
    ue = u + uri->len;

    while (p < pe) {

        if (*p == '{') {

            if (*nparams == NGX_VOICEGW_API_MAX_PARAMS) {
                return 0;
            }

            if (pe - p >= 3 && p[1] == '*' && p[2] == '}') {
                if (u == ue) {
                    return 0;
                }

                params[*nparams].data = u;
                params[*nparams].len = ue - u;
                (*nparams)++;

                return (p + 3 == pe);
            }

            start = u;

            while (u < ue && *u != '/') {
                u++;
            }

            if (u == start) {
                return 0;
            }

            params[*nparams].data = start;
            params[*nparams].len = u - start;
            (*nparams)++;

            p += 2;
            continue;
        }

        if (u == ue || *p != *u) {
            return 0;
        }

        p++;
        u++;
    }

    return (u == ue);
}


/*
 * A query argument, unescaped, in pool memory and NUL-terminated: NGX_OK;
 * NGX_DECLINED when there is none; NGX_ERROR.  The first one wins.
 */

ngx_int_t
ngx_voicegw_api_arg(ngx_http_request_t *r, const char *name, ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        return NGX_DECLINED;
    }

    value->data = ngx_pnalloc(r->pool, raw.len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    dst = value->data;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, 0);

    *dst = '\0';
    value->len = dst - value->data;

    return NGX_OK;
}


/* "tk_" and 16 lowercase hex digits */

ngx_int_t
ngx_voicegw_api_ticket_id(ngx_str_t *s, uint64_t *id)
{
    u_char      c;
    uint64_t    n;
    ngx_uint_t  i;

    if (s->len != 19 || ngx_strncmp(s->data, "tk_", 3) != 0) {
        return NGX_ERROR;
    }

    n = 0;

    for (i = 3; i < 19; i++) {
        c = s->data[i];

        if (c >= '0' && c <= '9') {
            n = (n << 4) | (c - '0');

        } else if (c >= 'a' && c <= 'f') {
            n = (n << 4) | (c - 'a' + 10);

        } else {
            return NGX_ERROR;
        }
    }

    if (n == 0) {
        return NGX_ERROR;
    }

    *id = n;

    return NGX_OK;
}
