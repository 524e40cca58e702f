
/*
 * ngx_voicegw_affinity.h
 *
 * KV-cache affinity: what a request would find cached on a worker.  A
 * conversation is reduced to a chain of 64-byte block hashes; a worker
 * remembers checkpoints of the chain of the last request it served.
 */


#ifndef _NGX_VOICEGW_AFFINITY_H_INCLUDED_
#define _NGX_VOICEGW_AFFINITY_H_INCLUDED_


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_json.h"


#define NGX_VOICEGW_BLOCK_SIZE      64

/* every block up to here is a checkpoint, then every 1.25x further */
#define NGX_VOICEGW_CKPT_DENSE      16
#define NGX_VOICEGW_CKPT_MAX        80

/* a queued ticket keeps the first ones and the last: it stays < 1 KiB */
#define NGX_VOICEGW_CKPT_TICKET     40


typedef struct {
    uint64_t                     hash;        /* chain hash through block */
    uint32_t                     block;       /* block index */
    uint32_t                     pad;
} ngx_voicegw_ckpt_t;


/*
 * The affinity of a request, or what a worker holds.  "key" is the hash
 * of cache_key=, "hash" the last chain hash of affinity=messages; zero
 * means none.  Checkpoints are kept at fixed block positions so that two
 * chains can be compared position by position.
 */

typedef struct {
    uint64_t                     key;
    uint64_t                     hash;
    uint32_t                     nblocks;
    uint32_t                     nckpt;
    ngx_voicegw_ckpt_t           ckpt[NGX_VOICEGW_CKPT_MAX];
} ngx_voicegw_affinity_t;


ngx_int_t ngx_voicegw_affinity_messages(ngx_pool_t *pool,
    ngx_voicegw_json_value_t *body, ngx_voicegw_affinity_t *aff);
uint64_t ngx_voicegw_affinity_key(u_char *data, size_t len);
uint32_t ngx_voicegw_affinity_match(ngx_voicegw_affinity_t *a,
    ngx_voicegw_affinity_t *b);
uint64_t ngx_voicegw_hash64(uint64_t seed, u_char *data, size_t len);


#endif /* _NGX_VOICEGW_AFFINITY_H_INCLUDED_ */
