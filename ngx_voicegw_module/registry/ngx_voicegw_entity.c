
/*
 * ngx_voicegw_entity.c
 *
 * Owns the rules every VoiceGateway entity obeys, wherever it comes from
 * (ids are [a-z0-9][a-z0-9._-]{0,63}, model ids provider/model,
 * modalities stt, llm and tts, budget actions warn and block), the
 * lookups of nginx.conf's entities, and the one merge of the two sources
 * of entities.
 *
 * The merge: nginx.conf's entities first, in the order of the file, then
 * the store's rows whose id nginx.conf does not define.  A store row
 * whose id is defined in nginx.conf is shadowed, not changed: it shows
 * again when nginx.conf drops the directive.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_registry.h"


static void *ngx_voicegw_entity_lookup(ngx_array_t *a, size_t size,
    size_t id_offset, ngx_str_t *id);


static ngx_conf_enum_t  ngx_voicegw_modalities[] = {
    { ngx_string("stt"), 0 },
    { ngx_string("llm"), 1 },
    { ngx_string("tts"), 2 },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_voicegw_budget_actions[] = {
    { ngx_string("warn"), 0 },
    { ngx_string("block"), 1 },
    { ngx_null_string, 0 }
};


/* -- the merge ------------------------------------------------------------ */

/*
 * Calls each() for every entity of type e: nginx.conf's (conf set, row
 * NULL), then the rows of the store's statement (first column: the id)
 * that nginx.conf does not shadow (row set, conf NULL).  rows may be
 * NULL (no store).  Stops at the first each() that does not answer NGX_OK.
 */

ngx_int_t
ngx_voicegw_entity_merge(ngx_voicegw_registry_t *reg,
    const ngx_voicegw_entity_t *e, ngx_voicegw_sql_stmt_t *rows,
    ngx_voicegw_entity_each_pt each, void *data)
{
    u_char                   *elt;
    ngx_int_t                 rc;
    ngx_uint_t                i, n;
    ngx_array_t              *a;
    ngx_voicegw_sql_value_t  *row;

    a = (ngx_array_t *) ((u_char *) reg + e->conf);
    elt = a->elts;

    for (i = 0; i < a->nelts; i++, elt += e->size) {
        rc = each(data, elt, NULL);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    for (n = 0; rows && rows->ncols && n < rows->nrows; n++) {
        row = ngx_voicegw_sql_cell(rows, n, 0);

        if (row->type != NGX_VOICEGW_SQL_TEXT
            || ngx_voicegw_entity_lookup(a, e->size, e->id, &row->s) != NULL)
        {
            continue;
        }

        rc = each(data, NULL, row);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_entity_count_one(void *data, void *conf,
    ngx_voicegw_sql_value_t *row)
{
    ngx_uint_t  *n = data;

    (*n)++;

    return NGX_OK;
}


ngx_uint_t
ngx_voicegw_entity_count(ngx_voicegw_registry_t *reg,
    const ngx_voicegw_entity_t *e, ngx_voicegw_sql_stmt_t *rows)
{
    ngx_uint_t  n;

    n = 0;

    (void) ngx_voicegw_entity_merge(reg, e, rows,
                                    ngx_voicegw_entity_count_one, &n);

    return n;
}


void *
ngx_voicegw_entity_find(ngx_voicegw_registry_t *reg,
    const ngx_voicegw_entity_t *e, ngx_str_t *id)
{
    return ngx_voicegw_entity_lookup((ngx_array_t *) ((u_char *) reg
                                                      + e->conf),
                                     e->size, e->id, id);
}


static void *
ngx_voicegw_entity_lookup(ngx_array_t *a, size_t size, size_t id_offset,
    ngx_str_t *id)
{
    u_char      *elt;
    ngx_str_t   *s;
    ngx_uint_t   i;

    elt = a->elts;

    for (i = 0; i < a->nelts; i++, elt += size) {
        s = (ngx_str_t *) (elt + id_offset);

        if (s->len == id->len && ngx_strncmp(s->data, id->data, id->len) == 0)
        {
            return elt;
        }
    }

    return NULL;
}


/* -- lookups in nginx.conf ------------------------------------------------ */

ngx_voicegw_provider_conf_t *
ngx_voicegw_conf_provider(ngx_voicegw_registry_t *reg, ngx_str_t *id)
{
    return ngx_voicegw_entity_lookup(&reg->providers,
                                     sizeof(ngx_voicegw_provider_conf_t),
                                     offsetof(ngx_voicegw_provider_conf_t, id),
                                     id);
}


ngx_voicegw_model_conf_t *
ngx_voicegw_conf_model(ngx_voicegw_registry_t *reg, ngx_str_t *id)
{
    return ngx_voicegw_entity_lookup(&reg->models,
                                     sizeof(ngx_voicegw_model_conf_t),
                                     offsetof(ngx_voicegw_model_conf_t, id),
                                     id);
}


ngx_voicegw_stack_conf_t *
ngx_voicegw_conf_stack(ngx_voicegw_registry_t *reg, ngx_str_t *name)
{
    return ngx_voicegw_entity_lookup(&reg->stacks,
                                     sizeof(ngx_voicegw_stack_conf_t),
                                     offsetof(ngx_voicegw_stack_conf_t, name),
                                     name);
}


ngx_voicegw_project_conf_t *
ngx_voicegw_conf_project(ngx_voicegw_registry_t *reg, ngx_str_t *id)
{
    return ngx_voicegw_entity_lookup(&reg->projects,
                                     sizeof(ngx_voicegw_project_conf_t),
                                     offsetof(ngx_voicegw_project_conf_t, id),
                                     id);
}


/* -- the rules ------------------------------------------------------------ */

/* [a-z0-9][a-z0-9._-]{0,63} */

ngx_uint_t
ngx_voicegw_valid_id(ngx_str_t *id)
{
    size_t  i;
    u_char  c;

    if (id->len == 0 || id->len > 64) {
        return 0;
    }

    for (i = 0; i < id->len; i++) {
        c = id->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            continue;
        }

        if (i > 0 && (c == '.' || c == '_' || c == '-')) {
            continue;
        }

        return 0;
    }

    return 1;
}


/* the part after "provider/": [A-Za-z0-9][A-Za-z0-9._:+-]{0,127} */

ngx_uint_t
ngx_voicegw_valid_model_name(ngx_str_t *name)
{
    size_t  i;
    u_char  c;

    if (name->len == 0 || name->len > 128) {
        return 0;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9'))
        {
            continue;
        }

        if (i > 0 && (c == '.' || c == '_' || c == '-' || c == ':'
                      || c == '+'))
        {
            continue;
        }

        return 0;
    }

    return 1;
}


/* "provider/model" */

ngx_uint_t
ngx_voicegw_valid_model_id(ngx_str_t *id)
{
    u_char     *slash;
    ngx_str_t   provider, name;

    slash = ngx_strlchr(id->data, id->data + id->len, '/');

    if (slash == NULL) {
        return 0;
    }

    provider.data = id->data;
    provider.len = slash - id->data;
    name.data = slash + 1;
    name.len = id->data + id->len - name.data;

    return ngx_voicegw_valid_id(&provider)
           && ngx_voicegw_valid_model_name(&name);
}


ngx_uint_t
ngx_voicegw_valid_modality(ngx_str_t *m)
{
    ngx_uint_t  v;

    return ngx_voicegw_enum_value(ngx_voicegw_modalities, m, &v) == NGX_OK;
}


ngx_uint_t
ngx_voicegw_valid_budget_action(ngx_str_t *a)
{
    ngx_uint_t  v;

    return ngx_voicegw_enum_value(ngx_voicegw_budget_actions, a, &v)
           == NGX_OK;
}


/* "#rgb" or "#rrggbb" */

ngx_uint_t
ngx_voicegw_valid_accent(ngx_str_t *a)
{
    size_t  i;

    if ((a->len != 4 && a->len != 7) || a->data[0] != '#') {
        return 0;
    }

    for (i = 1; i < a->len; i++) {
        if (ngx_hextoi(&a->data[i], 1) == NGX_ERROR) {
            return 0;
        }
    }

    return 1;
}


/*
 * A project without an accent gets one from its first tag, as the
 * original's dashboard colours did: production green, staging yellow,
 * development and test blue, anything else pink; no tag blue.
 */

static struct {
    ngx_str_t                    word;
    const char                  *accent;
} ngx_voicegw_accents[] = {
    { ngx_string("prod"), "#2ecc71" },
    { ngx_string("stag"), "#f1c40f" },
    { ngx_string("dev"), "#3498db" },
    { ngx_string("test"), "#3498db" },
    { ngx_null_string, "#e84393" }
};


void
ngx_voicegw_default_accent(ngx_str_t *tag, ngx_str_t *accent)
{
    ngx_uint_t  i;

    if (tag == NULL || tag->len == 0) {
        ngx_str_set(accent, "#3498db");
        return;
    }

    for (i = 0; ngx_voicegw_accents[i].word.len; i++) {
        if (ngx_strlcasestrn(tag->data, tag->data + tag->len,
                             ngx_voicegw_accents[i].word.data,
                             ngx_voicegw_accents[i].word.len - 1)
            != NULL)
        {
            break;
        }
    }

    accent->data = (u_char *) ngx_voicegw_accents[i].accent;
    accent->len = ngx_strlen(accent->data);
}
