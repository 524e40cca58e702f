
/*
 * ngx_voicegw_conf.c
 *
 * Owns the small helpers of directive parsing that every part of the
 * gateway shares.  Nothing here knows any directive: it is the layer
 * below them, so that no part has to call another to read its own
 * arguments.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_voicegw_conf.h"

#include <math.h>
#include <pwd.h>
#include <grp.h>


/* "name=value": NGX_OK with the value when arg starts with "name=" */

ngx_int_t
ngx_voicegw_conf_param(ngx_str_t *arg, const char *name, ngx_str_t *value)
{
    size_t  len;

    len = ngx_strlen(name);

    if (arg->len <= len || arg->data[len] != '='
        || ngx_strncmp(arg->data, name, len) != 0)
    {
        return NGX_DECLINED;
    }

    value->data = arg->data + len + 1;
    value->len = arg->len - len - 1;

    return NGX_OK;
}


/* the error of a directive's parameter that is none of those it takes */

char *
ngx_voicegw_conf_invalid(ngx_conf_t *cf, ngx_command_t *cmd, ngx_str_t *arg)
{
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"%V\"",
                       arg, &cmd->name);

    return NGX_CONF_ERROR;
}


/*
 * A plain decimal number: digits, an optional fraction and exponent.
 * strtod() alone would also take "inf", "nan", hex and leading blanks.
 */

ngx_int_t
ngx_voicegw_parse_number(u_char *p, size_t len, double *value)
{
    char        buf[64], *end;
    size_t      i;
    ngx_uint_t  digits;

    if (len == 0 || len >= sizeof(buf)) {
        return NGX_ERROR;
    }

    digits = 0;

    for (i = 0; i < len; i++) {
        if (p[i] >= '0' && p[i] <= '9') {
            digits++;
            continue;
        }

        if (p[i] == '.' || p[i] == 'e' || p[i] == 'E'
            || ((p[i] == '-' || p[i] == '+')
                && (i == 0 || p[i - 1] == 'e' || p[i - 1] == 'E')))
        {
            continue;
        }

        return NGX_ERROR;
    }

    if (digits == 0) {
        return NGX_ERROR;
    }

    ngx_memcpy(buf, p, len);
    buf[len] = '\0';

    *value = strtod(buf, &end);

    if (end != buf + len || !isfinite(*value)) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A whole data file named by a directive, read while nginx reads its
 * configuration (never by a request): a regular file of at most "max"
 * bytes, into the configuration's temporary pool.  The errors name the
 * directive and the file; nginx adds the configuration's file and line.
 */

ngx_int_t
ngx_voicegw_conf_read_file(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *path,
    size_t max, ngx_str_t *content)
{
    off_t            size;
    size_t           scaled;
    ssize_t          n;
    u_char           unit;
    ngx_int_t        rc;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = *path;
    file.log = cf->log;

    file.fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%V: " ngx_open_file_n " \"%V\" failed",
                           name, path);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%V: " ngx_fd_info_n " \"%V\" failed", name, path);
        goto done;
    }

    size = ngx_file_size(&fi);

    if (!ngx_is_file(&fi) || size > (off_t) max) {
        unit = (max % (1024 * 1024) == 0) ? 'm' : 'k';
        scaled = (unit == 'm') ? max / (1024 * 1024) : max / 1024;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: \"%V\" is not a file of at most %uz%c",
                           name, path, scaled, unit);
        goto done;
    }

    content->data = ngx_pnalloc(cf->temp_pool, (size_t) size + 1);
    if (content->data == NULL) {
        goto done;
    }

    n = ngx_read_file(&file, content->data, (size_t) size, 0);

    if (n != (ssize_t) size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: read %z of %O bytes of \"%V\"",
                           name, n, size, path);
        goto done;
    }

    content->data[size] = '\0';
    content->len = (size_t) size;
    rc = NGX_OK;

done:

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", path);
    }

    return rc;
}


/*
 * The user the worker processes will run as, in the master while it reads
 * its configuration: that of "user", or nginx's default one when "user"
 * is not read (yet).  NGX_DECLINED when that default does not exist
 * (nginx itself will refuse to start).
 */

ngx_int_t
ngx_voicegw_conf_workers_user(ngx_cycle_t *cycle, ngx_uid_t *user,
    ngx_gid_t *group, char **name)
{
    struct group     *grp;
    struct passwd    *pwd;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        *user = ccf->user;
        *group = ccf->group;
        *name = ccf->username;
        return NGX_OK;
    }

    pwd = getpwnam(NGX_USER);
    grp = getgrnam(NGX_GROUP);

    if (pwd == NULL || grp == NULL) {
        return NGX_DECLINED;
    }

    *user = pwd->pw_uid;
    *group = grp->gr_gid;
    *name = NGX_USER;

    return NGX_OK;
}
