
/*
 * ngx_voicegw_json.h
 *
 * JSON in and out, on yajl: a generator that writes straight into a chain
 * of nginx buffers (ngx_voicegw_json_out.c, with the chain writer itself),
 * and a parser that turns a request body into a small tree in pool
 * memory, refusing what is too deep, not a number or not Unicode
 * (ngx_voicegw_json_in.c).
 */


#ifndef _NGX_VOICEGW_JSON_H_INCLUDED_
#define _NGX_VOICEGW_JSON_H_INCLUDED_


#include "ngx_voicegw_module.h"

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>


#define NGX_VOICEGW_JSON_MAX_DEPTH  64


/* bytes appended to a chain of buffers from a pool */

typedef struct {
    ngx_pool_t                  *pool;
    ngx_chain_t                 *out;
    ngx_chain_t                **last;
    ngx_buf_t                   *buf;
    size_t                       size;
    ngx_uint_t                   failed;
} ngx_voicegw_out_t;


typedef struct {
    yajl_gen                     gen;
    ngx_pool_t                  *pool;
    ngx_voicegw_out_t            out;
} ngx_voicegw_json_t;


typedef enum {
    NGX_VOICEGW_JSON_NULL = 0,
    NGX_VOICEGW_JSON_BOOL,
    NGX_VOICEGW_JSON_NUMBER,
    NGX_VOICEGW_JSON_STRING,
    NGX_VOICEGW_JSON_ARRAY,
    NGX_VOICEGW_JSON_OBJECT
} ngx_voicegw_json_type_e;


typedef struct ngx_voicegw_json_value_s  ngx_voicegw_json_value_t;

struct ngx_voicegw_json_value_s {
    ngx_voicegw_json_type_e      type;

    unsigned                     boolean:1;
    unsigned                     integer:1;   /* fits int64, no fraction */

    int64_t                      i;
    double                       d;

    /* a string's bytes (may hold NULs), or a number as written */
    ngx_str_t                    str;

    /* arrays and objects; keys only for objects */
    ngx_uint_t                   n;
    ngx_voicegw_json_value_t   **items;
    ngx_str_t                   *keys;
};


void ngx_voicegw_out_init(ngx_voicegw_out_t *o, ngx_pool_t *pool);
void ngx_voicegw_out_write(ngx_voicegw_out_t *o, const void *data,
    size_t len);
void ngx_voicegw_out_cstr(ngx_voicegw_out_t *o, const char *s);
ngx_chain_t *ngx_voicegw_out_finish(ngx_voicegw_out_t *o, size_t *size);

ngx_voicegw_json_t *ngx_voicegw_json_create(ngx_pool_t *pool);
ngx_chain_t *ngx_voicegw_json_finish(ngx_voicegw_json_t *j, size_t *size);

void ngx_voicegw_json_map_open(ngx_voicegw_json_t *j);
void ngx_voicegw_json_map_close(ngx_voicegw_json_t *j);
void ngx_voicegw_json_array_open(ngx_voicegw_json_t *j);
void ngx_voicegw_json_array_close(ngx_voicegw_json_t *j);
void ngx_voicegw_json_key(ngx_voicegw_json_t *j, const char *key);
void ngx_voicegw_json_str(ngx_voicegw_json_t *j, ngx_str_t *s);
void ngx_voicegw_json_strn(ngx_voicegw_json_t *j, u_char *data, size_t len);
void ngx_voicegw_json_cstr(ngx_voicegw_json_t *j, const char *s);
void ngx_voicegw_json_int(ngx_voicegw_json_t *j, int64_t n);
void ngx_voicegw_json_double(ngx_voicegw_json_t *j, double d);
void ngx_voicegw_json_fixed(ngx_voicegw_json_t *j, double d,
    ngx_uint_t decimals);
void ngx_voicegw_json_bool(ngx_voicegw_json_t *j, ngx_uint_t b);
void ngx_voicegw_json_null(ngx_voicegw_json_t *j);
void ngx_voicegw_json_number(ngx_voicegw_json_t *j, ngx_str_t *n);
void ngx_voicegw_json_time(ngx_voicegw_json_t *j, uint64_t msec);
void ngx_voicegw_json_hex(ngx_voicegw_json_t *j, const char *prefix,
    uint64_t n);

void ngx_voicegw_json_value(ngx_voicegw_json_t *j, ngx_voicegw_json_value_t *v,
    const char *redact);
ngx_int_t ngx_voicegw_json_string(ngx_voicegw_json_t *j, ngx_pool_t *pool,
    ngx_str_t *out);

ngx_int_t ngx_voicegw_json_parse(ngx_pool_t *pool, u_char *data, size_t len,
    ngx_voicegw_json_value_t **root, u_char *err, size_t errlen);
ngx_voicegw_json_value_t *ngx_voicegw_json_get(ngx_voicegw_json_value_t *obj,
    const char *key);
const char *ngx_voicegw_json_type_name(ngx_voicegw_json_value_t *v);

size_t ngx_voicegw_utf8_len(u_char *p, u_char *last);
ngx_uint_t ngx_voicegw_utf8_valid(u_char *p, size_t len);


#endif /* _NGX_VOICEGW_JSON_H_INCLUDED_ */
