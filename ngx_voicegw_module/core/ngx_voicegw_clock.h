
/*
 * ngx_voicegw_clock.h
 *
 * The two clocks of the gateway, both read from nginx's cached time.
 *
 *   - The wall clock (milliseconds since the epoch) says *when*: what
 *     the API shows as "enqueued_at", "busy_since", ...
 *   - The monotonic clock (nginx's ngx_current_msec, CLOCK_MONOTONIC,
 *     the same in every process of the machine) says *how long*: queue
 *     waits, task durations and ETA samples.  A step of the wall clock
 *     (NTP, an operator) never reaches a duration.
 */


#ifndef _NGX_VOICEGW_CLOCK_H_INCLUDED_
#define _NGX_VOICEGW_CLOCK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


static ngx_inline uint64_t
ngx_voicegw_now_msec(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


static ngx_inline uint64_t
ngx_voicegw_mono_msec(void)
{
    return (uint64_t) ngx_current_msec;
}


/* b - a of the monotonic clock, never negative */

static ngx_inline uint64_t
ngx_voicegw_mono_since(uint64_t a, uint64_t b)
{
    return (b > a) ? b - a : 0;
}


#endif /* _NGX_VOICEGW_CLOCK_H_INCLUDED_ */
