
/*
 * t/support/parser_ops.c
 *
 * Owns the glue between a runner and the module's stream parsers: each
 * parser created, fed a piece, ended, and what it learned printed as
 * JSON; the parser driver of t/050 and the fuzz targets of fuzz/ both run
 * the parsers through these tables.  usage_dialect, usage_sse and
 * multipart_boundary are set by the runner before create.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdio.h>

#include "ngx_voicegw_usage.h"
#include "ngx_voicegw_reqscan.h"
#include "ngx_voicegw_wav.h"
#include "ngx_voicegw_multipart.h"
#include "parser_ops.h"


ngx_uint_t  usage_dialect;
ngx_uint_t  usage_sse;
ngx_str_t   multipart_boundary;


void
print_number(char **out, const char *name, double v, const char *sep)
{
    *out += sprintf(*out, "\"%s\":%.15g%s", name, v, sep);
}


void
print_string(char **out, const char *name, u_char *s, size_t len,
    const char *sep)
{
    size_t  i;

    *out += sprintf(*out, "\"%s\":\"", name);

    for (i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            *out += sprintf(*out, "\\%c", s[i]);

        } else if (s[i] < 0x20) {
            *out += sprintf(*out, "\\u%04x", s[i]);

        } else {
            *(*out)++ = s[i];
        }
    }

    *out += sprintf(*out, "\"%s", sep);
}


static void *
usage_create(ngx_pool_t *pool)
{
    return ngx_voicegw_usage_create(pool, usage_dialect, usage_sse);
}


static void
usage_feed(void *parser, u_char *p, size_t len)
{
    (void) ngx_voicegw_usage_feed(parser, p, len);
}


static void
usage_end(void *parser)
{
    ngx_voicegw_usage_end(parser);
}


static void
usage_print(void *parser, char *out)
{
    ngx_voicegw_units_t  *u;

    u = ngx_voicegw_usage_units(parser);

    *out++ = '{';
    print_number(&out, "input_tokens", u->input_tokens, ",");
    print_number(&out, "output_tokens", u->output_tokens, ",");
    print_number(&out, "cached_tokens", u->cached_tokens, ",");
    print_number(&out, "cache_write_tokens", u->cache_write_tokens, ",");
    print_number(&out, "seconds", u->seconds, ",");
    print_number(&out, "channels", u->channels, ",");
    print_number(&out, "usage_chunks", u->usage_chunks, "}");
}


static void *
request_create(ngx_pool_t *pool)
{
    return ngx_voicegw_reqscan_create(pool);
}


static void
request_feed(void *parser, u_char *p, size_t len)
{
    (void) ngx_voicegw_reqscan_feed(parser, p, len);
}


static void
request_end(void *parser)
{
    ngx_voicegw_reqscan_end(parser);
}


static void
request_print(void *parser, char *out)
{
    ngx_voicegw_request_info_t  *info;

    info = ngx_voicegw_reqscan_info(parser);

    *out++ = '{';

    if (info->model_len) {
        print_string(&out, "model", info->model, info->model_len, ",");
    }

    print_number(&out, "chars", info->chars, ",");
    print_number(&out, "text_fields", info->text_fields, ",");
    print_number(&out, "stream", info->stream, ",");
    print_number(&out, "include_usage", info->include_usage, ",");
    print_number(&out, "invalid", info->invalid, "}");
}


static void
wav_print_info(ngx_voicegw_wav_t *w, char **out, const char *sep)
{
    print_number(out, "status", w->status, ",");
    print_number(out, "format", w->format, ",");
    print_number(out, "channels", w->channels, ",");
    print_number(out, "sample_rate", w->sample_rate, ",");
    print_number(out, "block_align", w->block_align, ",");
    print_number(out, "data_size", w->data_size, ",");
    print_number(out, "data_seen", w->data_seen, ",");
    print_number(out, "duration", ngx_voicegw_wav_duration(w), sep);
}


static void *
wav_create(ngx_pool_t *pool)
{
    ngx_voicegw_wav_t  *w;

    w = ngx_palloc(pool, sizeof(ngx_voicegw_wav_t));
    if (w) {
        ngx_voicegw_wav_init(w);
    }

    return w;
}


static void
wav_feed(void *parser, u_char *p, size_t len)
{
    ngx_voicegw_wav_feed(parser, p, len);
}


static void
wav_end(void *parser)
{
}


static void
wav_print(void *parser, char *out)
{
    *out++ = '{';
    wav_print_info(parser, &out, "}");
}


static void *
multipart_create(ngx_pool_t *pool)
{
    return ngx_voicegw_multipart_create(pool, &multipart_boundary);
}


static void
multipart_feed(void *parser, u_char *p, size_t len)
{
    ngx_voicegw_multipart_feed(parser, p, len);
}


static void
multipart_end(void *parser)
{
    ngx_voicegw_multipart_end(parser);
}


static void
multipart_print(void *parser, char *out)
{
    ngx_voicegw_multipart_info_t  *info;

    info = ngx_voicegw_multipart_info(parser);

    *out++ = '{';

    if (info->model_len) {
        print_string(&out, "model", info->model, info->model_len, ",");
    }

    print_number(&out, "parts", info->parts, ",");
    print_number(&out, "file", info->file, ",");
    print_number(&out, "file_bytes", info->file_bytes, ",");

    if (info->file_data) {
        print_number(&out, "file_start", info->file_start, ",");
        print_string(&out, "file_type", info->file_type,
                     info->file_type_len, ",");
    }

    print_number(&out, "complete", info->complete, ",");
    print_number(&out, "invalid", info->invalid, ",");
    out += sprintf(out, "\"wav\":{");
    wav_print_info(&info->wav, &out, "}}");
}


driver_ops_t  usage_ops = {
    usage_create, usage_feed, usage_end, usage_print
};

driver_ops_t  request_ops = {
    request_create, request_feed, request_end, request_print
};

driver_ops_t  wav_ops = {
    wav_create, wav_feed, wav_end, wav_print
};

driver_ops_t  multipart_ops = {
    multipart_create, multipart_feed, multipart_end, multipart_print
};
