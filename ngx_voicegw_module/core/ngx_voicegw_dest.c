
/*
 * ngx_voicegw_dest.c
 *
 * Owns the destination policy of provider base URLs
 * ("voicegw_provider_destinations"): its parsing, the kind of an address
 * (an IPv4-mapped IPv6 address is its IPv4 address), and the decision.
 * The same decision is taken where a base_url is written (nginx.conf, the
 * API: for an address; a name is not resolved there) and where it is used
 * (the proxy, the provider test: for every address a name resolves to),
 * so that a provider cannot be pointed at the gateway's own machine or
 * network, nor at a cloud's metadata address, unless the policy says so.
 */


#include "ngx_voicegw_dest.h"


static ngx_uint_t ngx_voicegw_dest_kind4(in_addr_t a);


static ngx_conf_enum_t  ngx_voicegw_dest_kinds[] = {
    { ngx_string("public"), NGX_VOICEGW_DEST_PUBLIC },
    { ngx_string("loopback"), NGX_VOICEGW_DEST_LOOPBACK },
    { ngx_string("private"), NGX_VOICEGW_DEST_PRIVATE },
    { ngx_string("link-local"), NGX_VOICEGW_DEST_LINK_LOCAL },
    { ngx_string("any"), NGX_VOICEGW_DEST_ANY },
    { ngx_null_string, 0 }
};


/* voicegw_provider_destinations public|loopback|private|link-local|any|CIDR ...; */

char *
ngx_voicegw_dest_parse(ngx_conf_t *cf, ngx_voicegw_dest_t *d)
{
    ngx_str_t   *value;
    ngx_int_t    rc;
    ngx_uint_t   i, k;
    ngx_cidr_t  *cidr;

    if (d->kinds != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    d->kinds = 0;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (k = 0; ngx_voicegw_dest_kinds[k].name.len; k++) {
            if (value[i].len == ngx_voicegw_dest_kinds[k].name.len
                && ngx_strncasecmp(value[i].data,
                                   ngx_voicegw_dest_kinds[k].name.data,
                                   value[i].len)
                   == 0)
            {
                break;
            }
        }

        if (ngx_voicegw_dest_kinds[k].name.len) {
            d->kinds |= ngx_voicegw_dest_kinds[k].value;
            continue;
        }

        if (d->ranges == NULL) {
            d->ranges = ngx_array_create(cf->pool, 4, sizeof(ngx_cidr_t));
            if (d->ranges == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        cidr = ngx_array_push(d->ranges);
        if (cidr == NULL) {
            return NGX_CONF_ERROR;
        }

        rc = ngx_ptocidr(&value[i], cidr);

        if (rc == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid destination \"%V\" in "
                               "voicegw_provider_destinations: use public, "
                               "loopback, private, link-local, any, an "
                               "address or a CIDR range", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DONE) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "low address bits of %V are meaningless",
                               &value[i]);
        }
    }

    return NGX_CONF_OK;
}


/* the kind of an address: one NGX_VOICEGW_DEST_* bit */

ngx_uint_t
ngx_voicegw_dest_kind(struct sockaddr *sa)
{
    u_char               *b;
    in_addr_t             a;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    switch (sa->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) sa;
        return ngx_voicegw_dest_kind4(ntohl(sin->sin_addr.s_addr));

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;
        b = sin6->sin6_addr.s6_addr;

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)
            || IN6_IS_ADDR_V4COMPAT(&sin6->sin6_addr))
        {
            a = (in_addr_t) b[12] << 24 | (in_addr_t) b[13] << 16
                | (in_addr_t) b[14] << 8 | b[15];

            if (IN6_IS_ADDR_V4COMPAT(&sin6->sin6_addr) && a <= 1) {
                /* ::1 and ::, which look like compatible addresses */
                return a ? NGX_VOICEGW_DEST_LOOPBACK
                         : NGX_VOICEGW_DEST_RESERVED;
            }

            return ngx_voicegw_dest_kind4(a);
        }

        if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) {
            return NGX_VOICEGW_DEST_LOOPBACK;
        }

        if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr)
            || IN6_IS_ADDR_MULTICAST(&sin6->sin6_addr))
        {
            return NGX_VOICEGW_DEST_RESERVED;
        }

        if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr)) {
            return NGX_VOICEGW_DEST_LINK_LOCAL;
        }

        if ((b[0] & 0xfe) == 0xfc            /* fc00::/7, unique local */
            || IN6_IS_ADDR_SITELOCAL(&sin6->sin6_addr))
        {
            return NGX_VOICEGW_DEST_PRIVATE;
        }

        if (b[0] == 0x20 && b[1] == 0x02) {
            /* 6to4: 2002:a.b.c.d::/48 carries an IPv4 address */
            a = (in_addr_t) b[2] << 24 | (in_addr_t) b[3] << 16
                | (in_addr_t) b[4] << 8 | b[5];
            return ngx_voicegw_dest_kind4(a);
        }

        return NGX_VOICEGW_DEST_PUBLIC;
#endif

    default:
        return NGX_VOICEGW_DEST_RESERVED;
    }
}


static ngx_uint_t
ngx_voicegw_dest_kind4(in_addr_t a)
{
    if ((a >> 24) == 127) {
        return NGX_VOICEGW_DEST_LOOPBACK;
    }

    if ((a >> 24) == 10                                 /* 10/8 */
        || (a >> 20) == (172 << 4 | 1)                  /* 172.16/12 */
        || (a >> 16) == (192 << 8 | 168)                /* 192.168/16 */
        || (a >> 22) == (100 << 2 | 1))                 /* 100.64/10 */
    {
        return NGX_VOICEGW_DEST_PRIVATE;
    }

    if ((a >> 16) == (169 << 8 | 254)) {                /* 169.254/16 */
        return NGX_VOICEGW_DEST_LINK_LOCAL;
    }

    if ((a >> 24) == 0                                  /* 0/8 */
        || (a >> 28) >= 0xe)                            /* 224/4, 240/4 */
    {
        return NGX_VOICEGW_DEST_RESERVED;
    }

    return NGX_VOICEGW_DEST_PUBLIC;
}


const char *
ngx_voicegw_dest_kind_name(ngx_uint_t kind)
{
    switch (kind) {
    case NGX_VOICEGW_DEST_PUBLIC:
        return "a public";
    case NGX_VOICEGW_DEST_LOOPBACK:
        return "a loopback";
    case NGX_VOICEGW_DEST_PRIVATE:
        return "a private";
    case NGX_VOICEGW_DEST_LINK_LOCAL:
        return "a link-local";
    default:
        return "a reserved";
    }
}


/* NGX_OK: the policy allows the address; NGX_DECLINED: it does not */

ngx_int_t
ngx_voicegw_dest_allowed(ngx_voicegw_dest_t *d, struct sockaddr *sa)
{
    ngx_uint_t  kinds;

    kinds = (d->kinds == NGX_CONF_UNSET_UINT) ? NGX_VOICEGW_DEST_PUBLIC
                                              : d->kinds;

    if (ngx_voicegw_dest_kind(sa) & kinds) {
        return NGX_OK;
    }

    if (d->ranges && ngx_cidr_match(sa, d->ranges) == NGX_OK) {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * Where a base_url is written: its host if it is an address (a name is
 * looked at once resolved, where it is used).  NGX_DECLINED with *why.
 */

ngx_int_t
ngx_voicegw_dest_host(ngx_voicegw_dest_t *d, ngx_pool_t *pool,
    ngx_str_t *host, const char **why)
{
    ngx_addr_t  addr;

    if (ngx_parse_addr(pool, &addr, host->data, host->len) != NGX_OK) {
        return NGX_OK;
    }

    if (ngx_voicegw_dest_allowed(d, addr.sockaddr) == NGX_OK) {
        return NGX_OK;
    }

    *why = ngx_voicegw_dest_kind_name(ngx_voicegw_dest_kind(addr.sockaddr));

    return NGX_DECLINED;
}
