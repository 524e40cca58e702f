
/*
 * ngx_voicegw_schema.h
 *
 * The database's schema: its version, its migrations, and the settings
 * of every connection.
 */


#ifndef _NGX_VOICEGW_SCHEMA_H_INCLUDED_
#define _NGX_VOICEGW_SCHEMA_H_INCLUDED_


#include "ngx_voicegw_module.h"

#include <sqlite3.h>


#define NGX_VOICEGW_STORE_SCHEMA  5


ngx_int_t ngx_voicegw_schema_configure(sqlite3 *db, u_char *err, size_t len);
ngx_int_t ngx_voicegw_schema_migrate(sqlite3 *db, u_char *err, size_t len);
ngx_int_t ngx_voicegw_schema_check(sqlite3 *db, u_char *err, size_t len);
ngx_int_t ngx_voicegw_schema_quick_check(sqlite3 *db, u_char *err,
    size_t len);


#endif /* _NGX_VOICEGW_SCHEMA_H_INCLUDED_ */
