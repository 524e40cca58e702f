
/*
 * ngx_voicegw_sessions.h
 *
 * Session recordings ("voicegw_sessions PATH ...;"): the folder of
 * PATH/{session_id}/ folders that workers and clients fill, the records
 * the gateway keeps of them (meta.json and the store's index), and the
 * internal location through which nginx's own file machinery serves
 * them ("voicegw_session_files;").
 */


#ifndef _NGX_VOICEGW_SESSIONS_H_INCLUDED_
#define _NGX_VOICEGW_SESSIONS_H_INCLUDED_


#include "ngx_voicegw_module.h"


#define NGX_VOICEGW_SESSION_ID_MAX  128


struct ngx_voicegw_sessions_s {
    ngx_str_t                    path;          /* NUL-terminated, no
                                                   trailing slash */
    off_t                        max_upload;
    time_t                       retention;     /* 0: kept for ever */
    off_t                        max_size;      /* 0: no limit */
    ngx_thread_pool_t           *thread_pool;

    /* the index (NULL without voicegw_store) */
    ngx_voicegw_store_t         *store;

    /* the prefix of the "voicegw_session_files" location, with its
       trailing slash; empty when there is none */
    ngx_str_t                    files;

    /* "voicegw_session_viewer FILE": the page of GET /s/{id} */
    ngx_str_t                    viewer;

    /* retention's state (ngx_voicegw_session_retention.c), or NULL */
    void                        *cleaner;

    u_char                      *file;          /* where the directive is */
    ngx_uint_t                   line;
    ngx_cycle_t                 *cycle;
};


/* a file operation on the sessions' thread pool */

typedef struct ngx_voicegw_session_io_s  ngx_voicegw_session_io_t;

typedef void (*ngx_voicegw_session_io_pt)(ngx_voicegw_session_io_t *io);

struct ngx_voicegw_session_io_s {
    ngx_voicegw_sessions_t      *sessions;
    ngx_thread_task_t           *task;
    ngx_voicegw_session_io_pt    run;           /* in the thread */
    ngx_voicegw_session_io_pt    done;          /* on the event loop */
    void                        *data;

    ngx_str_t                    id;
    ngx_int_t                    rc;
    ngx_err_t                    err;
    const char                  *what;          /* what failed, if rc */
};


char *ngx_voicegw_sessions_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_voicegw_session_files_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_voicegw_session_viewer_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_voicegw_sessions_check(ngx_voicegw_sessions_t *sessions);
ngx_int_t ngx_voicegw_sessions_check_zone(ngx_voicegw_zone_t *zone,
    void *data, ngx_uint_t reused);

ngx_voicegw_session_io_t *ngx_voicegw_session_io_alloc(ngx_pool_t *pool,
    ngx_voicegw_sessions_t *sessions, size_t size);
ngx_int_t ngx_voicegw_session_io_post(ngx_voicegw_session_io_t *io);

/* ngx_voicegw_session_path.c */
ngx_int_t ngx_voicegw_session_id_valid(ngx_str_t *id);
u_char *ngx_voicegw_session_file(ngx_pool_t *pool,
    ngx_voicegw_sessions_t *sessions, ngx_str_t *id, const char *name);
ngx_int_t ngx_voicegw_session_rel_valid(ngx_str_t *rel);


#endif /* _NGX_VOICEGW_SESSIONS_H_INCLUDED_ */
