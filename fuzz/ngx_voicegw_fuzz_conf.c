
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
 *   secret the key file of voicegw_secret, through its parser and the
 *          directive (registry/ngx_voicegw_secret.c); sealed keys that
 *          must not open, and keys sealed and opened again, changed or
 *          not; the masked form of a key
 *   catalog
 *          the price catalogue's file, through voicegw_price_catalog
 *          (registry/ngx_voicegw_catalog.c), families' regexes compiled
 *          by PCRE2 (t/support/ngx_standin_regex.c), and the lookups of
 *          its rows' models and of a model of the input
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


/*
 * A directive that names a file: the text in a file of its own (path, a
 * mkstemp() template, is its name; the caller removes it), and the
 * directive's ngx_conf_t with the file's name NUL-terminated, as
 * nginx.conf's words are.  NGX_ERROR: no file.
 */

static ngx_int_t
fuzz_conf_file(ngx_conf_t *cf, ngx_pool_t *pool, const char *name,
    char *path, u_char *text, size_t len)
{
    int         fd;
    ngx_str_t  *arg;

    fd = mkstemp(path);

    if (fd == -1) {
        return NGX_ERROR;
    }

    if (write(fd, text, len) != (ssize_t) len) {
        __builtin_trap();
    }

    (void) close(fd);

    fuzz_conf(cf, pool, name, text, 0);

    if (cf->args == NULL) {
        return NGX_ERROR;
    }

    arg = ngx_array_push(cf->args);

    if (arg == NULL) {
        return NGX_ERROR;
    }

    arg->data = (u_char *) path;
    arg->len = ngx_strlen(path);

    return NGX_OK;
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


/* -- secret ------------------------------------------------------------ */

#elif defined(FUZZ_SECRET)

#include <ctype.h>
#include <openssl/crypto.h>

#include "ngx_voicegw_module.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_secret.h"


#define FUZZ_SECRET_BUF  256                    /* the directive's read */


typedef enum {
    FUZZ_SECRET_PARSE = 0,
    FUZZ_SECRET_DIRECTIVE,
    FUZZ_SECRET_OPEN,
    FUZZ_SECRET_ROUND_TRIP,
    FUZZ_SECRET_MASK,
    FUZZ_SECRET_NMODES
} fuzz_secret_mode_e;


static u_char  fuzz_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


/* a base64 digit's value, or -1 */

static int
fuzz_secret_b64(u_char c)
{
    u_char  *p;

    p = (u_char *) memchr(fuzz_b64, c, 64);

    return p ? (int) (p - fuzz_b64) : -1;
}


/*
 * What the text of a key file must give, by the forms the directive
 * documents, worked out apart from the parser: 32 bytes as they are;
 * else, trailing newlines and spaces aside, 64 hex digits; else base64
 * of 32 bytes (43 digits, then "=" or the end; nginx's decoder stops at
 * the first "=" and ignores the bits past the last byte) of a length
 * the parser's buffer takes.  The parser's key is checked against it.
 */

static void
fuzz_secret_check(u_char *data, size_t len, ngx_int_t rc, u_char *key)
{
    u_char      enc[48];
    size_t      tlen, i, eq;
    ngx_str_t   src, dst;
    ngx_uint_t  hex, b64;

    if (len == NGX_VOICEGW_SECRET_LEN) {
        if (rc != NGX_OK || ngx_memcmp(key, data, len) != 0) {
            __builtin_trap();
        }

        return;
    }

    for (tlen = len; tlen; tlen--) {
        if (data[tlen - 1] != '\n' && data[tlen - 1] != '\r'
            && data[tlen - 1] != ' ')
        {
            break;
        }
    }

    hex = (tlen == 2 * NGX_VOICEGW_SECRET_LEN);

    for (i = 0; hex && i < tlen; i++) {
        hex = (isxdigit(data[i]) != 0);
    }

    for (eq = 0; eq < tlen && data[eq] != '='; eq++) {
        if (fuzz_secret_b64(data[eq]) == -1) {
            break;
        }
    }

    b64 = (eq == 43 && (eq == tlen || data[eq] == '=') && tlen <= 84);

    if ((rc == NGX_OK) != (hex || b64)) {
        __builtin_trap();
    }

    if (rc != NGX_OK) {
        return;
    }

    if (hex) {
        for (i = 0; i < NGX_VOICEGW_SECRET_LEN; i++) {
            if (key[i] != (u_char) ngx_hextoi(data + 2 * i, 2)) {
                __builtin_trap();
            }
        }

        return;
    }

    /* base64: the key's encoding has the text's 42 digits, and the 43rd's
     * high bits */

    src.data = key;
    src.len = NGX_VOICEGW_SECRET_LEN;
    dst.data = enc;
    ngx_encode_base64(&dst, &src);

    if (dst.len != 44 || ngx_memcmp(enc, data, 42) != 0
        || fuzz_secret_b64(enc[42]) >> 2 != fuzz_secret_b64(data[42]) >> 2)
    {
        __builtin_trap();
    }
}


/*
 * The text in a file, through the directive, as nginx.conf has it read:
 * it takes what the parser takes, and the same key.
 */

static void
fuzz_secret_directive(ngx_pool_t *pool, ngx_str_t *text)
{
    char                     path[] = "/tmp/voicegw-secret.XXXXXX";
    u_char                   key[NGX_VOICEGW_SECRET_LEN];
    char                    *rv;
    ngx_int_t                rc;
    ngx_conf_t               cf;
    ngx_voicegw_registry_t   registry;
    ngx_voicegw_main_conf_t  vmcf;

    if (fuzz_conf_file(&cf, pool, "voicegw_secret", path, text->data,
                       text->len)
        != NGX_OK)
    {
        goto done;
    }

    ngx_memzero(&vmcf, sizeof(ngx_voicegw_main_conf_t));
    ngx_memzero(&registry, sizeof(ngx_voicegw_registry_t));
    vmcf.registry = &registry;

    rv = ngx_voicegw_secret_directive(&cf, NULL, &vmcf);

    rc = (text->len < FUZZ_SECRET_BUF)
         ? ngx_voicegw_secret_parse(text->data, text->len, key) : NGX_ERROR;

    if ((rv == NGX_CONF_OK) != (rc == NGX_OK)
        || (rc == NGX_OK
            && ngx_memcmp(registry.secret, key, sizeof(key)) != 0))
    {
        __builtin_trap();
    }

done:

    (void) unlink(path);
}


/* a sealed text opens to the text, NUL-terminated, or not at all */

static ngx_int_t
fuzz_secret_open(ngx_pool_t *pool, u_char *key, ngx_str_t *aad,
    ngx_str_t *sealed, ngx_str_t *text)
{
    ngx_int_t  rc;
    ngx_str_t  plain;

    rc = ngx_voicegw_secret_decrypt(pool, key, aad, sealed, &plain);

    if (rc == NGX_ERROR
        || (rc == NGX_OK
            && (plain.len != text->len
                || ngx_memcmp(plain.data, text->data, text->len) != 0
                || plain.data[plain.len] != '\0')))
    {
        __builtin_trap();
    }

    return rc;
}


/*
 * Round trip: the text sealed with the key and the aad, opened again to
 * the same text; sealed text changed (a byte, cut short), or opened with
 * another aad or key, opens to the same text or not at all.
 */

static void
fuzz_secret_round_trip(ngx_pool_t *pool, u_char *key, ngx_str_t *aad,
    ngx_str_t *text, ngx_uint_t at, u_char flip)
{
    ngx_str_t  sealed, plain, other;

    if (ngx_voicegw_secret_encrypt(pool, key, aad, text, &sealed) != NGX_OK
        || sealed.len != 3 + ngx_base64_encoded_length(12 + text->len + 16)
        || ngx_strncmp(sealed.data, "v1:", 3) != 0)
    {
        __builtin_trap();
    }

    if (fuzz_secret_open(pool, key, aad, &sealed, text) != NGX_OK) {
        __builtin_trap();
    }

    other.len = aad->len + 1;
    other.data = ngx_pnalloc(pool, other.len);

    if (other.data == NULL) {
        return;
    }

    ngx_memcpy(other.data, aad->data, aad->len);
    other.data[aad->len] = 'x';

    if (ngx_voicegw_secret_decrypt(pool, key, &other, &sealed, &plain)
        != NGX_DECLINED)
    {
        __builtin_trap();
    }

    key[at % NGX_VOICEGW_SECRET_LEN] ^= flip | 1;

    if (ngx_voicegw_secret_decrypt(pool, key, aad, &sealed, &plain)
        != NGX_DECLINED)
    {
        __builtin_trap();
    }

    key[at % NGX_VOICEGW_SECRET_LEN] ^= flip | 1;

    sealed.data[at % sealed.len] ^= flip;
    fuzz_secret_open(pool, key, aad, &sealed, text);

    sealed.data[at % sealed.len] ^= flip;
    sealed.len -= 1 + at % sealed.len;
    fuzz_secret_open(pool, key, aad, &sealed, text);
}


/* the masked form shows no more than 8 bytes of a key, 4 of a short one */

static void
fuzz_secret_mask(ngx_pool_t *pool, ngx_str_t *text)
{
    size_t     i;
    ngx_str_t  masked;

    ngx_voicegw_secret_mask(pool, text, &masked);

    if (text->len <= 8) {
        if (masked.len != text->len) {
            __builtin_trap();
        }

        for (i = 0; i < masked.len; i++) {
            if (masked.data[i] != '*') {
                __builtin_trap();
            }
        }

        return;
    }

    if (masked.len != 11
        || ngx_memcmp(masked.data, text->data, 4) != 0
        || ngx_memcmp(masked.data + 4, "...", 3) != 0
        || ngx_memcmp(masked.data + 7, text->data + text->len - 4, 4) != 0)
    {
        __builtin_trap();
    }
}


/*
 * The first byte picks what the rest is: a key file's text, through the
 * parser or the directive; a sealed key ("aad\nsealed") that must not
 * open, as no key of the input sealed it; "key (32 bytes) aad\ntext" for
 * a round trip, the byte changed and the cut picked by the second byte;
 * or a key to mask.
 */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char       key[NGX_VOICEGW_SECRET_LEN];
    ngx_int_t    rc;
    ngx_str_t    text, aad, rest, plain;
    ngx_uint_t   mode, i;
    ngx_pool_t  *pool;

    if (size < 2) {
        return 0;
    }

    mode = data[0] % FUZZ_SECRET_NMODES;

    pool = ngx_standin_pool_create();

    if (ngx_standin_copy(pool, (u_char *) data + 2, size - 2, &text)
        != NGX_OK)
    {
        goto done;
    }

    for (i = 0; i < NGX_VOICEGW_SECRET_LEN; i++) {
        key[i] = (u_char) i;
    }

    switch (mode) {

    case FUZZ_SECRET_PARSE:
        if (text.len < FUZZ_SECRET_BUF) {
            rc = ngx_voicegw_secret_parse(text.data, text.len, key);
            fuzz_secret_check(text.data, text.len, rc, key);
        }

        break;

    case FUZZ_SECRET_DIRECTIVE:
        fuzz_secret_directive(pool, &text);
        break;

    case FUZZ_SECRET_OPEN:
        if (fuzz_line(text.data, text.len, &aad, &rest) == NGX_OK
            && ngx_voicegw_secret_decrypt(pool, key, &aad, &rest, &plain)
               != NGX_DECLINED)
        {
            __builtin_trap();
        }

        break;

    case FUZZ_SECRET_ROUND_TRIP:
        if (text.len < NGX_VOICEGW_SECRET_LEN) {
            break;
        }

        ngx_memcpy(key, text.data, NGX_VOICEGW_SECRET_LEN);
        text.data += NGX_VOICEGW_SECRET_LEN;
        text.len -= NGX_VOICEGW_SECRET_LEN;

        if (fuzz_line(text.data, text.len, &aad, &rest) == NGX_OK) {
            fuzz_secret_round_trip(pool, key, &aad, &rest, data[1],
                                   (u_char) (data[1] * 7 + 1));
        }

        break;

    default:
        fuzz_secret_mask(pool, &text);
    }

    OPENSSL_cleanse(key, sizeof(key));

done:

    ngx_standin_pool_destroy(pool);

    return 0;
}


/* -- catalog ----------------------------------------------------------- */

#elif defined(FUZZ_CATALOG)

#include <math.h>

#include "ngx_voicegw_module.h"
#include "ngx_voicegw_catalog.h"


#define FUZZ_CATALOG_MODEL  64          /* a looked-up model, at most */


static const char  *fuzz_catalog_types[] = {
    "deepgram", "openai", "anthropic", "groq", "gemini", "cartesia",
    "elevenlabs", "assemblyai", NULL
};


/*
 * The row a lookup of a model gives keeps the promises: one of the type
 * asked for, priced (prices of 0 or more), with a source and a date;
 * the model's own row if it is an exact id, else a family whose regex
 * matches it.
 */

static const ngx_voicegw_catalog_row_t *
fuzz_catalog_find(ngx_voicegw_catalog_t *cat, ngx_uint_t type,
    ngx_str_t *model)
{
    ngx_uint_t                        k;
    const ngx_voicegw_catalog_row_t  *row;

    row = ngx_voicegw_catalog_find(cat, fuzz_catalog_types[type], model);

    if (row == NULL) {
        return NULL;
    }

    if (row->type != type || row->priced == 0
        || row->priced >> NGX_VOICEGW_CATALOG_NPRICES
        || row->source.len == 0 || row->date.len != 10
        || row->line == 0 || row->model.len == 0
        || row->model.data[row->model.len] != '\0')
    {
        __builtin_trap();
    }

    for (k = 0; k < NGX_VOICEGW_CATALOG_NPRICES; k++) {
        if ((row->priced & ((ngx_uint_t) 1 << k))
            && !(row->price[k] >= 0 && isfinite(row->price[k])))
        {
            __builtin_trap();
        }
    }

    if (row->regex == NULL
        ? (row->model.len != model->len
           || ngx_memcmp(row->model.data, model->data, model->len) != 0
           || row->model.data[0] == '~')
        : (row->model.data[0] != '~'
           || ngx_regex_exec(row->regex, model, NULL, 0) < 0))
    {
        __builtin_trap();
    }

    return row;
}


/* a column of a line, stripped of the spaces around it; p past its tab */

static ngx_str_t
fuzz_catalog_column(u_char **p, u_char *last)
{
    u_char     *tab;
    ngx_str_t   col;

    tab = ngx_strlchr(*p, last, '\t');

    col.data = *p;
    col.len = (tab ? tab : last) - *p;
    *p = tab ? tab + 1 : last;

    while (col.len && col.data[0] == ' ') {
        col.data++;
        col.len--;
    }

    while (col.len && col.data[col.len - 1] == ' ') {
        col.len--;
    }

    return col;
}


/*
 * A file the directive took: each line that is neither blank nor a
 * comment is a row, and the lookup of a row's exact id by its type gives
 * that row, before any family.
 */

static void
fuzz_catalog_rows(ngx_voicegw_catalog_t *cat, ngx_str_t *text)
{
    u_char                           *p, *q, *eol, *last;
    ngx_str_t                         type, model;
    ngx_uint_t                        line, t;
    const ngx_voicegw_catalog_row_t  *row;

    last = text->data + text->len;

    for (p = text->data, line = 1; p < last; p = eol + 1, line++) {
        eol = ngx_strlchr(p, last, '\n');
        eol = eol ? eol : last;

        for (q = p; q < eol && (*q == ' ' || *q == '\t'); q++) {
            /* void */
        }

        if (q == eol || *q == '#' || (*q == '\r' && q + 1 == eol)) {
            continue;
        }

        q = p;
        type = fuzz_catalog_column(&q, eol);
        model = fuzz_catalog_column(&q, eol);

        if (model.len == 0 || model.data[0] == '~') {
            continue;
        }

        for (t = 0; fuzz_catalog_types[t]; t++) {
            if (type.len == ngx_strlen(fuzz_catalog_types[t])
                && ngx_memcmp(type.data, fuzz_catalog_types[t], type.len)
                   == 0)
            {
                break;
            }
        }

        if (fuzz_catalog_types[t] == NULL) {
            __builtin_trap();                   /* a row of no type */
        }

        row = fuzz_catalog_find(cat, t, &model);

        if (row == NULL || row->regex != NULL || row->line != line) {
            __builtin_trap();
        }
    }
}


/*
 * The first byte picks the provider type of a lookup; then
 * "model\nfile": a model to look up, and the catalogue's file, read by
 * the directive as nginx.conf has it read.  A file refused has its
 * reason; a file taken keeps the promises above.
 */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                     path[] = "/tmp/voicegw-catalog.XXXXXX";
    char                    *rv;
    ngx_str_t                model, text;
    ngx_uint_t               t;
    ngx_conf_t               cf;
    ngx_pool_t              *pool;
    ngx_voicegw_main_conf_t  vmcf;

    if (size < 2 || fuzz_line(data + 1, size - 1, &model, &text) != NGX_OK
        || model.len > FUZZ_CATALOG_MODEL)
    {
        return 0;
    }

    pool = ngx_standin_pool_create();

    ngx_memzero(&vmcf, sizeof(ngx_voicegw_main_conf_t));

    if (fuzz_conf_file(&cf, pool, "voicegw_price_catalog", path, text.data,
                       text.len)
        != NGX_OK
        || ngx_standin_copy(pool, model.data, model.len, &model) != NGX_OK)
    {
        goto done;
    }

    ngx_standin_conf_error[0] = '\0';

    rv = ngx_voicegw_catalog_directive(&cf, NULL, &vmcf);

    if (rv != NGX_CONF_OK) {
        if (ngx_standin_conf_error[0] == '\0') {
            __builtin_trap();
        }

        goto done;
    }

    fuzz_catalog_rows(vmcf.catalog, &text);

    t = data[0] % (sizeof(fuzz_catalog_types) / sizeof(char *) - 1);

    if (model.len) {
        (void) fuzz_catalog_find(vmcf.catalog, t, &model);
    }

done:

    ngx_standin_pool_destroy(pool);
    (void) unlink(path);

    return 0;
}

#else
#error "define FUZZ_URL, FUZZ_CONF, FUZZ_SECRET or FUZZ_CATALOG"
#endif
