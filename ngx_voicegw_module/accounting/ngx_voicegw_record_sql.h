
/*
 * ngx_voicegw_record_sql.h
 *
 * The store ops of the recorder: a batch of records committed in one
 * transaction with its rollups, and one step of retention.  They run in
 * a thread of the store's pool (or, in an exiting process, at once).
 */


#ifndef _NGX_VOICEGW_RECORD_SQL_H_INCLUDED_
#define _NGX_VOICEGW_RECORD_SQL_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_store.h"


/* rows deleted by one step of retention */

#define NGX_VOICEGW_RETENTION_STEP  2000


typedef struct {
    void                        *owner;      /* the flusher */
    /* in: records as the ring holds them */
    u_char                      *data;
    size_t                       len;
    ngx_uint_t                   backlog;    /* a full batch: no pauses */
    /* out */
    ngx_uint_t                   inserted;   /* new rows */
    ngx_uint_t                   known;      /* committed before */
} ngx_voicegw_record_batch_t;


typedef struct {
    void                        *owner;      /* the flusher */
    int64_t                      before;     /* in: wall clock, ms */
    int32_t                      today;      /* in: days since 1970 */
    ngx_uint_t                   deleted;    /* out: rows */
} ngx_voicegw_retention_t;


ngx_int_t ngx_voicegw_record_sql_batch(ngx_voicegw_store_op_t *op,
    sqlite3 *db);
ngx_int_t ngx_voicegw_record_sql_retention(ngx_voicegw_store_op_t *op,
    sqlite3 *db);


#endif /* _NGX_VOICEGW_RECORD_SQL_H_INCLUDED_ */
