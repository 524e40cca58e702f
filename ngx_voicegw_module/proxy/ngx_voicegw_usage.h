
/*
 * ngx_voicegw_usage.h
 *
 * The billable units a provider's answer states, read while the answer
 * goes by: tokens, cache reads and writes, audio seconds.  The bytes are
 * only observed (the proxy forwards them unchanged), in pieces of any
 * size, as one JSON answer or as a Server-Sent Events stream.  Feeding
 * never fails the request: what cannot be parsed is skipped.
 */


#ifndef _NGX_VOICEGW_USAGE_H_INCLUDED_
#define _NGX_VOICEGW_USAGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* where the units are, by the shape of the provider's answers */
#define NGX_VOICEGW_DIALECT_OPENAI      0  /* openai, groq, compatibles */
#define NGX_VOICEGW_DIALECT_ANTHROPIC   1
#define NGX_VOICEGW_DIALECT_GEMINI      2
#define NGX_VOICEGW_DIALECT_DEEPGRAM    3
#define NGX_VOICEGW_DIALECT_CARTESIA    4
#define NGX_VOICEGW_DIALECT_ASSEMBLYAI  5
#define NGX_VOICEGW_DIALECT_ELEVENLABS  6  /* none: the character-cost
                                              header says it */
#define NGX_VOICEGW_DIALECT_COUNT       7


/* the units seen, each assigned (the last value wins); < 0: not seen */
typedef struct {
    double                       input_tokens;
    double                       output_tokens;      /* Gemini: candidates
                                                        + thoughts */
    double                       cached_tokens;      /* cache reads: part of
                                                        input (OpenAI,
                                                        Gemini), apart from
                                                        it (Anthropic) */
    double                       cache_write_tokens; /* Anthropic cache
                                                        creation, apart */
    double                       seconds;            /* audio, one channel */
    double                       channels;           /* Deepgram */
    ngx_uint_t                   usage_chunks;       /* events or values
                                                        that carried any */
} ngx_voicegw_units_t;


typedef struct ngx_voicegw_usage_s  ngx_voicegw_usage_t;


ngx_voicegw_usage_t *ngx_voicegw_usage_create(ngx_pool_t *pool,
    ngx_uint_t dialect, ngx_uint_t sse);
ngx_int_t ngx_voicegw_usage_feed(ngx_voicegw_usage_t *u, u_char *p,
    size_t len);
void ngx_voicegw_usage_end(ngx_voicegw_usage_t *u);
ngx_voicegw_units_t *ngx_voicegw_usage_units(ngx_voicegw_usage_t *u);


#endif /* _NGX_VOICEGW_USAGE_H_INCLUDED_ */
