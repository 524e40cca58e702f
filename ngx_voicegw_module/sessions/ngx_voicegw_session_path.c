
/*
 * ngx_voicegw_session_path.c
 *
 * Owns session ids and the paths below the sessions' folder: the rule
 * for an id, a session's folder and files ("PATH/{id}/name"), and what
 * a client may name below a session's folder.  Ids and relative paths
 * come from request URIs: these checks are what keeps a request inside
 * the folder.  Nothing here touches a file or a request, so that it also
 * builds outside nginx (fuzz/).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_sessions.h"


/* [A-Za-z0-9_-]{1,128}, as the original gateway's routes */

ngx_int_t
ngx_voicegw_session_id_valid(ngx_str_t *id)
{
    u_char      c;
    ngx_uint_t  i;

    if (id->len == 0 || id->len > NGX_VOICEGW_SESSION_ID_MAX) {
        return 0;
    }

    for (i = 0; i < id->len; i++) {
        c = id->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/* "PATH/{id}/name", NUL-terminated; name may be NULL for the folder */

u_char *
ngx_voicegw_session_file(ngx_pool_t *pool, ngx_voicegw_sessions_t *sessions,
    ngx_str_t *id, const char *name)
{
    u_char  *p;
    size_t   len;

    len = sessions->path.len + 1 + id->len + 2
          + (name ? ngx_strlen(name) : 0);

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NULL;
    }

    if (name) {
        ngx_sprintf(p, "%V/%V/%s%Z", &sessions->path, id, name);

    } else {
        ngx_sprintf(p, "%V/%V%Z", &sessions->path, id);
    }

    return p;
}


/*
 * A relative path, as nginx decoded and normalised it (%2e%2e and %2f
 * are decoded before the route matches): no "..", no leading or doubled
 * "/", no trailing "/" (a folder), no control characters, no "\".
 */

ngx_int_t
ngx_voicegw_session_rel_valid(ngx_str_t *rel)
{
    u_char  *p, *last;

    last = rel->data + rel->len;

    if (rel->len == 0
        || ngx_strlcasestrn(rel->data, last, (u_char *) "..", 1) != NULL
        || rel->data[0] == '/' || last[-1] == '/'
        || ngx_strlcasestrn(rel->data, last, (u_char *) "//", 1) != NULL)
    {
        return 0;
    }

    for (p = rel->data; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '\\') {
            return 0;
        }
    }

    return 1;
}
