
/*
 * ngx_voicegw_pool_params.c
 *
 * Owns the values of the pools' directives, one "name=value" parameter
 * at a time: voicegw_pool's (queue, queue_timeout, health_uri,
 * health_interval, health_timeout), voicegw_task's (queue_frames,
 * queue_update, queue_buffer, relay_buffer, pool, app,
 * affinity=messages) and voicegw_eta's (a baseline per task type, alpha,
 * min_samples), with the rule an ETA value obeys wherever it comes from.
 * A parameter is taken into the configuration or refused; the
 * directives (ngx_voicegw_pool.c, ngx_voicegw_eta.c) say what was
 * refused.  No ngx_conf_t here, so that this builds outside nginx
 * (fuzz/).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_eta.h"

#include <math.h>


#define NGX_VOICEGW_ETA_MAX_SECONDS  1000000.0


static ngx_conf_enum_t  ngx_voicegw_task_on_off[] = {
    { ngx_string("off"), 0 },
    { ngx_string("on"), 1 },
    { ngx_null_string, 0 }
};


/* the names of voicegw_eta's parameters */

static ngx_conf_enum_t  ngx_voicegw_eta_params[] = {
    { ngx_string("chat"), NGX_VOICEGW_ETA_CHAT_S },
    { ngx_string("half_duplex"), NGX_VOICEGW_ETA_HALF_DUPLEX_S },
    { ngx_string("audio_duplex"), NGX_VOICEGW_ETA_AUDIO_DUPLEX_S },
    { ngx_string("omni_duplex"), NGX_VOICEGW_ETA_OMNI_DUPLEX_S },
    { ngx_string("alpha"), NGX_VOICEGW_ETA_ALPHA },
    { ngx_string("min_samples"), NGX_VOICEGW_ETA_MIN_SAMPLES },
    { ngx_null_string, 0 }
};


static ngx_int_t ngx_voicegw_param_msec(ngx_str_t *arg, const char *name,
    ngx_int_t min, ngx_msec_t *ms);
static ngx_int_t ngx_voicegw_param_size(ngx_str_t *arg, const char *name,
    ssize_t min, size_t *size);


/* voicegw_pool's: NGX_OK, or NGX_ERROR (not one, or an invalid value) */

ngx_int_t
ngx_voicegw_pool_param(ngx_voicegw_pool_conf_t *pcf, ngx_str_t *arg)
{
    ngx_int_t  n, rc;
    ngx_str_t  s;

    if (ngx_voicegw_conf_param(arg, "queue", &s) == NGX_OK) {
        n = ngx_atoi(s.data, s.len);
        if (n == NGX_ERROR || n > 1000000) {
            return NGX_ERROR;
        }

        pcf->queue_max = n;
        return NGX_OK;
    }

    if (ngx_voicegw_conf_param(arg, "health_uri", &s) == NGX_OK) {
        if (s.len == 0 || s.data[0] != '/'
            || ngx_strlchr(s.data, s.data + s.len, ' ') != NULL)
        {
            return NGX_ERROR;
        }

        pcf->health_uri = s;
        return NGX_OK;
    }

    rc = ngx_voicegw_param_msec(arg, "queue_timeout", 1, &pcf->queue_timeout);

    if (rc == NGX_DECLINED) {
        rc = ngx_voicegw_param_msec(arg, "health_interval", 100,
                                    &pcf->health_interval);
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_voicegw_param_msec(arg, "health_timeout", 1,
                                    &pcf->health_timeout);
    }

    return (rc == NGX_OK) ? NGX_OK : NGX_ERROR;
}


/*
 * voicegw_task's, but for its type, session= and cache_key= (variables,
 * compiled by the directive): NGX_OK, NGX_ERROR for an invalid value,
 * NGX_DECLINED when it is none of these.
 */

ngx_int_t
ngx_voicegw_task_param(ngx_voicegw_task_conf_t *tcf, ngx_str_t *arg)
{
    ngx_int_t   rc;
    ngx_str_t   v;
    ngx_uint_t  t;

    if (ngx_voicegw_conf_param(arg, "queue_frames", &v) == NGX_OK) {
        if (ngx_voicegw_enum_value(ngx_voicegw_task_on_off, &v, &t)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        tcf->queue_frames = t;
        return NGX_OK;
    }

    rc = ngx_voicegw_param_msec(arg, "queue_update", 100, &tcf->queue_update);

    if (rc == NGX_DECLINED) {
        rc = ngx_voicegw_param_size(arg, "queue_buffer", 4096,
                                    &tcf->queue_buffer);
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_voicegw_param_size(arg, "relay_buffer", 1024,
                                    &tcf->relay_buffer);
    }

    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ngx_voicegw_conf_param(arg, "pool", &v) == NGX_OK && v.len) {
        tcf->pool_name = v;
        return NGX_OK;
    }

    if (ngx_voicegw_conf_param(arg, "app", &v) == NGX_OK && v.len) {
        tcf->app = v;
        return NGX_OK;
    }

    if (ngx_voicegw_conf_param(arg, "affinity", &v) == NGX_OK
        && v.len == sizeof("messages") - 1
        && ngx_strncmp(v.data, "messages", v.len) == 0
        && tcf->affinity == NGX_VOICEGW_AFFINITY_NONE)
    {
        tcf->affinity = NGX_VOICEGW_AFFINITY_MESSAGES;
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* "name=time" of "min" ms or more: NGX_OK, NGX_ERROR; another name */

static ngx_int_t
ngx_voicegw_param_msec(ngx_str_t *arg, const char *name, ngx_int_t min,
    ngx_msec_t *ms)
{
    ngx_int_t  n;
    ngx_str_t  v;

    if (ngx_voicegw_conf_param(arg, name, &v) != NGX_OK) {
        return NGX_DECLINED;
    }

    n = ngx_parse_time(&v, 0);

    if (n == NGX_ERROR || n < min) {
        return NGX_ERROR;
    }

    *ms = (ngx_msec_t) n;

    return NGX_OK;
}


/* "name=size" of "min" bytes or more: NGX_OK, NGX_ERROR; another name */

static ngx_int_t
ngx_voicegw_param_size(ngx_str_t *arg, const char *name, ssize_t min,
    size_t *size)
{
    ssize_t    n;
    ngx_str_t  v;

    if (ngx_voicegw_conf_param(arg, name, &v) != NGX_OK) {
        return NGX_DECLINED;
    }

    n = ngx_parse_size(&v);

    if (n == NGX_ERROR || n < min) {
        return NGX_ERROR;
    }

    *size = (size_t) n;

    return NGX_OK;
}


/*
 * voicegw_eta's "name=number": NGX_OK; NGX_DECLINED, not one; NGX_ERROR,
 * an invalid number, with *name the parameter and *err what is wrong
 */

ngx_int_t
ngx_voicegw_eta_param(ngx_voicegw_eta_conf_t *ec, ngx_str_t *arg,
    ngx_str_t *name, ngx_str_t *err)
{
    double       v;
    u_char      *eq;
    ngx_str_t    num;
    ngx_uint_t   field;

    eq = ngx_strlchr(arg->data, arg->data + arg->len, '=');

    if (eq == NULL) {
        return NGX_DECLINED;
    }

    name->data = arg->data;
    name->len = eq - arg->data;
    num.data = eq + 1;
    num.len = arg->data + arg->len - num.data;

    if (ngx_voicegw_enum_value(ngx_voicegw_eta_params, name, &field)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (ngx_voicegw_parse_number(num.data, num.len, &v) != NGX_OK) {
        ngx_str_set(err, "is not a number");
        return NGX_ERROR;
    }

    if (ngx_voicegw_eta_check(field, v, err) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_voicegw_eta_set(ec, field, v);

    return NGX_OK;
}


/* a value that passed ngx_voicegw_eta_check(), into its field */

void
ngx_voicegw_eta_set(ngx_voicegw_eta_conf_t *ec, ngx_uint_t field, double v)
{
    if (field == NGX_VOICEGW_ETA_ALPHA) {
        ec->alpha = v;

    } else if (field == NGX_VOICEGW_ETA_MIN_SAMPLES) {
        ec->min_samples = (ngx_uint_t) v;

    } else {
        ec->baseline[field] = v;
    }
}


/* the rule every source of a value obeys: directive, API and store */

ngx_int_t
ngx_voicegw_eta_check(ngx_uint_t field, double value, ngx_str_t *err)
{
    switch (field) {

    case NGX_VOICEGW_ETA_ALPHA:
        if (value > 0.0 && value <= 1.0) {
            return NGX_OK;
        }

        ngx_str_set(err, "must be a number in (0, 1]");
        return NGX_ERROR;

    case NGX_VOICEGW_ETA_MIN_SAMPLES:
        if (value >= 1.0 && value <= NGX_VOICEGW_ETA_MAX_SECONDS
            && value == floor(value))
        {
            return NGX_OK;
        }

        ngx_str_set(err, "must be an integer of at least 1");
        return NGX_ERROR;

    default:
        if (value > 0.0 && value <= NGX_VOICEGW_ETA_MAX_SECONDS) {
            return NGX_OK;
        }

        ngx_str_set(err, "must be a positive number of seconds "
                         "(at most 1000000)");
        return NGX_ERROR;
    }
}
