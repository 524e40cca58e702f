
/*
 * ngx_voicegw_apps.c
 *
 * Owns the app registry and the front end's static configuration:
 * "voicegw_app", "voicegw_frontend_defaults" and "voicegw_preset".
 *
 * An app is enabled by nginx.conf unless "PUT /api/admin/apps" switched
 * it: that choice is the setting "app.<id>.enabled", which wins from then
 * on (shared zone for all processes, store across restarts), like the ETA
 * fields.  A disabled app's routes answer 403 before a worker is taken.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_apps.h"


static ngx_int_t ngx_voicegw_conf_id(ngx_str_t *id, size_t max);


static ngx_conf_enum_t  ngx_voicegw_app_switch[] = {
    { ngx_string("on"), 1 },
    { ngx_string("off"), 0 },
    { ngx_null_string, 0 }
};


/* the original gateway's four apps, in its order */

static struct {
    const char                  *id;
    const char                  *name;
    const char                  *route;
} ngx_voicegw_default_apps[] = {
    { "turnbased", "Turn-based Chat", "/turnbased" },
    { "half_duplex_audio", "Half-Duplex Audio", "/half_duplex" },
    { "omni", "Omni Full-Duplex", "/omni" },
    { "audio_duplex", "Audio Full-Duplex", "/audio_duplex" },
    { NULL, NULL, NULL }
};


ngx_int_t
ngx_voicegw_apps_conf_init(ngx_conf_t *cf, ngx_voicegw_pools_t *vp)
{
    ngx_uint_t          i;
    ngx_voicegw_app_t  *app;

    if (ngx_array_init(&vp->apps, cf->pool, 4, sizeof(ngx_voicegw_app_t))
        != NGX_OK
        || ngx_array_init(&vp->frontend_defaults, cf->pool, 4,
                          sizeof(ngx_voicegw_kv_t))
           != NGX_OK
        || ngx_array_init(&vp->presets, cf->pool, 4,
                          sizeof(ngx_voicegw_preset_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; ngx_voicegw_default_apps[i].id; i++) {
        app = ngx_array_push(&vp->apps);
        if (app == NULL) {
            return NGX_ERROR;
        }

        app->id.data = (u_char *) ngx_voicegw_default_apps[i].id;
        app->id.len = ngx_strlen(app->id.data);
        app->name.data = (u_char *) ngx_voicegw_default_apps[i].name;
        app->name.len = ngx_strlen(app->name.data);
        app->route.data = (u_char *) ngx_voicegw_default_apps[i].route;
        app->route.len = ngx_strlen(app->route.data);
        app->enabled = 1;
    }

    return NGX_OK;
}


/* the seed's front-end defaults, unless nginx.conf says otherwise */

ngx_int_t
ngx_voicegw_apps_init_main_conf(ngx_conf_t *cf, ngx_voicegw_pools_t *vp)
{
    ngx_voicegw_kv_t  *kv;

    if (vp->frontend_defaults.nelts) {
        return NGX_OK;
    }

    kv = ngx_array_push_n(&vp->frontend_defaults, 2);
    if (kv == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&kv[0].key, "playback_delay_ms");
    ngx_str_set(&kv[0].value, "200");
    kv[0].type = NGX_VOICEGW_VALUE_NUMBER;

    ngx_str_set(&kv[1].key, "chat_vocoder");
    ngx_str_set(&kv[1].value, "token2wav");
    kv[1].type = NGX_VOICEGW_VALUE_STRING;

    return NGX_OK;
}


/* voicegw_app ID [name=..] [route=..] [enabled=on|off]; */

char *
ngx_voicegw_app_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ngx_str_t            *value, v;
    ngx_uint_t            i, enabled;
    ngx_voicegw_app_t    *app;
    ngx_voicegw_pools_t  *vp;

    vp = vmcf->pools;
    value = cf->args->elts;

    if (ngx_voicegw_conf_id(&value[1], 32) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid app id \"%V\" in \"%V\": use "
                           "[a-z0-9_], at most 32 characters",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    app = ngx_voicegw_app_find(vp, &value[1]);

    if (app == NULL) {
        app = ngx_array_push(&vp->apps);
        if (app == NULL) {
            return NGX_CONF_ERROR;
        }

        app->id = value[1];
        app->name = value[1];
        app->route.len = value[1].len + 1;
        app->route.data = ngx_pnalloc(cf->pool, app->route.len);
        if (app->route.data == NULL) {
            return NGX_CONF_ERROR;
        }

        app->route.data[0] = '/';
        ngx_memcpy(app->route.data + 1, value[1].data, value[1].len);
        app->enabled = 1;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_voicegw_conf_param(&value[i], "name", &v) == NGX_OK
            && v.len)
        {
            app->name = v;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "route", &v) == NGX_OK
            && v.len && v.data[0] == '/')
        {
            app->route = v;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "enabled", &v) == NGX_OK
            && ngx_voicegw_enum_value(ngx_voicegw_app_switch, &v, &enabled)
               == NGX_OK)
        {
            app->enabled = enabled;
            continue;
        }

        return ngx_voicegw_conf_invalid(cf, cmd, &value[i]);
    }

    return NGX_CONF_OK;
}


/*
 * voicegw_frontend_defaults key=value ...;  Values print as JSON numbers
 * or booleans when they look like one, else as strings.
 */

char *
ngx_voicegw_frontend_defaults_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    double                d;
    u_char               *eq;
    ngx_str_t            *value, key;
    ngx_uint_t            i, j, b;
    ngx_voicegw_kv_t     *kv, *all;
    ngx_voicegw_pools_t  *vp;

    vp = vmcf->pools;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

        key.data = value[i].data;
        key.len = eq ? (size_t) (eq - value[i].data) : 0;

        if (eq == NULL || ngx_voicegw_conf_id(&key, 64) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\": use "
                               "name=value with a name of [a-z0-9_]",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }

        /* a later value for the same name replaces the earlier one */

        kv = NULL;
        all = vp->frontend_defaults.elts;

        for (j = 0; j < vp->frontend_defaults.nelts; j++) {
            if (all[j].key.len == key.len
                && ngx_strncmp(all[j].key.data, key.data, key.len) == 0)
            {
                kv = &all[j];
                break;
            }
        }

        if (kv == NULL) {
            kv = ngx_array_push(&vp->frontend_defaults);
            if (kv == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        kv->key = key;
        kv->value.data = eq + 1;
        kv->value.len = value[i].data + value[i].len - kv->value.data;

        if (ngx_voicegw_enum_value(ngx_voicegw_booleans, &kv->value, &b)
            == NGX_OK)
        {
            kv->type = NGX_VOICEGW_VALUE_BOOL;

        } else if (ngx_voicegw_parse_number(kv->value.data, kv->value.len, &d)
                   == NGX_OK
                   && kv->value.data[0] != '+'
                   && kv->value.data[kv->value.len - 1] != '.')
        {
            kv->type = NGX_VOICEGW_VALUE_NUMBER;

        } else {
            kv->type = NGX_VOICEGW_VALUE_STRING;
        }
    }

    return NGX_CONF_OK;
}


/* voicegw_preset ID name=.. "system_prompt=.."; */

char *
ngx_voicegw_preset_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ngx_str_t             *value, v;
    ngx_uint_t             i;
    ngx_voicegw_pools_t   *vp;
    ngx_voicegw_preset_t  *p, *all;

    vp = vmcf->pools;
    value = cf->args->elts;

    if (ngx_voicegw_conf_id(&value[1], 64) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid preset id \"%V\" in \"%V\": use "
                           "[a-z0-9_], at most 64 characters",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    all = vp->presets.elts;

    for (i = 0; i < vp->presets.nelts; i++) {
        if (all[i].id.len == value[1].len
            && ngx_strncmp(all[i].id.data, value[1].data, value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate preset \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    p = ngx_array_push(&vp->presets);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    p->id = value[1];
    p->name = value[1];
    ngx_str_null(&p->system_prompt);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_voicegw_conf_param(&value[i], "name", &v) == NGX_OK) {
            p->name = v;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "system_prompt", &v) == NGX_OK) {
            p->system_prompt = v;
            continue;
        }

        return ngx_voicegw_conf_invalid(cf, cmd, &value[i]);
    }

    return NGX_CONF_OK;
}


ngx_voicegw_app_t *
ngx_voicegw_app_find(ngx_voicegw_pools_t *vp, ngx_str_t *id)
{
    ngx_uint_t          i;
    ngx_voicegw_app_t  *app;

    app = vp->apps.elts;

    for (i = 0; i < vp->apps.nelts; i++) {
        if (app[i].id.len == id->len
            && ngx_strncmp(app[i].id.data, id->data, id->len) == 0)
        {
            return &app[i];
        }
    }

    return NULL;
}


ngx_uint_t
ngx_voicegw_app_enabled_locked(ngx_voicegw_zone_t *zone,
    ngx_voicegw_app_t *app)
{
    u_char      key[NGX_VOICEGW_SETTING_SH_KEY];
    ngx_str_t   v;
    ngx_uint_t  enabled;

    if (app->id.len + sizeof("app..enabled") > sizeof(key)) {
        return app->enabled;
    }

    ngx_sprintf(key, "app.%V.enabled%Z", &app->id);

    if (ngx_voicegw_settings_get_locked(zone, (char *) key, &v) != NGX_OK) {
        return app->enabled;
    }

    return ngx_voicegw_enum_value(ngx_voicegw_booleans, &v, &enabled) == NGX_OK
           && enabled;
}


static ngx_int_t
ngx_voicegw_conf_id(ngx_str_t *id, size_t max)
{
    size_t  i;

    if (id->len == 0 || id->len > max) {
        return NGX_ERROR;
    }

    for (i = 0; i < id->len; i++) {
        if (!((id->data[i] >= 'a' && id->data[i] <= 'z')
              || (id->data[i] >= '0' && id->data[i] <= '9')
              || id->data[i] == '_'))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
