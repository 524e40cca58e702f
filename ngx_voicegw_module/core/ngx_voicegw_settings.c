
/*
 * ngx_voicegw_settings.c
 *
 * Owns the settings written through the API: a small key/value table in
 * the shared zone (what every process reads, at once) mirroring the
 * store's "settings" table (what survives a restart).
 *
 * Settings come in groups named by a prefix ("eta.", "app.").  Each write
 * to a group bumps "<prefix>version" in the same transaction and reads the
 * whole group back; the zone takes a group only when its version is newer
 * than the one it holds.  So two writes committed by two processes in one
 * order are applied in that order, whatever order their completions run
 * in, and a reload or restart never rolls the zone back.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_shm.h"
#include "ngx_voicegw_settings.h"
#include "ngx_voicegw_eta.h"


static uint64_t ngx_voicegw_settings_version(ngx_array_t *rows,
    ngx_str_t *prefix);
static ngx_int_t ngx_voicegw_settings_put_locked(
    ngx_voicegw_settings_sh_t *t, ngx_str_t *key, ngx_str_t *value,
    ngx_log_t *log);


/*
 * The master fills a fresh zone from what it read from the store; on
 * reload each group is taken only if the store holds a newer version.
 */

void
ngx_voicegw_settings_init_zone(ngx_voicegw_shm_t *shm, ngx_array_t *stored,
    ngx_log_t *log)
{
    u_char                 *dot;
    ngx_str_t               prefix;
    ngx_uint_t              i, j, seen;
    ngx_voicegw_setting_t  *s;

    if (stored == NULL) {
        return;
    }

    s = stored->elts;

    for (i = 0; i < stored->nelts; i++) {

        dot = ngx_strlchr(s[i].key.data, s[i].key.data + s[i].key.len, '.');
        if (dot == NULL) {
            continue;
        }

        prefix.data = s[i].key.data;
        prefix.len = dot - s[i].key.data + 1;

        /* once per prefix */

        seen = 0;

        for (j = 0; j < i; j++) {
            if (s[j].key.len >= prefix.len
                && ngx_strncmp(s[j].key.data, prefix.data, prefix.len) == 0)
            {
                seen = 1;
                break;
            }
        }

        if (!seen) {
            ngx_voicegw_settings_apply_locked(shm, &prefix, stored, log);
        }
    }
}


ngx_int_t
ngx_voicegw_settings_get_locked(ngx_voicegw_shm_t *shm, const char *key,
    ngx_str_t *value)
{
    ngx_uint_t                  i;
    ngx_voicegw_settings_sh_t  *t;

    t = &shm->sh->settings;

    for (i = 0; i < t->n; i++) {
        if (ngx_strcmp(t->entry[i].key, key) == 0) {
            value->data = t->entry[i].value;
            value->len = ngx_strlen(t->entry[i].value);
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_voicegw_settings_number_locked(ngx_voicegw_shm_t *shm, const char *key,
    double *value)
{
    ngx_str_t  v;

    if (ngx_voicegw_settings_get_locked(shm, key, &v) != NGX_OK) {
        return NGX_DECLINED;
    }

    return ngx_voicegw_parse_number(v.data, v.len, value);
}


/*
 * rows: every committed setting of the group (others are ignored).  The
 * group replaces what the zone holds under the prefix if it is newer.
 */

void
ngx_voicegw_settings_apply_locked(ngx_voicegw_shm_t *shm, ngx_str_t *prefix,
    ngx_array_t *rows, ngx_log_t *log)
{
    off_t                       held;
    u_char                      key[NGX_VOICEGW_SETTING_SH_KEY];
    uint64_t                    version;
    ngx_str_t                   current;
    ngx_uint_t                  i, n;
    ngx_voicegw_setting_t      *s;
    ngx_voicegw_settings_sh_t  *t;

    t = &shm->sh->settings;

    version = ngx_voicegw_settings_version(rows, prefix);

    if (prefix->len + sizeof("version") > sizeof(key)) {
        return;
    }

    ngx_sprintf(key, "%Vversion%Z", prefix);

    if (ngx_voicegw_settings_get_locked(shm, (char *) key, &current)
        == NGX_OK)
    {
        held = ngx_atoof(current.data, current.len);

        if (held != NGX_ERROR && (uint64_t) held >= version) {
            return;
        }
    }

    /* the ETA and the apps may change what the API shows */

    shm->sh->queue.version++;

    /* drop the group, then take the committed rows */

    for (i = 0, n = 0; i < t->n; i++) {
        if (ngx_strncmp(t->entry[i].key, prefix->data, prefix->len) == 0) {
            continue;
        }

        if (n != i) {
            t->entry[n] = t->entry[i];
        }

        n++;
    }

    t->n = n;

    s = rows->elts;

    for (i = 0; i < rows->nelts; i++) {
        if (s[i].key.len > prefix->len
            && ngx_strncmp(s[i].key.data, prefix->data, prefix->len) == 0)
        {
            (void) ngx_voicegw_settings_put_locked(t, &s[i].key, &s[i].value,
                                                   log);
        }
    }
}


static uint64_t
ngx_voicegw_settings_version(ngx_array_t *rows, ngx_str_t *prefix)
{
    off_t                   v;
    ngx_uint_t              i;
    ngx_voicegw_setting_t  *s;

    s = rows->elts;

    for (i = 0; i < rows->nelts; i++) {
        if (s[i].key.len == prefix->len + sizeof("version") - 1
            && ngx_strncmp(s[i].key.data, prefix->data, prefix->len) == 0
            && ngx_strncmp(s[i].key.data + prefix->len, "version",
                           sizeof("version") - 1)
               == 0)
        {
            v = ngx_atoof(s[i].value.data, s[i].value.len);
            return (v > 0) ? (uint64_t) v : 0;
        }
    }

    return 0;
}


static ngx_int_t
ngx_voicegw_settings_put_locked(ngx_voicegw_settings_sh_t *t, ngx_str_t *key,
    ngx_str_t *value, ngx_log_t *log)
{
    if (t->n == NGX_VOICEGW_SETTINGS_SH_MAX
        || key->len >= NGX_VOICEGW_SETTING_SH_KEY
        || value->len >= NGX_VOICEGW_SETTING_SH_VALUE)
    {
        if (log) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "voicegw: setting \"%V\" does not fit the zone's "
                          "settings table, ignored", key);
        }

        return NGX_ERROR;
    }

    ngx_cpystrn(t->entry[t->n].key, key->data, key->len + 1);
    ngx_cpystrn(t->entry[t->n].value, value->data, value->len + 1);
    t->n++;

    return NGX_OK;
}


/* completes an op whose puts are filled: a group write of "prefix" */

ngx_int_t
ngx_voicegw_settings_op(ngx_voicegw_store_op_t *op, const char *prefix)
{
    ngx_voicegw_store_settings_t  *st = op->data;

    if (ngx_strlen(prefix) + sizeof("version") > NGX_VOICEGW_SETTING_KEY_LEN)
    {
        return NGX_ERROR;
    }

    ngx_sprintf(st->version_key, "%sversion%Z", prefix);
    ngx_sprintf(st->prefix, "%s%Z", prefix);

    op->run = ngx_voicegw_store_put_settings;

    return NGX_OK;
}


ngx_array_t *
ngx_voicegw_settings_rows(ngx_pool_t *pool, ngx_voicegw_store_settings_t *st)
{
    ngx_uint_t              i;
    ngx_array_t            *rows;
    ngx_voicegw_setting_t  *s;

    rows = ngx_array_create(pool, st->nget + 1,
                            sizeof(ngx_voicegw_setting_t));
    if (rows == NULL) {
        return NULL;
    }

    for (i = 0; i < st->nget; i++) {
        s = ngx_array_push(rows);
        if (s == NULL) {
            return NULL;
        }

        s->key.data = st->get_key[i];
        s->key.len = ngx_strlen(st->get_key[i]);
        s->value.data = st->get_value[i];
        s->value.len = ngx_strlen(st->get_value[i]);
    }

    return rows;
}
