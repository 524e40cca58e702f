
/*
 * t/support/ngx_standin_regex.c
 *
 * Owns the stand-ins for nginx's regex API over PCRE2
 * (ngx_regex_compile(), ngx_regex_exec()), for the fuzz targets of fuzz/
 * whose parsers compile a pattern of the input (the price catalogue's
 * "~regex" families).  nginx-dev ships headers only: these are written
 * here, to the contract ngx_regex.h gives (an ngx_regex_t is a
 * pcre2_code; a pattern that does not compile gives NGX_ERROR and its
 * reason in rc->err; a match gives 0 or more, no match
 * NGX_REGEX_NO_MATCHED).  The code is freed with the pool.  A match's
 * work is capped, which nginx leaves to PCRE2's default, so that a
 * pattern of the input that backtracks without end cannot stall a
 * fuzzer.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_standin.h"


#define NGX_STANDIN_MATCH_LIMIT  100000


static void
ngx_standin_regex_free(void *data)
{
    pcre2_code_free(data);
}


ngx_int_t
ngx_regex_compile(ngx_regex_compile_t *rc)
{
    int                  errcode;
    u_char               errstr[128];
    PCRE2_SIZE           erroff;
    pcre2_code          *re;
    ngx_pool_cleanup_t  *cln;

    re = pcre2_compile(rc->pattern.data, rc->pattern.len,
                       (rc->options & NGX_REGEX_CASELESS) ? PCRE2_CASELESS
                                                          : 0,
                       &errcode, &erroff, NULL);

    if (re == NULL) {
        (void) pcre2_get_error_message(errcode, errstr, sizeof(errstr));

        rc->err.len = ngx_snprintf(rc->err.data, rc->err.len,
                                   "pcre2_compile() failed: %s in \"%V\" "
                                   "at offset %uz", errstr, &rc->pattern,
                                   (size_t) erroff)
                      - rc->err.data;

        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(rc->pool, 0);

    if (cln == NULL) {
        pcre2_code_free(re);
        return NGX_ERROR;
    }

    cln->handler = ngx_standin_regex_free;
    cln->data = re;

    rc->regex = re;
    (void) pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &rc->captures);
    (void) pcre2_pattern_info(re, PCRE2_INFO_NAMECOUNT, &rc->named_captures);

    return NGX_OK;
}


ngx_int_t
ngx_regex_exec(ngx_regex_t *re, ngx_str_t *s, int *captures, ngx_uint_t size)
{
    int                    rc;
    size_t                 i, n;
    PCRE2_SIZE            *ov;
    pcre2_match_data      *md;
    pcre2_match_context   *mc;

    md = pcre2_match_data_create(size / 3 ? size / 3 : 1, NULL);
    mc = pcre2_match_context_create(NULL);

    if (md == NULL || mc == NULL) {
        rc = PCRE2_ERROR_NOMEMORY;
        goto done;
    }

    (void) pcre2_set_match_limit(mc, NGX_STANDIN_MATCH_LIMIT);

    rc = pcre2_match(re, s->data, s->len, 0, 0, md, mc);

    if (rc > 0 && size) {
        n = ngx_min((size_t) rc, size / 3);
        ov = pcre2_get_ovector_pointer(md);

        for (i = 0; i < 2 * n; i++) {
            captures[i] = (int) ov[i];
        }
    }

done:

    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);

    return rc;
}
