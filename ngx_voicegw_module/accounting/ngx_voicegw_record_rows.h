
/*
 * ngx_voicegw_record_rows.h
 *
 * The request log's rows of a batch of records
 * (ngx_voicegw_record_rows.c): the INSERT of one record or of a group,
 * a record's values bound to its row, a day's "YYYY-MM-DD".
 */


#ifndef _NGX_VOICEGW_RECORD_ROWS_H_INCLUDED_
#define _NGX_VOICEGW_RECORD_ROWS_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_recorder.h"

#include <sqlite3.h>


/* records per statement; the parameters of one */
#define NGX_VOICEGW_RECORD_GROUP    16
#define NGX_VOICEGW_RECORD_PARAMS   15

/*
 * the records a batch needs for groups: the group statement's preparation
 * costs ~430,000 instructions more than one row's (496k, 69k), a row in a
 * group ~4,900 fewer (9,100, 14,000: callgrind, this table): even at ~90
 */
#define NGX_VOICEGW_RECORD_GROUPED  128


ngx_int_t ngx_voicegw_record_rows_prepare(sqlite3 *db, ngx_uint_t rows,
    sqlite3_stmt **st);
void ngx_voicegw_record_rows_bind(sqlite3_stmt *st, ngx_uint_t row,
    ngx_voicegw_rec_t *h);
void ngx_voicegw_record_day(u_char *buf, int32_t day, ngx_str_t *s);


#endif /* _NGX_VOICEGW_RECORD_ROWS_H_INCLUDED_ */
