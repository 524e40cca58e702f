
/*
 * ngx_voicegw_crc32.c
 *
 * Owns the CRC-32 of bulk data (a session's files in its ZIP download):
 * the value of zlib's crc32(), computed with PCLMULQDQ where the CPU has
 * it.  Pure function of its arguments; no state, safe in any thread.
 *
 * Why not zlib alone: Debian 12's zlib (1.2.13) computes the CRC with
 * tables, 8 bytes at a time: ~5.5 GB/s on one core of the benchmark's
 * machine, about 0.2 s of CPU for each GiB of a session's ZIP, taken
 * from the cores that send the archive.  None of the project's libraries
 * does better (zlib-ng, with the same folding, is not in Debian 12), so
 * the bulk of the bytes goes here, ~14 GB/s (docs/sessions.md).
 *
 * The idea (carry-less multiplication folding, as in Intel's paper "Fast
 * CRC Computation for Generic Polynomials Using PCLMULQDQ"): the CRC is
 * the remainder of the message, as a polynomial over GF(2), modulo the
 * CRC's polynomial.  A 128-bit block A followed by n bits more has the
 * same remainder as the product of A's halves with x^k mod P (two 64 x 33
 * bit carry-less products) added to the block n bits on; so four 128-bit
 * lanes are carried 64 bytes at a time, then folded into one, then into
 * each next 16 bytes.  What is left, the 16-byte remainder and the last
 * 0-15 bytes, is a short message of the same CRC, which zlib finishes.
 * The constants are x^(512 + 32) mod P and x^(512 - 32) mod P (the
 * 64-byte fold), x^(128 + 32) and x^(128 - 32) mod P (the 16-byte one),
 * bit-reflected and shifted by one as the reflected CRC wants.
 *
 * zlib's own tables do the CRC on other CPUs and for buffers below 64
 * bytes.  t/050 checks the two give the same value for every length and
 * alignment of a buffer, from any running value.
 */


#include "ngx_voicegw_crc32.h"

#include <zlib.h>

#if (defined __x86_64__ && defined __GNUC__)
#define NGX_VOICEGW_CRC32_CLMUL  1
#include <immintrin.h>
#endif


#if (NGX_VOICEGW_CRC32_CLMUL)

static uint32_t ngx_voicegw_crc32_clmul(uint32_t crc, const u_char *p,
    size_t len);

#endif


static uint32_t ngx_voicegw_crc32_zlib(uint32_t crc, const u_char *p,
    size_t len);


uint32_t
ngx_voicegw_crc32(uint32_t crc, const u_char *p, size_t len)
{
#if (NGX_VOICEGW_CRC32_CLMUL)

    if (len >= 64 && __builtin_cpu_supports("pclmul")) {
        return ngx_voicegw_crc32_clmul(crc, p, len);
    }

#endif

    return ngx_voicegw_crc32_zlib(crc, p, len);
}


/* zlib's crc32() takes an unsigned int length */

static uint32_t
ngx_voicegw_crc32_zlib(uint32_t crc, const u_char *p, size_t len)
{
    size_t  n;

    while (len) {
        n = ngx_min(len, (size_t) 0x40000000);
        crc = (uint32_t) crc32(crc, p, (uInt) n);
        p += n;
        len -= n;
    }

    return crc;
}


#if (NGX_VOICEGW_CRC32_CLMUL)

/* a lane carried over the next block: hi * k.hi + lo * k.lo + next */

__attribute__((target("pclmul,sse2")))
static ngx_inline __m128i
ngx_voicegw_crc32_fold(__m128i x, __m128i k, __m128i next)
{
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00),
                                       _mm_clmulepi64_si128(x, k, 0x11)),
                         next);
}


__attribute__((target("pclmul,sse2")))
static uint32_t
ngx_voicegw_crc32_clmul(uint32_t crc, const u_char *p, size_t len)
{
    u_char   rest[16];
    __m128i  x0, x1, x2, x3, k;

    /* len >= 64; the CRC's running value goes into the first 4 bytes */

    x0 = _mm_loadu_si128((const __m128i *) p);
    x1 = _mm_loadu_si128((const __m128i *) (p + 16));
    x2 = _mm_loadu_si128((const __m128i *) (p + 32));
    x3 = _mm_loadu_si128((const __m128i *) (p + 48));

    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int) ~crc));

    p += 64;
    len -= 64;

    k = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);

    while (len >= 64) {
        x0 = ngx_voicegw_crc32_fold(x0, k,
                                    _mm_loadu_si128((const __m128i *) p));
        x1 = ngx_voicegw_crc32_fold(x1, k,
                                  _mm_loadu_si128((const __m128i *) (p + 16)));
        x2 = ngx_voicegw_crc32_fold(x2, k,
                                  _mm_loadu_si128((const __m128i *) (p + 32)));
        x3 = ngx_voicegw_crc32_fold(x3, k,
                                  _mm_loadu_si128((const __m128i *) (p + 48)));
        p += 64;
        len -= 64;
    }

    k = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);

    x0 = ngx_voicegw_crc32_fold(x0, k, x1);
    x0 = ngx_voicegw_crc32_fold(x0, k, x2);
    x0 = ngx_voicegw_crc32_fold(x0, k, x3);

    while (len >= 16) {
        x0 = ngx_voicegw_crc32_fold(x0, k,
                                    _mm_loadu_si128((const __m128i *) p));
        p += 16;
        len -= 16;
    }

    /*
     * x0 is a 16-byte message whose CRC from a running value of 0 (zlib's
     * ~0) is the CRC so far; the last len (< 16) bytes follow it
     */

    _mm_storeu_si128((__m128i *) rest, x0);

    crc = (uint32_t) crc32(0xffffffff, rest, 16);

    return (uint32_t) crc32(crc, p, (uInt) len);
}

#endif
