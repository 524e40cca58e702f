
/*
 * ngx_voicegw_store.h
 *
 * The SQLite store ("voicegw_store PATH ...;"): what must survive a
 * restart.  Statements run on an nginx thread pool and report back on the
 * event loop; nothing here ever blocks a worker process's event loop.
 */


#ifndef _NGX_VOICEGW_STORE_H_INCLUDED_
#define _NGX_VOICEGW_STORE_H_INCLUDED_


#include "ngx_voicegw_module.h"

#include <sqlite3.h>


#define NGX_VOICEGW_STORE_SCHEMA       2

#define NGX_VOICEGW_SETTING_KEY_LEN    64
#define NGX_VOICEGW_SETTING_VALUE_LEN  256
#define NGX_VOICEGW_SETTINGS_MAX       32


typedef struct {
    ngx_str_t                    key;
    ngx_str_t                    value;
} ngx_voicegw_setting_t;


typedef struct ngx_voicegw_store_op_s  ngx_voicegw_store_op_t;

/* runs in a thread of the pool, with the process's connection */
typedef ngx_int_t (*ngx_voicegw_store_run_pt)(ngx_voicegw_store_op_t *op,
    sqlite3 *db);

/* runs on the event loop once the thread is done */
typedef void (*ngx_voicegw_store_done_pt)(ngx_voicegw_store_op_t *op);


struct ngx_voicegw_store_op_s {
    ngx_voicegw_store_t         *store;
    ngx_thread_task_t           *task;
    ngx_voicegw_store_run_pt     run;
    ngx_voicegw_store_done_pt    done;

    /* the request kept alive ("blocked") while the statement runs */
    ngx_http_request_t          *request;
    void                        *data;

    ngx_int_t                    rc;
    u_char                       err[256];
};


/* a settings write: the rows to upsert, and the rows read back */

typedef struct {
    ngx_uint_t                   nput;
    u_char                       put_key[NGX_VOICEGW_SETTINGS_MAX]
                                        [NGX_VOICEGW_SETTING_KEY_LEN];
    u_char                       put_value[NGX_VOICEGW_SETTINGS_MAX]
                                          [NGX_VOICEGW_SETTING_VALUE_LEN];

    /* a counter setting bumped in the same transaction */
    u_char                       version_key[NGX_VOICEGW_SETTING_KEY_LEN];
    uint64_t                     version;

    /* every setting whose key starts with this prefix, after the commit */
    u_char                       prefix[NGX_VOICEGW_SETTING_KEY_LEN];
    ngx_uint_t                   nget;
    u_char                       get_key[NGX_VOICEGW_SETTINGS_MAX]
                                        [NGX_VOICEGW_SETTING_KEY_LEN];
    u_char                       get_value[NGX_VOICEGW_SETTINGS_MAX]
                                          [NGX_VOICEGW_SETTING_VALUE_LEN];
} ngx_voicegw_store_settings_t;


/*
 * A batch of statements run by one op, in one transaction: a write holds
 * the write lock from the start, a read sees one snapshot throughout.
 * Parameters point into the request's memory (the request is blocked
 * while the op runs); result rows come back as values in the request's
 * pool.  A statement may demand a result ("expect"): when it is not met
 * the batch stops, rolls back, and reports which statement it was.
 */

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


struct ngx_voicegw_store_s {
    ngx_str_t                    path;          /* NUL-terminated */
    ngx_str_t                    dir;           /* NUL-terminated */
    ngx_uint_t                   created_dir;
    ngx_str_t                    thread_pool_name;
    ngx_thread_pool_t           *thread_pool;
    ngx_msec_t                   flush;
    time_t                       retention;

    /* settings as read at configuration time, ngx_voicegw_setting_t */
    ngx_array_t                  settings;

    /* this process's connection, opened after fork */
    sqlite3                     *db;
    ngx_thread_mutex_t           mutex;
    ngx_uint_t                   mutex_ready;
    ngx_log_t                   *log;
};


char *ngx_voicegw_store_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_voicegw_store_init_module(ngx_cycle_t *cycle,
    ngx_voicegw_store_t *store);
ngx_int_t ngx_voicegw_store_init_process(ngx_cycle_t *cycle,
    ngx_voicegw_store_t *store);
void ngx_voicegw_store_exit_process(ngx_voicegw_store_t *store);

ngx_voicegw_store_op_t *ngx_voicegw_store_op_alloc(ngx_pool_t *pool,
    ngx_voicegw_store_t *store, size_t size);
ngx_int_t ngx_voicegw_store_post(ngx_voicegw_store_op_t *op);

ngx_int_t ngx_voicegw_store_put_settings(ngx_voicegw_store_op_t *op,
    sqlite3 *db);
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

ngx_int_t ngx_voicegw_settings_add(ngx_voicegw_store_settings_t *s,
    ngx_str_t *key, ngx_str_t *value);


#endif /* _NGX_VOICEGW_STORE_H_INCLUDED_ */
