
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

    if (ngx_standin_copy(pool, rest.data, rest.len, &text) != NGX_OK) {
        goto done;
    }

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

#include <math.h>

#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_eta.h"
#include "ngx_voicegw_proxy.h"


typedef enum {
    FUZZ_CONF_VALUES = 0,
    FUZZ_CONF_DESTINATIONS,
    FUZZ_CONF_POOL,
    FUZZ_CONF_TASK,
    FUZZ_CONF_ETA,
    FUZZ_CONF_PROXY,
    FUZZ_CONF_RESOLV,
    FUZZ_CONF_NMODES
} fuzz_conf_mode_e;


/*
 * A "name=value" word through the helpers every directive reads its
 * values with: the parameter's split, a plain number, switches and
 * booleans, ids, sizes and times.
 */

static void
fuzz_conf_value(ngx_str_t *word)
{
    u_char      *eq, name[32];
    double       d;
    ngx_str_t    v;
    ngx_uint_t   u;

    eq = ngx_strlchr(word->data, word->data + word->len, '=');

    if (eq == NULL || (size_t) (eq - word->data) >= sizeof(name)
        || ngx_strlchr(word->data, eq, '\0') != NULL)
    {
        v = *word;

    } else {
        ngx_memcpy(name, word->data, eq - word->data);
        name[eq - word->data] = '\0';

        if (ngx_voicegw_conf_param(word, (char *) name, &v) != NGX_OK
            || v.data != eq + 1
            || v.len != (size_t) (word->data + word->len - v.data))
        {
            __builtin_trap();
        }
    }

    if (ngx_voicegw_parse_number(v.data, v.len, &d) == NGX_OK
        && !isfinite(d))
    {
        __builtin_trap();
    }

    (void) ngx_voicegw_enum_value(ngx_voicegw_switches, &v, &u);
    (void) ngx_voicegw_enum_value_caseless(ngx_voicegw_booleans, &v, &u);
    (void) ngx_voicegw_valid_id(&v);
    (void) ngx_voicegw_valid_model_id(&v);
    (void) ngx_voicegw_valid_modality(&v);
    (void) ngx_voicegw_valid_budget_action(&v);
    (void) ngx_voicegw_valid_accent(&v);
    (void) ngx_parse_size(&v);
    (void) ngx_parse_offset(&v);
    (void) ngx_parse_time(&v, 0);
    (void) ngx_parse_time(&v, 1);
}


/* what a taken parameter promises, directive by directive */

static void
fuzz_conf_pool(ngx_str_t *word)
{
    ngx_voicegw_pool_conf_t  pcf;

    ngx_memzero(&pcf, sizeof(ngx_voicegw_pool_conf_t));
    pcf.queue_timeout = 1;
    pcf.health_interval = 100;
    pcf.health_timeout = 1;
    ngx_str_set(&pcf.health_uri, "/health");

    if (ngx_voicegw_pool_param(&pcf, word) == NGX_OK
        && (pcf.queue_max > 1000000 || pcf.queue_timeout == 0
            || pcf.health_interval < 100 || pcf.health_timeout == 0
            || pcf.health_uri.len == 0 || pcf.health_uri.data[0] != '/'))
    {
        __builtin_trap();
    }
}


static void
fuzz_conf_task(ngx_voicegw_task_conf_t *tcf, ngx_str_t *word)
{
    if (ngx_voicegw_task_param(tcf, word) == NGX_OK
        && (tcf->queue_update < 100 || tcf->queue_buffer < 4096
            || tcf->relay_buffer < 1024 || tcf->queue_frames > 1
            || (tcf->pool_name.data && tcf->pool_name.len == 0)
            || (tcf->app.data && tcf->app.len == 0)))
    {
        __builtin_trap();
    }
}


static void
fuzz_conf_eta(ngx_voicegw_eta_conf_t *ec, ngx_str_t *word)
{
    ngx_int_t   rc;
    ngx_str_t   name, err;
    ngx_uint_t  t;

    ngx_str_null(&err);

    rc = ngx_voicegw_eta_param(ec, word, &name, &err);

    if (rc == NGX_ERROR && (err.len == 0 || name.len == 0)) {
        __builtin_trap();
    }

    for (t = 0; t < NGX_VOICEGW_TASK_NTYPES; t++) {
        if (ngx_voicegw_eta_check(t, ec->baseline[t], &err) != NGX_OK) {
            __builtin_trap();
        }
    }

    if (ngx_voicegw_eta_check(NGX_VOICEGW_ETA_ALPHA, ec->alpha, &err)
        != NGX_OK
        || ngx_voicegw_eta_check(NGX_VOICEGW_ETA_MIN_SAMPLES,
                                 (double) ec->min_samples, &err)
           != NGX_OK)
    {
        __builtin_trap();
    }
}


static void
fuzz_conf_proxy(ngx_str_t *word)
{
    ngx_int_t                     rc;
    ngx_str_t                     resolv, bad;
    ngx_voicegw_proxy_loc_conf_t  plcf;

    ngx_memzero(&plcf, sizeof(ngx_voicegw_proxy_loc_conf_t));
    plcf.interim = NGX_VOICEGW_PROXY_INTERIM;
    ngx_str_set(&resolv, "/etc/resolv.conf");
    ngx_str_null(&bad);

    rc = ngx_voicegw_proxy_param(&plcf, word, &resolv, &bad);

    if ((rc == NGX_OK && (plcf.interim < 1000 || plcf.strict_models > 1
                          || resolv.len == 0))
        || (rc == NGX_ERROR && bad.data == NULL))
    {
        __builtin_trap();
    }
}


/* resolv.conf's name servers: at most 3, each an address, bracketed v6 */

static void
fuzz_conf_resolv(ngx_pool_t *pool, u_char *text, size_t len)
{
    u_char      *p;
    ngx_int_t    n, i;
    ngx_str_t    names[3], *s;

    n = ngx_voicegw_proxy_nameservers(pool, text, len, names, 3);

    if (n == NGX_ERROR) {
        return;
    }

    if (n > 3) {
        __builtin_trap();
    }

    for (i = 0; i < n; i++) {
        s = &names[i];

        if (s->len == 0 || s->len > NGX_SOCKADDR_STRLEN + 2
            || (ngx_strlchr(s->data, s->data + s->len, ':') != NULL)
               != (s->data[0] == '['))
        {
            __builtin_trap();
        }

        for (p = s->data; p < s->data + s->len; p++) {
            if (*p <= ' ') {
                __builtin_trap();
            }
        }
    }
}


/*
 * The first byte picks a directive (or the values' helpers), the rest is
 * its arguments, split at spaces (for resolv_conf=, the file's text).
 */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_str_t                *word, text;
    ngx_uint_t                i, mode;
    ngx_conf_t                cf;
    ngx_pool_t               *pool;
    ngx_voicegw_dest_t        d;
    ngx_voicegw_eta_conf_t    ec;
    ngx_voicegw_task_conf_t   tcf;

    if (size == 0) {
        return 0;
    }

    mode = data[0] % FUZZ_CONF_NMODES;
    pool = ngx_standin_pool_create();

    if (ngx_standin_copy(pool, (u_char *) data + 1, size - 1, &text) != NGX_OK)
    {
        goto done;
    }

    if (mode == FUZZ_CONF_RESOLV) {
        fuzz_conf_resolv(pool, text.data, text.len);
        goto done;
    }

    if (mode == FUZZ_CONF_DESTINATIONS) {
        (void) fuzz_dest(pool, &text, &d);
        goto done;
    }

    fuzz_conf(&cf, pool, "voicegw", text.data, text.len);

    if (cf.args == NULL) {
        goto done;
    }

    ngx_memzero(&tcf, sizeof(ngx_voicegw_task_conf_t));
    tcf.queue_update = 3000;
    tcf.queue_buffer = 4 * 1024 * 1024;
    tcf.relay_buffer = 64 * 1024;

    for (i = 0; i < NGX_VOICEGW_TASK_NTYPES; i++) {
        ec.baseline[i] = 1.0;
    }

    ec.alpha = 0.3;
    ec.min_samples = 3;

    word = cf.args->elts;

    for (i = 1; i < cf.args->nelts; i++) {

        switch (mode) {

        case FUZZ_CONF_POOL:
            fuzz_conf_pool(&word[i]);
            break;

        case FUZZ_CONF_TASK:
            fuzz_conf_task(&tcf, &word[i]);
            break;

        case FUZZ_CONF_ETA:
            fuzz_conf_eta(&ec, &word[i]);
            break;

        case FUZZ_CONF_PROXY:
            fuzz_conf_proxy(&word[i]);
            break;

        default:
            fuzz_conf_value(&word[i]);
        }
    }

done:

    ngx_standin_pool_destroy(pool);

    return 0;
}

#else
#error "define FUZZ_URL or FUZZ_CONF"
#endif
