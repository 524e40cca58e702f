
/*
 * ngx_voicegw_pool.h
 *
 * The worker pools: "voicegw_pool" in an upstream{} block (each "server"
 * is one inference worker), "voicegw_task" in a location (requests there
 * run a worker task), and what goes with them: the task types, the ETA
 * configuration, the apps and the front end's static configuration.
 * ngx_voicegw_pools_t is this part's own configuration, pointed at by the
 * main configuration.
 */


#ifndef _NGX_VOICEGW_POOL_H_INCLUDED_
#define _NGX_VOICEGW_POOL_H_INCLUDED_


#include "ngx_voicegw_module.h"


#define NGX_VOICEGW_MAX_POOLS         16
#define NGX_VOICEGW_MAX_WORKERS       256

#define NGX_VOICEGW_AFFINITY_NONE     0
#define NGX_VOICEGW_AFFINITY_MESSAGES 1
#define NGX_VOICEGW_AFFINITY_KEY      2


/* task types of the worker pool; the names are those of the seed's ETA */

typedef enum {
    NGX_VOICEGW_TASK_CHAT = 0,
    NGX_VOICEGW_TASK_HALF_DUPLEX,
    NGX_VOICEGW_TASK_AUDIO_DUPLEX,
    NGX_VOICEGW_TASK_OMNI_DUPLEX,
    NGX_VOICEGW_TASK_NTYPES
} ngx_voicegw_task_type_e;


typedef struct ngx_voicegw_queue_sh_s  ngx_voicegw_queue_sh_t;
typedef struct ngx_voicegw_pool_sh_s   ngx_voicegw_pool_sh_t;


typedef struct {
    double                       baseline[NGX_VOICEGW_TASK_NTYPES];
    double                       alpha;
    ngx_uint_t                   min_samples;
} ngx_voicegw_eta_conf_t;


typedef struct {
    ngx_str_t                    url;         /* "http://localhost:22400" */
    ngx_str_t                    host;        /* "localhost:22400" */
    struct sockaddr             *sockaddr;
    socklen_t                    socklen;
} ngx_voicegw_worker_conf_t;


typedef struct {
    ngx_str_t                    name;
    ngx_http_upstream_srv_conf_t *uscf;
    ngx_uint_t                   queue_max;
    ngx_msec_t                   queue_timeout;
    ngx_str_t                    health_uri;
    ngx_msec_t                   health_interval;
    ngx_msec_t                   health_timeout;
    ngx_array_t                  workers;     /* ngx_voicegw_worker_conf_t */

    /* this cycle's view of the pool in the zone */
    ngx_voicegw_pool_sh_t       *sh;

    /* this process: health checks under way, per worker */
    ngx_uint_t                  *inflight;
} ngx_voicegw_pool_conf_t;


typedef struct {
    ngx_voicegw_pool_conf_t     *pool;
} ngx_voicegw_pool_srv_conf_t;


typedef struct {
    ngx_int_t                    task_type;   /* NGX_CONF_UNSET: no task */
    ngx_str_t                    pool_name;
    ngx_voicegw_pool_conf_t     *pool;
    ngx_str_t                    app;
    ngx_http_complex_value_t    *session;
    ngx_http_complex_value_t    *cache_key;
    ngx_uint_t                   affinity;

    /* WebSocket routes: queue frames and the relay (task_ws.c) */
    ngx_uint_t                   queue_frames;
    ngx_msec_t                   queue_update;
    size_t                       queue_buffer;
    size_t                       relay_buffer;

    u_char                      *file;
    ngx_uint_t                   line;
} ngx_voicegw_task_conf_t;


struct ngx_voicegw_pools_s {
    ngx_voicegw_zone_t          *zone;

    /* this cycle's part of the zone: pools, tickets, ETA statistics */
    ngx_voicegw_queue_sh_t      *sh;

    /* voicegw_eta: the defaults that API changes are laid over */
    ngx_voicegw_eta_conf_t       eta;
    ngx_uint_t                   eta_set;

    /* pools (ngx_voicegw_pool_conf_t *) and the locations that run tasks
       on them (ngx_voicegw_task_conf_t *) */
    ngx_array_t                  pools;
    ngx_array_t                  tasks;

    /* apps, front-end defaults and presets (ngx_voicegw_apps.c) */
    ngx_array_t                  apps;
    ngx_array_t                  frontend_defaults;
    ngx_array_t                  presets;

    /* where tasks are put on the books (NULL: no voicegw_store) */
    ngx_voicegw_recorder_t      *recorder;

    /* a task with a session id starts and ends: the sessions' records
       (set by the root when "voicegw_sessions" is configured) */
    void                      *(*session_start)(void *data, ngx_str_t *id,
                                                ngx_str_t *type,
                                                ngx_str_t *worker);
    void                       (*session_end)(void *rec);
    /* a client_diagnostic message of a session, for its folder */
    void                       (*session_append)(void *data, ngx_str_t *id,
                                                 u_char *buf, size_t len);
    void                        *session_data;

    /* this process (the main configuration's) */
    ngx_voicegw_proc_t          *proc;
};


extern ngx_conf_enum_t  ngx_voicegw_task_types[];


ngx_voicegw_pools_t *ngx_voicegw_pools_create(ngx_conf_t *cf,
    ngx_voicegw_main_conf_t *vmcf);
ngx_int_t ngx_voicegw_pools_init_main_conf(ngx_conf_t *cf,
    ngx_voicegw_pools_t *vp);
ngx_int_t ngx_voicegw_pools_postconfiguration(ngx_conf_t *cf,
    ngx_voicegw_pools_t *vp);
ngx_int_t ngx_voicegw_pools_init_process(ngx_cycle_t *cycle,
    ngx_voicegw_pools_t *vp);
void ngx_voicegw_pools_exit_process(ngx_voicegw_pools_t *vp);

void *ngx_voicegw_pool_create_srv_conf(ngx_conf_t *cf);
void *ngx_voicegw_pool_create_loc_conf(ngx_conf_t *cf);
char *ngx_voicegw_pool_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
char *ngx_voicegw_pool_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_voicegw_task_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_voicegw_pool_params.c */
ngx_int_t ngx_voicegw_pool_param(ngx_voicegw_pool_conf_t *pcf,
    ngx_str_t *arg);
ngx_int_t ngx_voicegw_task_param(ngx_voicegw_task_conf_t *tcf,
    ngx_str_t *arg);


#endif /* _NGX_VOICEGW_POOL_H_INCLUDED_ */
