
/*
 * ngx_voicegw_task_books.h
 *
 * Worker-pool tasks on the books: the log-phase handler that records
 * each one (accounting/ngx_voicegw_record.h).
 */


#ifndef _NGX_VOICEGW_TASK_BOOKS_H_INCLUDED_
#define _NGX_VOICEGW_TASK_BOOKS_H_INCLUDED_


#include "ngx_voicegw_module.h"


ngx_int_t ngx_voicegw_task_books_init(ngx_conf_t *cf);


#endif /* _NGX_VOICEGW_TASK_BOOKS_H_INCLUDED_ */
