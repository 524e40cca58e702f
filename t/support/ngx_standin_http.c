
/*
 * t/support/ngx_standin_http.c
 *
 * Owns the stand-ins for the nginx functions that read a request's query
 * string (ngx_http_arg() over r->args, ngx_unescape_uri()) and escape a
 * path again (ngx_escape_uri()), for the fuzz targets of fuzz/ whose
 * parsers take a request with only its pool and its arguments set.
 * nginx-dev ships headers only: these are written here, to the contract
 * the module relies on (an argument's value points into r->args;
 * unescaping never writes more bytes than it reads).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_standin.h"


/* the first "name=value" of r->args whose name matches, ignoring case */

ngx_int_t
ngx_http_arg(ngx_http_request_t *r, u_char *name, size_t len,
    ngx_str_t *value)
{
    u_char  *p, *last, *end;

    p = r->args.data;
    last = p + r->args.len;

    while (p < last) {
        end = ngx_strlchr(p, last, '&');
        end = end ? end : last;

        if ((size_t) (end - p) > len && p[len] == '='
            && ngx_strncasecmp(p, name, len) == 0)
        {
            value->data = p + len + 1;
            value->len = end - value->data;
            return NGX_OK;
        }

        p = end + 1;
    }

    return NGX_DECLINED;
}


/*
 * "%XX" decoded, anything else (a "%" without two hex digits too) copied;
 * NGX_UNESCAPE_URI stops after a decoded "?", as nginx's does.
 */

void
ngx_unescape_uri(u_char **dst, u_char **src, size_t size, ngx_uint_t type)
{
    u_char     *d, *s, *last;
    ngx_int_t   hex;

    d = *dst;
    s = *src;
    last = s + size;

    while (s < last) {

        if (*s == '%' && last - s >= 3
            && (hex = ngx_hextoi(s + 1, 2)) != NGX_ERROR)
        {
            *d++ = (u_char) hex;
            s += 3;

            if ((type & NGX_UNESCAPE_URI) && d[-1] == '?') {
                break;
            }

            continue;
        }

        *d++ = *s++;
    }

    *dst = d;
    *src = s;
}


/*
 * NGX_ESCAPE_URI, as ngx_string.c has it: " ", "#", "%", "?", control
 * characters and bytes from 0x7f escaped as "%XX"; dst NULL: how many
 * bytes would be, else the end of what was written.  Only this type.
 */

uintptr_t
ngx_escape_uri(u_char *dst, u_char *src, size_t size, ngx_uint_t type)
{
    u_char      c;
    uintptr_t   n;
    ngx_uint_t  escape;

    static u_char  hex[] = "0123456789ABCDEF";

    if (type != NGX_ESCAPE_URI) {
        abort();
    }

    for (n = 0; size; size--) {
        c = *src++;
        escape = (c <= 0x20 || c >= 0x7f || c == '#' || c == '%'
                  || c == '?');

        if (dst == NULL) {
            n += escape;
            continue;
        }

        if (escape) {
            *dst++ = '%';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 0xf];

        } else {
            *dst++ = c;
        }
    }

    return dst ? (uintptr_t) dst : n;
}
