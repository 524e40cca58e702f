
/*
 * ngx_voicegw_settings.h
 *
 * Settings changed through the API ("eta.eta_chat_s", "app.omni.enabled",
 * ...): the table in the shared zone that every process reads, kept in
 * step with the store's "settings" table.
 */


#ifndef _NGX_VOICEGW_SETTINGS_H_INCLUDED_
#define _NGX_VOICEGW_SETTINGS_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_store.h"


#define NGX_VOICEGW_SETTINGS_SH_MAX  128
#define NGX_VOICEGW_SETTING_SH_KEY   48
#define NGX_VOICEGW_SETTING_SH_VALUE 80


typedef struct {
    u_char                       key[NGX_VOICEGW_SETTING_SH_KEY];
    u_char                       value[NGX_VOICEGW_SETTING_SH_VALUE];
} ngx_voicegw_setting_sh_t;


typedef struct {
    ngx_uint_t                   n;
    ngx_voicegw_setting_sh_t     entry[NGX_VOICEGW_SETTINGS_SH_MAX];
} ngx_voicegw_settings_sh_t;


void ngx_voicegw_settings_init_zone(ngx_voicegw_shm_t *shm,
    ngx_array_t *stored, ngx_log_t *log);
ngx_int_t ngx_voicegw_settings_get_locked(ngx_voicegw_shm_t *shm,
    const char *key, ngx_str_t *value);
ngx_int_t ngx_voicegw_settings_number_locked(ngx_voicegw_shm_t *shm,
    const char *key, double *value);
void ngx_voicegw_settings_apply_locked(ngx_voicegw_shm_t *shm,
    ngx_str_t *prefix, ngx_array_t *rows, ngx_log_t *log);
ngx_int_t ngx_voicegw_settings_op(ngx_voicegw_store_op_t *op,
    const char *prefix);
ngx_array_t *ngx_voicegw_settings_rows(ngx_pool_t *pool,
    ngx_voicegw_store_settings_t *st);


#endif /* _NGX_VOICEGW_SETTINGS_H_INCLUDED_ */
