
/*
 * ngx_voicegw_proxy_path.c
 *
 * Owns the reading of a provider call's URI: the provider's id and its
 * path after the location's prefix, what the path's words say the call
 * is, the model its query names, the model's name on the books
 * ("provider/model"), and the URL the call goes to: the base URL's
 * prefix, then the path escaped again (nothing in it can end the path),
 * then the query (without a WebSocket credential); the base URLs it has
 * parsed, a few per location in each process.  Of a request, only
 * its pool and its query are read, and nothing is answered (the handler
 * answers what it refuses), so that this also builds outside nginx
 * (fuzz/).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_url.h"
#include "ngx_voicegw_proxy.h"


/* a path's words (lower case), and what they say the call is */

typedef struct {
    ngx_str_t                    word;
    ngx_uint_t                   modality;
} ngx_voicegw_proxy_route_t;


/* the '/' of a path looked at; a path with more is searched in full */
#define NGX_VOICEGW_PROXY_SLASHES  16


static ngx_int_t ngx_voicegw_proxy_host(ngx_pool_t *pool,
    ngx_voicegw_url_t *url, ngx_str_t *host);


static ngx_voicegw_proxy_route_t  ngx_voicegw_proxy_routes[] = {
    { ngx_string("/audio/transcriptions"), NGX_VOICEGW_MODALITY_STT },
    { ngx_string("/audio/translations"), NGX_VOICEGW_MODALITY_STT },
    { ngx_string("/speech-to-text"), NGX_VOICEGW_MODALITY_STT },
    { ngx_string("/listen"), NGX_VOICEGW_MODALITY_STT },
    { ngx_string("/stt"), NGX_VOICEGW_MODALITY_STT },
    { ngx_string("/transcript"), NGX_VOICEGW_MODALITY_STT },
    { ngx_string("/v3/ws"), NGX_VOICEGW_MODALITY_STT },  /* AssemblyAI live */
    { ngx_string("/audio/speech"), NGX_VOICEGW_MODALITY_TTS },
    { ngx_string("/text-to-speech"), NGX_VOICEGW_MODALITY_TTS },
    { ngx_string("/speak"), NGX_VOICEGW_MODALITY_TTS },
    { ngx_string("/tts/"), NGX_VOICEGW_MODALITY_TTS },
    { ngx_string("/chat/completions"), NGX_VOICEGW_MODALITY_LLM },
    { ngx_string("/completions"), NGX_VOICEGW_MODALITY_LLM },
    { ngx_string("/responses"), NGX_VOICEGW_MODALITY_LLM },
    { ngx_string("/messages"), NGX_VOICEGW_MODALITY_LLM },
    { ngx_string("generatecontent"), NGX_VOICEGW_MODALITY_LLM },
    { ngx_string("/api/chat"), NGX_VOICEGW_MODALITY_LLM },
    { ngx_string("/api/generate"), NGX_VOICEGW_MODALITY_LLM },
    { ngx_null_string, 0 }
};


/*
 * /<prefix>/{provider_id}[/<path>]: the id (empty: none) and the path
 * from its "/" on (empty: none), both in uri
 */

void
ngx_voicegw_proxy_split(ngx_str_t *uri, ngx_str_t *prefix, ngx_str_t *id,
    ngx_str_t *rest)
{
    u_char  *p, *last;

    p = uri->data + prefix->len;
    last = uri->data + uri->len;

    if (uri->len < prefix->len) {
        p = last;
    }

    id->data = p;

    while (p < last && *p != '/') {
        p++;
    }

    id->len = p - id->data;
    rest->data = p;
    rest->len = last - p;
}


ngx_uint_t
ngx_voicegw_proxy_modality(ngx_str_t *path)
{
    u_char                     *p, *w, *last;
    u_char                     *slash[NGX_VOICEGW_PROXY_SLASHES];
    size_t                      len;
    uint32_t                    letters;
    ngx_uint_t                  i, n;
    ngx_voicegw_proxy_route_t  *route;

    /*
     * the words but one begin with '/': they are looked for where the
     * path has one, and only where the next letter is the word's
     */

    last = path->data + path->len;
    n = 0;
    letters = 0;

    for (p = path->data; p < last && n < NGX_VOICEGW_PROXY_SLASHES; p++) {
        p = ngx_strlchr(p, last, '/');

        if (p == NULL) {
            break;
        }

        slash[n++] = p;

        /*
         * the letters after a '/' (& 31: either case): a word that begins
         * with none is not there
         */

        if (p + 1 < last) {
            letters |= (uint32_t) 1 << (p[1] & 31);
        }
    }

    for (route = ngx_voicegw_proxy_routes; route->word.len; route++) {
        w = route->word.data;
        len = route->word.len;

        if (w[0] != '/' || n == NGX_VOICEGW_PROXY_SLASHES) {
            if (ngx_strlcasestrn(path->data, last, w, len - 1) != NULL) {
                return route->modality;
            }

            continue;
        }

        if (!(letters & ((uint32_t) 1 << (w[1] & 31)))) {
            continue;
        }

        for (i = 0; i < n; i++) {
            p = slash[i];

            if ((size_t) (last - p) >= len
                && ngx_tolower(p[1]) == w[1]
                && ngx_strncasecmp(p + 1, w + 1, len - 1) == 0)
            {
                return route->modality;
            }
        }
    }

    return NGX_VOICEGW_MODALITY_OTHER;
}


/*
 * The "model", "model_id" or "speech_model" (AssemblyAI streaming) query
 * argument, unescaped into the pool: NGX_OK; NGX_DECLINED, none (*model
 * is left as it is); NGX_ERROR.
 */

ngx_int_t
ngx_voicegw_proxy_model_arg(ngx_http_request_t *r, ngx_str_t *model)
{
    u_char     *p;
    ngx_str_t   value;

    if (ngx_http_arg(r, (u_char *) "model", 5, &value) != NGX_OK
        && ngx_http_arg(r, (u_char *) "model_id", 8, &value) != NGX_OK
        && ngx_http_arg(r, (u_char *) "speech_model", 12, &value) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    model->data = ngx_pnalloc(r->pool, value.len);
    if (model->data == NULL) {
        return NGX_ERROR;
    }

    p = model->data;
    ngx_unescape_uri(&p, &value.data, value.len, NGX_UNESCAPE_URI);
    model->len = p - model->data;

    return NGX_OK;
}


/* the model as VoiceGateway names it: provider/model, or provider/unknown */

ngx_int_t
ngx_voicegw_proxy_record_model(ngx_pool_t *pool, ngx_str_t *provider,
    ngx_str_t *model, ngx_str_t *name)
{
    u_char  *p;

    name->data = ngx_pnalloc(pool, provider->len + 1
                                   + ngx_max(model->len, 7));
    if (name->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(name->data, provider->data, provider->len);
    *p++ = '/';

    if (model->len) {
        p = ngx_cpymem(p, model->data, model->len);

    } else {
        p = ngx_cpymem(p, "unknown", 7);
    }

    name->len = p - name->data;

    return NGX_OK;
}


/*
 * $voicegw_proxy_url: the base URL's scheme and prefix at the providers'
 * upstream, the path as nginx normalised it, escaped again, and the
 * query.
 */

ngx_int_t
ngx_voicegw_proxy_url(ngx_http_request_t *r, ngx_voicegw_proxy_ctx_t *ctx,
    ngx_uint_t https, ngx_str_t *prefix, ngx_str_t *rest)
{
    u_char  *p, *query;
    size_t   len, escape;

    escape = 2 * ngx_escape_uri(NULL, rest->data, rest->len, NGX_ESCAPE_URI);

    len = sizeof("https://" NGX_VOICEGW_PROXY_UPSTREAM) - 1 + prefix->len
          + rest->len + escape + 1 + 1 + r->args.len;

    ctx->url.data = ngx_pnalloc(r->pool, len);
    if (ctx->url.data == NULL) {
        return NGX_ERROR;
    }

    if (https) {
        p = ngx_cpymem(ctx->url.data, "https://" NGX_VOICEGW_PROXY_UPSTREAM,
                       sizeof("https://" NGX_VOICEGW_PROXY_UPSTREAM) - 1);

    } else {
        p = ngx_cpymem(ctx->url.data, "http://" NGX_VOICEGW_PROXY_UPSTREAM,
                       sizeof("http://" NGX_VOICEGW_PROXY_UPSTREAM) - 1);
    }

    if (prefix->len) {
        p = ngx_cpymem(p, prefix->data, prefix->len);
    }

    if (rest->len == 0) {
        *p++ = '/';

    } else if (escape) {
        p = (u_char *) ngx_escape_uri(p, rest->data, rest->len,
                                      NGX_ESCAPE_URI);

    } else {
        p = ngx_cpymem(p, rest->data, rest->len);
    }

    if (r->args.len) {
        *p++ = '?';
        query = p;
        p = ngx_voicegw_proxy_args(r, ctx, p);

        if (p == query) {
            p--;                        /* every argument was taken out */
        }
    }

    ctx->url.len = p - ctx->url.data;

    return NGX_OK;
}


/*
 * A provider's base URL parsed, and the Host header it makes (the host,
 * its port unless it is the scheme's), from the few the location keeps
 * in this process: parsing it (ngx_parse_url() and our checks) cost more
 * than the rest of the way to the provider together (bench/RESULTS.md).
 * The key is the URL's text as the call found it (nginx.conf, the API,
 * the type's default), so a base_url changed through the API is another
 * entry, never a stale one.  What the request keeps (the host, Host) is
 * copied into its pool: an entry may be replaced while a call waits for
 * the resolver.  A failure to parse is not kept.  On an error, *err says
 * why, or is NULL (out of memory).
 */

ngx_int_t
ngx_voicegw_proxy_base(ngx_http_request_t *r,
    ngx_voicegw_proxy_loc_conf_t *plcf, ngx_str_t *text,
    ngx_voicegw_url_t *url, ngx_str_t *host, const char **err)
{
    u_char                    *p;
    ngx_str_t                  copy;
    ngx_uint_t                 i;
    ngx_voicegw_proxy_base_t  *b;

    b = plcf->bases;

    for (i = 0; b && text->len && i < NGX_VOICEGW_PROXY_BASES; i++) {

        if (b[i].len != text->len
            || ngx_memcmp(b[i].text, text->data, text->len) != 0)
        {
            continue;
        }

        *url = b[i].url;
        *host = b[i].host;

        /* with its NUL (the TLS server name, the resolver) */

        url->host.data = ngx_pnalloc(r->pool, url->host.len + 1
                                              + host->len);
        if (url->host.data == NULL) {
            *err = NULL;
            return NGX_ERROR;
        }

        ngx_memcpy(url->host.data, b[i].url.host.data, url->host.len + 1);

        host->data = url->host.data + url->host.len + 1;
        ngx_memcpy(host->data, b[i].host.data, host->len);

        return NGX_OK;
    }

    copy = *text;                 /* the parser takes a trailing '/' off */

    if (ngx_voicegw_url_parse(r->pool, &copy, url, err) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_voicegw_proxy_host(r->pool, url, host) != NGX_OK) {
        *err = NULL;
        return NGX_ERROR;
    }

    if (b == NULL || text->len == 0 || text->len > NGX_VOICEGW_PROXY_BASE_LEN)
    {
        return NGX_OK;
    }

    /* kept, in the slot after the last one taken */

    b = &b[plcf->next_base++ % NGX_VOICEGW_PROXY_BASES];
    b->len = 0;

    p = b->strings;

    b->url = *url;
    b->url.host.data = p;
    p = ngx_cpymem(p, url->host.data, url->host.len);
    *p++ = '\0';

    b->url.prefix.data = p;
    p = ngx_cpymem(p, url->prefix.data, url->prefix.len);

    b->host.data = p;
    b->host.len = host->len;
    ngx_memcpy(p, host->data, host->len);

    ngx_memcpy(b->text, text->data, text->len);
    b->len = text->len;

    return NGX_OK;
}


/* Host: the provider's host ([] around an IPv6 address), and its port */

static ngx_int_t
ngx_voicegw_proxy_host(ngx_pool_t *pool, ngx_voicegw_url_t *url,
    ngx_str_t *host)
{
    u_char  *p;

    host->data = ngx_pnalloc(pool, url->host.len + sizeof("[]:65535") - 1);
    if (host->data == NULL) {
        return NGX_ERROR;
    }

    p = host->data;

    if (ngx_strlchr(url->host.data, url->host.data + url->host.len, ':')) {
        *p++ = '[';
        p = ngx_cpymem(p, url->host.data, url->host.len);
        *p++ = ']';

    } else {
        p = ngx_cpymem(p, url->host.data, url->host.len);
    }

    if (!url->default_port) {
        p = ngx_sprintf(p, ":%d", (int) url->port);
    }

    host->len = p - host->data;

    return NGX_OK;
}
