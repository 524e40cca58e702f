
/*
 * ngx_voicegw_enum.c
 *
 * Owns the enumerations of directive and API values as tables
 * (ngx_conf_enum_t, as nginx's own directives have them): a value by its
 * name, a name by its value, and the tables every part shares.  Nothing
 * of nginx's configuration code is needed here, so that the parsers that
 * read such values also build outside nginx (fuzz/).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_voicegw_conf.h"


/* "true" and "false", as JSON and query strings say them */

ngx_conf_enum_t  ngx_voicegw_booleans[] = {
    { ngx_string("true"), 1 },
    { ngx_string("false"), 0 },
    { ngx_null_string, 0 }
};


/* "on" and "off", as nginx.conf says them */

ngx_conf_enum_t  ngx_voicegw_switches[] = {
    { ngx_string("on"), 1 },
    { ngx_string("off"), 0 },
    { ngx_null_string, 0 }
};


/* a name of an enumeration table (ending with ngx_null_string) */

ngx_int_t
ngx_voicegw_enum_value(ngx_conf_enum_t *e, ngx_str_t *name,
    ngx_uint_t *value)
{
    for ( /* void */ ; e->name.len; e++) {
        if (e->name.len == name->len
            && ngx_strncmp(e->name.data, name->data, name->len) == 0)
        {
            *value = e->value;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_voicegw_enum_value_caseless(ngx_conf_enum_t *e, ngx_str_t *name,
    ngx_uint_t *value)
{
    for ( /* void */ ; e->name.len; e++) {
        if (e->name.len == name->len
            && ngx_strncasecmp(e->name.data, name->data, name->len) == 0)
        {
            *value = e->value;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


ngx_str_t *
ngx_voicegw_enum_name(ngx_conf_enum_t *e, ngx_uint_t value)
{
    for ( /* void */ ; e->name.len; e++) {
        if (e->value == value) {
            return &e->name;
        }
    }

    return NULL;
}
