
/*
 * ngx_voicegw_queue.h
 *
 * The worker pools in the shared zone: each pool's workers (one task at a
 * time each), its FIFO of tickets, and the operations that move a task
 * through them: reserve, enqueue, grant, release, cancel, expire, purge.
 * Every function named *_locked expects the zone's mutex to be held.
 */


#ifndef _NGX_VOICEGW_QUEUE_H_INCLUDED_
#define _NGX_VOICEGW_QUEUE_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_affinity.h"


/* worker states (what /workers shows) */
#define NGX_VOICEGW_WORKER_IDLE      0
#define NGX_VOICEGW_WORKER_BUSY      1
#define NGX_VOICEGW_WORKER_LOADING   2
#define NGX_VOICEGW_WORKER_ERROR     3
#define NGX_VOICEGW_WORKER_OFFLINE   4

/* ticket states (what /api/queue/{id} shows) */
#define NGX_VOICEGW_TICKET_QUEUED    0
#define NGX_VOICEGW_TICKET_ASSIGNED  1
#define NGX_VOICEGW_TICKET_CANCELLED 2
#define NGX_VOICEGW_TICKET_TIMED_OUT 3
#define NGX_VOICEGW_TICKET_ABANDONED 4

#define NGX_VOICEGW_SESSION_LEN      128
#define NGX_VOICEGW_NAME_LEN         64
#define NGX_VOICEGW_ADDR_LEN         112

/* finished tickets stay queryable for this long (ms) */
#define NGX_VOICEGW_TICKET_KEEP      (5 * 60 * 1000)

/* after our task, a worker may still say "busy" for this long (ms) */
#define NGX_VOICEGW_SETTLE           5000


typedef struct ngx_voicegw_pool_sh_s  ngx_voicegw_pool_sh_t;


typedef struct {
    /* identity, from the "server" line */
    u_char                       url[NGX_VOICEGW_NAME_LEN];   /* http://h:p */
    u_char                       sockaddr[NGX_VOICEGW_ADDR_LEN];
    socklen_t                    socklen;
    ngx_uint_t                   index;

    /* what the last health check said, and when */
    ngx_uint_t                   health;
    u_char                       reported[32];
    uint64_t                     checked_at;
    ngx_uint_t                   probe;       /* check again at once */
    uint64_t                     settling;    /* until: our task just ended */

    /* the gateway's task on it */
    uint64_t                     ticket;      /* 0: none */
    ngx_pid_t                    owner_pid;
    ngx_uint_t                   task_type;
    uint64_t                     busy_since;
    size_t                       session_len;
    u_char                       session[NGX_VOICEGW_SESSION_LEN];

    /* what its KV cache holds, and when it last served */
    ngx_voicegw_affinity_t       cache;
    uint64_t                     last_used;
    ngx_uint_t                   served;
} ngx_voicegw_worker_sh_t;


typedef struct {
    ngx_rbtree_node_t            node;        /* key: the ticket id */
    ngx_queue_t                  link;        /* FIFO, active or done list */

    uint64_t                     id;
    ngx_voicegw_pool_sh_t       *pool;
    ngx_uint_t                   state;
    ngx_uint_t                   task_type;
    ngx_int_t                    worker;      /* index once assigned */
    unsigned                     hit:1;
    unsigned                     running:1;   /* holds its worker */

    ngx_pid_t                    owner_pid;
    ngx_int_t                    owner_slot;
    void                        *owner_data;  /* valid in the owner only */

    uint64_t                     enqueued;
    uint64_t                     assigned;
    uint64_t                     finished;

    size_t                       session_len;
    u_char                       session[NGX_VOICEGW_SESSION_LEN];

    /* affinity, with nckpt checkpoints allocated after the ticket */
    uint64_t                     key;
    uint32_t                     nblocks;
    uint32_t                     nckpt;
    ngx_voicegw_ckpt_t           ckpt[1];
} ngx_voicegw_ticket_t;


struct ngx_voicegw_pool_sh_s {
    u_char                       name[NGX_VOICEGW_NAME_LEN];
    ngx_uint_t                   nworkers;
    ngx_voicegw_worker_sh_t     *workers;
    ngx_uint_t                   queue_max;
    ngx_uint_t                   retired;     /* gone from nginx.conf */

    ngx_queue_t                  queue;       /* queued tickets, FIFO */
    ngx_uint_t                   queued;

    ngx_uint_t                   hits;
    ngx_uint_t                   misses;
    ngx_uint_t                   rejected;
    ngx_uint_t                   timed_out;
    ngx_uint_t                   cancelled;
    ngx_uint_t                   abandoned;
    ngx_uint_t                   granted;
};


/* the queue part of the zone's root */

typedef struct {
    ngx_uint_t                   npools;
    ngx_voicegw_pool_sh_t       *pools[NGX_VOICEGW_MAX_POOLS];

    ngx_rbtree_t                 tickets;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  active;      /* assigned, still running */
    ngx_queue_t                  done;        /* finished, oldest first */
    ngx_uint_t                   nactive;
    ngx_uint_t                   ndone;

    /* bumped by every change of a queue or a worker */
    ngx_uint_t                   version;
} ngx_voicegw_queue_sh_t;


#define ngx_voicegw_queue_changed(shm)  (shm)->sh->queue.version++


/* what a request asks for when it wants a worker */

typedef struct {
    ngx_voicegw_pool_sh_t       *pool;
    ngx_uint_t                   task_type;
    ngx_str_t                    session;
    ngx_voicegw_affinity_t      *affinity;    /* NULL: none */
    ngx_int_t                    owner_slot;
    void                        *owner_data;
} ngx_voicegw_task_req_t;


/* a worker handed to a request */

typedef struct {
    uint64_t                     ticket;
    ngx_int_t                    worker;
    u_char                       url[NGX_VOICEGW_NAME_LEN];
    u_char                       sockaddr[NGX_VOICEGW_ADDR_LEN];
    socklen_t                    socklen;
    uint64_t                     enqueued;
    uint64_t                     assigned;
    ngx_uint_t                   hit;
} ngx_voicegw_grant_t;


ngx_int_t ngx_voicegw_queue_init_zone(ngx_voicegw_shm_t *shm,
    ngx_voicegw_shm_t *oshm);

ngx_int_t ngx_voicegw_queue_admit_locked(ngx_voicegw_shm_t *shm,
    ngx_voicegw_task_req_t *req, ngx_voicegw_grant_t *grant,
    uint64_t *ticket);
ngx_voicegw_ticket_t *ngx_voicegw_ticket_find_locked(ngx_voicegw_shm_t *shm,
    uint64_t id);
void ngx_voicegw_ticket_grant_info(ngx_voicegw_ticket_t *t,
    ngx_voicegw_grant_t *grant);
ngx_int_t ngx_voicegw_queue_leave_locked(ngx_voicegw_shm_t *shm,
    uint64_t id, ngx_uint_t state);
void ngx_voicegw_queue_release_locked(ngx_voicegw_shm_t *shm, uint64_t id,
    ngx_voicegw_affinity_t *served, ngx_uint_t outcome);
ngx_int_t ngx_voicegw_queue_retry_locked(ngx_voicegw_shm_t *shm,
    uint64_t id, ngx_voicegw_affinity_t *aff, ngx_voicegw_grant_t *grant);
void ngx_voicegw_queue_grant_locked(ngx_voicegw_shm_t *shm,
    ngx_voicegw_pool_sh_t *pool);
void ngx_voicegw_queue_sweep_locked(ngx_voicegw_shm_t *shm);
ngx_uint_t ngx_voicegw_queue_position_locked(ngx_voicegw_ticket_t *t);

ngx_voicegw_pool_sh_t *ngx_voicegw_pool_find_locked(ngx_voicegw_shm_t *shm,
    ngx_str_t *name);
ngx_uint_t ngx_voicegw_worker_state(ngx_voicegw_worker_sh_t *w);


/* how a task ended, for release */
#define NGX_VOICEGW_RELEASE_OK       0     /* normal end */
#define NGX_VOICEGW_RELEASE_PROBE    1     /* the worker side closed: check */
#define NGX_VOICEGW_RELEASE_OFFLINE  2     /* could not connect */
#define NGX_VOICEGW_RELEASE_UNUSED   3     /* never reached the worker */


#endif /* _NGX_VOICEGW_QUEUE_H_INCLUDED_ */
