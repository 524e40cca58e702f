
/*
 * ngx_voicegw_ref_audio.h
 *
 * The default reference audio of the original pages
 * ("voicegw_ref_audio FILE;"): a WAV file read once while nginx reads its
 * configuration, kept as 16 kHz mono float32 samples and as the answer of
 * GET /api/default_ref_audio, ready to send.
 */


#ifndef _NGX_VOICEGW_REF_AUDIO_H_INCLUDED_
#define _NGX_VOICEGW_REF_AUDIO_H_INCLUDED_


#include "ngx_voicegw_module.h"


#define NGX_VOICEGW_REF_AUDIO_RATE  16000


struct ngx_voicegw_ref_audio_s {
    ngx_str_t                    file;        /* full path */
    ngx_str_t                    name;        /* without its folder */
    time_t                       mtime;

    /* what the file held */
    ngx_uint_t                   format;      /* NGX_VOICEGW_WAV_PCM, _FLOAT */
    ngx_uint_t                   bits;
    ngx_uint_t                   channels;
    ngx_uint_t                   sample_rate;
    size_t                       frames;

    /* at 16 kHz, mono */
    size_t                       samples;
    double                       duration;    /* seconds */

    /* {"name","duration","sample_rate","samples","base64"} */
    ngx_str_t                    answer;
};


char *ngx_voicegw_ref_audio_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_VOICEGW_REF_AUDIO_H_INCLUDED_ */
