
/*
 * ngx_voicegw_catalog.h
 *
 * The price catalogue ("voicegw_price_catalog FILE | off;"): default
 * prices per model or model family and provider type, read from a data
 * file (conf/voicegw-prices.tsv is shipped) while nginx reads its
 * configuration, and the fallback of a call whose model nginx.conf and
 * the API do not price.  It lives in the configuration's pool: a reload
 * reads the file again, old workers keep the catalogue they had.
 */


#ifndef _NGX_VOICEGW_CATALOG_H_INCLUDED_
#define _NGX_VOICEGW_CATALOG_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_entity_sql.h"


/*
 * The prices of a row: those of a model (NGX_VOICEGW_PRICE_MINUTE, _INPUT,
 * _OUTPUT, _CHARACTER, at the same places), then the price of 1k cached
 * input tokens (cache reads), which models of nginx.conf and the API do
 * not have.
 */
#define NGX_VOICEGW_PRICE_CACHED      NGX_VOICEGW_NPRICES
#define NGX_VOICEGW_CATALOG_NPRICES   (NGX_VOICEGW_NPRICES + 1)


typedef struct {
    ngx_uint_t                   type;        /* provider type, index */
    ngx_str_t                    model;       /* an id, or "~regex" */
#if (NGX_PCRE)
    ngx_regex_t                 *regex;       /* NULL: an exact id */
#endif
    double                       price[NGX_VOICEGW_CATALOG_NPRICES];
    ngx_uint_t                   priced;      /* bit k: price[k] is set */
    ngx_str_t                    source;
    ngx_str_t                    date;        /* YYYY-MM-DD */
    ngx_uint_t                   line;        /* in the file */
} ngx_voicegw_catalog_row_t;


char *ngx_voicegw_catalog_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * The row of a provider type ("openai", ...) that prices a model: the row
 * of that exact id, else the first family whose regex matches, in file
 * order; NULL when none does (or cat is NULL, or the model is empty).
 */
const ngx_voicegw_catalog_row_t *ngx_voicegw_catalog_find(
    ngx_voicegw_catalog_t *cat, const char *type, ngx_str_t *model);


#endif /* _NGX_VOICEGW_CATALOG_H_INCLUDED_ */
