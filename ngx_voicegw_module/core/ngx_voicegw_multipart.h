
/*
 * ngx_voicegw_multipart.h
 *
 * What a multipart/form-data body tells: the text of its "model" part
 * (else of "model_id"; the proxy's books of OpenAI, Groq and ElevenLabs
 * speech to text), and of its first "file" part the WAV header, the
 * Content-Type, where its bytes start in the body and how many there are
 * (the sessions' upload copies that range).  Read from the body's bytes
 * in pieces of any size, without holding the body.
 */


#ifndef _NGX_VOICEGW_MULTIPART_H_INCLUDED_
#define _NGX_VOICEGW_MULTIPART_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_voicegw_wav.h"


#define NGX_VOICEGW_MULTIPART_MODEL_LEN  200
#define NGX_VOICEGW_MULTIPART_TYPE_LEN   128


typedef struct {
    u_char                       model[NGX_VOICEGW_MULTIPART_MODEL_LEN];
    size_t                       model_len;   /* 0: none (or too long) */
    ngx_voicegw_wav_t            wav;         /* of the first "file" part */
    uint64_t                     file_bytes;
    off_t                        file_start;  /* its first byte's offset in
                                                 the body */
    u_char                       file_type[NGX_VOICEGW_MULTIPART_TYPE_LEN];
    size_t                       file_type_len; /* its Content-Type without
                                                   parameters; 0: none or
                                                   too long */
    ngx_uint_t                   parts;
    unsigned                     file:1;      /* a "file" part was seen */
    unsigned                     file_data:1; /* its headers are read */
    unsigned                     complete:1;  /* the closing delimiter */
    unsigned                     invalid:1;   /* not multipart: stopped */
} ngx_voicegw_multipart_info_t;


typedef struct ngx_voicegw_multipart_s  ngx_voicegw_multipart_t;


ngx_int_t ngx_voicegw_multipart_boundary(ngx_str_t *content_type,
    ngx_str_t *boundary);
ngx_voicegw_multipart_t *ngx_voicegw_multipart_create(ngx_pool_t *pool,
    ngx_str_t *boundary);
void ngx_voicegw_multipart_feed(ngx_voicegw_multipart_t *mp, u_char *p,
    size_t len);
void ngx_voicegw_multipart_end(ngx_voicegw_multipart_t *mp);
ngx_voicegw_multipart_info_t *ngx_voicegw_multipart_info(
    ngx_voicegw_multipart_t *mp);


#endif /* _NGX_VOICEGW_MULTIPART_H_INCLUDED_ */
