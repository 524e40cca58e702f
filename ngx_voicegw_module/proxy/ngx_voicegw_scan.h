
/*
 * ngx_voicegw_scan.h
 *
 * Owns the searches of the parsers that look at every byte of a
 * provider's stream (proxy/ngx_voicegw_usage.c, ngx_voicegw_sse_strip.c):
 * where a short key such as '"usage' first occurs in a range of bytes,
 * and where the last Server-Sent Event of a range ends.
 *
 * It runs over every event of every stream, so it must cost little per
 * byte.  glibc's memmem() builds a shift table on every call: 35-45 ns
 * for a 250-byte chunk.completion.chunk event.  Here, where the CPU has
 * SSE2 (every x86-64), 32 bytes at a time are tested for the key's first
 * byte at each place and its last byte where it would end, and only the
 * places with both are compared: 13-15 ns for the same event (measured
 * with gcc -O2 on the benchmark's machine, docs/providers.md).  Elsewhere
 * it is memmem().
 */


#ifndef _NGX_VOICEGW_SCAN_H_INCLUDED_
#define _NGX_VOICEGW_SCAN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#if (defined __SSE2__)
#include <emmintrin.h>
#endif


/* the first place of key (len >= 2) in [p, last), or NULL */

static ngx_inline u_char *
ngx_voicegw_scan_find(u_char *p, u_char *last, u_char *key, size_t len)
{
#if (defined __SSE2__)

    size_t     i;
    u_char    *q;
    unsigned   m;
    __m128i    first, end;

    first = _mm_set1_epi8((char) key[0]);
    end = _mm_set1_epi8((char) key[len - 1]);

    /* 32 places at a time while the key would end inside [p, last) */

    while ((size_t) (last - p) >= 32 + len - 1) {

        m = (unsigned) _mm_movemask_epi8(_mm_and_si128(
                _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) p), first),
                _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) (p + len - 1)),
                               end)))
            | (unsigned) _mm_movemask_epi8(_mm_and_si128(
                _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) (p + 16)), first),
                _mm_cmpeq_epi8(_mm_loadu_si128((__m128i *) (p + 15 + len)),
                               end)))
              << 16;

        while (m) {
            q = p + __builtin_ctz(m);

            /* a byte loop: most places differ at once (a call costs more) */

            for (i = 1; i < len - 1 && q[i] == key[i]; i++) {
                /* void */
            }

            if (i == len - 1) {
                return q;
            }

            m &= m - 1;
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

    if (p >= last) {
        return NULL;
    }

    return memmem(p, last - p, key, len);

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


#endif /* _NGX_VOICEGW_SCAN_H_INCLUDED_ */
