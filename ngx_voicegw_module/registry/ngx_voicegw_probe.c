
/*
 * ngx_voicegw_probe.c
 *
 * Owns the provider connectivity test: a real request from nginx to a
 * provider's health endpoint, with its key.  A host name is resolved by
 * nginx's own resolver ("resolver" directive), an address is used as it
 * is; https is verified against the system's certificate authorities or
 * "voicegw_provider_trusted_certificate".
 *
 * The caller (the API) finds the provider and its key, fills a probe and
 * starts it; done() is called once, whatever happens, possibly before
 * ngx_voicegw_probe_start() returns.  The key goes into the request's
 * bytes and nowhere else, and they are wiped once the request is done;
 * it never appears in the outcome nor in a log.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_url.h"
#include "ngx_voicegw_fetch.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_probe.h"


static ngx_int_t ngx_voicegw_probe_ssl(ngx_conf_t *cf,
    ngx_voicegw_registry_t *reg);
static void ngx_voicegw_probe_resolved(ngx_resolver_ctx_t *rctx);
static void ngx_voicegw_probe_fetch(ngx_voicegw_probe_t *p);
static void ngx_voicegw_probe_refused(ngx_voicegw_probe_t *p,
    struct sockaddr *sa);
static ngx_int_t ngx_voicegw_probe_request(ngx_voicegw_probe_t *p,
    ngx_str_t *out);
static void ngx_voicegw_probe_fetched(ngx_voicegw_fetch_t *f);
static void ngx_voicegw_probe_finish(ngx_voicegw_probe_t *p,
    const char *fmt, ...);
static void ngx_voicegw_probe_vsay(ngx_voicegw_probe_t *p, const char *fmt,
    va_list args);


/* -- configuration -------------------------------------------------------- */

/* voicegw_provider_trusted_certificate FILE; checked where it is written */

char *
ngx_voicegw_probe_trusted_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ngx_voicegw_registry_t  *reg = vmcf->registry;

    char              err[256];
    ngx_str_t        *value;
    ngx_file_info_t   fi;

    if (reg->probe_trusted.data) {
        return "is duplicate";
    }

    if (reg->proxy_used) {
        return "must come before the voicegw_proxy locations (they are set "
               "up with the certificates known where they are written)";
    }

    value = cf->args->elts;
    reg->probe_trusted = value[1];

    if (ngx_conf_full_name(cf->cycle, &reg->probe_trusted, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_file_info(reg->probe_trusted.data, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%V: cannot open \"%s\"", &cmd->name,
                           reg->probe_trusted.data);
        return NGX_CONF_ERROR;
    }

    if (ngx_voicegw_probe_ssl(cf, reg) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (SSL_CTX_load_verify_locations(reg->probe_ssl->ctx,
                                      (char *) reg->probe_trusted.data,
                                      NULL)
        == 0)
    {
        ERR_error_string_n(ERR_peek_last_error(), err, sizeof(err));
        ERR_clear_error();

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: cannot load \"%s\" (%s)", &cmd->name,
                           reg->probe_trusted.data, err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* voicegw_provider_test_timeout TIME; */

char *
ngx_voicegw_probe_timeout_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    /* the command's offset is that of ngx_voicegw_registry_t */

    return ngx_conf_set_msec_slot(cf, cmd, vmcf->registry);
}


ngx_int_t
ngx_voicegw_probe_init_main_conf(ngx_conf_t *cf, ngx_voicegw_registry_t *reg,
    ngx_uint_t api)
{
    ngx_conf_init_msec_value(reg->probe_timeout, 10000);

    if (!api || reg->probe_ssl != NULL) {
        return NGX_OK;
    }

    if (ngx_voicegw_probe_ssl(cf, reg) != NGX_OK) {
        return NGX_ERROR;
    }

    if (SSL_CTX_set_default_verify_paths(reg->probe_ssl->ctx) == 0) {
        ngx_ssl_error(NGX_LOG_WARN, cf->log, 0,
                      "voicegw: cannot load the system's certificate "
                      "authorities; https provider tests will fail");
    }

    return NGX_OK;
}


/*
 * The client TLS context of provider tests.  No SSL_VERIFY_PEER: the
 * chain is still checked and its result read after the handshake, so that
 * the answer can say what was wrong.
 */

static ngx_int_t
ngx_voicegw_probe_ssl(ngx_conf_t *cf, ngx_voicegw_registry_t *reg)
{
    ngx_ssl_t           *ssl;
    ngx_pool_cleanup_t  *cln;

    ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (ssl == NULL) {
        return NGX_ERROR;
    }

    ssl->log = cf->log;

    if (ngx_ssl_create(ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = ssl;

    reg->probe_ssl = ssl;

    return NGX_OK;
}


/* -- the test ------------------------------------------------------------- */

void
ngx_voicegw_probe_start(ngx_voicegw_probe_t *p)
{
    const char          *err;
    ngx_resolver_ctx_t  *rctx, temp;

    if (p->base_url.len == 0) {
        p->base_url.data = (u_char *) p->type->base_url;
        p->base_url.len = ngx_strlen(p->type->base_url);
    }

    if (ngx_voicegw_url_parse(p->pool, &p->base_url, &p->url, &err)
        != NGX_OK)
    {
        ngx_voicegw_probe_finish(p, "cannot use the base URL \"%V\": it %s",
                                 &p->base_url, err);
        return;
    }

    if (p->url.https && p->reg->probe_ssl == NULL) {
        ngx_voicegw_probe_finish(p, "https is not available");
        return;
    }

    if (ngx_parse_addr(p->pool, &p->addr, p->url.host.data, p->url.host.len)
        == NGX_OK)
    {
        if (ngx_voicegw_dest_allowed(&p->reg->dest, p->addr.sockaddr)
            != NGX_OK)
        {
            ngx_voicegw_probe_refused(p, p->addr.sockaddr);
            return;
        }

        ngx_inet_set_port(p->addr.sockaddr, p->url.port);
        ngx_voicegw_probe_fetch(p);
        return;
    }

    /* a host name: nginx's resolver, as proxy_pass with variables */

    temp.name = p->url.host;

    rctx = ngx_resolve_start(p->resolver, &temp);

    if (rctx == NULL) {
        ngx_voicegw_probe_finish(p, "cannot resolve %V", &p->url.host);
        return;
    }

    if (rctx == NGX_NO_RESOLVER) {
        ngx_voicegw_probe_finish(p, "no resolver defined to resolve %V",
                                 &p->url.host);
        return;
    }

    rctx->name = p->url.host;
    rctx->handler = ngx_voicegw_probe_resolved;
    rctx->data = p;
    rctx->timeout = p->resolver_timeout;

    if (ngx_resolve_name(rctx) != NGX_OK) {
        /* not called back, and rctx is freed */
        ngx_voicegw_probe_finish(p, "cannot resolve %V", &p->url.host);
    }
}


/* may run inside ngx_resolve_name(), before ngx_voicegw_probe_start() ends */

static void
ngx_voicegw_probe_resolved(ngx_resolver_ctx_t *rctx)
{
    ngx_voicegw_probe_t  *p = rctx->data;

    ngx_uint_t  i;

    if (rctx->state != NGX_OK || rctx->naddrs == 0) {
        ngx_voicegw_probe_finish(p, "%V could not be resolved (%i: %s)",
                                 &p->url.host, rctx->state,
                                 ngx_resolver_strerror(rctx->state));
        ngx_resolve_name_done(rctx);
        return;
    }

    /* the first address the destination policy allows */

    for (i = 0; i < rctx->naddrs; i++) {
        if (ngx_voicegw_dest_allowed(&p->reg->dest, rctx->addrs[i].sockaddr)
            == NGX_OK)
        {
            break;
        }
    }

    if (i == rctx->naddrs) {
        ngx_voicegw_probe_refused(p, rctx->addrs[0].sockaddr);
        ngx_resolve_name_done(rctx);
        return;
    }

    p->addr.sockaddr = ngx_palloc(p->pool, rctx->addrs[i].socklen);

    if (p->addr.sockaddr == NULL) {
        ngx_resolve_name_done(rctx);
        ngx_voicegw_probe_finish(p, "out of memory");
        return;
    }

    ngx_memcpy(p->addr.sockaddr, rctx->addrs[i].sockaddr,
               rctx->addrs[i].socklen);
    p->addr.socklen = rctx->addrs[i].socklen;
    ngx_inet_set_port(p->addr.sockaddr, p->url.port);

    ngx_resolve_name_done(rctx);

    ngx_voicegw_probe_fetch(p);
}


/*
 * The destination policy refuses the provider's address: nothing is sent,
 * so the answer is the same whether anything listens there or not.
 */

static void
ngx_voicegw_probe_refused(ngx_voicegw_probe_t *p, struct sockaddr *sa)
{
    ngx_voicegw_probe_finish(p, "destination refused: %V is %s address, "
                             "which voicegw_provider_destinations does not "
                             "allow", &p->url.host,
                             ngx_voicegw_dest_kind_name(
                                 ngx_voicegw_dest_kind(sa)));
}


static void
ngx_voicegw_probe_fetch(ngx_voicegw_probe_t *p)
{
    ngx_str_t             request;
    ngx_voicegw_fetch_t  *f;

    if (ngx_voicegw_probe_request(p, &request) != NGX_OK) {
        ngx_voicegw_probe_finish(p, "the key contains control characters");
        return;
    }

    f = ngx_voicegw_fetch_create(ngx_cycle->log, p->fetches);
    if (f == NULL) {
        ngx_explicit_memzero(request.data, request.len);
        ngx_voicegw_probe_finish(p, "out of memory");
        return;
    }

    f->request = request;
    f->sockaddr = p->addr.sockaddr;
    f->socklen = p->addr.socklen;
    f->name = p->url.host;
    f->timeout = p->reg->probe_timeout;
    f->max_response = 65536;
    f->done = ngx_voicegw_probe_fetched;
    f->data = p;
    f->graceful = 1;

    if (p->url.https) {
        f->ssl = p->reg->probe_ssl;
        f->host = p->url.host;
    }

    ngx_voicegw_fetch_start(f);
}


/*
 * The request's bytes, in the request's pool: the key goes into them
 * and nowhere else, and they are wiped once the fetch is done.  A key
 * that would break the header is refused.
 */

static ngx_int_t
ngx_voicegw_probe_request(ngx_voicegw_probe_t *p, ngx_str_t *out)
{
    u_char                             *b, *k;
    size_t                              len;
    const ngx_voicegw_provider_type_t  *t;

    t = p->type;

    for (k = p->key.data; k < p->key.data + p->key.len; k++) {
        if (*k < 0x20 || *k == 0x7f) {
            return NGX_ERROR;
        }
    }

    len = sizeof("GET  HTTP/1.1\r\n") - 1
          + p->url.prefix.len + ngx_strlen(t->health_path)
          + sizeof("Host: [" "]:65535\r\n") - 1 + p->url.host.len
          + sizeof("User-Agent: ngx_voicegw\r\n") - 1
          + sizeof("Accept: application/json\r\n") - 1
          + sizeof("Connection: close\r\n\r\n") - 1;

    if (t->auth_header && p->key.len) {
        len += ngx_strlen(t->auth_header) + sizeof(": \r\n") - 1
               + ngx_strlen(t->auth_prefix) + p->key.len;
    }

    if (t->extra_header) {
        len += ngx_strlen(t->extra_header) + sizeof("\r\n") - 1;
    }

    b = ngx_pnalloc(p->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    out->data = b;

    b = ngx_sprintf(b, "GET %V%s HTTP/1.1\r\n", &p->url.prefix, t->health_path);

    if (ngx_strlchr(p->url.host.data, p->url.host.data + p->url.host.len,
                    ':'))
    {
        b = ngx_sprintf(b, "Host: [%V]", &p->url.host);

    } else {
        b = ngx_sprintf(b, "Host: %V", &p->url.host);
    }

    if (p->url.port != (p->url.https ? 443 : 80)) {
        b = ngx_sprintf(b, ":%d", (int) p->url.port);
    }

    b = ngx_cpymem(b, "\r\nUser-Agent: ngx_voicegw\r\n"
                   "Accept: application/json\r\n",
                   sizeof("\r\nUser-Agent: ngx_voicegw\r\n"
                          "Accept: application/json\r\n") - 1);

    if (t->auth_header && p->key.len) {
        b = ngx_sprintf(b, "%s: %s%V\r\n", t->auth_header, t->auth_prefix,
                        &p->key);
    }

    if (t->extra_header) {
        b = ngx_sprintf(b, "%s\r\n", t->extra_header);
    }

    b = ngx_cpymem(b, "Connection: close\r\n\r\n",
                   sizeof("Connection: close\r\n\r\n") - 1);

    out->len = b - out->data;

    return NGX_OK;
}


static void
ngx_voicegw_probe_fetched(ngx_voicegw_fetch_t *f)
{
    ngx_voicegw_probe_t  *p = f->data;

    /* the request's bytes held the key: gone before the pool is */

    if (f->request.len) {
        ngx_explicit_memzero(f->request.data, f->request.len);
    }

    p->latency = f->elapsed;

    if (f->outcome == NGX_VOICEGW_FETCH_OK) {
        p->http_status = f->status;
        p->ok = (f->status >= 200 && f->status < 300);

        ngx_voicegw_probe_finish(p, "%s answered %ui", p->type->name,
                                 f->status);
        return;
    }

    if (f->outcome == NGX_VOICEGW_FETCH_TIMEOUT) {
        ngx_voicegw_probe_finish(p, "no answer within %M ms", f->timeout);
        return;
    }

    ngx_voicegw_probe_finish(p, "%s", f->error ? f->error
                                               : "the request failed");
}


/* the outcome's message, then done(): the end of every probe */

static void
ngx_voicegw_probe_finish(ngx_voicegw_probe_t *p, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_voicegw_probe_vsay(p, fmt, args);
    va_end(args);

    p->done(p);
}


static void
ngx_voicegw_probe_vsay(ngx_voicegw_probe_t *p, const char *fmt, va_list args)
{
    u_char  *m;

    m = ngx_pnalloc(p->pool, NGX_MAX_ERROR_STR);
    if (m == NULL) {
        p->message.len = 0;
        return;
    }

    p->message.len = ngx_vslprintf(m, m + NGX_MAX_ERROR_STR, fmt, args) - m;
    p->message.data = m;
}
