
/*
 * ngx_voicegw_crc32.h
 *
 * Owns the CRC-32 of bulk data, the one ZIP archives carry (zlib's
 * crc32(), polynomial 0xedb88320): ngx_voicegw_crc32(crc, p, len) gives
 * what crc32(crc, p, len) gives, faster where the CPU multiplies without
 * carries (ngx_voicegw_crc32.c).
 */


#ifndef _NGX_VOICEGW_CRC32_H_INCLUDED_
#define _NGX_VOICEGW_CRC32_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


uint32_t ngx_voicegw_crc32(uint32_t crc, const u_char *p, size_t len);


#endif /* _NGX_VOICEGW_CRC32_H_INCLUDED_ */
