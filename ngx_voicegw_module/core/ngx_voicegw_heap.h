
/*
 * ngx_voicegw_heap.h
 *
 * How the gateway's processes ask glibc to keep their heap (see the .c).
 */


#ifndef _NGX_VOICEGW_HEAP_H_INCLUDED_
#define _NGX_VOICEGW_HEAP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* the free top of the heap glibc keeps rather than give back */
#define NGX_VOICEGW_HEAP_TRIM_THRESHOLD  (4 * 1024 * 1024)


void ngx_voicegw_heap_conf(ngx_conf_t *cf);


#endif /* _NGX_VOICEGW_HEAP_H_INCLUDED_ */
