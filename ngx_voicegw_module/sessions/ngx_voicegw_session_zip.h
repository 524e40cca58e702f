
/*
 * ngx_voicegw_session_zip.h
 *
 * A session's folder as a ZIP archive, produced a piece at a time into
 * buffers the caller gives, the data of large files excepted (the caller
 * sends them from the file, ngx_voicegw_session_zip_file(), while a
 * thread computes their CRC-32): the listing, every piece and every CRC
 * are file work, for a thread of the sessions' pool, never for the event
 * loop.
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

/* files of "min" bytes or more: their data from the file, not the buffers */
void ngx_voicegw_session_zip_sendfile(ngx_voicegw_session_zip_t *zip,
    off_t min);

/* after a filling: the file whose data goes next, NGX_OK, or NGX_DECLINED */
ngx_int_t ngx_voicegw_session_zip_file(ngx_voicegw_session_zip_t *zip,
    ngx_fd_t *fd, off_t *size, ngx_str_t *name);

/* in a thread: NGX_OK or NGX_ERROR */

ngx_int_t ngx_voicegw_session_zip_list(ngx_voicegw_session_zip_t *zip);

/*
 * in a thread: the next bytes of the archive, 0 at its end, or -1; it
 * stops at the data of a file the caller sends (fill again once the data
 * is sent and CRC'd)
 */

ssize_t ngx_voicegw_session_zip_fill(ngx_voicegw_session_zip_t *zip,
    u_char *buf, size_t size);

/*
 * in a thread: the CRC-32 of the next "len" bytes of that file; NGX_ERROR
 * when it fails or the file is shorter than it was (end the transfer)
 */

ngx_int_t ngx_voicegw_session_zip_crc(ngx_voicegw_session_zip_t *zip,
    off_t len);


#endif /* _NGX_VOICEGW_SESSION_ZIP_H_INCLUDED_ */
