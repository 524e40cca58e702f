
/*
 * ngx_voicegw_json_out.c
 *
 * Owns JSON generation, on yajl, and the chain-of-buffers writer under it
 * (also used for the Prometheus text of /v1/metrics).
 *
 * The generator's print callback appends to nginx buffers from the
 * request pool, so a response is never copied once it is built.  Numbers
 * are formatted here rather than by yajl, whose "%.20g" would print 0.3 as
 * 0.29999999999999998890.  Text from outside (nginx.conf, the store, a
 * peer) goes out as UTF-8: bytes that are not become U+FFFD, so that the
 * answer stays JSON.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"

#include <math.h>


#define NGX_VOICEGW_OUT_BUF_SIZE  4096


static void ngx_voicegw_json_print(void *ctx, const char *str, size_t len);
static void ngx_voicegw_json_cleanup(void *data);
static void ngx_voicegw_json_check(ngx_voicegw_json_t *j,
    yajl_gen_status rc);
static void ngx_voicegw_json_text(ngx_voicegw_json_t *j, u_char *data,
    size_t len);

ngx_voicegw_json_t *
ngx_voicegw_json_create(ngx_pool_t *pool)
{
    ngx_pool_cleanup_t  *cln;
    ngx_voicegw_json_t  *j;

    j = ngx_pcalloc(pool, sizeof(ngx_voicegw_json_t));
    if (j == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    j->gen = yajl_gen_alloc(NULL);
    if (j->gen == NULL) {
        return NULL;
    }

    cln->handler = ngx_voicegw_json_cleanup;
    cln->data = j;

    j->pool = pool;
    ngx_voicegw_out_init(&j->out, pool);

    yajl_gen_config(j->gen, yajl_gen_print_callback, ngx_voicegw_json_print,
                    j);

    return j;
}


static void
ngx_voicegw_json_cleanup(void *data)
{
    ngx_voicegw_json_t  *j = data;

    yajl_gen_free(j->gen);
}


static void
ngx_voicegw_json_print(void *ctx, const char *str, size_t len)
{
    ngx_voicegw_json_t  *j = ctx;

    ngx_voicegw_out_write(&j->out, str, len);
}


/* appends to a chain of buffers from the pool; a failure is latched */

void
ngx_voicegw_out_write(ngx_voicegw_out_t *o, const void *data, size_t len)
{
    size_t         n;
    const u_char  *p;
    ngx_chain_t   *cl;

    if (o->failed) {
        return;
    }

    p = data;
    o->size += len;

    while (len) {

        if (o->buf == NULL || o->buf->last == o->buf->end) {

            o->buf = ngx_create_temp_buf(o->pool,
                                      ngx_max(len, NGX_VOICEGW_OUT_BUF_SIZE));
            if (o->buf == NULL) {
                o->failed = 1;
                return;
            }

            cl = ngx_alloc_chain_link(o->pool);
            if (cl == NULL) {
                o->failed = 1;
                return;
            }

            cl->buf = o->buf;
            cl->next = NULL;
            *o->last = cl;
            o->last = &cl->next;
        }

        n = ngx_min(len, (size_t) (o->buf->end - o->buf->last));
        o->buf->last = ngx_cpymem(o->buf->last, p, n);
        p += n;
        len -= n;
    }
}


void
ngx_voicegw_out_init(ngx_voicegw_out_t *o, ngx_pool_t *pool)
{
    ngx_memzero(o, sizeof(ngx_voicegw_out_t));

    o->pool = pool;
    o->last = &o->out;
}


void
ngx_voicegw_out_cstr(ngx_voicegw_out_t *o, const char *s)
{
    ngx_voicegw_out_write(o, s, ngx_strlen(s));
}


/* the chain and its size; NULL when anything failed or nothing came */

ngx_chain_t *
ngx_voicegw_out_finish(ngx_voicegw_out_t *o, size_t *size)
{
    if (o->failed || o->out == NULL) {
        return NULL;
    }

    *size = o->size;

    return o->out;
}


ngx_chain_t *
ngx_voicegw_json_finish(ngx_voicegw_json_t *j, size_t *size)
{
    return ngx_voicegw_out_finish(&j->out, size);
}


static void
ngx_voicegw_json_check(ngx_voicegw_json_t *j, yajl_gen_status rc)
{
    if (rc != yajl_gen_status_ok) {
        j->out.failed = 1;
    }
}


void
ngx_voicegw_json_map_open(ngx_voicegw_json_t *j)
{
    ngx_voicegw_json_check(j, yajl_gen_map_open(j->gen));
}


void
ngx_voicegw_json_map_close(ngx_voicegw_json_t *j)
{
    ngx_voicegw_json_check(j, yajl_gen_map_close(j->gen));
}


void
ngx_voicegw_json_array_open(ngx_voicegw_json_t *j)
{
    ngx_voicegw_json_check(j, yajl_gen_array_open(j->gen));
}


void
ngx_voicegw_json_array_close(ngx_voicegw_json_t *j)
{
    ngx_voicegw_json_check(j, yajl_gen_array_close(j->gen));
}


void
ngx_voicegw_json_key(ngx_voicegw_json_t *j, const char *key)
{
    ngx_voicegw_json_check(j, yajl_gen_string(j->gen,
                                              (const unsigned char *) key,
                                              ngx_strlen(key)));
}


void
ngx_voicegw_json_str(ngx_voicegw_json_t *j, ngx_str_t *s)
{
    ngx_voicegw_json_text(j, s->data, s->len);
}


static void
ngx_voicegw_json_text(ngx_voicegw_json_t *j, u_char *data, size_t len)
{
    u_char  *p, *last, *out, *o;
    size_t   n;

    if (ngx_voicegw_utf8_valid(data, len)) {
        ngx_voicegw_json_check(j, yajl_gen_string(j->gen, data, len));
        return;
    }

    /* at most 3 bytes for each byte replaced */

    out = ngx_pnalloc(j->pool, len * 3);
    if (out == NULL) {
        j->out.failed = 1;
        return;
    }

    o = out;
    p = data;
    last = data + len;

    while (p < last) {
        n = ngx_voicegw_utf8_len(p, last);

        if (n == 0) {
            o = ngx_cpymem(o, "\xef\xbf\xbd", 3);
            p++;
            continue;
        }

        o = ngx_cpymem(o, p, n);
        p += n;
    }

    ngx_voicegw_json_check(j, yajl_gen_string(j->gen, out, o - out));
}


/* a string, or null when it is empty */

void
ngx_voicegw_json_strn(ngx_voicegw_json_t *j, u_char *data, size_t len)
{
    if (len == 0) {
        ngx_voicegw_json_null(j);
        return;
    }

    ngx_voicegw_json_text(j, data, len);
}


void
ngx_voicegw_json_cstr(ngx_voicegw_json_t *j, const char *s)
{
    ngx_voicegw_json_check(j, yajl_gen_string(j->gen,
                                              (const unsigned char *) s,
                                              ngx_strlen(s)));
}


void
ngx_voicegw_json_int(ngx_voicegw_json_t *j, int64_t n)
{
    ngx_voicegw_json_check(j, yajl_gen_integer(j->gen, (long long) n));
}


/* shortest form that reads back the same, with ".0" on whole numbers */

void
ngx_voicegw_json_double(ngx_voicegw_json_t *j, double d)
{
    int   n;
    char  buf[64];

    if (!isfinite(d)) {
        ngx_voicegw_json_null(j);
        return;
    }

    n = snprintf(buf, sizeof(buf) - 2, "%.15g", d);

    if (n <= 0 || n >= (int) sizeof(buf) - 2) {
        j->out.failed = 1;
        return;
    }

    if (strpbrk(buf, ".e") == NULL) {
        buf[n++] = '.';
        buf[n++] = '0';
    }

    ngx_voicegw_json_check(j, yajl_gen_number(j->gen, buf, n));
}


void
ngx_voicegw_json_fixed(ngx_voicegw_json_t *j, double d, ngx_uint_t decimals)
{
    int   n;
    char  buf[64];

    if (!isfinite(d)) {
        ngx_voicegw_json_null(j);
        return;
    }

    n = snprintf(buf, sizeof(buf), "%.*f", (int) decimals, d);

    if (n <= 0 || n >= (int) sizeof(buf)) {
        j->out.failed = 1;
        return;
    }

    ngx_voicegw_json_check(j, yajl_gen_number(j->gen, buf, n));
}


void
ngx_voicegw_json_bool(ngx_voicegw_json_t *j, ngx_uint_t b)
{
    ngx_voicegw_json_check(j, yajl_gen_bool(j->gen, b ? 1 : 0));
}


/* a number already checked to be one, as written */

void
ngx_voicegw_json_number(ngx_voicegw_json_t *j, ngx_str_t *n)
{
    ngx_voicegw_json_check(j, yajl_gen_number(j->gen, (char *) n->data,
                                              n->len));
}


void
ngx_voicegw_json_null(ngx_voicegw_json_t *j)
{
    ngx_voicegw_json_check(j, yajl_gen_null(j->gen));
}


/* ISO-8601 UTC to the second, "2026-02-24T10:30:00Z"; 0 is null */

void
ngx_voicegw_json_time(ngx_voicegw_json_t *j, uint64_t msec)
{
    u_char     buf[32], *p;
    ngx_tm_t   tm;

    if (msec == 0) {
        ngx_voicegw_json_null(j);
        return;
    }

    ngx_gmtime((time_t) (msec / 1000), &tm);

    p = ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

    ngx_voicegw_json_check(j, yajl_gen_string(j->gen, buf, p - buf));
}


/* prefix and 16 lowercase hex digits ("tk_0123456789abcdef"); 0 is null */

void
ngx_voicegw_json_hex(ngx_voicegw_json_t *j, const char *prefix, uint64_t n)
{
    u_char  buf[64], *p;

    if (n == 0) {
        ngx_voicegw_json_null(j);
        return;
    }

    p = ngx_snprintf(buf, sizeof(buf), "%s%016xL", prefix, n);

    ngx_voicegw_json_check(j, yajl_gen_string(j->gen, buf, p - buf));
}


/*
 * A parsed value written back out; the value of every object member named
 * "redact" (a secret) is replaced by the string "<redacted>".
 */

void
ngx_voicegw_json_value(ngx_voicegw_json_t *j, ngx_voicegw_json_value_t *v,
    const char *redact)
{
    size_t      rlen;
    ngx_uint_t  i;

    rlen = redact ? ngx_strlen(redact) : 0;

    switch (v->type) {

    case NGX_VOICEGW_JSON_NULL:
        ngx_voicegw_json_null(j);
        break;

    case NGX_VOICEGW_JSON_BOOL:
        ngx_voicegw_json_bool(j, v->boolean);
        break;

    case NGX_VOICEGW_JSON_NUMBER:
        ngx_voicegw_json_number(j, &v->str);
        break;

    case NGX_VOICEGW_JSON_STRING:
        ngx_voicegw_json_str(j, &v->str);
        break;

    case NGX_VOICEGW_JSON_ARRAY:
        ngx_voicegw_json_array_open(j);

        for (i = 0; i < v->n; i++) {
            ngx_voicegw_json_value(j, v->items[i], redact);
        }

        ngx_voicegw_json_array_close(j);
        break;

    case NGX_VOICEGW_JSON_OBJECT:
        ngx_voicegw_json_map_open(j);

        for (i = 0; i < v->n; i++) {
            ngx_voicegw_json_str(j, &v->keys[i]);

            if (rlen && v->keys[i].len == rlen
                && ngx_strncmp(v->keys[i].data, redact, rlen) == 0)
            {
                ngx_voicegw_json_cstr(j, "<redacted>");

            } else {
                ngx_voicegw_json_value(j, v->items[i], redact);
            }
        }

        ngx_voicegw_json_map_close(j);
        break;
    }
}


/* what the generator built, as one string */

ngx_int_t
ngx_voicegw_json_string(ngx_voicegw_json_t *j, ngx_pool_t *pool,
    ngx_str_t *out)
{
    u_char       *p;
    size_t        size;
    ngx_chain_t  *cl;

    cl = ngx_voicegw_json_finish(j, &size);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, size + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    for (p = out->data; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    *p = '\0';
    out->len = size;

    return NGX_OK;
}
