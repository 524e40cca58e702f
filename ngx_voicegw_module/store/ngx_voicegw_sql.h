
/*
 * ngx_voicegw_sql.h
 *
 * The one way the gateway runs SQL on the event loop's behalf: a batch of
 * statements run by one store op, in one transaction.  A write holds the
 * write lock from the start, a read sees one snapshot throughout.
 * Parameters point into the caller's memory (a request is blocked while
 * its op runs); result rows come back as values in the caller's pool.  A
 * statement may demand a result ("expect"): when it is not met the batch
 * stops, rolls back, and reports which statement it was.
 */


#ifndef _NGX_VOICEGW_SQL_H_INCLUDED_
#define _NGX_VOICEGW_SQL_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_json.h"


#define NGX_VOICEGW_SQL_NULL       0
#define NGX_VOICEGW_SQL_INT        1
#define NGX_VOICEGW_SQL_REAL       2
#define NGX_VOICEGW_SQL_TEXT       3

#define NGX_VOICEGW_SQL_ANY        0
#define NGX_VOICEGW_SQL_ROW        1      /* at least one row */
#define NGX_VOICEGW_SQL_NO_ROW     2      /* no row */
#define NGX_VOICEGW_SQL_CHANGED    3      /* changed at least one row */

#define NGX_VOICEGW_SQL_PARAMS     24
#define NGX_VOICEGW_SQL_STMTS      12


typedef struct {
    ngx_uint_t                   type;
    int64_t                      i;
    double                       d;
    ngx_str_t                    s;
} ngx_voicegw_sql_value_t;


typedef struct {
    const char                  *sql;
    ngx_uint_t                   expect;
    ngx_uint_t                   nparams;
    ngx_voicegw_sql_value_t      param[NGX_VOICEGW_SQL_PARAMS];

    /* the result, on the event loop after ngx_voicegw_sql_collect() */
    ngx_uint_t                   ncols;
    ngx_uint_t                   nrows;
    ngx_voicegw_sql_value_t     *rows;        /* nrows * ncols */
    int64_t                      changes;

    /* the thread's encoding of the rows (malloc) */
    u_char                      *buf;
    size_t                       len;
    size_t                       cap;
} ngx_voicegw_sql_stmt_t;


typedef struct {
    ngx_uint_t                   write;
    ngx_uint_t                   nstmts;
    ngx_voicegw_sql_stmt_t       stmt[NGX_VOICEGW_SQL_STMTS];

    ngx_int_t                    failed;      /* statement index, or -1 */
    int                          sqlite_rc;
} ngx_voicegw_sql_batch_t;


/* column c of row n of a statement's result */
#define ngx_voicegw_sql_cell(st, n, c)  (&(st)->rows[(n) * (st)->ncols + (c)])


ngx_voicegw_sql_stmt_t *ngx_voicegw_sql_add(ngx_voicegw_sql_batch_t *b,
    const char *sql, ngx_uint_t expect);
void ngx_voicegw_sql_text(ngx_voicegw_sql_stmt_t *st, ngx_str_t *s);
void ngx_voicegw_sql_ctext(ngx_voicegw_sql_stmt_t *st, const char *s);
void ngx_voicegw_sql_real(ngx_voicegw_sql_stmt_t *st, double d);
void ngx_voicegw_sql_int(ngx_voicegw_sql_stmt_t *st, int64_t i);
void ngx_voicegw_sql_null(ngx_voicegw_sql_stmt_t *st);

ngx_int_t ngx_voicegw_sql_run(ngx_voicegw_store_op_t *op, sqlite3 *db);
ngx_int_t ngx_voicegw_sql_collect(ngx_pool_t *pool,
    ngx_voicegw_sql_batch_t *b);
void ngx_voicegw_sql_free(ngx_voicegw_sql_batch_t *b);
void ngx_voicegw_sql_cleanup(void *data);

void ngx_voicegw_sql_json(ngx_voicegw_json_t *j, ngx_voicegw_sql_value_t *v);

ngx_int_t ngx_voicegw_sql_exec(sqlite3 *db, const char *sql, u_char *err,
    size_t len);
void ngx_voicegw_sql_error(sqlite3 *db, const char *what, u_char *err,
    size_t len);


#endif /* _NGX_VOICEGW_SQL_H_INCLUDED_ */
