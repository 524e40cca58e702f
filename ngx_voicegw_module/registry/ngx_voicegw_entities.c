
/*
 * ngx_voicegw_entities.c
 *
 * Owns the VoiceGateway entities defined in nginx.conf ("voicegw_provider",
 * "voicegw_model", "voicegw_stack", "voicegw_project"), the registry of
 * provider types, and the rules every entity obeys, wherever it comes
 * from: ids are [a-z0-9][a-z0-9._-]{0,63}, model ids provider/model,
 * modalities stt, llm and tts, budgets >= 0, budget actions warn and
 * block.  Config-defined entities are read-only through the API; a
 * reload with a changed nginx.conf replaces them (the store keeps its
 * own).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_entities.h"
#include "ngx_voicegw_secret.h"
#include "ngx_voicegw_eta.h"


static ngx_int_t ngx_voicegw_conf_number(ngx_str_t *v, double *d);


/*
 * How to reach each type of provider: the default base url, the path
 * that answers a health check, and where its API key goes.
 */

static const ngx_voicegw_provider_type_t  ngx_voicegw_provider_types[] = {
    { "deepgram", "cloud", "https://api.deepgram.com", "/v1/projects",
      "Authorization", "Token ", NULL },
    { "openai", "cloud", "https://api.openai.com", "/v1/models",
      "Authorization", "Bearer ", NULL },
    { "anthropic", "cloud", "https://api.anthropic.com", "/v1/models",
      "x-api-key", "", "anthropic-version: 2023-06-01" },
    { "groq", "cloud", "https://api.groq.com", "/openai/v1/models",
      "Authorization", "Bearer ", NULL },
    { "cartesia", "cloud", "https://api.cartesia.ai", "/voices",
      "X-API-Key", "", "Cartesia-Version: 2024-06-10" },
    { "elevenlabs", "cloud", "https://api.elevenlabs.io", "/v1/voices",
      "xi-api-key", "", NULL },
    { "assemblyai", "cloud", "https://api.assemblyai.com", "/v2/transcript",
      "Authorization", "", NULL },
    { "ollama", "local", "http://localhost:11434", "/api/tags",
      NULL, NULL, NULL },
    { "whisper", "local", "http://localhost:8000", "/health",
      NULL, NULL, NULL },
    { "kokoro", "local", "http://localhost:8880", "/health",
      NULL, NULL, NULL },
    { "piper", "local", "http://localhost:5000", "/health",
      NULL, NULL, NULL },
    { NULL, NULL, NULL, NULL, NULL, NULL, NULL }
};


const char  *ngx_voicegw_price_fields[] = {
    "price_per_minute",
    "price_per_1k_input_tokens",
    "price_per_1k_output_tokens",
    "price_per_character",
    NULL
};


ngx_int_t
ngx_voicegw_entities_conf_init(ngx_conf_t *cf, ngx_voicegw_main_conf_t *vmcf)
{
    if (ngx_array_init(&vmcf->providers, cf->pool, 4,
                       sizeof(ngx_voicegw_provider_conf_t))
        != NGX_OK
        || ngx_array_init(&vmcf->models, cf->pool, 8,
                          sizeof(ngx_voicegw_model_conf_t))
           != NGX_OK
        || ngx_array_init(&vmcf->stacks, cf->pool, 4,
                          sizeof(ngx_voicegw_stack_conf_t))
           != NGX_OK
        || ngx_array_init(&vmcf->projects, cf->pool, 4,
                          sizeof(ngx_voicegw_project_conf_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* -- the rules ---------------------------------------------------------------- */

const ngx_voicegw_provider_type_t *
ngx_voicegw_provider_type(ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; ngx_voicegw_provider_types[i].name; i++) {
        if (name->len == ngx_strlen(ngx_voicegw_provider_types[i].name)
            && ngx_strncmp(name->data, ngx_voicegw_provider_types[i].name,
                           name->len) == 0)
        {
            return &ngx_voicegw_provider_types[i];
        }
    }

    return NULL;
}


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


ngx_uint_t
ngx_voicegw_valid_modality(ngx_str_t *m)
{
    return m->len == 3
           && (ngx_strncmp(m->data, "stt", 3) == 0
               || ngx_strncmp(m->data, "llm", 3) == 0
               || ngx_strncmp(m->data, "tts", 3) == 0);
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

void
ngx_voicegw_default_accent(ngx_str_t *tag, ngx_str_t *accent)
{
    if (tag == NULL || tag->len == 0) {
        ngx_str_set(accent, "#3498db");
        return;
    }

    if (ngx_strlcasestrn(tag->data, tag->data + tag->len,
                         (u_char *) "prod", 4 - 1) != NULL)
    {
        ngx_str_set(accent, "#2ecc71");

    } else if (ngx_strlcasestrn(tag->data, tag->data + tag->len,
                                (u_char *) "stag", 4 - 1) != NULL)
    {
        ngx_str_set(accent, "#f1c40f");

    } else if (ngx_strlcasestrn(tag->data, tag->data + tag->len,
                                (u_char *) "dev", 3 - 1) != NULL
               || ngx_strlcasestrn(tag->data, tag->data + tag->len,
                                   (u_char *) "test", 4 - 1) != NULL)
    {
        ngx_str_set(accent, "#3498db");

    } else {
        ngx_str_set(accent, "#e84393");
    }
}


static ngx_int_t
ngx_voicegw_conf_number(ngx_str_t *v, double *d)
{
    return ngx_voicegw_parse_number(v->data, v->len, d);
}


/* -- lookups ------------------------------------------------------------------ */

#define ngx_voicegw_find_by(array, type, field, key)                          \
    do {                                                                      \
        ngx_uint_t  i_;                                                       \
        type       *e_ = (array)->elts;                                       \
                                                                              \
        for (i_ = 0; i_ < (array)->nelts; i_++) {                             \
            if (e_[i_].field.len == (key)->len                                \
                && ngx_strncmp(e_[i_].field.data, (key)->data, (key)->len)    \
                   == 0)                                                      \
            {                                                                 \
                return &e_[i_];                                               \
            }                                                                 \
        }                                                                     \
                                                                              \
        return NULL;                                                          \
    } while (0)


ngx_voicegw_provider_conf_t *
ngx_voicegw_conf_provider(ngx_voicegw_main_conf_t *vmcf, ngx_str_t *id)
{
    ngx_voicegw_find_by(&vmcf->providers, ngx_voicegw_provider_conf_t, id,
                        id);
}


ngx_voicegw_model_conf_t *
ngx_voicegw_conf_model(ngx_voicegw_main_conf_t *vmcf, ngx_str_t *id)
{
    ngx_voicegw_find_by(&vmcf->models, ngx_voicegw_model_conf_t, id, id);
}


ngx_voicegw_stack_conf_t *
ngx_voicegw_conf_stack(ngx_voicegw_main_conf_t *vmcf, ngx_str_t *name)
{
    ngx_voicegw_find_by(&vmcf->stacks, ngx_voicegw_stack_conf_t, name, name);
}


ngx_voicegw_project_conf_t *
ngx_voicegw_conf_project(ngx_voicegw_main_conf_t *vmcf, ngx_str_t *id)
{
    ngx_voicegw_find_by(&vmcf->projects, ngx_voicegw_project_conf_t, id, id);
}


/* -- directives --------------------------------------------------------------- */

/* voicegw_provider ID type=TYPE [key=KEY | key_env=VAR] [base_url=URL]; */

char *
ngx_voicegw_provider_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    char                         *env;
    ngx_str_t                    *value, v, type;
    ngx_uint_t                    i, has_key;
    ngx_voicegw_provider_conf_t  *p;

    value = cf->args->elts;

    if (!ngx_voicegw_valid_id(&value[1])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid provider id \"%V\": use "
                           "[a-z0-9][a-z0-9._-]{0,63}", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_voicegw_conf_provider(vmcf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate provider \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    p = ngx_array_push(&vmcf->providers);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(p, sizeof(ngx_voicegw_provider_conf_t));
    p->id = value[1];

    ngx_str_null(&type);
    has_key = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_voicegw_conf_param(&value[i], "type", &type) == NGX_OK
            && type.len)
        {
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "key", &v) == NGX_OK
            && !has_key)
        {
            p->key = v;
            has_key = 1;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "key_env", &v) == NGX_OK
            && !has_key)
        {
            /* read now, in the master: workers have a cleared environment */

            env = getenv((char *) v.data);

            if (env != NULL) {
                p->key.len = ngx_strlen(env);
                p->key.data = ngx_pnalloc(cf->pool, p->key.len + 1);

                if (p->key.data == NULL) {
                    return NGX_CONF_ERROR;
                }

                ngx_memcpy(p->key.data, env, p->key.len + 1);

            } else {
                ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                                   "environment variable \"%V\" of provider "
                                   "\"%V\" is not set", &v, &p->id);
            }

            has_key = 1;
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "base_url", &v) == NGX_OK
            && ((v.len > 7 && ngx_strncmp(v.data, "http://", 7) == 0)
                || (v.len > 8 && ngx_strncmp(v.data, "https://", 8) == 0)))
        {
            while (v.len && v.data[v.len - 1] == '/') {
                v.len--;
            }

            p->base_url = v;
            continue;
        }

        return ngx_voicegw_conf_invalid(cf, cmd, &value[i]);
    }

    if (type.len == 0) {
        type = p->id;
    }

    p->type = ngx_voicegw_provider_type(&type);

    if (p->type == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown provider type \"%V\" in \"%V\"",
                           &type, &cmd->name);
        return NGX_CONF_ERROR;
    }

    ngx_voicegw_secret_mask(cf->pool, &p->key, &p->masked);

    return NGX_CONF_OK;
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
    ngx_voicegw_model_conf_t  *m;

    value = cf->args->elts;

    slash = ngx_strlchr(value[1].data, value[1].data + value[1].len, '/');

    if (slash == NULL) {
        goto bad_id;
    }

    if (ngx_voicegw_conf_model(vmcf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate model \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    m = ngx_array_push(&vmcf->models);
    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(m, sizeof(ngx_voicegw_model_conf_t));

    m->id = value[1];
    m->provider.data = value[1].data;
    m->provider.len = slash - value[1].data;
    m->name.data = slash + 1;
    m->name.len = value[1].data + value[1].len - m->name.data;
    m->file = cf->conf_file->file.name.data;
    m->line = cf->conf_file->line;

    if (!ngx_voicegw_valid_id(&m->provider)
        || !ngx_voicegw_valid_model_name(&m->name))
    {
        goto bad_id;
    }

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
            && ngx_voicegw_conf_number(&v, &d) == NGX_OK && d >= 0)
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

bad_id:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid model id \"%V\": use provider/model",
                       &value[1]);
    return NGX_CONF_ERROR;
}


/* voicegw_stack NAME [stt=MODEL] [llm=MODEL] [tts=MODEL]; */

char *
ngx_voicegw_stack_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ngx_str_t                 *value, v, *slot;
    ngx_uint_t                 i;
    ngx_voicegw_stack_conf_t  *st;

    value = cf->args->elts;

    if (!ngx_voicegw_valid_id(&value[1])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid stack name \"%V\": use "
                           "[a-z0-9][a-z0-9._-]{0,63}", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_voicegw_conf_stack(vmcf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate stack \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    st = ngx_array_push(&vmcf->stacks);
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
    ngx_voicegw_project_conf_t  *pr;

    value = cf->args->elts;

    if (!ngx_voicegw_valid_id(&value[1])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid project id \"%V\": use "
                           "[a-z0-9][a-z0-9._-]{0,63}", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_voicegw_conf_project(vmcf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate project \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    pr = ngx_array_push(&vmcf->projects);
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
            if (ngx_voicegw_conf_number(&v, &pr->daily_budget) != NGX_OK
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
            if (!((v.len == 4 && ngx_strncmp(v.data, "warn", 4) == 0)
                  || (v.len == 5 && ngx_strncmp(v.data, "block", 5) == 0)))
            {
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


/*
 * After the whole http{} block: a config model's provider and a config
 * project's stack must be defined in nginx.conf too.
 */

ngx_int_t
ngx_voicegw_entities_check(ngx_conf_t *cf, ngx_voicegw_main_conf_t *vmcf)
{
    ngx_uint_t                   i;
    ngx_voicegw_model_conf_t    *m;
    ngx_voicegw_project_conf_t  *pr;

    m = vmcf->models.elts;

    for (i = 0; i < vmcf->models.nelts; i++) {
        if (ngx_voicegw_conf_provider(vmcf, &m[i].provider) == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "model \"%V\" is on provider \"%V\", which no "
                          "voicegw_provider defines, in %s:%ui",
                          &m[i].id, &m[i].provider, m[i].file, m[i].line);
            return NGX_ERROR;
        }
    }

    pr = vmcf->projects.elts;

    for (i = 0; i < vmcf->projects.nelts; i++) {
        if (pr[i].default_stack.len
            && ngx_voicegw_conf_stack(vmcf, &pr[i].default_stack) == NULL)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "project \"%V\" has default_stack \"%V\", which "
                          "no voicegw_stack defines, in %s:%ui",
                          &pr[i].id, &pr[i].default_stack, pr[i].file,
                          pr[i].line);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
