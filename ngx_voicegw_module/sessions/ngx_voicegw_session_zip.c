
/*
 * ngx_voicegw_session_zip.c
 *
 * Owns the ZIP archive of a session's folder (GET .../download): the
 * listing of its regular files and the archive's bytes, in order, a
 * buffer at a time.  It never runs on the event loop: the listing and
 * the filling of each buffer are a thread's work (the caller posts
 * them on the sessions' thread pool, one at a time); what it keeps is
 * malloc()ed, touched by one thread at a time, freed by a cleanup of
 * the caller's pool.
 *
 *   - Entries are "{id}/{relative path}" for every regular file below
 *     the folder, sorted by name; symbolic links, FIFOs, sockets and
 *     devices are skipped, and no symbolic link is followed: folders are
 *     walked with O_NOFOLLOW, files opened with openat2()'s
 *     RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (O_NOFOLLOW on older kernels).
 *
 *   - STORED (no compression), general purpose bit 3: the CRC-32
 *     (zlib's, computed by core/ngx_voicegw_crc32.c) and the sizes go in
 *     a data descriptor after the data.  A file is read up to the size it
 *     had when it was opened; one that shrinks meanwhile is stored as it
 *     was read (the descriptor and the central directory say so).
 *
 *   - Files of ngx_voicegw_session_zip_sendfile()'s size or more are not
 *     copied into the buffers: the filling stops at their data, the
 *     caller sends their bytes from the file (sendfile) while
 *     ngx_voicegw_session_zip_crc() computes the CRC-32 of the same range
 *     in a thread, reading it again (from the page cache).  The bytes are
 *     out before their CRC is known, so a file found shorter than when it
 *     was opened is an error there, not a shorter entry: the caller ends
 *     the transfer and no descriptor is written.
 *
 *   - ZIP64 only where it is needed: an entry of 4 GiB - 1 or more gets a
 *     ZIP64 extra field in its local header (sizes 0) and 8-byte sizes in
 *     its descriptor; a central directory entry gets a ZIP64 extra for
 *     each of its size and offset that does not fit 32 bits; the ZIP64
 *     end records come before the end record when the directory's offset,
 *     size or entry count does not fit.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_sessions.h"
#include "ngx_voicegw_session_zip.h"
#include "ngx_voicegw_crc32.h"

#include <dirent.h>
#include <sys/syscall.h>
#include <linux/openat2.h>


#define NGX_VOICEGW_ZIP_DEPTH     32
#define NGX_VOICEGW_ZIP_MAX32     0xffffffffLL
#define NGX_VOICEGW_ZIP_STAGE     8192      /* a header or the end records */
#define NGX_VOICEGW_ZIP_CRC_BUF   (256 * 1024)
#define NGX_VOICEGW_ZIP_DOS_MIN   315532800LL     /* 1980-01-01 */
#define NGX_VOICEGW_ZIP_DOS_MAX   4354819198LL    /* 2107-12-31 23:59:58 */


enum {
    NGX_VOICEGW_ZIP_ENTRY = 0,
    NGX_VOICEGW_ZIP_DATA,
    NGX_VOICEGW_ZIP_FILE,                    /* the caller sends the data */
    NGX_VOICEGW_ZIP_CENTRAL,
    NGX_VOICEGW_ZIP_END,
    NGX_VOICEGW_ZIP_DONE
};


typedef struct {
    char                        *name;        /* "{id}/{path}", NUL */
    size_t                       len;
    off_t                        offset;      /* of the local header */
    off_t                        size;        /* bytes stored */
    uint32_t                     crc;
    uint16_t                     time;        /* DOS, UTC */
    uint16_t                     date;
    uint16_t                     mode;
    unsigned                     zip64:1;     /* in the local header */
    unsigned                     skipped:1;   /* gone before it was read */
} ngx_voicegw_zip_entry_t;


struct ngx_voicegw_session_zip_s {
    u_char                      *folder;      /* PATH/{id}, NUL */
    ngx_str_t                    id;
    int                          dir;         /* the folder, or -1 */
    ngx_uint_t                   found;

    ngx_voicegw_zip_entry_t     *entries;
    ngx_uint_t                   n;
    ngx_uint_t                   nalloc;

    ngx_uint_t                   state;
    ngx_uint_t                   cur;
    int                          fd;          /* the entry being read */
    off_t                        left;        /* of it, to read */
    off_t                        file_size;   /* of it, when opened */
    off_t                        sendfile;    /* the caller sends files of
                                                 this size or more; 0: none */
    u_char                      *crc_buf;     /* malloc()ed, CRC's reads */
    off_t                        pos;         /* in the archive */
    off_t                        cd_start;
    ngx_uint_t                   cd_count;

    u_char                       stage[NGX_VOICEGW_ZIP_STAGE];
    size_t                       stage_len;
    size_t                       stage_pos;

    ngx_err_t                    err;
    const char                  *what;
};


static void ngx_voicegw_zip_cleanup(void *data);
static ngx_int_t ngx_voicegw_zip_walk(ngx_voicegw_session_zip_t *z, int dir,
    u_char *path, size_t len, ngx_uint_t depth);
static ngx_int_t ngx_voicegw_zip_add(ngx_voicegw_session_zip_t *z,
    u_char *path, size_t len, struct stat *st);
static int ngx_voicegw_zip_cmp(const void *a, const void *b);
static ngx_int_t ngx_voicegw_zip_open(ngx_voicegw_session_zip_t *z,
    ngx_voicegw_zip_entry_t *e);
static u_char *ngx_voicegw_zip_common(u_char *p, ngx_voicegw_zip_entry_t *e,
    ngx_uint_t zip64);
static void ngx_voicegw_zip_local(ngx_voicegw_session_zip_t *z,
    ngx_voicegw_zip_entry_t *e);
static void ngx_voicegw_zip_descriptor(ngx_voicegw_session_zip_t *z,
    ngx_voicegw_zip_entry_t *e);
static void ngx_voicegw_zip_central(ngx_voicegw_session_zip_t *z,
    ngx_voicegw_zip_entry_t *e);
static void ngx_voicegw_zip_end(ngx_voicegw_session_zip_t *z);


/* little-endian fields */

#define ngx_voicegw_zip_16(p, v)                                             \
    (p)[0] = (u_char) (v); (p)[1] = (u_char) ((v) >> 8); (p) += 2

#define ngx_voicegw_zip_32(p, v)                                             \
    ngx_voicegw_zip_16(p, (v) & 0xffff); ngx_voicegw_zip_16(p, (v) >> 16)

#define ngx_voicegw_zip_64(p, v)                                             \
    ngx_voicegw_zip_32(p, (uint64_t) (v) & 0xffffffff);                      \
    ngx_voicegw_zip_32(p, (uint64_t) (v) >> 32)


ngx_voicegw_session_zip_t *
ngx_voicegw_session_zip_create(ngx_pool_t *pool,
    ngx_voicegw_sessions_t *sessions, ngx_str_t *id)
{
    ngx_pool_cleanup_t         *cln;
    ngx_voicegw_session_zip_t  *z;

    cln = ngx_pool_cleanup_add(pool, 0);
    z = ngx_pcalloc(pool, sizeof(ngx_voicegw_session_zip_t));

    if (cln == NULL || z == NULL) {
        return NULL;
    }

    z->folder = ngx_voicegw_session_file(pool, sessions, id, NULL);
    if (z->folder == NULL) {
        return NULL;
    }

    z->id = *id;
    z->dir = -1;
    z->fd = -1;

    cln->handler = ngx_voicegw_zip_cleanup;
    cln->data = z;

    return z;
}


static void
ngx_voicegw_zip_cleanup(void *data)
{
    ngx_voicegw_session_zip_t  *z = data;

    ngx_uint_t  i;

    if (z->fd != -1) {
        (void) close(z->fd);
    }

    if (z->dir != -1) {
        (void) close(z->dir);
    }

    for (i = 0; i < z->n; i++) {
        free(z->entries[i].name);
    }

    free(z->entries);
    free(z->crc_buf);
}


void
ngx_voicegw_session_zip_sendfile(ngx_voicegw_session_zip_t *zip, off_t min)
{
    zip->sendfile = min;
}


/* the file whose data the caller sends now: NGX_OK, else NGX_DECLINED */

ngx_int_t
ngx_voicegw_session_zip_file(ngx_voicegw_session_zip_t *zip, ngx_fd_t *fd,
    off_t *size, ngx_str_t *name)
{
    ngx_voicegw_zip_entry_t  *e;

    if (zip->state != NGX_VOICEGW_ZIP_FILE
        || zip->stage_pos != zip->stage_len
        || zip->left != zip->file_size)
    {
        return NGX_DECLINED;
    }

    e = &zip->entries[zip->cur];

    *fd = zip->fd;
    *size = zip->file_size;
    name->data = (u_char *) e->name;
    name->len = e->len;

    return NGX_OK;
}


ngx_uint_t
ngx_voicegw_session_zip_found(ngx_voicegw_session_zip_t *zip)
{
    return zip->found;
}


ngx_uint_t
ngx_voicegw_session_zip_done(ngx_voicegw_session_zip_t *zip)
{
    return zip->state == NGX_VOICEGW_ZIP_DONE
           && zip->stage_pos == zip->stage_len;
}


ngx_uint_t
ngx_voicegw_session_zip_entries(ngx_voicegw_session_zip_t *zip)
{
    return zip->cd_count;
}


off_t
ngx_voicegw_session_zip_bytes(ngx_voicegw_session_zip_t *zip)
{
    return zip->pos;
}


const char *
ngx_voicegw_session_zip_error(ngx_voicegw_session_zip_t *zip, ngx_err_t *err)
{
    *err = zip->err;

    return zip->what;
}


/* -- the listing, in a thread ---------------------------------------------- */

ngx_int_t
ngx_voicegw_session_zip_list(ngx_voicegw_session_zip_t *z)
{
    u_char  path[NGX_MAX_PATH];

    z->dir = open((char *) z->folder,
                  O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);

    if (z->dir == -1) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) {
            return NGX_OK;
        }

        z->err = errno;
        z->what = "open()";
        return NGX_ERROR;
    }

    z->found = 1;

    if (ngx_voicegw_zip_walk(z, dup(z->dir), path, 0, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (z->n > 1) {
        qsort(z->entries, z->n, sizeof(ngx_voicegw_zip_entry_t),
              ngx_voicegw_zip_cmp);
    }

    return NGX_OK;
}


/* a folder's entries, "path" (len bytes) the folder's relative path */

static ngx_int_t
ngx_voicegw_zip_walk(ngx_voicegw_session_zip_t *z, int dir, u_char *path,
    size_t len, ngx_uint_t depth)
{
    int             sub;
    DIR            *d;
    size_t          nlen;
    ngx_int_t       rc;
    struct stat     st;
    struct dirent  *de;

    if (dir == -1) {
        z->err = errno;
        z->what = "openat()";
        return NGX_ERROR;
    }

    d = fdopendir(dir);
    if (d == NULL) {
        z->err = errno;
        z->what = "fdopendir()";
        (void) close(dir);
        return NGX_ERROR;
    }

    rc = NGX_OK;

    for ( ;; ) {
        errno = 0;
        de = readdir(d);

        if (de == NULL) {
            if (errno) {
                z->err = errno;
                z->what = "readdir()";
                rc = NGX_ERROR;
            }

            break;
        }

        if (de->d_name[0] == '.'
            && (de->d_name[1] == '\0'
                || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
        {
            continue;
        }

        nlen = ngx_strlen(de->d_name);

        if (len + nlen + 2 > NGX_MAX_PATH) {
            continue;               /* too deep a path: not in the archive */
        }

        if (fstatat(dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
            continue;               /* gone meanwhile */
        }

        ngx_memcpy(path + len, de->d_name, nlen);

        if (S_ISREG(st.st_mode)) {
            if (ngx_voicegw_zip_add(z, path, len + nlen, &st) != NGX_OK) {
                rc = NGX_ERROR;
                break;
            }

            continue;
        }

        if (!S_ISDIR(st.st_mode) || depth == NGX_VOICEGW_ZIP_DEPTH) {
            continue;
        }

        path[len + nlen] = '/';

        sub = openat(dir, de->d_name,
                     O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);

        if (sub == -1 && (errno == ENOENT || errno == ELOOP
                          || errno == ENOTDIR))
        {
            continue;
        }

        if (ngx_voicegw_zip_walk(z, sub, path, len + nlen + 1, depth + 1)
            != NGX_OK)
        {
            rc = NGX_ERROR;
            break;
        }
    }

    (void) closedir(d);

    return rc;
}


static ngx_int_t
ngx_voicegw_zip_add(ngx_voicegw_session_zip_t *z, u_char *path, size_t len,
    struct stat *st)
{
    time_t                    mtime;
    struct tm                 tm;
    ngx_uint_t                year;
    ngx_voicegw_zip_entry_t  *e, *entries;

    if (z->n == z->nalloc) {
        z->nalloc = z->nalloc ? 2 * z->nalloc : 64;

        entries = realloc(z->entries,
                          z->nalloc * sizeof(ngx_voicegw_zip_entry_t));
        if (entries == NULL) {
            goto failed;
        }

        z->entries = entries;
    }

    e = &z->entries[z->n];
    ngx_memzero(e, sizeof(ngx_voicegw_zip_entry_t));

    e->len = z->id.len + 1 + len;
    e->name = malloc(e->len + 1);
    if (e->name == NULL) {
        goto failed;
    }

    ngx_sprintf((u_char *) e->name, "%V/%*s%Z", &z->id, len, path);

    /*
     * DOS time, in UTC, from 1980 to 2107 (its 7 bits of year): a time
     * beyond is the nearest end, not a year that wraps, nor one that
     * gmtime_r() cannot convert
     */

    mtime = ngx_max(st->st_mtime, (time_t) NGX_VOICEGW_ZIP_DOS_MIN);
    mtime = ngx_min(mtime, (time_t) NGX_VOICEGW_ZIP_DOS_MAX);

    (void) gmtime_r(&mtime, &tm);
    year = tm.tm_year + 1900;

    e->date = ((year - 1980) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday;
    e->time = (tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2);

    e->mode = (uint16_t) (st->st_mode & 0xffff);

    z->n++;

    return NGX_OK;

failed:

    z->err = NGX_ENOMEM;
    z->what = "malloc()";

    return NGX_ERROR;
}


static int
ngx_voicegw_zip_cmp(const void *a, const void *b)
{
    const ngx_voicegw_zip_entry_t  *x = a, *y = b;

    return strcmp(x->name, y->name);
}


/* -- the archive, a buffer at a time, in a thread -------------------------- */

ssize_t
ngx_voicegw_session_zip_fill(ngx_voicegw_session_zip_t *z, u_char *buf,
    size_t size)
{
    u_char                   *p, *last;
    size_t                    n;
    ssize_t                   got;
    ngx_voicegw_zip_entry_t  *e;

    p = buf;
    last = buf + size;

    while (p < last) {

        if (z->stage_pos < z->stage_len) {
            n = ngx_min((size_t) (last - p), z->stage_len - z->stage_pos);
            p = ngx_cpymem(p, z->stage + z->stage_pos, n);
            z->stage_pos += n;
            continue;
        }

        z->stage_pos = 0;
        z->stage_len = 0;

        switch (z->state) {

        case NGX_VOICEGW_ZIP_ENTRY:

            if (z->cur == z->n) {
                z->state = NGX_VOICEGW_ZIP_CENTRAL;
                z->cd_start = z->pos;
                z->cur = 0;
                break;
            }

            e = &z->entries[z->cur];

            if (ngx_voicegw_zip_open(z, e) != NGX_OK) {
                e->skipped = 1;
                z->cur++;
                break;
            }

            ngx_voicegw_zip_local(z, e);

            z->state = (z->sendfile && z->file_size >= z->sendfile)
                       ? NGX_VOICEGW_ZIP_FILE : NGX_VOICEGW_ZIP_DATA;
            break;

        case NGX_VOICEGW_ZIP_FILE:

            if (z->left) {
                return p - buf;         /* the caller sends the data */
            }

            /* sent and CRC'd: the descriptor, as for a copied file */

            /* fall through */


        case NGX_VOICEGW_ZIP_DATA:

            e = &z->entries[z->cur];

            if (z->left == 0) {
                (void) close(z->fd);
                z->fd = -1;

                ngx_voicegw_zip_descriptor(z, e);
                z->cur++;
                z->state = NGX_VOICEGW_ZIP_ENTRY;
                break;
            }

            n = (size_t) ngx_min((off_t) (last - p), z->left);

            got = pread(z->fd, p, n, e->size);

            if (got == -1) {
                if (errno == EINTR) {
                    break;
                }

                z->err = errno;
                z->what = "pread()";
                return -1;
            }

            if (got == 0) {
                z->left = 0;            /* shorter than it was */
                break;
            }

            e->crc = ngx_voicegw_crc32(e->crc, p, got);
            e->size += got;
            z->left -= got;
            z->pos += got;
            p += got;
            break;

        case NGX_VOICEGW_ZIP_CENTRAL:

            while (z->cur < z->n && z->entries[z->cur].skipped) {
                z->cur++;
            }

            if (z->cur == z->n) {
                ngx_voicegw_zip_end(z);
                z->state = NGX_VOICEGW_ZIP_DONE;
                break;
            }

            ngx_voicegw_zip_central(z, &z->entries[z->cur]);
            z->cur++;
            z->cd_count++;
            break;

        default: /* NGX_VOICEGW_ZIP_DONE */
            return p - buf;
        }
    }

    return p - buf;
}


/*
 * The CRC-32 of the next "len" bytes of the file whose data the caller
 * sends (ngx_voicegw_session_zip_file()), read through a buffer of our
 * own: NGX_OK, or NGX_ERROR when a read fails or the file is shorter
 * than when it was opened (the bytes sent no longer match the header's
 * promise: the caller must end the transfer).
 */

ngx_int_t
ngx_voicegw_session_zip_crc(ngx_voicegw_session_zip_t *z, off_t len)
{
    size_t                    n;
    ssize_t                   got;
    ngx_voicegw_zip_entry_t  *e;

    if (z->state != NGX_VOICEGW_ZIP_FILE || len > z->left) {
        z->err = 0;
        z->what = "a CRC out of the file's range";
        return NGX_ERROR;
    }

    if (z->crc_buf == NULL) {
        z->crc_buf = malloc(NGX_VOICEGW_ZIP_CRC_BUF);
        if (z->crc_buf == NULL) {
            z->err = NGX_ENOMEM;
            z->what = "malloc()";
            return NGX_ERROR;
        }
    }

    e = &z->entries[z->cur];

    while (len) {
        n = (size_t) ngx_min((off_t) NGX_VOICEGW_ZIP_CRC_BUF, len);

        got = pread(z->fd, z->crc_buf, n, e->size);

        if (got == -1) {
            if (errno == EINTR) {
                continue;
            }

            z->err = errno;
            z->what = "pread()";
            return NGX_ERROR;
        }

        if (got == 0) {
            z->err = 0;
            z->what = "the file is shorter than when it was opened";
            return NGX_ERROR;
        }

        e->crc = ngx_voicegw_crc32(e->crc, z->crc_buf, got);
        e->size += got;
        z->left -= got;
        z->pos += got;
        len -= got;
    }

    return NGX_OK;
}


/* the entry's file, still a regular file below the folder */

static ngx_int_t
ngx_voicegw_zip_open(ngx_voicegw_session_zip_t *z, ngx_voicegw_zip_entry_t *e)
{
    char             *rel;
    struct stat       st;
    struct open_how   how;

    rel = e->name + z->id.len + 1;

    ngx_memzero(&how, sizeof(struct open_how));
    how.flags = O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS;

    z->fd = syscall(SYS_openat2, z->dir, rel, &how, sizeof(struct open_how));

    if (z->fd == -1 && errno == ENOSYS) {
        z->fd = openat(z->dir, rel, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC);
    }

    if (z->fd == -1) {
        return NGX_DECLINED;
    }

    if (fstat(z->fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        (void) close(z->fd);
        z->fd = -1;
        return NGX_DECLINED;
    }

    (void) posix_fadvise(z->fd, 0, 0, POSIX_FADV_SEQUENTIAL);

    z->left = st.st_size;
    z->file_size = st.st_size;
    e->zip64 = (st.st_size >= NGX_VOICEGW_ZIP_MAX32);
    e->crc = 0;

    return NGX_OK;
}


/* version needed, flags: bit 3 (descriptor), bit 11 (UTF-8 name) */

static u_char *
ngx_voicegw_zip_common(u_char *p, ngx_voicegw_zip_entry_t *e,
    ngx_uint_t zip64)
{
    size_t      i;
    ngx_uint_t  flags;

    flags = 0x0008;

    for (i = 0; i < e->len; i++) {
        if ((u_char) e->name[i] >= 0x80) {
            flags |= 0x0800;
            break;
        }
    }

    ngx_voicegw_zip_16(p, zip64 ? 45 : 20);
    ngx_voicegw_zip_16(p, flags);
    ngx_voicegw_zip_16(p, 0);                         /* stored */
    ngx_voicegw_zip_16(p, e->time);
    ngx_voicegw_zip_16(p, e->date);

    return p;
}


static void
ngx_voicegw_zip_local(ngx_voicegw_session_zip_t *z, ngx_voicegw_zip_entry_t *e)
{
    u_char  *p;

    e->offset = z->pos;

    p = z->stage;

    ngx_voicegw_zip_32(p, 0x04034b50);
    p = ngx_voicegw_zip_common(p, e, e->zip64);
    ngx_voicegw_zip_32(p, 0);                         /* CRC: later */
    ngx_voicegw_zip_32(p, e->zip64 ? 0xffffffff : 0);
    ngx_voicegw_zip_32(p, e->zip64 ? 0xffffffff : 0);
    ngx_voicegw_zip_16(p, e->len);
    ngx_voicegw_zip_16(p, e->zip64 ? 20 : 0);
    p = ngx_cpymem(p, e->name, e->len);

    if (e->zip64) {
        ngx_voicegw_zip_16(p, 0x0001);
        ngx_voicegw_zip_16(p, 16);
        ngx_voicegw_zip_64(p, 0);
        ngx_voicegw_zip_64(p, 0);
    }

    z->stage_len = p - z->stage;
    z->pos += z->stage_len;
}


static void
ngx_voicegw_zip_descriptor(ngx_voicegw_session_zip_t *z,
    ngx_voicegw_zip_entry_t *e)
{
    u_char  *p;

    p = z->stage;

    ngx_voicegw_zip_32(p, 0x08074b50);
    ngx_voicegw_zip_32(p, e->crc);

    if (e->zip64) {
        ngx_voicegw_zip_64(p, e->size);
        ngx_voicegw_zip_64(p, e->size);

    } else {
        ngx_voicegw_zip_32(p, (uint32_t) e->size);
        ngx_voicegw_zip_32(p, (uint32_t) e->size);
    }

    z->stage_len = p - z->stage;
    z->pos += z->stage_len;
}


static void
ngx_voicegw_zip_central(ngx_voicegw_session_zip_t *z,
    ngx_voicegw_zip_entry_t *e)
{
    u_char      *p;
    ngx_uint_t   big_size, big_offset, extra, zip64;

    big_size = (e->size >= NGX_VOICEGW_ZIP_MAX32);
    big_offset = (e->offset >= NGX_VOICEGW_ZIP_MAX32);
    extra = 16 * big_size + 8 * big_offset;
    zip64 = e->zip64 || extra;

    p = z->stage;

    ngx_voicegw_zip_32(p, 0x02014b50);
    ngx_voicegw_zip_16(p, (3 << 8) | (zip64 ? 45 : 20));   /* Unix */
    p = ngx_voicegw_zip_common(p, e, zip64);
    ngx_voicegw_zip_32(p, e->crc);
    ngx_voicegw_zip_32(p, big_size ? 0xffffffff : (uint32_t) e->size);
    ngx_voicegw_zip_32(p, big_size ? 0xffffffff : (uint32_t) e->size);
    ngx_voicegw_zip_16(p, e->len);
    ngx_voicegw_zip_16(p, extra ? extra + 4 : 0);
    ngx_voicegw_zip_16(p, 0);                         /* comment */
    ngx_voicegw_zip_16(p, 0);                         /* disk */
    ngx_voicegw_zip_16(p, 0);                         /* internal */
    ngx_voicegw_zip_32(p, (uint32_t) e->mode << 16);
    ngx_voicegw_zip_32(p, big_offset ? 0xffffffff : (uint32_t) e->offset);
    p = ngx_cpymem(p, e->name, e->len);

    if (extra) {
        ngx_voicegw_zip_16(p, 0x0001);
        ngx_voicegw_zip_16(p, extra);

        if (big_size) {
            ngx_voicegw_zip_64(p, e->size);
            ngx_voicegw_zip_64(p, e->size);
        }

        if (big_offset) {
            ngx_voicegw_zip_64(p, e->offset);
        }
    }

    z->stage_len = p - z->stage;
    z->pos += z->stage_len;
}


/* the ZIP64 end record and its locator when needed, the end record */

static void
ngx_voicegw_zip_end(ngx_voicegw_session_zip_t *z)
{
    u_char      *p;
    off_t        size, end64;
    ngx_uint_t   zip64;

    p = z->stage;
    size = z->pos - z->cd_start;
    end64 = z->pos;

    zip64 = (z->cd_count >= 0xffff || size >= NGX_VOICEGW_ZIP_MAX32
             || z->cd_start >= NGX_VOICEGW_ZIP_MAX32);

    if (zip64) {
        ngx_voicegw_zip_32(p, 0x06064b50);
        ngx_voicegw_zip_64(p, 44);                    /* what follows */
        ngx_voicegw_zip_16(p, (3 << 8) | 45);
        ngx_voicegw_zip_16(p, 45);
        ngx_voicegw_zip_32(p, 0);                     /* this disk */
        ngx_voicegw_zip_32(p, 0);                     /* the directory's */
        ngx_voicegw_zip_64(p, z->cd_count);
        ngx_voicegw_zip_64(p, z->cd_count);
        ngx_voicegw_zip_64(p, size);
        ngx_voicegw_zip_64(p, z->cd_start);

        ngx_voicegw_zip_32(p, 0x07064b50);
        ngx_voicegw_zip_32(p, 0);
        ngx_voicegw_zip_64(p, end64);
        ngx_voicegw_zip_32(p, 1);                     /* disks */
    }

    ngx_voicegw_zip_32(p, 0x06054b50);
    ngx_voicegw_zip_16(p, 0);
    ngx_voicegw_zip_16(p, 0);
    ngx_voicegw_zip_16(p, zip64 ? 0xffff : z->cd_count);
    ngx_voicegw_zip_16(p, zip64 ? 0xffff : z->cd_count);
    ngx_voicegw_zip_32(p, zip64 ? 0xffffffff : (uint32_t) size);
    ngx_voicegw_zip_32(p, zip64 ? 0xffffffff : (uint32_t) z->cd_start);
    ngx_voicegw_zip_16(p, 0);                         /* comment */

    z->stage_len = p - z->stage;
    z->pos += z->stage_len;
}
