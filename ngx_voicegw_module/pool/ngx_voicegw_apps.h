
/*
 * ngx_voicegw_apps.h
 *
 * The apps the front end offers (turnbased, half_duplex_audio, omni,
 * audio_duplex, ...), which can be switched off; and the static front-end
 * configuration: defaults and system-prompt presets.
 */


#ifndef _NGX_VOICEGW_APPS_H_INCLUDED_
#define _NGX_VOICEGW_APPS_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_pool.h"


typedef struct {
    ngx_str_t                    id;
    ngx_str_t                    name;
    ngx_str_t                    route;
    ngx_flag_t                   enabled;     /* from nginx.conf */
} ngx_voicegw_app_t;


#define NGX_VOICEGW_VALUE_STRING  0
#define NGX_VOICEGW_VALUE_NUMBER  1
#define NGX_VOICEGW_VALUE_BOOL    2

typedef struct {
    ngx_str_t                    key;
    ngx_str_t                    value;
    ngx_uint_t                   type;
} ngx_voicegw_kv_t;


typedef struct {
    ngx_str_t                    id;
    ngx_str_t                    name;
    ngx_str_t                    system_prompt;
} ngx_voicegw_preset_t;


ngx_int_t ngx_voicegw_apps_conf_init(ngx_conf_t *cf,
    ngx_voicegw_pools_t *vp);
char *ngx_voicegw_app_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_voicegw_frontend_defaults_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_voicegw_preset_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_voicegw_apps_init_main_conf(ngx_conf_t *cf,
    ngx_voicegw_pools_t *vp);

ngx_voicegw_app_t *ngx_voicegw_app_find(ngx_voicegw_pools_t *vp,
    ngx_str_t *id);
ngx_uint_t ngx_voicegw_app_enabled_locked(ngx_voicegw_zone_t *zone,
    ngx_voicegw_app_t *app);


#endif /* _NGX_VOICEGW_APPS_H_INCLUDED_ */
