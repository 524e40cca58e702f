
/*
 * ngx_voicegw_session_retention.h
 *
 * Retention of session folders ("voicegw_sessions ... retention=
 * max_size="): the part of the zone that says which process deletes,
 * and that process's periodic pass.
 */


#ifndef _NGX_VOICEGW_SESSION_RETENTION_H_INCLUDED_
#define _NGX_VOICEGW_SESSION_RETENTION_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_sessions.h"


ngx_int_t ngx_voicegw_session_retention_conf(ngx_conf_t *cf,
    ngx_voicegw_sessions_t *sessions, ngx_voicegw_zone_t *zone);
ngx_int_t ngx_voicegw_session_retention_init_process(ngx_cycle_t *cycle,
    ngx_voicegw_sessions_t *sessions);
void ngx_voicegw_session_retention_exit_process(
    ngx_voicegw_sessions_t *sessions);


#endif /* _NGX_VOICEGW_SESSION_RETENTION_H_INCLUDED_ */
