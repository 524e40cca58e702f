
/*
 * ngx_voicegw_api_frontend.c
 *
 * Owns the fields that the original MiniCPM-o gateway answers and its
 * pages read (turnbased.html polls /status, admin.html reads /workers and
 * /api/queue), added beside the seed's: its words for a worker's state
 * and for a task's type, its running_tasks[] and its queue items[].  The
 * seed's fields are written by ngx_voicegw_api_pool.c and are never
 * renamed or removed here.
 *
 * Works on a snapshot only (copies made under the zone's lock), never on
 * the zone itself.  The one idea: our task types and worker states map
 * onto the original's words by tables, so that each word exists once.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_eta.h"
#include "ngx_voicegw_api_frontend.h"


/* the original's "request_type" of each task type, by NGX_VOICEGW_TASK_* */

static ngx_str_t  ngx_voicegw_request_types[] = {
    ngx_string("chat"),
    ngx_string("half_duplex_audio"),
    ngx_string("audio_duplex"),
    ngx_string("omni_duplex"),
    ngx_null_string
};


/* the original's words for a busy worker */

#define NGX_VOICEGW_BUSY_CHAT         0
#define NGX_VOICEGW_BUSY_HALF_DUPLEX  1
#define NGX_VOICEGW_DUPLEX_ACTIVE     2
#define NGX_VOICEGW_DUPLEX_PAUSED     3

static ngx_str_t  ngx_voicegw_busy_words[] = {
    ngx_string("busy_chat"),
    ngx_string("busy_half_duplex"),
    ngx_string("duplex_active"),
    ngx_string("duplex_paused"),
    ngx_null_string
};


/* the word of a worker busy with our task, by NGX_VOICEGW_TASK_* */

static ngx_uint_t  ngx_voicegw_task_busy_word[] = {
    NGX_VOICEGW_BUSY_CHAT,
    NGX_VOICEGW_BUSY_HALF_DUPLEX,
    NGX_VOICEGW_DUPLEX_ACTIVE,
    NGX_VOICEGW_DUPLEX_ACTIVE
};


static ngx_uint_t ngx_voicegw_busy_word(ngx_voicegw_worker_view_t *w);
static ngx_str_t *ngx_voicegw_state_word(ngx_voicegw_worker_view_t *w);
static void ngx_voicegw_request_type(ngx_voicegw_json_t *j,
    ngx_uint_t type);
static void ngx_voicegw_worker_id(ngx_voicegw_json_t *j,
    ngx_voicegw_worker_view_t *w);
static void ngx_voicegw_host_port(ngx_voicegw_json_t *j, u_char *url);
static void ngx_voicegw_running_tasks(ngx_voicegw_json_t *j,
    ngx_voicegw_snapshot_t *snap);


/*
 * A busy worker in the original's words: with our task, the word of its
 * type ("duplex_paused" once its client paused a duplex session); busy
 * with other work, what the worker said of itself when it is one of the
 * words, else "busy_chat", the original's word for any other work.
 */

static ngx_uint_t
ngx_voicegw_busy_word(ngx_voicegw_worker_view_t *w)
{
    ngx_uint_t  k;

    if (w->ticket && w->task_type < NGX_VOICEGW_TASK_NTYPES) {
        k = ngx_voicegw_task_busy_word[w->task_type];

        if (k == NGX_VOICEGW_DUPLEX_ACTIVE && w->paused) {
            k = NGX_VOICEGW_DUPLEX_PAUSED;
        }

        return k;
    }

    for (k = 0; ngx_voicegw_busy_words[k].len; k++) {
        if (ngx_strcmp(w->reported, ngx_voicegw_busy_words[k].data) == 0) {
            return k;
        }
    }

    return NGX_VOICEGW_BUSY_CHAT;
}


/* idle, busy_chat, busy_half_duplex, duplex_active, duplex_paused,
   loading, error, offline */

static ngx_str_t *
ngx_voicegw_state_word(ngx_voicegw_worker_view_t *w)
{
    if (w->state != NGX_VOICEGW_WORKER_BUSY) {
        return &ngx_voicegw_worker_states[w->state].name;
    }

    return &ngx_voicegw_busy_words[ngx_voicegw_busy_word(w)];
}


static void
ngx_voicegw_request_type(ngx_voicegw_json_t *j, ngx_uint_t type)
{
    if (type < NGX_VOICEGW_TASK_NTYPES) {
        ngx_voicegw_json_str(j, &ngx_voicegw_request_types[type]);

    } else {
        ngx_voicegw_json_null(j);
    }
}


/* "worker_<index>", as the original names its workers */

static void
ngx_voicegw_worker_id(ngx_voicegw_json_t *j, ngx_voicegw_worker_view_t *w)
{
    u_char  buf[32], *p;

    p = ngx_snprintf(buf, sizeof(buf), "worker_%ui", w->index);

    ngx_voicegw_json_strn(j, buf, p - buf);
}


/* "host" and "port" of "http://host:port" (port 80 when it has none) */

static void
ngx_voicegw_host_port(ngx_voicegw_json_t *j, u_char *url)
{
    u_char     *p, *last, *colon;
    ngx_int_t   port;

    p = url + sizeof("http://") - 1;
    last = url + ngx_strlen(url);

    if (last < p) {
        p = url;
    }

    /* the last ':' after any "]" of an IPv6 address */

    for (colon = last; colon > p; colon--) {
        if (colon[-1] == ':' || colon[-1] == ']') {
            break;
        }
    }

    port = 80;

    if (colon > p && colon[-1] == ':') {
        port = ngx_atoi(colon, last - colon);
        last = colon - 1;
    }

    ngx_voicegw_json_key(j, "host");
    ngx_voicegw_json_strn(j, p, last - p);
    ngx_voicegw_json_key(j, "port");

    if (port == NGX_ERROR) {
        ngx_voicegw_json_null(j);

    } else {
        ngx_voicegw_json_int(j, port);
    }
}


/* the original's WorkerInfo fields, and its state word as "state" */

void
ngx_voicegw_api_frontend_worker(ngx_voicegw_json_t *j,
    ngx_voicegw_worker_view_t *w)
{
    ngx_voicegw_json_key(j, "state");
    ngx_voicegw_json_str(j, ngx_voicegw_state_word(w));
    ngx_voicegw_json_key(j, "worker_id");
    ngx_voicegw_worker_id(j, w);

    ngx_voicegw_host_port(j, w->url);

    ngx_voicegw_json_key(j, "gpu_id");
    ngx_voicegw_json_int(j, w->index);
    ngx_voicegw_json_key(j, "total_requests");
    ngx_voicegw_json_int(j, w->served);
    ngx_voicegw_json_key(j, "avg_inference_time_ms");
    ngx_voicegw_json_fixed(j, w->served_ok ? (double) w->served_ms
                                             / w->served_ok
                                           : 0.0, 1);
    ngx_voicegw_json_key(j, "last_heartbeat");
    ngx_voicegw_json_time(j, w->checked_at);
    ngx_voicegw_json_key(j, "current_request_type");

    if (w->ticket) {
        ngx_voicegw_request_type(j, w->task_type);

    } else {
        ngx_voicegw_json_null(j);
    }

    ngx_voicegw_json_key(j, "task_started_at");
    ngx_voicegw_json_time(j, w->ticket ? w->busy_since : 0);
}


/*
 * "running_tasks": every worker busy with one of our tasks, with the time
 * its task may still take: max(0, estimate - elapsed), as the original
 * answers it (the queue's ETA counts an overrun task as 15 s instead).
 */

static void
ngx_voicegw_running_tasks(ngx_voicegw_json_t *j,
    ngx_voicegw_snapshot_t *snap)
{
    double                      elapsed, left;
    ngx_uint_t                  i;
    ngx_voicegw_worker_view_t  *w;

    ngx_voicegw_json_key(j, "running_tasks");
    ngx_voicegw_json_array_open(j);

    w = snap->workers;

    for (i = 0; i < snap->nworkers; i++) {
        if (w[i].ticket == 0) {
            continue;
        }

        elapsed = w[i].busy_ms / 1000.0;
        left = ngx_voicegw_eta_estimate(&snap->eta, w[i].task_type)
               - elapsed;

        ngx_voicegw_json_map_open(j);
        ngx_voicegw_json_key(j, "worker_id");
        ngx_voicegw_worker_id(j, &w[i]);
        ngx_voicegw_json_key(j, "request_type");
        ngx_voicegw_request_type(j, w[i].task_type);
        ngx_voicegw_json_key(j, "started_at");
        ngx_voicegw_json_time(j, w[i].busy_since);
        ngx_voicegw_json_key(j, "elapsed_s");
        ngx_voicegw_json_fixed(j, elapsed, 1);
        ngx_voicegw_json_key(j, "estimated_remaining_s");
        ngx_voicegw_json_fixed(j, left > 0 ? left : 0.0, 1);

        ngx_voicegw_json_key(j, "session_id");
        ngx_voicegw_json_strn(j, w[i].session, w[i].session_len);
        ngx_voicegw_json_key(j, "pool");
        ngx_voicegw_json_cstr(j, (char *) snap->pools[w[i].pool].name);
        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_array_close(j);
}


/* /status: the original's counts beside the seed's, and running_tasks */

void
ngx_voicegw_api_frontend_status(ngx_voicegw_json_t *j,
    ngx_voicegw_snapshot_t *snap)
{
    ngx_uint_t                  i, k, duplex, paused;
    ngx_voicegw_worker_view_t  *w;

    duplex = 0;
    paused = 0;
    w = snap->workers;

    for (i = 0; i < snap->nworkers; i++) {
        if (w[i].state != NGX_VOICEGW_WORKER_BUSY) {
            continue;
        }

        k = ngx_voicegw_busy_word(&w[i]);

        if (k == NGX_VOICEGW_DUPLEX_ACTIVE || k == NGX_VOICEGW_DUPLEX_PAUSED) {
            duplex++;
        }

        if (k == NGX_VOICEGW_DUPLEX_PAUSED) {
            paused++;
        }
    }

    ngx_voicegw_json_key(j, "gateway_healthy");
    ngx_voicegw_json_bool(j, 1);
    ngx_voicegw_json_key(j, "duplex_workers");
    ngx_voicegw_json_int(j, duplex);
    ngx_voicegw_json_key(j, "paused_workers");
    ngx_voicegw_json_int(j, paused);

    ngx_voicegw_running_tasks(j, snap);
}


/*
 * /api/queue: max_queue_size, items[] and running_tasks[].  items[] lists
 * the seed's entries[] again (the answer grows from about 160 to 340
 * bytes a ticket), so it holds only the original's fields: the pool of
 * each is in entries[], in the same order.
 */

void
ngx_voicegw_api_frontend_queue(ngx_voicegw_json_t *j,
    ngx_voicegw_snapshot_t *snap)
{
    ngx_uint_t                 i, queue_max;
    ngx_voicegw_entry_view_t  *e;

    queue_max = 0;

    for (i = 0; i < snap->npools; i++) {
        queue_max += snap->pools[i].queue_max;
    }

    ngx_voicegw_json_key(j, "max_queue_size");
    ngx_voicegw_json_int(j, queue_max);

    ngx_voicegw_json_key(j, "items");
    ngx_voicegw_json_array_open(j);

    e = snap->entries;

    for (i = 0; i < snap->nentries; i++) {
        ngx_voicegw_json_map_open(j);
        ngx_voicegw_json_key(j, "ticket_id");
        ngx_voicegw_json_hex(j, "tk_", e[i].id);
        ngx_voicegw_json_key(j, "request_type");
        ngx_voicegw_request_type(j, e[i].task_type);
        ngx_voicegw_json_key(j, "session_id");
        ngx_voicegw_json_strn(j, e[i].session, e[i].session_len);
        ngx_voicegw_json_key(j, "position");
        ngx_voicegw_json_int(j, e[i].position);
        ngx_voicegw_json_key(j, "estimated_wait_s");
        ngx_voicegw_json_fixed(j, e[i].eta, 1);

        ngx_voicegw_json_key(j, "enqueued_at");
        ngx_voicegw_json_time(j, e[i].enqueued);
        ngx_voicegw_json_key(j, "wait_elapsed_s");
        ngx_voicegw_json_fixed(j, e[i].wait_ms / 1000.0, 1);
        ngx_voicegw_json_map_close(j);
    }

    ngx_voicegw_json_array_close(j);

    ngx_voicegw_running_tasks(j, snap);
}
