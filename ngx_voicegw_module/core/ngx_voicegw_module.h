
/*
 * ngx_voicegw_module.h
 *
 * The two nginx modules of ngx_voicegw_module.so and the configuration
 * that ties the gateway's parts together.  Each part keeps its own
 * structure (defined in its own folder); the main configuration only
 * points at them, so that this header knows nothing of any part.
 *
 * Every other file reaches the gateway's state through these structures,
 * never through globals, so that "nginx -s reload" builds a fresh set
 * next to the old one.
 */


#ifndef _NGX_VOICEGW_MODULE_H_INCLUDED_
#define _NGX_VOICEGW_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_VOICEGW_VERSION  "0.1.0"


typedef struct ngx_voicegw_zone_s      ngx_voicegw_zone_t;
typedef struct ngx_voicegw_store_s     ngx_voicegw_store_t;
typedef struct ngx_voicegw_pools_s     ngx_voicegw_pools_t;
typedef struct ngx_voicegw_registry_s  ngx_voicegw_registry_t;
typedef struct ngx_voicegw_api_main_s  ngx_voicegw_api_main_t;
typedef struct ngx_voicegw_recorder_s  ngx_voicegw_recorder_t;
typedef struct ngx_voicegw_budget_s    ngx_voicegw_budget_t;
typedef struct ngx_voicegw_catalog_s   ngx_voicegw_catalog_t;
typedef struct ngx_voicegw_ref_audio_s ngx_voicegw_ref_audio_t;
typedef struct ngx_voicegw_sessions_s  ngx_voicegw_sessions_t;


/*
 * The state of one nginx worker process: set up, empty, by
 * ngx_voicegw_proc_init() before any part starts, so that every exit
 * path may look at all of it.
 */

typedef struct {
    ngx_uint_t                   ready;

    /* the gateway's own outgoing requests under way (core/fetch) */
    ngx_queue_t                  fetches;

    /* the worker pools (pool/): the doorbell, parked requests, the
       backstop and health timers, releases after close, rechecks */
    ngx_connection_t            *doorbell;
    ngx_queue_t                  parked;
    ngx_uint_t                   nparked;
    ngx_rbtree_t                 parked_tree;     /* by ticket id */
    ngx_rbtree_node_t            parked_sentinel;
    ngx_uint_t                   backstops;       /* ticks, for full looks */
    ngx_event_t                  backstop;
    ngx_event_t                  health;
    void                        *releases;
    ngx_event_t                  release_ev;
    ngx_queue_t                  rechecks;

    /* the flusher of request records (accounting/) */
    void                        *flusher;
    /* this process's copy of the store's entities (registry/) */
    void                        *entities;
    /* the last answer of GET /api/queue, reused for 100 ms (api/) */
    void                        *queue_answer;
} ngx_voicegw_proc_t;


typedef struct {
    ngx_voicegw_zone_t          *zone;       /* voicegw_zone */
    ngx_voicegw_store_t         *store;      /* voicegw_store */
    ngx_voicegw_pools_t         *pools;      /* worker pools, apps, ETA */
    ngx_voicegw_registry_t      *registry;   /* providers, models, ... */
    ngx_voicegw_api_main_t      *api;        /* voicegw_api locations */
    ngx_voicegw_recorder_t      *recorder;   /* request records */
    ngx_voicegw_budget_t        *budget;     /* daily budgets (proxy/) */
    ngx_voicegw_catalog_t       *catalog;    /* voicegw_price_catalog */
    ngx_voicegw_ref_audio_t     *ref_audio;  /* voicegw_ref_audio */
    ngx_voicegw_sessions_t      *sessions;   /* voicegw_sessions */

    ngx_voicegw_proc_t           proc;
} ngx_voicegw_main_conf_t;


extern ngx_module_t  ngx_voicegw_module;
extern ngx_module_t  ngx_voicegw_pool_module;


#endif /* _NGX_VOICEGW_MODULE_H_INCLUDED_ */
