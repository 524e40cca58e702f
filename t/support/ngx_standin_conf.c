
/*
 * t/support/ngx_standin_conf.c
 *
 * Owns the stand-ins for the nginx functions that directive parsing
 * calls, for the fuzz targets of fuzz/ that run a directive's parser
 * outside nginx: the error of a directive (formatted, as nginx would,
 * then kept, not printed: a fuzzer makes millions), sizes and times as
 * nginx.conf writes them, a file's full name and a read of a file.
 * nginx-dev ships headers only, so these follow the contract nginx's
 * documentation gives; they are written here, not taken from nginx.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_standin.h"


/* what conf.c's workers' user reads: no "user" directive seen */

ngx_module_t  ngx_core_module;

u_char  ngx_standin_conf_error[NGX_MAX_CONF_ERRSTR];


void ngx_cdecl
ngx_conf_log_error(ngx_uint_t level, ngx_conf_t *cf, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(ngx_standin_conf_error,
                      ngx_standin_conf_error + NGX_MAX_CONF_ERRSTR - 1,
                      fmt, args);
    va_end(args);

    *p = '\0';
}


/* "1024", "64k", "8m", "1g": NGX_ERROR past max */

static int64_t
ngx_standin_scaled(ngx_str_t *line, int64_t max)
{
    size_t     len;
    int64_t    scale;
    ngx_int_t  n;

    len = line->len;

    if (len == 0) {
        return NGX_ERROR;
    }

    switch (line->data[len - 1] | 0x20) {
    case 'k':
        scale = 1024;
        break;
    case 'm':
        scale = 1024 * 1024;
        break;
    case 'g':
        scale = 1024 * 1024 * 1024;
        break;
    default:
        scale = 1;
    }

    n = ngx_atoi(line->data, len - (scale != 1));

    if (n == NGX_ERROR || n > max / scale) {
        return NGX_ERROR;
    }

    return n * scale;
}


ssize_t
ngx_parse_size(ngx_str_t *line)
{
    return (ssize_t) ngx_standin_scaled(line, NGX_MAX_SIZE_T_VALUE);
}


off_t
ngx_parse_offset(ngx_str_t *line)
{
    return (off_t) ngx_standin_scaled(line, NGX_MAX_OFF_T_VALUE);
}


/*
 * "1h 30m", "500ms", "10": numbers with units from the largest down (y M
 * w d h m s ms; none, the last one only: seconds), summed; milliseconds,
 * or seconds when is_sec (which takes no "ms").
 */

ngx_int_t
ngx_parse_time(ngx_str_t *line, ngx_uint_t is_sec)
{
    u_char      *p, *last;
    int64_t      total, value;
    ngx_uint_t   u, rank;

    /* by rank: each unit of a time smaller than the one before it */

    static const char     units[] = "yMwdhms";
    static const int64_t  ms[] = {
        365 * 86400000LL, 30 * 86400000LL, 7 * 86400000LL, 86400000LL,
        3600000, 60000, 1000, 1
    };

    p = line->data;
    last = p + line->len;
    total = 0;
    rank = 0;

    while (p < last && *p == ' ') {
        p++;
    }

    if (p == last) {
        return NGX_ERROR;
    }

    while (p < last) {

        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        for (value = 0; p < last && *p >= '0' && *p <= '9'; p++) {
            if (value > (NGX_MAX_INT_T_VALUE - 9) / 10) {
                return NGX_ERROR;
            }

            value = value * 10 + (*p - '0');
        }

        if (last - p >= 2 && p[0] == 'm' && p[1] == 's') {
            u = 7;
            p += 2;

        } else if (p < last && *p != ' ') {
            for (u = 0; units[u] && units[u] != *p; u++) { /* void */ }

            if (units[u] == '\0') {
                return NGX_ERROR;
            }

            p++;

        } else {
            u = 6;                          /* no unit: seconds */
        }

        if (u < rank || (is_sec && u == 7)) {
            return NGX_ERROR;
        }

        rank = u + 1;

        if (value > (NGX_MAX_INT_T_VALUE - total) / ms[u]) {
            return NGX_ERROR;
        }

        total += value * ms[u];

        while (p < last && *p == ' ') {
            p++;
        }
    }

    return (ngx_int_t) (is_sec ? total / 1000 : total);
}


ssize_t
ngx_read_file(ngx_file_t *file, u_char *buf, size_t size, off_t offset)
{
    ssize_t  n;

    n = pread(file->fd, buf, size, offset);

    if (n == -1) {
        return NGX_ERROR;
    }

    file->offset += n;

    return n;
}


/* a file's name in nginx.conf: the targets give absolute names only */

ngx_int_t
ngx_conf_full_name(ngx_cycle_t *cycle, ngx_str_t *name,
    ngx_uint_t conf_prefix)
{
    return (name->len && name->data[0] == '/') ? NGX_OK : NGX_ERROR;
}
