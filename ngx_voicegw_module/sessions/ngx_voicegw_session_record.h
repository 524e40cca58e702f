
/*
 * ngx_voicegw_session_record.h
 *
 * The records of a session that a task starts and ends: the hooks the
 * root gives the worker pools.
 */


#ifndef _NGX_VOICEGW_SESSION_RECORD_H_INCLUDED_
#define _NGX_VOICEGW_SESSION_RECORD_H_INCLUDED_


#include "ngx_voicegw_module.h"


void *ngx_voicegw_session_start(void *data, ngx_str_t *id, ngx_str_t *type,
    ngx_str_t *worker);
void ngx_voicegw_session_end(void *rec);
void ngx_voicegw_session_append(void *data, ngx_str_t *id, u_char *buf,
    size_t len);


#endif /* _NGX_VOICEGW_SESSION_RECORD_H_INCLUDED_ */
