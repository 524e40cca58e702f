
/*
 * ngx_voicegw_pool.h
 *
 * The worker-pool module, ngx_voicegw_pool_module: "voicegw_pool" in an
 * upstream{} block (each "server" is one inference worker) and
 * "voicegw_task" in a location (requests there run a worker task).
 */


#ifndef _NGX_VOICEGW_POOL_H_INCLUDED_
#define _NGX_VOICEGW_POOL_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_queue.h"


#define NGX_VOICEGW_MAX_WORKERS       256

#define NGX_VOICEGW_AFFINITY_NONE     0
#define NGX_VOICEGW_AFFINITY_MESSAGES 1
#define NGX_VOICEGW_AFFINITY_KEY      2


typedef struct {
    ngx_str_t                    url;         /* "http://localhost:22400" */
    ngx_str_t                    host;        /* "localhost:22400" */
    struct sockaddr             *sockaddr;
    socklen_t                    socklen;
} ngx_voicegw_worker_conf_t;


struct ngx_voicegw_pool_conf_s {
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
};


typedef struct {
    ngx_voicegw_pool_conf_t     *pool;
} ngx_voicegw_pool_srv_conf_t;


struct ngx_voicegw_task_conf_s {
    ngx_int_t                    task_type;   /* NGX_CONF_UNSET: no task */
    ngx_str_t                    pool_name;
    ngx_voicegw_pool_conf_t     *pool;
    ngx_str_t                    app;
    ngx_http_complex_value_t    *session;
    ngx_http_complex_value_t    *cache_key;
    ngx_uint_t                   affinity;

    u_char                      *file;
    ngx_uint_t                   line;
};


extern ngx_module_t  ngx_voicegw_pool_module;


#endif /* _NGX_VOICEGW_POOL_H_INCLUDED_ */
