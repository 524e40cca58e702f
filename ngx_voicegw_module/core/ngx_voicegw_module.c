
/*
 * ngx_voicegw_module.c
 *
 * The root of the module: the tables of its two nginx modules and the
 * order in which the gateway's parts are set up and torn down.  This is
 * the only file that knows every part; no part calls into it.
 *
 *   core/      the zone, directive helpers, JSON, answers, URLs, clocks,
 *              settings, the small HTTP client
 *   store/     SQLite, off the event loop
 *   pool/      the worker pools (ngx_voicegw_pool_module's directives)
 *   registry/  providers, models, stacks, projects, keys, tokens, tests
 *   accounting/  request records: the buffer, the flusher, the rollups
 *   proxy/     the provider proxy ("voicegw_proxy", ngx_voicegw_proxy_module)
 *   realtime/  provider WebSocket sessions of the proxy, on the books
 *   frontend/  what the original pages fetch besides the API's state: the
 *              default reference audio ("voicegw_ref_audio")
 *   sessions/  session recordings ("voicegw_sessions"): records, files,
 *              uploads, downloads, retention
 *   api/       the JSON API ("voicegw_api")
 *
 * Dependencies point one way: core <- store <- registry <- api,
 * core <- pool <- api, store <- accounting <- pool, api,
 * registry, accounting <- proxy, proxy, ws <- realtime,
 * proxy <- frontend <- api, and
 * store <- sessions <- api (docs/design.md).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_heap.h"
#include "ngx_voicegw_fetch.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_store_settings.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_eta.h"
#include "ngx_voicegw_apps.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_secret.h"
#include "ngx_voicegw_auth.h"
#include "ngx_voicegw_probe.h"
#include "ngx_voicegw_catalog.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_recorder.h"
#include "ngx_voicegw_flusher.h"
#include "ngx_voicegw_entity_cache.h"
#include "ngx_voicegw_proxy.h"
#include "ngx_voicegw_jsonmem.h"
#include "ngx_voicegw_rt.h"
#include "ngx_voicegw_ref_audio.h"
#include "ngx_voicegw_sessions.h"
#include "ngx_voicegw_session_record.h"
#include "ngx_voicegw_session_retention.h"


static void *ngx_voicegw_create_main_conf(ngx_conf_t *cf);
static char *ngx_voicegw_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_voicegw_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_voicegw_proxy_module_init(ngx_conf_t *cf);
static ngx_int_t ngx_voicegw_init_process(ngx_cycle_t *cycle);
static void ngx_voicegw_exit_process(ngx_cycle_t *cycle);
static void ngx_voicegw_proc_init(ngx_voicegw_proc_t *proc);


static ngx_command_t  ngx_voicegw_commands[] = {

    { ngx_string("voicegw_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_voicegw_zone_directive,
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

    { ngx_string("voicegw_price_catalog"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_voicegw_catalog_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_ref_audio"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_voicegw_ref_audio_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_sessions"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_voicegw_sessions_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_session_viewer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_voicegw_session_viewer_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_session_files"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_voicegw_session_files_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
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
      ngx_voicegw_api_auth_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_provider_test_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_voicegw_probe_timeout_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_voicegw_registry_t, probe_timeout),
      NULL },

    { ngx_string("voicegw_provider_destinations"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_voicegw_provider_destinations,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_provider_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_voicegw_probe_trusted_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE12,
      ngx_voicegw_api_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("voicegw_api_body_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_voicegw_api_loc_conf_t, body_limit),
      NULL },

    { ngx_string("voicegw_error"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_voicegw_error_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
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

    ngx_voicegw_api_create_loc_conf,       /* create location configuration */
    ngx_voicegw_api_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_voicegw_module = {
    NGX_MODULE_V1,
    &ngx_voicegw_module_ctx,               /* module context */
    ngx_voicegw_commands,                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_voicegw_init_process,              /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_voicegw_exit_process,              /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * The worker pools' module: "voicegw_pool" has a configuration per
 * upstream{} block, "voicegw_task" one per location.  Everything else of
 * the pools is set up by ngx_voicegw_module, in the order below.
 */

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
    NULL,                                  /* postconfiguration */

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
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * The provider proxy's module: "voicegw_proxy" has a configuration per
 * location, and filters of its own that measure the answers.
 */

static ngx_command_t  ngx_voicegw_proxy_commands[] = {

    { ngx_string("voicegw_proxy"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE123,
      ngx_voicegw_proxy_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_voicegw_proxy_module_ctx = {
    ngx_voicegw_proxy_add_variables,       /* preconfiguration */
    ngx_voicegw_proxy_module_init,         /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_voicegw_proxy_create_loc_conf,     /* create location configuration */
    ngx_voicegw_proxy_merge_loc_conf       /* merge location configuration:
                                              a location's own */
};


ngx_module_t  ngx_voicegw_proxy_module = {
    NGX_MODULE_V1,
    &ngx_voicegw_proxy_module_ctx,         /* module context */
    ngx_voicegw_proxy_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* -- configuration -------------------------------------------------------- */

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
     *     vmcf->zone = NULL;
     *     vmcf->store = NULL;
     */

    vmcf->pools = ngx_voicegw_pools_create(cf, vmcf);
    vmcf->registry = ngx_voicegw_registry_create(cf);
    vmcf->api = ngx_voicegw_api_create_main(cf);

    if (vmcf->pools == NULL || vmcf->registry == NULL || vmcf->api == NULL) {
        return NULL;
    }

    return vmcf;
}


static char *
ngx_voicegw_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    vmcf->pools->zone = vmcf->zone;

    if (vmcf->zone != NULL && vmcf->store != NULL) {
        vmcf->recorder = ngx_voicegw_recorder_create(cf, vmcf->zone,
                                                     vmcf->store);
        if (vmcf->recorder == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    vmcf->pools->recorder = vmcf->recorder;

    if (vmcf->sessions != NULL) {
        vmcf->sessions->store = vmcf->store;
        vmcf->pools->session_start = ngx_voicegw_session_start;
        vmcf->pools->session_end = ngx_voicegw_session_end;
        vmcf->pools->session_append = ngx_voicegw_session_append;
        vmcf->pools->session_data = vmcf->sessions;
    }

    if (ngx_voicegw_api_init_main_conf(cf, vmcf->api, vmcf->zone) != NGX_OK
        || ngx_voicegw_pools_init_main_conf(cf, vmcf->pools) != NGX_OK
        || ngx_voicegw_registry_init_main_conf(cf, vmcf->registry,
                                               vmcf->api->locations.nelts)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the provider proxy's filters, then those of its realtime sessions */

static ngx_int_t
ngx_voicegw_proxy_module_init(ngx_conf_t *cf)
{
    if (ngx_voicegw_proxy_postconfiguration(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_voicegw_rt_init(cf);
}


/*
 * After the whole http{} block, upstream balancers set up: the pools
 * resolve their tasks, the API lifts nginx's body limit in its locations,
 * the store hands its settings to the zone and checks that the worker
 * processes can use it.
 */

static ngx_int_t
ngx_voicegw_postconfiguration(ngx_conf_t *cf)
{
    ngx_voicegw_main_conf_t  *vmcf;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_voicegw_module);

    if (vmcf->zone != NULL) {
        ngx_voicegw_heap_conf(cf);
    }

    if (vmcf->zone != NULL && vmcf->store != NULL
        && ngx_voicegw_zone_on_init(vmcf->zone,
                                    ngx_voicegw_store_settings_init_zone,
                                    vmcf->store)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_voicegw_pools_postconfiguration(cf, vmcf->pools) != NGX_OK
        || ngx_voicegw_api_postconfiguration(cf, vmcf->api) != NGX_OK
        || ngx_voicegw_api_upload_init(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (vmcf->sessions != NULL) {
        if (ngx_voicegw_session_retention_conf(cf, vmcf->sessions,
                                               vmcf->zone)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (vmcf->zone == NULL) {
            if (ngx_voicegw_sessions_check(vmcf->sessions) != NGX_OK) {
                return NGX_ERROR;
            }

        } else if (ngx_voicegw_zone_on_ready(vmcf->zone,
                                             ngx_voicegw_sessions_check_zone,
                                             vmcf->sessions)
                   != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (vmcf->store == NULL) {
        return NGX_OK;
    }

    if (vmcf->zone == NULL) {
        return ngx_voicegw_store_check(vmcf->store);
    }

    if (ngx_voicegw_zone_on_init(vmcf->zone, ngx_voicegw_store_init_zone,
                                 vmcf->store)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_voicegw_zone_on_ready(vmcf->zone, ngx_voicegw_store_check_zone,
                                     vmcf->store);
}


/* -- processes ------------------------------------------------------------ */

/*
 * A worker process starts: its state is set up, empty, before anything
 * can fail, then the store, then the pools.  A part that cannot start
 * says so; the others go on.
 */

static ngx_int_t
ngx_voicegw_init_process(ngx_cycle_t *cycle)
{
    ngx_voicegw_main_conf_t  *vmcf;

    vmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_voicegw_module);

    if (vmcf == NULL) {
        return NGX_OK;
    }

    ngx_voicegw_proc_init(&vmcf->proc);

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        /* cache managers and loaders serve no requests */
        return NGX_OK;
    }

    if (vmcf->store != NULL
        && ngx_voicegw_store_init_process(cycle, vmcf->store) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "voicegw_store: cannot start the store in this process");
    }

    if (vmcf->zone != NULL
        && ngx_voicegw_pools_init_process(cycle, vmcf->pools) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "voicegw: cannot start the worker pools in this "
                      "process");
    }

    vmcf->proc.entities = ngx_voicegw_entity_cache_create(cycle, vmcf);

    if (vmcf->proc.entities == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "voicegw: cannot keep the entities in this process: "
                      "no provider proxy");
    }

    if (vmcf->sessions != NULL
        && ngx_voicegw_session_retention_init_process(cycle, vmcf->sessions)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "voicegw_sessions: cannot start the retention in this "
                      "process");
    }

    if (vmcf->recorder != NULL
        && ngx_voicegw_flusher_init_process(cycle, vmcf->recorder,
                                            &vmcf->proc)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "voicegw: cannot start committing request records in "
                      "this process");
    }

    return NGX_OK;
}


/* the reverse order; every part copes with what init_process left */

static void
ngx_voicegw_exit_process(ngx_cycle_t *cycle)
{
    ngx_voicegw_main_conf_t  *vmcf;

    /* the blocks yajl's parsers left for the next parse */

    ngx_voicegw_jsonmem_release();

    vmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_voicegw_module);

    if (vmcf == NULL || !vmcf->proc.ready) {
        return;
    }

    ngx_voicegw_api_exit_process(&vmcf->proc);

    if (vmcf->sessions != NULL) {
        ngx_voicegw_session_retention_exit_process(vmcf->sessions);
    }

    if (vmcf->zone != NULL) {
        ngx_voicegw_pools_exit_process(vmcf->pools);
    }

    /* before the store closes: what is left in the buffer goes in now */

    ngx_voicegw_flusher_exit_process(&vmcf->proc);

    ngx_voicegw_fetch_abort_all(&vmcf->proc.fetches);

    if (vmcf->store != NULL) {
        ngx_voicegw_store_exit_process(vmcf->store);
    }
}


static void
ngx_voicegw_proc_init(ngx_voicegw_proc_t *proc)
{
    ngx_memzero(proc, sizeof(ngx_voicegw_proc_t));

    ngx_queue_init(&proc->fetches);
    ngx_queue_init(&proc->parked);
    ngx_rbtree_init(&proc->parked_tree, &proc->parked_sentinel,
                    ngx_rbtree_insert_value);
    ngx_queue_init(&proc->rechecks);

    proc->ready = 1;
}
