
/*
 * ngx_voicegw_flusher.h
 *
 * The flusher: in every nginx worker process a timer, and in one of them
 * at a time (the lease holder) the commits of the record buffer to the
 * store, and retention.
 */


#ifndef _NGX_VOICEGW_FLUSHER_H_INCLUDED_
#define _NGX_VOICEGW_FLUSHER_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_record.h"


ngx_int_t ngx_voicegw_flusher_init_process(ngx_cycle_t *cycle,
    ngx_voicegw_recorder_t *rec, ngx_voicegw_proc_t *proc);
void ngx_voicegw_flusher_exit_process(ngx_voicegw_proc_t *proc);


#endif /* _NGX_VOICEGW_FLUSHER_H_INCLUDED_ */
