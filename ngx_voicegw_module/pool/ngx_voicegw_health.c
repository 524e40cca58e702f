
/*
 * ngx_voicegw_health.c
 *
 * Owns the health of the inference workers.
 *
 * Every nginx process ticks twice a second, but only the one holding the
 * health lease in the shared zone checks the workers (GET health_uri every
 * health_interval, health_timeout for the answer) and sweeps the queues
 * for dead processes; when it dies or exits, another takes the lease over
 * within a few seconds.  Any process may check one worker at once: after
 * a task that ended from the worker's side (it may have died), the worker
 * is not handed out again until a check says it is idle.
 *
 *   200 with "worker_status": "idle"       idle (no "worker_status": idle)
 *   200 with "loading"                     loading
 *   200 with a busy value                  busy, not dispatched by us
 *   200 with another value, non-200, junk  error
 *   refused, timed out, closed unanswered  offline
 *
 * While the gateway has a task on a worker, a report of idle does not free
 * it: only the end of the task does.  For a few seconds after our task
 * ends, a report of busy means the worker has not caught up yet: it keeps
 * its cache and is asked again every 100 ms.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_clock.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_fetch.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_health.h"


#define NGX_VOICEGW_HEALTH_TICK     500
#define NGX_VOICEGW_HEALTH_LEASE    3000
#define NGX_VOICEGW_HEALTH_RECHECK  100


typedef struct {
    ngx_voicegw_pools_t         *vp;
    ngx_voicegw_pool_conf_t     *pcf;
    ngx_uint_t                   index;
} ngx_voicegw_check_t;


typedef struct {
    ngx_event_t                  ev;
    ngx_queue_t                  link;
    ngx_voicegw_pools_t         *vp;
    ngx_voicegw_pool_conf_t     *pcf;
    ngx_uint_t                   index;
} ngx_voicegw_recheck_t;


static void ngx_voicegw_health_tick(ngx_event_t *ev);
static void ngx_voicegw_health_recheck(ngx_voicegw_pools_t *vp,
    ngx_voicegw_pool_conf_t *pcf, ngx_uint_t index);
static void ngx_voicegw_health_recheck_handler(ngx_event_t *ev);
static void ngx_voicegw_health_check(ngx_voicegw_pools_t *vp,
    ngx_voicegw_pool_conf_t *pcf, ngx_uint_t index);
static void ngx_voicegw_health_done(ngx_voicegw_fetch_t *f);


/* what a worker's "worker_status" says; any "busy..." is busy too */

static ngx_conf_enum_t  ngx_voicegw_health_reports[] = {
    { ngx_string("idle"), NGX_VOICEGW_WORKER_IDLE },
    { ngx_string("loading"), NGX_VOICEGW_WORKER_LOADING },
    { ngx_string("duplex_active"), NGX_VOICEGW_WORKER_BUSY },
    { ngx_string("duplex_paused"), NGX_VOICEGW_WORKER_BUSY },
    { ngx_null_string, 0 }
};


ngx_int_t
ngx_voicegw_health_init_process(ngx_cycle_t *cycle, ngx_voicegw_pools_t *vp)
{
    ngx_uint_t                 i;
    ngx_voicegw_pool_conf_t  **pcf;

    pcf = vp->pools.elts;

    for (i = 0; i < vp->pools.nelts; i++) {
        pcf[i]->inflight = ngx_pcalloc(cycle->pool, pcf[i]->workers.nelts
                                                    * sizeof(ngx_uint_t));
        if (pcf[i]->inflight == NULL) {
            return NGX_ERROR;
        }
    }

    vp->proc->health.handler = ngx_voicegw_health_tick;
    vp->proc->health.data = vp;
    vp->proc->health.log = cycle->log;
    vp->proc->health.cancelable = 1;

    /* at once: a new process may replace one that died */

    ngx_add_timer(&vp->proc->health, 1);

    return NGX_OK;
}


static void
ngx_voicegw_health_tick(ngx_event_t *ev)
{
    ngx_voicegw_pools_t  *vp = ev->data;

    uint64_t                   now;
    ngx_uint_t                 i, k, holder, due[NGX_VOICEGW_MAX_WORKERS];
    ngx_uint_t                 ndue;
    ngx_voicegw_queue_sh_t    *q;
    ngx_voicegw_pool_conf_t  **pcf;
    ngx_voicegw_worker_sh_t   *w;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    q = vp->sh;
    pcf = vp->pools.elts;
    now = ngx_voicegw_mono_msec();

    ngx_voicegw_zone_lock(vp->zone);

    holder = (q->health_pid == ngx_pid || q->health_until < now);

    if (!holder && kill(q->health_pid, 0) == -1 && ngx_errno == NGX_ESRCH) {
        holder = 1;
    }

    if (holder) {
        if (q->health_pid != ngx_pid) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                           "voicegw: this process takes the health lease");
        }

        q->health_pid = ngx_pid;
        q->health_until = now + NGX_VOICEGW_HEALTH_LEASE;

        ngx_voicegw_queue_sweep_locked(vp);
    }

    for (i = 0; i < vp->pools.nelts; i++) {
        ndue = 0;

        for (k = 0; k < pcf[i]->workers.nelts; k++) {
            w = ngx_voicegw_queue_worker_locked(pcf[i], k);

            if (w == NULL || pcf[i]->inflight[k]) {
                continue;
            }

            if (w->probe
                || (holder
                    && w->checked_mono + pcf[i]->health_interval <= now))
            {
                due[ndue++] = k;
            }
        }

        /* start them after the lock: this pool's list, then the next */

        if (ndue) {
            ngx_voicegw_zone_unlock(vp->zone);

            for (k = 0; k < ndue; k++) {
                ngx_voicegw_health_check(vp, pcf[i], due[k]);
            }

            ngx_voicegw_zone_lock(vp->zone);
        }
    }

    ngx_voicegw_zone_unlock(vp->zone);

    ngx_add_timer(ev, NGX_VOICEGW_HEALTH_TICK);
}


/* a check of one worker now, from this process */

void
ngx_voicegw_health_probe(ngx_voicegw_pools_t *vp,
    ngx_voicegw_pool_conf_t *pcf, u_char *url)
{
    size_t                      len;
    ngx_uint_t                  i;
    ngx_voicegw_worker_conf_t  *wcf;

    if (ngx_exiting || ngx_terminate || ngx_quit || pcf->inflight == NULL) {
        return;
    }

    wcf = pcf->workers.elts;
    len = ngx_strlen(url);

    for (i = 0; i < pcf->workers.nelts; i++) {
        if (wcf[i].url.len == len
            && ngx_strncmp(wcf[i].url.data, url, len) == 0)
        {
            if (!pcf->inflight[i]) {
                ngx_voicegw_health_check(vp, pcf, i);
            }

            return;
        }
    }
}


static void
ngx_voicegw_health_check(ngx_voicegw_pools_t *vp,
    ngx_voicegw_pool_conf_t *pcf, ngx_uint_t index)
{
    u_char                     *p;
    ngx_voicegw_fetch_t        *f;
    ngx_voicegw_check_t        *check;
    ngx_voicegw_worker_conf_t  *wcf;

    wcf = &((ngx_voicegw_worker_conf_t *) pcf->workers.elts)[index];

    f = ngx_voicegw_fetch_create(ngx_cycle->log, &vp->proc->fetches);
    if (f == NULL) {
        return;
    }

    check = ngx_palloc(f->pool, sizeof(ngx_voicegw_check_t));

    p = ngx_pnalloc(f->pool, pcf->health_uri.len + wcf->host.len + 128);

    if (check == NULL || p == NULL) {
        ngx_queue_remove(&f->link);
        ngx_destroy_pool(f->pool);
        return;
    }

    check->vp = vp;
    check->pcf = pcf;
    check->index = index;

    f->request.data = p;
    f->request.len = ngx_sprintf(p, "GET %V HTTP/1.0\r\n"
                                    "Host: %V\r\n"
                                    "User-Agent: ngx_voicegw/"
                                    NGX_VOICEGW_VERSION "\r\n"
                                    "Connection: close\r\n\r\n",
                                 &pcf->health_uri, &wcf->host)
                     - p;

    f->sockaddr = wcf->sockaddr;
    f->socklen = wcf->socklen;
    f->name = wcf->host;
    f->timeout = pcf->health_timeout;
    f->done = ngx_voicegw_health_done;
    f->data = check;

    pcf->inflight[index] = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "voicegw: health check of %V in pool \"%V\"",
                   &wcf->host, &pcf->name);

    ngx_voicegw_fetch_start(f);
}


/* a check of one worker again in a moment, from this process */

static void
ngx_voicegw_health_recheck(ngx_voicegw_pools_t *vp,
    ngx_voicegw_pool_conf_t *pcf, ngx_uint_t index)
{
    ngx_voicegw_recheck_t  *rc;

    if (ngx_exiting) {
        return;
    }

    rc = ngx_alloc(sizeof(ngx_voicegw_recheck_t), ngx_cycle->log);
    if (rc == NULL) {
        return;
    }

    ngx_memzero(rc, sizeof(ngx_voicegw_recheck_t));

    rc->vp = vp;
    rc->pcf = pcf;
    rc->index = index;
    rc->ev.handler = ngx_voicegw_health_recheck_handler;
    rc->ev.data = rc;
    rc->ev.log = ngx_cycle->log;
    rc->ev.cancelable = 1;

    ngx_queue_insert_tail(&vp->proc->rechecks, &rc->link);

    ngx_add_timer(&rc->ev, NGX_VOICEGW_HEALTH_RECHECK);
}


static void
ngx_voicegw_health_recheck_handler(ngx_event_t *ev)
{
    ngx_voicegw_recheck_t  *rc = ev->data;

    ngx_queue_remove(&rc->link);

    if (!ngx_exiting && !rc->pcf->inflight[rc->index]) {
        ngx_voicegw_health_check(rc->vp, rc->pcf, rc->index);
    }

    ngx_free(rc);
}


/* at exit; the process state was set up empty, so this is always safe */

void
ngx_voicegw_health_exit_process(ngx_voicegw_pools_t *vp)
{
    ngx_queue_t            *q;
    ngx_voicegw_recheck_t  *rc;

    while (!ngx_queue_empty(&vp->proc->rechecks)) {
        q = ngx_queue_head(&vp->proc->rechecks);
        rc = ngx_queue_data(q, ngx_voicegw_recheck_t, link);

        ngx_queue_remove(q);

        if (rc->ev.timer_set) {
            ngx_del_timer(&rc->ev);
        }

        ngx_free(rc);
    }

    if (vp->proc->health.timer_set) {
        ngx_del_timer(&vp->proc->health);
    }
}


ngx_uint_t
ngx_voicegw_health_state(ngx_uint_t http_status, ngx_str_t *ws)
{
    ngx_uint_t  state;

    if (http_status != 200) {
        return NGX_VOICEGW_WORKER_ERROR;
    }

    if (ws == NULL) {
        return NGX_VOICEGW_WORKER_IDLE;
    }

    if (ngx_voicegw_enum_value(ngx_voicegw_health_reports, ws, &state)
        == NGX_OK)
    {
        return state;
    }

    if (ws->len >= 4 && ngx_strncmp(ws->data, "busy", 4) == 0) {
        return NGX_VOICEGW_WORKER_BUSY;
    }

    return NGX_VOICEGW_WORKER_ERROR;
}


static void
ngx_voicegw_health_done(ngx_voicegw_fetch_t *f)
{
    ngx_voicegw_check_t  *check = f->data;

    u_char                     err[64];
    ngx_str_t                  reported, *ws;
    uint64_t                   now;
    ngx_uint_t                 state, old, level, ours;
    ngx_voicegw_pools_t       *vp;
    ngx_voicegw_pool_conf_t   *pcf;
    ngx_voicegw_worker_sh_t   *w;
    ngx_voicegw_json_value_t  *root, *v;

    vp = check->vp;
    pcf = check->pcf;
    pcf->inflight[check->index] = 0;

    ngx_str_null(&reported);

    switch (f->outcome) {

    case NGX_VOICEGW_FETCH_OK:
        ws = NULL;

        if (f->status == 200) {
            if (ngx_voicegw_json_parse(f->pool, f->body.data, f->body.len,
                                       &root, err, sizeof(err))
                != NGX_OK
                || root->type != NGX_VOICEGW_JSON_OBJECT)
            {
                state = NGX_VOICEGW_WORKER_ERROR;
                ngx_str_set(&reported, "(not JSON)");
                break;
            }

            v = ngx_voicegw_json_get(root, "worker_status");

            if (v != NULL && v->type == NGX_VOICEGW_JSON_STRING) {
                ws = &v->str;
                reported = v->str;

            } else if (v != NULL) {
                state = NGX_VOICEGW_WORKER_ERROR;
                break;
            }
        }

        state = ngx_voicegw_health_state(f->status, ws);
        break;

    case NGX_VOICEGW_FETCH_FAILED:
        state = NGX_VOICEGW_WORKER_ERROR;
        break;

    default: /* refused, timed out, closed without an answer */
        state = NGX_VOICEGW_WORKER_OFFLINE;
    }

    now = ngx_voicegw_mono_msec();

    ngx_voicegw_zone_lock(vp->zone);

    w = ngx_voicegw_queue_worker_locked(pcf, check->index);

    if (w == NULL) {
        ngx_voicegw_zone_unlock(vp->zone);
        return;
    }

    if (state == NGX_VOICEGW_WORKER_BUSY && w->ticket == 0
        && now < w->settling)
    {
        /*
         * Our task just ended and the worker has not caught up yet (a
         * WebSocket server closes before it marks itself idle): not
         * someone else's work.  Keep its cache, ask again shortly.
         */

        w->probe = 1;
        w->checked_at = ngx_voicegw_now_msec();
        w->checked_mono = now;

        ngx_voicegw_zone_unlock(vp->zone);

        ngx_voicegw_health_recheck(vp, pcf, check->index);
        return;
    }

    old = w->health;

    if (old != state) {
        ngx_voicegw_queue_changed(vp);
    }

    w->health = state;
    w->checked_at = ngx_voicegw_now_msec();
    w->checked_mono = now;
    w->probe = 0;
    w->settling = 0;

    reported.len = ngx_min(reported.len, sizeof(w->reported) - 1);
    ngx_memcpy(w->reported, reported.data, reported.len);
    w->reported[reported.len] = '\0';

    if (state != NGX_VOICEGW_WORKER_IDLE) {
        /* what its cache held is not to be trusted any more */
        ngx_memzero(&w->cache, sizeof(ngx_voicegw_affinity_t));
    }

    if (state == NGX_VOICEGW_WORKER_IDLE && w->ticket == 0) {
        ngx_voicegw_queue_grant_locked(vp, pcf->sh);
    }

    /* busy with a task of ours: what is expected, not a warning */
    ours = (state == NGX_VOICEGW_WORKER_BUSY && w->ticket != 0);

    ngx_voicegw_zone_unlock(vp->zone);

    if (old != state) {
        level = (state == NGX_VOICEGW_WORKER_IDLE) ? NGX_LOG_NOTICE
                : ours ? NGX_LOG_INFO : NGX_LOG_WARN;

        ngx_log_error(level, ngx_cycle->log, 0,
                      "voicegw: worker %V of pool \"%V\" is %V",
                      &f->name, &pcf->name,
                      &ngx_voicegw_worker_states[state].name);
    }
}
