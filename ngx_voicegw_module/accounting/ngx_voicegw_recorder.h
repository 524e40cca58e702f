
/*
 * ngx_voicegw_recorder.h
 *
 * The recorder's state in the shared zone, for the files of accounting/:
 * the buffer of records that the flusher drains, the flusher's lease,
 * and the counters and histograms of /v1/metrics, kept per series
 * (project x provider x model x modality) as records arrive.
 */


#ifndef _NGX_VOICEGW_RECORDER_H_INCLUDED_
#define _NGX_VOICEGW_RECORDER_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_record.h"


/* the buckets of the metrics' histograms, in ms (and +Inf) */

#define NGX_VOICEGW_HIST_BOUNDS      12

/* series of /v1/metrics; one more gathers what does not fit */

#define NGX_VOICEGW_SERIES_MAX       256

/* how long a flusher's lease lasts without renewal, ms */

#define NGX_VOICEGW_FLUSH_LEASE      1000


typedef struct {
    uint64_t                     count[NGX_VOICEGW_HIST_BOUNDS + 1];
    uint64_t                     n;
    double                       sum;                /* ms */
} ngx_voicegw_hist_t;


typedef struct {
    uint32_t                     hash;               /* 0: free */
    uint32_t                     modality;
    u_char                       project[NGX_VOICEGW_RECORD_ID_LEN + 1];
    u_char                       provider[NGX_VOICEGW_RECORD_ID_LEN + 1];
    u_char                       model[NGX_VOICEGW_RECORD_MODEL_LEN + 1];
    uint64_t                     requests[NGX_VOICEGW_NSTATUSES];
    uint64_t                     budget_rejections;
    double                       unpriced;          /* no price known */
    double                       partial;           /* broke off */
    double                       cost_usd;
    double                       input_units;
    double                       output_units;
    ngx_voicegw_hist_t           ttfb;
    ngx_voicegw_hist_t           latency;
    ngx_voicegw_hist_t           queue_wait;
} ngx_voicegw_series_t;


/* a record in the buffer; its strings follow it */

typedef struct {
    uint32_t                     len;        /* 0: the rest is padding */
    uint8_t                      modality;
    uint8_t                      status;
    uint16_t                     http_status;
    uint64_t                     id;
    int64_t                      ts;         /* wall clock, ms */
    double                       input_units;
    double                       output_units;
    double                       cost_usd;
    double                       ttfb_ms;    /* < 0: none */
    double                       total_ms;
    double                       queue_wait_ms;
    uint16_t                     flags;
    uint8_t                      project_len;
    uint8_t                      provider_len;
    uint16_t                     model_len;
    uint16_t                     reserved;
} ngx_voicegw_rec_t;


typedef struct {
    size_t                       size;       /* of data[] */
    uint64_t                     head;       /* bytes ever written */
    uint64_t                     tail;       /* bytes ever committed */
    uint64_t                     next_id;
    uint64_t                     accepted;
    uint64_t                     dropped;
    uint64_t                     committed;
    uint64_t                     last_commit;     /* wall clock, ms */
    /* the time spent in ngx_voicegw_record(), all processes */
    uint64_t                     record_ns;
    uint64_t                     record_calls;
    ngx_pid_t                    flusher;         /* 0: nobody */
    uint64_t                     lease_until;     /* monotonic, ms */
    /* per process slot: the latest of the flush timer, worst since start,
       in microseconds: how long the event loop was held up */
    uint32_t                     late_max[NGX_MAX_PROCESSES];
    /* per process slot, microseconds, and times over 1 ms: the longest
       the flusher's own work held the event loop (the thread's CPU
       time), and the longest call of the record API (wall time: lock
       waits and the thread's preemption included) */
    uint32_t                     hold_max[NGX_MAX_PROCESSES];
    uint32_t                     hold_over[NGX_MAX_PROCESSES];
    uint32_t                     call_max[NGX_MAX_PROCESSES];
    uint32_t                     call_over[NGX_MAX_PROCESSES];
    ngx_uint_t                   nseries;
    ngx_voicegw_series_t         series[NGX_VOICEGW_SERIES_MAX + 1];
    u_char                       data[1];
} ngx_voicegw_recorder_sh_t;


struct ngx_voicegw_recorder_s {
    ngx_voicegw_zone_t          *zone;
    ngx_voicegw_store_t         *store;
    ngx_voicegw_recorder_sh_t   *sh;
    size_t                       size;       /* as configured */
    /* this process's: the buffer position after its last record, and
       its time in ngx_voicegw_record() not yet added to the zone's */
    uint64_t                     mine;
    uint64_t                     pending_ns;
    uint64_t                     pending_calls;
    uint32_t                     held[4];        /* hold max, over;
                                                    call max, over */
};


/* what /v1/metrics shows of the recorder, copied under the lock */

typedef struct {
    uint64_t                     accepted;
    uint64_t                     dropped;
    uint64_t                     committed;
    uint64_t                     record_ns;
    uint64_t                     record_calls;
    size_t                       size;
    size_t                       used;
    uint64_t                     lag;        /* ms: the oldest record left */
    uint32_t                     late_max[NGX_MAX_PROCESSES];
    uint32_t                     hold_max[NGX_MAX_PROCESSES];
    uint32_t                     hold_over[NGX_MAX_PROCESSES];
    uint32_t                     call_max[NGX_MAX_PROCESSES];
    uint32_t                     call_over[NGX_MAX_PROCESSES];
    ngx_uint_t                   nseries;
    ngx_voicegw_series_t        *series;     /* allocated by the caller */
} ngx_voicegw_recorder_view_t;


extern const double  ngx_voicegw_hist_bounds[NGX_VOICEGW_HIST_BOUNDS];


ngx_voicegw_recorder_t *ngx_voicegw_recorder_create(ngx_conf_t *cf,
    ngx_voicegw_zone_t *zone, ngx_voicegw_store_t *store);
ngx_int_t ngx_voicegw_recorder_view(ngx_voicegw_recorder_t *rec,
    ngx_voicegw_recorder_view_t *view);

/* how long the recorder's code held the event loop: counted, and the
   zone's figures updated when they grow (takes the lock then) */
void ngx_voicegw_recorder_held(ngx_voicegw_recorder_t *rec, uint64_t usec,
    ngx_uint_t call);
uint64_t ngx_voicegw_recorder_usec(void);

/* for the flusher, with the zone locked */
size_t ngx_voicegw_recorder_copy_locked(ngx_voicegw_recorder_sh_t *sh,
    u_char *dst, size_t cap, uint64_t *from, ngx_uint_t *n);


#endif /* _NGX_VOICEGW_RECORDER_H_INCLUDED_ */
