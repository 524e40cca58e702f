
/*
 * ngx_voicegw_proxy_ws.c
 *
 * Owns what is particular to the handshake of a provider call that is a
 * WebSocket session (Upgrade: websocket): the words of its path that make
 * it a token-billed session, and the browser credentials it may carry in
 * its subprotocols and query arguments, which never reach the provider
 * (the provider's key goes in its header, as for any call).  Once the
 * provider answers 101 the session is realtime/'s.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_record.h"
#include "ngx_voicegw_proxy.h"


/*
 * Query arguments a browser's WebSocket credentials may be in (Cartesia's
 * access_token, ElevenLabs' single_use_token, AssemblyAI's token): never
 * sent on.
 */

static ngx_str_t  ngx_voicegw_proxy_ws_credentials[] = {
    ngx_string("access_token"),
    ngx_string("api_key"),
    ngx_string("token"),
    ngx_string("single_use_token"),
    ngx_string("xi_api_key"),
    ngx_null_string
};


/* a speech-to-speech session (OpenAI's Realtime) is billed in tokens */

ngx_uint_t
ngx_voicegw_proxy_rt_modality(ngx_str_t *path)
{
    if (ngx_strlcasestrn(path->data, path->data + path->len,
                         (u_char *) "/realtime", 9 - 1)
        != NULL)
    {
        return NGX_VOICEGW_MODALITY_LLM;
    }

    return NGX_VOICEGW_MODALITY_OTHER;
}


/*
 * The subprotocols a browser offers may carry its credentials: OpenAI's
 * "openai-insecure-api-key.<key>" is taken out; Deepgram's "token, <key>"
 * gets the provider's key in place of the client's, so that Deepgram
 * still answers "token".  Nothing left: the header goes.
 */

ngx_int_t
ngx_voicegw_proxy_subprotocols(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx, ngx_table_elt_t *h)
{
    u_char      *p, *last, *start, *out, *o;
    size_t       len;
    ngx_uint_t   key_next, deepgram;

    deepgram = (ngx_strcmp(ctx->provider.type->name, "deepgram") == 0);

    out = ngx_pnalloc(r->pool, h->value.len + ctx->provider.key.len + 2);
    if (out == NULL) {
        return NGX_ERROR;
    }

    o = out;
    key_next = 0;
    p = h->value.data;
    last = p + h->value.len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == ',' || *p == '\t')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',' && *p != ' ' && *p != '\t') {
            p++;
        }

        len = p - start;

        if (len == 0) {
            break;
        }

        if (len >= sizeof("openai-insecure-api-key.") - 1
            && ngx_strncasecmp(start, (u_char *) "openai-insecure-api-key.",
                               sizeof("openai-insecure-api-key.") - 1)
               == 0)
        {
            continue;
        }

        if (o > out) {
            *o++ = ',';
            *o++ = ' ';
        }

        if (key_next) {
            key_next = 0;
            o = ngx_cpymem(o, ctx->provider.key.data, ctx->provider.key.len);
            continue;
        }

        o = ngx_cpymem(o, start, len);

        key_next = deepgram && len == 5
                   && ngx_strncasecmp(start, (u_char *) "token", 5) == 0;
    }

    h->value.data = out;
    h->value.len = o - out;

    return NGX_OK;
}


/*
 * The query as the provider gets it, written at p: without a WebSocket
 * credential.  The arguments kept are joined by "&" whatever they end
 * with (a value may end with "?").
 */

u_char *
ngx_voicegw_proxy_args(ngx_http_request_t *r, ngx_voicegw_proxy_ctx_t *ctx,
    u_char *p)
{
    u_char     *a, *last, *start, *eq, *first;
    ngx_str_t  *cred;

    if (!ctx->websocket) {
        return ngx_cpymem(p, r->args.data, r->args.len);
    }

    a = r->args.data;
    last = a + r->args.len;
    first = p;

    while (a < last) {
        start = a;

        while (a < last && *a != '&') {
            a++;
        }

        eq = ngx_strlchr(start, a, '=');

        if (eq == NULL) {
            eq = a;
        }

        for (cred = ngx_voicegw_proxy_ws_credentials; cred->len; cred++) {
            if ((size_t) (eq - start) == cred->len
                && ngx_strncasecmp(start, cred->data, cred->len) == 0)
            {
                break;
            }
        }

        if (cred->len == 0 && a > start) {
            if (p != first) {
                *p++ = '&';
            }

            p = ngx_cpymem(p, start, a - start);
        }

        if (a < last) {
            a++;
        }
    }

    return p;
}
