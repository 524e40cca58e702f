
/*
 * ngx_voicegw_shm.c
 *
 * Owns the shared-memory zone of "voicegw_zone NAME SIZE;": its creation,
 * and its reuse on "nginx -s reload".  nginx maps the zone before it forks,
 * so every worker process sees the same addresses; an update of anything
 * in it is made under the slab pool's mutex.
 *
 * On reload nginx hands the old zone's context to init_zone when the name
 * and the size are unchanged: the gateway then keeps its state (start time,
 * ETA statistics, the settings, the queues and the worker tables) instead
 * of starting over; pools are matched to the new configuration by name.  A changed size, or a zone laid out by another build of
 * the module, starts fresh or refuses the reload.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_shm.h"
#include "ngx_voicegw_store.h"

#include <openssl/rand.h>


static ngx_int_t ngx_voicegw_shm_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


char *
ngx_voicegw_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ssize_t             size;
    ngx_str_t          *value;
    ngx_voicegw_shm_t  *shm;

    if (vmcf->shm_zone != NULL) {
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

    shm = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_shm_t));
    if (shm == NULL) {
        return NGX_CONF_ERROR;
    }

    shm->mcf = vmcf;

    vmcf->shm_zone = ngx_shared_memory_add(cf, &value[1], size,
                                           &ngx_voicegw_module);
    if (vmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (vmcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &value[1]);
        return NGX_CONF_ERROR;
    }

    vmcf->shm_zone->init = ngx_voicegw_shm_init_zone;
    vmcf->shm_zone->data = shm;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_voicegw_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_voicegw_shm_t  *oshm = data;

    size_t              len;
    ngx_int_t           rc;
    ngx_slab_pool_t    *shpool;
    ngx_voicegw_shm_t  *shm;

    shm = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (oshm != NULL) {

        /* nginx -s reload, same name and size: keep the state */

        if (oshm->sh->magic != NGX_VOICEGW_SHM_MAGIC
            || oshm->sh->layout != NGX_VOICEGW_SHM_LAYOUT)
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "voicegw_zone \"%V\" was laid out by another "
                          "version of the module; restart nginx instead "
                          "of reloading it", &shm_zone->shm.name);
            return NGX_ERROR;
        }

        shm->sh = oshm->sh;
        shm->shpool = oshm->shpool;

        ngx_voicegw_shm_lock(shm);

        shm->sh->reloads++;

        ngx_voicegw_settings_init_zone(shm, shm->mcf->store
                                            ? &shm->mcf->store->settings
                                            : NULL,
                                       shm_zone->shm.log);

        rc = ngx_voicegw_queue_init_zone(shm, oshm);

        ngx_voicegw_shm_unlock(shm);

        return rc;
    }

    shm->shpool = shpool;

    if (shm_zone->shm.exists) {
        shm->sh = shpool->data;
        return NGX_OK;
    }

    shm->sh = ngx_slab_calloc(shpool, sizeof(ngx_voicegw_sh_t));
    if (shm->sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = shm->sh;

    len = sizeof(" in voicegw_zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in voicegw_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is handled (finished tickets go first) and logged by us */
    shpool->log_nomem = 0;

    shm->sh->magic = NGX_VOICEGW_SHM_MAGIC;
    shm->sh->layout = NGX_VOICEGW_SHM_LAYOUT;
    shm->sh->size = shm_zone->shm.size;
    shm->sh->start_msec = ngx_voicegw_now_msec();

    if (RAND_bytes((u_char *) &shm->sh->instance, sizeof(uint64_t)) != 1) {
        shm->sh->instance = ((uint64_t) ngx_random() << 32) ^ ngx_random()
                            ^ shm->sh->start_msec;
    }

    ngx_voicegw_settings_init_zone(shm, shm->mcf->store
                                        ? &shm->mcf->store->settings : NULL,
                                   shm_zone->shm.log);

    return ngx_voicegw_queue_init_zone(shm, NULL);
}


ngx_voicegw_shm_t *
ngx_voicegw_shm_get(ngx_voicegw_main_conf_t *vmcf)
{
    if (vmcf->shm_zone == NULL) {
        return NULL;
    }

    return vmcf->shm_zone->data;
}


uint64_t
ngx_voicegw_now_msec(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}
