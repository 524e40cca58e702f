
/*
 * ngx_voicegw_pool.c
 *
 * Owns the configuration of the worker pools and their life in a worker
 * process:
 *
 *   voicegw_pool [queue=1000] [queue_timeout=10m] [health_uri=/health]
 *                [health_interval=10s] [health_timeout=5s];   (upstream{})
 *   voicegw_task TYPE [pool=..] [app=..] [session=$var]
 *                [cache_key=$var|affinity=messages]
 *                [queue_frames=on|off] [queue_update=3s]
 *                [queue_buffer=4m] [relay_buffer=64k];         (location{})
 *
 * The work is in: ngx_voicegw_admission.c (admission), _park.c (waiting
 * and waking), _release.c (giving workers back), _balancer.c (the
 * upstream peer), _queue.c (the pools in the shared zone), _health.c
 * (health checks) and _doorbell.c (cross-process wake-ups); the
 * directives' parameters are read by _pool_params.c.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_eta.h"
#include "ngx_voicegw_apps.h"
#include "ngx_voicegw_balancer.h"
#include "ngx_voicegw_admission.h"
#include "ngx_voicegw_task_books.h"
#include "ngx_voicegw_park.h"
#include "ngx_voicegw_release.h"
#include "ngx_voicegw_health.h"


static ngx_int_t ngx_voicegw_pools_resolve(ngx_conf_t *cf,
    ngx_voicegw_pools_t *vp);


/* the task types, in the order of ngx_voicegw_task_type_e */

ngx_conf_enum_t  ngx_voicegw_task_types[] = {
    { ngx_string("chat"), NGX_VOICEGW_TASK_CHAT },
    { ngx_string("half_duplex"), NGX_VOICEGW_TASK_HALF_DUPLEX },
    { ngx_string("audio_duplex"), NGX_VOICEGW_TASK_AUDIO_DUPLEX },
    { ngx_string("omni_duplex"), NGX_VOICEGW_TASK_OMNI_DUPLEX },
    { ngx_null_string, 0 }
};


ngx_voicegw_pools_t *
ngx_voicegw_pools_create(ngx_conf_t *cf, ngx_voicegw_main_conf_t *vmcf)
{
    ngx_voicegw_pools_t  *vp;

    vp = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_pools_t));
    if (vp == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     vp->zone = NULL;
     *     vp->sh = NULL;
     *     vp->eta_set = 0;
     */

    vp->proc = &vmcf->proc;

    ngx_voicegw_eta_conf_init(&vp->eta);

    if (ngx_array_init(&vp->pools, cf->pool, 4,
                       sizeof(ngx_voicegw_pool_conf_t *))
        != NGX_OK
        || ngx_array_init(&vp->tasks, cf->pool, 8,
                          sizeof(ngx_voicegw_task_conf_t *))
           != NGX_OK
        || ngx_voicegw_apps_conf_init(cf, vp) != NGX_OK)
    {
        return NULL;
    }

    return vp;
}


ngx_int_t
ngx_voicegw_pools_init_main_conf(ngx_conf_t *cf, ngx_voicegw_pools_t *vp)
{
    return ngx_voicegw_apps_init_main_conf(cf, vp);
}


/*
 * After all upstream{} blocks are read (and their balancers set up):
 * every task gets its pool, the admission handler and the variables are
 * in place, and the pools get their part of the zone.
 */

ngx_int_t
ngx_voicegw_pools_postconfiguration(ngx_conf_t *cf, ngx_voicegw_pools_t *vp)
{
    if (vp->zone == NULL) {

        if (vp->pools.nelts || vp->tasks.nelts) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"voicegw_pool\" and \"voicegw_task\" need a "
                          "\"voicegw_zone\" in http{}");
            return NGX_ERROR;
        }

        return ngx_voicegw_admission_init(cf);
    }

    /* the zone keeps the ETA statistics, pools or not */

    if (ngx_voicegw_pools_resolve(cf, vp) != NGX_OK
        || ngx_voicegw_admission_init(cf) != NGX_OK
        || ngx_voicegw_task_books_init(cf) != NGX_OK
        || ngx_voicegw_zone_on_init(vp->zone, ngx_voicegw_queue_init_zone,
                                    vp)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_pools_resolve(ngx_conf_t *cf, ngx_voicegw_pools_t *vp)
{
    ngx_uint_t                 i, j;
    ngx_voicegw_pool_conf_t  **pools;
    ngx_voicegw_task_conf_t  **tasks, *tcf;

    pools = vp->pools.elts;
    tasks = vp->tasks.elts;

    for (i = 0; i < vp->tasks.nelts; i++) {
        tcf = tasks[i];

        if (tcf->pool_name.len == 0) {
            if (vp->pools.nelts != 1) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "\"voicegw_task\" needs pool=: there %s %ui "
                              "voicegw_pool upstreams in %s:%ui",
                              vp->pools.nelts == 1 ? "is" : "are",
                              vp->pools.nelts, tcf->file, tcf->line);
                return NGX_ERROR;
            }

            tcf->pool = pools[0];

        } else {
            for (j = 0; j < vp->pools.nelts; j++) {
                if (pools[j]->name.len == tcf->pool_name.len
                    && ngx_strncmp(pools[j]->name.data, tcf->pool_name.data,
                                   tcf->pool_name.len) == 0)
                {
                    tcf->pool = pools[j];
                    break;
                }
            }

            if (tcf->pool == NULL) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "\"voicegw_task\": no upstream \"%V\" with "
                              "voicegw_pool in %s:%ui",
                              &tcf->pool_name, tcf->file, tcf->line);
                return NGX_ERROR;
            }
        }

        if (tcf->app.len && ngx_voicegw_app_find(vp, &tcf->app) == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"voicegw_task\": unknown app \"%V\" in %s:%ui",
                          &tcf->app, tcf->file, tcf->line);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A worker process starts: it joins the pools' processes, then its
 * releases, doorbell, backstop and health timer are set up.  The process
 * state they use was set up empty before, so that the exit is safe
 * whatever failed here.
 */

ngx_int_t
ngx_voicegw_pools_init_process(ngx_cycle_t *cycle, ngx_voicegw_pools_t *vp)
{
    if (vp->pools.nelts == 0 || vp->sh == NULL) {
        return NGX_OK;
    }

    ngx_voicegw_zone_lock(vp->zone);
    ngx_voicegw_queue_join_locked(vp);
    ngx_voicegw_zone_unlock(vp->zone);

    if (ngx_voicegw_release_init_process(cycle, vp) != NGX_OK
        || ngx_voicegw_park_init_process(cycle, vp) != NGX_OK
        || ngx_voicegw_health_init_process(cycle, vp) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_voicegw_pools_exit_process(ngx_voicegw_pools_t *vp)
{
    if (vp->pools.nelts == 0 || vp->sh == NULL) {
        return;
    }

    ngx_voicegw_release_exit_process(vp);
    ngx_voicegw_health_exit_process(vp);
    ngx_voicegw_park_exit_process(vp);
}


/* -- configuration -------------------------------------------------------- */

void *
ngx_voicegw_pool_create_srv_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_pool_srv_conf_t));
}


void *
ngx_voicegw_pool_create_loc_conf(ngx_conf_t *cf)
{
    ngx_voicegw_task_conf_t  *tcf;

    tcf = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_task_conf_t));
    if (tcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     tcf->pool = NULL;
     *     tcf->session = NULL;
     *     tcf->cache_key = NULL;
     *     tcf->affinity = NGX_VOICEGW_AFFINITY_NONE;
     */

    tcf->task_type = NGX_CONF_UNSET;

    return tcf;
}


char *
ngx_voicegw_pool_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    /* like proxy_pass, voicegw_task is not inherited */

    return NGX_CONF_OK;
}


/* voicegw_pool [queue=..] [queue_timeout=..] [health_*=..]; */

char *
ngx_voicegw_pool_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_pool_srv_conf_t  *pscf = conf;

    ngx_str_t                     *value;
    ngx_uint_t                     i;
    ngx_voicegw_pools_t           *vp;
    ngx_voicegw_pool_conf_t       *pcf, **p;
    ngx_voicegw_main_conf_t       *vmcf;
    ngx_http_upstream_srv_conf_t  *uscf;

    if (pscf->pool != NULL) {
        return "is duplicate";
    }

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    if (uscf->peer.init_upstream) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "load balancing method redefined");
    }

    pcf = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_pool_conf_t));
    if (pcf == NULL) {
        return NGX_CONF_ERROR;
    }

    pcf->name = uscf->host;
    pcf->uscf = uscf;
    pcf->queue_max = 1000;
    pcf->queue_timeout = 10 * 60 * 1000;
    ngx_str_set(&pcf->health_uri, "/health");
    pcf->health_interval = 10000;
    pcf->health_timeout = 5000;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_voicegw_pool_param(pcf, &value[i]) != NGX_OK) {
            return ngx_voicegw_conf_invalid(cf, cmd, &value[i]);
        }
    }

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_voicegw_module);
    vp = vmcf->pools;

    if (vp->pools.nelts == NGX_VOICEGW_MAX_POOLS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many voicegw_pool upstreams (at most %d)",
                           NGX_VOICEGW_MAX_POOLS);
        return NGX_CONF_ERROR;
    }

    p = ngx_array_push(&vp->pools);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    *p = pcf;
    pscf->pool = pcf;

    /* each "server" is one worker: an address and nothing else */

    uscf->peer.init_upstream = ngx_voicegw_balancer_init_upstream;
    uscf->flags = NGX_HTTP_UPSTREAM_CREATE;

    return NGX_CONF_OK;
}


/*
 * voicegw_task TYPE [pool=UPSTREAM] [app=APP_ID] [session=$var]
 *              [cache_key=$var|affinity=messages] [queue_frames=on|off]
 *              [queue_update=TIME] [queue_buffer=SIZE] [relay_buffer=SIZE];
 *
 * queue_frames=on (the shipped configuration's /ws/half_duplex and
 * /ws/duplex routes): the gateway answers a WebSocket handshake itself and
 * tells the client of its queue in frames (pool/ngx_voicegw_task_ws.c);
 * off (the default) parks the handshake before its 101, as HTTP.
 */

char *
ngx_voicegw_task_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_task_conf_t  *tcf = conf;

    ngx_int_t                           rc;
    ngx_str_t                          *value, v;
    ngx_uint_t                          i, t;
    ngx_voicegw_main_conf_t            *vmcf;
    ngx_voicegw_task_conf_t           **p;
    ngx_http_complex_value_t          **cvp;
    ngx_http_compile_complex_value_t    ccv;

    if (tcf->task_type != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_voicegw_enum_value(ngx_voicegw_task_types, &value[1], &t)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid task type \"%V\" in \"%V\": use chat, "
                           "half_duplex, audio_duplex or omni_duplex",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    tcf->task_type = t;
    tcf->queue_frames = 0;
    tcf->queue_update = 3000;
    tcf->queue_buffer = 4 * 1024 * 1024;
    tcf->relay_buffer = 64 * 1024;

    for (i = 2; i < cf->args->nelts; i++) {

        rc = ngx_voicegw_task_param(tcf, &value[i]);

        if (rc == NGX_OK) {
            continue;
        }

        if (rc == NGX_ERROR) {
            return ngx_voicegw_conf_invalid(cf, cmd, &value[i]);
        }

        if (ngx_voicegw_conf_param(&value[i], "session", &v) == NGX_OK
            && v.len)
        {
            cvp = &tcf->session;

        } else if (ngx_voicegw_conf_param(&value[i], "cache_key", &v)
                   == NGX_OK
                   && v.len
                   && tcf->affinity == NGX_VOICEGW_AFFINITY_NONE)
        {
            cvp = &tcf->cache_key;
            tcf->affinity = NGX_VOICEGW_AFFINITY_KEY;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\"%s",
                               &value[i], &cmd->name,
                               tcf->affinity ? " (one of cache_key= and "
                                               "affinity=messages)" : "");
            return NGX_CONF_ERROR;
        }

        *cvp = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (*cvp == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
        ccv.cf = cf;
        ccv.value = &v;
        ccv.complex_value = *cvp;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    tcf->file = cf->conf_file->file.name.data;
    tcf->line = cf->conf_file->line;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_voicegw_module);

    p = ngx_array_push(&vmcf->pools->tasks);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    *p = tcf;

    return NGX_CONF_OK;
}
