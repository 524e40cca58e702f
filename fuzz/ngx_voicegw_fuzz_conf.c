
/*
 * fuzz/ngx_voicegw_fuzz_conf.c
 *
 * Owns the libFuzzer targets of what an operator writes (issue 13, point
 * 2): one binary per target, chosen at compile time (-DFUZZ_<TARGET>),
 * built by fuzz/run.sh like those of fuzz/ngx_voicegw_fuzz.c, on the
 * stand-ins of t/support/ngx_standin*.c.
 *
 *   url    a provider's base_url (core/ngx_voicegw_url.c), and the
 *          destination policy's verdict on its host
 *          (core/ngx_voicegw_dest.c), under a policy the input writes
 *   conf   directive arguments: "name=value" parameters, numbers, sizes,
 *          times, switches, ids, the destination policy, the pools', the
 *          proxy's and the ETA's parameters, resolv.conf
 *
 * A directive's parser is given an ngx_conf_t of its own making: a pool,
 * the arguments, a log; its errors land in ngx_standin_conf_error.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdint.h>

#include "ngx_standin.h"
#include "ngx_voicegw_url.h"
#include "ngx_voicegw_dest.h"


#define FUZZ_MAX_ARGS  64


/*
 * A directive's ngx_conf_t: its arguments are the words of text (split at
 * spaces, each copied into a block of its own, so that a read past a
 * word's end is seen), after the directive's name.
 */

static void
fuzz_conf(ngx_conf_t *cf, ngx_pool_t *pool, const char *name, u_char *text,
    size_t len)
{
    u_char     *p, *last, *start;
    ngx_str_t  *arg;

    ngx_memzero(cf, sizeof(ngx_conf_t));

    cf->pool = pool;
    cf->temp_pool = pool;
    cf->log = &ngx_standin_log;
    cf->args = ngx_array_create(pool, 8, sizeof(ngx_str_t));

    if (cf->args == NULL) {
        return;
    }

    arg = ngx_array_push(cf->args);
    if (arg == NULL) {
        return;
    }

    arg->data = (u_char *) name;
    arg->len = ngx_strlen(name);

    p = text;
    last = text + len;

    while (p < last && cf->args->nelts < FUZZ_MAX_ARGS) {
        start = p;

        while (p < last && *p != ' ') {
            p++;
        }

        arg = ngx_array_push(cf->args);
        if (arg == NULL) {
            return;
        }

        arg->len = p - start;
        arg->data = ngx_pnalloc(pool, arg->len);

        if (arg->data == NULL) {
            return;
        }

        ngx_memcpy(arg->data, start, arg->len);

        p++;
    }
}


/* "line 1\nthe rest": the first line, and the input after it */

static ngx_int_t
fuzz_line(const uint8_t *data, size_t size, ngx_str_t *line, ngx_str_t *rest)
{
    u_char  *nl;

    nl = memchr(data, '\n', size);

    if (nl == NULL) {
        return NGX_DECLINED;
    }

    line->data = (u_char *) data;
    line->len = nl - (u_char *) data;
    rest->data = nl + 1;
    rest->len = size - line->len - 1;

    return NGX_OK;
}


/* the destination policy of the words of text: NGX_OK, or NGX_ERROR */

static ngx_int_t
fuzz_dest(ngx_pool_t *pool, ngx_str_t *text, ngx_voicegw_dest_t *d)
{
    ngx_conf_t   cf;

    d->kinds = NGX_CONF_UNSET_UINT;
    d->ranges = NULL;

    if (text->len == 0) {
        return NGX_OK;
    }

    fuzz_conf(&cf, pool, "voicegw_provider_destinations", text->data,
              text->len);

    if (cf.args == NULL || cf.args->nelts < 2) {
        return NGX_ERROR;
    }

    return ngx_voicegw_dest_parse(&cf, d) == NGX_CONF_OK ? NGX_OK
                                                         : NGX_ERROR;
}


/* -- url --------------------------------------------------------------- */

#if defined(FUZZ_URL)

/*
 * "policy words\nbase_url": the policy parsed as the directive would
 * parse it, the URL as nginx.conf, the API and the provider test parse
 * it, then the policy's verdict on its host.  What a parsed URL promises
 * is checked: a host of name characters or an address, NUL-terminated,
 * with no brackets; a port; a prefix that is a path; no trailing slash.
 */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char              *p;
    size_t               len;
    ngx_str_t            words, text, rest;
    ngx_pool_t          *pool;
    const char          *err, *why;
    ngx_voicegw_url_t    url;
    ngx_voicegw_dest_t   d;

    if (fuzz_line(data, size, &words, &rest) != NGX_OK) {
        return 0;
    }

    pool = ngx_standin_pool_create();

    if (fuzz_dest(pool, &words, &d) != NGX_OK) {
        goto done;
    }

    /* the URL in a block of its own size: a read past it is seen */

    text.len = rest.len;
    text.data = ngx_pnalloc(pool, rest.len);

    if (text.data == NULL) {
        goto done;
    }

    ngx_memcpy(text.data, rest.data, rest.len);
    len = text.len;
    err = NULL;

    if (ngx_voicegw_url_parse(pool, &text, &url, &err) != NGX_OK) {
        if (err == NULL || ngx_strlen(err) == 0) {
            __builtin_trap();
        }

        goto done;
    }

    if (text.len > len || text.len < 8
        || (text.data[text.len - 1] == '/' && text.len > 8)
        || url.host.len == 0 || url.host.data[url.host.len] != '\0'
        || ngx_strlchr(url.host.data, url.host.data + url.host.len, '[')
        || ngx_strlchr(url.host.data, url.host.data + url.host.len, ']')
        || url.port == 0
        || (url.prefix.len
            && (url.prefix.data[0] != '/' || url.prefix.data < text.data
                || url.prefix.data + url.prefix.len
                   > text.data + text.len)))
    {
        __builtin_trap();
    }

    for (p = url.host.data; p < url.host.data + url.host.len; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '/' || *p == '@') {
            __builtin_trap();
        }
    }

    why = NULL;

    if (ngx_voicegw_dest_host(&d, pool, &url.host, &why) == NGX_DECLINED
        && (why == NULL || ngx_strlen(why) == 0))
    {
        __builtin_trap();
    }

done:

    ngx_standin_pool_destroy(pool);

    return 0;
}


/* -- conf -------------------------------------------------------------- */

#elif defined(FUZZ_CONF)

#error "conf: not yet"

#else
#error "define FUZZ_URL or FUZZ_CONF"
#endif
