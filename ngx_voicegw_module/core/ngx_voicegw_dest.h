
/*
 * ngx_voicegw_dest.h
 *
 * Where provider calls and provider tests may go: the destination policy
 * of "voicegw_provider_destinations".  An address is of one kind (public,
 * loopback, private, link-local, reserved); the policy allows some kinds
 * and some ranges (CIDR).  Without the directive only public addresses
 * are allowed: a base_url that is, or resolves to, a loopback, private or
 * link-local address is refused before anything is sent to it.
 */


#ifndef _NGX_VOICEGW_DEST_H_INCLUDED_
#define _NGX_VOICEGW_DEST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* the kinds of addresses, as bits of a policy */
#define NGX_VOICEGW_DEST_PUBLIC      0x01
#define NGX_VOICEGW_DEST_LOOPBACK    0x02
#define NGX_VOICEGW_DEST_PRIVATE     0x04
#define NGX_VOICEGW_DEST_LINK_LOCAL  0x08
#define NGX_VOICEGW_DEST_RESERVED    0x10   /* unspecified, multicast, ... */
#define NGX_VOICEGW_DEST_ANY         0x1f


typedef struct {
    ngx_uint_t                   kinds;      /* allowed, any address */
    ngx_array_t                 *ranges;     /* ngx_cidr_t, allowed */
} ngx_voicegw_dest_t;


char *ngx_voicegw_dest_parse(ngx_conf_t *cf, ngx_voicegw_dest_t *d);
ngx_uint_t ngx_voicegw_dest_kind(struct sockaddr *sa);
const char *ngx_voicegw_dest_kind_name(ngx_uint_t kind);
ngx_int_t ngx_voicegw_dest_allowed(ngx_voicegw_dest_t *d,
    struct sockaddr *sa);
ngx_int_t ngx_voicegw_dest_host(ngx_voicegw_dest_t *d, ngx_pool_t *pool,
    ngx_str_t *host, const char **why);


#endif /* _NGX_VOICEGW_DEST_H_INCLUDED_ */
