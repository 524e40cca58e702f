
/*
 * ngx_voicegw_auth.c
 *
 * Owns who may use the API.  With no "voicegw_api_key" the API is open,
 * as nginx locations are until one adds access rules (nginx's own allow,
 * deny, auth_basic and auth_request keep working in front of it).  With
 * keys, every endpoint that changes something needs
 * "Authorization: Bearer TOKEN" with the write scope (401 without a known
 * token, 403 with a read-only one), and "voicegw_api_auth all;" asks
 * reads for a token too.  The write scope includes reading.  Tokens are
 * compared in constant time, and no token ever reaches a log.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_auth.h"

#include <openssl/crypto.h>


static ngx_conf_enum_t  ngx_voicegw_auth_scopes[] = {
    { ngx_string("read"), NGX_VOICEGW_SCOPE_READ },
    { ngx_string("write"), NGX_VOICEGW_SCOPE_READ|NGX_VOICEGW_SCOPE_WRITE },
    { ngx_string("all"), NGX_VOICEGW_SCOPE_READ|NGX_VOICEGW_SCOPE_WRITE },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_voicegw_auth_what[] = {
    { ngx_string("writes"), 0 },
    { ngx_string("all"), 1 },
    { ngx_null_string, 0 }
};


/* voicegw_api_key TOKEN [scope=read|write|all] [name=..]; */

char *
ngx_voicegw_api_key_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    u_char                  *p;
    ngx_str_t               *value, v;
    ngx_uint_t               i;
    ngx_voicegw_api_key_t   *key, *keys;
    ngx_voicegw_registry_t  *reg;

    reg = vmcf->registry;
    value = cf->args->elts;

    if (value[1].len < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the token of \"%V\" must be at least 16 "
                           "characters", &cmd->name);
        return NGX_CONF_ERROR;
    }

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the token of \"%V\" must be printable "
                               "ASCII without spaces", &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    keys = reg->api_keys.elts;

    for (i = 0; i < reg->api_keys.nelts; i++) {
        if (keys[i].token.len == value[1].len
            && ngx_strncmp(keys[i].token.data, value[1].data,
                           value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate token in \"%V\"", &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    key = ngx_array_push(&reg->api_keys);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    key->token = value[1];
    key->scopes = NGX_VOICEGW_SCOPE_READ|NGX_VOICEGW_SCOPE_WRITE;

    key->name.data = ngx_pnalloc(cf->pool, sizeof("key-") + NGX_INT_T_LEN);
    if (key->name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    key->name.len = ngx_sprintf(key->name.data, "key-%ui",
                                reg->api_keys.nelts)
                    - key->name.data;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_voicegw_conf_param(&value[i], "scope", &v) == NGX_OK
            && ngx_voicegw_enum_value(ngx_voicegw_auth_scopes, &v,
                                      &key->scopes)
               == NGX_OK)
        {
            continue;
        }

        if (ngx_voicegw_conf_param(&value[i], "name", &v) == NGX_OK
            && v.len && v.len <= 64)
        {
            key->name = v;
            continue;
        }

        return ngx_voicegw_conf_invalid(cf, cmd, &value[i]);
    }

    return NGX_CONF_OK;
}


/* voicegw_api_auth writes|all; */

char *
ngx_voicegw_api_auth_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   all;

    if (vmcf->registry->api_auth_all != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_voicegw_enum_value(ngx_voicegw_auth_what, &value[1], &all)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\": use writes or "
                           "all", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    vmcf->registry->api_auth_all = all;

    return NGX_CONF_OK;
}


/*
 * NGX_OK, with *actor the key's name (or the client's address when the
 * API is open); else NGX_HTTP_UNAUTHORIZED or NGX_HTTP_FORBIDDEN, for the
 * caller to answer.
 */

ngx_int_t
ngx_voicegw_auth_check(ngx_http_request_t *r, ngx_voicegw_registry_t *reg,
    ngx_uint_t write, ngx_str_t *actor)
{
    u_char                 *p;
    ngx_str_t               token;
    ngx_uint_t              i, found;
    ngx_table_elt_t        *auth;
    ngx_voicegw_api_key_t  *keys;

    *actor = r->connection->addr_text;

    if (reg->api_keys.nelts == 0 || (!write && !reg->api_auth_all)) {
        return NGX_OK;
    }

    auth = r->headers_in.authorization;

    if (auth == NULL || auth->value.len < 7
        || ngx_strncasecmp(auth->value.data, (u_char *) "Bearer ", 7) != 0)
    {
        return NGX_HTTP_UNAUTHORIZED;
    }

    p = auth->value.data + 7;

    while (p < auth->value.data + auth->value.len && *p == ' ') {
        p++;
    }

    token.data = p;
    token.len = auth->value.data + auth->value.len - p;

    keys = reg->api_keys.elts;
    found = reg->api_keys.nelts;

    /* every key is looked at, whatever matched, in constant time */

    for (i = 0; i < reg->api_keys.nelts; i++) {
        if (keys[i].token.len == token.len
            && CRYPTO_memcmp(keys[i].token.data, token.data, token.len) == 0)
        {
            found = i;
        }
    }

    if (found == reg->api_keys.nelts) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    *actor = keys[found].name;

    if (!(keys[found].scopes
          & (write ? NGX_VOICEGW_SCOPE_WRITE : NGX_VOICEGW_SCOPE_READ)))
    {
        return NGX_HTTP_FORBIDDEN;
    }

    return NGX_OK;
}
