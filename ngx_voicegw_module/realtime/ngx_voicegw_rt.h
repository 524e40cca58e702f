
/*
 * ngx_voicegw_rt.h
 *
 * Realtime provider streams: a WebSocket session that a voicegw_proxy
 * location relayed to a provider (Deepgram live STT and speech,
 * AssemblyAI streaming, ElevenLabs stream-input, Cartesia, OpenAI
 * Realtime), put on the books as it goes.
 *
 *   ngx_voicegw_rt_units.c    what a session used, from its frames as
 *                             they pass: audio bytes, characters, the
 *                             provider's own figures (Metadata,
 *                             Termination, response.done)
 *   ngx_voicegw_rt_session.c  the hand-over from nginx's byte pump to the
 *                             frame-aware relay (ws/), the running cost
 *                             against the project's budget, the interim
 *                             records and the record at its end
 */


#ifndef _NGX_VOICEGW_RT_H_INCLUDED_
#define _NGX_VOICEGW_RT_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_ws.h"
#include "ngx_voicegw_proxy.h"


/* what kind of stream a session is, by provider type and path */
#define NGX_VOICEGW_RT_OTHER          0
#define NGX_VOICEGW_RT_DEEPGRAM_STT   1
#define NGX_VOICEGW_RT_DEEPGRAM_TTS   2
#define NGX_VOICEGW_RT_ASSEMBLYAI     3
#define NGX_VOICEGW_RT_ELEVENLABS     4
#define NGX_VOICEGW_RT_CARTESIA       5
#define NGX_VOICEGW_RT_OPENAI         6

/* the close code the gateway ends a session over budget with */
#define NGX_VOICEGW_RT_POLICY         1008


typedef struct ngx_voicegw_rt_units_s  ngx_voicegw_rt_units_t;


/* a session's units so far, as the books count them */

typedef struct {
    double                       input;      /* minutes, characters,
                                                input tokens */
    double                       output;     /* output tokens */
    double                       cached;     /* cache reads, of input */
    ngx_uint_t                   flags;      /* NGX_VOICEGW_RECORD_* */
} ngx_voicegw_rt_used_t;


ngx_voicegw_rt_units_t *ngx_voicegw_rt_units_create(ngx_http_request_t *r,
    ngx_voicegw_proxy_ctx_t *ctx);
ngx_uint_t ngx_voicegw_rt_units_kind(ngx_voicegw_rt_units_t *u);
ngx_uint_t ngx_voicegw_rt_units_feed(ngx_voicegw_rt_units_t *u,
    ngx_uint_t from_client, ngx_voicegw_ws_parser_t *p, u_char *pos,
    size_t len, ngx_uint_t end);
void ngx_voicegw_rt_units_used(ngx_voicegw_rt_units_t *u,
    ngx_msec_t open_ms, ngx_voicegw_rt_used_t *used);

ngx_int_t ngx_voicegw_rt_init(ngx_conf_t *cf);


#endif /* _NGX_VOICEGW_RT_H_INCLUDED_ */
