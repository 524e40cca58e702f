
/*
 * ngx_voicegw_task.c
 *
 * Owns admission: the precontent-phase handler of "voicegw_task"
 * locations, which runs before proxy_pass.  In order: the app gate (403
 * for a disabled app, before anything is reserved), the session id, the
 * affinity key (cache_key=, or the chat body's messages, read here so
 * that proxy_pass sends it on), then a worker: reserved at once, or a
 * ticket in the pool's queue.
 *
 * A queued request is parked the way limit_req delays one: the phase
 * handler returns NGX_DONE, the read handler watches for the client
 * leaving (ngx_http_test_reading: it finalizes with 499 and our cleanup
 * drops the ticket at once), and a timer enforces queue_timeout.  When a
 * worker is granted to the ticket, in this process or another, the
 * request's wake event runs (posted directly, or after the doorbell
 * rang), restores the normal handlers and runs the phases again; this
 * time the handler lets the request through to proxy_pass, and the
 * balancer hands nginx the reserved worker.
 *
 * Whatever happens, the pool cleanup of the request releases a worker it
 * still holds (the balancer's free() releases it when the upstream was
 * used), and a ticket it still has in the queue leaves it.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_shm.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_apps.h"
#include "ngx_voicegw_eta.h"
#include "ngx_voicegw_doorbell.h"
#include "ngx_voicegw_health.h"
#include "ngx_voicegw_task.h"


#define NGX_VOICEGW_BACKSTOP  250


static ngx_int_t ngx_voicegw_task_handler(ngx_http_request_t *r);
static void ngx_voicegw_task_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_voicegw_task_admit(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
static ngx_int_t ngx_voicegw_task_refuse(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx, ngx_uint_t status, const char *code,
    const char *fmt, ...);
static ngx_int_t ngx_voicegw_task_session(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
static ngx_int_t ngx_voicegw_task_affinity_key(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
static void ngx_voicegw_task_affinity_body(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
static void ngx_voicegw_task_park(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
static void ngx_voicegw_task_unpark(ngx_voicegw_task_ctx_t *ctx);
static void ngx_voicegw_task_granted(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
static void ngx_voicegw_task_wake_handler(ngx_event_t *ev);
static void ngx_voicegw_task_timeout_handler(ngx_event_t *ev);
static void ngx_voicegw_task_parked_handler(ngx_http_request_t *r);
static void ngx_voicegw_task_cleanup(void *data);
static void ngx_voicegw_task_release_handler(ngx_event_t *ev);
static void ngx_voicegw_task_doorbell_handler(ngx_event_t *ev);
static void ngx_voicegw_task_backstop_handler(ngx_event_t *ev);
static void ngx_voicegw_task_check_parked(ngx_voicegw_shm_t *shm);
static ngx_int_t ngx_voicegw_task_headers(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx);
static ngx_int_t ngx_voicegw_task_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#define NGX_VOICEGW_VAR_TICKET     0
#define NGX_VOICEGW_VAR_WAIT       1
#define NGX_VOICEGW_VAR_WORKER     2
#define NGX_VOICEGW_VAR_CACHE      3


static ngx_http_variable_t  ngx_voicegw_task_vars[] = {

    { ngx_string("voicegw_ticket"), NULL, ngx_voicegw_task_variable,
      NGX_VOICEGW_VAR_TICKET, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("voicegw_queue_wait_ms"), NULL, ngx_voicegw_task_variable,
      NGX_VOICEGW_VAR_WAIT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("voicegw_worker"), NULL, ngx_voicegw_task_variable,
      NGX_VOICEGW_VAR_WORKER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("voicegw_cache"), NULL, ngx_voicegw_task_variable,
      NGX_VOICEGW_VAR_CACHE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* -- configuration ----------------------------------------------------------- */

/*
 * voicegw_task TYPE [pool=UPSTREAM] [app=APP_ID] [session=$var]
 *              [cache_key=$var|affinity=messages];
 */

char *
ngx_voicegw_task_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_task_conf_t  *tcf = conf;

    ngx_str_t                          *value, v;
    ngx_uint_t                          i, t;
    ngx_voicegw_main_conf_t            *vmcf;
    ngx_voicegw_task_conf_t           **p;
    ngx_http_complex_value_t          **cvp;
    ngx_http_compile_complex_value_t    ccv;

    if (tcf->task_type != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (t = 0; ngx_voicegw_task_names[t].len; t++) {
        if (value[1].len == ngx_voicegw_task_names[t].len
            && ngx_strncmp(value[1].data, ngx_voicegw_task_names[t].data,
                           value[1].len) == 0)
        {
            break;
        }
    }

    if (ngx_voicegw_task_names[t].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid task type \"%V\" in \"%V\": use chat, "
                           "half_duplex, audio_duplex or omni_duplex",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    tcf->task_type = t;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "pool=", 5) == 0
            && value[i].len > 5)
        {
            tcf->pool_name.data = value[i].data + 5;
            tcf->pool_name.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "app=", 4) == 0 && value[i].len > 4) {
            tcf->app.data = value[i].data + 4;
            tcf->app.len = value[i].len - 4;
            continue;
        }

        if (value[i].len == sizeof("affinity=messages") - 1
            && ngx_strncmp(value[i].data, "affinity=messages",
                           value[i].len) == 0
            && tcf->affinity == NGX_VOICEGW_AFFINITY_NONE)
        {
            tcf->affinity = NGX_VOICEGW_AFFINITY_MESSAGES;
            continue;
        }

        if (ngx_strncmp(value[i].data, "session=", 8) == 0
            && value[i].len > 8)
        {
            v.data = value[i].data + 8;
            v.len = value[i].len - 8;
            cvp = &tcf->session;

        } else if (ngx_strncmp(value[i].data, "cache_key=", 10) == 0
                   && value[i].len > 10
                   && tcf->affinity == NGX_VOICEGW_AFFINITY_NONE)
        {
            v.data = value[i].data + 10;
            v.len = value[i].len - 10;
            cvp = &tcf->cache_key;
            tcf->affinity = NGX_VOICEGW_AFFINITY_KEY;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\"%s",
                               &value[i], &cmd->name,
                               tcf->affinity ? " (one of cache_key= and "
                                               "affinity=messages)" : "");
            return NGX_CONF_ERROR;
        }

        *cvp = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (*cvp == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
        ccv.cf = cf;
        ccv.value = &v;
        ccv.complex_value = *cvp;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    tcf->file = cf->conf_file->file.name.data;
    tcf->line = cf->conf_file->line;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_voicegw_module);

    p = ngx_array_push(&vmcf->tasks);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    *p = tcf;

    return NGX_CONF_OK;
}


/* after all upstream{} blocks are read: every task gets its pool */

ngx_int_t
ngx_voicegw_task_resolve(ngx_conf_t *cf, ngx_voicegw_main_conf_t *vmcf)
{
    ngx_uint_t                 i, j;
    ngx_voicegw_pool_conf_t  **pools;
    ngx_voicegw_task_conf_t  **tasks, *tcf;

    pools = vmcf->pools.elts;
    tasks = vmcf->tasks.elts;

    for (i = 0; i < vmcf->tasks.nelts; i++) {
        tcf = tasks[i];

        if (tcf->pool_name.len == 0) {
            if (vmcf->pools.nelts != 1) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "\"voicegw_task\" needs pool=: there %s %ui "
                              "voicegw_pool upstreams in %s:%ui",
                              vmcf->pools.nelts == 1 ? "is" : "are",
                              vmcf->pools.nelts, tcf->file, tcf->line);
                return NGX_ERROR;
            }

            tcf->pool = pools[0];

        } else {
            for (j = 0; j < vmcf->pools.nelts; j++) {
                if (pools[j]->name.len == tcf->pool_name.len
                    && ngx_strncmp(pools[j]->name.data, tcf->pool_name.data,
                                   tcf->pool_name.len) == 0)
                {
                    tcf->pool = pools[j];
                    break;
                }
            }

            if (tcf->pool == NULL) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "\"voicegw_task\": no upstream \"%V\" with "
                              "voicegw_pool in %s:%ui",
                              &tcf->pool_name, tcf->file, tcf->line);
                return NGX_ERROR;
            }
        }

        if (tcf->app.len && ngx_voicegw_app_find(vmcf, &tcf->app) == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"voicegw_task\": unknown app \"%V\" in %s:%ui",
                          &tcf->app, tcf->file, tcf->line);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_voicegw_task_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_variable_t        *var, *v;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_voicegw_task_handler;

    for (v = ngx_voicegw_task_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* -- admission --------------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_task_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_uint_t                enabled;
    ngx_voicegw_app_t        *app;
    ngx_pool_cleanup_t       *cln;
    ngx_voicegw_task_ctx_t   *ctx;
    ngx_voicegw_task_conf_t  *tcf;
    ngx_voicegw_main_conf_t  *vmcf;

    tcf = ngx_http_get_module_loc_conf(r, ngx_voicegw_pool_module);

    if (tcf->task_type == NGX_CONF_UNSET || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_pool_module);

    if (ctx != NULL) {

        switch (ctx->phase) {

        case NGX_VOICEGW_TASK_GRANTED:
            return NGX_DECLINED;

        case NGX_VOICEGW_TASK_ANSWERED:
            /* an internal redirect must not run a second task */
            return NGX_HTTP_INTERNAL_SERVER_ERROR;

        default:
            return NGX_DONE;
        }
    }

    vmcf = ngx_http_get_module_main_conf(r, ngx_voicegw_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_task_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->tcf = tcf;
    ctx->shm = ngx_voicegw_shm_get(vmcf);
    ctx->started = ngx_voicegw_now_msec();

    cln->handler = ngx_voicegw_task_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_voicegw_pool_module);

    /* a disabled app: 403, before anything is reserved */

    if (tcf->app.len) {
        app = ngx_voicegw_app_find(vmcf, &tcf->app);

        ngx_voicegw_shm_lock(ctx->shm);
        enabled = ngx_voicegw_app_enabled_locked(ctx->shm, app);
        ngx_voicegw_shm_unlock(ctx->shm);

        if (!enabled) {
            return ngx_voicegw_task_refuse(r, ctx, NGX_HTTP_FORBIDDEN,
                                           "app_disabled",
                                           "%V is currently disabled",
                                           &app->name);
        }
    }

    rc = ngx_voicegw_task_session(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (tcf->affinity == NGX_VOICEGW_AFFINITY_KEY) {
        rc = ngx_voicegw_task_affinity_key(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (tcf->affinity == NGX_VOICEGW_AFFINITY_MESSAGES
        && (r->headers_in.content_length_n > 0 || r->headers_in.chunked))
    {
        /* the body is read here and kept for proxy_pass (as mirror does) */

        ctx->phase = NGX_VOICEGW_TASK_READING;

        rc = ngx_http_read_client_request_body(r,
                                               ngx_voicegw_task_body_handler);
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            ctx->phase = NGX_VOICEGW_TASK_ANSWERED;
            return rc;
        }

        ngx_http_finalize_request(r, NGX_DONE);
        return NGX_DONE;
    }

    return ngx_voicegw_task_admit(r, ctx);
}


static void
ngx_voicegw_task_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_voicegw_task_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_pool_module);

    r->preserve_body = 1;

    ngx_voicegw_task_affinity_body(r, ctx);

    rc = ngx_voicegw_task_admit(r, ctx);

    if (rc == NGX_DECLINED) {
        r->write_event_handler = ngx_http_core_run_phases;
        ngx_http_core_run_phases(r);
        return;
    }

    /* parked (NGX_DONE), or refused with the answer sent */
}


/*
 * NGX_DECLINED: a worker is reserved, go on to proxy_pass.  NGX_DONE:
 * parked, or refused (the answer is sent and the request finalized).
 */

static ngx_int_t
ngx_voicegw_task_admit(ngx_http_request_t *r, ngx_voicegw_task_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_uint_t                queued;
    ngx_voicegw_task_req_t    req;
    ngx_voicegw_pool_conf_t  *pcf;

    pcf = ctx->tcf->pool;

    ngx_memzero(&req, sizeof(ngx_voicegw_task_req_t));

    req.pool = pcf->sh;
    req.task_type = ctx->tcf->task_type;
    req.session = ctx->session;
    req.affinity = ctx->affinity;
    req.owner_slot = ngx_process_slot;
    req.owner_data = &ctx->wake;

    ctx->wake.handler = ngx_voicegw_task_wake_handler;
    ctx->wake.data = ctx;
    ctx->wake.log = r->connection->log;

    ngx_voicegw_shm_lock(ctx->shm);
    rc = ngx_voicegw_queue_admit_locked(ctx->shm, &req, &ctx->grant,
                                        &ctx->ticket);
    queued = pcf->sh->queued;
    ngx_voicegw_shm_unlock(ctx->shm);

    switch (rc) {

    case NGX_OK:
        ngx_voicegw_task_granted(r, ctx);

        if (ngx_voicegw_task_headers(r, ctx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_DECLINED;

    case NGX_AGAIN:
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "voicegw: ticket %016xL queued, %ui waiting",
                       ctx->ticket, queued);

        ngx_voicegw_task_park(r, ctx);
        return NGX_DONE;

    case NGX_DECLINED:
        return ngx_voicegw_task_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "queue_full",
                                       "Queue full (%ui requests)",
                                       pcf->queue_max);

    default:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "voicegw: no shared memory left for a ticket in "
                      "voicegw_zone");

        return ngx_voicegw_task_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "zone_full",
                                       "the gateway cannot queue more "
                                       "requests now");
    }
}


/* a JSON error instead of proxying; the request is finalized here */

static ngx_int_t
ngx_voicegw_task_refuse(ngx_http_request_t *r, ngx_voicegw_task_ctx_t *ctx,
    ngx_uint_t status, const char *code, const char *fmt, ...)
{
    u_char     buf[256], *p;
    va_list    args;
    ngx_int_t  rc;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);
    *p = '\0';

    ctx->phase = NGX_VOICEGW_TASK_ANSWERED;

    if (ctx->ticket) {
        (void) ngx_voicegw_task_headers(r, ctx);
    }

    if (r->connection->error) {
        ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc == NGX_OK) {
        rc = ngx_voicegw_api_error(r, status, code, "%s", buf);
    }

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/* session=: [A-Za-z0-9_-]{1,128}, as the original gateway's routes */

static ngx_int_t
ngx_voicegw_task_session(ngx_http_request_t *r, ngx_voicegw_task_ctx_t *ctx)
{
    size_t     i;
    ngx_str_t  s;

    if (ctx->tcf->session == NULL) {
        return NGX_OK;
    }

    if (ngx_http_complex_value(r, ctx->tcf->session, &s) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (s.len == 0 || s.len > NGX_VOICEGW_SESSION_LEN) {
        goto invalid;
    }

    for (i = 0; i < s.len; i++) {
        if (!((s.data[i] >= 'a' && s.data[i] <= 'z')
              || (s.data[i] >= 'A' && s.data[i] <= 'Z')
              || (s.data[i] >= '0' && s.data[i] <= '9')
              || s.data[i] == '_' || s.data[i] == '-'))
        {
            goto invalid;
        }
    }

    ctx->session = s;

    return NGX_OK;

invalid:

    return ngx_voicegw_task_refuse(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_session",
                                   "session ids are 1 to 128 characters of "
                                   "[A-Za-z0-9_-]");
}


static ngx_int_t
ngx_voicegw_task_affinity_key(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx)
{
    ngx_str_t  key;

    if (ngx_http_complex_value(r, ctx->tcf->cache_key, &key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (key.len == 0) {
        return NGX_OK;
    }

    ctx->affinity = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_affinity_t));
    if (ctx->affinity == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->affinity->key = ngx_voicegw_affinity_key(key.data, key.len);

    return NGX_OK;
}


/* a body that is no JSON chat simply has no affinity: the worker judges */

static void
ngx_voicegw_task_affinity_body(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx)
{
    u_char                     err[64];
    ngx_str_t                  body;
    ngx_http_core_loc_conf_t  *clcf;
    ngx_voicegw_json_value_t  *root;
    ngx_voicegw_affinity_t    *aff;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (ngx_voicegw_body_collect(r, clcf->client_max_body_size
                                    ? (size_t) clcf->client_max_body_size
                                    : NGX_MAX_SIZE_T_VALUE,
                                 &body)
        != NGX_OK
        || body.len == 0)
    {
        return;
    }

    if (ngx_voicegw_json_parse(r->pool, body.data, body.len, &root, err,
                               sizeof(err))
        != NGX_OK)
    {
        return;
    }

    aff = ngx_palloc(r->pool, sizeof(ngx_voicegw_affinity_t));
    if (aff == NULL) {
        return;
    }

    if (ngx_voicegw_affinity_messages(r->pool, root, aff) == NGX_OK) {
        ctx->affinity = aff;
    }
}


/* -- parking ----------------------------------------------------------------- */

static void
ngx_voicegw_task_park(ngx_http_request_t *r, ngx_voicegw_task_ctx_t *ctx)
{
    ngx_voicegw_shm_t  *shm;

    shm = ctx->shm;

    ctx->phase = NGX_VOICEGW_TASK_PARKED;
    ctx->parked = 1;

    ngx_queue_insert_tail(&shm->parked, &ctx->link);
    shm->nparked++;

    ctx->timeout.handler = ngx_voicegw_task_timeout_handler;
    ctx->timeout.data = ctx;
    ctx->timeout.log = r->connection->log;

    ngx_add_timer(&ctx->timeout, ctx->tcf->pool->queue_timeout);

    if (!shm->backstop.timer_set) {
        ngx_add_timer(&shm->backstop, NGX_VOICEGW_BACKSTOP);
    }

    /* a client that leaves is noticed at once: 499, ticket dropped */

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_voicegw_task_parked_handler;
}


static void
ngx_voicegw_task_unpark(ngx_voicegw_task_ctx_t *ctx)
{
    if (!ctx->parked) {
        return;
    }

    ctx->parked = 0;

    ngx_queue_remove(&ctx->link);
    ctx->shm->nparked--;

    if (ctx->timeout.timer_set) {
        ngx_del_timer(&ctx->timeout);
    }

    if (ctx->wake.posted) {
        ngx_delete_posted_event(&ctx->wake);
    }
}


static void
ngx_voicegw_task_parked_handler(ngx_http_request_t *r)
{
    /* nothing to write while waiting */
}


static void
ngx_voicegw_task_granted(ngx_http_request_t *r, ngx_voicegw_task_ctx_t *ctx)
{
    u_char  *p;

    ctx->phase = NGX_VOICEGW_TASK_GRANTED;
    ctx->held = 1;

    /* "http://host:port" -> "host:port", nginx's $upstream_addr */

    p = ctx->grant.url;

    if (ngx_strncmp(p, "http://", 7) == 0) {
        p += 7;
    }

    ctx->peer_name.data = p;
    ctx->peer_name.len = ngx_strlen(p);
}


/*
 * The ticket changed while parked: granted (go on to proxy_pass),
 * cancelled through the API (503), or lost (its process was taken for
 * dead: 503).  Still queued: a spurious wake-up.
 */

static void
ngx_voicegw_task_wake_handler(ngx_event_t *ev)
{
    ngx_voicegw_task_ctx_t  *ctx = ev->data;

    ngx_uint_t             state, running;
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_voicegw_ticket_t  *t;

    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    if (!ctx->parked) {
        return;
    }

    ngx_voicegw_shm_lock(ctx->shm);

    t = ngx_voicegw_ticket_find_locked(ctx->shm, ctx->ticket);

    state = t ? t->state : NGX_VOICEGW_TICKET_ABANDONED;
    running = t ? t->running : 0;

    if (state == NGX_VOICEGW_TICKET_ASSIGNED && running) {
        ngx_voicegw_ticket_grant_info(t, &ctx->grant);
    }

    ngx_voicegw_shm_unlock(ctx->shm);

    if (state == NGX_VOICEGW_TICKET_QUEUED) {
        return;
    }

    ngx_voicegw_task_unpark(ctx);

    if (state == NGX_VOICEGW_TICKET_ASSIGNED && running) {
        ngx_voicegw_task_granted(r, ctx);

        if (ngx_voicegw_task_headers(r, ctx) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            ngx_http_run_posted_requests(c);
            return;
        }

        r->read_event_handler = ngx_http_block_reading;
        r->write_event_handler = ngx_http_core_run_phases;

        ngx_http_core_run_phases(r);
        ngx_http_run_posted_requests(c);
        return;
    }

    if (state == NGX_VOICEGW_TICKET_CANCELLED) {
        (void) ngx_voicegw_task_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "cancelled", "Request cancelled");

    } else {
        (void) ngx_voicegw_task_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "ticket_lost",
                                       "the request lost its place in "
                                       "the queue");
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_voicegw_task_timeout_handler(ngx_event_t *ev)
{
    ngx_voicegw_task_ctx_t  *ctx = ev->data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ngx_voicegw_shm_lock(ctx->shm);
    rc = ngx_voicegw_queue_leave_locked(ctx->shm, ctx->ticket,
                                        NGX_VOICEGW_TICKET_TIMED_OUT);
    ngx_voicegw_shm_unlock(ctx->shm);

    if (rc != NGX_OK) {
        /* granted or cancelled just now: the wake-up decides */
        ngx_voicegw_task_wake_handler(&ctx->wake);
        return;
    }

    ngx_voicegw_task_unpark(ctx);

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "voicegw: queue_timeout of pool \"%V\" passed",
                  &ctx->tcf->pool->name);

    (void) ngx_voicegw_task_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "queue_timeout",
                                   "no worker became free within the "
                                   "queue timeout");

    ngx_http_run_posted_requests(c);
}


/*
 * The request's pool goes away, on every path: a parked ticket leaves the
 * queue at once; a worker still held (never handed to the upstream, or
 * handed and not released by free()) is released.
 */

static void
ngx_voicegw_task_cleanup(void *data)
{
    ngx_voicegw_task_ctx_t  *ctx = data;

    ngx_int_t  rc;

    if (ctx->parked) {
        ngx_voicegw_task_unpark(ctx);

        ngx_voicegw_shm_lock(ctx->shm);

        rc = ngx_voicegw_queue_leave_locked(ctx->shm, ctx->ticket,
                                            NGX_VOICEGW_TICKET_ABANDONED);
        if (rc == NGX_DECLINED) {
            /* granted while the client was leaving */
            ngx_voicegw_queue_release_locked(ctx->shm, ctx->ticket, NULL,
                                             NGX_VOICEGW_RELEASE_UNUSED);
        }

        ngx_voicegw_shm_unlock(ctx->shm);
        return;
    }

    if (ctx->held) {
        ngx_voicegw_task_release(ctx, ctx->connected
                                      ? NGX_VOICEGW_RELEASE_PROBE
                                      : NGX_VOICEGW_RELEASE_UNUSED);
    }
}


/* the one place that gives a held worker back */

void
ngx_voicegw_task_release(ngx_voicegw_task_ctx_t *ctx, ngx_uint_t outcome)
{
    if (!ctx->held) {
        return;
    }

    ctx->held = 0;

    ngx_voicegw_shm_lock(ctx->shm);
    ngx_voicegw_queue_release_locked(ctx->shm, ctx->ticket, ctx->affinity,
                                     outcome);
    ngx_voicegw_shm_unlock(ctx->shm);

    if (outcome == NGX_VOICEGW_RELEASE_PROBE) {
        ngx_voicegw_health_probe(ctx->shm, ctx->tcf->pool, &ctx->grant);
    }
}


/*
 * From the balancer's free(): nginx closes the upstream connection right
 * after free() returns.  The worker is given to the next task only then,
 * from a posted event, so that a worker never sees the next task's
 * connection while the previous one is still open.  The pending release
 * belongs to the process, not to the request, which may be gone by then.
 */

typedef struct ngx_voicegw_release_s  ngx_voicegw_release_t;

struct ngx_voicegw_release_s {
    ngx_voicegw_release_t       *next;
    uint64_t                     ticket;
    ngx_uint_t                   outcome;
    ngx_voicegw_pool_conf_t     *pool;
    ngx_voicegw_grant_t          grant;
    ngx_uint_t                   has_cache;
    ngx_voicegw_affinity_t       cache;
};


void
ngx_voicegw_task_release_after_close(ngx_voicegw_task_ctx_t *ctx,
    ngx_uint_t outcome)
{
    ngx_voicegw_shm_t      *shm;
    ngx_voicegw_release_t  *rel;

    if (!ctx->held) {
        return;
    }

    shm = ctx->shm;

    rel = ngx_alloc(sizeof(ngx_voicegw_release_t), ngx_cycle->log);
    if (rel == NULL) {
        ngx_voicegw_task_release(ctx, outcome);
        return;
    }

    ctx->held = 0;

    rel->ticket = ctx->ticket;
    rel->outcome = outcome;
    rel->pool = ctx->tcf->pool;
    rel->grant = ctx->grant;
    rel->has_cache = (ctx->affinity != NULL);

    if (ctx->affinity) {
        rel->cache = *ctx->affinity;
    }

    rel->next = shm->releases;
    shm->releases = rel;

    ngx_post_event(&shm->release_ev, &ngx_posted_events);
}


static void
ngx_voicegw_task_release_handler(ngx_event_t *ev)
{
    ngx_voicegw_shm_t  *shm = ev->data;

    ngx_voicegw_release_t  *rel, *next, *probes;

    ngx_voicegw_shm_lock(shm);

    probes = NULL;

    for (rel = shm->releases; rel; rel = next) {
        next = rel->next;

        ngx_voicegw_queue_release_locked(shm, rel->ticket,
                                         rel->has_cache ? &rel->cache : NULL,
                                         rel->outcome);

        if (rel->outcome == NGX_VOICEGW_RELEASE_PROBE) {
            rel->next = probes;
            probes = rel;

        } else {
            ngx_free(rel);
        }
    }

    shm->releases = NULL;

    ngx_voicegw_shm_unlock(shm);

    for (rel = probes; rel; rel = next) {
        next = rel->next;
        ngx_voicegw_health_probe(shm, rel->pool, &rel->grant);
        ngx_free(rel);
    }
}


/* -- waking parked requests ---------------------------------------------------- */

ngx_int_t
ngx_voicegw_task_init_process(ngx_cycle_t *cycle, ngx_voicegw_shm_t *shm)
{
    ngx_queue_init(&shm->parked);

    shm->backstop.handler = ngx_voicegw_task_backstop_handler;
    shm->backstop.data = shm;
    shm->backstop.log = cycle->log;
    shm->backstop.cancelable = 1;

    shm->release_ev.handler = ngx_voicegw_task_release_handler;
    shm->release_ev.data = shm;
    shm->release_ev.log = cycle->log;

    return ngx_voicegw_doorbell_init_process(cycle, shm,
                                         ngx_voicegw_task_doorbell_handler);
}


void
ngx_voicegw_task_exit_process(ngx_voicegw_shm_t *shm)
{
    ngx_voicegw_doorbell_exit_process(shm);
}


static void
ngx_voicegw_task_doorbell_handler(ngx_event_t *ev)
{
    ngx_connection_t   *c = ev->data;
    ngx_voicegw_shm_t  *shm = c->data;

    ngx_voicegw_doorbell_drain(shm);
    ngx_voicegw_task_check_parked(shm);
}


static void
ngx_voicegw_task_backstop_handler(ngx_event_t *ev)
{
    ngx_voicegw_shm_t  *shm = ev->data;

    ngx_voicegw_task_check_parked(shm);

    if (shm->nparked && !ngx_exiting) {
        ngx_add_timer(&shm->backstop, NGX_VOICEGW_BACKSTOP);
    }
}


/* post the wake event of every parked request whose ticket moved */

static void
ngx_voicegw_task_check_parked(ngx_voicegw_shm_t *shm)
{
    ngx_queue_t             *l;
    ngx_voicegw_ticket_t    *t;
    ngx_voicegw_task_ctx_t  *ctx;

    if (shm->nparked == 0) {
        return;
    }

    ngx_voicegw_shm_lock(shm);

    for (l = ngx_queue_head(&shm->parked); l != ngx_queue_sentinel(&shm->parked);
         l = ngx_queue_next(l))
    {
        ctx = ngx_queue_data(l, ngx_voicegw_task_ctx_t, link);
        t = ngx_voicegw_ticket_find_locked(shm, ctx->ticket);

        if (t == NULL || t->state != NGX_VOICEGW_TICKET_QUEUED) {
            ngx_post_event(&ctx->wake, &ngx_posted_events);
        }
    }

    ngx_voicegw_shm_unlock(shm);
}


/* -- what the response and the logs show ---------------------------------------- */

static ngx_int_t
ngx_voicegw_task_headers(ngx_http_request_t *r, ngx_voicegw_task_ctx_t *ctx)
{
    u_char           *p;
    uint64_t          wait;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, sizeof("tk_0123456789abcdef"));
    if (p == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-VoiceGW-Ticket");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "tk_%016xL", ctx->ticket) - p;

    if (ctx->phase != NGX_VOICEGW_TASK_GRANTED) {
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    wait = (ctx->grant.assigned > ctx->grant.enqueued)
           ? ctx->grant.assigned - ctx->grant.enqueued : 0;

    h->hash = 1;
    ngx_str_set(&h->key, "X-VoiceGW-Queue-Wait-Ms");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%uL", wait) - p;

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_task_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char                  *p;
    ngx_voicegw_task_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_voicegw_pool_module);

    if (ctx == NULL || ctx->ticket == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    switch (data) {

    case NGX_VOICEGW_VAR_TICKET:
        p = ngx_pnalloc(r->pool, sizeof("tk_0123456789abcdef"));
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "tk_%016xL", ctx->ticket) - p;
        break;

    case NGX_VOICEGW_VAR_WAIT:
        if (ctx->grant.assigned == 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "%uL", ctx->grant.assigned
                                       - ctx->grant.enqueued) - p;
        break;

    case NGX_VOICEGW_VAR_WORKER:
        if (ctx->grant.assigned == 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = ctx->grant.url;
        v->len = ngx_strlen(ctx->grant.url);
        break;

    default: /* NGX_VOICEGW_VAR_CACHE */
        if (ctx->grant.assigned == 0 || ctx->affinity == NULL) {
            v->not_found = 1;
            return NGX_OK;
        }

        if (ctx->grant.hit) {
            v->data = (u_char *) "hit";
            v->len = 3;

        } else {
            v->data = (u_char *) "miss";
            v->len = 4;
        }
    }

    return NGX_OK;
}
