
/*
 * ngx_voicegw_provider.c
 *
 * Owns providers: the registry of provider types (where each type is,
 * how it takes its key, what answers a health check), the
 * "voicegw_provider" directive, the rule for base URLs, and how a
 * provider is shown by the API.
 *
 * A base URL is parsed by the one parser the provider test uses too
 * (core/ngx_voicegw_url.c), where it is written: what nginx.conf or the
 * API accepts is what works.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_url.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_secret.h"


static void ngx_voicegw_provider_json(ngx_voicegw_json_t *j, ngx_pool_t *pool,
    void *conf, ngx_voicegw_sql_value_t *row);


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
      "Authorization", "Bearer ", "Cartesia-Version: 2026-08-14" },
    { "gemini", "cloud", "https://generativelanguage.googleapis.com",
      "/v1beta/models", "x-goog-api-key", "", NULL },
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


const ngx_voicegw_entity_t  ngx_voicegw_entity_provider = {
    "provider",
    NGX_VOICEGW_TABLE_PROVIDERS,
    offsetof(ngx_voicegw_registry_t, providers),
    sizeof(ngx_voicegw_provider_conf_t),
    offsetof(ngx_voicegw_provider_conf_t, id),
    ngx_voicegw_valid_id,
    ngx_voicegw_provider_json
};


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


/*
 * A base URL as it is kept: parsed as the provider test will parse it,
 * without trailing slashes (url->len shrinks).  NGX_ERROR with *err.
 */

ngx_int_t
ngx_voicegw_provider_base_url(ngx_pool_t *pool, ngx_str_t *url,
    const char **err)
{
    ngx_voicegw_url_t  u;

    return ngx_voicegw_url_parse(pool, url, &u, err);
}


/*
 * Whether the destination policy allows a base URL's host: NGX_DECLINED
 * with *why ("a loopback") when it is an address the policy refuses.  A
 * base URL that does not parse is the parser's to refuse.
 */

ngx_int_t
ngx_voicegw_provider_destination(ngx_voicegw_registry_t *reg,
    ngx_pool_t *pool, ngx_str_t *url, const char **why)
{
    ngx_str_t          text;
    ngx_voicegw_url_t  u;

    text = *url;

    if (ngx_voicegw_url_parse(pool, &text, &u, why) != NGX_OK) {
        return NGX_OK;
    }

    return ngx_voicegw_dest_host(&reg->dest, pool, &u.host, why);
}


/* voicegw_provider_destinations public|loopback|private|...|CIDR ...; */

char *
ngx_voicegw_provider_destinations(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    return ngx_voicegw_dest_parse(cf, &vmcf->registry->dest);
}


/* {"provider_id","provider_type","source","api_key_masked","base_url"} */

static void
ngx_voicegw_provider_json(ngx_voicegw_json_t *j, ngx_pool_t *pool,
    void *conf, ngx_voicegw_sql_value_t *row)
{
    ngx_voicegw_provider_conf_t  *p = conf;

    ngx_voicegw_json_key(j, "provider_id");

    if (p) {
        ngx_voicegw_json_str(j, &p->id);
        ngx_voicegw_json_key(j, "provider_type");
        ngx_voicegw_json_cstr(j, p->type->name);
        ngx_voicegw_json_key(j, "source");
        ngx_voicegw_json_cstr(j, "config");
        ngx_voicegw_json_key(j, "api_key_masked");
        ngx_voicegw_json_str(j, &p->masked);
        ngx_voicegw_json_key(j, "base_url");
        ngx_voicegw_json_strn(j, p->base_url.data, p->base_url.len);
        return;
    }

    ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_PROVIDER_ID]);
    ngx_voicegw_json_key(j, "provider_type");
    ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_PROVIDER_TYPE]);
    ngx_voicegw_json_key(j, "source");
    ngx_voicegw_json_cstr(j, "db");
    ngx_voicegw_json_key(j, "api_key_masked");
    ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_PROVIDER_MASKED]);
    ngx_voicegw_json_key(j, "base_url");
    ngx_voicegw_sql_json(j, &row[NGX_VOICEGW_PROVIDER_BASE_URL]);
}


/* voicegw_provider ID type=TYPE [key=KEY | key_env=VAR] [base_url=URL]; */

char *
ngx_voicegw_provider_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    char                         *env;
    const char                   *err;
    ngx_str_t                    *value, v, type;
    ngx_uint_t                    i, has_key;
    ngx_voicegw_registry_t       *reg;
    ngx_voicegw_provider_conf_t  *p;

    reg = vmcf->registry;
    value = cf->args->elts;

    if (!ngx_voicegw_valid_id(&value[1])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid provider id \"%V\": use "
                           "[a-z0-9][a-z0-9._-]{0,63}", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_voicegw_conf_provider(reg, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate provider \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    p = ngx_array_push(&reg->providers);
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

        if (ngx_voicegw_conf_param(&value[i], "base_url", &v) == NGX_OK) {

            if (ngx_voicegw_provider_base_url(cf->pool, &v, &err) != NGX_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid base_url \"%V\" in \"%V\": it "
                                   "%s", &value[i], &cmd->name, err);
                return NGX_CONF_ERROR;
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
