
/*
 * ngx_voicegw_session_zip.h
 *
 * A session's folder as a ZIP archive, produced a piece at a time into
 * buffers the caller gives: the listing and every piece are file work,
 * for a thread of the sessions' pool, never for the event loop.
 */


#ifndef _NGX_VOICEGW_SESSION_ZIP_H_INCLUDED_
#define _NGX_VOICEGW_SESSION_ZIP_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_sessions.h"


typedef struct ngx_voicegw_session_zip_s  ngx_voicegw_session_zip_t;


/* on the event loop */

ngx_voicegw_session_zip_t *ngx_voicegw_session_zip_create(ngx_pool_t *pool,
    ngx_voicegw_sessions_t *sessions, ngx_str_t *id);
ngx_uint_t ngx_voicegw_session_zip_found(ngx_voicegw_session_zip_t *zip);
ngx_uint_t ngx_voicegw_session_zip_done(ngx_voicegw_session_zip_t *zip);
ngx_uint_t ngx_voicegw_session_zip_entries(ngx_voicegw_session_zip_t *zip);
off_t ngx_voicegw_session_zip_bytes(ngx_voicegw_session_zip_t *zip);
const char *ngx_voicegw_session_zip_error(ngx_voicegw_session_zip_t *zip,
    ngx_err_t *err);

/* in a thread: NGX_OK or NGX_ERROR */

ngx_int_t ngx_voicegw_session_zip_list(ngx_voicegw_session_zip_t *zip);

/* in a thread: the next bytes of the archive, 0 at its end, or -1 */

ssize_t ngx_voicegw_session_zip_fill(ngx_voicegw_session_zip_t *zip,
    u_char *buf, size_t size);


#endif /* _NGX_VOICEGW_SESSION_ZIP_H_INCLUDED_ */
