
/*
 * ngx_voicegw_zone.c
 *
 * Owns the shared-memory zone of "voicegw_zone NAME SIZE;": its creation,
 * its reuse on "nginx -s reload", and the named parts the gateway's parts
 * keep in it.  nginx maps the zone before it forks, so every worker
 * process sees the same addresses; anything in it is read or changed
 * under the slab pool's mutex, and only for copies and slab work.
 *
 * This file knows no part: a part registers an init function while the
 * configuration is read (ngx_voicegw_zone_on_init), and init_zone calls
 * them all, with the lock held, once the zone exists.  A part finds its
 * own memory by name (ngx_voicegw_zone_part_locked), so that on reload it
 * gets back what it held.
 *
 * On reload nginx hands the old zone's context to init_zone when the name
 * and the size are unchanged: the gateway then keeps its state (start
 * time, settings, queues, worker tables, ETA statistics) instead of
 * starting over.  A changed size starts fresh; a zone laid out by another
 * build of the module refuses the reload.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_clock.h"
#include "ngx_voicegw_zone.h"

#include <openssl/rand.h>


static ngx_int_t ngx_voicegw_zone_init(ngx_shm_zone_t *shm_zone, void *data);
static ngx_int_t ngx_voicegw_zone_init_users(ngx_voicegw_zone_t *zone,
    ngx_uint_t reused);
static ngx_int_t ngx_voicegw_zone_add_user(ngx_voicegw_zone_t *zone,
    ngx_voicegw_zone_init_pt init, void *data, ngx_uint_t ready);


char *
ngx_voicegw_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ssize_t              size;
    ngx_str_t           *value;
    ngx_voicegw_zone_t  *zone;

    if (vmcf->zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&zone->users, cf->pool, 4,
                       sizeof(ngx_voicegw_zone_user_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    zone->shm_zone = ngx_shared_memory_add(cf, &value[1], size,
                                           &ngx_voicegw_module);
    if (zone->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &value[1]);
        return NGX_CONF_ERROR;
    }

    zone->shm_zone->init = ngx_voicegw_zone_init;
    zone->shm_zone->data = zone;

    vmcf->zone = zone;

    return NGX_CONF_OK;
}


/* while the configuration is read: "call init once the zone is there" */

ngx_int_t
ngx_voicegw_zone_on_init(ngx_voicegw_zone_t *zone,
    ngx_voicegw_zone_init_pt init, void *data)
{
    return ngx_voicegw_zone_add_user(zone, init, data, 0);
}


/* "... and once every part is set up, without the lock" */

ngx_int_t
ngx_voicegw_zone_on_ready(ngx_voicegw_zone_t *zone,
    ngx_voicegw_zone_init_pt init, void *data)
{
    return ngx_voicegw_zone_add_user(zone, init, data, 1);
}


static ngx_int_t
ngx_voicegw_zone_add_user(ngx_voicegw_zone_t *zone,
    ngx_voicegw_zone_init_pt init, void *data, ngx_uint_t ready)
{
    ngx_voicegw_zone_user_t  *u;

    u = ngx_array_push(&zone->users);
    if (u == NULL) {
        return NGX_ERROR;
    }

    u->init = init;
    u->data = data;
    u->ready = ready;

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_voicegw_zone_t  *ozone = data;

    size_t               len;
    ngx_slab_pool_t     *shpool;
    ngx_voicegw_zone_t  *zone;

    zone = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (ozone != NULL) {

        /* nginx -s reload, same name and size: keep the state */

        if (ozone->sh->magic != NGX_VOICEGW_ZONE_MAGIC
            || ozone->sh->layout != NGX_VOICEGW_ZONE_LAYOUT)
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "voicegw_zone \"%V\" was laid out by another "
                          "version of the module; restart nginx instead "
                          "of reloading it", &shm_zone->shm.name);
            return NGX_ERROR;
        }

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        ngx_voicegw_zone_lock(zone);

        zone->sh->reloads++;

        ngx_voicegw_zone_unlock(zone);

        return ngx_voicegw_zone_init_users(zone, 1);
    }

    zone->shpool = shpool;

    if (shm_zone->shm.exists) {
        zone->sh = shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_calloc(shpool, sizeof(ngx_voicegw_zone_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = zone->sh;

    len = sizeof(" in voicegw_zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in voicegw_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is handled (finished tickets go first) and logged by us */
    shpool->log_nomem = 0;

    zone->sh->magic = NGX_VOICEGW_ZONE_MAGIC;
    zone->sh->layout = NGX_VOICEGW_ZONE_LAYOUT;
    zone->sh->size = shm_zone->shm.size;
    zone->sh->start_msec = ngx_voicegw_now_msec();

    if (RAND_bytes((u_char *) &zone->sh->instance, sizeof(uint64_t)) != 1) {
        zone->sh->instance = ((uint64_t) ngx_random() << 32) ^ ngx_random()
                             ^ zone->sh->start_msec;
    }

    return ngx_voicegw_zone_init_users(zone, 0);
}


/* the parts under the lock, then the "ready" users without it */

static ngx_int_t
ngx_voicegw_zone_init_users(ngx_voicegw_zone_t *zone, ngx_uint_t reused)
{
    ngx_int_t                 rc;
    ngx_uint_t                i;
    ngx_voicegw_zone_user_t  *u;

    u = zone->users.elts;
    rc = NGX_OK;

    ngx_voicegw_zone_lock(zone);

    for (i = 0; i < zone->users.nelts && rc == NGX_OK; i++) {
        if (!u[i].ready) {
            rc = u[i].init(zone, u[i].data, reused);
        }
    }

    ngx_voicegw_zone_unlock(zone);

    for (i = 0; i < zone->users.nelts && rc == NGX_OK; i++) {
        if (u[i].ready) {
            rc = u[i].init(zone, u[i].data, reused);
        }
    }

    return rc;
}


/*
 * A part of the zone, by name: the one a previous configuration left, or
 * a new one, zeroed.  NULL when the zone is full.
 */

void *
ngx_voicegw_zone_part_locked(ngx_voicegw_zone_t *zone, const char *name,
    size_t size)
{
    ngx_uint_t                i;
    ngx_voicegw_zone_part_t  *part;

    part = zone->sh->parts;

    for (i = 0; i < NGX_VOICEGW_ZONE_PARTS && part[i].data; i++) {
        if (ngx_strcmp(part[i].name, name) == 0) {
            return part[i].data;
        }
    }

    if (i == NGX_VOICEGW_ZONE_PARTS) {
        return NULL;
    }

    part[i].data = ngx_slab_calloc_locked(zone->shpool, size);
    if (part[i].data == NULL) {
        return NULL;
    }

    ngx_cpystrn(part[i].name, (u_char *) name, NGX_VOICEGW_PART_NAME);

    return part[i].data;
}


/* milliseconds since the gateway started (a reload is no start) */

uint64_t
ngx_voicegw_zone_uptime(ngx_voicegw_zone_t *zone)
{
    uint64_t  start, now;

    /* written once, before any worker process exists */
    start = zone->sh->start_msec;
    now = ngx_voicegw_now_msec();

    return (now > start) ? now - start : 0;
}
