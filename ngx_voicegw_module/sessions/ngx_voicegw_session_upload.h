
/*
 * ngx_voicegw_session_upload.h
 *
 * A front end's recording stored in a session's folder: which content
 * types are taken and the file each becomes (frontend_replay.webm, .mp4,
 * .wav), and the copy of a byte range of nginx's temporary file of the
 * request body into it, on the sessions' thread pool.
 */


#ifndef _NGX_VOICEGW_SESSION_UPLOAD_H_INCLUDED_
#define _NGX_VOICEGW_SESSION_UPLOAD_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_sessions.h"


typedef struct {
    ngx_fd_t                     body;        /* the request body's file */
    off_t                        start;       /* the recording's bytes in */
    off_t                        size;        /*   it */
    u_char                      *folder;      /* the session's folder */
    u_char                      *path;        /* the file it becomes */
    void                        *owner;       /* the caller's */
    ngx_uint_t                   found;       /* the session exists */
} ngx_voicegw_session_upload_t;


ngx_int_t ngx_voicegw_session_upload_name(ngx_str_t *type, ngx_str_t *name);
ngx_voicegw_session_io_t *ngx_voicegw_session_upload_io(ngx_pool_t *pool,
    ngx_voicegw_sessions_t *sessions, ngx_str_t *id, ngx_str_t *name);


#endif /* _NGX_VOICEGW_SESSION_UPLOAD_H_INCLUDED_ */
