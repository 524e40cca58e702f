
/*
 * ngx_voicegw_eta.c
 *
 * Owns the ETA configuration and statistics.
 *
 * What a process uses is computed, never stored: the baselines of its own
 * "voicegw_eta" directive, with every field that "PUT /api/config/eta" set
 * laid over them.  Those fields live in the shared zone (so that all
 * processes agree at once) and in the store's settings (so that they
 * survive a restart), each write stamped with a version so that an older
 * write finishing late never undoes a newer one.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_shm.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_eta.h"

#include <math.h>


#define NGX_VOICEGW_ETA_MAX_SECONDS  1000000.0


ngx_voicegw_eta_field_t  ngx_voicegw_eta_fields[] = {
    { ngx_string("eta_chat_s"), ngx_string("eta.eta_chat_s") },
    { ngx_string("eta_half_duplex_s"), ngx_string("eta.eta_half_duplex_s") },
    { ngx_string("eta_audio_duplex_s"),
      ngx_string("eta.eta_audio_duplex_s") },
    { ngx_string("eta_omni_duplex_s"), ngx_string("eta.eta_omni_duplex_s") },
    { ngx_string("eta_ema_alpha"), ngx_string("eta.eta_ema_alpha") },
    { ngx_string("eta_ema_min_samples"),
      ngx_string("eta.eta_ema_min_samples") },
    { ngx_null_string, ngx_null_string }
};


ngx_str_t  ngx_voicegw_eta_version_setting = ngx_string("eta.version");


ngx_str_t  ngx_voicegw_task_names[] = {
    ngx_string("chat"),
    ngx_string("half_duplex"),
    ngx_string("audio_duplex"),
    ngx_string("omni_duplex"),
    ngx_null_string
};


void
ngx_voicegw_eta_conf_init(ngx_voicegw_eta_conf_t *ec)
{
    /* the original gateway's defaults */

    ec->baseline[NGX_VOICEGW_TASK_CHAT] = 15.0;
    ec->baseline[NGX_VOICEGW_TASK_HALF_DUPLEX] = 180.0;
    ec->baseline[NGX_VOICEGW_TASK_AUDIO_DUPLEX] = 120.0;
    ec->baseline[NGX_VOICEGW_TASK_OMNI_DUPLEX] = 90.0;
    ec->alpha = 0.3;
    ec->min_samples = 3;
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


/* voicegw_eta chat=15 half_duplex=180 ... alpha=0.3 min_samples=3; */

char *
ngx_voicegw_eta_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    double       v;
    u_char      *eq;
    ngx_str_t   *value, name, num, err;
    ngx_uint_t   i, t, field;

    if (vmcf->eta_set) {
        return "is duplicate";
    }

    vmcf->eta_set = 1;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

        if (eq == NULL) {
            goto invalid;
        }

        name.data = value[i].data;
        name.len = eq - value[i].data;
        num.data = eq + 1;
        num.len = value[i].data + value[i].len - num.data;

        if (name.len == 5 && ngx_strncmp(name.data, "alpha", 5) == 0) {
            field = NGX_VOICEGW_ETA_ALPHA;

        } else if (name.len == 11
                   && ngx_strncmp(name.data, "min_samples", 11) == 0)
        {
            field = NGX_VOICEGW_ETA_MIN_SAMPLES;

        } else {
            for (t = 0; ngx_voicegw_task_names[t].len; t++) {
                if (name.len == ngx_voicegw_task_names[t].len
                    && ngx_strncmp(name.data, ngx_voicegw_task_names[t].data,
                                   name.len)
                       == 0)
                {
                    break;
                }
            }

            if (ngx_voicegw_task_names[t].len == 0) {
                goto invalid;
            }

            field = t;
        }

        if (ngx_voicegw_parse_number(num.data, num.len, &v) != NGX_OK) {
            ngx_str_set(&err, "is not a number");
            goto bad;
        }

        if (ngx_voicegw_eta_check(field, v, &err) != NGX_OK) {
            goto bad;
        }

        if (field == NGX_VOICEGW_ETA_ALPHA) {
            vmcf->eta.alpha = v;

        } else if (field == NGX_VOICEGW_ETA_MIN_SAMPLES) {
            vmcf->eta.min_samples = (ngx_uint_t) v;

        } else {
            vmcf->eta.baseline[field] = v;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"%V\"",
                       &value[i], &cmd->name);

    return NGX_CONF_ERROR;

bad:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\": %V %V",
                       &value[i], &cmd->name, &name, &err);

    return NGX_CONF_ERROR;
}


/*
 * Called with the zone fresh (oshm == NULL) or reused on reload.  The
 * settings the master just read from the store win only when they are
 * newer than what the running processes have applied.
 */

void
ngx_voicegw_eta_init_zone(ngx_voicegw_shm_t *shm, ngx_voicegw_shm_t *oshm)
{
    ngx_voicegw_store_t  *store;

    store = shm->mcf->store;

    if (store == NULL) {
        return;
    }

    ngx_voicegw_eta_apply_settings(&shm->sh->eta, &store->settings, NULL);
}


/*
 * Lays the "eta.*" settings over the zone's overrides when their version
 * is newer than the zone's; a value that fails the rules is skipped.
 */

void
ngx_voicegw_eta_apply_settings(ngx_voicegw_eta_sh_t *eta,
    ngx_array_t *settings, ngx_log_t *log)
{
    double                  v, value[NGX_VOICEGW_ETA_NFIELDS];
    uint64_t                version;
    ngx_str_t               err;
    ngx_uint_t              i, f, mask;
    ngx_voicegw_setting_t  *s;

    s = settings->elts;
    version = 0;
    mask = 0;

    for (i = 0; i < settings->nelts; i++) {

        if (s[i].key.len == ngx_voicegw_eta_version_setting.len
            && ngx_strncmp(s[i].key.data, ngx_voicegw_eta_version_setting.data,
                           s[i].key.len)
               == 0)
        {
            if (ngx_voicegw_parse_number(s[i].value.data, s[i].value.len, &v)
                == NGX_OK && v >= 0)
            {
                version = (uint64_t) v;
            }

            continue;
        }

        for (f = 0; ngx_voicegw_eta_fields[f].name.len; f++) {
            if (s[i].key.len == ngx_voicegw_eta_fields[f].setting.len
                && ngx_strncmp(s[i].key.data,
                               ngx_voicegw_eta_fields[f].setting.data,
                               s[i].key.len)
                   == 0)
            {
                break;
            }
        }

        if (ngx_voicegw_eta_fields[f].name.len == 0) {
            continue;
        }

        if (ngx_voicegw_parse_number(s[i].value.data, s[i].value.len, &v)
            != NGX_OK
            || ngx_voicegw_eta_check(f, v, &err) != NGX_OK)
        {
            if (log) {
                ngx_log_error(NGX_LOG_WARN, log, 0,
                              "voicegw: ignoring stored %V \"%V\"",
                              &s[i].key, &s[i].value);
            }

            continue;
        }

        mask |= (ngx_uint_t) 1 << f;
        value[f] = v;
    }

    if (version <= eta->version) {
        return;
    }

    eta->mask = mask;
    eta->version = version;

    for (f = 0; f < NGX_VOICEGW_ETA_NFIELDS; f++) {
        if (mask & ((ngx_uint_t) 1 << f)) {
            eta->value[f] = value[f];
        }
    }
}


void
ngx_voicegw_eta_effective_locked(ngx_voicegw_shm_t *shm,
    ngx_voicegw_eta_conf_t *out)
{
    ngx_uint_t             f;
    ngx_voicegw_eta_sh_t  *eta;

    *out = shm->mcf->eta;
    eta = &shm->sh->eta;

    for (f = 0; f < NGX_VOICEGW_ETA_NFIELDS; f++) {

        if (!(eta->mask & ((ngx_uint_t) 1 << f))) {
            continue;
        }

        if (f == NGX_VOICEGW_ETA_ALPHA) {
            out->alpha = eta->value[f];

        } else if (f == NGX_VOICEGW_ETA_MIN_SAMPLES) {
            out->min_samples = (ngx_uint_t) eta->value[f];

        } else {
            out->baseline[f] = eta->value[f];
        }
    }
}


/* one observed task duration: ema = alpha * d + (1 - alpha) * ema */

void
ngx_voicegw_eta_sample_locked(ngx_voicegw_shm_t *shm, ngx_uint_t type,
    double seconds)
{
    ngx_voicegw_eta_sh_t    *eta;
    ngx_voicegw_eta_conf_t   conf;

    if (type >= NGX_VOICEGW_TASK_NTYPES || !isfinite(seconds)
        || seconds < 0)
    {
        return;
    }

    ngx_voicegw_eta_effective_locked(shm, &conf);

    eta = &shm->sh->eta;

    if (eta->samples[type] == 0) {
        eta->ema[type] = seconds;

    } else {
        eta->ema[type] = conf.alpha * seconds
                         + (1.0 - conf.alpha) * eta->ema[type];
    }

    eta->samples[type]++;
}
