
/*
 * ngx_voicegw_session_upload.c
 *
 * Owns what an uploaded recording becomes in a session's folder: the
 * content types taken (video/webm and audio/webm share one file) and the
 * copy, in a thread of the sessions' pool, never on the event loop.
 *
 * The one idea: the new file appears whole or not at all.  Its bytes go
 * to a temporary file beside it (same folder, so same file system), are
 * synced, and rename() puts it in place in one step: a reader, the ZIP
 * download or a crash sees the earlier recording or the new one, never a
 * part.  Any failure removes the temporary file.  Two uploads at once
 * write two temporary files; the last rename wins, whole.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_sessions.h"
#include "ngx_voicegw_session_upload.h"


#define NGX_VOICEGW_UPLOAD_CHUNK  (1024 * 1024)


static void ngx_voicegw_session_upload_run(ngx_voicegw_session_io_t *io);
static ngx_int_t ngx_voicegw_session_upload_copy(
    ngx_voicegw_session_upload_t *up, ngx_fd_t fd, const char **what);


/* the content type of the part (its parameters left out, any case) */

static ngx_conf_enum_t  ngx_voicegw_session_upload_types[] = {
    { ngx_string("video/webm"), 0 },
    { ngx_string("audio/webm"), 0 },
    { ngx_string("video/mp4"), 1 },
    { ngx_string("audio/wav"), 2 },
    { ngx_null_string, 0 }
};

static ngx_str_t  ngx_voicegw_session_upload_names[] = {
    ngx_string("frontend_replay.webm"),
    ngx_string("frontend_replay.mp4"),
    ngx_string("frontend_replay.wav")
};


/* NGX_DECLINED for a type that is not taken */

ngx_int_t
ngx_voicegw_session_upload_name(ngx_str_t *type, ngx_str_t *name)
{
    ngx_uint_t  n;

    if (ngx_voicegw_enum_value_caseless(ngx_voicegw_session_upload_types,
                                        type, &n)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    *name = ngx_voicegw_session_upload_names[n];

    return NGX_OK;
}


/* the caller sets body, start, size, owner and io->done, then posts it */

ngx_voicegw_session_io_t *
ngx_voicegw_session_upload_io(ngx_pool_t *pool,
    ngx_voicegw_sessions_t *sessions, ngx_str_t *id, ngx_str_t *name)
{
    ngx_voicegw_session_io_t      *io;
    ngx_voicegw_session_upload_t  *up;

    io = ngx_voicegw_session_io_alloc(pool, sessions,
                                      sizeof(ngx_voicegw_session_upload_t));
    if (io == NULL) {
        return NULL;
    }

    up = io->data;
    ngx_memzero(up, sizeof(ngx_voicegw_session_upload_t));

    up->body = NGX_INVALID_FILE;
    up->folder = ngx_voicegw_session_file(pool, sessions, id, NULL);
    up->path = ngx_voicegw_session_file(pool, sessions, id,
                                        (const char *) name->data);

    if (up->folder == NULL || up->path == NULL) {
        return NULL;
    }

    io->id = *id;
    io->run = ngx_voicegw_session_upload_run;

    return io;
}


/* in a thread: the session is a folder; temporary file, sync, rename */

static void
ngx_voicegw_session_upload_run(ngx_voicegw_session_io_t *io)
{
    u_char                         tmp[NGX_MAX_PATH];
    ngx_fd_t                       fd;
    const char                    *what;
    ngx_voicegw_session_upload_t  *up = io->data;

    struct stat  st;

    up->found = (lstat((char *) up->folder, &st) == 0 && S_ISDIR(st.st_mode));

    if (!up->found) {
        return;
    }

    if (ngx_snprintf(tmp, sizeof(tmp) - 1, "%s.%P.%p.tmp%Z", up->path,
                     ngx_pid, io)
        == tmp + sizeof(tmp) - 1)
    {
        io->rc = NGX_ERROR;
        io->err = NGX_ENAMETOOLONG;
        io->what = "a temporary file's name";
        return;
    }

    fd = open((char *) tmp, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC,
              0644);
    if (fd == -1) {
        io->rc = NGX_ERROR;
        io->err = ngx_errno;
        io->what = "open()";
        return;
    }

    what = NULL;

    if (ngx_voicegw_session_upload_copy(up, fd, &what) != NGX_OK) {
        /* what is set */

    } else if (fsync(fd) == -1) {
        what = "fsync()";
    }

    if (what == NULL) {
        if (close(fd) == -1) {
            what = "close()";

        } else if (rename((char *) tmp, (char *) up->path) == -1) {
            what = "rename()";
        }

    } else {
        io->err = ngx_errno;
        (void) close(fd);
    }

    if (what) {
        if (io->err == 0) {
            io->err = ngx_errno;
        }

        io->rc = NGX_ERROR;
        io->what = what;
        (void) unlink((char *) tmp);
    }
}


/*
 * The range, in the kernel when it can (copy_file_range(): no copy
 * through user space), else in 1 MiB pieces.
 */

static ngx_int_t
ngx_voicegw_session_upload_copy(ngx_voicegw_session_upload_t *up, ngx_fd_t fd,
    const char **what)
{
    off_t     in, left;
    size_t    n;
    ssize_t   got, put, w;
    u_char   *buf;

    in = up->start;
    left = up->size;

    while (left > 0) {
        got = copy_file_range(up->body, &in, fd, NULL, (size_t) left, 0);

        if (got > 0) {
            left -= got;
            continue;
        }

        if (got == 0) {
            *what = "copy_file_range() (the body is short)";
            return NGX_ERROR;
        }

        if (ngx_errno == NGX_EINTR) {
            continue;
        }

        if (ngx_errno != EXDEV && ngx_errno != ENOSYS && ngx_errno != EINVAL
            && ngx_errno != EOPNOTSUPP)
        {
            *what = "copy_file_range()";
            return NGX_ERROR;
        }

        break;
    }

    if (left == 0) {
        return NGX_OK;
    }

    /* another file system, or no copy_file_range(): through a buffer */

    buf = malloc(NGX_VOICEGW_UPLOAD_CHUNK);
    if (buf == NULL) {
        *what = "malloc()";
        return NGX_ERROR;
    }

    while (left > 0) {
        n = ngx_min((off_t) NGX_VOICEGW_UPLOAD_CHUNK, left);

        got = pread(up->body, buf, n, in);

        if (got <= 0) {
            if (got == -1 && ngx_errno == NGX_EINTR) {
                continue;
            }

            *what = "pread()";
            break;
        }

        for (put = 0; put < got; put += w) {
            w = write(fd, buf + put, got - put);

            if (w == -1) {
                if (ngx_errno == NGX_EINTR) {
                    w = 0;
                    continue;
                }

                *what = "write()";
                break;
            }
        }

        if (put < got) {
            break;
        }

        in += got;
        left -= got;
    }

    free(buf);

    return (left == 0) ? NGX_OK : NGX_ERROR;
}
