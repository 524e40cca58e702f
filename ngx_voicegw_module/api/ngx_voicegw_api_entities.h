
/*
 * ngx_voicegw_api_entities.h
 *
 * What the handlers of providers, models and projects share: the audit
 * record of a write, the "?confirm=" of a delete, and the delete itself,
 * the same for every entity type.
 */


#ifndef _NGX_VOICEGW_API_ENTITIES_H_INCLUDED_
#define _NGX_VOICEGW_API_ENTITIES_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_api.h"


ngx_int_t ngx_voicegw_api_changes(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_str_t **changes);
ngx_int_t ngx_voicegw_api_audit(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, ngx_voicegw_sql_batch_t *b,
    const ngx_voicegw_entity_t *e, ngx_str_t *id, const char *action);
ngx_str_t *ngx_voicegw_api_opt_str(ngx_voicegw_json_value_t *v);
ngx_int_t ngx_voicegw_api_entity_delete(ngx_http_request_t *r,
    ngx_voicegw_api_ctx_t *ctx, const ngx_voicegw_entity_t *e);
ngx_int_t ngx_voicegw_api_read_only(ngx_http_request_t *r,
    const ngx_voicegw_entity_t *e, ngx_str_t *id);


#endif /* _NGX_VOICEGW_API_ENTITIES_H_INCLUDED_ */
