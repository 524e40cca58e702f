
/*
 * ngx_voicegw_ref_audio.c
 *
 * Owns "voicegw_ref_audio FILE;": the default reference audio that the
 * original pages fetch from GET /api/default_ref_audio to fill their
 * voice slot.  The WAV file (PCM of 16, 24 or 32 bits or IEEE float of 32
 * bits, plain or WAVE_FORMAT_EXTENSIBLE, any channel count up to 8, any
 * sample rate) is read once while nginx reads its configuration, averaged
 * to mono, resampled to 16 kHz by libsoxr (the "HQ" recipe, what
 * librosa's default resampler uses) and turned into its JSON answer, which
 * requests then send as it is.
 *
 * Never on the event loop: "nginx -t", a start and a reload do all the
 * work, and a bad file fails them with its path and the reason while the
 * running workers keep the answer they have.  Everything lives in the
 * configuration's pool (the cycle's): no global, so a reload builds a new
 * answer next to the old one.  The header is walked by the proxy's WAV
 * parser (proxy/ngx_voicegw_wav.c), fed the whole file at once: the data
 * chunk starts where the bytes it counted as audio start.  No signal
 * processing is written here but the channels' average.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_json.h"
#include "ngx_voicegw_wav.h"
#include "ngx_voicegw_ref_audio.h"

#include <math.h>
#include <soxr.h>


#define NGX_VOICEGW_REF_AUDIO_MAX_SIZE      (64 * 1024 * 1024)
#define NGX_VOICEGW_REF_AUDIO_MAX_CHANNELS  8
#define NGX_VOICEGW_REF_AUDIO_MIN_RATE      1000
#define NGX_VOICEGW_REF_AUDIO_MAX_RATE      768000


static ngx_int_t ngx_voicegw_ref_audio_format(ngx_conf_t *cf,
    ngx_voicegw_ref_audio_t *ra, ngx_voicegw_wav_t *wav);
static float *ngx_voicegw_ref_audio_mono(ngx_conf_t *cf,
    ngx_voicegw_ref_audio_t *ra, u_char *data);
static double ngx_voicegw_ref_audio_sample(u_char *p, ngx_uint_t format,
    ngx_uint_t width);
static float *ngx_voicegw_ref_audio_resample(ngx_conf_t *cf,
    ngx_voicegw_ref_audio_t *ra, float *mono);
static ngx_int_t ngx_voicegw_ref_audio_answer(ngx_conf_t *cf,
    ngx_voicegw_ref_audio_t *ra, float *samples);


/* voicegw_ref_audio FILE; */

char *
ngx_voicegw_ref_audio_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    u_char                   *p, *data;
    float                    *mono, *samples;
    uint64_t                  bytes;
    ngx_str_t                *value, content;
    ngx_file_info_t           fi;
    ngx_voicegw_wav_t         wav;
    ngx_voicegw_ref_audio_t  *ra;

    if (vmcf->ref_audio != NULL) {
        return "is duplicate";
    }

    ra = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_ref_audio_t));
    if (ra == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    ra->file = value[1];

    /* relative to the configuration's folder, as "include" is */

    if (ngx_conf_full_name(cf->cycle, &ra->file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    p = ra->file.data + ra->file.len;

    while (p > ra->file.data && p[-1] != '/') {
        p--;
    }

    ra->name.data = p;
    ra->name.len = ra->file.data + ra->file.len - p;

    if (ngx_voicegw_conf_read_file(cf, &cmd->name, &ra->file,
                                   NGX_VOICEGW_REF_AUDIO_MAX_SIZE, &content)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_file_info(ra->file.data, &fi) != NGX_FILE_ERROR) {
        ra->mtime = ngx_file_mtime(&fi);
    }

    ngx_voicegw_wav_init(&wav);
    ngx_voicegw_wav_feed(&wav, content.data, content.len);

    if (ngx_voicegw_ref_audio_format(cf, ra, &wav) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* fed at once, the parser counts as audio all that follows "data" */

    data = content.data + content.len - wav.data_seen;
    bytes = wav.data_seen;

    if (wav.data_size != 0 && wav.data_size != 0xffffffff
        && wav.data_size < bytes)
    {
        bytes = wav.data_size;
    }

    ra->frames = (size_t) (bytes / wav.block_align);

    if (ra->frames == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_ref_audio: \"%V\" holds no audio",
                           &ra->file);
        return NGX_CONF_ERROR;
    }

    mono = ngx_voicegw_ref_audio_mono(cf, ra, data);
    if (mono == NULL) {
        return NGX_CONF_ERROR;
    }

    samples = ngx_voicegw_ref_audio_resample(cf, ra, mono);
    if (samples == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_voicegw_ref_audio_answer(cf, ra, samples) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                   "voicegw_ref_audio: \"%V\", %ui Hz, %ui channels, "
                   "%uz frames, %uz samples at 16 kHz", &ra->file,
                   ra->sample_rate, ra->channels, ra->frames, ra->samples);

    vmcf->ref_audio = ra;

    return NGX_CONF_OK;
}


/* what the header says, checked against what this file can read */

static ngx_int_t
ngx_voicegw_ref_audio_format(ngx_conf_t *cf, ngx_voicegw_ref_audio_t *ra,
    ngx_voicegw_wav_t *wav)
{
    ngx_uint_t  width;

    if (wav->status != NGX_VOICEGW_WAV_DATA) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_ref_audio: \"%V\" is not a WAV file: "
                           "no RIFF/WAVE header with a \"fmt \" chunk "
                           "before the \"data\" chunk", &ra->file);
        return NGX_ERROR;
    }

    if (!((wav->format == NGX_VOICEGW_WAV_PCM
           && (wav->bits == 16 || wav->bits == 24 || wav->bits == 32))
          || (wav->format == NGX_VOICEGW_WAV_FLOAT && wav->bits == 32)))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_ref_audio: \"%V\" has an unsupported "
                           "format (format tag 0x%04xi, %ui bits): use PCM "
                           "of 16, 24 or 32 bits or IEEE float of 32 bits",
                           &ra->file, wav->format, wav->bits);
        return NGX_ERROR;
    }

    width = wav->bits / 8;

    if (wav->channels == 0
        || wav->channels > NGX_VOICEGW_REF_AUDIO_MAX_CHANNELS
        || wav->block_align != wav->channels * width)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_ref_audio: \"%V\" has %ui channels in "
                           "blocks of %ui bytes: use 1 to %d channels of "
                           "%ui bytes a sample", &ra->file, wav->channels,
                           wav->block_align,
                           NGX_VOICEGW_REF_AUDIO_MAX_CHANNELS, width);
        return NGX_ERROR;
    }

    if (wav->sample_rate < NGX_VOICEGW_REF_AUDIO_MIN_RATE
        || wav->sample_rate > NGX_VOICEGW_REF_AUDIO_MAX_RATE)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_ref_audio: \"%V\" has a sample rate of "
                           "%ui Hz: use %d to %d", &ra->file,
                           wav->sample_rate, NGX_VOICEGW_REF_AUDIO_MIN_RATE,
                           NGX_VOICEGW_REF_AUDIO_MAX_RATE);
        return NGX_ERROR;
    }

    if (!ngx_voicegw_utf8_valid(ra->name.data, ra->name.len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_ref_audio: the name of \"%V\" is not "
                           "UTF-8", &ra->file);
        return NGX_ERROR;
    }

    ra->format = wav->format;
    ra->bits = wav->bits;
    ra->channels = wav->channels;
    ra->sample_rate = wav->sample_rate;

    return NGX_OK;
}


/* each frame's channels averaged, as floats in [-1, 1) */

static float *
ngx_voicegw_ref_audio_mono(ngx_conf_t *cf, ngx_voicegw_ref_audio_t *ra,
    u_char *data)
{
    float       *mono;
    double       sum;
    size_t       i;
    ngx_uint_t   c, width;

    mono = ngx_palloc(cf->temp_pool, ra->frames * sizeof(float));
    if (mono == NULL) {
        return NULL;
    }

    width = ra->bits / 8;

    for (i = 0; i < ra->frames; i++) {
        sum = 0;

        for (c = 0; c < ra->channels; c++) {
            sum += ngx_voicegw_ref_audio_sample(data, ra->format, width);
            data += width;
        }

        mono[i] = (float) (sum / ra->channels);
    }

    return mono;
}


/*
 * One little-endian sample: its bytes at the top of 32 bits, so that
 * 16, 24 and 32-bit PCM share one scale; a float's bits as they are.
 */

static double
ngx_voicegw_ref_audio_sample(u_char *p, ngx_uint_t format, ngx_uint_t width)
{
    float       f;
    uint32_t    u;
    ngx_uint_t  k;

    u = 0;

    for (k = 0; k < width; k++) {
        u |= (uint32_t) p[k] << (8 * (4 - width + k));
    }

    if (format == NGX_VOICEGW_WAV_FLOAT) {
        ngx_memcpy(&f, &u, sizeof(float));
        return isfinite(f) ? f : 0;
    }

    return (int32_t) u / 2147483648.0;
}


/*
 * libsoxr in one shot, input and flush together.  It gives
 * (int64_t) (frames / (rate / 16000) + .5) samples; the buffer is larger,
 * as soxr_process() takes all the input only when the output could hold
 * ceil(frames x 16000 / rate).  A file at 16 kHz already is used as it is.
 */

static float *
ngx_voicegw_ref_audio_resample(ngx_conf_t *cf, ngx_voicegw_ref_audio_t *ra,
    float *mono)
{
    float                *out;
    size_t                olen, done;
    soxr_error_t          err;
    soxr_io_spec_t        io;
    soxr_quality_spec_t   q;

    if (ra->sample_rate == NGX_VOICEGW_REF_AUDIO_RATE) {
        ra->samples = ra->frames;
        return mono;
    }

    olen = (size_t) ceil((double) ra->frames * NGX_VOICEGW_REF_AUDIO_RATE
                         / ra->sample_rate) + 2;

    out = ngx_palloc(cf->temp_pool, olen * sizeof(float));
    if (out == NULL) {
        return NULL;
    }

    io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    q = soxr_quality_spec(SOXR_HQ, 0);

    done = 0;

    err = soxr_oneshot((double) ra->sample_rate, NGX_VOICEGW_REF_AUDIO_RATE,
                       1, mono, ra->frames, NULL, out, olen, &done, &io, &q,
                       NULL);

    if (err != NULL || done == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_ref_audio: cannot resample \"%V\" from "
                           "%ui Hz to 16 kHz: %s", &ra->file, ra->sample_rate,
                           err ? err : "no output");
        return NULL;
    }

    ra->samples = done;

    return out;
}


/*
 * {"name","duration","sample_rate":16000,"samples","base64"}: the samples
 * as float32 little-endian bytes, whatever this machine's order, in
 * base64.  Built in the temporary pool, kept in the configuration's.
 */

static ngx_int_t
ngx_voicegw_ref_audio_answer(ngx_conf_t *cf, ngx_voicegw_ref_audio_t *ra,
    float *samples)
{
    u_char              *p;
    size_t               i;
    uint32_t             u;
    ngx_str_t            raw, b64;
    ngx_voicegw_json_t  *j;

    raw.len = ra->samples * 4;
    raw.data = ngx_pnalloc(cf->temp_pool, raw.len);

    b64.data = ngx_pnalloc(cf->temp_pool, ngx_base64_encoded_length(raw.len));

    if (raw.data == NULL || b64.data == NULL) {
        return NGX_ERROR;
    }

    p = raw.data;

    for (i = 0; i < ra->samples; i++) {
        ngx_memcpy(&u, &samples[i], sizeof(uint32_t));

        *p++ = (u_char) u;
        *p++ = (u_char) (u >> 8);
        *p++ = (u_char) (u >> 16);
        *p++ = (u_char) (u >> 24);
    }

    ngx_encode_base64(&b64, &raw);

    ra->duration = (double) ra->samples / NGX_VOICEGW_REF_AUDIO_RATE;

    j = ngx_voicegw_json_create(cf->temp_pool);
    if (j == NULL) {
        return NGX_ERROR;
    }

    ngx_voicegw_json_map_open(j);
    ngx_voicegw_json_key(j, "name");
    ngx_voicegw_json_str(j, &ra->name);
    ngx_voicegw_json_key(j, "duration");
    ngx_voicegw_json_fixed(j, ra->duration, 3);
    ngx_voicegw_json_key(j, "sample_rate");
    ngx_voicegw_json_int(j, NGX_VOICEGW_REF_AUDIO_RATE);
    ngx_voicegw_json_key(j, "samples");
    ngx_voicegw_json_int(j, ra->samples);
    ngx_voicegw_json_key(j, "base64");
    ngx_voicegw_json_str(j, &b64);
    ngx_voicegw_json_map_close(j);

    if (ngx_voicegw_json_string(j, cf->pool, &ra->answer) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_ref_audio: cannot build the answer of "
                           "\"%V\"", &ra->file);
        return NGX_ERROR;
    }

    return NGX_OK;
}
