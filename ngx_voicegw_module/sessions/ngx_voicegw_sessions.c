
/*
 * ngx_voicegw_sessions.c
 *
 * Owns the sessions' configuration and what every other file of
 * sessions/ stands on: "voicegw_sessions PATH [max_upload=200m]
 * [retention=TIME] [max_size=SIZE] [thread_pool=NAME];", its checks (the
 * folder exists, is a directory, and the worker processes' user may
 * write to it), the internal location that serves the folder through
 * nginx's static module ("voicegw_session_files;"), the viewer page of
 * GET /s/{id} ("voicegw_session_viewer FILE;"), and file work on a
 * thread pool, off the event loop.  Session ids and the paths below the
 * folder are ngx_voicegw_session_path.c's.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_sessions.h"

#include <grp.h>


#define NGX_VOICEGW_SESSIONS_MAX_UPLOAD  (200 * 1024 * 1024)


static ngx_int_t ngx_voicegw_sessions_writable(ngx_voicegw_sessions_t *s,
    ngx_uid_t user, ngx_gid_t group, char *name);
static void ngx_voicegw_session_io_thread(void *data, ngx_log_t *log);
static void ngx_voicegw_session_io_event(ngx_event_t *ev);


char *
ngx_voicegw_sessions_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ngx_int_t                n;
    ngx_str_t               *value, s, pool;
    ngx_uint_t               i;
    ngx_file_info_t          fi;
    ngx_voicegw_sessions_t  *sessions;

    if (vmcf->sessions != NULL) {
        return "is duplicate";
    }

    sessions = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_sessions_t));
    if (sessions == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    sessions->path = value[1];
    sessions->file = cf->conf_file->file.name.data;
    sessions->line = cf->conf_file->line;
    sessions->cycle = cf->cycle;
    sessions->max_upload = NGX_VOICEGW_SESSIONS_MAX_UPLOAD;

    ngx_str_set(&pool, "default");

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_voicegw_conf_param(&value[i], "max_upload", &s) == NGX_OK) {
            sessions->max_upload = ngx_parse_offset(&s);
            if (sessions->max_upload <= 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "max_size", &s) == NGX_OK) {
            sessions->max_size = ngx_parse_offset(&s);
            if (sessions->max_size <= 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "retention", &s) == NGX_OK) {
            n = ngx_parse_time(&s, 1);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            sessions->retention = (time_t) n;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "thread_pool", &s) == NGX_OK
            && s.len)
        {
            pool = s;
            continue;
        }

        goto invalid;
    }

    /* the folder: a directory, with no trailing slash */

    while (sessions->path.len > 1
           && sessions->path.data[sessions->path.len - 1] == '/')
    {
        sessions->path.len--;
    }

    if (sessions->path.len == 0
        || ngx_conf_full_name(cf->cycle, &sessions->path, 0) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_sessions: invalid path \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_file_info(sessions->path.data, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "voicegw_sessions: cannot use \"%V\"",
                           &sessions->path);
        return NGX_CONF_ERROR;
    }

    if (!ngx_is_dir(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_sessions: \"%V\" is not a directory",
                           &sessions->path);
        return NGX_CONF_ERROR;
    }

    sessions->thread_pool = ngx_thread_pool_add(cf, &pool);
    if (sessions->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    vmcf->sessions = sessions;

    return NGX_CONF_OK;

invalid:

    return ngx_voicegw_conf_invalid(cf, cmd, &value[i]);
}


/*
 * voicegw_session_files;  an internal prefix location whose files are
 * those of the sessions' folder: nginx's static module serves them
 * (Range, HEAD, ETag, If-None-Match, sendfile), with no symbolic link
 * followed below the folder.  The API redirects to it.
 */

char *
ngx_voicegw_session_files_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf;

    ngx_voicegw_sessions_t            *sessions;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_compile_complex_value_t   ccv;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_voicegw_module);
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    sessions = vmcf->sessions;

    if (sessions == NULL) {
        return "needs \"voicegw_sessions\" before it in http{}";
    }

    if (sessions->files.len) {
        return "is duplicate: one location serves the sessions' files";
    }

    if (clcf->regex || clcf->named || clcf->exact_match || clcf->noname
        || clcf->name.len == 0 || clcf->name.data[clcf->name.len - 1] != '/')
    {
        return "must be in a prefix location ending in \"/\"";
    }

    if (clcf->root.data) {
        return "sets the location's folder itself: no \"root\" or "
               "\"alias\" with it";
    }

    clcf->internal = 1;
    clcf->alias = clcf->name.len;

    clcf->root.len = sessions->path.len + 1;
    clcf->root.data = ngx_pnalloc(cf->pool, clcf->root.len + 1);
    if (clcf->root.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(clcf->root.data, "%V/%Z", &sessions->path);

#if (NGX_HAVE_OPENAT)
    clcf->disable_symlinks = NGX_DISABLE_SYMLINKS_ON;

    clcf->disable_symlinks_from = ngx_palloc(cf->pool,
                                           sizeof(ngx_http_complex_value_t));
    if (clcf->disable_symlinks_from == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &sessions->path;
    ccv.complex_value = clcf->disable_symlinks_from;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }
#else
    return "needs openat() (disable_symlinks)";
#endif

    sessions->files = clcf->name;

    return NGX_CONF_OK;
}


/* voicegw_session_viewer FILE;  the page of GET /s/{id} */

char *
ngx_voicegw_session_viewer_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ngx_str_t  *value, path, page;

    if (vmcf->sessions == NULL) {
        return "needs \"voicegw_sessions\" before it";
    }

    if (vmcf->sessions->viewer.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* kept in memory, with a copy that outlives the temporary pool */

    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK
        || ngx_voicegw_conf_read_file(cf, &cmd->name, &path,
                                      4 * 1024 * 1024, &page)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    vmcf->sessions->viewer.data = ngx_pstrdup(cf->pool, &page);
    if (vmcf->sessions->viewer.data == NULL) {
        return NGX_CONF_ERROR;
    }

    vmcf->sessions->viewer.len = page.len;

    return NGX_CONF_OK;
}


/*
 * Once "user" is known: the worker processes' user must be able to
 * create folders and files in PATH.  Failing that, "nginx -t", a start
 * and a reload fail with the path and the reason.
 */

ngx_int_t
ngx_voicegw_sessions_check(ngx_voicegw_sessions_t *sessions)
{
    char       *name;
    ngx_uid_t   user;
    ngx_gid_t   group;

    if (geteuid() != 0) {
        /* the workers will be who we are */

        if (faccessat(AT_FDCWD, (char *) sessions->path.data, W_OK|X_OK,
                      AT_EACCESS)
            == -1)
        {
            ngx_log_error(NGX_LOG_EMERG, sessions->cycle->log, ngx_errno,
                          "voicegw_sessions: cannot write to \"%V\" "
                          "(voicegw_sessions in %s:%ui)", &sessions->path,
                          sessions->file, sessions->line);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_voicegw_conf_workers_user(sessions->cycle, &user, &group, &name)
        != NGX_OK
        || user == 0)
    {
        return NGX_OK;
    }

    return ngx_voicegw_sessions_writable(sessions, user, group, name);
}


/* the check, when the zone is set up (reload or start) */

ngx_int_t
ngx_voicegw_sessions_check_zone(ngx_voicegw_zone_t *zone, void *data,
    ngx_uint_t reused)
{
    return ngx_voicegw_sessions_check(data);
}


/* the permission bits, for the workers' user and its groups */

static ngx_int_t
ngx_voicegw_sessions_writable(ngx_voicegw_sessions_t *s, ngx_uid_t user,
    ngx_gid_t group, char *name)
{
    int          i, n;
    gid_t        groups[64];
    mode_t       need;
    ngx_uint_t   member;
    struct stat  st;

    if (stat((char *) s->path.data, &st) == -1) {
        ngx_log_error(NGX_LOG_EMERG, s->cycle->log, ngx_errno,
                      "voicegw_sessions: cannot use \"%V\"", &s->path);
        return NGX_ERROR;
    }

    n = 64;

    if (getgrouplist(name, group, groups, &n) == -1) {
        n = 64;
    }

    member = (st.st_gid == group);

    for (i = 0; i < n && !member; i++) {
        member = (groups[i] == st.st_gid);
    }

    if (st.st_uid == user) {
        need = S_IWUSR|S_IXUSR;

    } else if (member) {
        need = S_IWGRP|S_IXGRP;

    } else {
        need = S_IWOTH|S_IXOTH;
    }

    if ((st.st_mode & need) == need) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, s->cycle->log, 0,
                  "voicegw_sessions: the worker processes' user \"%s\" "
                  "cannot write to \"%V\" (voicegw_sessions in %s:%ui): "
                  "Permission denied; give the folder to that user, or "
                  "run the workers as one that can write to it (\"user\")",
                  name, &s->path, s->file, s->line);

    return NGX_ERROR;
}


/* -- file work off the event loop ----------------------------------------- */

ngx_voicegw_session_io_t *
ngx_voicegw_session_io_alloc(ngx_pool_t *pool,
    ngx_voicegw_sessions_t *sessions, size_t size)
{
    ngx_thread_task_t         *task;
    ngx_voicegw_session_io_t  *io;

    task = ngx_thread_task_alloc(pool, sizeof(ngx_voicegw_session_io_t)
                                       + size);
    if (task == NULL) {
        return NULL;
    }

    io = task->ctx;
    io->sessions = sessions;
    io->task = task;
    io->data = size ? (void *) (io + 1) : NULL;

    return io;
}


ngx_int_t
ngx_voicegw_session_io_post(ngx_voicegw_session_io_t *io)
{
    io->task->handler = ngx_voicegw_session_io_thread;
    io->task->event.handler = ngx_voicegw_session_io_event;
    io->task->event.data = io;

    return ngx_thread_task_post(io->sessions->thread_pool, io->task);
}


static void
ngx_voicegw_session_io_thread(void *data, ngx_log_t *log)
{
    ngx_voicegw_session_io_t  *io = data;

    io->run(io);
}


static void
ngx_voicegw_session_io_event(ngx_event_t *ev)
{
    ngx_voicegw_session_io_t  *io = ev->data;

    io->done(io);
}
