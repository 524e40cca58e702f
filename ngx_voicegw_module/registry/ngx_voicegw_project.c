
/*
 * ngx_voicegw_project.c
 *
 * Owns projects: the "voicegw_project" directive, how a project is shown
 * by the API, and its budget status (ok below 80 % of the daily budget,
 * warning from 80 %, exceeded from 100 %; ok without a budget).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_registry.h"


static void ngx_voicegw_project_json(ngx_voicegw_json_t *j, ngx_pool_t *pool,
    void *conf, ngx_voicegw_sql_value_t *row);


const ngx_voicegw_entity_t  ngx_voicegw_entity_project = {
    "project",
    NGX_VOICEGW_TABLE_PROJECTS,
    offsetof(ngx_voicegw_registry_t, projects),
    sizeof(ngx_voicegw_project_conf_t),
    offsetof(ngx_voicegw_project_conf_t, id),
    ngx_voicegw_valid_id,
    ngx_voicegw_project_json
};


const char *
ngx_voicegw_budget_status(double budget, double spend)
{
    if (budget <= 0 || spend < 0.8 * budget) {
        return "ok";
    }

    if (spend < budget) {
        return "warning";
    }

    return "exceeded";
}


/*
 * {"id","name","description","daily_budget","budget_action",
 *  "default_stack","tags","accent","source"}
 */

static void
ngx_voicegw_project_json(ngx_voicegw_json_t *j, ngx_pool_t *pool, void *conf,
    ngx_voicegw_sql_value_t *row)
{
    ngx_voicegw_project_conf_t  *c = conf;

    u_char                     err[64];
    ngx_str_t                 *tags, accent;
    ngx_uint_t                 i;
    ngx_voicegw_json_value_t  *list;

    if (c) {
        ngx_voicegw_json_key(j, "id");
        ngx_voicegw_json_str(j, &c->id);
        ngx_voicegw_json_key(j, "name");
        ngx_voicegw_json_str(j, &c->name);
        ngx_voicegw_json_key(j, "description");
        ngx_voicegw_json_str(j, &c->description);
        ngx_voicegw_json_key(j, "daily_budget");
        ngx_voicegw_json_double(j, c->daily_budget);
        ngx_voicegw_json_key(j, "budget_action");
        ngx_voicegw_json_str(j, &c->budget_action);
        ngx_voicegw_json_key(j, "default_stack");
        ngx_voicegw_json_strn(j, c->default_stack.data, c->default_stack.len);

        ngx_voicegw_json_key(j, "tags");
        ngx_voicegw_json_array_open(j);

        tags = c->tags.elts;

        for (i = 0; i < c->tags.nelts; i++) {
            ngx_voicegw_json_str(j, &tags[i]);
        }

        ngx_voicegw_json_array_close(j);

        ngx_voicegw_json_key(j, "accent");
        ngx_voicegw_json_str(j, &c->accent);
        ngx_voicegw_json_key(j, "source");
        ngx_voicegw_json_cstr(j, "config");
        return;
    }

    ngx_voicegw_json_key(j, "id");
    ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_PROJECT_ID]);
    ngx_voicegw_json_key(j, "name");
    ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_PROJECT_NAME]);
    ngx_voicegw_json_key(j, "description");
    ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_PROJECT_DESCRIPTION]);
    ngx_voicegw_json_key(j, "daily_budget");
    ngx_voicegw_json_double(j, row[NGX_VOICEGW_PROJECT_BUDGET].d);
    ngx_voicegw_json_key(j, "budget_action");
    ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_PROJECT_ACTION]);
    ngx_voicegw_json_key(j, "default_stack");
    ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_PROJECT_STACK]);

    /* tags are kept as a JSON array */

    list = NULL;

    if (row[NGX_VOICEGW_PROJECT_TAGS].type == NGX_VOICEGW_SQL_TEXT
        && ngx_voicegw_json_parse(pool, row[NGX_VOICEGW_PROJECT_TAGS].s.data,
                                  row[NGX_VOICEGW_PROJECT_TAGS].s.len,
                                  &list, err, sizeof(err))
           != NGX_OK)
    {
        list = NULL;
    }

    ngx_voicegw_json_key(j, "tags");

    if (list != NULL && list->type == NGX_VOICEGW_JSON_ARRAY) {
        ngx_voicegw_json_value(j, list, NULL);

    } else {
        ngx_voicegw_json_array_open(j);
        ngx_voicegw_json_array_close(j);
    }

    ngx_voicegw_json_key(j, "accent");

    if (row[NGX_VOICEGW_PROJECT_ACCENT].type == NGX_VOICEGW_SQL_TEXT
        && row[NGX_VOICEGW_PROJECT_ACCENT].s.len)
    {
        ngx_voicegw_json_str(j, &row[NGX_VOICEGW_PROJECT_ACCENT].s);

    } else {
        ngx_voicegw_default_accent(list != NULL
                                   && list->type == NGX_VOICEGW_JSON_ARRAY
                                   && list->n
                                   ? &list->items[0]->str : NULL,
                                   &accent);
        ngx_voicegw_json_str(j, &accent);
    }

    ngx_voicegw_json_key(j, "source");
    ngx_voicegw_json_cstr(j, "db");
}


/*
 * voicegw_project ID [name=..] [description=..] [daily_budget=..]
 *                 [budget_action=warn|block] [default_stack=..]
 *                 [tags=a,b] [accent=#hex];
 */

char *
ngx_voicegw_project_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    u_char                      *p, *last, *comma;
    ngx_str_t                   *value, v, *tag;
    ngx_uint_t                   i;
    ngx_voicegw_registry_t      *reg;
    ngx_voicegw_project_conf_t  *pr;

    reg = vmcf->registry;
    value = cf->args->elts;

    if (!ngx_voicegw_valid_id(&value[1])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid project id \"%V\": use "
                           "[a-z0-9][a-z0-9._-]{0,63}", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_voicegw_conf_project(reg, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate project \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    pr = ngx_array_push(&reg->projects);
    if (pr == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(pr, sizeof(ngx_voicegw_project_conf_t));

    if (ngx_array_init(&pr->tags, cf->pool, 2, sizeof(ngx_str_t)) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    pr->id = value[1];
    pr->name = value[1];
    ngx_str_set(&pr->description, "");
    ngx_str_set(&pr->budget_action, "warn");
    pr->file = cf->conf_file->file.name.data;
    pr->line = cf->conf_file->line;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_voicegw_conf_param(&value[i], "name", &v) == NGX_OK
            && v.len)
        {
            pr->name = v;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "description", &v) == NGX_OK) {
            pr->description = v;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "daily_budget", &v) == NGX_OK) {
            if (ngx_voicegw_parse_number(v.data, v.len, &pr->daily_budget)
                != NGX_OK
                || pr->daily_budget < 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid daily_budget \"%V\" in \"%V\": "
                                   "a number of USD, at least 0",
                                   &v, &cmd->name);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "budget_action", &v)
            == NGX_OK)
        {
            if (!ngx_voicegw_valid_budget_action(&v)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid budget_action \"%V\" in \"%V\": "
                                   "use warn or block", &v, &cmd->name);
                return NGX_CONF_ERROR;
            }

            pr->budget_action = v;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "default_stack", &v)
            == NGX_OK && v.len)
        {
            pr->default_stack = v;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "tags", &v) == NGX_OK) {
            p = v.data;
            last = v.data + v.len;

            while (p < last) {
                comma = ngx_strlchr(p, last, ',');
                if (comma == NULL) {
                    comma = last;
                }

                if (comma > p) {
                    tag = ngx_array_push(&pr->tags);
                    if (tag == NULL) {
                        return NGX_CONF_ERROR;
                    }

                    tag->data = p;
                    tag->len = comma - p;
                }

                p = comma + 1;
            }

            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "accent", &v) == NGX_OK) {
            if (!ngx_voicegw_valid_accent(&v)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid accent \"%V\" in \"%V\": use "
                                   "#rgb or #rrggbb", &v, &cmd->name);
                return NGX_CONF_ERROR;
            }

            pr->accent = v;
            continue;
        }

        return ngx_voicegw_conf_invalid(cf, cmd, &value[i]);
    }

    if (pr->accent.len == 0) {
        ngx_voicegw_default_accent(pr->tags.nelts ? pr->tags.elts : NULL,
                                   &pr->accent);
    }

    return NGX_CONF_OK;
}
