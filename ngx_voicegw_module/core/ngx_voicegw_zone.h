
/*
 * ngx_voicegw_zone.h
 *
 * The shared-memory zone ("voicegw_zone NAME SIZE;") that every nginx
 * process of the gateway maps: its root, the lock around everything in
 * it, and the named parts that the gateway's parts keep there.
 */


#ifndef _NGX_VOICEGW_ZONE_H_INCLUDED_
#define _NGX_VOICEGW_ZONE_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_settings.h"


#define NGX_VOICEGW_ZONE_MAGIC   0x76677731      /* "vgw1" */
#define NGX_VOICEGW_ZONE_LAYOUT  8               /* bump on any change of
                                                    a structure in the
                                                    zone, of any part */

#define NGX_VOICEGW_ZONE_PARTS   8
#define NGX_VOICEGW_PART_NAME    16


typedef struct {
    u_char                       name[NGX_VOICEGW_PART_NAME];
    void                        *data;
} ngx_voicegw_zone_part_t;


typedef struct {
    uint32_t                     magic;
    uint32_t                     layout;
    size_t                       size;

    /* when the gateway started; kept over "nginx -s reload" */
    uint64_t                     start_msec;
    ngx_uint_t                   reloads;

    /* random, names this gateway (its doorbells) */
    uint64_t                     instance;

    ngx_voicegw_settings_sh_t    settings;

    /* bumped by every committed write of an entity through the API:
       the processes' copies of the store's entities are then reloaded */
    ngx_atomic_t                 entities;

    ngx_voicegw_zone_part_t      parts[NGX_VOICEGW_ZONE_PARTS];
} ngx_voicegw_zone_sh_t;


/*
 * Called by init_zone, with the zone locked, once the zone is there:
 * "reused" says that it is the zone of the previous configuration
 * (nginx -s reload) and the parts keep what they held.  A user added by
 * ngx_voicegw_zone_on_ready() is called after all the others, without
 * the lock: the last moment a new configuration can still be refused
 * (a failure there keeps the old one running), and the first at which
 * all of it, "user" included, is known.
 */

typedef ngx_int_t (*ngx_voicegw_zone_init_pt)(ngx_voicegw_zone_t *zone,
    void *data, ngx_uint_t reused);


typedef struct {
    ngx_voicegw_zone_init_pt     init;
    void                        *data;
    ngx_uint_t                   ready;
} ngx_voicegw_zone_user_t;


struct ngx_voicegw_zone_s {
    ngx_shm_zone_t              *shm_zone;
    ngx_voicegw_zone_sh_t       *sh;
    ngx_slab_pool_t             *shpool;

    /* who keeps something in the zone (ngx_voicegw_zone_user_t) */
    ngx_array_t                  users;
};


char *ngx_voicegw_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_voicegw_zone_on_init(ngx_voicegw_zone_t *zone,
    ngx_voicegw_zone_init_pt init, void *data);
ngx_int_t ngx_voicegw_zone_on_ready(ngx_voicegw_zone_t *zone,
    ngx_voicegw_zone_init_pt init, void *data);
void *ngx_voicegw_zone_part_locked(ngx_voicegw_zone_t *zone,
    const char *name, size_t size);
uint64_t ngx_voicegw_zone_uptime(ngx_voicegw_zone_t *zone);


#define ngx_voicegw_zone_lock(zone)    ngx_shmtx_lock(&(zone)->shpool->mutex)
#define ngx_voicegw_zone_unlock(zone)  ngx_shmtx_unlock(&(zone)->shpool->mutex)


#endif /* _NGX_VOICEGW_ZONE_H_INCLUDED_ */
