
/*
 * ngx_voicegw_pool.c
 *
 * The skeleton of ngx_voicegw_pool_module, the worker-pool half of the
 * gateway: its two directives and the hooks nginx calls.
 *
 *   voicegw_pool [queue=1000] [queue_timeout=10m] [health_uri=/health]
 *                [health_interval=10s] [health_timeout=5s];   (upstream{})
 *   voicegw_task TYPE [pool=..] [app=..] [session=$var]
 *                [cache_key=$var|affinity=messages];           (location{})
 *
 * The work is in: ngx_voicegw_task.c (admission, parking, waking),
 * ngx_voicegw_balancer.c (the upstream peer), ngx_voicegw_queue.c (the
 * pools in the shared zone), ngx_voicegw_health.c (health checks) and
 * ngx_voicegw_doorbell.c (cross-process wake-ups).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_shm.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_task.h"
#include "ngx_voicegw_balancer.h"
#include "ngx_voicegw_health.h"


static void *ngx_voicegw_pool_create_srv_conf(ngx_conf_t *cf);
static void *ngx_voicegw_pool_create_loc_conf(ngx_conf_t *cf);
static char *ngx_voicegw_pool_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_voicegw_pool_postconfiguration(ngx_conf_t *cf);
static char *ngx_voicegw_pool_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_voicegw_pool_init_process(ngx_cycle_t *cycle);
static void ngx_voicegw_pool_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_voicegw_pool_commands[] = {

    { ngx_string("voicegw_pool"),
      NGX_HTTP_UPS_CONF|NGX_CONF_ANY,
      ngx_voicegw_pool_directive,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_task"),
      NGX_HTTP_LOC_CONF|NGX_HTTP_LIF_CONF|NGX_CONF_1MORE,
      ngx_voicegw_task_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_voicegw_pool_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_voicegw_pool_postconfiguration,    /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_voicegw_pool_create_srv_conf,      /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_voicegw_pool_create_loc_conf,      /* create location configuration */
    ngx_voicegw_pool_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_voicegw_pool_module = {
    NGX_MODULE_V1,
    &ngx_voicegw_pool_module_ctx,          /* module context */
    ngx_voicegw_pool_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_voicegw_pool_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_voicegw_pool_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_voicegw_pool_create_srv_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_pool_srv_conf_t));
}


static void *
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


static char *
ngx_voicegw_pool_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    /* like proxy_pass, voicegw_task is not inherited */

    return NGX_CONF_OK;
}


static char *
ngx_voicegw_pool_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_pool_srv_conf_t  *pscf = conf;

    ngx_int_t                      n;
    ngx_str_t                     *value, s;
    ngx_uint_t                     i;
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

        if (ngx_strncmp(value[i].data, "queue=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (n == NGX_ERROR || n > 1000000) {
                goto invalid;
            }

            pcf->queue_max = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "queue_timeout=", 14) == 0) {
            s.data = value[i].data + 14;
            s.len = value[i].len - 14;

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            pcf->queue_timeout = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "health_uri=", 11) == 0) {
            s.data = value[i].data + 11;
            s.len = value[i].len - 11;

            if (s.len == 0 || s.data[0] != '/'
                || ngx_strlchr(s.data, s.data + s.len, ' ') != NULL)
            {
                goto invalid;
            }

            pcf->health_uri = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "health_interval=", 16) == 0) {
            s.data = value[i].data + 16;
            s.len = value[i].len - 16;

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n < 100) {
                goto invalid;
            }

            pcf->health_interval = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "health_timeout=", 15) == 0) {
            s.data = value[i].data + 15;
            s.len = value[i].len - 15;

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            pcf->health_timeout = n;
            continue;
        }

        goto invalid;
    }

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_voicegw_module);

    if (vmcf->pools.nelts == NGX_VOICEGW_MAX_POOLS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many voicegw_pool upstreams (at most %d)",
                           NGX_VOICEGW_MAX_POOLS);
        return NGX_CONF_ERROR;
    }

    p = ngx_array_push(&vmcf->pools);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    *p = pcf;
    pscf->pool = pcf;

    /* each "server" is one worker: an address and nothing else */

    uscf->peer.init_upstream = ngx_voicegw_balancer_init_upstream;
    uscf->flags = NGX_HTTP_UPSTREAM_CREATE;

    return NGX_CONF_OK;

invalid:

    return ngx_voicegw_conf_invalid(cf, cmd, &value[i]);
}


static ngx_int_t
ngx_voicegw_pool_postconfiguration(ngx_conf_t *cf)
{
    ngx_voicegw_main_conf_t  *vmcf;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_voicegw_module);

    if ((vmcf->pools.nelts || vmcf->tasks.nelts) && vmcf->shm_zone == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"voicegw_pool\" and \"voicegw_task\" need a "
                      "\"voicegw_zone\" in http{}");
        return NGX_ERROR;
    }

    if (ngx_voicegw_task_resolve(cf, vmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_voicegw_task_init(cf);
}


static ngx_int_t
ngx_voicegw_pool_init_process(ngx_cycle_t *cycle)
{
    ngx_voicegw_shm_t        *shm;
    ngx_voicegw_main_conf_t  *vmcf;

    vmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_voicegw_module);

    if (vmcf == NULL || vmcf->pools.nelts == 0) {
        return NGX_OK;
    }

    shm = ngx_voicegw_shm_get(vmcf);

    if (ngx_voicegw_task_init_process(cycle, shm) != NGX_OK
        || ngx_voicegw_health_init_process(cycle, shm) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "voicegw: cannot start the worker pools in this "
                      "process");
    }

    return NGX_OK;
}


static void
ngx_voicegw_pool_exit_process(ngx_cycle_t *cycle)
{
    ngx_voicegw_main_conf_t  *vmcf;

    vmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_voicegw_module);

    if (vmcf == NULL || vmcf->pools.nelts == 0) {
        return;
    }

    ngx_voicegw_health_exit_process(ngx_voicegw_shm_get(vmcf));
    ngx_voicegw_task_exit_process(ngx_voicegw_shm_get(vmcf));
}
