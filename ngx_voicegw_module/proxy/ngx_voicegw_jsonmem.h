
/*
 * ngx_voicegw_jsonmem.h
 *
 * yajl's allocator for the proxy's parsers (ngx_voicegw_jsonmem.c): give
 * &ngx_voicegw_jsonmem to yajl_alloc() on the event loop.
 */


#ifndef _NGX_VOICEGW_JSONMEM_H_INCLUDED_
#define _NGX_VOICEGW_JSONMEM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <yajl/yajl_common.h>


extern yajl_alloc_funcs  ngx_voicegw_jsonmem;


#endif /* _NGX_VOICEGW_JSONMEM_H_INCLUDED_ */
