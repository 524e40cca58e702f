
/*
 * ngx_voicegw_entity_sql.c
 *
 * Owns the SQL of the VoiceGateway entities: providers, models and
 * projects, their audit log, and today's spend from the daily rollups.
 * Every statement is added to a caller's batch with its parameters; the
 * columns it returns are named in ngx_voicegw_entity_sql.h.
 *
 * Writes carry their audit record in the same batch, hence the same
 * transaction: there is no change without its record.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_sql.h"
#include "ngx_voicegw_entity_sql.h"


#define NGX_VOICEGW_SQL_NOW    "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
#define NGX_VOICEGW_SQL_TODAY  "strftime('%Y-%m-%d', 'now')"

#define NGX_VOICEGW_PROJECT_COLUMNS                                          \
    "id, name, description, daily_budget, budget_action, default_stack, "    \
    "tags, accent"


/* table names cannot be parameters: one statement per table */

static const char  *ngx_voicegw_sql_ids_of[] = {
    "SELECT id FROM providers ORDER BY id",
    "SELECT id FROM models ORDER BY id",
    "SELECT id FROM projects ORDER BY id"
};

static const char  *ngx_voicegw_sql_exists_in[] = {
    "SELECT id FROM providers WHERE id = ?1",
    "SELECT id FROM models WHERE id = ?1",
    "SELECT id FROM projects WHERE id = ?1"
};

static const char  *ngx_voicegw_sql_delete_from[] = {
    "DELETE FROM providers WHERE id = ?1",
    "DELETE FROM models WHERE id = ?1",
    "DELETE FROM projects WHERE id = ?1"
};

static const char  *ngx_voicegw_sql_spend_by[] = {
    "SELECT project, sum(cost_usd), sum(requests) FROM daily "
    "WHERE day = " NGX_VOICEGW_SQL_TODAY " AND (?1 IS NULL OR project = ?1) "
    "GROUP BY project ORDER BY 2 DESC",

    "SELECT provider, sum(cost_usd), sum(requests) FROM daily "
    "WHERE day = " NGX_VOICEGW_SQL_TODAY " AND (?1 IS NULL OR project = ?1) "
    "GROUP BY provider ORDER BY 2 DESC",

    "SELECT model_id, sum(cost_usd), sum(requests) FROM daily "
    "WHERE day = " NGX_VOICEGW_SQL_TODAY " AND (?1 IS NULL OR project = ?1) "
    "GROUP BY model_id ORDER BY 2 DESC"
};


/* -- any entity ----------------------------------------------------------- */

ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_ids(ngx_voicegw_sql_batch_t *b, ngx_uint_t table)
{
    return ngx_voicegw_sql_add(b, ngx_voicegw_sql_ids_of[table],
                               NGX_VOICEGW_SQL_ANY);
}


/* the entity must exist: the batch stops here when it does not */

ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_exists(ngx_voicegw_sql_batch_t *b, ngx_uint_t table,
    ngx_str_t *id)
{
    ngx_voicegw_sql_stmt_t  *st;

    st = ngx_voicegw_sql_add(b, ngx_voicegw_sql_exists_in[table],
                             NGX_VOICEGW_SQL_ROW);
    if (st != NULL) {
        ngx_voicegw_sql_text(st, id);
    }

    return st;
}


ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_delete(ngx_voicegw_sql_batch_t *b, ngx_uint_t table,
    ngx_str_t *id)
{
    ngx_voicegw_sql_stmt_t  *st;

    st = ngx_voicegw_sql_add(b, ngx_voicegw_sql_delete_from[table],
                             NGX_VOICEGW_SQL_CHANGED);
    if (st != NULL) {
        ngx_voicegw_sql_text(st, id);
    }

    return st;
}


/* -- providers ------------------------------------------------------------ */

ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_providers(ngx_voicegw_sql_batch_t *b)
{
    return ngx_voicegw_sql_add(b, "SELECT id, type, api_key_masked, base_url "
                                  "FROM providers ORDER BY id",
                               NGX_VOICEGW_SQL_ANY);
}


/* a provider with its sealed key, for a request to it */

ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_provider_key(ngx_voicegw_sql_batch_t *b, ngx_str_t *id)
{
    ngx_voicegw_sql_stmt_t  *st;

    st = ngx_voicegw_sql_add(b, "SELECT type, base_url, api_key_enc "
                                "FROM providers WHERE id = ?1",
                             NGX_VOICEGW_SQL_ANY);
    if (st != NULL) {
        ngx_voicegw_sql_text(st, id);
    }

    return st;
}


/* every provider with its sealed key (the proxy's copy of them) */

ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_provider_keys(ngx_voicegw_sql_batch_t *b)
{
    return ngx_voicegw_sql_add(b, "SELECT id, type, base_url, api_key_enc "
                                  "FROM providers ORDER BY id",
                               NGX_VOICEGW_SQL_ANY);
}


/* the store's models of a provider (NO_ROW: the batch stops if any) */

ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_provider_models(ngx_voicegw_sql_batch_t *b, ngx_str_t *id,
    ngx_uint_t expect)
{
    ngx_voicegw_sql_stmt_t  *st;

    st = ngx_voicegw_sql_add(b, "SELECT id FROM models "
                                "WHERE provider_id = ?1 ORDER BY id", expect);
    if (st != NULL) {
        ngx_voicegw_sql_text(st, id);
    }

    return st;
}


ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_provider_insert(ngx_voicegw_sql_batch_t *b,
    ngx_voicegw_provider_row_t *p)
{
    ngx_str_t                empty;
    ngx_voicegw_sql_stmt_t  *st;

    ngx_str_set(&empty, "");

    st = ngx_voicegw_sql_add(b,
             "INSERT INTO providers (id, type, api_key_enc, api_key_masked, "
             "base_url, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, "
             NGX_VOICEGW_SQL_NOW ", " NGX_VOICEGW_SQL_NOW ")",
             NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NULL;
    }

    ngx_voicegw_sql_text(st, p->id);
    ngx_voicegw_sql_text(st, p->type);
    ngx_voicegw_sql_text(st, p->sealed ? p->sealed : &empty);
    ngx_voicegw_sql_text(st, p->masked ? p->masked : &empty);
    ngx_voicegw_sql_text(st, p->base_url);

    return st;
}


/*
 * A PATCH of a provider, in three statements:
 *
 *   0. its audit record, written only if the provider exists (the batch
 *      stops there when it does not), saying when the key is dropped;
 *   1. whether the stored key is dropped (NGX_VOICEGW_PUPD_KEY_DROPPED);
 *   2. the update.
 *
 * A key goes only where its owner sent it: a change of the type or of
 * the base URL drops the stored key, unless the same request sets one.
 * Every statement reads the row as it was before the update.
 */

#define NGX_VOICEGW_SQL_KEY_DROPPED                                          \
    "(NOT ?3 AND api_key_enc != '' "                                         \
    "AND ((?4 AND type IS NOT ?5) OR (?6 AND base_url IS NOT ?7)))"

ngx_int_t
ngx_voicegw_sql_provider_update(ngx_voicegw_sql_batch_t *b,
    ngx_voicegw_provider_row_t *p, ngx_str_t *changes, ngx_str_t *actor)
{
    ngx_uint_t               i;
    ngx_voicegw_sql_stmt_t  *st[3];

    st[0] = ngx_voicegw_sql_add(b,
                "INSERT INTO audit_log (timestamp, entity_type, entity_id, "
                "action, changes, source, actor) "
                "SELECT " NGX_VOICEGW_SQL_NOW ", 'provider', id, 'update', "
                "CASE WHEN " NGX_VOICEGW_SQL_KEY_DROPPED " "
                "THEN json_set(?8, '$.api_key_dropped', json('true')) "
                "ELSE ?8 END, 'api', ?9 FROM providers WHERE id = ?1",
                NGX_VOICEGW_SQL_CHANGED);

    st[1] = ngx_voicegw_sql_add(b,
                "SELECT " NGX_VOICEGW_SQL_KEY_DROPPED " "
                "FROM providers WHERE id = ?1",
                NGX_VOICEGW_SQL_ROW);

    st[2] = ngx_voicegw_sql_add(b,
                "UPDATE providers SET "
                "api_key_enc = CASE WHEN ?3 THEN ?10 "
                "WHEN " NGX_VOICEGW_SQL_KEY_DROPPED " THEN '' "
                "ELSE api_key_enc END, "
                "api_key_masked = CASE WHEN ?3 THEN ?11 "
                "WHEN " NGX_VOICEGW_SQL_KEY_DROPPED " THEN '' "
                "ELSE api_key_masked END, "
                "type = CASE WHEN ?4 THEN ?5 ELSE type END, "
                "base_url = CASE WHEN ?6 THEN ?7 ELSE base_url END, "
                "updated_at = " NGX_VOICEGW_SQL_NOW " WHERE id = ?1",
                NGX_VOICEGW_SQL_CHANGED);

    if (st[0] == NULL || st[1] == NULL || st[2] == NULL) {
        return NGX_ERROR;
    }

    /* every statement binds every parameter, used or not */

    for (i = 0; i < 3; i++) {
        ngx_voicegw_sql_text(st[i], p->id);
        ngx_voicegw_sql_null(st[i]);
        ngx_voicegw_sql_int(st[i], p->sealed != NULL);
        ngx_voicegw_sql_int(st[i], p->type != NULL);
        ngx_voicegw_sql_text(st[i], p->type);
        ngx_voicegw_sql_int(st[i], p->set_url);
        ngx_voicegw_sql_text(st[i], p->base_url);
        ngx_voicegw_sql_text(st[i], changes);
        ngx_voicegw_sql_text(st[i], actor);
        ngx_voicegw_sql_text(st[i], p->sealed);
        ngx_voicegw_sql_text(st[i], p->masked);
    }

    return NGX_OK;
}


/* -- models --------------------------------------------------------------- */

ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_models(ngx_voicegw_sql_batch_t *b)
{
    return ngx_voicegw_sql_add(b,
               "SELECT id, provider_id, model_name, modality, display_name, "
               "default_language, default_voice, price_per_minute, "
               "price_per_1k_input_tokens, price_per_1k_output_tokens, "
               "price_per_character FROM models ORDER BY id",
               NGX_VOICEGW_SQL_ANY);
}


ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_model_insert(ngx_voicegw_sql_batch_t *b,
    ngx_voicegw_model_row_t *m)
{
    ngx_uint_t               k;
    ngx_voicegw_sql_stmt_t  *st;

    st = ngx_voicegw_sql_add(b,
             "INSERT INTO models (id, provider_id, model_name, modality, "
             "display_name, default_language, default_voice, "
             "price_per_minute, price_per_1k_input_tokens, "
             "price_per_1k_output_tokens, price_per_character, created_at, "
             "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
             "?11, " NGX_VOICEGW_SQL_NOW ", " NGX_VOICEGW_SQL_NOW ")",
             NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NULL;
    }

    ngx_voicegw_sql_text(st, m->id);
    ngx_voicegw_sql_text(st, m->provider);
    ngx_voicegw_sql_text(st, m->name);
    ngx_voicegw_sql_text(st, m->modality);
    ngx_voicegw_sql_text(st, m->display_name);
    ngx_voicegw_sql_text(st, m->language);
    ngx_voicegw_sql_text(st, m->voice);

    for (k = 0; k < NGX_VOICEGW_NPRICES; k++) {
        if (m->priced & ((ngx_uint_t) 1 << k)) {
            ngx_voicegw_sql_real(st, m->price[k]);

        } else {
            ngx_voicegw_sql_null(st);
        }
    }

    return st;
}


/* -- projects ------------------------------------------------------------- */

/* all projects, or the one of id */

ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_projects(ngx_voicegw_sql_batch_t *b, ngx_str_t *id)
{
    ngx_voicegw_sql_stmt_t  *st;

    st = ngx_voicegw_sql_add(b, "SELECT " NGX_VOICEGW_PROJECT_COLUMNS
                                " FROM projects "
                                "WHERE ?1 IS NULL OR id = ?1 ORDER BY id",
                             NGX_VOICEGW_SQL_ANY);
    if (st != NULL) {
        ngx_voicegw_sql_text(st, id);
    }

    return st;
}


ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_project_stack(ngx_voicegw_sql_batch_t *b, ngx_str_t *id)
{
    ngx_voicegw_sql_stmt_t  *st;

    st = ngx_voicegw_sql_add(b, "SELECT default_stack FROM projects "
                                "WHERE id = ?1", NGX_VOICEGW_SQL_ANY);
    if (st != NULL) {
        ngx_voicegw_sql_text(st, id);
    }

    return st;
}


ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_project_insert(ngx_voicegw_sql_batch_t *b,
    ngx_voicegw_project_row_t *p)
{
    ngx_voicegw_sql_stmt_t  *st;

    st = ngx_voicegw_sql_add(b,
             "INSERT INTO projects (id, name, description, daily_budget, "
             "budget_action, default_stack, tags, accent, created_at, "
             "updated_at) VALUES (?1, coalesce(?2, ?1), coalesce(?3, ''), "
             "coalesce(?4, 0), coalesce(?5, 'warn'), ?6, coalesce(?7, '[]'), "
             "?8, " NGX_VOICEGW_SQL_NOW ", " NGX_VOICEGW_SQL_NOW ")",
             NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NULL;
    }

    ngx_voicegw_sql_text(st, p->id);
    ngx_voicegw_sql_text(st, p->name);
    ngx_voicegw_sql_text(st, p->description);

    if (p->set & NGX_VOICEGW_SET_BUDGET) {
        ngx_voicegw_sql_real(st, p->daily_budget);

    } else {
        ngx_voicegw_sql_null(st);
    }

    ngx_voicegw_sql_text(st, p->budget_action);
    ngx_voicegw_sql_text(st, p->default_stack);
    ngx_voicegw_sql_text(st, p->tags);
    ngx_voicegw_sql_text(st, p->accent);

    return st;
}


/* a PATCH: the fields named change, the others keep their values */

ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_project_update(ngx_voicegw_sql_batch_t *b,
    ngx_voicegw_project_row_t *p)
{
    ngx_voicegw_sql_stmt_t  *st;

    st = ngx_voicegw_sql_add(b,
             "UPDATE projects SET "
             "name = CASE WHEN ?2 THEN ?3 ELSE name END, "
             "description = CASE WHEN ?4 THEN coalesce(?5, '') "
             "ELSE description END, "
             "daily_budget = CASE WHEN ?6 THEN ?7 ELSE daily_budget END, "
             "budget_action = CASE WHEN ?8 THEN ?9 ELSE budget_action END, "
             "default_stack = CASE WHEN ?10 THEN ?11 ELSE default_stack END, "
             "tags = CASE WHEN ?12 THEN ?13 ELSE tags END, "
             "accent = CASE WHEN ?14 THEN ?15 ELSE accent END, "
             "updated_at = " NGX_VOICEGW_SQL_NOW " WHERE id = ?1",
             NGX_VOICEGW_SQL_CHANGED);
    if (st == NULL) {
        return NULL;
    }

    ngx_voicegw_sql_text(st, p->id);
    ngx_voicegw_sql_int(st, (p->set & NGX_VOICEGW_SET_NAME) != 0);
    ngx_voicegw_sql_text(st, p->name);
    ngx_voicegw_sql_int(st, (p->set & NGX_VOICEGW_SET_DESCRIPTION) != 0);
    ngx_voicegw_sql_text(st, p->description);
    ngx_voicegw_sql_int(st, (p->set & NGX_VOICEGW_SET_BUDGET) != 0);
    ngx_voicegw_sql_real(st, p->daily_budget);
    ngx_voicegw_sql_int(st, (p->set & NGX_VOICEGW_SET_ACTION) != 0);
    ngx_voicegw_sql_text(st, p->budget_action);
    ngx_voicegw_sql_int(st, (p->set & NGX_VOICEGW_SET_STACK) != 0);
    ngx_voicegw_sql_text(st, p->default_stack);
    ngx_voicegw_sql_int(st, (p->set & NGX_VOICEGW_SET_TAGS) != 0);
    ngx_voicegw_sql_text(st, p->tags);
    ngx_voicegw_sql_int(st, (p->set & NGX_VOICEGW_SET_ACCENT) != 0);
    ngx_voicegw_sql_text(st, p->accent);

    return st;
}


/* today's (UTC) cost and requests by project, provider or model */

ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_spend_today(ngx_voicegw_sql_batch_t *b, ngx_uint_t by,
    ngx_str_t *project)
{
    ngx_voicegw_sql_stmt_t  *st;

    st = ngx_voicegw_sql_add(b, ngx_voicegw_sql_spend_by[by],
                             NGX_VOICEGW_SQL_ANY);
    if (st != NULL) {
        ngx_voicegw_sql_text(st, project);
    }

    return st;
}


/* -- the audit log -------------------------------------------------------- */

ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_audit(ngx_voicegw_sql_batch_t *b, const char *type,
    ngx_str_t *id, const char *action, ngx_str_t *changes, ngx_str_t *actor)
{
    ngx_voicegw_sql_stmt_t  *st;

    st = ngx_voicegw_sql_add(b,
             "INSERT INTO audit_log (timestamp, entity_type, entity_id, "
             "action, changes, source, actor) VALUES ("
             NGX_VOICEGW_SQL_NOW ", ?1, ?2, ?3, ?4, 'api', ?5)",
             NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NULL;
    }

    ngx_voicegw_sql_ctext(st, type);
    ngx_voicegw_sql_text(st, id);
    ngx_voicegw_sql_ctext(st, action);
    ngx_voicegw_sql_text(st, changes);
    ngx_voicegw_sql_text(st, actor);

    return st;
}


/* newest first; a NULL filter is no filter */

ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_audit_log(ngx_voicegw_sql_batch_t *b, ngx_str_t *type,
    ngx_str_t *id, ngx_str_t *action, ngx_int_t limit)
{
    ngx_voicegw_sql_stmt_t  *st;

    st = ngx_voicegw_sql_add(b,
             "SELECT id, timestamp, entity_type, entity_id, action, changes, "
             "source, actor FROM audit_log "
             "WHERE (?1 IS NULL OR entity_type = ?1) "
             "AND (?2 IS NULL OR entity_id = ?2) "
             "AND (?3 IS NULL OR action = ?3) "
             "ORDER BY id DESC LIMIT ?4", NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NULL;
    }

    ngx_voicegw_sql_text(st, type);
    ngx_voicegw_sql_text(st, id);
    ngx_voicegw_sql_text(st, action);
    ngx_voicegw_sql_int(st, limit);

    return st;
}
