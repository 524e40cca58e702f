
/*
 * ngx_voicegw_store_settings.h
 *
 * Settings in the store: read by the master while the configuration is
 * read, handed to the zone's table when the zone is set up, and written
 * through the API as an ordinary SQL batch.
 */


#ifndef _NGX_VOICEGW_STORE_SETTINGS_H_INCLUDED_
#define _NGX_VOICEGW_STORE_SETTINGS_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_settings.h"
#include "ngx_voicegw_sql.h"


ngx_int_t ngx_voicegw_store_read_settings(ngx_pool_t *pool,
    ngx_array_t *settings, sqlite3 *db, u_char *err, size_t len);
ngx_int_t ngx_voicegw_store_settings_init_zone(ngx_voicegw_zone_t *zone,
    void *data, ngx_uint_t reused);

ngx_int_t ngx_voicegw_settings_batch(ngx_pool_t *pool,
    ngx_voicegw_sql_batch_t *b, const char *prefix, ngx_array_t *puts);
ngx_array_t *ngx_voicegw_settings_committed(ngx_pool_t *pool,
    ngx_voicegw_sql_batch_t *b);


#endif /* _NGX_VOICEGW_STORE_SETTINGS_H_INCLUDED_ */
