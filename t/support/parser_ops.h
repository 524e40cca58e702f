
/*
 * t/support/parser_ops.h
 *
 * The stream parsers as a runner sees them (t/support/parser_ops.c): the
 * parser driver of t/050-parsers.t and the fuzz targets of fuzz/.
 */


#ifndef _PARSER_OPS_H_INCLUDED_
#define _PARSER_OPS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define DRIVER_OUT      4096     /* the longest line print writes */


typedef struct {
    void     *(*create)(ngx_pool_t *pool);
    void      (*feed)(void *parser, u_char *p, size_t len);
    void      (*end)(void *parser);
    void      (*print)(void *parser, char *out);
} driver_ops_t;


extern ngx_uint_t    usage_dialect;
extern ngx_uint_t    usage_sse;
extern ngx_str_t     multipart_boundary;

extern driver_ops_t  usage_ops;
extern driver_ops_t  request_ops;
extern driver_ops_t  wav_ops;
extern driver_ops_t  multipart_ops;

void print_number(char **out, const char *name, double v, const char *sep);
void print_string(char **out, const char *name, u_char *s, size_t len,
    const char *sep);


#endif /* _PARSER_OPS_H_INCLUDED_ */
