
/*
 * ngx_voicegw_wav.h
 *
 * The length of a WAV upload, from its header and the bytes that follow:
 * the fallback for speech-to-text answers that state no duration.  Fed
 * the first bytes of a body in pieces of any size; it keeps a 40-byte
 * window and counts the rest, nothing more.
 */


#ifndef _NGX_VOICEGW_WAV_H_INCLUDED_
#define _NGX_VOICEGW_WAV_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_VOICEGW_WAV_HEADER   0   /* still in the header */
#define NGX_VOICEGW_WAV_DATA     1   /* in the data chunk */
#define NGX_VOICEGW_WAV_UNKNOWN  2   /* not a WAV, or no usable header */

#define NGX_VOICEGW_WAV_PCM         1
#define NGX_VOICEGW_WAV_FLOAT       3
#define NGX_VOICEGW_WAV_ALAW        6
#define NGX_VOICEGW_WAV_MULAW       7
#define NGX_VOICEGW_WAV_EXTENSIBLE  0xfffe


typedef struct {
    ngx_uint_t                   status;
    ngx_uint_t                   format;      /* of EXTENSIBLE: SubFormat's
                                                 when PCM or float */
    ngx_uint_t                   channels;
    ngx_uint_t                   sample_rate;
    ngx_uint_t                   block_align;
    ngx_uint_t                   bits;
    uint64_t                     data_size;   /* declared */
    uint64_t                     data_seen;   /* bytes after its header */

    /* the parser */
    ngx_uint_t                   state;
    uint64_t                     skip;
    uint32_t                     size;        /* of the chunk in hand */
    size_t                       have;
    size_t                       need;
    u_char                       window[40];
    unsigned                     fmt:1;
} ngx_voicegw_wav_t;


void ngx_voicegw_wav_init(ngx_voicegw_wav_t *w);
void ngx_voicegw_wav_feed(ngx_voicegw_wav_t *w, u_char *p, size_t len);
double ngx_voicegw_wav_duration(ngx_voicegw_wav_t *w);


#endif /* _NGX_VOICEGW_WAV_H_INCLUDED_ */
