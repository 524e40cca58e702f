
/*
 * ngx_voicegw_record.h
 *
 * The record API: what any handler or phase of the gateway calls to put
 * one request on the books.  ngx_voicegw_record() copies the record into
 * a bounded buffer in the shared zone and returns: it never waits for
 * the database, never allocates, and never fails the request (a full
 * buffer drops the record and counts the drop).  One process at a time
 * commits the buffer to the store (ngx_voicegw_flusher.c).
 *
 * Nothing of SQLite here: the pools and the API include this header.
 */


#ifndef _NGX_VOICEGW_RECORD_H_INCLUDED_
#define _NGX_VOICEGW_RECORD_H_INCLUDED_


#include "ngx_voicegw_module.h"


/* what was used (the "modality" of /v1/logs) */

#define NGX_VOICEGW_MODALITY_STT      0
#define NGX_VOICEGW_MODALITY_LLM      1
#define NGX_VOICEGW_MODALITY_TTS      2
#define NGX_VOICEGW_MODALITY_OMNI     3     /* a worker-pool task */
#define NGX_VOICEGW_MODALITY_OTHER    4
#define NGX_VOICEGW_NMODALITIES       5

/* how it ended (the "status" of /v1/logs) */

#define NGX_VOICEGW_STATUS_SUCCESS    0
#define NGX_VOICEGW_STATUS_ERROR      1     /* the upstream failed */
#define NGX_VOICEGW_STATUS_TIMEOUT    2     /* queue or upstream timeout */
#define NGX_VOICEGW_STATUS_CANCELLED  3     /* DELETE /api/queue/{id} */
#define NGX_VOICEGW_STATUS_ABANDONED  4     /* the client left first */
#define NGX_VOICEGW_STATUS_REJECTED   5     /* refused before it ran */
#define NGX_VOICEGW_STATUS_CLIENT_CLOSED    6    /* a provider call: the
                                                    client left first */
#define NGX_VOICEGW_STATUS_UPSTREAM_FAILED  7    /* a provider call: no
                                                    answer (refused, reset,
                                                    timed out) */
#define NGX_VOICEGW_NSTATUSES         8

/* flags */

#define NGX_VOICEGW_RECORD_BUDGET     0x0001  /* refused by a budget */
#define NGX_VOICEGW_RECORD_CACHE_HIT  0x0002  /* a worker with its cache */
#define NGX_VOICEGW_RECORD_UNPRICED   0x0004  /* no price for its model */
#define NGX_VOICEGW_RECORD_PARTIAL    0x0008  /* the call broke off: the
                                                 units seen so far */
#define NGX_VOICEGW_RECORD_NO_USAGE   0x0010  /* the answer had no usage
                                                 (include_usage: false) */
#define NGX_VOICEGW_RECORD_UNKNOWN_UNITS  0x0020  /* no way to measure the
                                                     units (a non-WAV upload,
                                                     no usage answered) */
#define NGX_VOICEGW_RECORD_ESTIMATED  0x0040  /* units from the request
                                                 (WAV header, characters),
                                                 not from the answer */
#define NGX_VOICEGW_RECORD_INTERIM    0x0080  /* part of a WebSocket
                                                 session still open */

#define NGX_VOICEGW_RECORD_ID_LEN     64      /* project, provider */
#define NGX_VOICEGW_RECORD_MODEL_LEN  200     /* provider/model */


typedef struct {
    ngx_str_t                    project;     /* "default" when empty */
    ngx_str_t                    provider;
    ngx_str_t                    model;
    ngx_uint_t                   modality;
    ngx_uint_t                   status;
    ngx_uint_t                   http_status;
    ngx_uint_t                   flags;
    double                       input_units;
    double                       output_units;
    double                       cost_usd;
    /* milliseconds; negative: not known */
    double                       ttfb_ms;
    double                       total_ms;
    double                       queue_wait_ms;
} ngx_voicegw_record_t;


/*
 * Puts the record on the books; NGX_OK, or NGX_DECLINED when it was
 * dropped (a full buffer) or there is no recorder (no voicegw_store).
 */
ngx_int_t ngx_voicegw_record(ngx_voicegw_recorder_t *rec,
    ngx_voicegw_record_t *r);

/* a record with nothing known yet: negative times, project "default" */
void ngx_voicegw_record_init(ngx_voicegw_record_t *r);

extern ngx_str_t  ngx_voicegw_modality_names[];
extern ngx_str_t  ngx_voicegw_status_names[];
extern ngx_str_t  ngx_voicegw_flag_names[];


#endif /* _NGX_VOICEGW_RECORD_H_INCLUDED_ */
