
/*
 * ngx_voicegw_shm.h
 *
 * The shared-memory zone ("voicegw_zone NAME SIZE;") that every nginx
 * process of the gateway maps: its root structure and the lock around it.
 */


#ifndef _NGX_VOICEGW_SHM_H_INCLUDED_
#define _NGX_VOICEGW_SHM_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_eta.h"
#include "ngx_voicegw_settings.h"
#include "ngx_voicegw_queue.h"


#define NGX_VOICEGW_SHM_MAGIC   0x76677731      /* "vgw1" */
#define NGX_VOICEGW_SHM_LAYOUT  2               /* bump on any change below */


typedef struct {
    uint32_t                     magic;
    uint32_t                     layout;
    size_t                       size;

    /* when the gateway started; kept over "nginx -s reload" */
    uint64_t                     start_msec;
    ngx_uint_t                   reloads;

    /* random, names this gateway's doorbells */
    uint64_t                     instance;

    /* the process doing health checks and sweeps, until when */
    ngx_pid_t                    health_pid;
    uint64_t                     health_until;

    ngx_voicegw_eta_sh_t         eta;
    ngx_voicegw_settings_sh_t    settings;
    ngx_voicegw_queue_sh_t       queue;
} ngx_voicegw_sh_t;


struct ngx_voicegw_shm_s {
    ngx_voicegw_sh_t            *sh;
    ngx_slab_pool_t             *shpool;
    ngx_voicegw_main_conf_t     *mcf;

    /* this process */
    ngx_connection_t            *doorbell;
    ngx_queue_t                  parked;
    ngx_uint_t                   nparked;
    ngx_event_t                  backstop;
    ngx_event_t                  health;

    /* releases waiting for their upstream connection to close */
    void                        *releases;
    ngx_event_t                  release_ev;

    /* health checks under way and planned */
    ngx_queue_t                  fetches;
    ngx_queue_t                  rechecks;

    /* the last answer of GET /api/queue, reused for 100 ms */
    void                        *queue_answer;
};


char *ngx_voicegw_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_voicegw_shm_t *ngx_voicegw_shm_get(ngx_voicegw_main_conf_t *mcf);
uint64_t ngx_voicegw_now_msec(void);


#define ngx_voicegw_shm_lock(shm)    ngx_shmtx_lock(&(shm)->shpool->mutex)
#define ngx_voicegw_shm_unlock(shm)  ngx_shmtx_unlock(&(shm)->shpool->mutex)


#endif /* _NGX_VOICEGW_SHM_H_INCLUDED_ */
