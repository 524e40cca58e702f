
/*
 * ngx_voicegw_entity_cache.h
 *
 * What a request on its way to a provider needs to know of the entities,
 * without waiting for SQLite: each nginx worker process keeps a copy of
 * the store's providers (with their keys in clear), models (with their
 * prices) and projects (with their budgets), reloaded in a thread of the
 * store whenever the zone's entity version moved (every API write bumps
 * it).  Lookups go to nginx.conf's entities first, then to this copy:
 * the same shadowing as the API's lists.
 */


#ifndef _NGX_VOICEGW_ENTITY_CACHE_H_INCLUDED_
#define _NGX_VOICEGW_ENTITY_CACHE_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_registry.h"


/* a provider as a request uses it: from nginx.conf or the store */

typedef struct {
    ngx_str_t                           id;
    const ngx_voicegw_provider_type_t  *type;
    ngx_str_t                           key;        /* in clear; empty */
    ngx_str_t                           base_url;   /* empty: the type's */
    ngx_uint_t                          sealed_bad; /* cannot decrypt */
} ngx_voicegw_provider_view_t;


typedef struct {
    ngx_str_t                    id;
    double                       price[NGX_VOICEGW_NPRICES];
    ngx_uint_t                   priced;            /* bit k: price[k] */
} ngx_voicegw_model_view_t;


typedef struct {
    ngx_str_t                    id;
    double                       daily_budget;      /* 0: none */
    ngx_uint_t                   block;             /* budget_action */
} ngx_voicegw_project_view_t;


typedef struct ngx_voicegw_entity_cache_s  ngx_voicegw_entity_cache_t;

typedef void (*ngx_voicegw_entity_wait_pt)(void *data);


/* a request waiting for the copy to be reloaded */

typedef struct {
    ngx_queue_t                  queue;
    ngx_voicegw_entity_wait_pt   handler;
    void                        *data;
    ngx_uint_t                   waiting;
} ngx_voicegw_entity_waiter_t;


ngx_voicegw_entity_cache_t *ngx_voicegw_entity_cache_create(ngx_cycle_t *cycle,
    ngx_voicegw_main_conf_t *vmcf);

/*
 * NGX_OK: the copy is current, look up; NGX_AGAIN: it is being reloaded,
 * w->handler(w->data) runs once it is (the waiter is removed by the pool
 * cleanup if the request goes first); NGX_ERROR.
 */
ngx_int_t ngx_voicegw_entity_cache_current(ngx_voicegw_entity_cache_t *ec,
    ngx_pool_t *pool, ngx_voicegw_entity_waiter_t *w);

/* NGX_OK, NGX_DECLINED when there is no such entity */
ngx_int_t ngx_voicegw_entity_cache_provider(ngx_voicegw_entity_cache_t *ec,
    ngx_str_t *id, ngx_voicegw_provider_view_t *p);
ngx_int_t ngx_voicegw_entity_cache_model(ngx_voicegw_entity_cache_t *ec,
    ngx_str_t *id, ngx_voicegw_model_view_t *m);
ngx_int_t ngx_voicegw_entity_cache_project(ngx_voicegw_entity_cache_t *ec,
    ngx_str_t *id, ngx_voicegw_project_view_t *p);

/* after a committed write of an entity: every process reloads */
void ngx_voicegw_entity_cache_bump(ngx_voicegw_zone_t *zone);


#endif /* _NGX_VOICEGW_ENTITY_CACHE_H_INCLUDED_ */
