
/*
 * ngx_voicegw_api_projects.c
 *
 * Handlers of /v1/projects: the list with today's figures of each, one
 * project with today's spend by provider and model and its budget status,
 * create, PATCH (only the fields named change) and delete.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_entity_sql.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_api_entities.h"


#define NGX_VOICEGW_PROJECT_F_ID           0
#define NGX_VOICEGW_PROJECT_F_NAME         1
#define NGX_VOICEGW_PROJECT_F_DESCRIPTION  2
#define NGX_VOICEGW_PROJECT_F_BUDGET       3
#define NGX_VOICEGW_PROJECT_F_ACTION       4
#define NGX_VOICEGW_PROJECT_F_STACK        5
#define NGX_VOICEGW_PROJECT_F_TAGS         6
#define NGX_VOICEGW_PROJECT_F_ACCENT       7
#define NGX_VOICEGW_PROJECT_NFIELDS        8


static ngx_int_t ngx_voicegw_api_projects(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_projects_list(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_project_item(void *data, void *conf,
    ngx_voicegw_sql_value_t *row);
static ngx_int_t ngx_voicegw_api_project_stats(void *data, void *conf,
    ngx_voicegw_sql_value_t *row);
static ngx_int_t ngx_voicegw_api_project(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_project_show(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_project_create(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_project_update(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_project_write(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_uint_t create);
static ngx_int_t ngx_voicegw_api_project_written(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_api_project_delete(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static void ngx_voicegw_api_spend(ngx_voicegw_sql_stmt_t *st, ngx_str_t *id,
    double *cost, int64_t *requests);
static void ngx_voicegw_api_stats_json(ngx_voicegw_json_t *j, double cost,
    int64_t requests);
static void ngx_voicegw_api_groups_json(ngx_voicegw_json_t *j,
    ngx_voicegw_sql_stmt_t *st, double *total, int64_t *requests);


ngx_voicegw_api_route_t  ngx_voicegw_api_projects_routes[] = {

    { NGX_HTTP_GET, ngx_string("/v1/projects"),
      ngx_voicegw_api_projects, 0 },

    { NGX_HTTP_POST, ngx_string("/v1/projects"),
      ngx_voicegw_api_project_create, NGX_VOICEGW_API_BODY },

    { NGX_HTTP_GET, ngx_string("/v1/projects/{}"),
      ngx_voicegw_api_project, 0 },

    { NGX_HTTP_PATCH, ngx_string("/v1/projects/{}"),
      ngx_voicegw_api_project_update, NGX_VOICEGW_API_BODY },

    { NGX_HTTP_DELETE, ngx_string("/v1/projects/{}"),
      ngx_voicegw_api_project_delete, 0 },

    { 0, ngx_null_string, NULL, 0 }
};


static const ngx_voicegw_field_t  ngx_voicegw_project_fields[] = {
    { "project_id", NGX_VOICEGW_F_STRING },
    { "name", NGX_VOICEGW_F_STRING },
    { "description", NGX_VOICEGW_F_STRING|NGX_VOICEGW_F_NULL },
    { "daily_budget", NGX_VOICEGW_F_NUMBER },
    { "budget_action", NGX_VOICEGW_F_STRING },
    { "default_stack", NGX_VOICEGW_F_STRING|NGX_VOICEGW_F_NULL },
    { "tags", NGX_VOICEGW_F_STRINGS },
    { "accent", NGX_VOICEGW_F_STRING|NGX_VOICEGW_F_NULL },
    { NULL, 0 }
};


/* NGX_VOICEGW_SET_* of each field above but the id */

static const ngx_uint_t  ngx_voicegw_project_sets[] = {
    0,
    NGX_VOICEGW_SET_NAME,
    NGX_VOICEGW_SET_DESCRIPTION,
    NGX_VOICEGW_SET_BUDGET,
    NGX_VOICEGW_SET_ACTION,
    NGX_VOICEGW_SET_STACK,
    NGX_VOICEGW_SET_TAGS,
    NGX_VOICEGW_SET_ACCENT
};


typedef struct {
    ngx_voicegw_json_t          *json;
    ngx_pool_t                  *pool;
    ngx_voicegw_sql_stmt_t      *today;
} ngx_voicegw_api_projects_t;


/* -- the list ------------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_api_projects(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_sql_batch_t  *b;

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_api_projects_list(r, ctx);
    }

    /* 0: the projects; 1: today's spend of each */

    b = ngx_voicegw_api_batch(r, ctx, 0);

    if (b == NULL
        || ngx_voicegw_sql_projects(b, NULL) == NULL
        || ngx_voicegw_sql_spend_today(b, NGX_VOICEGW_SPEND_BY_PROJECT, NULL)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_api_projects_list);
}


static ngx_int_t
ngx_voicegw_api_project_item(void *data, void *conf,
    ngx_voicegw_sql_value_t *row)
{
    ngx_voicegw_api_projects_t  *l = data;

    ngx_voicegw_json_map_open(l->json);
    ngx_voicegw_entity_project.json(l->json, l->pool, conf, row);
    ngx_voicegw_json_map_close(l->json);

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_api_project_stats(void *data, void *conf,
    ngx_voicegw_sql_value_t *row)
{
    ngx_voicegw_api_projects_t  *l = data;

    double                       cost;
    int64_t                      requests;
    ngx_str_t                   *id;
    ngx_voicegw_project_conf_t  *pc;

    pc = conf;
    id = pc ? &pc->id : &row[NGX_VOICEGW_PROJECT_ID].s;

    ngx_voicegw_api_spend(l->today, id, &cost, &requests);

    ngx_voicegw_json_str(l->json, id);
    ngx_voicegw_api_stats_json(l->json, cost, requests);

    return NGX_OK;
}


/* {"projects":[...],"stats":{id:{"cost_today","requests_today"}}} */

static ngx_int_t
ngx_voicegw_api_projects_list(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                    answer;
    ngx_voicegw_sql_stmt_t      *rows;
    ngx_voicegw_sql_batch_t     *b;
    ngx_voicegw_registry_t      *reg;
    ngx_voicegw_api_projects_t   l;

    reg = ctx->vmcf->registry;
    rows = NULL;

    ngx_memzero(&l, sizeof(ngx_voicegw_api_projects_t));

    if (ctx->op != NULL) {
        b = ngx_voicegw_api_batch_rows(r, ctx, &answer);
        if (b == NULL) {
            return answer;
        }

        rows = &b->stmt[0];
        l.today = &b->stmt[1];
    }

    l.json = ngx_voicegw_api_json(r);
    l.pool = r->pool;

    if (l.json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(l.json);

    ngx_voicegw_json_key(l.json, "projects");
    ngx_voicegw_json_array_open(l.json);

    (void) ngx_voicegw_entity_merge(reg, &ngx_voicegw_entity_project, rows,
                                    ngx_voicegw_api_project_item, &l);

    ngx_voicegw_json_array_close(l.json);

    ngx_voicegw_json_key(l.json, "stats");
    ngx_voicegw_json_map_open(l.json);

    (void) ngx_voicegw_entity_merge(reg, &ngx_voicegw_entity_project, rows,
                                    ngx_voicegw_api_project_stats, &l);

    ngx_voicegw_json_map_close(l.json);

    ngx_voicegw_json_map_close(l.json);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, l.json);
}


/* today's cost and requests of a project, from the spend statement */

static void
ngx_voicegw_api_spend(ngx_voicegw_sql_stmt_t *st, ngx_str_t *id,
    double *cost, int64_t *requests)
{
    ngx_uint_t                n;
    ngx_voicegw_sql_value_t  *row;

    *cost = 0;
    *requests = 0;

    for (n = 0; st && n < st->nrows; n++) {
        row = ngx_voicegw_sql_cell(st, n, 0);

        if (row[NGX_VOICEGW_SPEND_KEY].s.len == id->len
            && ngx_strncmp(row[NGX_VOICEGW_SPEND_KEY].s.data, id->data,
                           id->len)
               == 0)
        {
            *cost = row[NGX_VOICEGW_SPEND_COST].d;
            *requests = row[NGX_VOICEGW_SPEND_REQUESTS].i;
            return;
        }
    }
}


static void
ngx_voicegw_api_stats_json(ngx_voicegw_json_t *j, double cost,
    int64_t requests)
{
    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "cost_today");
    ngx_voicegw_json_double(j, cost);
    ngx_voicegw_json_key(j, "requests_today");
    ngx_voicegw_json_int(j, requests);
    ngx_voicegw_json_map_close(j);
}


/* -- one project ---------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_api_project(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_str_t                *id;
    ngx_voicegw_sql_batch_t  *b;

    id = &ctx->params[0];

    if (ctx->vmcf->store == NULL) {
        if (ngx_voicegw_conf_project(ctx->vmcf->registry, id) == NULL) {
            return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND,
                                           "not_found", "no project \"%V\"",
                                           id);
        }

        return ngx_voicegw_api_project_show(r, ctx);
    }

    /* 0: the project; 1, 2: today's spend by provider and by model */

    b = ngx_voicegw_api_batch(r, ctx, 0);

    if (b == NULL
        || ngx_voicegw_sql_projects(b, id) == NULL
        || ngx_voicegw_sql_spend_today(b, NGX_VOICEGW_SPEND_BY_PROVIDER, id)
           == NULL
        || ngx_voicegw_sql_spend_today(b, NGX_VOICEGW_SPEND_BY_MODEL, id)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_api_project_show);
}


/* {"cost":..,"requests":..} of every group of statement st */

static void
ngx_voicegw_api_groups_json(ngx_voicegw_json_t *j, ngx_voicegw_sql_stmt_t *st,
    double *total, int64_t *requests)
{
    ngx_uint_t                n;
    ngx_voicegw_sql_value_t  *row;

    ngx_voicegw_json_map_open(j);

    for (n = 0; st && n < st->nrows; n++) {
        row = ngx_voicegw_sql_cell(st, n, 0);

        ngx_voicegw_json_str(j, &row[NGX_VOICEGW_SPEND_KEY].s);
        ngx_voicegw_json_map_open(j);
        ngx_voicegw_json_key(j, "cost");
        ngx_voicegw_json_double(j, row[NGX_VOICEGW_SPEND_COST].d);
        ngx_voicegw_json_key(j, "requests");
        ngx_voicegw_json_int(j, row[NGX_VOICEGW_SPEND_REQUESTS].i);
        ngx_voicegw_json_map_close(j);

        if (total) {
            *total += row[NGX_VOICEGW_SPEND_COST].d;
            *requests += row[NGX_VOICEGW_SPEND_REQUESTS].i;
        }
    }

    ngx_voicegw_json_map_close(j);
}


/* the project with today's spend and its budget status */

static ngx_int_t
ngx_voicegw_api_project_show(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    double                       spend, budget;
    int64_t                      requests;
    ngx_int_t                    answer;
    ngx_str_t                   *id;
    ngx_voicegw_json_t          *j;
    ngx_voicegw_sql_stmt_t      *st, *by_provider, *by_model;
    ngx_voicegw_sql_batch_t     *b;
    ngx_voicegw_sql_value_t     *row;
    ngx_voicegw_project_conf_t  *pc;

    id = &ctx->params[0];
    row = NULL;
    by_provider = NULL;
    by_model = NULL;

    if (ctx->op != NULL) {
        b = ngx_voicegw_api_batch_rows(r, ctx, &answer);
        if (b == NULL) {
            return answer;
        }

        st = &b->stmt[0];
        by_provider = &b->stmt[1];
        by_model = &b->stmt[2];
        row = st->nrows ? ngx_voicegw_sql_cell(st, 0, 0) : NULL;
    }

    pc = ngx_voicegw_conf_project(ctx->vmcf->registry, id);

    if (pc == NULL && row == NULL) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no project \"%V\"", id);
    }

    if (pc != NULL) {
        /* nginx.conf's shadows the store's */
        row = NULL;
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_entity_project.json(j, r->pool, pc, row);

    /* today's figures, summed while they are written out */

    spend = 0;
    requests = 0;

    ngx_voicegw_json_key(j, "costs_today");
    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "by_provider");
    ngx_voicegw_api_groups_json(j, by_provider, &spend, &requests);
    ngx_voicegw_json_key(j, "by_model");
    ngx_voicegw_api_groups_json(j, by_model, NULL, NULL);
    ngx_voicegw_json_key(j, "total");
    ngx_voicegw_json_double(j, spend);
    ngx_voicegw_json_map_close(j);

    budget = pc ? pc->daily_budget : row[NGX_VOICEGW_PROJECT_BUDGET].d;

    ngx_voicegw_json_key(j, "today_spend");
    ngx_voicegw_json_double(j, spend);
    ngx_voicegw_json_key(j, "budget_status");
    ngx_voicegw_json_cstr(j, ngx_voicegw_budget_status(budget, spend));
    ngx_voicegw_json_key(j, "today");
    ngx_voicegw_api_stats_json(j, spend, requests);

    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


/* -- writes --------------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_api_project_create(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    return ngx_voicegw_api_project_write(r, ctx, 1);
}


static ngx_int_t
ngx_voicegw_api_project_update(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    return ngx_voicegw_api_project_write(r, ctx, 0);
}


/*
 * POST and PATCH of a project share the checks; a PATCH changes only
 * the fields it names.
 */

static ngx_int_t
ngx_voicegw_api_project_write(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_uint_t create)
{
    ngx_str_t                  *id, *v, *tags;
    ngx_int_t                   answer;
    ngx_uint_t                  k;
    ngx_voicegw_json_t         *j;
    ngx_voicegw_sql_stmt_t     *st;
    ngx_voicegw_sql_batch_t    *b;
    ngx_voicegw_registry_t     *reg;
    ngx_voicegw_json_value_t   *f[NGX_VOICEGW_PROJECT_NFIELDS];
    ngx_voicegw_project_row_t   p;

    reg = ctx->vmcf->registry;

    if (ngx_voicegw_api_fields(r, ctx, ngx_voicegw_project_fields, f,
                               &answer)
        != NGX_OK)
    {
        return answer;
    }

    if (create) {
        if (f[NGX_VOICEGW_PROJECT_F_ID] == NULL
            || !ngx_voicegw_valid_id(&f[NGX_VOICEGW_PROJECT_F_ID]->str))
        {
            return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_id",
                                           "project_id is required and must "
                                           "match [a-z0-9][a-z0-9._-]{0,63}");
        }

        id = &f[NGX_VOICEGW_PROJECT_F_ID]->str;

    } else {
        id = &ctx->params[0];
        v = f[NGX_VOICEGW_PROJECT_F_ID] ? &f[NGX_VOICEGW_PROJECT_F_ID]->str
                                        : NULL;

        if (v != NULL
            && (v->len != id->len
                || ngx_strncmp(v->data, id->data, id->len) != 0))
        {
            return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_field",
                                           "project_id cannot be changed");
        }
    }

    v = f[NGX_VOICEGW_PROJECT_F_NAME] ? &f[NGX_VOICEGW_PROJECT_F_NAME]->str
                                      : NULL;

    if (v != NULL && (v->len == 0 || v->len > 256)) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_field",
                                       "name must be 1 to 256 bytes");
    }

    if (f[NGX_VOICEGW_PROJECT_F_BUDGET] != NULL
        && (f[NGX_VOICEGW_PROJECT_F_BUDGET]->d < 0
            || f[NGX_VOICEGW_PROJECT_F_BUDGET]->d > 1e9))
    {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_field",
                                       "daily_budget must be a number of "
                                       "USD from 0 to 1000000000");
    }

    if (f[NGX_VOICEGW_PROJECT_F_ACTION] != NULL
        && !ngx_voicegw_valid_budget_action(
                                     &f[NGX_VOICEGW_PROJECT_F_ACTION]->str))
    {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_field",
                                       "budget_action must be warn or block");
    }

    v = ngx_voicegw_api_opt_str(f[NGX_VOICEGW_PROJECT_F_STACK]);

    if (v != NULL && ngx_voicegw_conf_stack(reg, v) == NULL) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "unknown_stack",
                                       "no stack \"%V\" (stacks are defined "
                                       "by voicegw_stack)", v);
    }

    v = ngx_voicegw_api_opt_str(f[NGX_VOICEGW_PROJECT_F_ACCENT]);

    if (v != NULL && !ngx_voicegw_valid_accent(v)) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_field",
                                       "accent must be #rgb or #rrggbb");
    }

    if (ngx_voicegw_conf_project(reg, id) != NULL) {
        if (create) {
            return ngx_voicegw_reply_error(r, NGX_HTTP_CONFLICT, "conflict",
                                           "project \"%V\" is defined in "
                                           "nginx.conf", id);
        }

        return ngx_voicegw_api_read_only(r, &ngx_voicegw_entity_project, id);
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_api_no_store(r);
    }

    tags = NULL;

    if (f[NGX_VOICEGW_PROJECT_F_TAGS] != NULL) {
        tags = ngx_palloc(r->pool, sizeof(ngx_str_t));
        j = ngx_voicegw_api_json(r);

        if (tags == NULL || j == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_voicegw_json_value(j, f[NGX_VOICEGW_PROJECT_F_TAGS], NULL);

        if (ngx_voicegw_json_string(j, r->pool, tags) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_memzero(&p, sizeof(ngx_voicegw_project_row_t));

    p.id = id;

    for (k = 1; k < NGX_VOICEGW_PROJECT_NFIELDS; k++) {
        if (f[k] != NULL) {
            p.set |= ngx_voicegw_project_sets[k];
        }
    }

    p.name = f[NGX_VOICEGW_PROJECT_F_NAME]
             ? &f[NGX_VOICEGW_PROJECT_F_NAME]->str : NULL;
    p.description = ngx_voicegw_api_opt_str(
                                      f[NGX_VOICEGW_PROJECT_F_DESCRIPTION]);
    p.daily_budget = f[NGX_VOICEGW_PROJECT_F_BUDGET]
                     ? f[NGX_VOICEGW_PROJECT_F_BUDGET]->d : 0;
    p.budget_action = f[NGX_VOICEGW_PROJECT_F_ACTION]
                      ? &f[NGX_VOICEGW_PROJECT_F_ACTION]->str : NULL;
    p.default_stack = ngx_voicegw_api_opt_str(f[NGX_VOICEGW_PROJECT_F_STACK]);
    p.tags = tags;
    p.accent = ngx_voicegw_api_opt_str(f[NGX_VOICEGW_PROJECT_F_ACCENT]);

    b = ngx_voicegw_api_batch(r, ctx, 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = id;

    /* 0: the row (create: a constraint failure; update: no row), 1: audit */

    st = create ? ngx_voicegw_sql_project_insert(b, &p)
                : ngx_voicegw_sql_project_update(b, &p);

    if (st == NULL
        || ngx_voicegw_api_audit(r, ctx, b, &ngx_voicegw_entity_project, id,
                                 create ? "create" : "update")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_store_post(r, ctx,
                                      ngx_voicegw_api_project_written);
}


static ngx_int_t
ngx_voicegw_api_project_written(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                 answer;
    ngx_str_t                *id;
    ngx_voicegw_json_t       *j;
    ngx_voicegw_sql_batch_t  *b;

    b = ctx->op->data;
    id = ctx->data;

    if (ctx->op->rc == NGX_DECLINED && b->failed == 0) {
        ngx_voicegw_sql_free(b);

        if (ctx->route->method == NGX_HTTP_POST) {
            return ngx_voicegw_reply_error(r, NGX_HTTP_CONFLICT, "conflict",
                                           "project \"%V\" already exists",
                                           id);
        }

        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no project \"%V\"", id);
    }

    if (ngx_voicegw_api_batch_rows(r, ctx, &answer) == NULL) {
        return answer;
    }

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "project_id");
    ngx_voicegw_json_str(j, id);

    if (ctx->route->method == NGX_HTTP_POST) {
        ngx_voicegw_json_key(j, "source");
        ngx_voicegw_json_cstr(j, "db");
        ngx_voicegw_json_key(j, "created");

    } else {
        ngx_voicegw_json_key(j, "updated");
    }

    ngx_voicegw_json_bool(j, 1);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, NGX_HTTP_OK, j);
}


static ngx_int_t
ngx_voicegw_api_project_delete(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    return ngx_voicegw_api_entity_delete(r, ctx, &ngx_voicegw_entity_project);
}
