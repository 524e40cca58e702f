
/*
 * ngx_voicegw_api_service.c
 *
 * Handlers of the service API (seed "gateway-service-api.txt"): health,
 * the ETA configuration, apps, front-end defaults and presets (the pool's
 * status and queue are in ngx_voicegw_api_pool.c).  They read the shared
 * zone under its lock and write through the store (settings are written
 * as one batch with their group's version, then laid over the zone as
 * committed); the JSON shapes are the seed's.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_settings.h"
#include "ngx_voicegw_store_settings.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_eta.h"
#include "ngx_voicegw_apps.h"
#include "ngx_voicegw_api.h"

#include <math.h>


static ngx_int_t ngx_voicegw_api_health(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_eta_get(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_eta_put(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static void ngx_voicegw_api_eta_baselines(ngx_voicegw_json_t *j,
    ngx_voicegw_eta_state_t *st);
static ngx_int_t ngx_voicegw_api_eta_field(ngx_voicegw_json_value_t *body,
    ngx_uint_t i, ngx_uint_t *field);
static ngx_uint_t ngx_voicegw_api_eta_readonly(ngx_str_t *key);
static ngx_int_t ngx_voicegw_api_eta_saved(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_settings_saved(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, const char *prefix);
static void ngx_voicegw_api_app_json(ngx_voicegw_json_t *j,
    ngx_voicegw_app_t *app, ngx_int_t enabled);
static ngx_int_t ngx_voicegw_api_apps_list(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_uint_t admin);
static ngx_int_t ngx_voicegw_api_apps(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_admin_apps(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_admin_app_put(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_app_saved(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_frontend_defaults(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_presets(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);


ngx_voicegw_api_route_t  ngx_voicegw_api_service_routes[] = {

    { NGX_HTTP_GET, ngx_string("/health"),
      ngx_voicegw_api_health, 0 },

    { NGX_HTTP_GET, ngx_string("/api/config/eta"),
      ngx_voicegw_api_eta_get, 0 },

    { NGX_HTTP_PUT, ngx_string("/api/config/eta"),
      ngx_voicegw_api_eta_put, NGX_VOICEGW_API_BODY },

    { NGX_HTTP_GET, ngx_string("/api/apps"),
      ngx_voicegw_api_apps, 0 },

    { NGX_HTTP_GET, ngx_string("/api/admin/apps"),
      ngx_voicegw_api_admin_apps, 0 },

    { NGX_HTTP_PUT, ngx_string("/api/admin/apps"),
      ngx_voicegw_api_admin_app_put, NGX_VOICEGW_API_BODY },

    { NGX_HTTP_PUT, ngx_string("/api/admin/apps/{}"),
      ngx_voicegw_api_admin_app_put, NGX_VOICEGW_API_BODY },

    { NGX_HTTP_GET, ngx_string("/api/frontend_defaults"),
      ngx_voicegw_api_frontend_defaults, 0 },

    { NGX_HTTP_GET, ngx_string("/api/presets"),
      ngx_voicegw_api_presets, 0 },

    { 0, ngx_null_string, NULL, 0 }
};


/* the original gateway's name of a field of PUT /api/config/eta */

static ngx_conf_enum_t  ngx_voicegw_api_eta_aliases[] = {
    { ngx_string("ema_alpha"), NGX_VOICEGW_ETA_ALPHA },
    { ngx_null_string, 0 }
};


/*
 * Accepted in a PUT body, and changing nothing: what GET adds for the
 * original's pages ("config"), and the original admin page's stale
 * "eta_streaming_s" (its streaming task type is gone).
 */

static ngx_conf_enum_t  ngx_voicegw_api_eta_ignored[] = {
    { ngx_string("config"), 0 },
    { ngx_string("eta_streaming_s"), 0 },
    { ngx_null_string, 0 }
};


/* {"status":"ok","uptime_seconds":N,"version":"X.Y.Z"} */

static ngx_int_t
ngx_voicegw_api_health(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    uint64_t             uptime;
    ngx_voicegw_json_t  *j;

    uptime = ngx_voicegw_zone_uptime(ctx->vmcf->zone);

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "status");
    ngx_voicegw_json_cstr(j, "ok");
    ngx_voicegw_json_key(j, "uptime_seconds");
    ngx_voicegw_json_fixed(j, uptime / 1000.0, 1);
    ngx_voicegw_json_key(j, "version");
    ngx_voicegw_json_cstr(j, NGX_VOICEGW_VERSION);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


/*
 * The seed's flat fields, then read-only extras: the live average and the
 * number of samples of each task type ("ema_chat_s", "ema_chat_samples").
 */

static ngx_int_t
ngx_voicegw_api_eta_get(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    u_char                   key[64];
    ngx_uint_t               i, t;
    ngx_voicegw_json_t      *j;
    ngx_voicegw_pools_t     *vp;
    ngx_voicegw_eta_state_t  st;

    vp = ctx->vmcf->pools;

    ngx_voicegw_zone_lock(vp->zone);
    ngx_voicegw_eta_state_locked(vp, &st);
    ngx_voicegw_zone_unlock(vp->zone);

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);

    ngx_voicegw_api_eta_baselines(j, &st);

    ngx_voicegw_json_key(j, "eta_ema_alpha");
    ngx_voicegw_json_double(j, st.conf.alpha);
    ngx_voicegw_json_key(j, "eta_ema_min_samples");
    ngx_voicegw_json_int(j, st.conf.min_samples);

    for (t = 0; t < NGX_VOICEGW_TASK_NTYPES; t++) {
        ngx_snprintf(key, sizeof(key), "ema_%V_s%Z",
                     &ngx_voicegw_task_types[t].name);
        ngx_voicegw_json_key(j, (char *) key);

        if (st.samples[t]) {
            ngx_voicegw_json_double(j, st.ema[t]);

        } else {
            ngx_voicegw_json_null(j);
        }

        ngx_snprintf(key, sizeof(key), "ema_%V_samples%Z",
                     &ngx_voicegw_task_types[t].name);
        ngx_voicegw_json_key(j, (char *) key);
        ngx_voicegw_json_int(j, st.samples[t]);
    }

    /* the original gateway's shape, which its admin page reads */

    ngx_voicegw_json_key(j, "config");
    ngx_voicegw_json_map_open(j);
    ngx_voicegw_api_eta_baselines(j, &st);
    ngx_voicegw_json_key(j, "ema_alpha");
    ngx_voicegw_json_double(j, st.conf.alpha);
    ngx_voicegw_json_map_close(j);

    ngx_voicegw_json_key(j, "ema_alpha");
    ngx_voicegw_json_double(j, st.conf.alpha);

    /* the answer to a PUT: the body's fields that changed nothing */

    if (r->method == NGX_HTTP_PUT && ctx->body != NULL) {
        ngx_voicegw_json_key(j, "ignored");
        ngx_voicegw_json_array_open(j);

        for (i = 0; i < ctx->body->n; i++) {
            if (ngx_voicegw_api_eta_field(ctx->body, i, &t) == NGX_DECLINED) {
                ngx_voicegw_json_str(j, &ctx->body->keys[i]);
            }
        }

        ngx_voicegw_json_array_close(j);
    }

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


/* "eta_chat_s":15.0, ... the four baselines, in the seed's order */

static void
ngx_voicegw_api_eta_baselines(ngx_voicegw_json_t *j,
    ngx_voicegw_eta_state_t *st)
{
    ngx_uint_t  t;

    for (t = 0; t < NGX_VOICEGW_TASK_NTYPES; t++) {
        ngx_voicegw_json_str(j, &ngx_voicegw_eta_fields[t].name);
        ngx_voicegw_json_double(j, st->conf.baseline[t]);
    }
}


/*
 * Changes only the fields the body names, after checking all of them: one
 * bad value and nothing changes.  The read-only extras of GET may be sent
 * back and are ignored; any other field is an error.
 */

static ngx_int_t
ngx_voicegw_api_eta_put(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    u_char                    *p;
    double                     v;
    ngx_int_t                  rc;
    ngx_str_t                 *key, err;
    ngx_uint_t                 i, f;
    ngx_array_t               *puts;
    ngx_voicegw_setting_t     *set;
    ngx_voicegw_sql_batch_t   *b;
    ngx_voicegw_json_value_t  *body, *item;

    body = ctx->body;

    puts = ngx_array_create(r->pool, 8, sizeof(ngx_voicegw_setting_t));
    if (puts == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < body->n; i++) {
        key = &body->keys[i];
        item = body->items[i];

        rc = ngx_voicegw_api_eta_field(body, i, &f);

        if (rc == NGX_DECLINED) {
            continue;
        }

        if (rc != NGX_OK) {
            return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                           "unknown_field",
                                           "unknown field \"%V\"", key);
        }

        if (item->type != NGX_VOICEGW_JSON_NUMBER) {
            return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_field",
                                           "%V must be a number, not %s",
                                           key,
                                           ngx_voicegw_json_type_name(item));
        }

        v = item->d;

        if (ngx_voicegw_eta_check(f, v, &err) != NGX_OK) {
            return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_field", "%V %V", key,
                                           &err);
        }

        if (puts->nelts == NGX_VOICEGW_ETA_NFIELDS) {
            return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_body", "too many fields");
        }

        set = ngx_array_push(puts);
        p = ngx_pnalloc(r->pool, 32);

        if (set == NULL || p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        set->key.data = (u_char *) ngx_voicegw_eta_fields[f].setting;
        set->key.len = ngx_strlen(set->key.data);
        set->value.data = p;
        set->value.len = snprintf((char *) p, 32, "%.17g", v);
    }

    if (puts->nelts == 0) {
        return ngx_voicegw_api_eta_get(r, ctx);
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "no_store",
                                       "no voicegw_store is configured, "
                                       "changes could not be kept");
    }

    b = ngx_voicegw_api_batch(r, ctx, 1);

    if (b == NULL
        || ngx_voicegw_settings_batch(r->pool, b, "eta.", puts) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_api_eta_saved);
}


/*
 * What a field of a PUT body is.  NGX_OK: a field to set, *field says
 * which.  NGX_DECLINED: accepted, and it changes nothing (a read-only
 * field of GET sent back, a stale field of the original admin page, the
 * original's "ema_alpha" when null, as there, or when "eta_ema_alpha" is
 * in the body too).  NGX_ERROR: an unknown field.
 */

static ngx_int_t
ngx_voicegw_api_eta_field(ngx_voicegw_json_value_t *body, ngx_uint_t i,
    ngx_uint_t *field)
{
    ngx_str_t   *key;
    ngx_uint_t   f;

    key = &body->keys[i];

    for (f = 0; ngx_voicegw_eta_fields[f].name.len; f++) {
        if (key->len == ngx_voicegw_eta_fields[f].name.len
            && ngx_strncmp(key->data, ngx_voicegw_eta_fields[f].name.data,
                           key->len)
               == 0)
        {
            *field = f;
            return NGX_OK;
        }
    }

    if (ngx_voicegw_enum_value(ngx_voicegw_api_eta_aliases, key, field)
        == NGX_OK)
    {
        if (body->items[i]->type == NGX_VOICEGW_JSON_NULL
            || ngx_voicegw_json_get(body,
                       (char *) ngx_voicegw_eta_fields[*field].name.data)
               != NULL)
        {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    return ngx_voicegw_api_eta_readonly(key) ? NGX_DECLINED : NGX_ERROR;
}


/*
 * "ema_chat_s", "ema_chat_samples", ...: what GET adds, read-only; and
 * the fields accepted and ignored ("config", "eta_streaming_s")
 */

static ngx_uint_t
ngx_voicegw_api_eta_readonly(ngx_str_t *key)
{
    u_char      name[64], *p;
    ngx_uint_t  t;

    if (ngx_voicegw_enum_value(ngx_voicegw_api_eta_ignored, key, &t)
        == NGX_OK)
    {
        return 1;
    }

    for (t = 0; t < NGX_VOICEGW_TASK_NTYPES; t++) {

        p = ngx_snprintf(name, sizeof(name), "ema_%V_s",
                         &ngx_voicegw_task_types[t].name);

        if (key->len == (size_t) (p - name)
            && ngx_strncmp(key->data, name, key->len) == 0)
        {
            return 1;
        }

        p = ngx_snprintf(name, sizeof(name), "ema_%V_samples",
                         &ngx_voicegw_task_types[t].name);

        if (key->len == (size_t) (p - name)
            && ngx_strncmp(key->data, name, key->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* committed: lay exactly what the store holds now over the zone */

static ngx_int_t
ngx_voicegw_api_eta_saved(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    if (ngx_voicegw_api_settings_saved(r, ctx, "eta.") != NGX_OK) {
        return ngx_voicegw_api_store_failed(r, ctx,
                                            "the ETA configuration was not "
                                            "saved; nothing was changed");
    }

    return ngx_voicegw_api_eta_get(r, ctx);
}


/*
 * After a settings write: NGX_OK once the committed group is in the zone,
 * NGX_ERROR if the store refused it (nothing changed anywhere).
 */

static ngx_int_t
ngx_voicegw_api_settings_saved(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, const char *prefix)
{
    ngx_str_t                 p;
    ngx_array_t              *rows;
    ngx_voicegw_zone_t       *zone;
    ngx_voicegw_sql_batch_t  *b;

    if (ctx->op->rc != NGX_OK) {
        /* said by ngx_voicegw_api_store_failed() */
        ngx_voicegw_sql_free(ctx->op->data);
        return NGX_ERROR;
    }

    b = ctx->op->data;

    if (ngx_voicegw_sql_collect(r->pool, b) != NGX_OK) {
        return NGX_ERROR;
    }

    rows = ngx_voicegw_settings_committed(r->pool, b);
    if (rows == NULL) {
        return NGX_ERROR;
    }

    p.data = (u_char *) prefix;
    p.len = ngx_strlen(prefix);

    zone = ctx->vmcf->zone;

    ngx_voicegw_zone_lock(zone);
    ngx_voicegw_settings_apply_locked(zone, &p, rows, r->connection->log);
    ngx_voicegw_zone_unlock(zone);

    return NGX_OK;
}


/* the fields of PUT /api/admin/apps */

static ngx_conf_enum_t  ngx_voicegw_app_put_fields[] = {
    { ngx_string("app_id"), 0 },
    { ngx_string("enabled"), 1 },
    { ngx_null_string, 0 }
};


/* -- apps ----------------------------------------------------------------- */

static void
ngx_voicegw_api_app_json(ngx_voicegw_json_t *j, ngx_voicegw_app_t *app,
    ngx_int_t enabled)
{
    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "app_id");
    ngx_voicegw_json_str(j, &app->id);
    ngx_voicegw_json_key(j, "name");
    ngx_voicegw_json_str(j, &app->name);
    ngx_voicegw_json_key(j, "route");
    ngx_voicegw_json_str(j, &app->route);

    if (enabled >= 0) {
        ngx_voicegw_json_key(j, "enabled");
        ngx_voicegw_json_bool(j, enabled);
    }

    ngx_voicegw_json_map_close(j);
}


/* {"apps":[...]}: the enabled apps, or with "admin" all with "enabled" */

static ngx_int_t
ngx_voicegw_api_apps_list(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_uint_t admin)
{
    ngx_uint_t            i, *enabled;
    ngx_voicegw_app_t    *app;
    ngx_voicegw_json_t   *j;
    ngx_voicegw_pools_t  *vp;

    vp = ctx->vmcf->pools;
    app = vp->apps.elts;

    enabled = ngx_palloc(r->pool, (vp->apps.nelts + 1) * sizeof(ngx_uint_t));
    if (enabled == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_zone_lock(ctx->vmcf->zone);

    for (i = 0; i < vp->apps.nelts; i++) {
        enabled[i] = ngx_voicegw_app_enabled_locked(ctx->vmcf->zone, &app[i]);
    }

    ngx_voicegw_zone_unlock(ctx->vmcf->zone);

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "apps");
    ngx_voicegw_json_array_open(j);

    for (i = 0; i < vp->apps.nelts; i++) {
        if (admin) {
            ngx_voicegw_api_app_json(j, &app[i], enabled[i]);

        } else if (enabled[i]) {
            ngx_voicegw_api_app_json(j, &app[i], -1);
        }
    }

    ngx_voicegw_json_array_close(j);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


static ngx_int_t
ngx_voicegw_api_apps(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    return ngx_voicegw_api_apps_list(r, ctx, 0);
}


static ngx_int_t
ngx_voicegw_api_admin_apps(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    return ngx_voicegw_api_apps_list(r, ctx, 1);
}


/*
 * PUT /api/admin/apps {"app_id":..,"enabled":bool} and
 * PUT /api/admin/apps/{id} {"enabled":bool}: persisted, then applied.
 */

static ngx_int_t
ngx_voicegw_api_admin_app_put(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    u_char                    *key;
    ngx_str_t                  id;
    ngx_uint_t                 i, f;
    ngx_array_t               *puts;
    ngx_voicegw_app_t         *app;
    ngx_voicegw_setting_t     *set;
    ngx_voicegw_sql_batch_t   *b;
    ngx_voicegw_json_value_t  *body, *jid, *jenabled;

    body = ctx->body;
    jid = ngx_voicegw_json_get(body, "app_id");
    jenabled = ngx_voicegw_json_get(body, "enabled");

    for (i = 0; i < body->n; i++) {
        if (ngx_voicegw_enum_value(ngx_voicegw_app_put_fields, &body->keys[i],
                                   &f)
            != NGX_OK)
        {
            return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                         "unknown_field",
                                         "unknown field \"%V\"",
                                         &body->keys[i]);
        }
    }

    if (ctx->nparams) {
        id = ctx->params[0];

        if (jid != NULL
            && (jid->type != NGX_VOICEGW_JSON_STRING
                || jid->str.len != id.len
                || ngx_strncmp(jid->str.data, id.data, id.len) != 0))
        {
            return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_field",
                                         "app_id does not match the path");
        }

    } else {
        if (jid == NULL || jid->type != NGX_VOICEGW_JSON_STRING) {
            return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_field",
                                         "app_id must be a string");
        }

        id = jid->str;
    }

    if (jenabled == NULL || jenabled->type != NGX_VOICEGW_JSON_BOOL) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid_field",
                                     "enabled must be true or false");
    }

    app = ngx_voicegw_app_find(ctx->vmcf->pools, &id);

    if (app == NULL) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "Unknown app: %V", &id);
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "no_store",
                                       "no voicegw_store is configured, "
                                       "changes could not be kept");
    }

    puts = ngx_array_create(r->pool, 1, sizeof(ngx_voicegw_setting_t));
    key = ngx_pnalloc(r->pool, app->id.len + sizeof("app..enabled"));

    if (puts == NULL || key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    set = ngx_array_push(puts);
    if (set == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    set->key.data = key;
    set->key.len = ngx_sprintf(key, "app.%V.enabled", &app->id) - key;

    if (jenabled->boolean) {
        ngx_str_set(&set->value, "true");

    } else {
        ngx_str_set(&set->value, "false");
    }

    b = ngx_voicegw_api_batch(r, ctx, 1);

    if (b == NULL
        || ngx_voicegw_settings_batch(r->pool, b, "app.", puts) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = app;

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_api_app_saved);
}


static ngx_int_t
ngx_voicegw_api_app_saved(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_uint_t           enabled;
    ngx_voicegw_app_t   *app;
    ngx_voicegw_json_t  *j;

    app = ctx->data;

    if (ngx_voicegw_api_settings_saved(r, ctx, "app.") != NGX_OK) {
        return ngx_voicegw_api_store_failed(r, ctx,
                                            "the app was not saved; nothing "
                                            "was changed");
    }

    ngx_voicegw_zone_lock(ctx->vmcf->zone);
    enabled = ngx_voicegw_app_enabled_locked(ctx->vmcf->zone, app);
    ngx_voicegw_zone_unlock(ctx->vmcf->zone);

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "success");
    ngx_voicegw_json_bool(j, 1);
    ngx_voicegw_json_key(j, "app");
    ngx_voicegw_api_app_json(j, app, enabled);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


/* -- front-end configuration ---------------------------------------------- */

static ngx_int_t
ngx_voicegw_api_frontend_defaults(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_uint_t           i;
    ngx_voicegw_kv_t    *kv;
    ngx_voicegw_json_t  *j;

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    kv = ctx->vmcf->pools->frontend_defaults.elts;

    ngx_voicegw_json_map_open(j);

    for (i = 0; i < ctx->vmcf->pools->frontend_defaults.nelts; i++) {
        ngx_voicegw_json_str(j, &kv[i].key);

        switch (kv[i].type) {

        case NGX_VOICEGW_VALUE_NUMBER:
            ngx_voicegw_json_number(j, &kv[i].value);
            break;

        case NGX_VOICEGW_VALUE_BOOL:
            ngx_voicegw_json_bool(j, kv[i].value.data[0] == 't');
            break;

        default:
            ngx_voicegw_json_str(j, &kv[i].value);
        }
    }

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


/* [{"id","name","system_prompt"}], as in the seed */

static ngx_int_t
ngx_voicegw_api_presets(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_uint_t             i;
    ngx_voicegw_json_t    *j;
    ngx_voicegw_preset_t  *p;

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ctx->vmcf->pools->presets.elts;

    ngx_voicegw_json_array_open(j);

    for (i = 0; i < ctx->vmcf->pools->presets.nelts; i++) {
        ngx_voicegw_json_map_open(j);
        ngx_voicegw_json_key(j, "id");
        ngx_voicegw_json_str(j, &p[i].id);
        ngx_voicegw_json_key(j, "name");
        ngx_voicegw_json_str(j, &p[i].name);
        ngx_voicegw_json_key(j, "system_prompt");
        ngx_voicegw_json_str(j, &p[i].system_prompt);
        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_array_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}
