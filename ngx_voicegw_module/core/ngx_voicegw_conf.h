
/*
 * ngx_voicegw_conf.h
 *
 * Helpers that every directive of the gateway uses: "name=value"
 * parameters, the error of a parameter nobody takes, plain decimal
 * numbers, enumerations as tables (ngx_conf_enum_t, as nginx's own
 * directives have them; ngx_voicegw_enum.c), and a data file a directive
 * names, read whole.
 */


#ifndef _NGX_VOICEGW_CONF_H_INCLUDED_
#define _NGX_VOICEGW_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


ngx_int_t ngx_voicegw_conf_param(ngx_str_t *arg, const char *name,
    ngx_str_t *value);
char *ngx_voicegw_conf_invalid(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *arg);
ngx_int_t ngx_voicegw_parse_number(u_char *p, size_t len, double *value);
ngx_int_t ngx_voicegw_conf_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *path, size_t max, ngx_str_t *content);

ngx_int_t ngx_voicegw_enum_value(ngx_conf_enum_t *e, ngx_str_t *name,
    ngx_uint_t *value);
ngx_int_t ngx_voicegw_enum_value_caseless(ngx_conf_enum_t *e,
    ngx_str_t *name, ngx_uint_t *value);
ngx_str_t *ngx_voicegw_enum_name(ngx_conf_enum_t *e, ngx_uint_t value);
ngx_int_t ngx_voicegw_conf_workers_user(ngx_cycle_t *cycle, ngx_uid_t *user,
    ngx_gid_t *group, char **name);


extern ngx_conf_enum_t  ngx_voicegw_booleans[];
extern ngx_conf_enum_t  ngx_voicegw_switches[];


#endif /* _NGX_VOICEGW_CONF_H_INCLUDED_ */
