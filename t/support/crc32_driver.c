
/*
 * t/support/crc32_driver.c
 *
 * Drives core/ngx_voicegw_crc32.c outside nginx, for
 * t/074-sessions-crc32.t: its value against zlib's crc32() for every
 * length and alignment of short buffers, long ones at a stride, and a
 * running CRC fed in random pieces; and the speed of both (printed by
 * the test, not asserted).  One JSON line per run.
 *
 *   crc32_driver check <seed>
 *   crc32_driver file <path> <seed>    (the CRC of a file, random pieces)
 *   crc32_driver speed
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <time.h>
#include <zlib.h>

#include "ngx_voicegw_crc32.h"


#define BUF_SIZE  (256 * 1024)


static uint64_t  seed;


static uint32_t
next_random(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;

    return (uint32_t) (seed >> 16);
}


static int
check(void)
{
    u_char      *buf;
    size_t       off, len, n, pos, checked, bad;
    uint32_t     start, ours, want, starts[3];
    ngx_uint_t   s;

    buf = malloc(BUF_SIZE);
    if (buf == NULL) {
        return 2;
    }

    for (n = 0; n < BUF_SIZE; n++) {
        buf[n] = (u_char) next_random();
    }

    starts[0] = 0;
    starts[1] = 0xffffffff;
    starts[2] = next_random();

    checked = 0;
    bad = 0;

    for (off = 0; off < 16; off++) {
        for (len = 0; off + len < BUF_SIZE; len += (len < 1100 ? 1 : 997)) {
            for (s = 0; s < 3; s++) {
                start = starts[s];
                ours = ngx_voicegw_crc32(start, buf + off, len);
                want = (uint32_t) crc32(start, buf + off, (uInt) len);
                checked++;

                if (ours != want) {
                    if (bad++ == 0) {
                        printf("{\"first_mismatch\":{\"off\":%zu,\"len\":%zu,"
                               "\"start\":%u,\"ours\":%u,\"zlib\":%u}}\n",
                               off, len, start, ours, want);
                    }
                }
            }
        }
    }

    /* a running CRC over random pieces, as the ZIP reads a file */

    for (s = 0; s < 200; s++) {
        ours = 0;

        for (pos = 0; pos < BUF_SIZE; pos += n) {
            n = next_random() % (s < 100 ? 200 : 20000);
            n = ngx_min(n, BUF_SIZE - pos);
            ours = ngx_voicegw_crc32(ours, buf + pos, n);
        }

        want = (uint32_t) crc32(0, buf, BUF_SIZE);
        checked++;

        if (ours != want && bad++ == 0) {
            printf("{\"first_mismatch\":{\"pieces\":%u}}\n", (unsigned) s);
        }
    }

    printf("{\"checked\":%zu,\"mismatches\":%zu,\"clmul\":%s}\n", checked,
           bad, __builtin_cpu_supports("pclmul") ? "true" : "false");

    free(buf);

    return 0;
}


static int
file(const char *path)
{
    FILE      *f;
    u_char    *buf;
    size_t     n, want;
    uint32_t   crc;

    f = fopen(path, "rb");
    buf = malloc(BUF_SIZE);

    if (f == NULL || buf == NULL) {
        return 2;
    }

    crc = 0;

    for ( ;; ) {
        want = 1 + next_random() % BUF_SIZE;
        n = fread(buf, 1, want, f);

        if (n == 0) {
            break;
        }

        crc = ngx_voicegw_crc32(crc, buf, n);
    }

    printf("{\"crc\":%u}\n", crc);

    fclose(f);
    free(buf);

    return 0;
}


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
speed(void)
{
    u_char    *buf;
    size_t     i, rounds;
    double     t, ours, zlib;
    uint32_t   a, b;

    buf = malloc(BUF_SIZE);
    if (buf == NULL) {
        return 2;
    }

    for (i = 0; i < BUF_SIZE; i++) {
        buf[i] = (u_char) next_random();
    }

    rounds = 4096;                            /* 1 GiB */

    a = 0;
    t = now();

    for (i = 0; i < rounds; i++) {
        a = ngx_voicegw_crc32(a, buf, BUF_SIZE);
    }

    ours = now() - t;

    b = 0;
    t = now();

    for (i = 0; i < rounds; i++) {
        b = (uint32_t) crc32(b, buf, BUF_SIZE);
    }

    zlib = now() - t;

    printf("{\"ours_mb_s\":%.0f,\"zlib_mb_s\":%.0f,\"same\":%s}\n",
           rounds * (double) BUF_SIZE / ours / 1e6,
           rounds * (double) BUF_SIZE / zlib / 1e6,
           a == b ? "true" : "false");

    free(buf);

    return 0;
}


int
main(int argc, char **argv)
{
    seed = 0x9e3779b97f4a7c15ULL;

    if (argc == 3 && strcmp(argv[1], "check") == 0) {
        seed ^= strtoull(argv[2], NULL, 10);
        return check();
    }

    if (argc == 4 && strcmp(argv[1], "file") == 0) {
        seed ^= strtoull(argv[3], NULL, 10);
        return file(argv[2]);
    }

    if (argc == 2 && strcmp(argv[1], "speed") == 0) {
        return speed();
    }

    fprintf(stderr, "usage: see the comment at the top of %s\n", __FILE__);

    return 2;
}
