
/*
 * ngx_voicegw_module.c
 *
 * The module's skeleton: its directives, its configuration structures and
 * the hooks nginx calls (postconfiguration, process start and exit).  The
 * work itself is done in the files each directive points to:
 *
 *   ngx_voicegw_shm.c     voicegw_zone          the shared state
 *   ngx_voicegw_store.c   voicegw_store         SQLite, off the event loop
 *   ngx_voicegw_eta.c     voicegw_eta           ETA baselines and averages
 *   ngx_voicegw_api.c     voicegw_api           the JSON API router
 *   ngx_voicegw_apps.c    voicegw_app, voicegw_frontend_defaults,
 *                         voicegw_preset
 *
 * The worker pools ("voicegw_pool", "voicegw_task") are a second nginx
 * module in the same .so: ngx_voicegw_pool.c.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_shm.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_eta.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_apps.h"
#include "ngx_voicegw_entities.h"
#include "ngx_voicegw_secret.h"
#include "ngx_voicegw_auth.h"
#include "ngx_voicegw_fetch.h"
#include "ngx_voicegw_probe.h"


static char *ngx_voicegw_api_auth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_voicegw_create_main_conf(ngx_conf_t *cf);
static char *ngx_voicegw_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_voicegw_create_loc_conf(ngx_conf_t *cf);
static char *ngx_voicegw_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_voicegw_postconfiguration(ngx_conf_t *cf);
static char *ngx_voicegw_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_voicegw_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_voicegw_init_process(ngx_cycle_t *cycle);
static void ngx_voicegw_exit_process(ngx_cycle_t *cycle);


typedef struct {
    ngx_http_core_loc_conf_t    *clcf;
    ngx_str_t                    file;
    ngx_uint_t                   line;
} ngx_voicegw_api_location_t;


static ngx_command_t  ngx_voicegw_commands[] = {

    { ngx_string("voicegw_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_voicegw_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_store"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_voicegw_store_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_eta"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_voicegw_eta_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_app"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_voicegw_app_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_frontend_defaults"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_voicegw_frontend_defaults_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_preset"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_voicegw_preset_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_provider"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_voicegw_provider_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_model"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_voicegw_model_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_stack"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_voicegw_stack_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_project"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_voicegw_project_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_voicegw_secret_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_api_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_voicegw_api_key_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_api_auth"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_voicegw_api_auth,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_provider_test_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_voicegw_main_conf_t, probe_timeout),
      NULL },

    { ngx_string("voicegw_provider_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_voicegw_probe_trusted_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_voicegw_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_api_body_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_voicegw_loc_conf_t, api_body_limit),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_voicegw_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_voicegw_postconfiguration,         /* postconfiguration */

    ngx_voicegw_create_main_conf,          /* create main configuration */
    ngx_voicegw_init_main_conf,            /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_voicegw_create_loc_conf,           /* create location configuration */
    ngx_voicegw_merge_loc_conf             /* merge location configuration */
};


ngx_module_t  ngx_voicegw_module = {
    NGX_MODULE_V1,
    &ngx_voicegw_module_ctx,               /* module context */
    ngx_voicegw_commands,                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_voicegw_init_module,               /* init module */
    ngx_voicegw_init_process,              /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_voicegw_exit_process,              /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_voicegw_create_main_conf(ngx_conf_t *cf)
{
    ngx_voicegw_main_conf_t  *vmcf;

    vmcf = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_main_conf_t));
    if (vmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     vmcf->shm_zone = NULL;
     *     vmcf->store = NULL;
     *     vmcf->eta_set = 0;
     */

    ngx_voicegw_eta_conf_init(&vmcf->eta);

    if (ngx_array_init(&vmcf->api_locations, cf->pool, 4,
                       sizeof(ngx_voicegw_api_location_t))
        != NGX_OK
        || ngx_array_init(&vmcf->pools, cf->pool, 4,
                          sizeof(ngx_voicegw_pool_conf_t *))
           != NGX_OK
        || ngx_array_init(&vmcf->tasks, cf->pool, 8,
                          sizeof(ngx_voicegw_task_conf_t *))
           != NGX_OK
        || ngx_array_init(&vmcf->api_keys, cf->pool, 2,
                          sizeof(ngx_voicegw_api_key_t))
           != NGX_OK
        || ngx_voicegw_apps_conf_init(cf, vmcf) != NGX_OK
        || ngx_voicegw_entities_conf_init(cf, vmcf) != NGX_OK)
    {
        return NULL;
    }

    vmcf->api_auth_all = NGX_CONF_UNSET;
    vmcf->probe_timeout = NGX_CONF_UNSET_MSEC;

    return vmcf;
}


static char *
ngx_voicegw_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ngx_voicegw_api_location_t  *loc;

    if (vmcf->api_locations.nelts && vmcf->shm_zone == NULL) {
        loc = vmcf->api_locations.elts;

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"voicegw_api\" needs a \"voicegw_zone\" in http{} "
                      "in %V:%ui", &loc->file, loc->line);
        return NGX_CONF_ERROR;
    }

    if (ngx_voicegw_apps_init_main_conf(cf, vmcf) != NGX_OK
        || ngx_voicegw_entities_check(cf, vmcf) != NGX_OK
        || ngx_voicegw_probe_init_main_conf(cf, vmcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (vmcf->api_auth_all == NGX_CONF_UNSET) {
        vmcf->api_auth_all = 0;
    }

    return NGX_CONF_OK;
}


static void *
ngx_voicegw_create_loc_conf(ngx_conf_t *cf)
{
    ngx_voicegw_loc_conf_t  *vlcf;

    vlcf = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_loc_conf_t));
    if (vlcf == NULL) {
        return NULL;
    }

    vlcf->api = NGX_CONF_UNSET;
    vlcf->api_body_limit = NGX_CONF_UNSET_SIZE;

    return vlcf;
}


static char *
ngx_voicegw_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_voicegw_loc_conf_t  *prev = parent;
    ngx_voicegw_loc_conf_t  *conf = child;

    /* like a content handler, "voicegw_api" is not inherited */

    if (conf->api == NGX_CONF_UNSET) {
        conf->api = 0;
    }

    ngx_conf_merge_size_value(conf->api_body_limit, prev->api_body_limit,
                              1024 * 1024);

    return NGX_CONF_OK;
}


static char *
ngx_voicegw_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_loc_conf_t  *vlcf = conf;

    ngx_voicegw_main_conf_t     *vmcf;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_voicegw_api_location_t  *loc;

    if (vlcf->api != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    vlcf->api = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_voicegw_api_handler;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_voicegw_module);

    loc = ngx_array_push(&vmcf->api_locations);
    if (loc == NULL) {
        return NGX_CONF_ERROR;
    }

    loc->clcf = clcf;
    loc->file = cf->conf_file->file.name;
    loc->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* voicegw_api_auth writes|all; */

static char *
ngx_voicegw_api_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ngx_str_t  *value;

    if (vmcf->api_auth_all != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 6 && ngx_strncmp(value[1].data, "writes", 6) == 0) {
        vmcf->api_auth_all = 0;

    } else if (value[1].len == 3
               && ngx_strncmp(value[1].data, "all", 3) == 0)
    {
        vmcf->api_auth_all = 1;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\": use writes or "
                           "all", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_voicegw_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                   i;
    ngx_voicegw_main_conf_t     *vmcf;
    ngx_voicegw_api_location_t  *loc;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_voicegw_module);

    /*
     * The API answers an oversized body itself, in JSON, by
     * voicegw_api_body_limit: nginx's own check would come first and
     * answer with an HTML page.
     */

    loc = vmcf->api_locations.elts;

    for (i = 0; i < vmcf->api_locations.nelts; i++) {
        loc[i].clcf->client_max_body_size = 0;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_init_module(ngx_cycle_t *cycle)
{
    ngx_voicegw_main_conf_t  *vmcf;

    vmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_voicegw_module);

    if (vmcf == NULL || vmcf->store == NULL) {
        return NGX_OK;
    }

    return ngx_voicegw_store_init_module(cycle, vmcf->store);
}


static ngx_int_t
ngx_voicegw_init_process(ngx_cycle_t *cycle)
{
    ngx_voicegw_main_conf_t  *vmcf;

    vmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_voicegw_module);

    if (vmcf == NULL) {
        return NGX_OK;
    }

    if (vmcf->shm_zone != NULL) {
        /* the gateway's own outgoing requests under way in this process */
        ngx_queue_init(&ngx_voicegw_shm_get(vmcf)->fetches);
    }

    if (vmcf->store != NULL
        && ngx_voicegw_store_init_process(cycle, vmcf->store) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "voicegw_store: cannot start the store in this process");
    }

    return NGX_OK;
}


static void
ngx_voicegw_exit_process(ngx_cycle_t *cycle)
{
    ngx_voicegw_main_conf_t  *vmcf;

    vmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_voicegw_module);

    if (vmcf == NULL) {
        return;
    }

    if (vmcf->shm_zone != NULL) {
        ngx_voicegw_api_exit_process(ngx_voicegw_shm_get(vmcf));
        ngx_voicegw_fetch_abort_all(&ngx_voicegw_shm_get(vmcf)->fetches);
    }

    if (vmcf->store != NULL) {
        ngx_voicegw_store_exit_process(vmcf->store);
    }
}


/* "name=value": NGX_OK with the value when arg starts with "name=" */

ngx_int_t
ngx_voicegw_conf_param(ngx_str_t *arg, const char *name, ngx_str_t *value)
{
    size_t  len;

    len = ngx_strlen(name);

    if (arg->len <= len || arg->data[len] != '='
        || ngx_strncmp(arg->data, name, len) != 0)
    {
        return NGX_DECLINED;
    }

    value->data = arg->data + len + 1;
    value->len = arg->len - len - 1;

    return NGX_OK;
}


/* the error of a directive's parameter that is none of those it takes */

char *
ngx_voicegw_conf_invalid(ngx_conf_t *cf, ngx_command_t *cmd, ngx_str_t *arg)
{
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"%V\"",
                       arg, &cmd->name);

    return NGX_CONF_ERROR;
}
