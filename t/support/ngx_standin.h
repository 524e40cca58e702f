
/*
 * t/support/ngx_standin.h
 *
 * The pools of the nginx stand-ins (t/support/ngx_standin.c), for the
 * parser driver and the fuzz targets, and the last error a directive's
 * parser gave (t/support/ngx_standin_conf.c).
 */


#ifndef _NGX_STANDIN_H_INCLUDED_
#define _NGX_STANDIN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


extern ngx_log_t  ngx_standin_log;
extern u_char     ngx_standin_conf_error[];

ngx_pool_t *ngx_standin_pool_create(void);
void ngx_standin_pool_destroy(ngx_pool_t *pool);
ngx_int_t ngx_standin_copy(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_str_t *s);


#endif /* _NGX_STANDIN_H_INCLUDED_ */
