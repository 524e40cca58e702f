
/*
 * ngx_voicegw_probe.c
 *
 * "POST /v1/providers/{id}/test": a real request from nginx to the
 * provider's health endpoint, with its key.  The provider comes from
 * nginx.conf or from the store (its key decrypted for the request only);
 * a host name is resolved by nginx's own resolver ("resolver" directive),
 * an address is used as it is; https is verified against the system's
 * certificate authorities or "voicegw_provider_trusted_certificate".
 * The answer is {"status":"ok"|"failed","latency_ms","http_status",
 * "message"}; the key never appears in it nor in a log.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_entities.h"
#include "ngx_voicegw_secret.h"
#include "ngx_voicegw_fetch.h"
#include "ngx_voicegw_probe.h"


typedef struct {
    ngx_http_request_t                 *request;
    const ngx_voicegw_provider_type_t  *type;
    ngx_str_t                           key;
    ngx_str_t                           base_url;

    /* the target, from the base URL */
    ngx_uint_t                          https;
    ngx_str_t                           host;       /* NUL-terminated */
    in_port_t                           port;
    ngx_str_t                           prefix;     /* path of base_url */
    ngx_addr_t                          addr;

    /* the outcome */
    ngx_uint_t                          ok;
    ngx_uint_t                          http_status;
    ngx_msec_t                          latency;
    ngx_str_t                           message;
} ngx_voicegw_probe_t;


static ngx_int_t ngx_voicegw_probe_ssl(ngx_conf_t *cf,
    ngx_voicegw_main_conf_t *vmcf);
static ngx_int_t ngx_voicegw_probe_found(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_probe_start(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_probe_target(ngx_voicegw_probe_t *p);
static void ngx_voicegw_probe_resolved(ngx_resolver_ctx_t *rctx);
static ngx_int_t ngx_voicegw_probe_fetch(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_probe_request(ngx_voicegw_probe_t *p,
    ngx_str_t *out);
static void ngx_voicegw_probe_fetched(ngx_voicegw_fetch_t *f);
static ngx_int_t ngx_voicegw_probe_answer(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static ngx_int_t ngx_voicegw_probe_fail(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, const char *fmt, ...);
static void ngx_voicegw_probe_say(ngx_voicegw_probe_t *p,
    const char *fmt, ...);
static void ngx_voicegw_probe_vsay(ngx_voicegw_probe_t *p, const char *fmt,
    va_list args);


/* -- configuration ---------------------------------------------------------- */

/* voicegw_provider_trusted_certificate FILE; checked where it is written */

char *
ngx_voicegw_probe_trusted_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    char              err[256];
    ngx_str_t        *value;
    ngx_file_info_t   fi;

    if (vmcf->probe_trusted.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    vmcf->probe_trusted = value[1];

    if (ngx_conf_full_name(cf->cycle, &vmcf->probe_trusted, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_file_info(vmcf->probe_trusted.data, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%V: cannot open \"%s\"", &cmd->name,
                           vmcf->probe_trusted.data);
        return NGX_CONF_ERROR;
    }

    if (ngx_voicegw_probe_ssl(cf, vmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (SSL_CTX_load_verify_locations(vmcf->probe_ssl->ctx,
                                      (char *) vmcf->probe_trusted.data,
                                      NULL)
        == 0)
    {
        ERR_error_string_n(ERR_peek_last_error(), err, sizeof(err));
        ERR_clear_error();

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: cannot load \"%s\" (%s)", &cmd->name,
                           vmcf->probe_trusted.data, err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_voicegw_probe_init_main_conf(ngx_conf_t *cf, ngx_voicegw_main_conf_t *vmcf)
{
    ngx_conf_init_msec_value(vmcf->probe_timeout, 10000);

    if (vmcf->api_locations.nelts == 0 || vmcf->probe_ssl != NULL) {
        return NGX_OK;
    }

    if (ngx_voicegw_probe_ssl(cf, vmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (SSL_CTX_set_default_verify_paths(vmcf->probe_ssl->ctx) == 0) {
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
ngx_voicegw_probe_ssl(ngx_conf_t *cf, ngx_voicegw_main_conf_t *vmcf)
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

    vmcf->probe_ssl = ssl;

    return NGX_OK;
}


/* -- the handler ------------------------------------------------------------ */

ngx_int_t
ngx_voicegw_probe_handler(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_str_t                    *id;
    ngx_voicegw_probe_t          *p;
    ngx_voicegw_sql_stmt_t       *st;
    ngx_voicegw_sql_batch_t      *b;
    ngx_voicegw_provider_conf_t  *pc;

    id = &ctx->params[0];

    p = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_probe_t));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p->request = r;
    ctx->data = p;

    pc = ngx_voicegw_conf_provider(ctx->vmcf, id);

    if (pc != NULL) {
        p->type = pc->type;
        p->key = pc->key;
        p->base_url = pc->base_url;

        return ngx_voicegw_probe_start(r, ctx);
    }

    if (ctx->vmcf->store == NULL) {
        return ngx_voicegw_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no provider \"%V\"", id);
    }

    b = ngx_voicegw_api_batch(r, ctx, 0);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = ngx_voicegw_sql_add(b, "SELECT type, api_key_enc, base_url "
                                "FROM providers WHERE id = ?1",
                             NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_sql_text(st, id);

    return ngx_voicegw_api_store_post(r, ctx, ngx_voicegw_probe_found);
}


static ngx_int_t
ngx_voicegw_probe_found(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t                  answer;
    ngx_str_t                 *id;
    ngx_voicegw_probe_t       *p;
    ngx_voicegw_sql_stmt_t    *st;
    ngx_voicegw_sql_batch_t   *b;
    ngx_voicegw_sql_value_t   *row;

    id = &ctx->params[0];
    p = ctx->data;

    b = ngx_voicegw_api_batch_rows(r, ctx, &answer);
    if (b == NULL) {
        return answer;
    }

    st = &b->stmt[0];

    if (st->nrows == 0) {
        return ngx_voicegw_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no provider \"%V\"", id);
    }

    row = st->rows;

    p->type = ngx_voicegw_provider_type(&row[0].s);

    if (p->type == NULL) {
        return ngx_voicegw_probe_fail(r, ctx, "unknown provider type \"%V\"",
                                      &row[0].s);
    }

    if (row[2].type == NGX_VOICEGW_SQL_TEXT) {
        p->base_url = row[2].s;
    }

    if (row[1].s.len) {
        if (ctx->vmcf->secret == NULL
            || ngx_voicegw_secret_decrypt(r->pool, ctx->vmcf->secret, id,
                                          &row[1].s, &p->key)
               != NGX_OK)
        {
            return ngx_voicegw_probe_fail(r, ctx,
                                          "the stored key cannot be "
                                          "decrypted with this "
                                          "voicegw_secret");
        }
    }

    return ngx_voicegw_probe_start(r, ctx);
}


static ngx_int_t
ngx_voicegw_probe_start(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_resolver_ctx_t        *rctx, temp;
    ngx_voicegw_probe_t       *p;
    ngx_http_core_loc_conf_t  *clcf;

    p = ctx->data;

    if (p->base_url.len == 0) {
        p->base_url.data = (u_char *) p->type->base_url;
        p->base_url.len = ngx_strlen(p->type->base_url);
    }

    if (ngx_voicegw_probe_target(p) != NGX_OK) {
        return ngx_voicegw_probe_fail(r, ctx, "cannot use the base URL "
                                      "\"%V\"", &p->base_url);
    }

    if (p->https && ctx->vmcf->probe_ssl == NULL) {
        return ngx_voicegw_probe_fail(r, ctx, "https is not available");
    }

    if (ngx_parse_addr(r->pool, &p->addr, p->host.data, p->host.len)
        == NGX_OK)
    {
        ngx_inet_set_port(p->addr.sockaddr, p->port);

        return ngx_voicegw_probe_fetch(r, ctx);
    }

    /* a host name: nginx's resolver, as proxy_pass with variables */

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    temp.name = p->host;

    rctx = ngx_resolve_start(clcf->resolver, &temp);

    if (rctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rctx == NGX_NO_RESOLVER) {
        return ngx_voicegw_probe_fail(r, ctx, "no resolver defined to "
                                      "resolve %V", &p->host);
    }

    rctx->name = p->host;
    rctx->handler = ngx_voicegw_probe_resolved;
    rctx->data = r;
    rctx->timeout = clcf->resolver_timeout;

    (void) ngx_voicegw_api_suspend(r, ctx, ngx_voicegw_probe_fetch);

    p->addr.sockaddr = NULL;

    if (ngx_resolve_name(rctx) != NGX_OK) {
        /* not called back: wake as the callback would have */
        ngx_voicegw_probe_say(p, "cannot resolve %V", &p->host);
        ngx_voicegw_api_wake(r);
    }

    return NGX_DONE;
}


/* "http[s]://host[:port][/prefix]" */

static ngx_int_t
ngx_voicegw_probe_target(ngx_voicegw_probe_t *p)
{
    u_char     *u, *last, *host, *end, *colon;
    ngx_int_t   port;

    u = p->base_url.data;
    last = u + p->base_url.len;

    if (last - u > 8 && ngx_strncasecmp(u, (u_char *) "https://", 8) == 0) {
        p->https = 1;
        u += 8;

    } else if (last - u > 7
               && ngx_strncasecmp(u, (u_char *) "http://", 7) == 0)
    {
        u += 7;

    } else {
        return NGX_ERROR;
    }

    end = ngx_strlchr(u, last, '/');
    if (end == NULL) {
        end = last;
    }

    p->prefix.data = end;
    p->prefix.len = last - end;

    while (p->prefix.len && p->prefix.data[p->prefix.len - 1] == '/') {
        p->prefix.len--;
    }

    colon = NULL;

    if (*u == '[') {
        host = u + 1;

        u = ngx_strlchr(host, end, ']');
        if (u == NULL) {
            return NGX_ERROR;
        }

        p->host.len = u - host;

        if (u + 1 < end) {
            if (u[1] != ':') {
                return NGX_ERROR;
            }

            colon = u + 1;
        }

    } else {
        host = u;
        colon = ngx_strlchr(u, end, ':');
        p->host.len = (colon ? colon : end) - host;
    }

    if (p->host.len == 0) {
        return NGX_ERROR;
    }

    if (colon) {
        port = ngx_atoi(colon + 1, end - colon - 1);

        if (port < 1 || port > 65535) {
            return NGX_ERROR;
        }

        p->port = (in_port_t) port;

    } else {
        p->port = p->https ? 443 : 80;
    }

    /* NUL-terminated for the TLS server name */

    p->host.data = ngx_pnalloc(p->request->pool, p->host.len + 1);
    if (p->host.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p->host.data, host, p->host.len);
    p->host.data[p->host.len] = '\0';

    return NGX_OK;
}


static void
ngx_voicegw_probe_resolved(ngx_resolver_ctx_t *rctx)
{
    ngx_http_request_t     *r;
    ngx_voicegw_probe_t    *p;
    ngx_voicegw_api_ctx_t  *ctx;

    r = rctx->data;
    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);
    p = ctx->data;

    if (rctx->state == NGX_OK && rctx->naddrs > 0) {
        p->addr.sockaddr = ngx_palloc(r->pool, rctx->addrs[0].socklen);

        if (p->addr.sockaddr != NULL) {
            ngx_memcpy(p->addr.sockaddr, rctx->addrs[0].sockaddr,
                       rctx->addrs[0].socklen);
            p->addr.socklen = rctx->addrs[0].socklen;
            ngx_inet_set_port(p->addr.sockaddr, p->port);
        }

    } else {
        ngx_voicegw_probe_say(p, "%V could not be resolved (%i: %s)",
                              &p->host, rctx->state,
                              ngx_resolver_strerror(rctx->state));
    }

    ngx_resolve_name_done(rctx);

    /* may run inside ngx_resolve_name(), before the handler returned */

    ngx_voicegw_api_wake(r);
}


static ngx_int_t
ngx_voicegw_probe_fetch(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_str_t             request;
    ngx_voicegw_probe_t  *p;
    ngx_voicegw_fetch_t  *f;

    p = ctx->data;

    if (p->addr.sockaddr == NULL) {
        /* not resolved: the message says why */
        return p->message.len ? ngx_voicegw_probe_answer(r, ctx)
                              : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_voicegw_probe_request(p, &request) != NGX_OK) {
        return ngx_voicegw_probe_fail(r, ctx, "the key contains control "
                                      "characters");
    }

    f = ngx_voicegw_fetch_create(ngx_cycle->log, &ctx->shm->fetches);
    if (f == NULL) {
        ngx_explicit_memzero(request.data, request.len);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    f->request = request;
    f->sockaddr = p->addr.sockaddr;
    f->socklen = p->addr.socklen;
    f->name = p->host;
    f->timeout = ctx->vmcf->probe_timeout;
    f->max_response = 65536;
    f->done = ngx_voicegw_probe_fetched;
    f->data = r;
    f->graceful = 1;

    if (p->https) {
        f->ssl = ctx->vmcf->probe_ssl;
        f->host = p->host;
    }

    (void) ngx_voicegw_api_suspend(r, ctx, ngx_voicegw_probe_answer);

    ngx_voicegw_fetch_start(f);

    return NGX_DONE;
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
          + p->prefix.len + ngx_strlen(t->health_path)
          + sizeof("Host: [" "]:65535\r\n") - 1 + p->host.len
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

    b = ngx_pnalloc(p->request->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    out->data = b;

    b = ngx_sprintf(b, "GET %V%s HTTP/1.1\r\n", &p->prefix, t->health_path);

    if (ngx_strlchr(p->host.data, p->host.data + p->host.len, ':')) {
        b = ngx_sprintf(b, "Host: [%V]", &p->host);

    } else {
        b = ngx_sprintf(b, "Host: %V", &p->host);
    }

    if (p->port != (p->https ? 443 : 80)) {
        b = ngx_sprintf(b, ":%d", (int) p->port);
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
    ngx_http_request_t     *r;
    ngx_voicegw_probe_t    *p;
    ngx_voicegw_api_ctx_t  *ctx;

    r = f->data;
    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);
    p = ctx->data;

    /* the request's bytes held the key: gone before the pool is */

    if (f->request.len) {
        ngx_explicit_memzero(f->request.data, f->request.len);
    }

    p->latency = f->elapsed;

    if (f->outcome == NGX_VOICEGW_FETCH_OK) {
        p->http_status = f->status;
        p->ok = (f->status >= 200 && f->status < 300);

        ngx_voicegw_probe_say(p, "%s answered %ui", p->type->name, f->status);

    } else if (f->outcome == NGX_VOICEGW_FETCH_TIMEOUT) {
        ngx_voicegw_probe_say(p, "no answer within %M ms", f->timeout);

    } else {
        ngx_voicegw_probe_say(p, "%s", f->error ? f->error
                                                : "the request failed");
    }

    ngx_voicegw_api_wake(r);
}


static ngx_int_t
ngx_voicegw_probe_answer(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_voicegw_json_t   *j;
    ngx_voicegw_probe_t  *p;

    p = ctx->data;

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "status");
    ngx_voicegw_json_cstr(j, p->ok ? "ok" : "failed");
    ngx_voicegw_json_key(j, "latency_ms");
    ngx_voicegw_json_int(j, (int64_t) p->latency);
    ngx_voicegw_json_key(j, "http_status");

    if (p->http_status) {
        ngx_voicegw_json_int(j, (int64_t) p->http_status);

    } else {
        ngx_voicegw_json_null(j);
    }

    ngx_voicegw_json_key(j, "message");
    ngx_voicegw_json_str(j, &p->message);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, NGX_HTTP_OK, j);
}


/* a test that could not even be tried: "failed", with why */

static ngx_int_t
ngx_voicegw_probe_fail(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    const char *fmt, ...)
{
    va_list               args;
    ngx_voicegw_probe_t  *p;

    p = ctx->data;

    va_start(args, fmt);
    ngx_voicegw_probe_vsay(p, fmt, args);
    va_end(args);

    p->ok = 0;
    p->http_status = 0;

    return ngx_voicegw_probe_answer(r, ctx);
}


/* the answer's message, in the request's pool */

static void
ngx_voicegw_probe_say(ngx_voicegw_probe_t *p, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_voicegw_probe_vsay(p, fmt, args);
    va_end(args);
}


static void
ngx_voicegw_probe_vsay(ngx_voicegw_probe_t *p, const char *fmt, va_list args)
{
    u_char  *m;

    m = ngx_pnalloc(p->request->pool, NGX_MAX_ERROR_STR);
    if (m == NULL) {
        p->message.len = 0;
        return;
    }

    p->message.len = ngx_vslprintf(m, m + NGX_MAX_ERROR_STR, fmt, args) - m;
    p->message.data = m;
}
