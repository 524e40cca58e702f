
/*
 * ngx_voicegw_eta.h
 *
 * Estimated waiting times: the per-task-type baselines ("voicegw_eta"),
 * the fields that "PUT /api/config/eta" laid over them (kept in the shared
 * zone and persisted in the store), and the moving averages of observed
 * task durations.
 */


#ifndef _NGX_VOICEGW_ETA_H_INCLUDED_
#define _NGX_VOICEGW_ETA_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_pool.h"


/* the fields of GET/PUT /api/config/eta, in the seed's order */

typedef enum {
    NGX_VOICEGW_ETA_CHAT_S = 0,
    NGX_VOICEGW_ETA_HALF_DUPLEX_S,
    NGX_VOICEGW_ETA_AUDIO_DUPLEX_S,
    NGX_VOICEGW_ETA_OMNI_DUPLEX_S,
    NGX_VOICEGW_ETA_ALPHA,
    NGX_VOICEGW_ETA_MIN_SAMPLES,
    NGX_VOICEGW_ETA_NFIELDS
} ngx_voicegw_eta_field_e;


typedef struct {
    ngx_str_t                    name;        /* "eta_chat_s" */
    const char                  *setting;     /* "eta.eta_chat_s" */
} ngx_voicegw_eta_field_t;


/* observed task durations, in the shared zone */

typedef struct {
    double                       ema[NGX_VOICEGW_TASK_NTYPES];
    ngx_uint_t                   samples[NGX_VOICEGW_TASK_NTYPES];
} ngx_voicegw_eta_sh_t;


extern ngx_voicegw_eta_field_t  ngx_voicegw_eta_fields[];


void ngx_voicegw_eta_conf_init(ngx_voicegw_eta_conf_t *ec);
char *ngx_voicegw_eta_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_voicegw_pool_params.c */
ngx_int_t ngx_voicegw_eta_param(ngx_voicegw_eta_conf_t *ec, ngx_str_t *arg,
    ngx_str_t *name, ngx_str_t *err);
ngx_int_t ngx_voicegw_eta_check(ngx_uint_t field, double value,
    ngx_str_t *err);
void ngx_voicegw_eta_set(ngx_voicegw_eta_conf_t *ec, ngx_uint_t field,
    double v);

void ngx_voicegw_eta_effective_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_eta_conf_t *out);
void ngx_voicegw_eta_sample_locked(ngx_voicegw_pools_t *vp,
    ngx_uint_t type, double seconds);


/* what the queue ETA needs to know, copied out of the zone */

typedef struct {
    ngx_voicegw_eta_conf_t       conf;
    double                       ema[NGX_VOICEGW_TASK_NTYPES];
    ngx_uint_t                   samples[NGX_VOICEGW_TASK_NTYPES];
} ngx_voicegw_eta_state_t;


void ngx_voicegw_eta_state_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_eta_state_t *st);
double ngx_voicegw_eta_estimate(ngx_voicegw_eta_state_t *st,
    ngx_uint_t type);
void ngx_voicegw_eta_queue(ngx_voicegw_eta_state_t *st, double *heap,
    ngx_uint_t nbusy, ngx_uint_t *types, ngx_uint_t n, double *out);


#endif /* _NGX_VOICEGW_ETA_H_INCLUDED_ */
