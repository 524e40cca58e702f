
/*
 * ngx_voicegw_scan.h
 *
 * Owns the searches of the parsers that look at every byte of a
 * provider's stream (proxy/ngx_voicegw_usage.c, ngx_voicegw_sse_strip.c):
 * where a short key such as '"usage' first occurs in a range of bytes,
 * where the last Server-Sent Event of a range ends, and, for the JSON
 * filter (ngx_voicegw_jsonfeed.c), where a string's plain run ends and
 * how many characters begin in it.
 *
 * It runs over every event of every stream, so it must cost little per
 * byte.  glibc's memmem() builds a shift table on every call: 35-45 ns
 * for a 250-byte chunk.completion.chunk event.  Here, where the CPU has
 * SSE2 (every x86-64), 32 bytes at a time are tested for two of the
 * key's bytes, its anchor and its last, each where it would be, and only
 * the places with both are compared: 13-15 ns for the same event
 * (measured with gcc -O2 on the benchmark's machine, docs/providers.md).
 * The anchor is the key's first byte, or its second when the first is a
 * '"': JSON has a quote every few bytes, and '"usage' tested by its quote
 * and its 'e' met a candidate at every '"content' and '"system_fingerprint'
 * of a chat stream, 806 in the benchmark's 50 KB, where its 'u' and 'e'
 * meet 1 (bench/RESULTS.md).  Where the
 * CPU has AVX2 (asked at run time: the module is built for any x86-64),
 * 64 bytes at a time, the same way: a 50 KB stream costs about half the
 * instructions (bench/run.sh proxy_cost).  Elsewhere it is memmem().
 */


#ifndef _NGX_VOICEGW_SCAN_H_INCLUDED_
#define _NGX_VOICEGW_SCAN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#if (defined __SSE2__)
#include <emmintrin.h>
#endif

#if (defined __SSE2__ && defined __x86_64__ && defined __GNUC__             \
     && !defined NGX_VOICEGW_SCAN_NO_AVX2)
#define NGX_VOICEGW_SCAN_AVX2  1
#include <immintrin.h>
#endif


/*
 * Of the places of [p, p + 64) whose bits are set in m (the key's anchor
 * and last bytes are there), the first where the whole key is; or NULL.
 * A byte loop: most places differ at once (a call costs more).
 */

static ngx_inline u_char *
ngx_voicegw_scan_match(u_char *p, uint64_t m, u_char *key, size_t len)
{
    size_t   i;
    u_char  *q;

    while (m) {
        q = p + __builtin_ctzll(m);

        for (i = 0; i < len - 1 && q[i] == key[i]; i++) {
            /* void */
        }

        if (i == len - 1) {
            return q;
        }

        m &= m - 1;
    }

    return NULL;
}


/* the byte tested with the last: the first, or the second after a '"' */

static ngx_inline size_t
ngx_voicegw_scan_anchor(u_char *key, size_t len)
{
    return (key[0] == '"' && len > 2) ? 1 : 0;
}


#if (NGX_VOICEGW_SCAN_AVX2)

/*
 * 64 places at a time while the key would end inside [p, last); where it
 * stopped (the rest is the SSE2 loop's), or the place found in *found
 */

__attribute__((target("avx2")))
static u_char *
ngx_voicegw_scan_find_avx2(u_char *p, u_char *last, u_char *key, size_t len,
    u_char **found)
{
    size_t     a;
    u_char    *q;
    uint64_t   m;
    __m256i    first, end;

    a = ngx_voicegw_scan_anchor(key, len);

    first = _mm256_set1_epi8((char) key[a]);
    end = _mm256_set1_epi8((char) key[len - 1]);

    while ((size_t) (last - p) >= 64 + len - 1) {

        m = (uint32_t) _mm256_movemask_epi8(_mm256_and_si256(
                _mm256_cmpeq_epi8(
                    _mm256_loadu_si256((__m256i *) (p + a)), first),
                _mm256_cmpeq_epi8(
                    _mm256_loadu_si256((__m256i *) (p + len - 1)), end)))
            | (uint64_t) (uint32_t) _mm256_movemask_epi8(_mm256_and_si256(
                _mm256_cmpeq_epi8(
                    _mm256_loadu_si256((__m256i *) (p + 32 + a)), first),
                _mm256_cmpeq_epi8(
                    _mm256_loadu_si256((__m256i *) (p + 31 + len)), end)))
              << 32;

        q = ngx_voicegw_scan_match(p, m, key, len);

        if (q) {
            *found = q;
            return p;
        }

        p += 64;
    }

    *found = NULL;

    return p;
}

#endif


/*
 * The first place of key (len >= 2) in [p, last), or NULL; with avx2 0,
 * without AVX2 even where the CPU has it (the tests use both).
 */

static ngx_inline u_char *
ngx_voicegw_scan_find_with(u_char *p, u_char *last, u_char *key, size_t len,
    ngx_uint_t avx2)
{
#if (defined __SSE2__)

    size_t     a;
    u_char    *q;
    uint64_t   m;
    __m128i    first, end;

    (void) avx2;

#if (NGX_VOICEGW_SCAN_AVX2)

    if (avx2 && (size_t) (last - p) >= 64 + len - 1) {
        p = ngx_voicegw_scan_find_avx2(p, last, key, len, &q);

        if (q) {
            return q;
        }
    }

#endif

    a = ngx_voicegw_scan_anchor(key, len);

    first = _mm_set1_epi8((char) key[a]);
    end = _mm_set1_epi8((char) key[len - 1]);

    /* 32 places at a time while the key would end inside [p, last) */

    while ((size_t) (last - p) >= 32 + len - 1) {

        m = (uint32_t) _mm_movemask_epi8(_mm_and_si128(
                _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) (p + a)), first),
                _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) (p + len - 1)),
                               end)))
            | (uint32_t) _mm_movemask_epi8(_mm_and_si128(
                _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) (p + 16 + a)),
                               first),
                _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) (p + 15 + len)),
                               end)))
              << 16;

        q = ngx_voicegw_scan_match(p, m, key, len);

        if (q) {
            return q;
        }

        p += 32;
    }

    for ( /* void */ ; (size_t) (last - p) >= len; p++) {
        if (*p == key[0] && ngx_memcmp(p + 1, key + 1, len - 1) == 0) {
            return p;
        }
    }

    return NULL;

#else

    (void) avx2;

    if (p >= last) {
        return NULL;
    }

    return memmem(p, last - p, key, len);

#endif
}


static ngx_inline u_char *
ngx_voicegw_scan_find(u_char *p, u_char *last, u_char *key, size_t len)
{
#if (NGX_VOICEGW_SCAN_AVX2)
    return ngx_voicegw_scan_find_with(p, last, key, len,
                                      __builtin_cpu_supports("avx2"));
#else
    return ngx_voicegw_scan_find_with(p, last, key, len, 0);
#endif
}


/*
 * Just after the last "\n\n" of [p, end), or p: an event has always ended
 * there, every '\n' ending a line (a "\r\n" too), so the second an empty
 * one.  Events ended by "\r\r" or "\r\n\r\n" are not seen: the caller
 * then frames them line by line.
 */

static ngx_inline u_char *
ngx_voicegw_scan_last_event_end(u_char *p, u_char *end)
{
    u_char  *q;

    while (end - p >= 2) {
        q = memrchr(p + 1, '\n', end - p - 1);

        if (q == NULL) {
            break;
        }

        if (q[-1] == '\n') {
            return q + 1;
        }

        end = q;
    }

    return p;
}


/*
 * Where the plain run of a JSON string ends: the first '"' or '\\' of
 * [p, last), or last.  With SSE2, 16 bytes at a time: the strings of a
 * conversation that the JSON filter passes over (proxy/jsonfeed) cost a
 * fifth of the instructions of a byte loop.
 */

static ngx_inline u_char *
ngx_voicegw_scan_string_end(u_char *p, u_char *last)
{
#if (defined __SSE2__)
    int      m;
    __m128i  v, quote, backslash;

    quote = _mm_set1_epi8('"');
    backslash = _mm_set1_epi8('\\');

    while (last - p >= 16) {
        v = _mm_loadu_si128((const __m128i *) p);
        m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                           _mm_cmpeq_epi8(v, backslash)));
        if (m) {
            return p + __builtin_ctz(m);
        }

        p += 16;
    }
#endif

    while (p < last && *p != '"' && *p != '\\') {
        p++;
    }

    return p;
}


/*
 * The UTF-8 characters that begin in [p, last): the bytes that are not
 * continuation bytes (10xxxxxx).  With SSE2, 16 bytes at a time.
 */

static ngx_inline size_t
ngx_voicegw_scan_chars(u_char *p, u_char *last)
{
    size_t   n;
#if (defined __SSE2__)
    int      m;
    __m128i  v, top, cont;

    top = _mm_set1_epi8((char) 0xc0);
    cont = _mm_set1_epi8((char) 0x80);
#endif

    n = 0;

#if (defined __SSE2__)
    while (last - p >= 16) {
        v = _mm_loadu_si128((const __m128i *) p);
        m = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(v, top), cont));

        /* without -mpopcnt a call: ASCII text has no continuation byte */
        n += m ? 16 - __builtin_popcount(m) : 16;
        p += 16;
    }
#endif

    while (p < last) {
        n += ((*p & 0xc0) != 0x80);
        p++;
    }

    return n;
}


#endif /* _NGX_VOICEGW_SCAN_H_INCLUDED_ */
