
/*
 * ngx_voicegw_api_router.c
 *
 * Owns the router of "voicegw_api [service] [voicegateway];": it matches
 * the request's path and method against the route tables of the
 * resource files, checks the bearer token, reads and parses a JSON body
 * where the route takes one, and runs the route's handler.  The router
 * calls handlers; handlers never call the router, only the request layer
 * below it (ngx_voicegw_api_request.c).
 *
 * A location serves the service API (the seed "gateway-service-api":
 * /health, /status, /workers, /api/...), the VoiceGateway API (/health,
 * /v1/...), or both.  A path of the other API is 404 there.
 *
 * Bodies: "voicegw_api_body_limit" is enforced here, as a JSON 413, both
 * for a declared Content-Length (before anything is read) and for chunked
 * bodies (while they arrive).  nginx's own client_max_body_size would
 * answer with an HTML page first, so it is lifted in voicegw_api
 * locations.  Every answer is JSON, errors included: a handler's bare
 * status becomes {"detail","error"} (ngx_voicegw_api_finalize).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_auth.h"
#include "ngx_voicegw_api.h"


#define NGX_VOICEGW_API_LIMIT_SLACK  4096


typedef struct {
    ngx_http_core_loc_conf_t    *clcf;
    ngx_str_t                    file;
    ngx_uint_t                   line;
} ngx_voicegw_api_location_t;


static ngx_int_t ngx_voicegw_api_handler(ngx_http_request_t *r);
static ngx_int_t ngx_voicegw_api_dispatch(ngx_http_request_t *r);
static ngx_voicegw_api_route_t *ngx_voicegw_api_route(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_uint_t *allowed);
static ngx_int_t ngx_voicegw_api_refuse(ngx_http_request_t *r,
    ngx_int_t status);
static ngx_int_t ngx_voicegw_api_not_allowed(ngx_http_request_t *r,
    ngx_uint_t allowed);
static ngx_int_t ngx_voicegw_api_read_body(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx);
static void ngx_voicegw_api_body_complete(ngx_http_request_t *r);
static void ngx_voicegw_api_body_read_handler(ngx_http_request_t *r);
static ngx_int_t ngx_voicegw_api_body_error(ngx_http_request_t *r,
    ngx_int_t rc);
static void ngx_voicegw_api_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_voicegw_api_parse_body(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_int_t *answer);


static struct {
    ngx_voicegw_api_route_t     *routes;
    ngx_uint_t                   api;
} ngx_voicegw_api_tables[] = {
    { ngx_voicegw_api_service_routes, NGX_VOICEGW_API_ALL },
    { ngx_voicegw_api_pool_routes, NGX_VOICEGW_API_SERVICE },
    { ngx_voicegw_api_providers_routes, NGX_VOICEGW_API_VOICEGATEWAY },
    { ngx_voicegw_api_models_routes, NGX_VOICEGW_API_VOICEGATEWAY },
    { ngx_voicegw_api_projects_routes, NGX_VOICEGW_API_VOICEGATEWAY },
    { ngx_voicegw_api_audit_routes, NGX_VOICEGW_API_VOICEGATEWAY },
    { ngx_voicegw_api_reports_routes, NGX_VOICEGW_API_VOICEGATEWAY },
    { ngx_voicegw_api_metrics_routes, NGX_VOICEGW_API_VOICEGATEWAY },
    { ngx_voicegw_api_ref_audio_routes, NGX_VOICEGW_API_SERVICE },
    { ngx_voicegw_api_sessions_routes, NGX_VOICEGW_API_SERVICE },
    { ngx_voicegw_api_session_upload_routes, NGX_VOICEGW_API_SERVICE },
    { ngx_voicegw_api_session_download_routes, NGX_VOICEGW_API_SERVICE },
    { NULL, 0 }
};


static ngx_conf_bitmask_t  ngx_voicegw_api_names[] = {
    { ngx_string("service"), NGX_VOICEGW_API_SERVICE },
    { ngx_string("voicegateway"), NGX_VOICEGW_API_VOICEGATEWAY },
    { ngx_null_string, 0 }
};


static struct {
    ngx_uint_t                   method;
    ngx_str_t                    name;
} ngx_voicegw_api_methods[] = {
    { NGX_HTTP_GET, ngx_string("GET, HEAD") },
    { NGX_HTTP_POST, ngx_string("POST") },
    { NGX_HTTP_PUT, ngx_string("PUT") },
    { NGX_HTTP_PATCH, ngx_string("PATCH") },
    { NGX_HTTP_DELETE, ngx_string("DELETE") },
    { 0, ngx_null_string }
};


/* -- configuration -------------------------------------------------------- */

ngx_voicegw_api_main_t *
ngx_voicegw_api_create_main(ngx_conf_t *cf)
{
    ngx_voicegw_api_main_t  *am;

    am = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_api_main_t));
    if (am == NULL) {
        return NULL;
    }

    if (ngx_array_init(&am->locations, cf->pool, 4,
                       sizeof(ngx_voicegw_api_location_t))
        != NGX_OK)
    {
        return NULL;
    }

    return am;
}


void *
ngx_voicegw_api_create_loc_conf(ngx_conf_t *cf)
{
    ngx_voicegw_api_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_api_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     alcf->api = 0;
     */

    alcf->body_limit = NGX_CONF_UNSET_SIZE;

    return alcf;
}


char *
ngx_voicegw_api_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_voicegw_api_loc_conf_t  *prev = parent;
    ngx_voicegw_api_loc_conf_t  *conf = child;

    /* like a content handler, "voicegw_api" is not inherited */

    ngx_conf_merge_size_value(conf->body_limit, prev->body_limit,
                              1024 * 1024);

    return NGX_CONF_OK;
}


/* voicegw_api [service] [voicegateway];  (none: both) */

char *
ngx_voicegw_api_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_api_loc_conf_t  *alcf = conf;

    ngx_str_t                   *value;
    ngx_uint_t                   i, m;
    ngx_voicegw_main_conf_t     *vmcf;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_voicegw_api_location_t  *loc;

    if (alcf->api) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (m = 0; ngx_voicegw_api_names[m].name.len; m++) {
            if (ngx_voicegw_api_names[m].name.len == value[i].len
                && ngx_strncmp(ngx_voicegw_api_names[m].name.data,
                               value[i].data, value[i].len)
                   == 0)
            {
                break;
            }
        }

        if (ngx_voicegw_api_names[m].name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\": use service "
                               "or voicegateway", &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }

        alcf->api |= ngx_voicegw_api_names[m].mask;
    }

    if (alcf->api == 0) {
        alcf->api = NGX_VOICEGW_API_ALL;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_voicegw_api_handler;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_voicegw_module);

    loc = ngx_array_push(&vmcf->api->locations);
    if (loc == NULL) {
        return NGX_CONF_ERROR;
    }

    loc->clcf = clcf;
    loc->file = cf->conf_file->file.name;
    loc->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_voicegw_api_init_main_conf(ngx_conf_t *cf, ngx_voicegw_api_main_t *am,
    ngx_voicegw_zone_t *zone)
{
    ngx_voicegw_api_location_t  *loc;

    if (am->locations.nelts && zone == NULL) {
        loc = am->locations.elts;

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"voicegw_api\" needs a \"voicegw_zone\" in http{} "
                      "in %V:%ui", &loc->file, loc->line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The API answers an oversized body itself, in JSON, by
 * voicegw_api_body_limit: nginx's own check would come first and answer
 * with an HTML page.
 */

ngx_int_t
ngx_voicegw_api_postconfiguration(ngx_conf_t *cf, ngx_voicegw_api_main_t *am)
{
    ngx_uint_t                   i;
    ngx_voicegw_api_location_t  *loc;

    loc = am->locations.elts;

    for (i = 0; i < am->locations.nelts; i++) {
        loc[i].clcf->client_max_body_size = 0;
    }

    return NGX_OK;
}


/* -- routing -------------------------------------------------------------- */

/* whatever fails, the answer is JSON */

static ngx_int_t
ngx_voicegw_api_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_voicegw_api_dispatch(r);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return ngx_voicegw_reply_status(r, rc);
    }

    return rc;
}


static ngx_int_t
ngx_voicegw_api_dispatch(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_uint_t                allowed;
    ngx_voicegw_api_ctx_t    *ctx;
    ngx_voicegw_api_route_t  *route;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_voicegw_api_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->vmcf = ngx_http_get_module_main_conf(r, ngx_voicegw_module);
    ctx->vlcf = ngx_http_get_module_loc_conf(r, ngx_voicegw_module);

    ngx_http_set_ctx(r, ctx, ngx_voicegw_module);

    route = ngx_voicegw_api_route(r, ctx, &allowed);

    if (route == NULL) {

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        if (allowed == 0) {
            return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                           "Not Found");
        }

        return ngx_voicegw_api_not_allowed(r, allowed);
    }

    ctx->route = route;

    rc = ngx_voicegw_auth_check(r, ctx->vmcf->registry,
                                route->method != NGX_HTTP_GET, &ctx->actor);

    if (rc != NGX_OK) {
        return ngx_voicegw_api_refuse(r, rc);
    }

    if (route->flags & NGX_VOICEGW_API_BODY) {
        return ngx_voicegw_api_read_body(r, ctx);
    }

    if (route->flags & NGX_VOICEGW_API_UPLOAD) {
        return route->handler(r, ctx);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the same count discipline as for a body: finalized exactly once */

    r->main->count++;

    ngx_voicegw_api_finalize(r, route->handler(r, ctx));

    return NGX_DONE;
}


/*
 * The route for the request's path and method among the APIs of the
 * location; when there is none, *allowed tells apart an unknown path (0)
 * from a wrong method.
 */

static ngx_voicegw_api_route_t *
ngx_voicegw_api_route(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_uint_t *allowed)
{
    ngx_str_t                 params[NGX_VOICEGW_API_MAX_PARAMS];
    ngx_uint_t                method, i, n, nparams;
    ngx_voicegw_api_route_t  *route, *found;

    method = (r->method == NGX_HTTP_HEAD) ? NGX_HTTP_GET : r->method;
    *allowed = 0;
    found = NULL;

    for (i = 0; ngx_voicegw_api_tables[i].routes; i++) {

        if (!(ngx_voicegw_api_tables[i].api & ctx->vlcf->api)) {
            continue;
        }

        for (route = ngx_voicegw_api_tables[i].routes; route->handler;
             route++)
        {
            nparams = 0;

            if (!ngx_voicegw_api_match(&route->pattern, &r->uri, params,
                                       &nparams))
            {
                continue;
            }

            *allowed |= route->method;

            if (found == NULL && route->method == method) {
                found = route;

                for (n = 0; n < nparams; n++) {
                    ctx->params[n] = params[n];
                }

                ctx->nparams = nparams;
            }
        }
    }

    return found;
}


/* 401 or 403 from the auth check */

static ngx_int_t
ngx_voicegw_api_refuse(ngx_http_request_t *r, ngx_int_t status)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (status == NGX_HTTP_FORBIDDEN) {
        return ngx_voicegw_reply_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                       "this token does not have the scope "
                                       "this endpoint needs");
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    ngx_str_set(&h->value, "Bearer");

    return ngx_voicegw_reply_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                   "a valid \"Authorization: Bearer\" token "
                                   "is required");
}


static ngx_int_t
ngx_voicegw_api_not_allowed(ngx_http_request_t *r, ngx_uint_t allowed)
{
    u_char           *p;
    size_t            len;
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    len = 0;

    for (i = 0; ngx_voicegw_api_methods[i].method; i++) {
        if (allowed & ngx_voicegw_api_methods[i].method) {
            len += ngx_voicegw_api_methods[i].name.len + 2;
        }
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = p;

    for (i = 0; ngx_voicegw_api_methods[i].method; i++) {
        if (allowed & ngx_voicegw_api_methods[i].method) {
            if (p != h->value.data) {
                *p++ = ',';
                *p++ = ' ';
            }

            p = ngx_cpymem(p, ngx_voicegw_api_methods[i].name.data,
                           ngx_voicegw_api_methods[i].name.len);
        }
    }

    h->value.len = p - h->value.data;

    return ngx_voicegw_reply_error(r, NGX_HTTP_NOT_ALLOWED,
                                   "method_not_allowed",
                                   "Method Not Allowed");
}


/* -- the body ------------------------------------------------------------- */

static ngx_int_t
ngx_voicegw_api_read_body(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (r->headers_in.content_length_n > (off_t) ctx->vlcf->body_limit) {

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_voicegw_api_body_error(r,
                                          NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
    }

    ctx->header_length = r->request_length;

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_voicegw_api_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return ngx_voicegw_api_body_error(r, rc);
    }

    /*
     * When the body is still arriving, nginx would answer a bad chunk or a
     * timeout with an HTML page; read it through our own handler instead,
     * which answers in JSON and stops an oversized chunked body early.
     */

    if (!ctx->body_read
#if (NGX_HTTP_V2)
        && r->stream == NULL
#endif
       )
    {
        /*
         * nginx calls the post handler from inside the read, and still
         * touches the request after it: the post handler here only marks
         * the body complete, and the read handler goes on from there.
         */

        r->request_body->post_handler = ngx_voicegw_api_body_complete;
        r->read_event_handler = ngx_voicegw_api_body_read_handler;
    }

    return NGX_DONE;
}


static void
ngx_voicegw_api_body_complete(ngx_http_request_t *r)
{
    ngx_voicegw_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);

    ctx->body_complete = 1;
}


static void
ngx_voicegw_api_body_read_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_voicegw_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);

    rc = ngx_http_read_unbuffered_request_body(r);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ngx_http_finalize_request(r, ngx_voicegw_api_body_error(r, rc));
        return;
    }

    if (ctx->body_complete) {
        ngx_voicegw_api_body_handler(r);
        return;
    }

    if (r->request_length - ctx->header_length
        > (off_t) (2 * ctx->vlcf->body_limit + NGX_VOICEGW_API_LIMIT_SLACK))
    {
        /* the rest of the body is read and dropped after the answer */

        r->lingering_close = 1;

        ngx_http_finalize_request(r,
            ngx_voicegw_api_body_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE));
    }
}


static ngx_int_t
ngx_voicegw_api_body_error(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_voicegw_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);

    /*
     * the body was not read to its end (timed out, cut, too large): what
     * follows on the connection is no request, and a client that stalled
     * is not kept for keepalive_timeout
     */

    r->keepalive = 0;

    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        return ngx_voicegw_reply_error(r, rc, "body_too_large",
                                       "request body is larger than %uz "
                                       "bytes", ctx->vlcf->body_limit);
    }

    if (r->connection->error) {
        return rc;
    }

    if (rc == NGX_HTTP_REQUEST_TIME_OUT) {
        return ngx_voicegw_reply_error(r, rc, "body_timeout",
                                       "timed out reading the request "
                                       "body");
    }

    if (rc == NGX_HTTP_BAD_REQUEST) {
        return ngx_voicegw_reply_error(r, rc, "invalid_body",
                                       "invalid request body encoding");
    }

    return rc;
}


static void
ngx_voicegw_api_body_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_voicegw_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);

    ctx->body_read = 1;

    if (ngx_voicegw_api_parse_body(r, ctx, &rc) == NGX_OK) {
        rc = ctx->route->handler(r, ctx);
    }

    ngx_voicegw_api_finalize(r, rc);
}


/*
 * NGX_OK with ctx->body set; otherwise NGX_DECLINED, and *answer is the
 * status of the error response that has been sent.
 */

static ngx_int_t
ngx_voicegw_api_parse_body(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_int_t *answer)
{
    u_char     err[256];
    ngx_int_t  rc;
    ngx_str_t  body;

    rc = ngx_voicegw_body_collect(r, ctx->vlcf->body_limit, &body);

    if (rc == NGX_DECLINED) {
        *answer = ngx_voicegw_api_body_error(r,
                                        NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (body.len == 0) {
        *answer = ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_body",
                                          "a JSON object body is required");
        return NGX_DECLINED;
    }

    rc = ngx_voicegw_json_parse(r->pool, body.data, body.len, &ctx->body,
                                err, sizeof(err));

    if (rc == NGX_ERROR) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        *answer = ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_json",
                                          "malformed JSON: %s", err);
        return NGX_DECLINED;
    }

    if (ctx->body->type != NGX_VOICEGW_JSON_OBJECT) {
        *answer = ngx_voicegw_reply_error(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_body",
                                          "the request body must be a JSON "
                                          "object, not %s",
                                    ngx_voicegw_json_type_name(ctx->body));
        return NGX_DECLINED;
    }

    return NGX_OK;
}
