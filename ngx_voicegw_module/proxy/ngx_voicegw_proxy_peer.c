
/*
 * ngx_voicegw_proxy_peer.c
 *
 * Owns the "voicegw_providers" upstream that every voicegw_proxy
 * location sends its calls to: created by the first voicegw_proxy
 * directive, with nginx's keepalive module on it, so that calls to a
 * provider reuse its connections.  Its balancer has no servers of its
 * own: each call carries the address of its provider (the content
 * handler resolved it), and the keepalive module finds an idle
 * connection to that address.
 *
 * The keepalive module tells connections apart by address only.  Two
 * providers on one address (a CDN in front of both) must not share a TLS
 * connection: the one made for api.a.com was verified for that name, not
 * for api.b.com.  The guard below wraps the keepalive module and closes a
 * cached TLS connection whose server name is not the call's.
 *
 * A call's request goes out with TCP_NODELAY (core/ngx_voicegw_http.c):
 * voicegw_proxy reads the body first, and nginx would otherwise send it
 * with Nagle's algorithm on (docs/providers.md).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_http.h"
#include "ngx_voicegw_proxy.h"


/* nginx's keepalive module declares itself in no header */
extern ngx_module_t  ngx_http_upstream_keepalive_module;


typedef struct {
    ngx_http_upstream_init_peer_pt   keepalive_init;  /* the wrapped init */

    ngx_event_get_peer_pt            get;
    ngx_event_free_peer_pt           free;
    void                            *data;
#if (NGX_HTTP_SSL)
    ngx_event_set_peer_session_pt    set_session;
    ngx_event_save_peer_session_pt   save_session;
#endif
    ngx_voicegw_proxy_ctx_t         *ctx;
} ngx_voicegw_proxy_guard_t;


static ngx_int_t ngx_voicegw_proxy_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_voicegw_proxy_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_voicegw_proxy_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_voicegw_proxy_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_voicegw_proxy_set_session(ngx_peer_connection_t *pc,
    void *data);
static void ngx_voicegw_proxy_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif

static ngx_http_upstream_srv_conf_t *ngx_voicegw_proxy_find_upstream(
    ngx_conf_t *cf);
static ngx_int_t ngx_voicegw_proxy_init_guard(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_voicegw_proxy_guard_get(ngx_peer_connection_t *pc,
    void *data);
static void ngx_voicegw_proxy_guard_free(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_voicegw_proxy_guard_set_session(
    ngx_peer_connection_t *pc, void *data);
static void ngx_voicegw_proxy_guard_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif


/* the wrapped init of the upstream (per configuration, in its pool) */

typedef struct {
    ngx_http_upstream_init_peer_pt   init;
} ngx_voicegw_proxy_guard_conf_t;


static ngx_str_t  ngx_voicegw_proxy_upstream_name =
    ngx_string(NGX_VOICEGW_PROXY_UPSTREAM);


/*
 * The upstream, once per configuration: what "upstream voicegw_providers
 * { keepalive 32; }" with our balancer would make, built as nginx's
 * upstream{} block builds it.
 */

ngx_int_t
ngx_voicegw_proxy_upstream(ngx_conf_t *cf)
{
    char                          *rv;
    ngx_str_t                     *value;
    ngx_uint_t                     m;
    ngx_url_t                      u;
    ngx_conf_t                     pcf;
    ngx_array_t                    args;
    ngx_command_t                 *cmd;
    ngx_http_module_t             *module;
    ngx_http_conf_ctx_t           *ctx, *http_ctx;
    ngx_http_upstream_srv_conf_t  *uscf;

    uscf = ngx_voicegw_proxy_find_upstream(cf);

    if (uscf) {
        if (uscf->peer.init_upstream == NULL
            || uscf->srv_conf == NULL)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the upstream name \"%V\" is voicegw_proxy's",
                               &ngx_voicegw_proxy_upstream_name);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.host = ngx_voicegw_proxy_upstream_name;
    u.no_resolve = 1;
    u.no_port = 1;

    uscf = ngx_http_upstream_add(cf, &u, NGX_HTTP_UPSTREAM_CREATE);
    if (uscf == NULL) {
        return NGX_ERROR;
    }

    uscf->servers = ngx_array_create(cf->pool, 1,
                                     sizeof(ngx_http_upstream_server_t));
    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_conf_ctx_t));
    if (uscf->servers == NULL || ctx == NULL) {
        return NGX_ERROR;
    }

    http_ctx = cf->ctx;
    ctx->main_conf = http_ctx->main_conf;

    ctx->srv_conf = ngx_pcalloc(cf->pool,
                                sizeof(void *) * ngx_http_max_module);
    ctx->loc_conf = ngx_pcalloc(cf->pool,
                                sizeof(void *) * ngx_http_max_module);
    if (ctx->srv_conf == NULL || ctx->loc_conf == NULL) {
        return NGX_ERROR;
    }

    ctx->srv_conf[ngx_http_upstream_module.ctx_index] = uscf;
    uscf->srv_conf = ctx->srv_conf;

    for (m = 0; cf->cycle->modules[m]; m++) {
        if (cf->cycle->modules[m]->type != NGX_HTTP_MODULE
            || cf->cycle->modules[m] == &ngx_http_upstream_module)
        {
            continue;
        }

        module = cf->cycle->modules[m]->ctx;

        if (module->create_srv_conf) {
            ctx->srv_conf[cf->cycle->modules[m]->ctx_index] =
                                                  module->create_srv_conf(cf);
            if (ctx->srv_conf[cf->cycle->modules[m]->ctx_index] == NULL) {
                return NGX_ERROR;
            }
        }

        if (module->create_loc_conf) {
            ctx->loc_conf[cf->cycle->modules[m]->ctx_index] =
                                                  module->create_loc_conf(cf);
            if (ctx->loc_conf[cf->cycle->modules[m]->ctx_index] == NULL) {
                return NGX_ERROR;
            }
        }
    }

    /* our balancer first, then "keepalive 32" wraps it */

    uscf->peer.init_upstream = ngx_voicegw_proxy_init_upstream;

    for (cmd = ngx_http_upstream_keepalive_module.commands;
         cmd->name.len;
         cmd++)
    {
        if (cmd->name.len == sizeof("keepalive") - 1
            && ngx_strncmp(cmd->name.data, "keepalive", cmd->name.len) == 0)
        {
            break;
        }
    }

    if (cmd->name.len == 0
        || ngx_array_init(&args, cf->temp_pool, 2, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    value = ngx_array_push_n(&args, 2);
    if (value == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&value[0], "keepalive");
    ngx_str_set(&value[1], "32");

    pcf = *cf;
    pcf.ctx = ctx;
    pcf.args = &args;
    pcf.cmd_type = NGX_HTTP_UPS_CONF;

    rv = cmd->set(&pcf, cmd,
                  ctx->srv_conf[ngx_http_upstream_keepalive_module.ctx_index]);

    if (rv != NGX_CONF_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_proxy: keepalive: %s", rv);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_http_upstream_srv_conf_t *
ngx_voicegw_proxy_find_upstream(ngx_conf_t *cf)
{
    ngx_uint_t                      i;
    ngx_http_upstream_srv_conf_t  **uscfp;
    ngx_http_upstream_main_conf_t  *umcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (uscfp[i]->host.len == ngx_voicegw_proxy_upstream_name.len
            && ngx_strncasecmp(uscfp[i]->host.data,
                               ngx_voicegw_proxy_upstream_name.data,
                               uscfp[i]->host.len)
               == 0)
        {
            return uscfp[i];
        }
    }

    return NULL;
}


/*
 * After the upstreams are set up (postconfiguration): the guard goes
 * around the keepalive module's init.
 */

ngx_int_t
ngx_voicegw_proxy_peer_guard(ngx_conf_t *cf)
{
    ngx_voicegw_proxy_guard_conf_t  *gcf;
    ngx_http_upstream_srv_conf_t    *uscf;

    uscf = ngx_voicegw_proxy_find_upstream(cf);

    if (uscf == NULL || uscf->peer.init_upstream == NULL
        || uscf->peer.init == ngx_voicegw_proxy_init_guard)
    {
        return NGX_OK;
    }

    gcf = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_proxy_guard_conf_t));
    if (gcf == NULL) {
        return NGX_ERROR;
    }

    gcf->init = uscf->peer.init;
    uscf->peer.init = ngx_voicegw_proxy_init_guard;

    /* the balancer keeps no data in the upstream: the wrapped init goes
       there */
    uscf->peer.data = gcf;

    return NGX_OK;
}


/* -- the balancer: the call's own address -------------------------------- */

static ngx_int_t
ngx_voicegw_proxy_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    us->peer.init = ngx_voicegw_proxy_init_peer;

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_proxy_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_upstream_t      *u;
    ngx_voicegw_proxy_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_proxy_module);

    if (ctx == NULL || ctx->naddrs == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "voicegw: \"%V\" is only for voicegw_proxy",
                      &ngx_voicegw_proxy_upstream_name);
        return NGX_ERROR;
    }

    u = r->upstream;

    u->peer.data = ctx;
    u->peer.get = ngx_voicegw_proxy_get_peer;
    u->peer.free = ngx_voicegw_proxy_free_peer;
    u->peer.tries = 1;
#if (NGX_HTTP_SSL)
    u->peer.set_session = ngx_voicegw_proxy_set_session;
    u->peer.save_session = ngx_voicegw_proxy_save_session;
#endif

    ngx_voicegw_http_upstream_nodelay(u);

    return NGX_OK;
}



static ngx_int_t
ngx_voicegw_proxy_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_voicegw_proxy_ctx_t  *ctx = data;

    pc->sockaddr = ctx->addrs[0].sockaddr;
    pc->socklen = ctx->addrs[0].socklen;
    pc->name = &ctx->addrs[0].name;
    pc->cached = 0;
    pc->connection = NULL;

    return NGX_OK;
}


static void
ngx_voicegw_proxy_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    pc->tries = 0;
}


#if (NGX_HTTP_SSL)

/* no session cache of our own: a kept connection is the reuse that counts */

static ngx_int_t
ngx_voicegw_proxy_set_session(ngx_peer_connection_t *pc, void *data)
{
    return NGX_OK;
}


static void
ngx_voicegw_proxy_save_session(ngx_peer_connection_t *pc, void *data)
{
}

#endif


/* -- the guard around the keepalive module ------------------------------ */

static ngx_int_t
ngx_voicegw_proxy_init_guard(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_upstream_t             *u;
    ngx_voicegw_proxy_guard_t       *g;
    ngx_voicegw_proxy_guard_conf_t  *gcf;

    gcf = us->peer.data;

    if (gcf->init(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    g = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_proxy_guard_t));
    if (g == NULL) {
        return NGX_ERROR;
    }

    u = r->upstream;

    g->ctx = ngx_http_get_module_ctx(r, ngx_voicegw_proxy_module);
    g->get = u->peer.get;
    g->free = u->peer.free;
    g->data = u->peer.data;

    u->peer.get = ngx_voicegw_proxy_guard_get;
    u->peer.free = ngx_voicegw_proxy_guard_free;
    u->peer.data = g;

#if (NGX_HTTP_SSL)
    g->set_session = u->peer.set_session;
    g->save_session = u->peer.save_session;
    u->peer.set_session = ngx_voicegw_proxy_guard_set_session;
    u->peer.save_session = ngx_voicegw_proxy_guard_save_session;
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_proxy_guard_get(ngx_peer_connection_t *pc, void *data)
{
    ngx_voicegw_proxy_guard_t  *g = data;

    ngx_int_t          rc;
#if (NGX_HTTP_SSL)
    size_t             len;
    const char        *name;
    ngx_connection_t  *c;
#endif

    rc = g->get(pc, g->data);

#if (NGX_HTTP_SSL)

    if (rc != NGX_DONE || pc->connection == NULL
        || pc->connection->ssl == NULL || g->ctx == NULL)
    {
        return rc;
    }

    c = pc->connection;

    name = SSL_get_servername(c->ssl->connection, TLSEXT_NAMETYPE_host_name);
    len = name ? ngx_strlen(name) : 0;

    if (g->ctx->sni.len == len
        && ngx_strncasecmp((u_char *) name, g->ctx->sni.data, len) == 0)
    {
        return rc;
    }

    /* made for another name: closed, and a new one is made */

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "voicegw proxy: kept connection for another name");

    c->ssl->no_wait_shutdown = 1;
    c->ssl->no_send_shutdown = 1;
    (void) ngx_ssl_shutdown(c);

    ngx_destroy_pool(c->pool);
    ngx_close_connection(c);

    pc->connection = NULL;
    pc->cached = 0;

    return NGX_OK;

#else

    return rc;

#endif
}


static void
ngx_voicegw_proxy_guard_free(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_voicegw_proxy_guard_t  *g = data;

    g->free(pc, g->data, state);
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_voicegw_proxy_guard_set_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_voicegw_proxy_guard_t  *g = data;

    return g->set_session(pc, g->data);
}


static void
ngx_voicegw_proxy_guard_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_voicegw_proxy_guard_t  *g = data;

    g->save_session(pc, g->data);
}

#endif
