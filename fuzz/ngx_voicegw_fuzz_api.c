
/*
 * fuzz/ngx_voicegw_fuzz_api.c
 *
 * Owns the libFuzzer targets of what a request of the API brings, past
 * its body: one binary per target, chosen at compile time
 * (-DFUZZ_<TARGET>), built by fuzz/run.sh like those of
 * fuzz/ngx_voicegw_fuzz.c, on the stand-ins of t/support/ngx_standin*.c.
 *
 *   args   a request's path against a route pattern, the ids it carries
 *          (entities, sessions, tickets, a session's asset path), and its
 *          query arguments, unescaped and checked as the handlers do
 *          (api/ngx_voicegw_api_args.c, registry/ngx_voicegw_entity.c,
 *          sessions/ngx_voicegw_session_path.c)
 *   zip    a session's folder, made from the input (names, sizes, times,
 *          links, folders; a file changed or gone while the archive is
 *          written), through the ZIP writer in buffers of the input's
 *          size (sessions/ngx_voicegw_session_zip.c); the archive is read
 *          back and must say what the folder held
 *   reports
 *          the reports' query arguments (api/ngx_voicegw_report_args.c):
 *          /v1/logs' limit and modality, the period of /v1/costs and
 *          /v1/latency and its window's first day, on a day the input
 *          picks
 *   proxypath
 *          a provider call's URI (proxy/ngx_voicegw_proxy_path.c): the
 *          provider's id and path after the location's prefix, the
 *          model of its query and its name on the books, and the URL the
 *          call goes to, its path escaped again and its query without a
 *          WebSocket credential (proxy/ngx_voicegw_proxy_ws.c)
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdint.h>

#include "ngx_standin.h"


/* -- args ---------------------------------------------------------------- */

#if defined(FUZZ_ARGS)

#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_sessions.h"
#include "ngx_voicegw_api.h"


/* the query arguments the API's handlers read */

static const char  *fuzz_arg_names[] = {
    "limit", "entity_type", "entity_id", "action", "confirm", "project",
    "modality", "period", "model", NULL
};


/* a path parameter, through every check an id of the API goes through */

static void
fuzz_args_id(ngx_str_t *id)
{
    u_char    hex[32];
    uint64_t  n;

    (void) ngx_voicegw_valid_id(id);
    (void) ngx_voicegw_valid_model_id(id);
    (void) ngx_voicegw_valid_model_name(id);
    (void) ngx_voicegw_session_id_valid(id);
    (void) ngx_voicegw_session_rel_valid(id);

    /* a ticket id reads back as it is written */

    if (ngx_voicegw_api_ticket_id(id, &n) == NGX_OK
        && (n == 0
            || ngx_sprintf(hex, "tk_%016xL", n) - hex != (ssize_t) id->len
            || ngx_memcmp(hex, id->data, id->len) != 0))
    {
        __builtin_trap();
    }
}


/*
 * "pattern\npath?query": the path against the route's pattern, each
 * parameter it gives through the ids' checks; then each query argument
 * the API reads, unescaped as the handlers get it, and checked as they
 * check it.
 */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char              *nl, *q, *last;
    ngx_int_t            n;
    ngx_str_t            pattern, uri, params[NGX_VOICEGW_API_MAX_PARAMS],
                         v;
    ngx_uint_t           i, nparams, m;
    ngx_pool_t          *pool;
    ngx_http_request_t   r;

    nl = memchr(data, '\n', size);

    if (nl == NULL) {
        return 0;
    }

    last = (u_char *) data + size;
    q = ngx_strlchr(nl + 1, last, '?');

    pool = ngx_standin_pool_create();

    ngx_memzero(&r, sizeof(ngx_http_request_t));
    r.pool = pool;

    if (ngx_standin_copy(pool, (u_char *) data, nl - (u_char *) data,
                         &pattern)
        != NGX_OK
        || ngx_standin_copy(pool, nl + 1, (q ? q : last) - (nl + 1), &uri)
           != NGX_OK
        || ngx_standin_copy(pool, q ? q + 1 : last, q ? last - q - 1 : 0,
                            &r.args)
           != NGX_OK)
    {
        goto done;
    }

    nparams = 0;

    if (ngx_voicegw_api_match(&pattern, &uri, params, &nparams)) {

        for (i = 0; i < nparams; i++) {
            if (params[i].len == 0 || params[i].data < uri.data
                || params[i].data + params[i].len > uri.data + uri.len)
            {
                __builtin_trap();
            }

            fuzz_args_id(&params[i]);
        }
    }

    if (nparams > NGX_VOICEGW_API_MAX_PARAMS) {
        __builtin_trap();
    }

    for (i = 0; fuzz_arg_names[i]; i++) {

        if (ngx_voicegw_api_arg(&r, fuzz_arg_names[i], &v) != NGX_OK) {
            continue;
        }

        if (v.len > r.args.len || v.data[v.len] != '\0') {
            __builtin_trap();
        }

        n = ngx_atoi(v.data, v.len);
        (void) n;
        (void) ngx_voicegw_enum_value_caseless(ngx_voicegw_booleans, &v, &m);
        (void) ngx_voicegw_valid_modality(&v);
        fuzz_args_id(&v);
    }

done:

    ngx_standin_pool_destroy(pool);

    return 0;
}


/* -- zip ----------------------------------------------------------------- */

#elif defined(FUZZ_ZIP)

#include <ftw.h>
#include <zlib.h>

#include "ngx_voicegw_module.h"
#include "ngx_voicegw_sessions.h"
#include "ngx_voicegw_session_zip.h"


#define FUZZ_ZIP_FILES    64
#define FUZZ_ZIP_DEPTH    30
#define FUZZ_ZIP_PATH     1000
#define FUZZ_ZIP_OUT      (4 * 1024 * 1024)

#define FUZZ_DOS_FIRST    315532800             /* 1980-01-01 */
#define FUZZ_DOS_LAST     4354819198LL          /* 2107-12-31 23:59:58 */


/* a regular file the folder holds, as the archive must show it */

typedef struct {
    u_char                      *name;          /* "{id}/{path}", NUL */
    size_t                       size;
    u_char                      *data;
    time_t                       mtime;
    ngx_uint_t                   changed;       /* while being written */
} fuzz_file_t;


static char         fuzz_root[64];
static fuzz_file_t  fuzz_files[FUZZ_ZIP_FILES];
static ngx_uint_t   fuzz_nfiles;


static uint32_t
fuzz_le(u_char *p, size_t n)
{
    uint32_t  v;

    for (v = 0; n--; /* void */) {
        v = v << 8 | p[n];
    }

    return v;
}


static int
fuzz_remove(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
    return remove(path);
}


static void
fuzz_zip_root_remove(void)
{
    (void) nftw(fuzz_root, fuzz_remove, 16, FTW_DEPTH|FTW_PHYS);
}


/*
 * Once a process: a folder of its own with the sessions' folder in it,
 * and beside it a file and a folder that the links of the session's
 * folder point to: what the writer must never take.
 */

static ngx_int_t
fuzz_zip_root(void)
{
    int  fd;

    if (fuzz_root[0]) {
        return NGX_OK;
    }

    ngx_sprintf((u_char *) fuzz_root, "%s/voicegw-zip.XXXXXX%Z",
                access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");

    if (mkdtemp(fuzz_root) == NULL) {
        return NGX_ERROR;
    }

    (void) atexit(fuzz_zip_root_remove);

    fd = open(fuzz_root, O_RDONLY|O_DIRECTORY);

    if (fd == -1
        || mkdirat(fd, "sessions", 0700) == -1
        || mkdirat(fd, "outdir", 0700) == -1
        || symlinkat("../outside", fd, "outdir/secret") == -1)
    {
        return NGX_ERROR;
    }

    (void) close(openat(fd, "outside", O_WRONLY|O_CREAT, 0600));
    (void) close(fd);

    return NGX_OK;
}


/*
 * One record of the input: a kind, then for "T" 8 bytes of time, then a
 * path below the session's folder.  "d" makes a folder, "l" and "L"
 * links out of the session's folder, "p" a FIFO, "T" an empty file of
 * that time, any other byte a regular file of 3 times its value in bytes.
 * Each folder on the way is made and entered without following a link.
 * NGX_DECLINED: the record names nothing that can be made.
 */

static ngx_int_t
fuzz_zip_make(int dir, ngx_str_t *id, u_char *rec, size_t len)
{
    int               fd, sub;
    u_char           *p, *last, *path, *slash, name[256];
    size_t            size, i;
    ngx_uint_t        kind, depth;
    fuzz_file_t      *f;
    struct stat       st;
    struct timespec   ts[2];

    kind = rec[0];
    path = rec + 1 + (kind == 'T' ? 8 : 0);
    last = rec + len;

    if (path >= last || last - path > FUZZ_ZIP_PATH) {
        return NGX_DECLINED;
    }

    ts[0].tv_sec = 0;
    ts[0].tv_nsec = 0;

    for (p = rec + 1; kind == 'T' && p < path; p++) {
        ts[0].tv_sec = (time_t) ((uint64_t) ts[0].tv_sec << 8 | *p);
    }

    ts[1] = ts[0];

    dir = dup(dir);

    for (p = path, depth = 1; /* void */ ; p = slash + 1, depth++) {
        slash = ngx_strlchr(p, last, '/');
        size = (slash ? slash : last) - p;

        if (size == 0 || size >= sizeof(name) || depth > FUZZ_ZIP_DEPTH
            || ngx_strlchr(p, p + size, '\0') != NULL
            || (p[0] == '.' && (size == 1 || (size == 2 && p[1] == '.'))))
        {
            goto declined;
        }

        ngx_memcpy(name, p, size);
        name[size] = '\0';

        if (slash == NULL) {
            break;
        }

        (void) mkdirat(dir, (char *) name, 0700);

        sub = openat(dir, (char *) name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW);
        (void) close(dir);
        dir = sub;

        if (dir == -1) {
            return NGX_DECLINED;
        }
    }

    switch (kind) {

    case 'd':
        (void) mkdirat(dir, (char *) name, 0700);
        goto declined;

    case 'l':
    case 'L':
        (void) symlinkat(kind == 'l' ? "/proc/self/cwd/../outside"
                                     : "../../../outdir", dir, (char *) name);
        goto declined;

    case 'p':
        (void) mkfifoat(dir, (char *) name, 0600);
        goto declined;
    }

    /* a file named again is made anew; a new one only if it can be kept */

    len = last - path;

    for (i = 0; i < fuzz_nfiles; i++) {
        if (ngx_strlen(fuzz_files[i].name) == id->len + 1 + len
            && ngx_strncmp(fuzz_files[i].name + id->len + 1, path, len) == 0)
        {
            break;
        }
    }

    if (i == FUZZ_ZIP_FILES) {
        goto declined;
    }

    /* O_NONBLOCK: a FIFO of an earlier record is not waited for */

    fd = openat(dir, (char *) name,
                O_WRONLY|O_CREAT|O_TRUNC|O_NOFOLLOW|O_NONBLOCK, 0600);
    (void) close(dir);

    if (fd == -1) {
        return NGX_DECLINED;
    }

    f = &fuzz_files[i];

    if (i == fuzz_nfiles) {
        f->name = malloc(id->len + 1 + len + 1);
        f->data = malloc(3 * 255 + 1);

        if (f->name == NULL || f->data == NULL) {
            free(f->name);
            free(f->data);
            (void) close(fd);
            return NGX_DECLINED;
        }

        ngx_sprintf(f->name, "%V/%*s%Z", id, len, path);
        fuzz_nfiles++;
    }

    f->size = (kind == 'T') ? 0 : 3 * kind;
    f->changed = 0;

    for (i = 0; i < f->size; i++) {
        f->data[i] = path[i % len];
    }

    if (write(fd, f->data, f->size) != (ssize_t) f->size
        || (kind == 'T' && futimens(fd, ts) == -1)
        || fstat(fd, &st) == -1)
    {
        f->size = 0;
        f->changed = 1;
    }

    f->mtime = st.st_mtime;

    (void) close(fd);

    return NGX_OK;

declined:

    if (dir != -1) {
        (void) close(dir);
    }

    return NGX_DECLINED;
}


/*
 * A change to file k of the folder while the archive is written: cut to
 * a third, removed, replaced by a link or a folder, or grown.
 */

static void
fuzz_zip_change(int dir, ngx_str_t *id, ngx_uint_t how, ngx_uint_t k)
{
    int           fd;
    char         *rel;
    fuzz_file_t  *f;

    if (fuzz_nfiles == 0 || how == 0) {
        return;
    }

    f = &fuzz_files[k % fuzz_nfiles];
    rel = (char *) f->name + id->len + 1;
    f->changed = 1;

    switch (how) {

    case 1:
        fd = openat(dir, rel, O_WRONLY|O_NOFOLLOW|O_NONBLOCK);
        if (fd != -1) {
            (void) ftruncate(fd, f->size / 3);
            (void) close(fd);
        }
        break;

    case 2:
        (void) unlinkat(dir, rel, 0);
        break;

    case 3:
        if (unlinkat(dir, rel, 0) == 0) {
            (void) symlinkat("/etc/hostname", dir, rel);
        }
        break;

    case 4:
        if (unlinkat(dir, rel, 0) == 0) {
            (void) mkdirat(dir, rel, 0700);
        }
        break;

    default:
        fd = openat(dir, rel, O_WRONLY|O_APPEND|O_NOFOLLOW|O_NONBLOCK);
        if (fd != -1) {
            (void) write(fd, "grown", 5);
            (void) close(fd);
        }
    }
}


/*
 * The archive, a buffer of "chunk" bytes at a time, as the download
 * handler has it written: a large file's data (the writer stops at it)
 * sent by the caller from the file, in chunks, its CRC-32 computed after
 * each.  The change of the folder comes before buffer "when".
 * NGX_DECLINED: the writer ended the transfer (a file cut while sent).
 */

static ngx_int_t
fuzz_zip_write(ngx_voicegw_session_zip_t *z, u_char *out, size_t *len,
    size_t chunk, int dir, ngx_str_t *id, const uint8_t *opt)
{
    off_t       size, sent;
    ssize_t     n;
    ngx_fd_t    fd;
    ngx_str_t   name;
    ngx_uint_t  fills;

    *len = 0;

    for (fills = 0; !ngx_voicegw_session_zip_done(z); fills++) {

        if (fills == opt[3]) {
            fuzz_zip_change(dir, id, opt[2] & 7, opt[2] >> 3);
        }

        if (*len + chunk > FUZZ_ZIP_OUT) {
            __builtin_trap();                   /* it never ends */
        }

        n = ngx_voicegw_session_zip_fill(z, out + *len, chunk);

        if (n < 0) {
            return NGX_DECLINED;
        }

        *len += n;

        if (ngx_voicegw_session_zip_file(z, &fd, &size, &name) != NGX_OK) {

            if (n == 0 && !ngx_voicegw_session_zip_done(z)) {
                __builtin_trap();               /* stuck */
            }

            continue;
        }

        if (*len + size > FUZZ_ZIP_OUT || name.len == 0) {
            __builtin_trap();
        }

        for (sent = 0; sent < size; sent += n) {
            n = pread(fd, out + *len, ngx_min((off_t) chunk, size - sent),
                      sent);

            if (n <= 0
                || ngx_voicegw_session_zip_crc(z, n) != NGX_OK)
            {
                return NGX_DECLINED;
            }

            *len += n;
        }
    }

    return NGX_OK;
}


/* strcmp()'s order, for names that are not NUL-terminated */

static int
fuzz_zip_order(u_char *a, size_t alen, u_char *b, size_t blen)
{
    int  rc;

    rc = ngx_memcmp(a, b, ngx_min(alen, blen));

    if (rc == 0) {
        rc = (alen > blen) - (alen < blen);
    }

    return rc;
}


/* a file of the folder by its name in the archive, or NULL */

static fuzz_file_t *
fuzz_zip_file(u_char *name, size_t len)
{
    ngx_uint_t  i;

    for (i = 0; i < fuzz_nfiles; i++) {
        if (ngx_strlen(fuzz_files[i].name) == len
            && ngx_strncmp(fuzz_files[i].name, name, len) == 0)
        {
            return &fuzz_files[i];
        }
    }

    return NULL;
}


/*
 * The archive read back from its end: the end record, then each entry of
 * the central directory and its local header, data and descriptor, which
 * must follow each other from the first byte to the directory; names in
 * order, each a file of the folder with its bytes and its time (1980 to
 * 2107 in DOS time); every file of the folder there, unless changed.
 */

static void
fuzz_zip_check(u_char *out, size_t len, ngx_str_t *id)
{
    u_char       *cd, *lh, *data, *dd, *name, *prev;
    size_t        nlen, plen, size, off, next;
    time_t        t;
    struct tm     tm;
    ngx_uint_t    i, count, found;
    fuzz_file_t  *f;

    if (len < 22 || fuzz_le(out + len - 22, 4) != 0x06054b50) {
        __builtin_trap();
    }

    count = fuzz_le(out + len - 12, 2);
    size = fuzz_le(out + len - 10, 4);
    off = fuzz_le(out + len - 6, 4);

    if (off + size + 22 != len) {
        __builtin_trap();
    }

    cd = out + off;
    next = 0;
    prev = NULL;
    plen = 0;
    found = 0;

    for (i = 0; i < count; i++) {

        if (cd + 46 > out + len - 22 || fuzz_le(cd, 4) != 0x02014b50) {
            __builtin_trap();
        }

        nlen = fuzz_le(cd + 28, 2);
        name = cd + 46;
        size = fuzz_le(cd + 20, 4);
        lh = out + fuzz_le(cd + 42, 4);

        if (lh != out + next || lh + 30 + nlen > out + off
            || fuzz_le(lh, 4) != 0x04034b50
            || fuzz_le(lh + 26, 2) != nlen
            || ngx_memcmp(lh + 30, name, nlen) != 0
            || fuzz_le(cd + 10, 2) != 0 || fuzz_le(cd + 30, 2) != 0
            || !S_ISREG(fuzz_le(cd + 38, 4) >> 16)
            || nlen <= id->len + 1
            || ngx_strncmp(name, id->data, id->len) != 0
            || name[id->len] != '/'
            || (prev && fuzz_zip_order(prev, plen, name, nlen) >= 0))
        {
            __builtin_trap();
        }

        data = lh + 30 + nlen + fuzz_le(lh + 28, 2);
        dd = data + size;

        if (dd + 16 > out + off
            || fuzz_le(dd, 4) != 0x08074b50
            || fuzz_le(dd + 4, 4) != fuzz_le(cd + 16, 4)
            || fuzz_le(dd + 8, 4) != size || fuzz_le(dd + 12, 4) != size
            || crc32(0, data, size) != fuzz_le(cd + 16, 4))
        {
            __builtin_trap();
        }

        /* the DOS time, back to a time */

        ngx_memzero(&tm, sizeof(struct tm));
        tm.tm_year = (fuzz_le(cd + 14, 2) >> 9) + 80;
        tm.tm_mon = ((fuzz_le(cd + 14, 2) >> 5) & 15) - 1;
        tm.tm_mday = fuzz_le(cd + 14, 2) & 31;
        tm.tm_hour = fuzz_le(cd + 12, 2) >> 11;
        tm.tm_min = (fuzz_le(cd + 12, 2) >> 5) & 63;
        tm.tm_sec = (fuzz_le(cd + 12, 2) & 31) * 2;

        if (tm.tm_mon > 11 || tm.tm_mday == 0 || tm.tm_hour > 23
            || tm.tm_min > 59 || tm.tm_sec > 59)
        {
            __builtin_trap();
        }

        t = timegm(&tm);
        f = fuzz_zip_file(name, nlen);

        if (f == NULL
            || (!f->changed
                && (f->size != size || ngx_memcmp(f->data, data, size) != 0
                    || t > ngx_max(f->mtime, FUZZ_DOS_FIRST)
                    || t + 2 < ngx_min(f->mtime, FUZZ_DOS_LAST))))
        {
            __builtin_trap();
        }

        found += !f->changed;
        next = dd + 16 - out;
        prev = name;
        plen = nlen;
        cd += 46 + nlen + fuzz_le(cd + 30, 2) + fuzz_le(cd + 32, 2);
    }

    if (next != off || cd != out + len - 22) {
        __builtin_trap();
    }

    for (i = 0; i < fuzz_nfiles; i++) {
        found -= !fuzz_files[i].changed;
    }

    if (found != 0) {
        __builtin_trap();
    }
}


/*
 * The head: the buffers' size, the size from which files are sent from
 * the file (0: none), the change of the folder and the buffer it comes
 * before; then the session id (made valid), a line, and the records, a
 * line each.
 */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                         sdir, dir;
    u_char                     *p, *last, *nl, idbuf[32], path[256];
    size_t                      len;
    ngx_str_t                   id;
    ngx_uint_t                  i;
    ngx_pool_t                 *pool;
    ngx_voicegw_session_zip_t  *z;

    static u_char                  *out;
    static ngx_voicegw_sessions_t   sessions;

    if (size < 5 || fuzz_zip_root() != NGX_OK) {
        return 0;
    }

    if (out == NULL) {
        out = malloc(FUZZ_ZIP_OUT);
        sessions.path.data = malloc(sizeof(fuzz_root) + sizeof("/sessions"));

        if (out == NULL || sessions.path.data == NULL) {
            return 0;
        }

        sessions.path.len = ngx_sprintf(sessions.path.data, "%s/sessions",
                                        fuzz_root)
                            - sessions.path.data;
        sessions.path.data[sessions.path.len] = '\0';
    }

    p = (u_char *) data + 4;
    last = (u_char *) data + size;

    nl = ngx_strlchr(p, last, '\n');
    id.data = p;
    id.len = (nl ? nl : last) - p;

    if (!ngx_voicegw_session_id_valid(&id)) {
        id.data = idbuf;
        id.len = ngx_sprintf(idbuf, "s%uz", id.len) - idbuf;
    }

    ngx_sprintf(path, "%V/%V%Z", &sessions.path, &id);

    sdir = open((char *) sessions.path.data, O_RDONLY|O_DIRECTORY);

    if (sdir == -1 || mkdir((char *) path, 0700) == -1) {
        __builtin_trap();
    }

    dir = open((char *) path, O_RDONLY|O_DIRECTORY);
    fuzz_nfiles = 0;

    for (p = nl ? nl + 1 : last; p < last; p = nl + 1) {
        nl = ngx_strlchr(p, last, '\n');
        nl = nl ? nl : last;

        (void) fuzz_zip_make(dir, &id, p, nl - p);
    }

    pool = ngx_standin_pool_create();
    z = ngx_voicegw_session_zip_create(pool, &sessions, &id);

    if (z == NULL) {
        __builtin_trap();
    }

    if (data[1]) {
        ngx_voicegw_session_zip_sendfile(z, data[1]);
    }

    if (ngx_voicegw_session_zip_list(z) != NGX_OK
        || !ngx_voicegw_session_zip_found(z))
    {
        __builtin_trap();
    }

    if (fuzz_zip_write(z, out, &len, 1 + (size_t) data[0] * 33, dir, &id,
                       data)
        == NGX_OK)
    {
        if ((size_t) ngx_voicegw_session_zip_bytes(z) != len
            || ngx_voicegw_session_zip_entries(z) != fuzz_le(out + len - 12,
                                                             2))
        {
            __builtin_trap();
        }

        fuzz_zip_check(out, len, &id);
    }

    ngx_standin_pool_destroy(pool);

    (void) close(dir);
    (void) close(sdir);
    (void) nftw((char *) path, fuzz_remove, 16, FTW_DEPTH|FTW_PHYS);

    for (i = 0; i < fuzz_nfiles; i++) {
        free(fuzz_files[i].name);
        free(fuzz_files[i].data);
    }

    return 0;
}


/* -- reports ------------------------------------------------------------- */

#elif defined(FUZZ_REPORTS)

#include <time.h>

#include "ngx_voicegw_module.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_report.h"


#define FUZZ_DAY       86400
#define FUZZ_LAST_DAY  253402214400LL           /* 9999-12-31 */


/* the periods, as the API documents them, and the days they go back */

static struct {
    const char  *name;
    ngx_int_t    days;
} fuzz_periods[] = {
    { "today", 0 }, { "week", 6 }, { "month", 29 }, { "all", -1 }
};


/* "YYYY-MM-DD": its time at 00:00 UTC, or -1 */

static time_t
fuzz_reports_day(ngx_str_t *day)
{
    struct tm   tm;
    ngx_uint_t  i;

    if (day->len != 10 || day->data[4] != '-' || day->data[7] != '-') {
        return -1;
    }

    for (i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && !isdigit(day->data[i])) {
            return -1;
        }
    }

    ngx_memzero(&tm, sizeof(struct tm));
    tm.tm_year = ngx_atoi(day->data, 4) - 1900;
    tm.tm_mon = ngx_atoi(day->data + 5, 2) - 1;
    tm.tm_mday = ngx_atoi(day->data + 8, 2);

    if (tm.tm_mon > 11 || tm.tm_mday == 0 || tm.tm_mday > 31) {
        return -1;
    }

    return timegm(&tm);
}


/*
 * A period taken is a window that ends today: "all" has no first day;
 * the others' first day is "days" before today (UTC), so that today's
 * window is in the week's, the week's in the month's.
 */

static void
fuzz_reports_period(ngx_str_t *value, time_t now)
{
    time_t                      since, prev;
    ngx_int_t                   rc;
    ngx_uint_t                  i, known;
    ngx_voicegw_report_query_t  q;

    known = 0;

    for (i = 0; i < sizeof(fuzz_periods) / sizeof(fuzz_periods[0]); i++) {
        if (value->len == ngx_strlen(fuzz_periods[i].name)
            && ngx_memcmp(value->data, fuzz_periods[i].name, value->len)
               == 0)
        {
            known = 1;
        }
    }

    ngx_memzero(&q, sizeof(ngx_voicegw_report_query_t));

    rc = ngx_voicegw_report_period_name(&q, value);

    if ((rc == NGX_OK) != known
        || (rc == NGX_OK
            && (q.period.len != value->len
                || ngx_memcmp(q.period.data, value->data, value->len) != 0)))
    {
        __builtin_trap();
    }

    /* every period, and their windows' order */

    prev = now - now % FUZZ_DAY + FUZZ_DAY;

    for (i = 0; i < sizeof(fuzz_periods) / sizeof(fuzz_periods[0]); i++) {
        ngx_memzero(&q, sizeof(ngx_voicegw_report_query_t));
        value->data = (u_char *) fuzz_periods[i].name;
        value->len = ngx_strlen(fuzz_periods[i].name);

        if (ngx_voicegw_report_period_name(&q, value) != NGX_OK) {
            __builtin_trap();
        }

        if (fuzz_periods[i].days < 0) {
            if (q.since.len != 0) {
                __builtin_trap();
            }

            continue;
        }

        since = fuzz_reports_day(&q.since);

        if (since == -1 || since % FUZZ_DAY != 0 || since >= prev
            || (now - since) / FUZZ_DAY != fuzz_periods[i].days)
        {
            __builtin_trap();
        }

        prev = since;
    }
}


/*
 * The head: 5 bytes of the time (from a month after 1970 to the year
 * 9999, by days and seconds); then the query string the reports read
 * their arguments from, each unescaped as the handlers get it and
 * checked as they check it.  What is taken keeps the promises: a limit
 * of 1 to 1000 that is the number written; a modality of the records;
 * a period, its window.
 */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    time_t               now;
    int64_t              limit, n;
    ngx_int_t            rc;
    ngx_str_t            v;
    ngx_uint_t           i, digits;
    ngx_pool_t          *pool;
    ngx_time_t           tp;
    ngx_http_request_t   r;

    if (size < 5) {
        return 0;
    }

    now = 0;

    for (i = 0; i < 5; i++) {
        now = now << 8 | data[i];
    }

    now = 30 * FUZZ_DAY + now % (FUZZ_LAST_DAY - 30 * FUZZ_DAY);

    ngx_memzero(&tp, sizeof(ngx_time_t));
    tp.sec = now;
    ngx_cached_time = &tp;

    pool = ngx_standin_pool_create();

    ngx_memzero(&r, sizeof(ngx_http_request_t));
    r.pool = pool;

    if (ngx_standin_copy(pool, (u_char *) data + 5, size - 5, &r.args)
        != NGX_OK)
    {
        goto done;
    }

    /* /v1/logs?limit= */

    rc = ngx_voicegw_api_arg(&r, "limit", &v);

    if (rc == NGX_OK) {
        digits = (v.len >= 1 && v.len <= 4);

        for (i = 0, n = 0; digits && i < v.len; i++) {
            digits = (v.data[i] >= '0' && v.data[i] <= '9');
            n = n * 10 + v.data[i] - '0';
        }

        digits = digits && n >= 1 && n <= NGX_VOICEGW_REPORT_LOGS_MAX;
        limit = 0;

        rc = ngx_voicegw_report_limit(&v, &limit);

        if ((rc == NGX_OK) != digits || (rc == NGX_OK && limit != n)) {
            __builtin_trap();
        }
    }

    /* /v1/logs?modality= */

    rc = ngx_voicegw_api_arg(&r, "modality", &v);

    if (rc == NGX_OK && v.len) {
        rc = ngx_voicegw_report_modality(&v);

        if ((rc == NGX_OK)
            != ((v.len == 3
                 && (ngx_strncmp(v.data, "stt", 3) == 0
                     || ngx_strncmp(v.data, "llm", 3) == 0
                     || ngx_strncmp(v.data, "tts", 3) == 0))
                || (v.len == 4 && ngx_strncmp(v.data, "omni", 4) == 0)))
        {
            __builtin_trap();
        }
    }

    /* /v1/costs, /v1/latency: period=, "today" when there is none */

    rc = ngx_voicegw_api_arg(&r, "period", &v);

    if (rc == NGX_DECLINED) {
        ngx_str_set(&v, "today");
    }

    if (rc != NGX_ERROR) {
        fuzz_reports_period(&v, now);
    }

done:

    ngx_standin_pool_destroy(pool);

    return 0;
}


/* -- proxypath ----------------------------------------------------------- */

#elif defined(FUZZ_PROXYPATH)

#include "ngx_voicegw_module.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_record.h"
#include "ngx_voicegw_proxy.h"


/* the query arguments a WebSocket call's credentials may be in */

static const char  *fuzz_credentials[] = {
    "access_token", "api_key", "token", "single_use_token", "xi_api_key",
    NULL
};


/*
 * The query a provider must get: the client's; for a WebSocket call,
 * without its empty arguments and credentials, the others joined by "&"
 */

static size_t
fuzz_proxy_query(ngx_str_t *args, ngx_uint_t websocket, u_char *out)
{
    u_char      *a, *last, *start, *eq, *o;
    ngx_uint_t   i, cred;

    if (!websocket) {
        ngx_memcpy(out, args->data, args->len);
        return args->len;
    }

    o = out;
    last = args->data + args->len;

    for (a = args->data; a <= last; a++) {
        start = a;
        a = ngx_strlchr(start, last, '&');
        a = a ? a : last;

        eq = ngx_strlchr(start, a, '=');
        eq = eq ? eq : a;

        for (i = 0, cred = 0; fuzz_credentials[i]; i++) {
            cred |= ((size_t) (eq - start) == ngx_strlen(fuzz_credentials[i])
                     && ngx_strncasecmp(start,
                                        (u_char *) fuzz_credentials[i],
                                        eq - start)
                        == 0);
        }

        if (cred || a == start) {
            continue;
        }

        if (o > out) {
            *o++ = '&';
        }

        o = ngx_cpymem(o, start, a - start);
    }

    return o - out;
}


/*
 * The URL the call goes to: the scheme, the providers' upstream, the
 * base URL's prefix; then a path with nothing in it that ends a path
 * (no "?", "#", space or control character), that unescapes to the
 * client's path exactly ("/" for none); then the query the provider must
 * get, if any.
 */

static void
fuzz_proxy_url(ngx_str_t *url, ngx_uint_t https, ngx_str_t *prefix,
    ngx_str_t *rest, ngx_str_t *args, ngx_uint_t websocket, u_char *buf)
{
    u_char     *p, *last, *q, *d;
    size_t      n;
    ngx_int_t   hex;

    p = url->data;
    last = url->data + url->len;
    n = ngx_sprintf(buf, "%s" NGX_VOICEGW_PROXY_UPSTREAM "%V",
                    https ? "https://" : "http://", prefix) - buf;

    if (url->len < n || ngx_memcmp(p, buf, n) != 0) {
        __builtin_trap();
    }

    p += n;
    q = ngx_strlchr(p, last, '?');
    q = q ? q : last;

    for (d = buf; p < q; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '#') {
            __builtin_trap();
        }

        if (*p == '%') {
            hex = (q - p >= 3) ? ngx_hextoi(p + 1, 2) : NGX_ERROR;

            if (hex == NGX_ERROR) {
                __builtin_trap();
            }

            *d++ = (u_char) hex;
            p += 2;
            continue;
        }

        *d++ = *p;
    }

    if ((rest->len == 0 && (d - buf != 1 || buf[0] != '/'))
        || (rest->len
            && ((size_t) (d - buf) != rest->len
                || ngx_memcmp(buf, rest->data, rest->len) != 0)))
    {
        __builtin_trap();
    }

    n = fuzz_proxy_query(args, websocket, buf);

    if ((n == 0 && q != last)
        || (n && ((size_t) (last - q) != n + 1
                  || ngx_memcmp(q + 1, buf, n) != 0)))
    {
        __builtin_trap();
    }
}


/*
 * The head: the WebSocket and https flags, and the base URL's prefix,
 * in its bits; then "location\npath\nquery": the location's prefix (one
 * that starts and ends with "/", else "/proxy/"), the path as nginx
 * normalised and unescaped it (so it may hold "?" and "#"), the query as
 * the client wrote it.  The path is split as the handler splits it; with
 * a provider id, the model of the query, its name on the books, and the
 * URL the call goes to are checked.
 */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                   *p, *nl, *last, *buf;
    ngx_int_t                 rc;
    ngx_str_t                 loc, uri, id, rest, model, name, prefix;
    ngx_uint_t                m;
    ngx_pool_t               *pool;
    ngx_http_request_t        r;
    ngx_voicegw_proxy_ctx_t   ctx;

    if (size < 1) {
        return 0;
    }

    p = (u_char *) data + 1;
    last = (u_char *) data + size;

    nl = ngx_strlchr(p, last, '\n');

    if (nl == NULL) {
        return 0;
    }

    pool = ngx_standin_pool_create();

    ngx_memzero(&r, sizeof(ngx_http_request_t));
    r.pool = pool;

    if (ngx_standin_copy(pool, p, nl - p, &loc) != NGX_OK) {
        goto done;
    }

    if (loc.len < 2 || loc.data[0] != '/' || loc.data[loc.len - 1] != '/') {
        ngx_str_set(&loc, "/proxy/");
    }

    p = nl + 1;
    nl = ngx_strlchr(p, last, '\n');
    nl = nl ? nl : last;

    if (ngx_standin_copy(pool, p, nl - p, &uri) != NGX_OK
        || ngx_standin_copy(pool, nl + (nl < last), last - nl - (nl < last),
                            &r.args)
           != NGX_OK)
    {
        goto done;
    }

    /* /<prefix>/{provider_id}[/<path>] */

    ngx_voicegw_proxy_split(&uri, &loc, &id, &rest);

    if (uri.len < loc.len
        ? (id.len || rest.len)
        : (id.data != uri.data + loc.len
           || id.len + rest.len != uri.len - loc.len
           || ngx_strlchr(id.data, id.data + id.len, '/')
           || (rest.len && rest.data[0] != '/')))
    {
        __builtin_trap();
    }

    if (id.len == 0 || !ngx_voicegw_valid_id(&id)) {
        goto done;
    }

    m = ngx_voicegw_proxy_modality(&rest);

    if (m != NGX_VOICEGW_MODALITY_STT && m != NGX_VOICEGW_MODALITY_TTS
        && m != NGX_VOICEGW_MODALITY_LLM && m != NGX_VOICEGW_MODALITY_OTHER)
    {
        __builtin_trap();
    }

    /* the model, as the handler takes it: at most half a record's name */

    ngx_str_null(&model);

    rc = ngx_voicegw_proxy_model_arg(&r, &model);

    if (rc == NGX_ERROR || (rc == NGX_DECLINED && model.len)
        || model.len > r.args.len)
    {
        __builtin_trap();
    }

    if (model.len <= NGX_VOICEGW_RECORD_MODEL_LEN / 2) {

        if (ngx_voicegw_proxy_record_model(pool, &id, &model, &name)
            != NGX_OK
            || name.len > NGX_VOICEGW_RECORD_MODEL_LEN
            || name.len != id.len + 1 + (model.len ? model.len : 7)
            || ngx_memcmp(name.data, id.data, id.len) != 0
            || name.data[id.len] != '/'
            || (model.len
                && ngx_memcmp(name.data + id.len + 1, model.data, model.len)
                   != 0))
        {
            __builtin_trap();
        }
    }

    /* the URL */

    ngx_memzero(&ctx, sizeof(ngx_voicegw_proxy_ctx_t));
    ctx.websocket = data[0] & 1;

    if (data[0] & 4) {
        ngx_str_set(&prefix, "/v1");

    } else {
        ngx_str_null(&prefix);
    }

    buf = ngx_pnalloc(pool, sizeof("https://" NGX_VOICEGW_PROXY_UPSTREAM)
                            + prefix.len + rest.len + r.args.len + 1);

    if (buf == NULL
        || ngx_voicegw_proxy_url(&r, &ctx, data[0] & 2, &prefix, &rest)
           != NGX_OK)
    {
        __builtin_trap();
    }

    fuzz_proxy_url(&ctx.url, data[0] & 2, &prefix, &rest, &r.args,
                   ctx.websocket, buf);

done:

    ngx_standin_pool_destroy(pool);

    return 0;
}

#else
#error "define FUZZ_ARGS, FUZZ_ZIP, FUZZ_REPORTS or FUZZ_PROXYPATH"
#endif
