
/*
 * ngx_voicegw_heap.c
 *
 * Owns one setting of the process's C heap: how much free memory at its
 * top glibc keeps before it gives it back to the kernel.
 *
 * glibc's default is 128 KB, adjusted upwards only when large mmap()ed
 * blocks are freed.  A gateway worker holds a few dozen provider calls at
 * once, each with request pools of 10 to 20 KB, freed in another order
 * than they were taken: the heap's top swings by more than 128 KB, and a
 * worker under load gave its top back (brk()) and took it again every
 * hundred calls or so.  Each time the kernel flushes the TLB of every CPU
 * the process ran on and the next allocations fault the pages in again:
 * 1 to 1.5 us a call on the 2-CPU VM of bench/ (perf; bench/RESULTS.md),
 * a tenth of what the accounting costs.  Plain nginx proxying of the
 * same calls, with smaller pools, did not do it at all.
 *
 * So a configuration that uses the gateway (a voicegw_zone) sets the
 * threshold to NGX_VOICEGW_HEAP_TRIM_THRESHOLD, at configuration time in
 * the master: worker processes are forked from it and inherit the
 * setting, and a reload sets it again.  The cost is at most that much
 * memory kept per process.  An administrator who chose otherwise, with
 * MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES in nginx's environment (read
 * here, in the master, whose environment nginx has not yet replaced),
 * keeps the choice.  On a C library other than glibc nothing is done.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#if (NGX_LINUX)
#include <malloc.h>
#endif

#include "ngx_voicegw_heap.h"


void
ngx_voicegw_heap_conf(ngx_conf_t *cf)
{
#if (NGX_LINUX) && defined(__GLIBC__) && defined(M_TRIM_THRESHOLD)
    char  *tunables;

    if (getenv("MALLOC_TRIM_THRESHOLD_") != NULL) {
        return;
    }

    tunables = getenv("GLIBC_TUNABLES");

    if (tunables != NULL && ngx_strstr(tunables, "trim_threshold") != NULL) {
        return;
    }

    if (mallopt(M_TRIM_THRESHOLD, NGX_VOICEGW_HEAP_TRIM_THRESHOLD) != 1) {
        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                           "voicegw: the C library refused to keep %d bytes "
                           "of free heap (mallopt)",
                           NGX_VOICEGW_HEAP_TRIM_THRESHOLD);
    }
#endif
}
