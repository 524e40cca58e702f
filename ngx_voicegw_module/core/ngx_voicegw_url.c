
/*
 * ngx_voicegw_url.c
 *
 * Owns the parsing of base URLs: the scheme here, host and port by
 * nginx's own ngx_parse_url() (no resolution), and what a base URL must
 * not have on top of that: user information, a query, a fragment,
 * spaces, controls or bytes beyond ASCII (percent-encode them), a host
 * that is not a name or an address.
 *
 * The caller's text loses its trailing slashes (text->len shrinks), so
 * that "https://api.x.com/" and "https://api.x.com" are the same URL.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_voicegw_url.h"


/* what ngx_parse_url() says, as the end of "base_url ... : it ..." */

static struct {
    const char                  *nginx;
    const char                  *ours;
} ngx_voicegw_url_errors[] = {
    { "invalid port", "has an invalid port" },
    { "invalid host", "has an invalid host" },
    { "no host", "has no host" },
    { "invalid IPv6 address", "has an invalid IPv6 address" },
    { "the IPv6 address is not supported", "has an invalid IPv6 address" },
    { NULL, NULL }
};


ngx_int_t
ngx_voicegw_url_parse(ngx_pool_t *pool, ngx_str_t *text,
    ngx_voicegw_url_t *url, const char **err)
{
    u_char      *p, *last;
    size_t       skip;
    ngx_url_t    u;
    ngx_uint_t   i;

    ngx_memzero(url, sizeof(ngx_voicegw_url_t));

    if (text->len > NGX_VOICEGW_URL_MAX) {
        *err = "is longer than 2048 bytes";
        return NGX_ERROR;
    }

    for (p = text->data; p < text->data + text->len; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            *err = "has spaces, control characters or bytes beyond ASCII";
            return NGX_ERROR;
        }

        if (*p == '#' || *p == '?') {
            *err = "has a query or a fragment";
            return NGX_ERROR;
        }
    }

    if (text->len >= 8
        && ngx_strncasecmp(text->data, (u_char *) "https://", 8) == 0)
    {
        url->https = 1;
        skip = 8;

    } else if (text->len >= 7
               && ngx_strncasecmp(text->data, (u_char *) "http://", 7) == 0)
    {
        skip = 7;

    } else {
        *err = "is not an http:// or https:// URL";
        return NGX_ERROR;
    }

    while (text->len > skip && text->data[text->len - 1] == '/') {
        text->len--;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.data = text->data + skip;
    u.url.len = text->len - skip;
    u.default_port = url->https ? 443 : 80;
    u.uri_part = 1;
    u.no_resolve = 1;

    last = u.url.data + u.url.len;

    /* the host part: no user information, and no "unix:" socket path */

    for (p = u.url.data; p < last && *p != '/'; p++) {
        if (*p == '@') {
            *err = "has user information";
            return NGX_ERROR;
        }
    }

    if (u.url.len >= 5 && ngx_strncasecmp(u.url.data, (u_char *) "unix:", 5)
                          == 0)
    {
        *err = "names a unix socket";
        return NGX_ERROR;
    }

    if (u.url.len == 0 || u.url.data[0] == '/') {
        *err = "has no host";
        return NGX_ERROR;
    }

    if (ngx_parse_url(pool, &u) != NGX_OK) {
        *err = "is not a valid URL";

        for (i = 0; u.err && ngx_voicegw_url_errors[i].nginx; i++) {
            if (ngx_strcmp(u.err, ngx_voicegw_url_errors[i].nginx) == 0) {
                *err = ngx_voicegw_url_errors[i].ours;
                break;
            }
        }

        return NGX_ERROR;
    }

    if (u.host.len == 0) {
        *err = "has no host";
        return NGX_ERROR;
    }

    if (u.family != AF_INET6) {
        for (p = u.host.data; p < u.host.data + u.host.len; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'
                  || *p == '_'))
            {
                *err = "has an invalid host";
                return NGX_ERROR;
            }
        }
    }

    /* NUL-terminated for the TLS server name and the resolver */

    url->host.len = u.host.len;
    url->host.data = ngx_pnalloc(pool, u.host.len + 1);
    if (url->host.data == NULL) {
        *err = "cannot be copied";
        return NGX_ERROR;
    }

    ngx_memcpy(url->host.data, u.host.data, u.host.len);
    url->host.data[u.host.len] = '\0';

    /* ngx_parse_url() keeps the brackets of an IPv6 host */

    if (url->host.len > 2 && url->host.data[0] == '[') {
        url->host.data++;
        url->host.len -= 2;
        url->host.data[url->host.len] = '\0';
    }

    url->port = u.port ? u.port : u.default_port;
    url->default_port = u.no_port;
    url->prefix = u.uri;

    return NGX_OK;
}
