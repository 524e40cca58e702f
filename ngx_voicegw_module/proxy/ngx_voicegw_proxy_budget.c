
/*
 * ngx_voicegw_proxy_budget.c
 *
 * Owns the daily budgets of provider calls: what each project has spent
 * today (UTC) and what its calls under way are expected to cost, kept in
 * the zone ("budget" part) so that every nginx process sees the same
 * figures, and started from the store's daily rollup when the gateway
 * starts (kept over a reload).
 *
 * Before a call of a project with a daily budget is proxied it reserves
 * its estimated cost: a "block" project whose spend and reservations have
 * reached the budget is refused (429 budget_exceeded).  After the call its
 * reservation is replaced by its real cost, exactly once (the log phase,
 * else the request pool's cleanup).  The estimate is the larger of what
 * the request itself prices at (characters, a WAV upload's length) and
 * the latest cost of the same model; a call with no estimate at all (the
 * first of its model) runs alone: the project's other calls without an
 * estimate wait for it.  So a block budget ends at most one call's cost
 * over.
 *
 * A "warn" project is never refused: its answers say where it stands
 * (X-VoiceGW-Budget: warning from 80 %, exceeded from 100 %).
 *
 * A process killed with calls under way (kill -9) never settles them:
 * each process therefore keeps, in its process slot of the zone, its own
 * share of every project's reservations, and that share is taken back
 * when the process is found gone: by the next process nginx starts in
 * its slot, and before any call is refused, warned or held back (dead
 * owners are looked for with kill(pid, 0), as the pools' sweep does).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_record.h"
#include "ngx_voicegw_proxy.h"


#define NGX_VOICEGW_BUDGET_PROJECTS  1024
#define NGX_VOICEGW_BUDGET_MODELS    512
#define NGX_VOICEGW_BUDGET_PROCS     64      /* process slots with a share */
#define NGX_VOICEGW_BUDGET_HOLDS     32      /* projects in one share */
#define NGX_VOICEGW_BUDGET_NOTHING   1e-9    /* USD: a share's zero */
#define NGX_VOICEGW_BUDGET_RETRY     20      /* ms, a call without estimate */
#define NGX_VOICEGW_BUDGET_WAIT      60000   /* ms, then it goes anyway */


typedef struct {
    uint32_t                     hash;       /* 0: free */
    u_char                       id[NGX_VOICEGW_RECORD_ID_LEN + 1];
    time_t                       day;        /* of "spend": its 00:00 UTC */
    double                       spend;      /* settled */
    double                       reserved;   /* calls under way */
    uint32_t                     blind;      /* ... with no estimate */
} ngx_voicegw_budget_project_t;


typedef struct {
    uint32_t                     hash;
    u_char                       id[NGX_VOICEGW_RECORD_MODEL_LEN + 1];
    double                       cost;       /* of its latest calls */
} ngx_voicegw_budget_model_t;


/* one process's part of a project's reservations */

typedef struct {
    uint32_t                     project;    /* index in projects[] */
    uint32_t                     blind;
    double                       reserved;
} ngx_voicegw_budget_hold_t;


typedef struct {
    ngx_pid_t                    pid;        /* 0: nobody's */
    ngx_uint_t                   nholds;
    ngx_voicegw_budget_hold_t    holds[NGX_VOICEGW_BUDGET_HOLDS];
} ngx_voicegw_budget_share_t;


typedef struct {
    ngx_voicegw_budget_project_t projects[NGX_VOICEGW_BUDGET_PROJECTS];
    ngx_voicegw_budget_model_t   models[NGX_VOICEGW_BUDGET_MODELS];
    ngx_voicegw_budget_share_t   shares[NGX_VOICEGW_BUDGET_PROCS];
} ngx_voicegw_budget_sh_t;


#define ngx_voicegw_budget_project(sh, id, add)                              \
    ((ngx_voicegw_budget_project_t *)                                        \
     ngx_voicegw_budget_slot((u_char *) (sh)->projects,                     \
                             sizeof(ngx_voicegw_budget_project_t),           \
                             NGX_VOICEGW_BUDGET_PROJECTS,                    \
                             NGX_VOICEGW_RECORD_ID_LEN, id, add))

#define ngx_voicegw_budget_model(sh, id, add)                                \
    ((ngx_voicegw_budget_model_t *)                                          \
     ngx_voicegw_budget_slot((u_char *) (sh)->models,                       \
                             sizeof(ngx_voicegw_budget_model_t),             \
                             NGX_VOICEGW_BUDGET_MODELS,                      \
                             NGX_VOICEGW_RECORD_MODEL_LEN, id, add))


struct ngx_voicegw_budget_s {
    ngx_voicegw_zone_t          *zone;
    ngx_voicegw_store_t         *store;
    ngx_voicegw_budget_sh_t     *sh;
};


static ngx_int_t ngx_voicegw_budget_init_zone(ngx_voicegw_zone_t *zone,
    void *data, ngx_uint_t reused);
static void *ngx_voicegw_budget_slot(u_char *slots, size_t size,
    ngx_uint_t nslots, size_t max, ngx_str_t *id, ngx_uint_t add);
static void ngx_voicegw_budget_today(ngx_voicegw_budget_project_t *p);
static void ngx_voicegw_budget_hold(ngx_voicegw_budget_sh_t *sh,
    ngx_voicegw_budget_project_t *p, double reserved, ngx_int_t blind);
static void ngx_voicegw_budget_sweep(ngx_voicegw_budget_sh_t *sh);
static void ngx_voicegw_budget_release(ngx_voicegw_budget_sh_t *sh,
    ngx_voicegw_budget_share_t *share);
static void ngx_voicegw_budget_retry(ngx_event_t *ev);
static void ngx_voicegw_budget_cleanup(void *data);


/* at configuration: the zone part, once per configuration */

ngx_int_t
ngx_voicegw_proxy_budget_conf(ngx_conf_t *cf, ngx_voicegw_main_conf_t *vmcf)
{
    ngx_voicegw_budget_t  *b;

    if (vmcf->budget != NULL || vmcf->zone == NULL) {
        return NGX_OK;
    }

    b = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_budget_t));
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->zone = vmcf->zone;
    b->store = vmcf->store;
    vmcf->budget = b;

    return ngx_voicegw_zone_on_init(vmcf->zone, ngx_voicegw_budget_init_zone,
                                    b);
}


static ngx_int_t
ngx_voicegw_budget_init_zone(ngx_voicegw_zone_t *zone, void *data,
    ngx_uint_t reused)
{
    ngx_voicegw_budget_t  *b = data;

    ngx_uint_t                     i;
    ngx_voicegw_spend_t           *s;
    ngx_voicegw_budget_sh_t       *sh;
    ngx_voicegw_budget_project_t  *p;

    sh = ngx_voicegw_zone_part_locked(zone, "budget",
                                      sizeof(ngx_voicegw_budget_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    b->sh = sh;

    if (reused || b->store == NULL) {
        return NGX_OK;
    }

    /* a start: today's spend from the store */

    s = b->store->spend.elts;

    for (i = 0; i < b->store->spend.nelts; i++) {
        p = ngx_voicegw_budget_project(sh, &s[i].project, 1);

        if (p != NULL) {
            p->day = b->store->spend_day;
            p->spend = s[i].cost_usd;
        }
    }

    return NGX_OK;
}


/*
 * Before the call: NGX_OK (it goes on, reserved), NGX_DECLINED (a block
 * budget is spent: refused), NGX_AGAIN ("again" runs when the call may
 * go on; the caller returns NGX_DONE).
 */

ngx_int_t
ngx_voicegw_proxy_budget_reserve(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx, ngx_voicegw_project_view_t *project,
    double estimate, ngx_voicegw_budget_again_pt again)
{
    double                         used;
    ngx_str_t                      model;
    ngx_event_t                   *ev;
    ngx_pool_cleanup_t            *cln;
    ngx_voicegw_budget_t          *b;
    ngx_voicegw_budget_model_t    *m;
    ngx_voicegw_budget_project_t  *p;

    b = ctx->vmcf->budget;

    if (b == NULL || b->sh == NULL || project->daily_budget <= 0) {
        return NGX_OK;
    }

    if (!ctx->budget_cleanup) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_voicegw_budget_cleanup;
        cln->data = ctx;
        ctx->budget_cleanup = 1;
    }

    model = ctx->record_model;

    ngx_voicegw_zone_lock(b->zone);

    p = ngx_voicegw_budget_project(b->sh, &ctx->project, 1);

    if (p == NULL) {
        /* a full table: the budget is not kept for this project */
        ngx_voicegw_zone_unlock(b->zone);
        return NGX_OK;
    }

    ngx_voicegw_budget_today(p);

    m = ngx_voicegw_budget_model(b->sh, &model, 0);

    if (m != NULL && m->cost > estimate) {
        estimate = m->cost;
    }

    used = p->spend + p->reserved;

    if (used >= 0.8 * project->daily_budget
        || (estimate <= 0 && p->blind && !ctx->websocket))
    {
        /* not a plain yes: calls of dead processes must not count */
        ngx_voicegw_budget_sweep(b->sh);
        used = p->spend + p->reserved;
    }

    ctx->budget_state = used >= project->daily_budget ? 2
                        : used >= 0.8 * project->daily_budget ? 1 : 0;

    if (!project->block) {
        /* a warning, never a refusal: reserved all the same, so that the
           next call sees this one before its log phase settles it */
        ngx_voicegw_budget_hold(b->sh, p, estimate, 0);
        ngx_voicegw_zone_unlock(b->zone);

        ctx->budget_reserved = estimate;
        ctx->budget_held = 1;

        return NGX_OK;
    }

    if (used >= project->daily_budget) {
        ngx_voicegw_zone_unlock(b->zone);
        return NGX_DECLINED;
    }

    /* a WebSocket session is priced as it goes: never blind */

    if (estimate <= 0 && p->blind && !ctx->websocket
        && ngx_current_msec - ctx->start < NGX_VOICEGW_BUDGET_WAIT)
    {
        /* another call with no estimate is under way: its cost will be */
        ngx_voicegw_zone_unlock(b->zone);

        ev = &ctx->budget_ev;
        ev->handler = ngx_voicegw_budget_retry;
        ev->data = r;
        ev->log = r->connection->log;
        ctx->budget_again = again;

        ngx_add_timer(ev, NGX_VOICEGW_BUDGET_RETRY);

        return NGX_AGAIN;
    }

    ctx->budget_blind = (estimate <= 0 && !ctx->websocket);

    ngx_voicegw_budget_hold(b->sh, p, estimate, ctx->budget_blind);

    ngx_voicegw_zone_unlock(b->zone);

    ctx->budget_reserved = estimate;
    ctx->budget_held = 1;

    return NGX_OK;
}


static void
ngx_voicegw_budget_retry(ngx_event_t *ev)
{
    ngx_http_request_t  *r = ev->data;

    ngx_connection_t         *c;
    ngx_voicegw_proxy_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_proxy_module);

    ngx_http_set_log_request(c->log, r);

    ngx_http_finalize_request(r, ctx->budget_again(r, ctx));
    ngx_http_run_posted_requests(c);
}


/*
 * After the call, with its real cost (or 0 when it never went): the
 * reservation goes, the cost is spent, the model's cost is learned.
 */

void
ngx_voicegw_proxy_budget_settle(ngx_voicegw_proxy_ctx_t *ctx, double cost,
    ngx_str_t *model)
{
    ngx_voicegw_budget_t          *b;
    ngx_voicegw_budget_model_t    *m;
    ngx_voicegw_budget_project_t  *p;

    if (ctx->budget_ev.timer_set) {
        ngx_del_timer(&ctx->budget_ev);
    }

    b = ctx->vmcf->budget;

    if (b == NULL || b->sh == NULL || (!ctx->budget_held && model == NULL)) {
        return;
    }

    ngx_voicegw_zone_lock(b->zone);

    p = ngx_voicegw_budget_project(b->sh, &ctx->project, model != NULL);

    if (p != NULL) {
        ngx_voicegw_budget_today(p);

        if (ctx->budget_held) {
            ngx_voicegw_budget_hold(b->sh, p, -ctx->budget_reserved,
                                    -(ngx_int_t) ctx->budget_blind);
        }

        p->spend += cost;
    }

    if (model && cost > 0) {
        m = ngx_voicegw_budget_model(b->sh, model, 1);

        if (m != NULL) {
            /* a rise is taken at once, a fall slowly */
            m->cost = cost > m->cost ? cost : 0.9 * m->cost + 0.1 * cost;
        }
    }

    ngx_voicegw_zone_unlock(b->zone);

    ctx->budget_held = 0;
}


/*
 * A WebSocket session under way: its reservation becomes what it has cost
 * so far and not yet settled.  Returns the budget state (0, 1 warning, 2
 * a block budget passed: the session must end); *headroom: what the
 * project may still spend (-1: no limit).
 */

ngx_uint_t
ngx_voicegw_proxy_budget_running(ngx_voicegw_proxy_ctx_t *ctx, double cost,
    double *headroom)
{
    double                         used, budget;
    ngx_uint_t                     state;
    ngx_voicegw_budget_t          *b;
    ngx_voicegw_budget_project_t  *p;

    *headroom = -1;

    b = ctx->vmcf->budget;
    budget = ctx->project_view.daily_budget;

    if (b == NULL || b->sh == NULL || !ctx->budget_held || budget <= 0) {
        return 0;
    }

    ngx_voicegw_zone_lock(b->zone);

    p = ngx_voicegw_budget_project(b->sh, &ctx->project, 0);

    if (p == NULL) {
        ngx_voicegw_zone_unlock(b->zone);
        return 0;
    }

    ngx_voicegw_budget_today(p);

    ngx_voicegw_budget_hold(b->sh, p, cost - ctx->budget_reserved, 0);

    ctx->budget_reserved = cost;

    used = p->spend + p->reserved;

    ngx_voicegw_zone_unlock(b->zone);

    *headroom = budget - used;

    state = (used > budget) ? 2 : (used >= 0.8 * budget) ? 1 : 0;

    return (state == 2 && !ctx->project_view.block) ? 1 : state;
}


/* an interim record of a session: that much of its cost is spent */

void
ngx_voicegw_proxy_budget_settle_part(ngx_voicegw_proxy_ctx_t *ctx,
    double cost)
{
    ngx_voicegw_budget_t          *b;
    ngx_voicegw_budget_project_t  *p;

    b = ctx->vmcf->budget;

    if (b == NULL || b->sh == NULL || !ctx->budget_held) {
        return;
    }

    ngx_voicegw_zone_lock(b->zone);

    p = ngx_voicegw_budget_project(b->sh, &ctx->project, 0);

    if (p != NULL) {
        ngx_voicegw_budget_today(p);

        ngx_voicegw_budget_hold(b->sh, p,
                                -ngx_min(cost, ctx->budget_reserved), 0);

        p->spend += cost;
    }

    ngx_voicegw_zone_unlock(b->zone);

    ctx->budget_reserved -= ngx_min(cost, ctx->budget_reserved);
}


/* a request that ends without the log phase having settled it */

static void
ngx_voicegw_budget_cleanup(void *data)
{
    ngx_voicegw_proxy_ctx_t  *ctx = data;

    ngx_voicegw_proxy_budget_settle(ctx, 0, NULL);
}


/*
 * A change of a project's reservations by a call of this process: the
 * project's figures and this process's share of them.  The first change
 * of a process in its slot takes back the share of the process that had
 * the slot before (nginx gives a slot to a new process only once the old
 * one is gone: a worker killed with SIGKILL is replaced in its own slot).
 * Without a slot or room in it, the change is the project's alone.
 */

static void
ngx_voicegw_budget_hold(ngx_voicegw_budget_sh_t *sh,
    ngx_voicegw_budget_project_t *p, double reserved, ngx_int_t blind)
{
    uint32_t                     index;
    ngx_uint_t                   i;
    ngx_voicegw_budget_hold_t   *h;
    ngx_voicegw_budget_share_t  *share;

    p->reserved += reserved;

    if (p->reserved < 0) {
        p->reserved = 0;
    }

    if (blind > 0 || (ngx_uint_t) -blind <= p->blind) {
        p->blind += blind;
    }

    if (ngx_process_slot < 0 || ngx_process_slot >= NGX_VOICEGW_BUDGET_PROCS)
    {
        return;
    }

    share = &sh->shares[ngx_process_slot];

    if (share->pid != ngx_pid) {
        ngx_voicegw_budget_release(sh, share);
        share->pid = ngx_pid;
    }

    index = p - sh->projects;

    for (i = 0; i < share->nholds; i++) {
        if (share->holds[i].project == index) {
            break;
        }
    }

    if (i == share->nholds) {
        if (i == NGX_VOICEGW_BUDGET_HOLDS || reserved < 0 || blind < 0) {
            return;
        }

        share->holds[i].project = index;
        share->holds[i].blind = 0;
        share->holds[i].reserved = 0;
        share->nholds++;
    }

    h = &share->holds[i];

    h->reserved += reserved;

    if (h->reserved < NGX_VOICEGW_BUDGET_NOTHING) {
        /* what is left of a sum of doubles that went back to zero */
        h->reserved = 0;
    }

    if (blind > 0 || (ngx_uint_t) -blind <= h->blind) {
        h->blind += blind;
    }

    if (h->reserved == 0 && h->blind == 0) {
        /* settled: the slot goes to the share's last project */
        *h = share->holds[--share->nholds];
    }
}


/* the shares of processes that are gone go back */

static void
ngx_voicegw_budget_sweep(ngx_voicegw_budget_sh_t *sh)
{
    ngx_uint_t                   i;
    ngx_voicegw_budget_share_t  *share;

    for (i = 0; i < NGX_VOICEGW_BUDGET_PROCS; i++) {
        share = &sh->shares[i];

        if (share->nholds && share->pid != ngx_pid
            && kill(share->pid, 0) == -1 && ngx_errno == NGX_ESRCH)
        {
            ngx_voicegw_budget_release(sh, share);
            share->pid = 0;
        }
    }
}


static void
ngx_voicegw_budget_release(ngx_voicegw_budget_sh_t *sh,
    ngx_voicegw_budget_share_t *share)
{
    ngx_uint_t                     i;
    ngx_voicegw_budget_hold_t     *h;
    ngx_voicegw_budget_project_t  *p;

    for (i = 0; i < share->nholds; i++) {
        h = &share->holds[i];
        p = &sh->projects[h->project];

        p->reserved -= h->reserved;

        if (p->reserved < 0) {
            p->reserved = 0;
        }

        p->blind -= ngx_min(h->blind, p->blind);
    }

    if (share->nholds) {
        /* rare: once per process killed with calls under way */
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "voicegw: the budget reservations of dead process %P "
                      "are taken back (calls of %ui projects)",
                      share->pid, share->nholds);
    }

    share->nholds = 0;
}


/* a new UTC day starts from nothing */

static void
ngx_voicegw_budget_today(ngx_voicegw_budget_project_t *p)
{
    time_t  today;

    today = ngx_time() - ngx_time() % 86400;

    if (p->day != today) {
        p->day = today;
        p->spend = 0;
    }
}


/*
 * Open addressing over either table (both start with the hash and the
 * id): the slot of an id, taken for it when "add".
 */

static void *
ngx_voicegw_budget_slot(u_char *slots, size_t size, ngx_uint_t nslots,
    size_t max, ngx_str_t *id, ngx_uint_t add)
{
    u_char      *slot, *sid;
    uint32_t     hash, *shash;
    ngx_uint_t   n;

    if (id->len == 0 || id->len > max) {
        return NULL;
    }

    hash = ngx_crc32_short(id->data, id->len) | 1;

    for (n = 0; n < nslots; n++) {
        slot = slots + (hash + n) % nslots * size;
        shash = (uint32_t *) slot;
        sid = slot + offsetof(ngx_voicegw_budget_model_t, id);

        if (*shash == 0) {
            if (!add) {
                return NULL;
            }

            *shash = hash;
            ngx_memcpy(sid, id->data, id->len);
            sid[id->len] = '\0';

            return slot;
        }

        if (*shash == hash && ngx_strncmp(sid, id->data, id->len) == 0
            && sid[id->len] == '\0')
        {
            return slot;
        }
    }

    return NULL;
}
