
/*
 * ngx_voicegw_settings.c
 *
 * Owns the settings written through the API: a small key/value table in
 * the shared zone (what every process reads, at once).  The store's
 * "settings" table holds the same rows across restarts; the store hands
 * them over here, and never the other way round.
 *
 * Settings come in groups named by a prefix ("eta.", "app.").  Each write
 * to a group bumps "<prefix>version" in the same transaction and reads the
 * whole group back; the zone takes a group only when its version is newer
 * than the one it holds.  So two writes committed by two processes in one
 * order are applied in that order, whatever order their completions run
 * in, and a reload or restart never rolls the zone back.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_settings.h"


static uint64_t ngx_voicegw_settings_group_version(ngx_array_t *rows,
    ngx_str_t *prefix);
static ngx_int_t ngx_voicegw_settings_put_locked(
    ngx_voicegw_settings_sh_t *t, ngx_str_t *key, ngx_str_t *value,
    ngx_log_t *log);


/*
 * Every group of the rows the store held when the configuration was read:
 * a fresh zone takes them all; on reload a group is taken only if the
 * store holds a newer version of it.
 */

void
ngx_voicegw_settings_load_locked(ngx_voicegw_zone_t *zone,
    ngx_array_t *stored, ngx_log_t *log)
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
            ngx_voicegw_settings_apply_locked(zone, &prefix, stored, log);
        }
    }
}


ngx_int_t
ngx_voicegw_settings_get_locked(ngx_voicegw_zone_t *zone, const char *key,
    ngx_str_t *value)
{
    ngx_uint_t                  i;
    ngx_voicegw_settings_sh_t  *t;

    t = &zone->sh->settings;

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
ngx_voicegw_settings_number_locked(ngx_voicegw_zone_t *zone, const char *key,
    double *value)
{
    ngx_str_t  v;

    if (ngx_voicegw_settings_get_locked(zone, key, &v) != NGX_OK) {
        return NGX_DECLINED;
    }

    return ngx_voicegw_parse_number(v.data, v.len, value);
}


/*
 * rows: every committed setting of the group (others are ignored).  The
 * group replaces what the zone holds under the prefix if it is newer.
 */

void
ngx_voicegw_settings_apply_locked(ngx_voicegw_zone_t *zone, ngx_str_t *prefix,
    ngx_array_t *rows, ngx_log_t *log)
{
    off_t                       held;
    u_char                      key[NGX_VOICEGW_SETTING_SH_KEY];
    uint64_t                    version;
    ngx_str_t                   current;
    ngx_uint_t                  i, n;
    ngx_voicegw_setting_t      *s;
    ngx_voicegw_settings_sh_t  *t;

    t = &zone->sh->settings;

    version = ngx_voicegw_settings_group_version(rows, prefix);

    if (prefix->len + sizeof("version") > sizeof(key)) {
        return;
    }

    ngx_sprintf(key, "%Vversion%Z", prefix);

    if (ngx_voicegw_settings_get_locked(zone, (char *) key, &current)
        == NGX_OK)
    {
        held = ngx_atoof(current.data, current.len);

        if (held != NGX_ERROR && (uint64_t) held >= version) {
            return;
        }
    }

    /* what depends on settings (the ETA, the apps) has changed */

    t->version++;

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
ngx_voicegw_settings_group_version(ngx_array_t *rows, ngx_str_t *prefix)
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


/* a plain read: a change shows at the latest in the next read */

ngx_uint_t
ngx_voicegw_settings_version(ngx_voicegw_zone_t *zone)
{
    return *(volatile ngx_uint_t *) &zone->sh->settings.version;
}
