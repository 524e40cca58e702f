
/*
 * ngx_voicegw_api_books.h
 *
 * The families of /v1/metrics kept by the recorder (ngx_voicegw_api_books.c).
 */


#ifndef _NGX_VOICEGW_API_BOOKS_H_INCLUDED_
#define _NGX_VOICEGW_API_BOOKS_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_prom.h"


void ngx_voicegw_books_metrics(ngx_voicegw_prom_t *t, ngx_pool_t *pool,
    ngx_voicegw_recorder_t *rec);


#endif /* _NGX_VOICEGW_API_BOOKS_H_INCLUDED_ */
