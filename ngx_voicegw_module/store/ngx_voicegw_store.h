
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


/* how long a statement waits for another process's write lock (ms) */
#define NGX_VOICEGW_STORE_BUSY_TIMEOUT  5000


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

    /* set by the poster: the op writes (checked for a writable store) */
    unsigned                     write:1;
    /* what went wrong, in the thread: SQLite's code, its storage fault */
    int                          sqlite_rc;
    ngx_uint_t                   fault;      /* ngx_voicegw_store_fault_e */
};


/* a failure of the storage rather than of a statement (store_conn.c) */

typedef enum {
    NGX_VOICEGW_STORE_HEALTHY = 0,
    NGX_VOICEGW_STORE_READ_ONLY,
    NGX_VOICEGW_STORE_FULL,
    NGX_VOICEGW_STORE_CORRUPT,
    NGX_VOICEGW_STORE_IO,
    NGX_VOICEGW_STORE_BUSY,
    NGX_VOICEGW_STORE_WAL_LOST
} ngx_voicegw_store_fault_e;


/* shared by the processes: in the zone, else the process's own */

typedef struct {
    ngx_uint_t                   fault;      /* the condition logged */
    time_t                       since;
    time_t                       ok_since;   /* writes work again since */
    ngx_pid_t                    wal_claim;  /* recovering a lost WAL */
    ino_t                        wal_ino;    /* the WAL it started */
} ngx_voicegw_store_sh_t;


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

    /* the storage's health (ngx_voicegw_store_conn.c) */
    ngx_voicegw_zone_t          *zone;      /* NULL: sh is the process's */
    ngx_voicegw_store_sh_t      *sh;
    u_char                      *wal_path;   /* "<path>-wal" */
    u_char                      *shm_path;   /* "<path>-shm" */
    ino_t                        wal_ino;    /* the WAL the connection has */
    time_t                       wal_wait;   /* not opened since: no WAL */

    /* every second, an op that checks the WAL and retries an open */
    ngx_event_t                  check;
    ngx_voicegw_store_op_t      *check_op;
    ngx_uint_t                   check_busy;

    /* ops posted and not done; "hold" (not cancelable) while there are */
    ngx_uint_t                   running;
    ngx_event_t                  hold;
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

ngx_int_t ngx_voicegw_store_open(ngx_voicegw_store_t *store,
    ngx_voicegw_store_op_t *op);
ngx_int_t ngx_voicegw_store_init_zone(ngx_voicegw_zone_t *zone, void *data,
    ngx_uint_t reused);
ngx_int_t ngx_voicegw_store_conn_init(ngx_cycle_t *cycle,
    ngx_voicegw_store_t *store);
ngx_int_t ngx_voicegw_store_before(ngx_voicegw_store_op_t *op);
ngx_int_t ngx_voicegw_store_may_open(ngx_voicegw_store_op_t *op);
ngx_int_t ngx_voicegw_store_opened(ngx_voicegw_store_op_t *op);
void ngx_voicegw_store_after(ngx_voicegw_store_op_t *op);
void ngx_voicegw_store_health(ngx_voicegw_store_op_t *op);
ngx_uint_t ngx_voicegw_store_fault_status(ngx_voicegw_store_op_t *op,
    const char **code, const char **what);


#endif /* _NGX_VOICEGW_STORE_H_INCLUDED_ */
