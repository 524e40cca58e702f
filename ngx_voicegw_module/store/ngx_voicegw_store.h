
/*
 * ngx_voicegw_store.h
 *
 * The SQLite store ("voicegw_store PATH ...;"): what must survive a
 * restart.  Statements run as ops on an nginx thread pool and report back
 * on the event loop; nothing here ever blocks a worker process's event
 * loop.
 */


#ifndef _NGX_VOICEGW_STORE_H_INCLUDED_
#define _NGX_VOICEGW_STORE_H_INCLUDED_


#include "ngx_voicegw_module.h"

#include <sqlite3.h>


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


typedef struct {
    ngx_str_t                    project;
    double                       cost_usd;
} ngx_voicegw_spend_t;


struct ngx_voicegw_store_s {
    ngx_str_t                    path;          /* NUL-terminated */
    ngx_str_t                    dir;           /* NUL-terminated */
    ngx_uint_t                   created_dir;
    ngx_str_t                    thread_pool_name;
    ngx_thread_pool_t           *thread_pool;
    ngx_msec_t                   flush;
    time_t                       retention;
    size_t                       buffer;        /* of request records;
                                                   0: not set */
    /* the highest id in the request log at configuration time */
    uint64_t                     last_request_id;

    u_char                      *file;          /* where the directive is */
    ngx_uint_t                   line;
    ngx_cycle_t                 *cycle;         /* the one it belongs to */

    /* settings as read at configuration time, ngx_voicegw_setting_t */
    ngx_array_t                  settings;

    /* each project's spend of the UTC day the configuration was read
       (ngx_voicegw_spend_t): the budgets start from it */
    ngx_array_t                  spend;
    time_t                       spend_day;     /* its 00:00 UTC */

    /* this process's connection, opened after fork */
    sqlite3                     *db;
    ngx_thread_mutex_t           mutex;
    ngx_uint_t                   mutex_ready;
    ngx_log_t                   *log;
};


char *ngx_voicegw_store_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_voicegw_store_check(ngx_voicegw_store_t *store);
ngx_int_t ngx_voicegw_store_check_zone(ngx_voicegw_zone_t *zone, void *data,
    ngx_uint_t reused);
ngx_int_t ngx_voicegw_store_init_process(ngx_cycle_t *cycle,
    ngx_voicegw_store_t *store);
void ngx_voicegw_store_exit_process(ngx_voicegw_store_t *store);

ngx_voicegw_store_op_t *ngx_voicegw_store_op_alloc(ngx_pool_t *pool,
    ngx_voicegw_store_t *store, size_t size);
ngx_int_t ngx_voicegw_store_post(ngx_voicegw_store_op_t *op);
ngx_int_t ngx_voicegw_store_run_now(ngx_voicegw_store_op_t *op);


#endif /* _NGX_VOICEGW_STORE_H_INCLUDED_ */
