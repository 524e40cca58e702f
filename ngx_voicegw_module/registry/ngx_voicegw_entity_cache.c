
/*
 * ngx_voicegw_entity_cache.c
 *
 * Owns each worker process's copy of the store's providers, models and
 * projects (see the header).  One load at a time: a batch of three
 * SELECTs in a thread of the store, collected into a pool of its own
 * that replaces the previous copy's.  Keys are decrypted once, here; they
 * stay in the process's memory, as nginx.conf's keys do, and are never
 * logged.  A load that fails keeps the previous copy and says why in the
 * error log; requests go on with what is known.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_secret.h"
#include "ngx_voicegw_entity_cache.h"


#define NGX_VOICEGW_ENTITY_CACHE_TTL  1000    /* ms, without a zone */


struct ngx_voicegw_entity_cache_s {
    ngx_voicegw_main_conf_t     *vmcf;
    ngx_log_t                   *log;

    /* the copy: ngx_voicegw_*_view_t, in pool */
    ngx_pool_t                  *pool;
    ngx_array_t                 *providers;
    ngx_array_t                 *models;
    ngx_array_t                 *projects;
    ngx_atomic_uint_t            version;
    ngx_msec_t                   loaded_at;
    unsigned                     loaded:1;

    /* the load under way */
    unsigned                     loading:1;
    ngx_pool_t                  *next;
    ngx_atomic_uint_t            next_version;
    ngx_queue_t                  waiters;
};


/* the op's data: the batch first, as ngx_voicegw_sql_run() reads it */

typedef struct {
    ngx_voicegw_sql_batch_t      batch;
    ngx_voicegw_entity_cache_t  *ec;
} ngx_voicegw_entity_load_t;


static void ngx_voicegw_entity_cache_free(void *data);
static void ngx_voicegw_entity_cache_load(ngx_voicegw_entity_cache_t *ec);
static void ngx_voicegw_entity_cache_done(ngx_voicegw_entity_cache_t *ec);
static void ngx_voicegw_entity_cache_loaded(ngx_voicegw_store_op_t *op);
static ngx_int_t ngx_voicegw_entity_cache_build(ngx_voicegw_entity_cache_t *ec,
    ngx_voicegw_sql_batch_t *b);
static void ngx_voicegw_entity_cache_unwait(void *data);
static ngx_uint_t ngx_voicegw_entity_cache_blocks(ngx_str_t *budget_action);


ngx_voicegw_entity_cache_t *
ngx_voicegw_entity_cache_create(ngx_cycle_t *cycle,
    ngx_voicegw_main_conf_t *vmcf)
{
    ngx_pool_cleanup_t          *cln;
    ngx_voicegw_entity_cache_t  *ec;

    ec = ngx_pcalloc(cycle->pool, sizeof(ngx_voicegw_entity_cache_t));
    cln = ngx_pool_cleanup_add(cycle->pool, 0);

    if (ec == NULL || cln == NULL) {
        return NULL;
    }

    ec->vmcf = vmcf;
    ec->log = cycle->log;
    ngx_queue_init(&ec->waiters);

    /* the copy goes with the process (a load under way is the thread's) */
    cln->handler = ngx_voicegw_entity_cache_free;
    cln->data = ec;

    return ec;
}


static void
ngx_voicegw_entity_cache_free(void *data)
{
    ngx_voicegw_entity_cache_t  *ec = data;

    if (ec->pool) {
        ngx_destroy_pool(ec->pool);
        ec->pool = NULL;
    }

    if (ec->next && !ec->loading) {
        ngx_destroy_pool(ec->next);
        ec->next = NULL;
    }
}


ngx_int_t
ngx_voicegw_entity_cache_current(ngx_voicegw_entity_cache_t *ec,
    ngx_pool_t *pool, ngx_voicegw_entity_waiter_t *w)
{
    ngx_pool_cleanup_t      *cln;
    ngx_voicegw_zone_t      *zone;
    ngx_voicegw_main_conf_t *vmcf;

    vmcf = ec->vmcf;

    if (vmcf->store == NULL) {
        return NGX_OK;
    }

    zone = vmcf->zone;

    if (ec->loaded && !ec->loading) {
        if (zone ? ec->version == zone->sh->entities
                 : ngx_current_msec - ec->loaded_at
                   < NGX_VOICEGW_ENTITY_CACHE_TTL)
        {
            return NGX_OK;
        }
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_voicegw_entity_cache_unwait;
    cln->data = w;

    w->waiting = 1;
    ngx_queue_insert_tail(&ec->waiters, &w->queue);

    if (!ec->loading) {
        ngx_voicegw_entity_cache_load(ec);
    }

    return NGX_AGAIN;
}


static void
ngx_voicegw_entity_cache_unwait(void *data)
{
    ngx_voicegw_entity_waiter_t  *w = data;

    if (w->waiting) {
        w->waiting = 0;
        ngx_queue_remove(&w->queue);
    }
}


static void
ngx_voicegw_entity_cache_load(ngx_voicegw_entity_cache_t *ec)
{
    ngx_pool_cleanup_t         *cln;
    ngx_voicegw_store_op_t     *op;
    ngx_voicegw_sql_batch_t    *b;
    ngx_voicegw_entity_load_t  *load;

    ec->next = ngx_create_pool(4096, ec->log);
    if (ec->next == NULL) {
        goto failed;
    }

    op = ngx_voicegw_store_op_alloc(ec->next, ec->vmcf->store,
                                    sizeof(ngx_voicegw_entity_load_t));
    cln = ngx_pool_cleanup_add(ec->next, 0);

    if (op == NULL || cln == NULL) {
        goto failed;
    }

    load = op->data;
    load->ec = ec;
    b = &load->batch;

    /* the thread's result buffers go with the pool, whatever happens */
    cln->handler = ngx_voicegw_sql_cleanup;
    cln->data = b;

    if (ngx_voicegw_sql_provider_keys(b) == NULL
        || ngx_voicegw_sql_models(b) == NULL
        || ngx_voicegw_sql_projects(b, NULL) == NULL)
    {
        goto failed;
    }

    op->run = ngx_voicegw_sql_run;
    op->done = ngx_voicegw_entity_cache_loaded;

    /* what was committed before the SELECTs run is in this copy */
    ec->next_version = ec->vmcf->zone ? ec->vmcf->zone->sh->entities : 0;
    ec->loading = 1;

    if (ngx_voicegw_store_post(op) == NGX_OK) {
        return;
    }

    ec->loading = 0;

failed:

    ngx_log_error(NGX_LOG_ERR, ec->log, 0,
                  "voicegw: the store's providers, models and projects "
                  "could not be loaded");

    if (ec->next) {
        ngx_destroy_pool(ec->next);
        ec->next = NULL;
    }

    ngx_voicegw_entity_cache_done(ec);
}


static void
ngx_voicegw_entity_cache_loaded(ngx_voicegw_store_op_t *op)
{
    ngx_voicegw_entity_load_t   *load = op->data;
    ngx_voicegw_entity_cache_t  *ec = load->ec;

    ec->loading = 0;

    if (op->rc != NGX_OK
        || ngx_voicegw_sql_collect(ec->next, &load->batch) != NGX_OK
        || ngx_voicegw_entity_cache_build(ec, &load->batch) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ec->log, 0,
                      "voicegw: the store's providers, models and projects "
                      "could not be loaded: %s",
                      op->rc != NGX_OK ? (char *) op->err : "no memory");

        ngx_destroy_pool(ec->next);
        ec->next = NULL;

        ngx_voicegw_entity_cache_done(ec);
        return;
    }

    if (ec->pool) {
        ngx_destroy_pool(ec->pool);
    }

    ec->pool = ec->next;
    ec->next = NULL;

    ngx_voicegw_entity_cache_done(ec);
}


/*
 * The copy is as current as it can be (or the load failed and the old
 * one stays, rather than holding requests): the waiters go on.
 */

static void
ngx_voicegw_entity_cache_done(ngx_voicegw_entity_cache_t *ec)
{
    ngx_queue_t                  *q;
    ngx_voicegw_entity_waiter_t  *w;

    ec->loaded = 1;
    ec->loaded_at = ngx_current_msec;
    ec->version = ec->next_version;

    while (!ngx_queue_empty(&ec->waiters)) {
        q = ngx_queue_head(&ec->waiters);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_voicegw_entity_waiter_t, queue);
        w->waiting = 0;

        w->handler(w->data);
    }
}


static ngx_int_t
ngx_voicegw_entity_cache_build(ngx_voicegw_entity_cache_t *ec,
    ngx_voicegw_sql_batch_t *b)
{
    ngx_uint_t                    i, k;
    ngx_voicegw_sql_stmt_t       *st;
    ngx_voicegw_sql_value_t      *row;
    ngx_voicegw_model_view_t     *m;
    ngx_voicegw_project_view_t   *pr;
    ngx_voicegw_provider_view_t  *p;

    /* providers */

    st = &b->stmt[0];

    ec->providers = ngx_array_create(ec->next, st->nrows + 1,
                                     sizeof(ngx_voicegw_provider_view_t));
    if (ec->providers == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < st->nrows; i++) {
        row = ngx_voicegw_sql_cell(st, i, 0);

        p = ngx_array_push(ec->providers);
        ngx_memzero(p, sizeof(ngx_voicegw_provider_view_t));

        p->id = row[NGX_VOICEGW_PKEYS_ID].s;
        p->type = ngx_voicegw_provider_type(&row[NGX_VOICEGW_PKEYS_TYPE].s);

        if (row[NGX_VOICEGW_PKEYS_BASE_URL].type == NGX_VOICEGW_SQL_TEXT) {
            p->base_url = row[NGX_VOICEGW_PKEYS_BASE_URL].s;
        }

        if (row[NGX_VOICEGW_PKEYS_SEALED].type == NGX_VOICEGW_SQL_TEXT
            && row[NGX_VOICEGW_PKEYS_SEALED].s.len)
        {
            if (ec->vmcf->registry->secret == NULL
                || ngx_voicegw_secret_decrypt(ec->next,
                                              ec->vmcf->registry->secret,
                                              &p->id,
                                              &row[NGX_VOICEGW_PKEYS_SEALED].s,
                                              &p->key)
                   != NGX_OK)
            {
                ngx_str_null(&p->key);
                p->sealed_bad = 1;
            }
        }
    }

    /* models */

    st = &b->stmt[1];

    ec->models = ngx_array_create(ec->next, st->nrows + 1,
                                  sizeof(ngx_voicegw_model_view_t));
    if (ec->models == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < st->nrows; i++) {
        row = ngx_voicegw_sql_cell(st, i, 0);

        m = ngx_array_push(ec->models);
        ngx_memzero(m, sizeof(ngx_voicegw_model_view_t));

        m->id = row[NGX_VOICEGW_MODEL_ID].s;

        for (k = 0; k < NGX_VOICEGW_NPRICES; k++) {
            switch (row[NGX_VOICEGW_MODEL_PRICE + k].type) {

            case NGX_VOICEGW_SQL_REAL:
                m->price[k] = row[NGX_VOICEGW_MODEL_PRICE + k].d;
                m->priced |= (ngx_uint_t) 1 << k;
                break;

            case NGX_VOICEGW_SQL_INT:
                m->price[k] = (double) row[NGX_VOICEGW_MODEL_PRICE + k].i;
                m->priced |= (ngx_uint_t) 1 << k;
                break;

            default:
                break;
            }
        }
    }

    /* projects */

    st = &b->stmt[2];

    ec->projects = ngx_array_create(ec->next, st->nrows + 1,
                                    sizeof(ngx_voicegw_project_view_t));
    if (ec->projects == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < st->nrows; i++) {
        row = ngx_voicegw_sql_cell(st, i, 0);

        pr = ngx_array_push(ec->projects);
        ngx_memzero(pr, sizeof(ngx_voicegw_project_view_t));

        pr->id = row[NGX_VOICEGW_PROJECT_ID].s;

        if (row[NGX_VOICEGW_PROJECT_BUDGET].type == NGX_VOICEGW_SQL_REAL) {
            pr->daily_budget = row[NGX_VOICEGW_PROJECT_BUDGET].d;

        } else if (row[NGX_VOICEGW_PROJECT_BUDGET].type
                   == NGX_VOICEGW_SQL_INT)
        {
            pr->daily_budget = (double) row[NGX_VOICEGW_PROJECT_BUDGET].i;
        }

        pr->block = ngx_voicegw_entity_cache_blocks(
                                         &row[NGX_VOICEGW_PROJECT_ACTION].s);
    }

    return NGX_OK;
}


/* -- lookups: nginx.conf first, then the store's copy ------------------- */

static ngx_uint_t
ngx_voicegw_entity_cache_blocks(ngx_str_t *budget_action)
{
    return budget_action->len == 5
           && ngx_strncmp(budget_action->data, "block", 5) == 0;
}


static void *
ngx_voicegw_entity_cache_find(ngx_array_t *a, size_t size, ngx_str_t *id)
{
    u_char     *elt;
    ngx_str_t  *eid;
    ngx_uint_t  i;

    if (a == NULL) {
        return NULL;
    }

    elt = a->elts;

    for (i = 0; i < a->nelts; i++, elt += size) {
        eid = (ngx_str_t *) elt;     /* every view starts with its id */

        if (eid->len == id->len
            && ngx_strncmp(eid->data, id->data, id->len) == 0)
        {
            return elt;
        }
    }

    return NULL;
}


ngx_int_t
ngx_voicegw_entity_cache_provider(ngx_voicegw_entity_cache_t *ec,
    ngx_str_t *id, ngx_voicegw_provider_view_t *p)
{
    ngx_voicegw_provider_conf_t  *c;
    ngx_voicegw_provider_view_t  *v;

    c = ngx_voicegw_conf_provider(ec->vmcf->registry, id);

    if (c) {
        ngx_memzero(p, sizeof(ngx_voicegw_provider_view_t));
        p->id = c->id;
        p->type = c->type;
        p->key = c->key;
        p->base_url = c->base_url;
        return NGX_OK;
    }

    v = ngx_voicegw_entity_cache_find(ec->providers,
                                      sizeof(ngx_voicegw_provider_view_t),
                                      id);
    if (v == NULL) {
        return NGX_DECLINED;
    }

    *p = *v;

    return NGX_OK;
}


ngx_int_t
ngx_voicegw_entity_cache_model(ngx_voicegw_entity_cache_t *ec,
    ngx_str_t *id, ngx_voicegw_model_view_t *m)
{
    ngx_voicegw_model_conf_t  *c;
    ngx_voicegw_model_view_t  *v;

    c = ngx_voicegw_conf_model(ec->vmcf->registry, id);

    if (c) {
        m->id = c->id;
        ngx_memcpy(m->price, c->price, sizeof(m->price));
        m->priced = c->priced;
        return NGX_OK;
    }

    v = ngx_voicegw_entity_cache_find(ec->models,
                                      sizeof(ngx_voicegw_model_view_t), id);
    if (v == NULL) {
        return NGX_DECLINED;
    }

    *m = *v;

    return NGX_OK;
}


ngx_int_t
ngx_voicegw_entity_cache_project(ngx_voicegw_entity_cache_t *ec,
    ngx_str_t *id, ngx_voicegw_project_view_t *p)
{
    ngx_voicegw_project_conf_t  *c;
    ngx_voicegw_project_view_t  *v;

    c = ngx_voicegw_conf_project(ec->vmcf->registry, id);

    if (c) {
        p->id = c->id;
        p->daily_budget = c->daily_budget;
        p->block = ngx_voicegw_entity_cache_blocks(&c->budget_action);
        return NGX_OK;
    }

    v = ngx_voicegw_entity_cache_find(ec->projects,
                                      sizeof(ngx_voicegw_project_view_t), id);
    if (v == NULL) {
        return NGX_DECLINED;
    }

    *p = *v;

    return NGX_OK;
}


void
ngx_voicegw_entity_cache_bump(ngx_voicegw_zone_t *zone)
{
    if (zone) {
        (void) ngx_atomic_fetch_add(&zone->sh->entities, 1);
    }
}
