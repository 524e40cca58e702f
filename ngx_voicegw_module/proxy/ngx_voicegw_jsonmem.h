
/*
 * ngx_voicegw_jsonmem.h
 *
 * yajl's allocator for the proxy's parsers (ngx_voicegw_jsonmem.c): give
 * &ngx_voicegw_jsonmem to yajl_alloc() on the event loop; the blocks it
 * keeps are given back at the process's exit.
 */


#ifndef _NGX_VOICEGW_JSONMEM_H_INCLUDED_
#define _NGX_VOICEGW_JSONMEM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <yajl/yajl_common.h>


extern yajl_alloc_funcs  ngx_voicegw_jsonmem;


void ngx_voicegw_jsonmem_release(void);


#endif /* _NGX_VOICEGW_JSONMEM_H_INCLUDED_ */
