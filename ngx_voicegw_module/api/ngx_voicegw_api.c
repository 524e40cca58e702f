
/*
 * ngx_voicegw_api.c
 *
 * Owns the API router of "voicegw_api;": it matches the request's path and
 * method against the route tables of the resource files, reads and parses
 * a JSON body where the route takes one, and runs the route's handler.
 * It also owns the shapes every answer shares: JSON with the right
 * headers, and errors as {"detail":"...","error":"code"}.
 *
 * Bodies: "voicegw_api_body_limit" is enforced here, as a JSON 413, both
 * for a declared Content-Length (before anything is read) and for chunked
 * bodies (while they arrive).  nginx's own client_max_body_size would
 * answer with an HTML page first, so it is lifted in voicegw_api
 * locations (see ngx_voicegw_module.c).
 *
 * A handler that needs the store posts an op and returns NGX_DONE; the
 * request stays "blocked" until the op's thread is done, and the handler's
 * resume function answers on the event loop.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_api.h"
#include "ngx_voicegw_auth.h"


#define NGX_VOICEGW_API_LIMIT_SLACK  4096


static ngx_voicegw_api_route_t *ngx_voicegw_api_route(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_uint_t *allowed);
static ngx_uint_t ngx_voicegw_api_match(ngx_str_t *pattern, ngx_str_t *uri,
    ngx_str_t *params, ngx_uint_t *nparams);
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
static void ngx_voicegw_api_store_done(ngx_voicegw_store_op_t *op);
static void ngx_voicegw_api_resume_handler(ngx_http_request_t *r);


static ngx_voicegw_api_route_t  *ngx_voicegw_api_tables[] = {
    ngx_voicegw_api_service_routes,
    ngx_voicegw_api_pool_routes,
    ngx_voicegw_api_v1_routes,
    ngx_voicegw_api_report_routes,
    NULL
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


ngx_int_t
ngx_voicegw_api_handler(ngx_http_request_t *r)
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
    ctx->shm = ngx_voicegw_shm_get(ctx->vmcf);

    ngx_http_set_ctx(r, ctx, ngx_voicegw_module);

    route = ngx_voicegw_api_route(r, ctx, &allowed);

    if (route == NULL) {

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        if (allowed == 0) {
            return ngx_voicegw_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                         "Not Found");
        }

        return ngx_voicegw_api_not_allowed(r, allowed);
    }

    ctx->route = route;

    rc = ngx_voicegw_auth_check(r, ctx->vmcf, route->method != NGX_HTTP_GET,
                                &ctx->actor);

    if (rc != NGX_OK) {
        return ngx_voicegw_api_refuse(r, rc);
    }

    if (route->flags & NGX_VOICEGW_API_BODY) {
        return ngx_voicegw_api_read_body(r, ctx);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the same count discipline as for a body: finalized exactly once */

    r->main->count++;

    rc = route->handler(r, ctx);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * The route for the request's path and method; when there is none,
 * *allowed tells apart an unknown path (0) from a wrong method.
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

    for (i = 0; ngx_voicegw_api_tables[i]; i++) {

        for (route = ngx_voicegw_api_tables[i]; route->handler; route++) {

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


/* "{}" matches one path segment, "{*}" the rest of the path */

static ngx_uint_t
ngx_voicegw_api_match(ngx_str_t *pattern, ngx_str_t *uri, ngx_str_t *params,
    ngx_uint_t *nparams)
{
    u_char  *p, *pe, *u, *ue, *start;

    p = pattern->data;
    pe = p + pattern->len;
    u = uri->data;
    ue = u + uri->len;

    while (p < pe) {

        if (*p == '{') {

            if (*nparams == NGX_VOICEGW_API_MAX_PARAMS) {
                return 0;
            }

            if (pe - p >= 3 && p[1] == '*' && p[2] == '}') {
                if (u == ue) {
                    return 0;
                }

                params[*nparams].data = u;
                params[*nparams].len = ue - u;
                (*nparams)++;

                return (p + 3 == pe);
            }

            start = u;

            while (u < ue && *u != '/') {
                u++;
            }

            if (u == start) {
                return 0;
            }

            params[*nparams].data = start;
            params[*nparams].len = u - start;
            (*nparams)++;

            p += 2;
            continue;
        }

        if (u == ue || *p != *u) {
            return 0;
        }

        p++;
        u++;
    }

    return (u == ue);
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
        return ngx_voicegw_api_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
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

    return ngx_voicegw_api_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                 "a valid \"Authorization: Bearer\" token is "
                                 "required");
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

    return ngx_voicegw_api_error(r, NGX_HTTP_NOT_ALLOWED,
                                 "method_not_allowed", "Method Not Allowed");
}


static ngx_int_t
ngx_voicegw_api_read_body(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (r->headers_in.content_length_n > (off_t) ctx->vlcf->api_body_limit) {

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
        > (off_t) (2 * ctx->vlcf->api_body_limit
                   + NGX_VOICEGW_API_LIMIT_SLACK))
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

    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        r->keepalive = 0;
        return ngx_voicegw_api_error(r, rc, "body_too_large",
                                     "request body is larger than %uz bytes",
                                     ctx->vlcf->api_body_limit);
    }

    if (r->connection->error) {
        return rc;
    }

    if (rc == NGX_HTTP_REQUEST_TIME_OUT) {
        return ngx_voicegw_api_error(r, rc, "body_timeout",
                                     "timed out reading the request body");
    }

    if (rc == NGX_HTTP_BAD_REQUEST) {
        return ngx_voicegw_api_error(r, rc, "invalid_body",
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

    ngx_http_finalize_request(r, rc);
}


/*
 * The request body in one piece of pool memory, NUL-terminated.  NGX_OK,
 * NGX_DECLINED when it is larger than limit, NGX_ERROR.
 */

ngx_int_t
ngx_voicegw_body_collect(ngx_http_request_t *r, size_t limit, ngx_str_t *body)
{
    u_char       *p;
    off_t         len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    len = 0;

    if (r->request_body != NULL) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }
    }

    if (len > (off_t) limit) {
        return NGX_DECLINED;
    }

    body->data = ngx_pnalloc(r->pool, (size_t) len + 1);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = len ? r->request_body->bufs : NULL; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            /* a body past client_body_buffer_size: small, and cached */

            n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                              b->file_pos);

            if (n != b->file_last - b->file_pos) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "voicegw: cannot read the request body file");
                return NGX_ERROR;
            }

            p += n;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    *p = '\0';
    body->len = p - body->data;

    return NGX_OK;
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

    rc = ngx_voicegw_body_collect(r, ctx->vlcf->api_body_limit, &body);

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
        *answer = ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
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
        *answer = ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_json",
                                        "malformed JSON: %s", err);
        return NGX_DECLINED;
    }

    if (ctx->body->type != NGX_VOICEGW_JSON_OBJECT) {
        *answer = ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_body",
                                        "the request body must be a JSON "
                                        "object, not %s",
                                        ngx_voicegw_json_type_name(ctx->body));
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Checks the body against the fields an endpoint knows: an unknown field,
 * a value of the wrong type, a missing required field or a string with a
 * NUL byte or over 4096 bytes are answered 400 here (NGX_DECLINED, with
 * *answer the status of that answer).  found[i] is field i's value, or
 * NULL when absent.
 */

ngx_int_t
ngx_voicegw_api_fields(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    const ngx_voicegw_field_t *fields, ngx_voicegw_json_value_t **found,
    ngx_int_t *answer)
{
    ngx_str_t                 *key;
    ngx_uint_t                 i, k, f, ok;
    ngx_voicegw_json_value_t  *v, *body;

    body = ctx->body;

    for (f = 0; fields[f].name; f++) {
        found[f] = NULL;
    }

    for (i = 0; i < body->n; i++) {
        key = &body->keys[i];
        v = body->items[i];

        for (f = 0; fields[f].name; f++) {
            if (key->len == ngx_strlen(fields[f].name)
                && ngx_strncmp(key->data, fields[f].name, key->len) == 0)
            {
                break;
            }
        }

        if (fields[f].name == NULL) {
            *answer = ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                            "unknown_field",
                                            "unknown field \"%V\"", key);
            return NGX_DECLINED;
        }

        switch (v->type) {

        case NGX_VOICEGW_JSON_STRING:
            ok = (fields[f].flags & NGX_VOICEGW_F_STRING)
                 && v->str.len <= NGX_VOICEGW_FIELD_MAX_LEN
                 && ngx_strlchr(v->str.data, v->str.data + v->str.len, '\0')
                    == NULL;
            break;

        case NGX_VOICEGW_JSON_NUMBER:
            ok = fields[f].flags & NGX_VOICEGW_F_NUMBER;
            break;

        case NGX_VOICEGW_JSON_BOOL:
            ok = fields[f].flags & NGX_VOICEGW_F_BOOL;
            break;

        case NGX_VOICEGW_JSON_NULL:
            ok = fields[f].flags & NGX_VOICEGW_F_NULL;
            break;

        case NGX_VOICEGW_JSON_ARRAY:
            ok = (fields[f].flags & NGX_VOICEGW_F_STRINGS) && v->n <= 64;

            for (k = 0; ok && k < v->n; k++) {
                ok = v->items[k]->type == NGX_VOICEGW_JSON_STRING
                     && v->items[k]->str.len > 0
                     && v->items[k]->str.len <= 64
                     && ngx_strlchr(v->items[k]->str.data,
                                    v->items[k]->str.data
                                    + v->items[k]->str.len, '\0')
                        == NULL;
            }

            break;

        default:
            ok = 0;
        }

        if (!ok) {
            *answer = ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                 "invalid_field",
                                 "%V must be %s%s%s%s%s",
                                 key,
                                 (fields[f].flags & NGX_VOICEGW_F_STRING)
                                 ? "a string (at most 4096 bytes, no NUL) "
                                 : "",
                                 (fields[f].flags & NGX_VOICEGW_F_NUMBER)
                                 ? "a number " : "",
                                 (fields[f].flags & NGX_VOICEGW_F_BOOL)
                                 ? "true or false " : "",
                                 (fields[f].flags & NGX_VOICEGW_F_STRINGS)
                                 ? "a list of at most 64 strings of 1 to 64 "
                                   "bytes " : "",
                                 (fields[f].flags & NGX_VOICEGW_F_NULL)
                                 ? "or null" : "");
            return NGX_DECLINED;
        }

        found[f] = v;
    }

    for (f = 0; fields[f].name; f++) {
        if ((fields[f].flags & NGX_VOICEGW_F_REQUIRED) && found[f] == NULL) {
            *answer = ngx_voicegw_api_error(r, NGX_HTTP_BAD_REQUEST,
                                            "missing_field",
                                            "%s is required", fields[f].name);
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * A query argument, unescaped, in pool memory and NUL-terminated: NGX_OK;
 * NGX_DECLINED when there is none; NGX_ERROR.  The first one wins.
 */

ngx_int_t
ngx_voicegw_api_arg(ngx_http_request_t *r, const char *name, ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        return NGX_DECLINED;
    }

    value->data = ngx_pnalloc(r->pool, raw.len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    dst = value->data;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, 0);

    *dst = '\0';
    value->len = dst - value->data;

    return NGX_OK;
}


ngx_voicegw_json_t *
ngx_voicegw_api_json(ngx_http_request_t *r)
{
    return ngx_voicegw_json_create(r->pool);
}


ngx_int_t
ngx_voicegw_api_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_voicegw_json_t *j)
{
    size_t        size;
    ngx_chain_t  *out;

    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out = ngx_voicegw_json_finish(j, &size);

    if (out == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "voicegw: cannot build a JSON response");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_api_send_chain(r, status, out, size);
}


/* a JSON body already built: headers, then the chain */

ngx_int_t
ngx_voicegw_api_send_chain(ngx_http_request_t *r, ngx_uint_t status,
    ngx_chain_t *out, size_t size)
{
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    for (cl = out; cl->next; cl = cl->next) { /* void */ }

    cl->buf->last_buf = (r == r->main) ? 1 : 0;
    cl->buf->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = size;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


/*
 * {"detail":"...","error":"code"}.  The detail never carries a secret;
 * client-supplied text in it is limited to printable ASCII.
 */

ngx_int_t
ngx_voicegw_api_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, ...)
{
    u_char              *p, *q, buf[512];
    va_list              args;
    ngx_str_t            detail;
    ngx_voicegw_json_t  *j;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    for (q = buf; q < p; q++) {
        if (*q < 0x20 || *q >= 0x7f) {
            *q = '?';
        }
    }

    detail.data = buf;
    detail.len = p - buf;

    j = ngx_voicegw_api_json(r);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "detail");
    ngx_voicegw_json_str(j, &detail);
    ngx_voicegw_json_key(j, "error");
    ngx_voicegw_json_cstr(j, code);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_api_send(r, status, j);
}


ngx_voicegw_store_op_t *
ngx_voicegw_api_store_op(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    size_t size)
{
    ngx_voicegw_store_op_t  *op;

    if (ctx->vmcf->store == NULL) {
        return NULL;
    }

    op = ngx_voicegw_store_op_alloc(r->pool, ctx->vmcf->store, size);
    if (op == NULL) {
        return NULL;
    }

    op->request = r;
    op->done = ngx_voicegw_api_store_done;

    ctx->op = op;

    return op;
}


/*
 * A batch of SQL statements for the request.  The result buffers the
 * thread malloc()s are freed when the rows are collected, or by the pool
 * cleanup when the request went away first (nginx finalized it while the
 * batch ran, and the resume handler never runs).
 */

ngx_voicegw_sql_batch_t *
ngx_voicegw_api_batch(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_uint_t write)
{
    ngx_pool_cleanup_t       *cln;
    ngx_voicegw_store_op_t   *op;
    ngx_voicegw_sql_batch_t  *b;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    op = ngx_voicegw_api_store_op(r, ctx, sizeof(ngx_voicegw_sql_batch_t));
    if (op == NULL) {
        return NULL;
    }

    op->run = ngx_voicegw_sql_run;

    b = op->data;
    b->write = write;

    cln->handler = ngx_voicegw_sql_cleanup;
    cln->data = b;

    return b;
}


/*
 * The batch that has just run, with its rows collected; NULL when it
 * failed, the failure answered in *answer.
 */

ngx_voicegw_sql_batch_t *
ngx_voicegw_api_batch_rows(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_int_t *answer)
{
    if (ctx->op->rc != NGX_OK
        || ngx_voicegw_sql_collect(r->pool, ctx->op->data) != NGX_OK)
    {
        *answer = ngx_voicegw_api_batch_failed(r, ctx);
        return NULL;
    }

    return ctx->op->data;
}


/* a batch that failed: SQLite's message to the log, 500 to the client */

ngx_int_t
ngx_voicegw_api_batch_failed(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "voicegw: store: %s", ctx->op->err);

    ngx_voicegw_sql_free(ctx->op->data);

    return ngx_voicegw_api_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "store_error",
                                 "the store failed; nothing was changed");
}


ngx_int_t
ngx_voicegw_api_store_post(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_api_handler_pt resume)
{
    ctx->resume = resume;
    ctx->waiting = 1;

    r->write_event_handler = ngx_voicegw_api_resume_handler;

    if (ngx_voicegw_store_post(ctx->op) != NGX_OK) {
        ctx->waiting = 0;
        r->write_event_handler = ngx_http_request_empty_handler;

        return ngx_voicegw_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "store_busy",
                                     "the store cannot take more work now");
    }

    /* released by the finalization in ngx_voicegw_api_resume_handler() */

    r->main->count++;

    return NGX_DONE;
}


/*
 * For work that is not a store op (a thread task, an outgoing request):
 * the request waits, "blocked" like for a store op, until
 * ngx_voicegw_api_wake() runs resume().
 */

ngx_int_t
ngx_voicegw_api_suspend(ngx_http_request_t *r, ngx_voicegw_api_ctx_t *ctx,
    ngx_voicegw_api_handler_pt resume)
{
    ctx->resume = resume;
    ctx->waiting = 1;

    r->write_event_handler = ngx_voicegw_api_resume_handler;

    r->main->count++;
    r->main->blocked++;

    return NGX_DONE;
}


void
ngx_voicegw_api_wake(ngx_http_request_t *r)
{
    ngx_connection_t       *c;
    ngx_voicegw_api_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    ctx->waiting = 0;

    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_voicegw_api_store_done(ngx_voicegw_store_op_t *op)
{
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_voicegw_api_ctx_t  *ctx;

    r = op->request;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);

    ngx_http_set_log_request(c->log, r);

    ctx->waiting = 0;

    /* our resume handler, or nginx's finalizer if the request went away */

    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_voicegw_api_resume_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_voicegw_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_voicegw_module);

    if (ctx->waiting) {
        /* a write event while the op still runs */
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    rc = ctx->resume(r, ctx);

    ngx_http_finalize_request(r, rc);
}
