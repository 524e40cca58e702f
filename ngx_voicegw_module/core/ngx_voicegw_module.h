
/*
 * ngx_voicegw_module.h
 *
 * The module's configuration: the http{}-level main configuration that
 * ties the shared zone, the SQLite store and the ETA defaults together, and
 * the per-location configuration.  Every other file reaches the module's
 * state through these structures, never through globals, so that a
 * "nginx -s reload" builds a fresh set next to the old one.
 */


#ifndef _NGX_VOICEGW_MODULE_H_INCLUDED_
#define _NGX_VOICEGW_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_VOICEGW_VERSION  "0.1.0"


#define NGX_VOICEGW_MAX_POOLS  16


typedef struct ngx_voicegw_store_s      ngx_voicegw_store_t;
typedef struct ngx_voicegw_shm_s        ngx_voicegw_shm_t;
typedef struct ngx_voicegw_pool_conf_s  ngx_voicegw_pool_conf_t;
typedef struct ngx_voicegw_task_conf_s  ngx_voicegw_task_conf_t;


/* task types of the worker pool; the names are those of the seed's ETA */

typedef enum {
    NGX_VOICEGW_TASK_CHAT = 0,
    NGX_VOICEGW_TASK_HALF_DUPLEX,
    NGX_VOICEGW_TASK_AUDIO_DUPLEX,
    NGX_VOICEGW_TASK_OMNI_DUPLEX,
    NGX_VOICEGW_TASK_NTYPES
} ngx_voicegw_task_type_e;


typedef struct {
    double                       baseline[NGX_VOICEGW_TASK_NTYPES];
    double                       alpha;
    ngx_uint_t                   min_samples;
} ngx_voicegw_eta_conf_t;


typedef struct {
    ngx_shm_zone_t              *shm_zone;
    ngx_voicegw_store_t         *store;

    /* voicegw_eta: the defaults that API changes are laid over */
    ngx_voicegw_eta_conf_t       eta;
    ngx_uint_t                   eta_set;

    /* core location configurations of "voicegw_api" locations */
    ngx_array_t                  api_locations;

    /* worker pools (ngx_voicegw_pool_conf_t *) and the locations that
       run tasks on them (ngx_voicegw_task_conf_t *) */
    ngx_array_t                  pools;
    ngx_array_t                  tasks;

    /* apps, front-end defaults and presets (ngx_voicegw_apps.c) */
    ngx_array_t                  apps;
    ngx_array_t                  frontend_defaults;
    ngx_array_t                  presets;

    /* VoiceGateway entities of nginx.conf (ngx_voicegw_entities.c) */
    ngx_array_t                  providers;
    ngx_array_t                  models;
    ngx_array_t                  stacks;
    ngx_array_t                  projects;

    /* the key of provider keys (ngx_voicegw_secret.c) */
    u_char                      *secret;

    /* bearer tokens (ngx_voicegw_auth.c) */
    ngx_array_t                  api_keys;
    ngx_flag_t                   api_auth_all;

    /* provider tests (ngx_voicegw_probe.c) */
    ngx_msec_t                   probe_timeout;
    ngx_str_t                    probe_trusted;
    ngx_ssl_t                   *probe_ssl;
} ngx_voicegw_main_conf_t;


typedef struct {
    ngx_flag_t                   api;
    size_t                       api_body_limit;
} ngx_voicegw_loc_conf_t;


extern ngx_module_t  ngx_voicegw_module;


ngx_int_t ngx_voicegw_conf_param(ngx_str_t *arg, const char *name,
    ngx_str_t *value);
char *ngx_voicegw_conf_invalid(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *arg);


#endif /* _NGX_VOICEGW_MODULE_H_INCLUDED_ */
