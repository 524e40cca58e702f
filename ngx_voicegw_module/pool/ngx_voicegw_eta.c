
/*
 * ngx_voicegw_eta.c
 *
 * Owns the ETA configuration and statistics.
 *
 * What a process uses is computed, never stored: the baselines of its own
 * "voicegw_eta" directive, with every field that "PUT /api/config/eta" set
 * laid over them.  Those fields are settings of the "eta." group (see
 * core/ngx_voicegw_settings.c): in the shared zone for all processes at
 * once, in the store across restarts.
 *
 * Samples are durations of the monotonic clock, taken only from tasks
 * that ended normally: a task that timed out or failed says nothing about
 * how long a task takes.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_eta.h"

#include <math.h>


ngx_voicegw_eta_field_t  ngx_voicegw_eta_fields[] = {
    { ngx_string("eta_chat_s"), "eta.eta_chat_s" },
    { ngx_string("eta_half_duplex_s"), "eta.eta_half_duplex_s" },
    { ngx_string("eta_audio_duplex_s"), "eta.eta_audio_duplex_s" },
    { ngx_string("eta_omni_duplex_s"), "eta.eta_omni_duplex_s" },
    { ngx_string("eta_ema_alpha"), "eta.eta_ema_alpha" },
    { ngx_string("eta_ema_min_samples"), "eta.eta_ema_min_samples" },
    { ngx_null_string, NULL }
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


/* voicegw_eta chat=15 half_duplex=180 ... alpha=0.3 min_samples=3; */

char *
ngx_voicegw_eta_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ngx_int_t             rc;
    ngx_str_t            *value, name, err;
    ngx_uint_t            i;
    ngx_voicegw_pools_t  *vp;

    vp = vmcf->pools;

    if (vp->eta_set) {
        return "is duplicate";
    }

    vp->eta_set = 1;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        rc = ngx_voicegw_eta_param(&vp->eta, &value[i], &name, &err);

        if (rc == NGX_DECLINED) {
            return ngx_voicegw_conf_invalid(cf, cmd, &value[i]);
        }

        if (rc == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\": %V %V",
                               &value[i], &cmd->name, &name, &err);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* this process's voicegw_eta with the API's settings laid over it */

void
ngx_voicegw_eta_effective_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_eta_conf_t *out)
{
    double       v;
    ngx_str_t    err;
    ngx_uint_t   f;
    const char  *name;

    *out = vp->eta;

    for (f = 0; f < NGX_VOICEGW_ETA_NFIELDS; f++) {

        name = ngx_voicegw_eta_fields[f].setting;

        if (ngx_voicegw_settings_number_locked(vp->zone, name, &v) != NGX_OK
            || ngx_voicegw_eta_check(f, v, &err) != NGX_OK)
        {
            continue;
        }

        ngx_voicegw_eta_set(out, f, v);
    }
}


/* one observed task duration: ema = alpha * d + (1 - alpha) * ema */

void
ngx_voicegw_eta_sample_locked(ngx_voicegw_pools_t *vp, ngx_uint_t type,
    double seconds)
{
    ngx_voicegw_eta_sh_t    *eta;
    ngx_voicegw_eta_conf_t   conf;

    if (type >= NGX_VOICEGW_TASK_NTYPES || !isfinite(seconds)
        || seconds < 0)
    {
        return;
    }

    ngx_voicegw_eta_effective_locked(vp, &conf);

    eta = &vp->sh->eta;

    if (eta->samples[type] == 0) {
        eta->ema[type] = seconds;

    } else {
        eta->ema[type] = conf.alpha * seconds
                         + (1.0 - conf.alpha) * eta->ema[type];
    }

    eta->samples[type]++;
}


void
ngx_voicegw_eta_state_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_eta_state_t *st)
{
    ngx_voicegw_eta_effective_locked(vp, &st->conf);

    ngx_memcpy(st->ema, vp->sh->eta.ema, sizeof(st->ema));
    ngx_memcpy(st->samples, vp->sh->eta.samples, sizeof(st->samples));
}


/* the moving average once it has min_samples samples, else the baseline */

double
ngx_voicegw_eta_estimate(ngx_voicegw_eta_state_t *st, ngx_uint_t type)
{
    if (type >= NGX_VOICEGW_TASK_NTYPES) {
        return 30.0;
    }

    if (st->samples[type] >= st->conf.min_samples) {
        return st->ema[type];
    }

    return st->conf.baseline[type];
}


static void
ngx_voicegw_eta_heap_down(double *heap, ngx_uint_t n, ngx_uint_t i)
{
    double      t;
    ngx_uint_t  c;

    for ( ;; ) {
        c = 2 * i + 1;

        if (c >= n) {
            return;
        }

        if (c + 1 < n && heap[c + 1] < heap[c]) {
            c++;
        }

        if (heap[i] <= heap[c]) {
            return;
        }

        t = heap[i];
        heap[i] = heap[c];
        heap[c] = t;
        i = c;
    }
}


/*
 * The estimated wait of each queued ticket, in FIFO order (SPEC 3.5):
 * heap[] holds the remaining time of every busy worker; each ticket in
 * turn takes the smallest, which is its wait (rounded to 0.1 s), and puts
 * back that time plus its own estimate.  No busy worker: 0 for all.
 */

void
ngx_voicegw_eta_queue(ngx_voicegw_eta_state_t *st, double *heap,
    ngx_uint_t nbusy, ngx_uint_t *types, ngx_uint_t n, double *out)
{
    double      t;
    ngx_uint_t  i;

    if (nbusy == 0) {
        for (i = 0; i < n; i++) {
            out[i] = 0.0;
        }

        return;
    }

    for (i = nbusy / 2 + 1; i > 0; i--) {
        ngx_voicegw_eta_heap_down(heap, nbusy, i - 1);
    }

    for (i = 0; i < n; i++) {
        t = heap[0];
        out[i] = floor((t < 0 ? 0 : t) * 10.0 + 0.5) / 10.0;

        heap[0] = t + ngx_voicegw_eta_estimate(st, types[i]);
        ngx_voicegw_eta_heap_down(heap, nbusy, 0);
    }
}
