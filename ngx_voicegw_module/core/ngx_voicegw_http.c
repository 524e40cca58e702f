
/*
 * ngx_voicegw_http.c
 *
 * Owns the small helpers over nginx's HTTP structures
 * (ngx_voicegw_http.h): finding a header by its name, adding a phase
 * handler, adding a table of variables, writing an upstream request with
 * TCP_NODELAY.
 */


#include "ngx_voicegw_http.h"


static ngx_int_t ngx_voicegw_http_nodelay_writer(void *data, ngx_chain_t *in);


/* case-insensitive; headers deleted from headers_out (hash 0) are skipped */

ngx_table_elt_t *
ngx_voicegw_http_header(ngx_list_t *headers, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &headers->part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash != 0 && h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


ngx_int_t
ngx_voicegw_http_phase_handler(ngx_conf_t *cf, ngx_http_phases phase,
    ngx_http_handler_pt handler)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[phase].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = handler;

    return NGX_OK;
}


ngx_int_t
ngx_voicegw_http_add_variables(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * nginx sets TCP_NODELAY on an upstream connection only for a request
 * body it does not buffer.  A body read whole first (the proxy reads its
 * model, a task is read before its worker is reserved) is buffered: past
 * client_body_buffer_size it sits in a temporary file and goes out in
 * several writes, and with Nagle's algorithm the last one waits for the
 * peer's delayed ACK, 40 ms on every such request (t/049, t/037).
 * Called from a balancer's peer init, after nginx has set up the
 * request's writer and before it connects: the writer is wrapped, and the
 * connection set to TCP_NODELAY (the location's tcp_nodelay, on by
 * default) before its first write.
 */

void
ngx_voicegw_http_upstream_nodelay(ngx_http_upstream_t *u)
{
    if (u->output.output_filter == ngx_chain_writer
        && u->output.filter_ctx == &u->writer)
    {
        u->output.output_filter = ngx_voicegw_http_nodelay_writer;
    }
}


static ngx_int_t
ngx_voicegw_http_nodelay_writer(void *data, ngx_chain_t *in)
{
    ngx_chain_writer_ctx_t  *w = data;

    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;

    c = w->connection;

    if (c && c->tcp_nodelay == NGX_TCP_NODELAY_UNSET) {
        r = c->data;
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        if (clcf->tcp_nodelay && ngx_tcp_nodelay(c) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_chain_writer(data, in);
}
