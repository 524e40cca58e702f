
/*
 * ngx_voicegw_model.c
 *
 * Owns models and stacks: the "voicegw_model" and "voicegw_stack"
 * directives, the prices a model may have, and how a model is shown by
 * the API.  A model's id is "provider/model_name"; a stack names a model
 * for each of stt, llm and tts.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_registry.h"


static void ngx_voicegw_model_json(ngx_voicegw_json_t *j, ngx_pool_t *pool,
    void *conf, ngx_voicegw_sql_value_t *row);


/* in the order of the store's price columns */

const char  *ngx_voicegw_price_fields[] = {
    "price_per_minute",
    "price_per_1k_input_tokens",
    "price_per_1k_output_tokens",
    "price_per_character",
    NULL
};


const ngx_voicegw_entity_t  ngx_voicegw_entity_model = {
    "model",
    NGX_VOICEGW_TABLE_MODELS,
    offsetof(ngx_voicegw_registry_t, models),
    sizeof(ngx_voicegw_model_conf_t),
    offsetof(ngx_voicegw_model_conf_t, id),
    ngx_voicegw_valid_model_id,
    ngx_voicegw_model_json
};


/*
 * {"modality","provider","model","source","display_name",
 *  "default_language","default_voice","pricing":{...}}
 */

static void
ngx_voicegw_model_json(ngx_voicegw_json_t *j, ngx_pool_t *pool, void *conf,
    ngx_voicegw_sql_value_t *row)
{
    ngx_voicegw_model_conf_t  *m = conf;

    ngx_uint_t  k;

    if (m) {
        ngx_voicegw_json_key(j, "modality");
        ngx_voicegw_json_str(j, &m->modality);
        ngx_voicegw_json_key(j, "provider");
        ngx_voicegw_json_str(j, &m->provider);
        ngx_voicegw_json_key(j, "model");
        ngx_voicegw_json_str(j, &m->name);
        ngx_voicegw_json_key(j, "source");
        ngx_voicegw_json_cstr(j, "config");
        ngx_voicegw_json_key(j, "display_name");
        ngx_voicegw_json_strn(j, m->display_name.data, m->display_name.len);
        ngx_voicegw_json_key(j, "default_language");
        ngx_voicegw_json_strn(j, m->default_language.data,
                              m->default_language.len);
        ngx_voicegw_json_key(j, "default_voice");
        ngx_voicegw_json_strn(j, m->default_voice.data,
                              m->default_voice.len);

    } else {
        ngx_voicegw_json_key(j, "modality");
        ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_MODEL_MODALITY]);
        ngx_voicegw_json_key(j, "provider");
        ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_MODEL_PROVIDER]);
        ngx_voicegw_json_key(j, "model");
        ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_MODEL_NAME]);
        ngx_voicegw_json_key(j, "source");
        ngx_voicegw_json_cstr(j, "db");
        ngx_voicegw_json_key(j, "display_name");
        ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_MODEL_DISPLAY_NAME]);
        ngx_voicegw_json_key(j, "default_language");
        ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_MODEL_LANGUAGE]);
        ngx_voicegw_json_key(j, "default_voice");
        ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_MODEL_VOICE]);
    }

    ngx_voicegw_json_key(j, "pricing");
    ngx_voicegw_json_map_open(j);

    for (k = 0; k < NGX_VOICEGW_NPRICES; k++) {
        ngx_voicegw_json_key(j, ngx_voicegw_price_fields[k]);

        if (row) {
            ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_MODEL_PRICE + k]);

        } else if (m->priced & ((ngx_uint_t) 1 << k)) {
            ngx_voicegw_json_double(j, m->price[k]);

        } else {
            ngx_voicegw_json_null(j);
        }
    }

    ngx_voicegw_json_map_close(j);
}


/* is model in the stack (or is there no stack to filter by) */

ngx_uint_t
ngx_voicegw_stack_has(ngx_voicegw_stack_conf_t *stack, ngx_str_t *model)
{
    ngx_str_t  *m[3];
    ngx_uint_t  i;

    if (stack == NULL) {
        return 1;
    }

    m[0] = &stack->stt;
    m[1] = &stack->llm;
    m[2] = &stack->tts;

    for (i = 0; i < 3; i++) {
        if (m[i]->len == model->len
            && ngx_strncmp(m[i]->data, model->data, model->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * voicegw_model PROVIDER/NAME modality=stt|llm|tts [display_name=..]
 *               [default_language=..] [default_voice=..] [price_...=..];
 */

char *
ngx_voicegw_model_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    u_char                    *slash;
    double                     d;
    ngx_str_t                 *value, v;
    ngx_uint_t                 i, k;
    ngx_voicegw_registry_t    *reg;
    ngx_voicegw_model_conf_t  *m;

    reg = vmcf->registry;
    value = cf->args->elts;

    if (!ngx_voicegw_valid_model_id(&value[1])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid model id \"%V\": use provider/model",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_voicegw_conf_model(reg, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate model \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    m = ngx_array_push(&reg->models);
    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(m, sizeof(ngx_voicegw_model_conf_t));

    slash = ngx_strlchr(value[1].data, value[1].data + value[1].len, '/');

    m->id = value[1];
    m->provider.data = value[1].data;
    m->provider.len = slash - value[1].data;
    m->name.data = slash + 1;
    m->name.len = value[1].data + value[1].len - m->name.data;
    m->file = cf->conf_file->file.name.data;
    m->line = cf->conf_file->line;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_voicegw_conf_param(&value[i], "modality", &v) == NGX_OK) {
            if (!ngx_voicegw_valid_modality(&v)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "unknown modality \"%V\" in \"%V\": use "
                                   "stt, llm or tts", &v, &cmd->name);
                return NGX_CONF_ERROR;
            }

            m->modality = v;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "display_name", &v) == NGX_OK) {
            m->display_name = v;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "default_language", &v)
            == NGX_OK)
        {
            m->default_language = v;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "default_voice", &v)
            == NGX_OK)
        {
            m->default_voice = v;
            continue;
        }

        for (k = 0; ngx_voicegw_price_fields[k]; k++) {
            if (ngx_voicegw_conf_param(&value[i], ngx_voicegw_price_fields[k],
                                       &v)
                == NGX_OK)
            {
                break;
            }
        }

        if (ngx_voicegw_price_fields[k] != NULL
            && ngx_voicegw_parse_number(v.data, v.len, &d) == NGX_OK
            && d >= 0)
        {
            m->price[k] = d;
            m->priced |= (ngx_uint_t) 1 << k;
            continue;
        }

        return ngx_voicegw_conf_invalid(cf, cmd, &value[i]);
    }

    if (m->modality.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs modality=stt|llm|tts", &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* voicegw_stack NAME [stt=MODEL] [llm=MODEL] [tts=MODEL]; */

char *
ngx_voicegw_stack_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ngx_str_t                 *value, v, *slot;
    ngx_uint_t                 i;
    ngx_voicegw_registry_t    *reg;
    ngx_voicegw_stack_conf_t  *st;

    reg = vmcf->registry;
    value = cf->args->elts;

    if (!ngx_voicegw_valid_id(&value[1])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid stack name \"%V\": use "
                           "[a-z0-9][a-z0-9._-]{0,63}", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_voicegw_conf_stack(reg, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate stack \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    st = ngx_array_push(&reg->stacks);
    if (st == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(st, sizeof(ngx_voicegw_stack_conf_t));
    st->name = value[1];

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_voicegw_conf_param(&value[i], "stt", &v) == NGX_OK) {
            slot = &st->stt;

        } else if (ngx_voicegw_conf_param(&value[i], "llm", &v) == NGX_OK) {
            slot = &st->llm;

        } else if (ngx_voicegw_conf_param(&value[i], "tts", &v) == NGX_OK) {
            slot = &st->tts;

        } else {
            slot = NULL;
        }

        if (slot == NULL || v.len == 0
            || ngx_strlchr(v.data, v.data + v.len, '/') == NULL)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\": use "
                               "stt=, llm= or tts= with a provider/model id",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }

        *slot = v;
    }

    return NGX_CONF_OK;
}
