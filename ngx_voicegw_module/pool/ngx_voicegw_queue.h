
/*
 * ngx_voicegw_queue.h
 *
 * The worker pools in the shared zone: each pool's workers (one task at a
 * time each), its FIFO of tickets, and the operations that move a task
 * through them: reserve, enqueue, grant, release, cancel, expire, purge.
 * Every function named *_locked expects the zone's mutex to be held.
 *
 * Nothing outside pool/ reads these structures: what others need comes
 * out as copies (ngx_voicegw_queue_snapshot(), ngx_voicegw_queue_stats()).
 */


#ifndef _NGX_VOICEGW_QUEUE_H_INCLUDED_
#define _NGX_VOICEGW_QUEUE_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_affinity.h"
#include "ngx_voicegw_eta.h"


/* worker states (what /workers shows) */
#define NGX_VOICEGW_WORKER_IDLE      0
#define NGX_VOICEGW_WORKER_BUSY      1
#define NGX_VOICEGW_WORKER_LOADING   2
#define NGX_VOICEGW_WORKER_ERROR     3
#define NGX_VOICEGW_WORKER_OFFLINE   4
#define NGX_VOICEGW_WORKER_NSTATES   5

/* ticket states (what /api/queue/{id} shows) */
#define NGX_VOICEGW_TICKET_QUEUED    0
#define NGX_VOICEGW_TICKET_ASSIGNED  1
#define NGX_VOICEGW_TICKET_CANCELLED 2
#define NGX_VOICEGW_TICKET_TIMED_OUT 3
#define NGX_VOICEGW_TICKET_ABANDONED 4

#define NGX_VOICEGW_SESSION_LEN      128
#define NGX_VOICEGW_NAME_LEN         64
#define NGX_VOICEGW_ADDR_LEN         112
#define NGX_VOICEGW_REPORTED_LEN     32

/* finished tickets stay queryable for this long (ms) */
#define NGX_VOICEGW_TICKET_KEEP      (5 * 60 * 1000)

/* after our task, a worker may still say "busy" for this long (ms) */
#define NGX_VOICEGW_SETTLE           5000

/* nginx processes that use the pools, for retiring pools safely */
#define NGX_VOICEGW_PROCS            64
#define NGX_VOICEGW_MAILBOXES        64      /* process slots with one */
#define NGX_VOICEGW_MAIL             32      /* tickets in a mailbox */


/* how a task ended, for release */
#define NGX_VOICEGW_RELEASE_OK       0     /* normal end */
#define NGX_VOICEGW_RELEASE_FAILED   1     /* abnormal end: check it, and
                                              no ETA sample */
#define NGX_VOICEGW_RELEASE_OFFLINE  2     /* could not connect */
#define NGX_VOICEGW_RELEASE_UNUSED   3     /* never reached the worker */
#define NGX_VOICEGW_RELEASE_CHECK    4     /* a normal end from the
                                              worker's side (it closed a
                                              WebSocket session): check
                                              it before its next task */


typedef struct {
    /* identity, from the "server" line */
    u_char                       url[NGX_VOICEGW_NAME_LEN];   /* http://h:p */
    u_char                       sockaddr[NGX_VOICEGW_ADDR_LEN];
    socklen_t                    socklen;
    ngx_uint_t                   index;

    /* what the last health check said, and when */
    ngx_uint_t                   health;
    u_char                       reported[NGX_VOICEGW_REPORTED_LEN];
    uint64_t                     checked_at;  /* wall clock */
    uint64_t                     checked_mono;
    ngx_uint_t                   probe;       /* check again at once */
    uint64_t                     settling;    /* monotonic: our task just
                                                 ended, until then */

    /* the gateway's task on it */
    uint64_t                     ticket;      /* 0: none */
    ngx_pid_t                    owner_pid;
    ngx_uint_t                   task_type;
    uint64_t                     busy_since;  /* wall clock */
    uint64_t                     busy_mono;
    size_t                       session_len;
    u_char                       session[NGX_VOICEGW_SESSION_LEN];
    ngx_uint_t                   paused;      /* duplex: the client paused
                                                 its session */

    /* what its KV cache holds, and when it last served */
    ngx_voicegw_affinity_t       cache;
    uint64_t                     last_used;   /* wall clock */
    uint64_t                     last_used_mono;
    ngx_uint_t                   served;
    ngx_uint_t                   served_ok;   /* of those, ended normally */
    uint64_t                     served_ms;   /* and how long they took */
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

    /* when (wall clock, shown) and how long (monotonic, measured) */
    uint64_t                     enqueued;
    uint64_t                     assigned;
    uint64_t                     finished;
    uint64_t                     enqueued_mono;
    uint64_t                     assigned_mono;
    uint64_t                     finished_mono;

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

    /* gone from nginx.conf by that reload: freed once no process of an
       older configuration is left (0: in use) */
    ngx_uint_t                   retired;

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


typedef struct {
    ngx_pid_t                    pid;
    ngx_uint_t                   generation;
} ngx_voicegw_proc_sh_t;


/*
 * The tickets of one process slot that changed for its owner (granted,
 * cancelled) since the owner last looked: a grant is O(1) work for both
 * sides, whatever the number of parked requests.  Full: the owner looks
 * at all of its parked requests once.
 */

typedef struct {
    ngx_pid_t                    pid;         /* whose tickets these are */
    ngx_uint_t                   n;
    ngx_uint_t                   overflow;
    uint64_t                     tickets[NGX_VOICEGW_MAIL];
} ngx_voicegw_mailbox_t;


/* the pools' part of the zone */

struct ngx_voicegw_queue_sh_s {
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

    /* which configuration (reload) is the newest, and who uses which */
    ngx_uint_t                   generation;
    ngx_voicegw_proc_sh_t        procs[NGX_VOICEGW_PROCS];

    /* per process slot: its tickets that changed (grants, cancels) */
    ngx_voicegw_mailbox_t        mail[NGX_VOICEGW_MAILBOXES];

    /* the process doing health checks and sweeps, until when (mono) */
    ngx_pid_t                    health_pid;
    uint64_t                     health_until;

    /* sweeps, and whether the next must look at every queued ticket (a
       process died whose entry of procs[] is gone) */
    ngx_uint_t                   sweeps;
    ngx_uint_t                   sweep_all;

    ngx_voicegw_eta_sh_t         eta;
};


#define ngx_voicegw_queue_changed(vp)  (vp)->sh->version++


/* what a request asks for when it wants a worker */

typedef struct {
    ngx_voicegw_pool_sh_t       *pool;
    ngx_uint_t                   task_type;
    ngx_str_t                    session;
    ngx_voicegw_affinity_t      *affinity;    /* NULL: none */
    ngx_int_t                    owner_slot;
    void                        *owner_data;
} ngx_voicegw_task_req_t;


/* a worker handed to a request, and what its ticket says */

typedef struct {
    uint64_t                     ticket;
    ngx_uint_t                   state;
    ngx_uint_t                   running;
    ngx_int_t                    worker;
    u_char                       url[NGX_VOICEGW_NAME_LEN];
    u_char                       sockaddr[NGX_VOICEGW_ADDR_LEN];
    socklen_t                    socklen;
    uint64_t                     enqueued_mono;
    uint64_t                     assigned_mono;
    ngx_uint_t                   hit;
} ngx_voicegw_grant_t;


/* copies for the API, made under the lock, used after it */

typedef struct {
    u_char                       name[NGX_VOICEGW_NAME_LEN];
    ngx_uint_t                   nworkers;
    ngx_uint_t                   queue_max;
    ngx_uint_t                   queued;
    ngx_uint_t                   hits;
    ngx_uint_t                   misses;
    ngx_uint_t                   rejected;
    ngx_uint_t                   timed_out;
    ngx_uint_t                   cancelled;
    ngx_uint_t                   abandoned;
    ngx_uint_t                   granted;
    ngx_uint_t                   workers[NGX_VOICEGW_WORKER_NSTATES];
} ngx_voicegw_pool_view_t;


typedef struct {
    ngx_uint_t                   pool;        /* index in the snapshot */
    u_char                       url[NGX_VOICEGW_NAME_LEN];
    ngx_uint_t                   index;
    ngx_uint_t                   state;
    ngx_uint_t                   task_type;
    uint64_t                     ticket;
    uint64_t                     busy_since;
    uint64_t                     busy_ms;     /* how long, if busy */
    uint64_t                     cached_hash;
    uint64_t                     last_used;
    uint64_t                     checked_at;
    ngx_uint_t                   served;
    ngx_uint_t                   served_ok;
    uint64_t                     served_ms;
    ngx_uint_t                   paused;
    size_t                       session_len;
    u_char                       session[NGX_VOICEGW_SESSION_LEN];
    u_char                       reported[NGX_VOICEGW_REPORTED_LEN];
} ngx_voicegw_worker_view_t;


typedef struct {
    ngx_uint_t                   pool;        /* index in the snapshot */
    uint64_t                     id;
    ngx_uint_t                   task_type;
    ngx_uint_t                   position;
    uint64_t                     enqueued;
    uint64_t                     wait_ms;     /* queued for how long */
    double                       eta;
    size_t                       session_len;
    u_char                       session[NGX_VOICEGW_SESSION_LEN];
} ngx_voicegw_entry_view_t;


typedef struct {
    uint64_t                     id;
    ngx_uint_t                   pool;        /* index in the snapshot */
    ngx_uint_t                   state;
    ngx_uint_t                   task_type;
    ngx_uint_t                   position;    /* queued: 1.., else 0 */
    double                       eta;
    uint64_t                     enqueued;
    uint64_t                     assigned;
    uint64_t                     finished;
    uint64_t                     wait_ms;     /* assigned: queue wait */
    u_char                       url[NGX_VOICEGW_NAME_LEN];   /* or "" */
    size_t                       session_len;
    u_char                       session[NGX_VOICEGW_SESSION_LEN];
} ngx_voicegw_ticket_view_t;


#define NGX_VOICEGW_SNAP_WORKERS  0x01
#define NGX_VOICEGW_SNAP_QUEUE    0x02       /* and the ETA of each entry */

typedef struct {
    ngx_uint_t                   what;

    ngx_uint_t                   npools;
    ngx_voicegw_pool_view_t      pools[NGX_VOICEGW_MAX_POOLS];

    ngx_uint_t                   nworkers;
    ngx_uint_t                   maxworkers;
    ngx_voicegw_worker_view_t   *workers;

    ngx_uint_t                   nentries;
    ngx_uint_t                   maxentries;
    ngx_voicegw_entry_view_t    *entries;

    /* a ticket to copy as well (0: none), and the copy */
    uint64_t                     ticket_id;
    ngx_uint_t                   ticket_found;
    ngx_voicegw_ticket_view_t    ticket;

    ngx_voicegw_eta_state_t      eta;
    uint64_t                     now;
    ngx_uint_t                   version;
} ngx_voicegw_snapshot_t;


extern ngx_conf_enum_t  ngx_voicegw_worker_states[];
extern ngx_conf_enum_t  ngx_voicegw_ticket_states[];


ngx_int_t ngx_voicegw_queue_init_zone(ngx_voicegw_zone_t *zone, void *data,
    ngx_uint_t reused);
void ngx_voicegw_queue_join_locked(ngx_voicegw_pools_t *vp);

ngx_int_t ngx_voicegw_queue_admit_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_task_req_t *req, ngx_voicegw_grant_t *grant,
    uint64_t *ticket);
ngx_int_t ngx_voicegw_queue_ticket_locked(ngx_voicegw_pools_t *vp,
    uint64_t id, ngx_voicegw_grant_t *grant);
ngx_int_t ngx_voicegw_queue_leave_locked(ngx_voicegw_pools_t *vp,
    uint64_t id, ngx_uint_t state, ngx_uint_t *current);
void ngx_voicegw_queue_release_locked(ngx_voicegw_pools_t *vp, uint64_t id,
    ngx_voicegw_affinity_t *served, ngx_uint_t outcome);
ngx_int_t ngx_voicegw_queue_retry_locked(ngx_voicegw_pools_t *vp,
    uint64_t id, ngx_voicegw_grant_t *grant);
ngx_int_t ngx_voicegw_queue_mail_take_locked(ngx_voicegw_pools_t *vp,
    uint64_t *tickets, ngx_uint_t *n);
void ngx_voicegw_queue_grant_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_pool_sh_t *pool);
void ngx_voicegw_queue_sweep_locked(ngx_voicegw_pools_t *vp);

ngx_uint_t ngx_voicegw_worker_state(ngx_voicegw_worker_sh_t *w);
ngx_int_t ngx_voicegw_queue_paused_locked(ngx_voicegw_pools_t *vp,
    uint64_t id, ngx_uint_t paused);

/* for the other files of pool/ only */
ngx_voicegw_ticket_t *ngx_voicegw_ticket_find_locked(ngx_voicegw_pools_t *vp,
    uint64_t id);
void ngx_voicegw_ticket_free_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_ticket_t *t);
void ngx_voicegw_ticket_finish_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_ticket_t *t, ngx_uint_t state);
void ngx_voicegw_expire_done_locked(ngx_voicegw_pools_t *vp, uint64_t now,
    ngx_uint_t all);
ngx_voicegw_worker_sh_t *ngx_voicegw_queue_worker_locked(
    ngx_voicegw_pool_conf_t *pcf, ngx_uint_t index);

ngx_int_t ngx_voicegw_queue_snapshot(ngx_voicegw_pools_t *vp,
    ngx_pool_t *pool, ngx_uint_t what, ngx_voicegw_snapshot_t *snap);
ngx_int_t ngx_voicegw_queue_snapshot_locked(ngx_voicegw_pools_t *vp,
    ngx_voicegw_snapshot_t *snap);
ngx_uint_t ngx_voicegw_queue_stats(ngx_voicegw_pools_t *vp,
    ngx_voicegw_pool_view_t *pools, ngx_uint_t max);
ngx_uint_t ngx_voicegw_queue_version(ngx_voicegw_pools_t *vp);


#endif /* _NGX_VOICEGW_QUEUE_H_INCLUDED_ */
