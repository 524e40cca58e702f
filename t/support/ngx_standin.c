
/*
 * t/support/ngx_standin.c
 *
 * Owns the stand-ins for the few nginx functions the module's stream
 * parsers call, so that they run outside nginx: in the parser driver of
 * t/050-parsers.t and in the fuzz targets of fuzz/.  Pool memory is
 * malloc()ed block by block and freed, cleanups run, when the pool is
 * destroyed, so that AddressSanitizer sees every leak and every use after
 * the pool is gone.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_sha1.h>

#include <strings.h>
#include <openssl/evp.h>

#include "ngx_standin.h"


ngx_log_t  ngx_standin_log;

/* ngx_time(): the targets set the time they run at */
volatile ngx_time_t  *ngx_cached_time;


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    ngx_pool_large_t  *l;

    l = malloc(sizeof(ngx_pool_large_t));
    if (l == NULL) {
        return NULL;
    }

    l->alloc = malloc(size ? size : 1);
    if (l->alloc == NULL) {
        free(l);
        return NULL;
    }

    l->next = pool->large;
    pool->large = l;

    return l->alloc;
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    void  *p;

    p = ngx_palloc(pool, size);
    if (p) {
        ngx_memzero(p, size);
    }

    return p;
}


ngx_pool_cleanup_t *
ngx_pool_cleanup_add(ngx_pool_t *p, size_t size)
{
    ngx_pool_cleanup_t  *c;

    c = malloc(sizeof(ngx_pool_cleanup_t));
    if (c == NULL) {
        return NULL;
    }

    c->data = size ? ngx_palloc(p, size) : NULL;
    c->handler = NULL;
    c->next = p->cleanup;
    p->cleanup = c;

    return c;
}


ngx_chain_t *
ngx_alloc_chain_link(ngx_pool_t *pool)
{
    return ngx_palloc(pool, sizeof(ngx_chain_t));
}


ngx_buf_t *
ngx_create_temp_buf(ngx_pool_t *pool, size_t size)
{
    ngx_buf_t  *b;

    b = ngx_calloc_buf(pool);
    if (b == NULL) {
        return NULL;
    }

    b->start = ngx_palloc(pool, size);
    if (b->start == NULL) {
        return NULL;
    }

    b->pos = b->start;
    b->last = b->start;
    b->end = b->start + size;
    b->temporary = 1;

    return b;
}


void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    fprintf(stderr, "log: %s\n", fmt);
}


ngx_pool_t *
ngx_standin_pool_create(void)
{
    ngx_pool_t  *pool;

    pool = calloc(1, sizeof(ngx_pool_t));
    if (pool) {
        pool->log = &ngx_standin_log;
    }

    return pool;
}


/* bytes copied into a block of their own: a read past their end is seen */

ngx_int_t
ngx_standin_copy(ngx_pool_t *pool, u_char *p, size_t len, ngx_str_t *s)
{
    s->len = len;
    s->data = ngx_pnalloc(pool, len);

    if (s->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(s->data, p, len);

    return NGX_OK;
}


void
ngx_standin_pool_destroy(ngx_pool_t *pool)
{
    ngx_pool_large_t    *l, *nl;
    ngx_pool_cleanup_t  *c, *nc;

    for (c = pool->cleanup; c; c = nc) {
        if (c->handler) {
            c->handler(c->data);
        }

        nc = c->next;
        free(c);
    }

    for (l = pool->large; l; l = nl) {
        nl = l->next;
        free(l->alloc);
        free(l);
    }

    free(pool);
}


/* base64, as ngx_string.c has it: for the WebSocket accept key */

void
ngx_encode_base64(ngx_str_t *dst, ngx_str_t *src)
{
    static u_char   basis[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    u_char  *d, *s;
    size_t   len;

    len = src->len;
    s = src->data;
    d = dst->data;

    while (len > 2) {
        *d++ = basis[(s[0] >> 2) & 0x3f];
        *d++ = basis[((s[0] & 3) << 4) | (s[1] >> 4)];
        *d++ = basis[((s[1] & 0x0f) << 2) | (s[2] >> 6)];
        *d++ = basis[s[2] & 0x3f];

        s += 3;
        len -= 3;
    }

    if (len) {
        *d++ = basis[(s[0] >> 2) & 0x3f];

        if (len == 1) {
            *d++ = basis[(s[0] & 3) << 4];
            *d++ = '=';

        } else {
            *d++ = basis[((s[0] & 3) << 4) | (s[1] >> 4)];
            *d++ = basis[(s[1] & 0x0f) << 2];
        }

        *d++ = '=';
    }

    dst->len = d - dst->data;
}


/* a UTC time's fields, as ngx_times.c has them: the year in full,
 * months from 1 */

void
ngx_gmtime(time_t t, ngx_tm_t *tp)
{
    (void) gmtime_r(&t, tp);

    tp->ngx_tm_year += 1900;
    tp->ngx_tm_mon += 1;
}


/*
 * base64 decoding, to ngx_string.c's contract: the text up to its first
 * "=", every byte of it in the alphabet, not 1 byte past a multiple of
 * 4; the bits past the last whole byte are ignored (the secret file)
 */

ngx_int_t
ngx_decode_base64(ngx_str_t *dst, ngx_str_t *src)
{
    static u_char   basis[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    u_char  *d, *s, *c, v[256];
    size_t   len, i;

    ngx_memset(v, 0xff, sizeof(v));

    for (c = basis; *c; c++) {
        v[*c] = (u_char) (c - basis);
    }

    for (len = 0; len < src->len && src->data[len] != '='; len++) {
        if (v[src->data[len]] == 0xff) {
            return NGX_ERROR;
        }
    }

    if (len % 4 == 1) {
        return NGX_ERROR;
    }

    s = src->data;
    d = dst->data;

    for (i = 0; i + 1 < len; i += 4) {
        *d++ = (u_char) (v[s[i]] << 2 | v[s[i + 1]] >> 4);

        if (i + 2 < len) {
            *d++ = (u_char) (v[s[i + 1]] << 4 | v[s[i + 2]] >> 2);
        }

        if (i + 3 < len) {
            *d++ = (u_char) (v[s[i + 2]] << 6 | v[s[i + 3]]);
        }
    }

    dst->len = d - dst->data;

    return NGX_OK;
}


/*
 * SHA-1, as ngx_sha1.c has it, through OpenSSL: the context's "bytes"
 * holds the EVP context (fuzz targets only; the parser driver has no
 * WebSocket code).
 */

void
ngx_sha1_init(ngx_sha1_t *ctx)
{
    EVP_MD_CTX  *md;

    md = EVP_MD_CTX_new();
    (void) EVP_DigestInit_ex(md, EVP_sha1(), NULL);
    ctx->bytes = (uint64_t) (uintptr_t) md;
}


void
ngx_sha1_update(ngx_sha1_t *ctx, const void *data, size_t size)
{
    (void) EVP_DigestUpdate((EVP_MD_CTX *) (uintptr_t) ctx->bytes, data,
                            size);
}


void
ngx_sha1_final(u_char result[20], ngx_sha1_t *ctx)
{
    EVP_MD_CTX  *md;

    md = (EVP_MD_CTX *) (uintptr_t) ctx->bytes;
    (void) EVP_DigestFinal_ex(md, result, NULL);
    EVP_MD_CTX_free(md);
}


/* the string functions of ngx_string.c that the parsers call */

ngx_int_t
ngx_strncasecmp(u_char *s1, u_char *s2, size_t n)
{
    return strncasecmp((char *) s1, (char *) s2, n);
}


/* the first of n + 1 bytes of s2 in [s1, last), ignoring case */

u_char *
ngx_strlcasestrn(u_char *s1, u_char *last, u_char *s2, size_t n)
{
    for ( /* void */ ; (size_t) (last - s1) > n; s1++) {
        if (strncasecmp((char *) s1, (char *) s2, n + 1) == 0) {
            return s1;
        }
    }

    return NULL;
}


ngx_int_t
ngx_atoi(u_char *line, size_t n)
{
    ngx_int_t  value;

    if (n == 0) {
        return NGX_ERROR;
    }

    for (value = 0; n--; line++) {
        if (*line < '0' || *line > '9'
            || value >= (NGX_MAX_INT_T_VALUE - 9) / 10)
        {
            return NGX_ERROR;
        }

        value = value * 10 + (*line - '0');
    }

    return value;
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


/* ngx_array.c's create and push: the array grows into a new block */

u_char *
ngx_pstrdup(ngx_pool_t *pool, ngx_str_t *src)
{
    u_char  *dst;

    dst = ngx_pnalloc(pool, src->len);

    if (dst != NULL) {
        ngx_memcpy(dst, src->data, src->len);
    }

    return dst;
}


ngx_array_t *
ngx_array_create(ngx_pool_t *p, ngx_uint_t n, size_t size)
{
    ngx_array_t  *a;

    a = ngx_palloc(p, sizeof(ngx_array_t));
    if (a == NULL || ngx_array_init(a, p, n, size) != NGX_OK) {
        return NULL;
    }

    return a;
}



void *
ngx_array_push(ngx_array_t *a)
{
    void  *elt, *new;

    if (a->nelts == a->nalloc) {
        new = ngx_palloc(a->pool, 2 * a->nalloc * a->size);
        if (new == NULL) {
            return NULL;
        }

        ngx_memcpy(new, a->elts, a->nelts * a->size);
        a->elts = new;
        a->nalloc *= 2;
    }

    elt = (u_char *) a->elts + a->size * a->nelts;
    a->nelts++;

    return elt;
}


/*
 * ngx_vslprintf() for the formats the module's parsers and their error
 * messages use: %V, %s, %*s, %c, %Z, %N, %% and the integers (%d, %i,
 * %D, %L, %O, %T, %M, %z, with "u" or "x" before them and a width, "0"
 * to pad with zeros); "%*s" takes the length first, as nginx's does.
 */

u_char *
ngx_vslprintf(u_char *buf, u_char *last, const char *fmt, va_list args)
{
    u_char      *p, *s, tmp[32], pad;
    size_t       len, width, n;
    int64_t      i64;
    uint64_t     u64;
    ngx_str_t   *v;
    ngx_uint_t   sign, hex, star;

    for (p = buf; *fmt && p < last; /* void */) {

        if (*fmt != '%') {
            *p++ = (u_char) *fmt++;
            continue;
        }

        fmt++;
        pad = (*fmt == '0') ? '0' : ' ';
        width = 0;
        sign = 1;
        hex = 0;
        star = 0;

        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + (*fmt++ - '0');
        }

        for ( ;; ) {
            if (*fmt == 'u') {
                sign = 0;
            } else if (*fmt == 'x' || *fmt == 'X') {
                sign = 0;
                hex = 1;
            } else if (*fmt == '*') {
                star = 1;
            } else {
                break;
            }

            fmt++;
        }

        switch (*fmt++) {

        case 'V':
            /* an empty string may have no data: a URL without a path */
            v = va_arg(args, ngx_str_t *);
            len = ngx_min((size_t) (last - p), v->len);
            p = len ? ngx_cpymem(p, v->data, len) : p;
            continue;

        case 's':
            len = star ? va_arg(args, size_t) : (size_t) -1;
            s = va_arg(args, u_char *);

            while (len-- && *s && p < last) {
                *p++ = *s++;
            }

            continue;

        case 'c':
            *p++ = (u_char) va_arg(args, int);
            continue;

        case 'Z':
            *p++ = '\0';
            continue;

        case 'N':
            *p++ = '\n';
            continue;

        /* the casts: a conditional expression would make "int" unsigned */

        case 'd':
        case 'D':                       /* int32_t: an int here */
            i64 = sign ? (int64_t) va_arg(args, int)
                       : (int64_t) va_arg(args, u_int);
            break;

        case 'i':
        case 'z':
        case 'M':
            i64 = sign ? (int64_t) va_arg(args, ngx_int_t)
                       : (int64_t) va_arg(args, ngx_uint_t);
            break;

        case 'O':
        case 'T':
        case 'L':
            i64 = va_arg(args, int64_t);
            break;

        default:
            *p++ = (u_char) fmt[-1];
            continue;
        }

        /* an integer: its digits backwards, then the sign and the padding */

        u64 = (sign && i64 < 0) ? -(uint64_t) i64 : (uint64_t) i64;
        n = 0;

        do {
            tmp[n++] = "0123456789abcdef"[u64 % (hex ? 16 : 10)];
            u64 /= hex ? 16 : 10;
        } while (u64);

        if (sign && i64 < 0 && p < last) {
            *p++ = '-';
        }

        while (width-- > n && p < last) {
            *p++ = pad;
        }

        while (n && p < last) {
            *p++ = tmp[--n];
        }
    }

    return p;
}


u_char * ngx_cdecl
ngx_snprintf(u_char *buf, size_t max, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + max, fmt, args);
    va_end(args);

    return p;
}


u_char * ngx_cdecl
ngx_sprintf(u_char *buf, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, (void *) -1, fmt, args);
    va_end(args);

    return p;
}


ngx_int_t
ngx_hextoi(u_char *line, size_t n)
{
    u_char     c, ch;
    ngx_int_t  value;

    if (n == 0) {
        return NGX_ERROR;
    }

    for (value = 0; n--; line++) {
        ch = *line;

        if (ch >= '0' && ch <= '9') {
            value = value * 16 + (ch - '0');
            continue;
        }

        c = (u_char) (ch | 0x20);

        if (c >= 'a' && c <= 'f') {
            value = value * 16 + (c - 'a' + 10);
            continue;
        }

        return NGX_ERROR;
    }

    return value;
}
