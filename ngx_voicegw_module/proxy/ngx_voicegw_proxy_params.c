
/*
 * ngx_voicegw_proxy_params.c
 *
 * Owns the values of the "voicegw_proxy" directive, one parameter at a
 * time (strict_models=on|off, resolv_conf=file|off, interim=time), and
 * the reading of the system's name servers from a resolv.conf's text
 * ("nameserver" lines with an address).  No ngx_conf_t and no file
 * here, so that this builds outside nginx (fuzz/);
 * ngx_voicegw_proxy_conf.c reads the file and says what was refused.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_proxy.h"


/*
 * NGX_OK; NGX_DECLINED, not one of them; NGX_ERROR, an invalid interim
 * (*bad is its value).  A resolv_conf= value goes to *resolv.
 */

ngx_int_t
ngx_voicegw_proxy_param(ngx_voicegw_proxy_loc_conf_t *plcf, ngx_str_t *arg,
    ngx_str_t *resolv, ngx_str_t *bad)
{
    ngx_str_t  v;

    if (ngx_voicegw_conf_param(arg, "strict_models", &v) == NGX_OK
        && ngx_voicegw_enum_value(ngx_voicegw_switches, &v,
                                  &plcf->strict_models)
           == NGX_OK)
    {
        return NGX_OK;
    }

    if (ngx_voicegw_conf_param(arg, "resolv_conf", resolv) == NGX_OK
        && resolv->len)
    {
        return NGX_OK;
    }

    if (ngx_voicegw_conf_param(arg, "interim", &v) == NGX_OK) {
        plcf->interim = ngx_parse_time(&v, 0);

        if (plcf->interim == (ngx_msec_t) NGX_ERROR
            || plcf->interim < 1000)
        {
            *bad = v;
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * The addresses of the first "max" "nameserver" lines of resolv.conf's
 * text, as "resolver" takes them, in the pool: how many, or NGX_ERROR.
 */

ngx_int_t
ngx_voicegw_proxy_nameservers(ngx_pool_t *pool, u_char *buf, size_t len,
    ngx_str_t *names, ngx_uint_t max)
{
    u_char      *p, *last, *line, *addr, in6[16];
    ngx_str_t    name;
    ngx_uint_t   nnames, ipv6;

    nnames = 0;
    last = buf + len;

    for (line = buf; line < last && nnames < max;
         line = p + 1)
    {
        p = ngx_strlchr(line, last, '\n');
        if (p == NULL) {
            p = last;
        }

        if (p - line < 11 || ngx_strncmp(line, "nameserver", 10) != 0
            || (line[10] != ' ' && line[10] != '\t'))
        {
            continue;
        }

        for (addr = line + 10; addr < p && (*addr == ' ' || *addr == '\t');
             addr++)
        {
            /* void */
        }

        for (name.data = addr; addr < p && *addr > ' '; addr++) {
            /* void */
        }

        name.len = addr - name.data;

        if (name.len == 0 || name.len > NGX_SOCKADDR_STRLEN) {
            continue;
        }

        /*
         * an address only: nginx's resolver refuses anything else there
         * (a scoped "fe80::1%eth0", "[::1]"), and would fail the
         * configuration for a line it can do without
         */

        ipv6 = (ngx_strlchr(name.data, name.data + name.len, ':') != NULL);

        if (ipv6 ? ngx_inet6_addr(name.data, name.len, in6) != NGX_OK
                 : ngx_inet_addr(name.data, name.len) == INADDR_NONE)
        {
            continue;
        }

        /* an IPv6 address goes in brackets, as "resolver" takes it */

        names[nnames].data = ngx_pnalloc(pool, name.len + 2);
        if (names[nnames].data == NULL) {
            return NGX_ERROR;
        }

        if (ipv6) {
            names[nnames].len = ngx_sprintf(names[nnames].data, "[%V]", &name)
                                - names[nnames].data;

        } else {
            names[nnames].len = ngx_cpymem(names[nnames].data, name.data,
                                           name.len)
                                - names[nnames].data;
        }

        nnames++;
    }

    return nnames;
}
