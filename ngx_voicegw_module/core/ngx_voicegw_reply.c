
/*
 * ngx_voicegw_reply.c
 *
 * Owns the shapes every answer shares: JSON with the right headers, and
 * errors as {"detail":"...","error":"code"} -- the API's, the admission's
 * (a refused task), and nginx's own.
 *
 * nginx answers some requests itself before any handler of ours runs: a
 * bad request line or header (400), a URI too long (414), an unknown
 * Transfer-Encoding (501), TRACE (405), ... with an HTML page.  With
 *
 *     error_page 400 404 405 ... /_voicegw_error;
 *     location = /_voicegw_error { internal; voicegw_error; }
 *
 * those become JSON errors too: "voicegw_error" answers the status the
 * request failed with (r->err_status), in JSON.  (A URI, not a named
 * location: nginx refuses to send a request whose request line it could
 * not read to a named location.)  And whatever status >= 300
 * one of our handlers finalizes a request with, without an answer of its
 * own, goes through ngx_voicegw_reply_status() instead of nginx's page.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_reply.h"


static ngx_int_t ngx_voicegw_error_handler(ngx_http_request_t *r);


/* the error code of a status nobody gave a code of its own */

static struct {
    ngx_uint_t                   status;
    const char                  *code;
    const char                  *detail;
} ngx_voicegw_reply_statuses[] = {
    { NGX_HTTP_BAD_REQUEST, "bad_request", "Bad Request" },
    { NGX_HTTP_UNAUTHORIZED, "unauthorized", "Unauthorized" },
    { NGX_HTTP_FORBIDDEN, "forbidden", "Forbidden" },
    { NGX_HTTP_NOT_FOUND, "not_found", "Not Found" },
    { NGX_HTTP_NOT_ALLOWED, "method_not_allowed", "Method Not Allowed" },
    { NGX_HTTP_REQUEST_TIME_OUT, "request_timeout", "Request Timeout" },
    { NGX_HTTP_CONFLICT, "conflict", "Conflict" },
    { NGX_HTTP_LENGTH_REQUIRED, "length_required", "Length Required" },
    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "body_too_large",
      "Request Entity Too Large" },
    { NGX_HTTP_REQUEST_URI_TOO_LARGE, "uri_too_long", "Request-URI Too Long" },
    { NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
      "Unsupported Media Type" },
    { NGX_HTTP_RANGE_NOT_SATISFIABLE, "range_not_satisfiable",
      "Range Not Satisfiable" },
    { NGX_HTTP_MISDIRECTED_REQUEST, "misdirected_request",
      "Misdirected Request" },
    { NGX_HTTP_TOO_MANY_REQUESTS, "too_many_requests", "Too Many Requests" },
    { NGX_HTTP_REQUEST_HEADER_TOO_LARGE, "header_too_large",
      "Request Header Or Cookie Too Large" },
    { NGX_HTTPS_CERT_ERROR, "bad_certificate", "SSL Certificate Error" },
    { NGX_HTTPS_NO_CERT, "no_certificate", "No Required SSL Certificate" },
    { NGX_HTTP_TO_HTTPS, "https_required",
      "The plain HTTP request was sent to HTTPS port" },
    { NGX_HTTP_INTERNAL_SERVER_ERROR, "internal_error",
      "Internal Server Error" },
    { NGX_HTTP_NOT_IMPLEMENTED, "not_implemented", "Not Implemented" },
    { NGX_HTTP_BAD_GATEWAY, "bad_gateway", "Bad Gateway" },
    { NGX_HTTP_SERVICE_UNAVAILABLE, "service_unavailable",
      "Service Unavailable" },
    { NGX_HTTP_GATEWAY_TIME_OUT, "gateway_timeout", "Gateway Timeout" },
    { NGX_HTTP_VERSION_NOT_SUPPORTED, "version_not_supported",
      "HTTP Version Not Supported" },
    { NGX_HTTP_INSUFFICIENT_STORAGE, "insufficient_storage",
      "Insufficient Storage" },
    { 0, NULL, NULL }
};


ngx_int_t
ngx_voicegw_reply_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_voicegw_json_t *j)
{
    size_t        size;
    ngx_chain_t  *out;

    static ngx_str_t  type = ngx_string("application/json");

    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out = ngx_voicegw_json_finish(j, &size);

    if (out == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "voicegw: cannot build a JSON response");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_voicegw_reply_chain(r, status, out, size, &type);
}


/* a body already built: headers, then the chain */

ngx_int_t
ngx_voicegw_reply_chain(ngx_http_request_t *r, ngx_uint_t status,
    ngx_chain_t *out, size_t size, ngx_str_t *type)
{
    u_char       *semicolon;
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    for (cl = out; cl->next; cl = cl->next) { /* void */ }

    cl->buf->last_buf = (r == r->main) ? 1 : 0;
    cl->buf->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = size;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_lowcase = NULL;

    semicolon = ngx_strlchr(type->data, type->data + type->len, ';');
    r->headers_out.content_type_len = semicolon ? (size_t) (semicolon
                                                            - type->data)
                                                : type->len;

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
ngx_voicegw_reply_error(ngx_http_request_t *r, ngx_uint_t status,
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

    j = ngx_voicegw_json_create(r->pool);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "detail");
    ngx_voicegw_json_str(j, &detail);
    ngx_voicegw_json_key(j, "error");
    ngx_voicegw_json_cstr(j, code);
    ngx_voicegw_json_map_close(j);

    return ngx_voicegw_reply_json(r, status, j);
}


/*
 * The JSON error of a bare status, when no better one was sent: what a
 * handler's NGX_HTTP_INTERNAL_SERVER_ERROR (and the like) becomes.  A
 * request whose answer has started already is left to nginx.
 */

ngx_int_t
ngx_voicegw_reply_status(ngx_http_request_t *r, ngx_int_t status)
{
    ngx_uint_t  i;

    if (status < NGX_HTTP_SPECIAL_RESPONSE || r->header_sent
        || r->connection->error || status == NGX_HTTP_CLOSE
        || status == NGX_HTTP_REQUEST_TIME_OUT
        || status == NGX_HTTP_CLIENT_CLOSED_REQUEST)
    {
        return status;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    for (i = 0; ngx_voicegw_reply_statuses[i].status; i++) {
        if (ngx_voicegw_reply_statuses[i].status == (ngx_uint_t) status) {
            break;
        }
    }

    if (ngx_voicegw_reply_statuses[i].status) {
        return ngx_voicegw_reply_error(r, status,
                                       ngx_voicegw_reply_statuses[i].code,
                                       "%s",
                                       ngx_voicegw_reply_statuses[i].detail);
    }

    return ngx_voicegw_reply_error(r, status, "error", "HTTP error %i",
                                   status);
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


/* voicegw_error; (a location that error_page sends nginx's errors to) */

char *
ngx_voicegw_error_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_voicegw_error_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_voicegw_error_handler;

    return NGX_CONF_OK;
}


/*
 * The error the request failed with, in JSON.  Reached directly (not
 * through error_page) there is no error: 404, as for any other path.
 */

static ngx_int_t
ngx_voicegw_error_handler(ngx_http_request_t *r)
{
    ngx_int_t  status;

    status = r->err_status ? r->err_status : NGX_HTTP_NOT_FOUND;

    if (status < NGX_HTTP_SPECIAL_RESPONSE) {
        status = NGX_HTTP_NOT_FOUND;
    }

    /* nginx has decided already whether the connection stays open */

    return ngx_voicegw_reply_status(r, status);
}
