
/*
 * ngx_voicegw_wav.c
 *
 * Owns the WAV header walk: RIFF (or RF64) and WAVE, then chunks of
 * <id><u32 LE size><payload padded to even>.  "fmt " gives the format,
 * "data" the audio; LIST, JUNK, bext, ds64 and the rest are skipped.
 *
 * Duration = data bytes / (sample_rate x block_align), only for PCM,
 * float, A-law, mu-law and EXTENSIBLE with a PCM or float SubFormat.  The
 * data bytes are the declared size clamped to what was seen, except that
 * a declared 0 or 0xFFFFFFFF (a streamed WAV, an RF64) means "until the
 * end": trusting it would give four gigabytes.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_voicegw_wav.h"


#define NGX_VOICEGW_WAV_RIFF   0   /* the 12-byte RIFF header */
#define NGX_VOICEGW_WAV_CHUNK  1   /* a chunk's 8-byte header */
#define NGX_VOICEGW_WAV_FMT    2   /* the fmt chunk, up to 40 bytes */
#define NGX_VOICEGW_WAV_SKIP   3   /* the rest of a chunk */
#define NGX_VOICEGW_WAV_AUDIO  4   /* the data chunk */
#define NGX_VOICEGW_WAV_DONE   5   /* nothing more to learn */

#define ngx_voicegw_wav_u16(p)                                                \
    ((ngx_uint_t) (p)[0] | (ngx_uint_t) (p)[1] << 8)
#define ngx_voicegw_wav_u32(p)                                                \
    ((uint32_t) (p)[0] | (uint32_t) (p)[1] << 8 | (uint32_t) (p)[2] << 16     \
     | (uint32_t) (p)[3] << 24)


static void ngx_voicegw_wav_header(ngx_voicegw_wav_t *w);
static void ngx_voicegw_wav_format(ngx_voicegw_wav_t *w);


/* the KSDATAFORMAT_SUBTYPE_* GUIDs after their first two bytes */
static u_char  ngx_voicegw_wav_guid[14] = {
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00,
    0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71
};


void
ngx_voicegw_wav_init(ngx_voicegw_wav_t *w)
{
    ngx_memzero(w, sizeof(ngx_voicegw_wav_t));

    w->status = NGX_VOICEGW_WAV_HEADER;
    w->state = NGX_VOICEGW_WAV_RIFF;
    w->need = 12;
}


void
ngx_voicegw_wav_feed(ngx_voicegw_wav_t *w, u_char *p, size_t len)
{
    size_t  n;

    while (len) {

        switch (w->state) {

        case NGX_VOICEGW_WAV_AUDIO:
            w->data_seen += len;
            return;

        case NGX_VOICEGW_WAV_DONE:
            return;

        case NGX_VOICEGW_WAV_SKIP:
            n = (w->skip < len) ? (size_t) w->skip : len;
            w->skip -= n;
            p += n;
            len -= n;

            if (w->skip == 0) {
                w->state = NGX_VOICEGW_WAV_CHUNK;
                w->need = 8;
            }

            break;

        default: /* the RIFF header, a chunk header, the fmt chunk */
            n = ngx_min(w->need - w->have, len);
            ngx_memcpy(w->window + w->have, p, n);
            w->have += n;
            p += n;
            len -= n;

            if (w->have == w->need) {
                w->have = 0;
                ngx_voicegw_wav_header(w);
            }

            break;
        }
    }
}


/* the window is full */

static void
ngx_voicegw_wav_header(ngx_voicegw_wav_t *w)
{
    u_char  *id;

    id = w->window;

    switch (w->state) {

    case NGX_VOICEGW_WAV_RIFF:

        if ((ngx_memcmp(id, "RIFF", 4) != 0 && ngx_memcmp(id, "RF64", 4) != 0)
            || ngx_memcmp(id + 8, "WAVE", 4) != 0)
        {
            w->status = NGX_VOICEGW_WAV_UNKNOWN;
            w->state = NGX_VOICEGW_WAV_DONE;
            return;
        }

        w->state = NGX_VOICEGW_WAV_CHUNK;
        w->need = 8;
        return;

    case NGX_VOICEGW_WAV_CHUNK:
        w->size = ngx_voicegw_wav_u32(id + 4);

        if (ngx_memcmp(id, "data", 4) == 0) {

            if (!w->fmt) {
                w->status = NGX_VOICEGW_WAV_UNKNOWN;
                w->state = NGX_VOICEGW_WAV_DONE;
                return;
            }

            w->data_size = w->size;
            w->status = NGX_VOICEGW_WAV_DATA;
            w->state = NGX_VOICEGW_WAV_AUDIO;
            return;
        }

        if (ngx_memcmp(id, "fmt ", 4) == 0) {

            if (w->size < 16) {
                w->status = NGX_VOICEGW_WAV_UNKNOWN;
                w->state = NGX_VOICEGW_WAV_DONE;
                return;
            }

            w->state = NGX_VOICEGW_WAV_FMT;
            w->need = ngx_min(w->size, sizeof(w->window));
            return;
        }

        w->skip = (uint64_t) w->size + (w->size & 1);
        break;

    default: /* NGX_VOICEGW_WAV_FMT */
        ngx_voicegw_wav_format(w);
        w->skip = (uint64_t) w->size - w->need + (w->size & 1);
        break;
    }

    if (w->skip) {
        w->state = NGX_VOICEGW_WAV_SKIP;

    } else {
        w->state = NGX_VOICEGW_WAV_CHUNK;
        w->need = 8;
    }
}


/*
 * WAVEFORMATEX: format, channels, rate, byte rate, block align, bits; and
 * for EXTENSIBLE (40 bytes): cbSize, valid bits, channel mask, SubFormat.
 */

static void
ngx_voicegw_wav_format(ngx_voicegw_wav_t *w)
{
    u_char  *f;

    f = w->window;

    w->fmt = 1;
    w->format = ngx_voicegw_wav_u16(f);
    w->channels = ngx_voicegw_wav_u16(f + 2);
    w->sample_rate = ngx_voicegw_wav_u32(f + 4);
    w->block_align = ngx_voicegw_wav_u16(f + 12);
    w->bits = ngx_voicegw_wav_u16(f + 14);

    if (w->format == NGX_VOICEGW_WAV_EXTENSIBLE && w->need >= 40
        && ngx_voicegw_wav_u16(f + 16) >= 22
        && ngx_memcmp(f + 26, ngx_voicegw_wav_guid, 14) == 0)
    {
        switch (ngx_voicegw_wav_u16(f + 24)) {

        case NGX_VOICEGW_WAV_PCM:
        case NGX_VOICEGW_WAV_FLOAT:
            w->format = ngx_voicegw_wav_u16(f + 24);
            break;

        default:
            break;
        }
    }
}


/* seconds, or -1 when the body is not a WAV of a format it can time */

double
ngx_voicegw_wav_duration(ngx_voicegw_wav_t *w)
{
    uint64_t  bytes;

    if (w->status != NGX_VOICEGW_WAV_DATA || w->sample_rate == 0
        || w->block_align == 0)
    {
        return -1;
    }

    switch (w->format) {

    case NGX_VOICEGW_WAV_PCM:
    case NGX_VOICEGW_WAV_FLOAT:
    case NGX_VOICEGW_WAV_ALAW:
    case NGX_VOICEGW_WAV_MULAW:
        break;

    default:
        return -1;
    }

    bytes = w->data_seen;

    if (w->data_size != 0 && w->data_size != 0xffffffff
        && w->data_size < bytes)
    {
        bytes = w->data_size;
    }

    return (double) bytes / ((double) w->sample_rate * w->block_align);
}
