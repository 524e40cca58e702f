
/*
 * ngx_voicegw_registry.c
 *
 * Owns the configuration of the registry as a whole: its creation, and
 * the checks made once the whole http{} block is read (a config model's
 * provider and a config project's stack must be defined in nginx.conf
 * too), with what provider tests need.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_auth.h"
#include "ngx_voicegw_probe.h"


ngx_voicegw_registry_t *
ngx_voicegw_registry_create(ngx_conf_t *cf)
{
    ngx_voicegw_registry_t  *reg;

    reg = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_registry_t));
    if (reg == NULL) {
        return NULL;
    }

    if (ngx_array_init(&reg->providers, cf->pool, 4,
                       sizeof(ngx_voicegw_provider_conf_t))
        != NGX_OK
        || ngx_array_init(&reg->models, cf->pool, 8,
                          sizeof(ngx_voicegw_model_conf_t))
           != NGX_OK
        || ngx_array_init(&reg->stacks, cf->pool, 4,
                          sizeof(ngx_voicegw_stack_conf_t))
           != NGX_OK
        || ngx_array_init(&reg->projects, cf->pool, 4,
                          sizeof(ngx_voicegw_project_conf_t))
           != NGX_OK
        || ngx_array_init(&reg->api_keys, cf->pool, 2,
                          sizeof(ngx_voicegw_api_key_t))
           != NGX_OK)
    {
        return NULL;
    }

    reg->api_auth_all = NGX_CONF_UNSET;
    reg->probe_timeout = NGX_CONF_UNSET_MSEC;
    reg->dest.kinds = NGX_CONF_UNSET_UINT;

    return reg;
}


/* api: whether any location serves the API (provider tests need TLS) */

ngx_int_t
ngx_voicegw_registry_init_main_conf(ngx_conf_t *cf,
    ngx_voicegw_registry_t *reg, ngx_uint_t api)
{
    ngx_uint_t                    i;
    const char                   *why;
    ngx_voicegw_model_conf_t     *m;
    ngx_voicegw_project_conf_t   *pr;
    ngx_voicegw_provider_conf_t  *p;

    ngx_conf_init_value(reg->api_auth_all, 0);

    /* the base_urls of nginx.conf against the destinations (an address;
       a name is looked at once resolved) */

    p = reg->providers.elts;

    for (i = 0; i < reg->providers.nelts; i++) {
        if (p[i].base_url.len
            && ngx_voicegw_provider_destination(reg, cf->temp_pool,
                                                &p[i].base_url, &why)
               != NGX_OK)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "the base_url of provider \"%V\" is %s address, "
                          "which voicegw_provider_destinations does not "
                          "allow (it allows public addresses unless it "
                          "says otherwise)", &p[i].id, why);
            return NGX_ERROR;
        }
    }

    m = reg->models.elts;

    for (i = 0; i < reg->models.nelts; i++) {
        if (ngx_voicegw_conf_provider(reg, &m[i].provider) == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "model \"%V\" is on provider \"%V\", which no "
                          "voicegw_provider defines, in %s:%ui",
                          &m[i].id, &m[i].provider, m[i].file, m[i].line);
            return NGX_ERROR;
        }
    }

    pr = reg->projects.elts;

    for (i = 0; i < reg->projects.nelts; i++) {
        if (pr[i].default_stack.len
            && ngx_voicegw_conf_stack(reg, &pr[i].default_stack) == NULL)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "project \"%V\" has default_stack \"%V\", which "
                          "no voicegw_stack defines, in %s:%ui",
                          &pr[i].id, &pr[i].default_stack, pr[i].file,
                          pr[i].line);
            return NGX_ERROR;
        }
    }

    return ngx_voicegw_probe_init_main_conf(cf, reg, api);
}
