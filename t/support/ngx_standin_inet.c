
/*
 * t/support/ngx_standin_inet.c
 *
 * Owns the stand-ins for nginx's address and URL parsing (ngx_inet.c's
 * ngx_parse_url(), ngx_parse_addr(), ngx_ptocidr(), ngx_cidr_match()),
 * for the fuzz targets of fuzz/ that run the module's base_url and
 * destination code outside nginx.  nginx-dev ships headers only: these
 * are written here, to the contract the module relies on (what
 * ngx_parse_url() sets with no_resolve and uri_part: host, with the
 * brackets of an IPv6 address, port, no_port, uri, family, err), with
 * inet_pton() for the addresses.  What a target fuzzes is the module's
 * code around them, not nginx's.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <arpa/inet.h>

#include "ngx_standin.h"


/* an address of len bytes, NUL-terminated for inet_pton() */

static ngx_int_t
ngx_standin_pton(int family, u_char *text, size_t len, void *addr)
{
    char  buf[NGX_SOCKADDR_STRLEN + 1];

    if (len == 0 || len >= sizeof(buf)
        || ngx_strlchr(text, text + len, '\0') != NULL)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(buf, text, len);
    buf[len] = '\0';

    return inet_pton(family, buf, addr) == 1 ? NGX_OK : NGX_ERROR;
}


in_addr_t
ngx_inet_addr(u_char *text, size_t len)
{
    struct in_addr  a;

    if (ngx_standin_pton(AF_INET, text, len, &a) != NGX_OK) {
        return INADDR_NONE;
    }

    return a.s_addr;
}


ngx_int_t
ngx_inet6_addr(u_char *p, size_t len, u_char *addr)
{
    return ngx_standin_pton(AF_INET6, p, len, addr);
}


ngx_int_t
ngx_parse_addr(ngx_pool_t *pool, ngx_addr_t *addr, u_char *text, size_t len)
{
    in_addr_t             inaddr;
    struct in6_addr       in6;
    struct sockaddr_in   *sin;
    struct sockaddr_in6  *sin6;

    inaddr = ngx_inet_addr(text, len);

    if (inaddr != INADDR_NONE) {
        sin = ngx_pcalloc(pool, sizeof(struct sockaddr_in));
        if (sin == NULL) {
            return NGX_ERROR;
        }

        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = inaddr;
        addr->sockaddr = (struct sockaddr *) sin;
        addr->socklen = sizeof(struct sockaddr_in);

        return NGX_OK;
    }

    if (ngx_inet6_addr(text, len, in6.s6_addr) != NGX_OK) {
        return NGX_DECLINED;
    }

    sin6 = ngx_pcalloc(pool, sizeof(struct sockaddr_in6));
    if (sin6 == NULL) {
        return NGX_ERROR;
    }

    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = in6;
    addr->sockaddr = (struct sockaddr *) sin6;
    addr->socklen = sizeof(struct sockaddr_in6);

    return NGX_OK;
}


/* "addr[/bits]": NGX_OK, NGX_DONE when bits below the mask were set */

ngx_int_t
ngx_ptocidr(ngx_str_t *text, ngx_cidr_t *cidr)
{
    u_char     *p, *last, *mask, *a, *m;
    size_t      n, len;
    ngx_int_t   bits, rc;

    p = text->data;
    last = p + text->len;
    mask = ngx_strlchr(p, last, '/');
    len = (mask ? mask : last) - p;

    ngx_memzero(cidr, sizeof(ngx_cidr_t));

    cidr->u.in.addr = ngx_inet_addr(p, len);

    if (cidr->u.in.addr != INADDR_NONE) {
        cidr->family = AF_INET;
        a = (u_char *) &cidr->u.in.addr;
        m = (u_char *) &cidr->u.in.mask;
        n = 4;

    } else if (ngx_inet6_addr(p, len, cidr->u.in6.addr.s6_addr) == NGX_OK) {
        cidr->family = AF_INET6;
        a = cidr->u.in6.addr.s6_addr;
        m = cidr->u.in6.mask.s6_addr;
        n = 16;

    } else {
        return NGX_ERROR;
    }

    bits = (ngx_int_t) n * 8;

    if (mask) {
        bits = ngx_atoi(mask + 1, last - mask - 1);

        if (bits == NGX_ERROR || bits > (ngx_int_t) n * 8) {
            return NGX_ERROR;
        }
    }

    rc = NGX_OK;

    for (len = 0; len < n; len++, bits -= 8) {
        m[len] = (bits >= 8) ? 0xff : (bits <= 0) ? 0 : 0xff << (8 - bits);

        if (a[len] & ~m[len]) {
            a[len] &= m[len];
            rc = NGX_DONE;
        }
    }

    return rc;
}


/* NGX_OK when the address is in one of the ranges (ngx_cidr_t) */

ngx_int_t
ngx_cidr_match(struct sockaddr *sa, ngx_array_t *cidrs)
{
    u_char       *a, *addr, *mask;
    size_t        n, i;
    ngx_uint_t    k;
    ngx_cidr_t   *cidr;

    if (sa->sa_family == AF_INET) {
        a = (u_char *) &((struct sockaddr_in *) sa)->sin_addr;
        n = 4;

    } else if (sa->sa_family == AF_INET6) {
        a = ((struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
        n = 16;

    } else {
        return NGX_DECLINED;
    }

    cidr = cidrs->elts;

    for (k = 0; k < cidrs->nelts; k++) {

        if (cidr[k].family != sa->sa_family) {
            continue;
        }

        addr = (n == 4) ? (u_char *) &cidr[k].u.in.addr
                        : cidr[k].u.in6.addr.s6_addr;
        mask = (n == 4) ? (u_char *) &cidr[k].u.in.mask
                        : cidr[k].u.in6.mask.s6_addr;

        for (i = 0; i < n && (a[i] & mask[i]) == addr[i]; i++) {
            /* void */
        }

        if (i == n) {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * "host[:port][/uri]" or "[v6][:port][/uri]", as ngx_parse_url() with
 * no_resolve and uri_part: the host points into the URL (an IPv6 one with
 * its brackets, and family AF_INET6); no port: no_port and the default.
 */

ngx_int_t
ngx_parse_url(ngx_pool_t *pool, ngx_url_t *u)
{
    u_char     *host, *last, *port, *uri, *close;
    ngx_int_t   n;

    host = u->url.data;
    last = host + u->url.len;

    if (u->url.len >= 5 && ngx_strncasecmp(host, (u_char *) "unix:", 5) == 0)
    {
        u->err = "the unix domain sockets are not supported";
        return NGX_ERROR;
    }

    u->family = AF_INET;
    close = NULL;

    if (host < last && *host == '[') {
        close = ngx_strlchr(host, last, ']');

        if (close == NULL) {
            u->err = "invalid host";
            return NGX_ERROR;
        }

        u->family = AF_INET6;
    }

    uri = ngx_strlchr(close ? close : host, last, '/');

    if (uri) {
        u->uri.data = uri;
        u->uri.len = last - uri;
        last = uri;
    }

    port = ngx_strlchr(close ? close : host, last, ':');

    if (close && close + 1 < last && close[1] != ':') {
        u->err = "invalid host";
        return NGX_ERROR;
    }

    if (port) {
        n = ngx_atoi(port + 1, last - port - 1);

        if (n < 1 || n > 65535) {
            u->err = "invalid port";
            return NGX_ERROR;
        }

        u->port = (in_port_t) n;
        u->port_text.data = port + 1;
        u->port_text.len = last - port - 1;
        last = port;

    } else {
        u->no_port = 1;
        u->port = u->default_port;
    }

    if (last == host || (close && close == host + 1)) {
        u->err = "no host";
        return NGX_ERROR;
    }

    u->host.data = host;
    u->host.len = last - host;

    if (close
        && ngx_inet6_addr(host + 1, close - host - 1,
                          u->sockaddr.sockaddr_in6.sin6_addr.s6_addr)
           != NGX_OK)
    {
        u->err = "invalid IPv6 address";
        return NGX_ERROR;
    }

    return NGX_OK;
}
