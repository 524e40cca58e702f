
/*
 * ngx_voicegw_sse_strip.h
 *
 * Takes the usage-only event out of an OpenAI-protocol chat completion
 * stream (Server-Sent Events) on its way to the client: the chunk whose
 * data is an object with "choices": [] and a "usage" object, which the
 * upstream sends only because the gateway injected
 * stream_options.include_usage (reference: provider-wire-shapes.md,
 * 10.1).  Only the first such event is dropped; every other byte reaches
 * the client as it came, without the stream being buffered.
 *
 * It is called from a body filter with the upstream's own chain (proxy
 * buffering off):
 *
 *     rc = ngx_voicegw_sse_strip(s, in, &out);       NGX_OK or NGX_ERROR
 *     ...
 *     return ngx_http_next_body_filter(r, out);
 *
 * The contract:
 *  - the upstream's bufs are edited in place (pos, last, their bytes);
 *    their links and next pointers are never touched.  A buf that ends
 *    empty is left out of out: it counts as sent for the upstream;
 *  - out is either in itself (nothing needed changing) or a chain of the
 *    filter's own links, pointing to the upstream's bufs and to its own
 *    (the head of an event that spanned reads).  The caller passes it on
 *    and frees nothing: the links are the filter's, reused by its next
 *    call, and all memory comes from the pool given to create;
 *  - out never holds an empty buf that is not special; flush and last_buf
 *    reach the client (on a buf of the filter's own when the upstream's
 *    buf carrying them ended empty);
 *  - an event not complete at the end of a buf is held back (copied) until
 *    it is, up to NGX_VOICEGW_SSE_STRIP_MAX_EVENT bytes: a longer one is
 *    passed on undecided.  Whatever is held at last_buf goes out as it is.
 */


#ifndef _NGX_VOICEGW_SSE_STRIP_H_INCLUDED_
#define _NGX_VOICEGW_SSE_STRIP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_VOICEGW_SSE_STRIP_MAX_EVENT  65536


typedef struct ngx_voicegw_sse_strip_s  ngx_voicegw_sse_strip_t;


ngx_voicegw_sse_strip_t *ngx_voicegw_sse_strip_create(ngx_pool_t *pool);
ngx_int_t ngx_voicegw_sse_strip(ngx_voicegw_sse_strip_t *s, ngx_chain_t *in,
    ngx_chain_t **out);


#endif /* _NGX_VOICEGW_SSE_STRIP_H_INCLUDED_ */
