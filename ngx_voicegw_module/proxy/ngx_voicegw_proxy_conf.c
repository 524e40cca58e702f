
/*
 * ngx_voicegw_proxy_conf.c
 *
 * Owns the "voicegw_proxy" directive.  It makes its location a proxy
 * location of nginx's own proxy module, set up as a provider call needs
 * (docs/directives.md lists every directive it sets), sends it to the
 * "voicegw_providers" upstream (ngx_voicegw_proxy_peer.c), and puts the
 * gateway's content handler in front of nginx's proxy handler.
 *
 * The proxy module's directives are given to nginx's own configuration
 * parser, as text, in the location's context: what nginx checks for
 * them, it checks for these.
 */


#include <openssl/x509.h>

#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_http.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_proxy.h"


static ngx_int_t ngx_voicegw_proxy_expand(ngx_conf_t *cf, ngx_str_t *text);
static ngx_int_t ngx_voicegw_proxy_system_resolver(ngx_conf_t *cf,
    ngx_voicegw_proxy_loc_conf_t *plcf, ngx_str_t *file);
static ngx_int_t ngx_voicegw_proxy_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_voicegw_proxy_upgrade_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* what the location gets, %V: the trusted certificates */

static const char  ngx_voicegw_proxy_directives[] =
    "proxy_pass $voicegw_proxy_url;"
    "proxy_http_version 1.1;"
    "proxy_buffering off;"
    "proxy_request_buffering off;"
    "proxy_redirect off;"
    "proxy_next_upstream off;"
    "proxy_set_header Host $voicegw_proxy_host;"
    "proxy_set_header Connection $voicegw_proxy_connection;"
    "proxy_set_header Upgrade $voicegw_proxy_upgrade;"
    "proxy_set_header Sec-WebSocket-Extensions \"\";"
    "proxy_set_header Accept-Encoding identity;"
    "proxy_ssl_server_name on;"
    "proxy_ssl_name $voicegw_proxy_sni;"
    "proxy_ssl_verify on;"
    "proxy_ssl_verify_depth 4;"
    "proxy_ssl_trusted_certificate \"%V\";";


static ngx_http_variable_t  ngx_voicegw_proxy_vars[] = {

    { ngx_string("voicegw_proxy_url"), NULL, ngx_voicegw_proxy_variable,
      offsetof(ngx_voicegw_proxy_ctx_t, url), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("voicegw_proxy_host"), NULL, ngx_voicegw_proxy_variable,
      offsetof(ngx_voicegw_proxy_ctx_t, host), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("voicegw_proxy_sni"), NULL, ngx_voicegw_proxy_variable,
      offsetof(ngx_voicegw_proxy_ctx_t, sni), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("voicegw_proxy_provider"), NULL, ngx_voicegw_proxy_variable,
      offsetof(ngx_voicegw_proxy_ctx_t, provider.id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("voicegw_proxy_project"), NULL, ngx_voicegw_proxy_variable,
      offsetof(ngx_voicegw_proxy_ctx_t, project), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("voicegw_proxy_model"), NULL, ngx_voicegw_proxy_variable,
      offsetof(ngx_voicegw_proxy_ctx_t, model), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    /* a WebSocket session's hop-by-hop headers; empty for other calls */

    { ngx_string("voicegw_proxy_upgrade"), NULL,
      ngx_voicegw_proxy_upgrade_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("voicegw_proxy_connection"), NULL,
      ngx_voicegw_proxy_upgrade_variable, 1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


void *
ngx_voicegw_proxy_create_loc_conf(ngx_conf_t *cf)
{
    ngx_voicegw_proxy_loc_conf_t  *plcf;

    plcf = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_proxy_loc_conf_t));
    if (plcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     plcf->enabled = 0;
     *     plcf->proxy_handler = NULL;
     */

    return plcf;
}


/*
 * Nothing is inherited (voicegw_proxy is a location's own).  A
 * voicegw_proxy location reads a request body before the call, whole:
 * left at nginx's default (two memory pages), client_body_buffer_size
 * sent every body over 8 KiB, a long conversation, through a temporary
 * file (open, write, read back, a warning in the error log, on every
 * call); the location reads up to 128 KiB in memory instead.  nginx
 * allocates no more than the body's own length.
 */

char *
ngx_voicegw_proxy_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_voicegw_proxy_loc_conf_t  *conf = child;

    ngx_http_core_loc_conf_t  *clcf;

    if (!conf->enabled) {
        return NGX_CONF_OK;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->client_body_buffer_size == (size_t) 2 * ngx_pagesize) {
        clcf->client_body_buffer_size = NGX_VOICEGW_PROXY_BODY_BUFFER;
    }

    /* each process fills its own copy (ngx_voicegw_proxy_base()) */

    conf->bases = ngx_pcalloc(cf->pool, NGX_VOICEGW_PROXY_BASES
                                        * sizeof(ngx_voicegw_proxy_base_t));
    if (conf->bases == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* voicegw_proxy [strict_models=on|off] [resolv_conf=file|off]; */

char *
ngx_voicegw_proxy_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_proxy_loc_conf_t  *plcf = conf;

    u_char                    *p;
    ngx_str_t                  trusted, text;
    ngx_file_info_t            fi;
    ngx_voicegw_registry_t    *reg;
    ngx_voicegw_main_conf_t   *vmcf;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_int_t                  rc;
    ngx_str_t                 *value, v, resolv;
    ngx_uint_t                 i, sw;

    if (plcf->enabled) {
        return "is duplicate";
    }

    value = cf->args->elts;
    ngx_str_set(&resolv, "/etc/resolv.conf");
    plcf->interim = NGX_VOICEGW_PROXY_INTERIM;
    sw = NGX_CONF_UNSET_UINT;

    for (i = 1; i < cf->args->nelts; i++) {

        rc = ngx_voicegw_proxy_param(plcf, &value[i], &resolv, &v);

        if (rc == NGX_OK) {
            continue;
        }

        if (rc == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid interim \"%V\" in "
                               "voicegw_proxy: a time of at least 1s", &v);
            return NGX_CONF_ERROR;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\": voicegw_proxy takes "
                           "strict_models=on|off, resolv_conf=file|off and "
                           "interim=time", &value[i]);
        return NGX_CONF_ERROR;
    }

    /* resolv_conf=off: none; =on: the default file */

    if (ngx_voicegw_enum_value(ngx_voicegw_switches, &resolv, &sw) != NGX_OK
        || sw == 1)
    {
        if (sw == 1) {
            ngx_str_set(&resolv, "/etc/resolv.conf");
        }

        if (ngx_voicegw_proxy_system_resolver(cf, plcf, &resolv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

#if (NGX_PCRE)
    if (clcf->regex) {
        return "must be in a prefix location (the provider id follows it)";
    }
#endif

    if (clcf->named || clcf->exact_match || clcf->name.len == 0
        || clcf->name.data[clcf->name.len - 1] != '/')
    {
        return "must be in a prefix location ending in \"/\", "
               "e.g. \"location /v1/proxy/ { voicegw_proxy; }\"";
    }

    plcf->enabled = 1;
    plcf->prefix = clcf->name;

    /* the certificates that verify providers: the provider tests' */

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_voicegw_module);
    reg = vmcf->registry;

    if (reg->probe_trusted.len) {
        trusted = reg->probe_trusted;

    } else {
        trusted.data = (u_char *) X509_get_default_cert_file();
        trusted.len = ngx_strlen(trusted.data);

        if (ngx_file_info(trusted.data, &fi)
            == NGX_FILE_ERROR)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "voicegw_proxy: the system's certificate "
                               "authorities \"%V\" are not there (Debian: "
                               "apt-get install ca-certificates), or name "
                               "yours with "
                               "voicegw_provider_trusted_certificate before "
                               "this line", &trusted);
            return NGX_CONF_ERROR;
        }
    }

    reg->proxy_used = 1;

    if (ngx_voicegw_proxy_budget_conf(cf, vmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_voicegw_proxy_upstream(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    text.len = sizeof(ngx_voicegw_proxy_directives) + trusted.len;
    text.data = ngx_pnalloc(cf->temp_pool, text.len);
    if (text.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_snprintf(text.data, text.len, ngx_voicegw_proxy_directives,
                     &trusted);
    text.len = p - text.data;

    if (ngx_voicegw_proxy_expand(cf, &text) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_proxy sets proxy_pass, "
                           "proxy_http_version, proxy_buffering, "
                           "proxy_request_buffering, proxy_redirect, "
                           "proxy_next_upstream, proxy_set_header Host, "
                           "Connection, Upgrade, Sec-WebSocket-Extensions "
                           "and Accept-Encoding, and "
                           "proxy_ssl_server_name, _name, _verify, "
                           "_verify_depth and _trusted_certificate: do not "
                           "set them in its location");
        return NGX_CONF_ERROR;
    }

    /* nginx's proxy handler runs after ours */

    plcf->proxy_handler = clcf->handler;
    clcf->handler = ngx_voicegw_proxy_handler;

    return NGX_CONF_OK;
}


/*
 * The name servers of the system (resolv.conf's "nameserver" lines), for
 * a location with no "resolver" of its own: provider host names are then
 * resolved by nginx's own resolver, on the event loop, as they would be
 * with "resolver <those addresses> ipv6=off;".  A file that is missing or
 * names no server leaves the location without (a call to a provider
 * named by a host name then answers 502 and says why).
 */

#define NGX_VOICEGW_PROXY_NAMESERVERS  3

static ngx_int_t
ngx_voicegw_proxy_system_resolver(ngx_conf_t *cf,
    ngx_voicegw_proxy_loc_conf_t *plcf, ngx_str_t *file)
{
    u_char       buf[4096];
    ssize_t      n;
    ngx_fd_t     fd;
    ngx_str_t    name, names[NGX_VOICEGW_PROXY_NAMESERVERS + 1];
    ngx_uint_t   nnames;

    name = *file;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_INFO, cf, ngx_errno,
                           "voicegw_proxy: no \"%V\": provider host names "
                           "need a \"resolver\"", &name);
        return NGX_OK;
    }

    n = ngx_read_fd(fd, buf, sizeof(buf) - 1);
    ngx_close_file(fd);

    if (n <= 0) {
        return NGX_OK;
    }

    n = ngx_voicegw_proxy_nameservers(cf->pool, buf, n, names,
                                      NGX_VOICEGW_PROXY_NAMESERVERS);

    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    nnames = n;

    if (nnames == 0) {
        return NGX_OK;
    }

    ngx_str_set(&names[nnames], "ipv6=off");

    plcf->resolver = ngx_resolver_create(cf, names, nnames + 1);
    if (plcf->resolver == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_proxy: the name servers of \"%V\" "
                           "cannot be used; set \"resolver\" or "
                           "resolv_conf=off", file);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The text is parsed as "nginx -g" parses its directives: from memory,
 * in the current context (the location).
 */

static ngx_int_t
ngx_voicegw_proxy_expand(ngx_conf_t *cf, ngx_str_t *text)
{
    char             *rv;
    ngx_buf_t         b;
    ngx_conf_file_t  *saved, conf_file;

    ngx_memzero(&conf_file, sizeof(ngx_conf_file_t));
    ngx_memzero(&b, sizeof(ngx_buf_t));

    b.start = text->data;
    b.pos = text->data;
    b.last = text->data + text->len;
    b.end = b.last;
    b.temporary = 1;

    conf_file.file.fd = NGX_INVALID_FILE;
    conf_file.file.name.data = NULL;
    conf_file.line = 0;
    conf_file.buffer = &b;

    saved = cf->conf_file;
    cf->conf_file = &conf_file;

    rv = ngx_conf_parse(cf, NULL);

    cf->conf_file = saved;

    return rv == NGX_CONF_OK ? NGX_OK : NGX_ERROR;
}


/* after the upstreams are set up: the keep-alive guard, the books */

ngx_int_t
ngx_voicegw_proxy_postconfiguration(ngx_conf_t *cf)
{
    if (ngx_voicegw_proxy_peer_guard(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_voicegw_proxy_body_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_voicegw_proxy_books_init(cf);
}


ngx_int_t
ngx_voicegw_proxy_add_variables(ngx_conf_t *cf)
{
    return ngx_voicegw_http_add_variables(cf, ngx_voicegw_proxy_vars);
}


static ngx_int_t
ngx_voicegw_proxy_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                *s;
    ngx_voicegw_proxy_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_proxy_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) ctx + data);

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_proxy_upgrade_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_voicegw_proxy_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_proxy_module);

    if (ctx == NULL || !ctx->websocket) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (data) {
        v->data = (u_char *) "upgrade";
        v->len = sizeof("upgrade") - 1;

    } else {
        v->data = (u_char *) "websocket";
        v->len = sizeof("websocket") - 1;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
