
/*
 * ngx_voicegw_api_service.c
 *
 * Handlers of the service API (seed "gateway-service-api.txt"): health and
 * the ETA configuration.  They read the shared zone under its lock and
 * write through the store; the JSON shapes are the seed's.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_eta.h"

#include <math.h>


static ngx_int_t ngx_voicegw_api_health(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_eta_get(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_eta_put(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_uint_t ngx_voicegw_api_eta_readonly(ngx_str_t *key);
static ngx_int_t ngx_voicegw_api_eta_saved(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);


ngx_voicegw_api_route_t  ngx_voicegw_api_service_routes[] = {

    { NGX_HTTP_GET, ngx_string("/health"),
      ngx_voicegw_api_health, 0 },

    { NGX_HTTP_GET, ngx_string("/api/config/eta"),
      ngx_voicegw_api_eta_get, 0 },

    { NGX_HTTP_PUT, ngx_string("/api/config/eta"),
      ngx_voicegw_api_eta_put, NGX_VOICEGW_API_BODY },

    { 0, ngx_null_string, NULL, 0 }
};


/* {"status":"ok","uptime_seconds":N,"version":"X.Y.Z"} */

static ngx_int_t
ngx_voicegw_api_health(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    uint64_t             start, now;
    ngx_voicegw_json_t  *j;

    ngx_voicegw_shm_lock(ctx->shm);
    start = ctx->shm->sh->start_msec;
    ngx_voicegw_shm_unlock(ctx->shm);

    now = ngx_voicegw_now_msec();

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "status");
    ngx_voicegw_json_cstr(j, "ok");
    ngx_voicegw_json_key(j, "uptime_seconds");
    ngx_voicegw_json_fixed(j, (now > start) ? (now - start) / 1000.0 : 0.0,
                           1);
    ngx_voicegw_json_key(j, "version");
    ngx_voicegw_json_cstr(j, NGX_VOICEGW_VERSION);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


/*
 * The seed's flat fields, then read-only extras: the live average and the
 * number of samples of each task type ("ema_chat_s", "ema_chat_samples").
 */

static ngx_int_t
ngx_voicegw_api_eta_get(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    u_char                  key[64];
    double                  ema[NGX_VOICEGW_TASK_NTYPES];
    ngx_uint_t              t, samples[NGX_VOICEGW_TASK_NTYPES];
    ngx_voicegw_json_t     *j;
    ngx_voicegw_eta_conf_t  conf;

    ngx_voicegw_shm_lock(ctx->shm);

    ngx_voicegw_eta_effective_locked(ctx->shm, &conf);

    for (t = 0; t < NGX_VOICEGW_TASK_NTYPES; t++) {
        ema[t] = ctx->shm->sh->eta.ema[t];
        samples[t] = ctx->shm->sh->eta.samples[t];
    }

    ngx_voicegw_shm_unlock(ctx->shm);

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);

    for (t = 0; t < NGX_VOICEGW_TASK_NTYPES; t++) {
        ngx_voicegw_json_str(j, &ngx_voicegw_eta_fields[t].name);
        ngx_voicegw_json_double(j, conf.baseline[t]);
    }

    ngx_voicegw_json_key(j, "eta_ema_alpha");
    ngx_voicegw_json_double(j, conf.alpha);
    ngx_voicegw_json_key(j, "eta_ema_min_samples");
    ngx_voicegw_json_int(j, conf.min_samples);

    for (t = 0; t < NGX_VOICEGW_TASK_NTYPES; t++) {
        ngx_snprintf(key, sizeof(key), "ema_%V_s%Z",
                     &ngx_voicegw_task_names[t]);
        ngx_voicegw_json_key(j, (char *) key);

        if (samples[t]) {
            ngx_voicegw_json_double(j, ema[t]);

        } else {
            ngx_voicegw_json_null(j);
        }

        ngx_snprintf(key, sizeof(key), "ema_%V_samples%Z",
                     &ngx_voicegw_task_names[t]);
        ngx_voicegw_json_key(j, (char *) key);
        ngx_voicegw_json_int(j, samples[t]);
    }

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


/*
 * Changes only the fields the body names, after checking all of them: one
 * bad value and nothing changes.  The read-only extras of GET may be sent
 * back and are ignored; any other field is an error.
 */

static ngx_int_t
ngx_voicegw_api_eta_put(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    u_char                        buf[64];
    double                        v;
    ngx_str_t                    *key, value, err;
    ngx_uint_t                    i, f;
    ngx_voicegw_json_value_t     *body, *item;
    ngx_voicegw_store_op_t       *op;
    ngx_voicegw_store_settings_t  changes;

    body = ctx->body;

    ngx_memzero(&changes, sizeof(ngx_voicegw_store_settings_t));

    for (i = 0; i < body->n; i++) {
        key = &body->keys[i];
        item = body->items[i];

        for (f = 0; ngx_voicegw_eta_fields[f].name.len; f++) {
            if (key->len == ngx_voicegw_eta_fields[f].name.len
                && ngx_strncmp(key->data, ngx_voicegw_eta_fields[f].name.data,
                               key->len)
                   == 0)
            {
                break;
            }
        }

        if (ngx_voicegw_eta_fields[f].name.len == 0) {

            if (ngx_voicegw_api_eta_readonly(key)) {
                continue;
            }

            return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                         "unknown_field",
                                         "unknown field \"%V\"", key);
        }

        if (item->type != NGX_VOICEGW_JSON_NUMBER) {
            return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_field",
                                         "%V must be a number, not %s", key,
                                         ngx_voicegw_json_type_name(item));
        }

        v = item->d;

        if (ngx_voicegw_eta_check(f, v, &err) != NGX_OK) {
            return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_field", "%V %V", key, &err);
        }

        value.data = buf;
        value.len = snprintf((char *) buf, sizeof(buf), "%.17g", v);

        if (ngx_voicegw_settings_add(&changes,
                                     &ngx_voicegw_eta_fields[f].setting,
                                     &value)
            != NGX_OK)
        {
            return ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_body", "too many fields");
        }
    }

    if (changes.nput == 0) {
        return ngx_voicegw_api_eta_get(r, ctx);
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "no_store",
                                     "no voicegw_store is configured, "
                                     "changes could not be kept");
    }

    op = ngx_voicegw_api_store_op(r, ctx,
                                  sizeof(ngx_voicegw_store_settings_t));
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(op->data, &changes, sizeof(ngx_voicegw_store_settings_t));

    ngx_cpystrn(((ngx_voicegw_store_settings_t *) op->data)->version_key,
                ngx_voicegw_eta_version_setting.data,
                ngx_voicegw_eta_version_setting.len + 1);
    ngx_cpystrn(((ngx_voicegw_store_settings_t *) op->data)->prefix,
                (u_char *) "eta.", sizeof("eta."));

    op->run = ngx_voicegw_store_put_settings;

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_api_eta_saved);
}


/* "ema_chat_s", "ema_chat_samples", ...: what GET adds, read-only */

static ngx_uint_t
ngx_voicegw_api_eta_readonly(ngx_str_t *key)
{
    u_char      name[64], *p;
    ngx_uint_t  t;

    for (t = 0; t < NGX_VOICEGW_TASK_NTYPES; t++) {

        p = ngx_snprintf(name, sizeof(name), "ema_%V_s",
                         &ngx_voicegw_task_names[t]);

        if (key->len == (size_t) (p - name)
            && ngx_strncmp(key->data, name, key->len) == 0)
        {
            return 1;
        }

        p = ngx_snprintf(name, sizeof(name), "ema_%V_samples",
                         &ngx_voicegw_task_names[t]);

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
    ngx_uint_t                     i;
    ngx_array_t                    settings;
    ngx_voicegw_setting_t         *s;
    ngx_voicegw_store_settings_t  *st;

    if (ctx->op->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "voicegw: saving the ETA configuration failed: %s",
                      ctx->op->err);

        return ngx_voicegw_api_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "store_error",
                                     "the ETA configuration could not be "
                                     "saved; nothing was changed");
    }

    st = ctx->op->data;

    if (ngx_array_init(&settings, r->pool, st->nget + 1,
                       sizeof(ngx_voicegw_setting_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < st->nget; i++) {
        s = ngx_array_push(&settings);
        s->key.data = st->get_key[i];
        s->key.len = ngx_strlen(st->get_key[i]);
        s->value.data = st->get_value[i];
        s->value.len = ngx_strlen(st->get_value[i]);
    }

    ngx_voicegw_shm_lock(ctx->shm);
    ngx_voicegw_eta_apply_settings(&ctx->shm->sh->eta, &settings,
                                   r->connection->log);
    ngx_voicegw_shm_unlock(ctx->shm);

    return ngx_voicegw_api_eta_get(r, ctx);
}
