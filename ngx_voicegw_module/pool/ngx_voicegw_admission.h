
/*
 * ngx_voicegw_admission.h
 *
 * The precontent-phase handler of "voicegw_task" locations.
 */


#ifndef _NGX_VOICEGW_ADMISSION_H_INCLUDED_
#define _NGX_VOICEGW_ADMISSION_H_INCLUDED_


#include "ngx_voicegw_module.h"


ngx_int_t ngx_voicegw_admission_init(ngx_conf_t *cf);


#endif /* _NGX_VOICEGW_ADMISSION_H_INCLUDED_ */
