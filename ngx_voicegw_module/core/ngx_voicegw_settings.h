
/*
 * ngx_voicegw_settings.h
 *
 * Settings changed through the API ("eta.eta_chat_s", "app.omni.enabled",
 * ...): the table in the shared zone that every process reads, laid over
 * its own configuration.  The store keeps the same rows across restarts
 * (store/ngx_voicegw_store_settings.c); this table knows nothing of it.
 */


#ifndef _NGX_VOICEGW_SETTINGS_H_INCLUDED_
#define _NGX_VOICEGW_SETTINGS_H_INCLUDED_


#include "ngx_voicegw_module.h"


#define NGX_VOICEGW_SETTINGS_SH_MAX  128
#define NGX_VOICEGW_SETTING_SH_KEY   48
#define NGX_VOICEGW_SETTING_SH_VALUE 80


/* a setting as the store holds it */

typedef struct {
    ngx_str_t                    key;
    ngx_str_t                    value;
} ngx_voicegw_setting_t;


typedef struct {
    u_char                       key[NGX_VOICEGW_SETTING_SH_KEY];
    u_char                       value[NGX_VOICEGW_SETTING_SH_VALUE];
} ngx_voicegw_setting_sh_t;


typedef struct {
    ngx_uint_t                   n;
    ngx_voicegw_setting_sh_t     entry[NGX_VOICEGW_SETTINGS_SH_MAX];

    /* bumped by every change: what depends on settings may cache */
    ngx_uint_t                   version;
} ngx_voicegw_settings_sh_t;


void ngx_voicegw_settings_load_locked(ngx_voicegw_zone_t *zone,
    ngx_array_t *stored, ngx_log_t *log);
void ngx_voicegw_settings_apply_locked(ngx_voicegw_zone_t *zone,
    ngx_str_t *prefix, ngx_array_t *rows, ngx_log_t *log);
ngx_int_t ngx_voicegw_settings_get_locked(ngx_voicegw_zone_t *zone,
    const char *key, ngx_str_t *value);
ngx_int_t ngx_voicegw_settings_number_locked(ngx_voicegw_zone_t *zone,
    const char *key, double *value);
ngx_uint_t ngx_voicegw_settings_version(ngx_voicegw_zone_t *zone);


#endif /* _NGX_VOICEGW_SETTINGS_H_INCLUDED_ */
