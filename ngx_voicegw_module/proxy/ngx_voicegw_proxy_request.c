
/*
 * ngx_voicegw_proxy_request.c
 *
 * Owns the way in of a provider call: the content handler of a
 * voicegw_proxy location.  It finds the provider ({provider_id}, the path
 * segment after the location's prefix), the project and the model; it
 * takes the client's credentials and the gateway's own headers out of
 * the request and puts the provider's key in, the provider's way; it
 * finds the provider's address; then nginx's proxy handler takes over.
 *
 * Whatever it refuses, it refuses with a JSON error before anything
 * reaches the provider; the key is never in an answer or a log line.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_http.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_url.h"
#include "ngx_voicegw_record.h"
#include "ngx_voicegw_proxy.h"


static void ngx_voicegw_proxy_wake(void *data);
static ngx_int_t ngx_voicegw_proxy_start(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx);
static void ngx_voicegw_proxy_body_done(ngx_http_request_t *r);
static ngx_int_t ngx_voicegw_proxy_attribute(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx);
static ngx_int_t ngx_voicegw_proxy_admit(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx);
static ngx_int_t ngx_voicegw_proxy_target(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx, ngx_str_t *rest);
static ngx_int_t ngx_voicegw_proxy_address(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx, ngx_voicegw_url_t *url);
static void ngx_voicegw_proxy_resolved(ngx_resolver_ctx_t *rctx);
static ngx_int_t ngx_voicegw_proxy_refused(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx, struct sockaddr *sa);
static ngx_int_t ngx_voicegw_proxy_go(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx);
static ngx_int_t ngx_voicegw_proxy_headers(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx);
static ngx_table_elt_t *ngx_voicegw_proxy_add_header(ngx_http_request_t *r,
    ngx_list_t *headers, ngx_str_t *name);


/* headers a client's credentials may be in: never sent on */

static ngx_str_t  ngx_voicegw_proxy_credentials[] = {
    ngx_string("authorization"),
    ngx_string("proxy-authorization"),
    ngx_string("x-api-key"),
    ngx_string("xi-api-key"),
    ngx_string("x-goog-api-key"),
    ngx_string("api-key"),
    ngx_null_string
};


ngx_int_t
ngx_voicegw_proxy_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_voicegw_proxy_ctx_t  *ctx;
    ngx_voicegw_main_conf_t  *vmcf;

    if (r != r->main) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "internal_error",
                                       "voicegw_proxy does not serve "
                                       "subrequests");
    }

    vmcf = ngx_http_get_module_main_conf(r, ngx_voicegw_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_proxy_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->vmcf = vmcf;
    ctx->start = ngx_current_msec;
    ctx->modality = NGX_VOICEGW_MODALITY_OTHER;

    if (ngx_voicegw_proxy_keep_ctx(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (vmcf->proc.entities == NULL) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "unavailable",
                                       "the gateway is not ready");
    }

    ctx->waiter.handler = ngx_voicegw_proxy_wake;
    ctx->waiter.data = r;

    rc = ngx_voicegw_entity_cache_current(vmcf->proc.entities, r->pool,
                                          &ctx->waiter);

    if (rc == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_proxy_start(r, ctx);
}


/* the copy of the entities is current: the request goes on */

static void
ngx_voicegw_proxy_wake(void *data)
{
    ngx_http_request_t  *r = data;

    ngx_connection_t         *c;
    ngx_voicegw_proxy_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_proxy_module);

    ngx_http_set_log_request(c->log, r);

    ngx_http_finalize_request(r, ngx_voicegw_proxy_start(r, ctx));
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_voicegw_proxy_start(ngx_http_request_t *r, ngx_voicegw_proxy_ctx_t *ctx)
{
    ngx_str_t                      id, rest;
    ngx_table_elt_t               *h;
    ngx_voicegw_entity_cache_t    *ec;
    ngx_voicegw_proxy_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_voicegw_proxy_module);
    ec = ctx->vmcf->proc.entities;

    /* /<prefix>/{provider_id}[/<path>] */

    ngx_voicegw_proxy_split(&r->uri, &plcf->prefix, &id, &rest);

    if (id.len == 0) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no provider in the path: "
                                       "%V{provider_id}/...",
                                       &plcf->prefix);
    }

    if (!ngx_voicegw_valid_id(&id)
        || ngx_voicegw_entity_cache_provider(ec, &id, &ctx->provider)
           != NGX_OK)
    {
        return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no provider \"%V\"", &id);
    }

    if (ctx->provider.type == NULL) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                       "provider_unavailable",
                                       "provider \"%V\" has a type this "
                                       "gateway does not know", &id);
    }

    if (ctx->provider.sealed_bad) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                       "provider_unavailable",
                                       "the stored key of provider \"%V\" "
                                       "cannot be decrypted with this "
                                       "voicegw_secret", &id);
    }

    if (ctx->provider.type->auth_header && ctx->provider.key.len == 0) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                       "provider_unavailable",
                                       "provider \"%V\" has no API key",
                                       &id);
    }

    /* the project: X-VoiceGW-Project, "default" when there is none */

    h = ngx_voicegw_http_header(&r->headers_in.headers, "X-VoiceGW-Project");

    if (h == NULL || h->value.len == 0) {
        ngx_str_set(&ctx->project, "default");

        if (ngx_voicegw_entity_cache_project(ec, &ctx->project,
                                             &ctx->project_view)
            != NGX_OK)
        {
            ngx_memzero(&ctx->project_view,
                        sizeof(ngx_voicegw_project_view_t));
        }

    } else {
        ctx->project = h->value;

        if (!ngx_voicegw_valid_id(&ctx->project)
            || ngx_voicegw_entity_cache_project(ec, &ctx->project,
                                                &ctx->project_view)
               != NGX_OK)
        {
            return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND,
                                           "not_found", "no project \"%V\"",
                                           &ctx->project);
        }
    }

    /* the model: X-VoiceGW-Model, else the body's (after it is read) */

    h = ngx_voicegw_http_header(&r->headers_in.headers, "X-VoiceGW-Model");

    if (h && h->value.len) {
        ctx->model = h->value;
    }

    ctx->modality = ngx_voicegw_proxy_modality(&rest);
    ctx->rest = rest;

    /* a WebSocket session: nginx's upstream relays it once upgraded */

    h = r->headers_in.upgrade;

    if (h && r->method == NGX_HTTP_GET
        && r->http_version == NGX_HTTP_VERSION_11
        && ngx_strlcasestrn(h->value.data, h->value.data + h->value.len,
                            (u_char *) "websocket", 9 - 1)
           != NULL)
    {
        ctx->websocket = 1;

        if (ngx_voicegw_proxy_rt_modality(&rest) == NGX_VOICEGW_MODALITY_LLM)
        {
            ctx->modality = NGX_VOICEGW_MODALITY_LLM;
        }
    }

    return ngx_voicegw_proxy_read_body(r, ctx, ngx_voicegw_proxy_body_done);
}


/* the body is in: what it says, then the budget, then the provider */

static void
ngx_voicegw_proxy_body_done(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_voicegw_proxy_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_proxy_module);

    rc = ngx_voicegw_proxy_body_read(r, ctx);

    if (rc == NGX_OK) {
        rc = ngx_voicegw_proxy_attribute(r, ctx);

        if (rc == NGX_DECLINED) {
            rc = ngx_voicegw_proxy_admit(r, ctx);
        }
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * The model: X-VoiceGW-Model, else the JSON body's "model" (or
 * "model_id"), else a form upload's "model" field, else the "model",
 * "model_id" or "speech_model" (AssemblyAI streaming) query argument.
 * NGX_DECLINED: the call goes on; anything else: it was answered
 * (refused).
 */

static ngx_int_t
ngx_voicegw_proxy_attribute(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx)
{
    ngx_voicegw_model_view_t       m;
    ngx_voicegw_proxy_loc_conf_t  *plcf;

    if (ctx->model.len == 0
        && ngx_voicegw_proxy_model_arg(r, &ctx->model) == NGX_ERROR)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->model.len > NGX_VOICEGW_RECORD_MODEL_LEN / 2) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_model",
                                       "the model name is longer than %d "
                                       "bytes",
                                       NGX_VOICEGW_RECORD_MODEL_LEN / 2);
    }

    /* the model as VoiceGateway names it: provider/model */

    if (ngx_voicegw_proxy_record_model(r->pool, &ctx->provider.id,
                                       &ctx->model, &ctx->record_model)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_voicegw_proxy_module);

    if (!plcf->strict_models) {
        return NGX_DECLINED;
    }

    if (ctx->model.len == 0) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "unknown_model",
                                       "this location takes registered "
                                       "models only (strict_models=on) and "
                                       "the request names none: use "
                                       "X-VoiceGW-Model or the body's "
                                       "\"model\"");
    }

    if (ngx_voicegw_entity_cache_model(ctx->vmcf->proc.entities,
                                       &ctx->record_model, &m)
        != NGX_OK)
    {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                       "unknown_model",
                                       "model \"%V\" is not registered "
                                       "(strict_models=on): add it with "
                                       "POST /v1/models or "
                                       "voicegw_model", &ctx->record_model);
    }

    return NGX_DECLINED;
}


/*
 * The project's daily budget; a call without an estimate that must wait
 * comes back here from its timer.
 */

static ngx_int_t
ngx_voicegw_proxy_admit(ngx_http_request_t *r, ngx_voicegw_proxy_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_voicegw_proxy_budget_reserve(r, ctx, &ctx->project_view,
                                          ngx_voicegw_proxy_estimate(ctx),
                                          ngx_voicegw_proxy_admit);

    switch (rc) {

    case NGX_OK:
        return ngx_voicegw_proxy_target(r, ctx, &ctx->rest);

    case NGX_AGAIN:
        r->main->count++;
        return NGX_DONE;

    case NGX_DECLINED:
        ctx->rejected = 1;
        return ngx_voicegw_reply_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                       "budget_exceeded",
                                       "project \"%V\" has spent its daily "
                                       "budget of $%.2f (UTC day); "
                                       "budget_action is block",
                                       &ctx->project,
                                       ctx->project_view.daily_budget);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* where the call goes: $voicegw_proxy_url, Host, SNI, the address */

static ngx_int_t
ngx_voicegw_proxy_target(ngx_http_request_t *r, ngx_voicegw_proxy_ctx_t *ctx,
    ngx_str_t *rest)
{
    ngx_str_t                      base;
    const char                    *err;
    ngx_voicegw_url_t              url;
    ngx_voicegw_proxy_loc_conf_t  *plcf;

    base = ctx->provider.base_url;

    if (base.len == 0) {
        base.data = (u_char *) ctx->provider.type->base_url;
        base.len = ngx_strlen(base.data);
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_voicegw_proxy_module);

    /* the URL parsed, and Host: the provider's, its port unless default */

    if (ngx_voicegw_proxy_base(r, plcf, &base, &url, &ctx->host, &err)
        != NGX_OK)
    {
        if (err == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                       "provider_unavailable",
                                       "the base_url of provider \"%V\" "
                                       "cannot be used: %s",
                                       &ctx->provider.id, err);
    }

    ctx->ssl = url.https;
    ctx->sni = url.host;

    /* the path as nginx normalised it, escaped again, and the query */

    if (ngx_voicegw_proxy_url(r, ctx, url.https, &url.prefix, rest)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_proxy_address(r, ctx, &url);
}


/*
 * The provider's address: an address as it is, a name through nginx's
 * resolver ("resolver" directive), as proxy_pass with variables does.
 */

static ngx_int_t
ngx_voicegw_proxy_address(ngx_http_request_t *r, ngx_voicegw_proxy_ctx_t *ctx,
    ngx_voicegw_url_t *url)
{
    ngx_addr_t                    *addr;
    ngx_resolver_t                *resolver;
    ngx_resolver_ctx_t            *rctx, temp;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_voicegw_proxy_loc_conf_t  *plcf;

    addr = ngx_pcalloc(r->pool, sizeof(ngx_addr_t));
    if (addr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_parse_addr(r->pool, addr, url->host.data, url->host.len)
        == NGX_OK)
    {
        if (ngx_voicegw_dest_allowed(&ctx->vmcf->registry->dest,
                                     addr->sockaddr)
            != NGX_OK)
        {
            return ngx_voicegw_proxy_refused(r, ctx, addr->sockaddr);
        }

        ngx_inet_set_port(addr->sockaddr, url->port);
        addr->name = ctx->host;

        ctx->addrs = addr;
        ctx->naddrs = 1;

        return ngx_voicegw_proxy_go(r, ctx);
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    plcf = ngx_http_get_module_loc_conf(r, ngx_voicegw_proxy_module);

    /* the location's "resolver", else the system's name servers */

    resolver = clcf->resolver;

    if ((resolver == NULL || resolver->connections.nelts == 0)
        && plcf->resolver)
    {
        resolver = plcf->resolver;
    }

    temp.name = url->host;

    rctx = ngx_resolve_start(resolver, &temp);
    if (rctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rctx == NGX_NO_RESOLVER) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                       "provider_unavailable",
                                       "no resolver defined to resolve %V "
                                       "(provider \"%V\") and no name "
                                       "server in resolv.conf: add a "
                                       "\"resolver\" directive",
                                       &url->host, &ctx->provider.id);
    }

    rctx->name = url->host;
    rctx->handler = ngx_voicegw_proxy_resolved;
    rctx->data = r;
    rctx->timeout = clcf->resolver_timeout;

    ctx->port = url->port;
    ctx->naddrs = 0;

    r->main->count++;

    if (ngx_resolve_name(rctx) != NGX_OK) {
        r->main->count--;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DONE;
}


/* may run inside ngx_resolve_name() */

static void
ngx_voicegw_proxy_resolved(ngx_resolver_ctx_t *rctx)
{
    ngx_http_request_t  *r = rctx->data;

    ngx_int_t                 rc;
    ngx_uint_t                i, n;
    ngx_addr_t               *addrs;
    ngx_connection_t         *c;
    ngx_voicegw_proxy_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_proxy_module);

    ngx_http_set_log_request(c->log, r);

    if (rctx->state || rctx->naddrs == 0) {
        rc = ngx_voicegw_reply_error(r, NGX_HTTP_BAD_GATEWAY,
                                     "provider_unavailable",
                                     "%V could not be resolved (%i: %s)",
                                     &rctx->name, rctx->state,
                                     ngx_resolver_strerror(rctx->state));
        ngx_resolve_name_done(rctx);
        goto done;
    }

    addrs = ngx_pcalloc(r->pool, rctx->naddrs * sizeof(ngx_addr_t));
    if (addrs == NULL) {
        ngx_resolve_name_done(rctx);
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    /* the addresses the destination policy allows, after resolution */

    n = 0;

    for (i = 0; i < rctx->naddrs; i++) {
        if (ngx_voicegw_dest_allowed(&ctx->vmcf->registry->dest,
                                     rctx->addrs[i].sockaddr)
            != NGX_OK)
        {
            continue;
        }

        addrs[n].socklen = rctx->addrs[i].socklen;
        addrs[n].sockaddr = ngx_palloc(r->pool, addrs[n].socklen);
        if (addrs[n].sockaddr == NULL) {
            ngx_resolve_name_done(rctx);
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        ngx_memcpy(addrs[n].sockaddr, rctx->addrs[i].sockaddr,
                   addrs[n].socklen);
        ngx_inet_set_port(addrs[n].sockaddr, ctx->port);
        addrs[n].name = ctx->host;
        n++;
    }

    if (n == 0) {
        rc = ngx_voicegw_proxy_refused(r, ctx, rctx->addrs[0].sockaddr);
        ngx_resolve_name_done(rctx);
        goto done;
    }

    ngx_resolve_name_done(rctx);

    ctx->addrs = addrs;
    ctx->naddrs = n;

    rc = ngx_voicegw_proxy_go(r, ctx);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* the destination policy refuses the provider's address: nothing sent */

static ngx_int_t
ngx_voicegw_proxy_refused(ngx_http_request_t *r, ngx_voicegw_proxy_ctx_t *ctx,
    struct sockaddr *sa)
{
    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "voicegw: provider \"%V\" is at %s address, which "
                  "voicegw_provider_destinations does not allow",
                  &ctx->provider.id,
                  ngx_voicegw_dest_kind_name(ngx_voicegw_dest_kind(sa)));

    return ngx_voicegw_reply_error(r, NGX_HTTP_FORBIDDEN,
                                   "destination_refused",
                                   "provider \"%V\" is at %s address, "
                                   "which voicegw_provider_destinations does "
                                   "not allow", &ctx->provider.id,
                                   ngx_voicegw_dest_kind_name(
                                       ngx_voicegw_dest_kind(sa)));
}


/* everything known: the headers, then nginx's proxy */

static ngx_int_t
ngx_voicegw_proxy_go(ngx_http_request_t *r, ngx_voicegw_proxy_ctx_t *ctx)
{
    ngx_int_t                      rc;
    ngx_voicegw_proxy_loc_conf_t  *plcf;

    rc = ngx_voicegw_proxy_headers(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_voicegw_proxy_module);

    ctx->proxied = 1;

    return plcf->proxy_handler(r);
}


/*
 * The headers the provider gets: the client's, less its credentials and
 * the gateway's own (X-VoiceGW-*), with the provider's key in its header
 * and the provider's version header unless the client named a version.
 */

static ngx_int_t
ngx_voicegw_proxy_headers(ngx_http_request_t *r, ngx_voicegw_proxy_ctx_t *ctx)
{
    u_char                              *p;
    size_t                               len;
    ngx_str_t                           *cred, name, extra_name, extra_value;
    ngx_uint_t                           i, n, has_extra;
    ngx_list_t                           headers;
    ngx_list_part_t                     *part;
    ngx_table_elt_t                     *h, *nh;
    const ngx_voicegw_provider_type_t   *type;

    type = ctx->provider.type;

    ngx_str_null(&extra_name);
    ngx_str_null(&extra_value);

    if (type->extra_header) {
        p = (u_char *) ngx_strchr(type->extra_header, ':');

        extra_name.data = (u_char *) type->extra_header;
        extra_name.len = p - extra_name.data;
        extra_value.data = p + 2;
        extra_value.len = ngx_strlen(extra_value.data);
    }

    n = 0;
    part = &r->headers_in.headers.part;

    for ( ;; ) {
        n += part->nelts;

        if (part->next == NULL) {
            break;
        }

        part = part->next;
    }

    if (ngx_list_init(&headers, r->pool, n + 2, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    has_extra = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len >= sizeof("x-voicegw-") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "x-voicegw-",
                               sizeof("x-voicegw-") - 1)
               == 0)
        {
            continue;
        }

        for (cred = ngx_voicegw_proxy_credentials; cred->len; cred++) {
            if (h[i].key.len == cred->len
                && ngx_strncasecmp(h[i].key.data, cred->data, cred->len)
                   == 0)
            {
                break;
            }
        }

        if (cred->len) {
            continue;
        }

        if (ctx->websocket && h[i].key.len == sizeof("sec-websocket-protocol")
                                              - 1
            && ngx_strncasecmp(h[i].key.data,
                               (u_char *) "sec-websocket-protocol",
                               h[i].key.len)
               == 0)
        {
            if (ngx_voicegw_proxy_subprotocols(r, ctx, &h[i]) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (h[i].value.len == 0) {
                continue;
            }
        }

        if (extra_name.len && h[i].key.len == extra_name.len
            && ngx_strncasecmp(h[i].key.data, extra_name.data,
                               extra_name.len)
               == 0)
        {
            has_extra = 1;
        }

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *nh = h[i];
    }

    if (type->auth_header && ctx->provider.key.len) {
        name.data = (u_char *) type->auth_header;
        name.len = ngx_strlen(type->auth_header);

        nh = ngx_voicegw_proxy_add_header(r, &headers, &name);
        if (nh == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        len = ngx_strlen(type->auth_prefix) + ctx->provider.key.len;

        nh->value.data = ngx_pnalloc(r->pool, len);
        if (nh->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(nh->value.data, type->auth_prefix,
                       ngx_strlen(type->auth_prefix));
        p = ngx_cpymem(p, ctx->provider.key.data, ctx->provider.key.len);
        nh->value.len = p - nh->value.data;
    }

    if (extra_name.len && !has_extra) {
        nh = ngx_voicegw_proxy_add_header(r, &headers, &extra_name);
        if (nh == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        nh->value = extra_value;
    }

    r->headers_in.headers = headers;
    r->headers_in.authorization = NULL;

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_voicegw_proxy_add_header(ngx_http_request_t *r, ngx_list_t *headers,
    ngx_str_t *name)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NULL;
    }

    ngx_memzero(h, sizeof(ngx_table_elt_t));

    h->lowcase_key = ngx_pnalloc(r->pool, name->len);
    if (h->lowcase_key == NULL) {
        return NULL;
    }

    h->key = *name;
    h->hash = ngx_hash_strlow(h->lowcase_key, name->data, name->len);

    return h;
}
