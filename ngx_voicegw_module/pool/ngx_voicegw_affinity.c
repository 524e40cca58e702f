
/*
 * ngx_voicegw_affinity.c
 *
 * Owns KV-cache affinity: turning a chat body into a chain of block
 * hashes, and comparing two chains.
 *
 * The canonical text of a conversation is, for each message in order, its
 * role, a 0x1F, its content (a string as is, anything else as compact
 * JSON) and a 0x1E, padded to a multiple of 64 bytes.  It is cut into
 * 64-byte blocks; the hash of block i covers the hash of block i - 1, so
 * equal hashes at block i mean equal text up to the end of block i.  That
 * makes "longest matched prefix" the last position where two chains
 * agree.  The padding makes every message end a block: a follow-up turn,
 * which repeats the previous turn's messages and adds the answer and a new
 * question, then shares every block of the previous turn, even when the
 * conversation is shorter than one block.
 *
 * A chain is not kept whole: only checkpoints at fixed block positions
 * (every block up to 16, then every 1.25x, plus the last block).  A worker
 * keeps up to 80 of them (conversations of many megabytes), a queued
 * ticket its first 39 and its last (about 200 KB of text), so that a
 * ticket fits in 1 KiB of shared memory however long the conversation.
 * Beyond 16 blocks (1 KiB of text) the matched length is therefore
 * rounded down to a checkpoint, which is plenty to tell workers apart.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_affinity.h"


typedef struct {
    ngx_voicegw_affinity_t      *aff;
    uint64_t                     hash;
    uint32_t                     next_ckpt;
    size_t                       fill;
    u_char                       block[NGX_VOICEGW_BLOCK_SIZE];
} ngx_voicegw_chain_t;


static void ngx_voicegw_chain_add(ngx_voicegw_chain_t *ch, u_char *p,
    size_t len);
static void ngx_voicegw_chain_block(ngx_voicegw_chain_t *ch);
static void ngx_voicegw_chain_finish(ngx_voicegw_chain_t *ch);
static ngx_int_t ngx_voicegw_chain_value(ngx_voicegw_chain_t *ch,
    ngx_voicegw_json_value_t *v, ngx_uint_t depth);
static void ngx_voicegw_chain_string(ngx_voicegw_chain_t *ch, ngx_str_t *s);


/* a small, fast 64-bit hash (multiply-xorshift); never returns 0 */

uint64_t
ngx_voicegw_hash64(uint64_t seed, u_char *p, size_t len)
{
    uint64_t  h, k;

    h = seed ^ ((uint64_t) len * 0x9e3779b97f4a7c15ULL);

    while (len >= 8) {
        ngx_memcpy(&k, p, 8);
        k *= 0xbf58476d1ce4e5b9ULL;
        k ^= k >> 31;
        h = (h ^ k) * 0x94d049bb133111ebULL;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }

    if (len) {
        k = 0;
        ngx_memcpy(&k, p, len);
        k *= 0xbf58476d1ce4e5b9ULL;
        k ^= k >> 31;
        h = (h ^ k) * 0x94d049bb133111ebULL;
    }

    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;

    return h ? h : 1;
}


uint64_t
ngx_voicegw_affinity_key(u_char *data, size_t len)
{
    return ngx_voicegw_hash64(0x6b65792d61666669ULL, data, len);
}


/*
 * The chain of a chat body's "messages".  NGX_DECLINED when the body has
 * no usable conversation (then the request simply has no affinity).
 */

ngx_int_t
ngx_voicegw_affinity_messages(ngx_pool_t *pool, ngx_voicegw_json_value_t *body,
    ngx_voicegw_affinity_t *aff)
{
    ngx_uint_t                 i;
    ngx_str_t                  empty = ngx_null_string;
    ngx_voicegw_chain_t        ch;
    ngx_voicegw_json_value_t  *messages, *m, *role, *content;

    ngx_memzero(aff, sizeof(ngx_voicegw_affinity_t));

    messages = ngx_voicegw_json_get(body, "messages");

    if (messages == NULL || messages->type != NGX_VOICEGW_JSON_ARRAY
        || messages->n == 0)
    {
        return NGX_DECLINED;
    }

    ngx_memzero(&ch, sizeof(ngx_voicegw_chain_t));
    ch.aff = aff;

    for (i = 0; i < messages->n; i++) {
        m = messages->items[i];

        role = ngx_voicegw_json_get(m, "role");
        content = ngx_voicegw_json_get(m, "content");

        if (role != NULL && role->type == NGX_VOICEGW_JSON_STRING) {
            ngx_voicegw_chain_add(&ch, role->str.data, role->str.len);
        }

        ngx_voicegw_chain_add(&ch, (u_char *) "\x1f", 1);

        if (content == NULL) {
            ngx_voicegw_chain_string(&ch, &empty);

        } else if (content->type == NGX_VOICEGW_JSON_STRING) {
            ngx_voicegw_chain_add(&ch, content->str.data, content->str.len);

        } else if (ngx_voicegw_chain_value(&ch, content, 0) != NGX_OK) {
            return NGX_DECLINED;
        }

        ngx_voicegw_chain_add(&ch, (u_char *) "\x1e", 1);

        /* each message ends its last block (as if padded to 64 bytes) */

        if (ch.fill) {
            ngx_voicegw_chain_block(&ch);
        }
    }

    ngx_voicegw_chain_finish(&ch);

    return NGX_OK;
}


static void
ngx_voicegw_chain_add(ngx_voicegw_chain_t *ch, u_char *p, size_t len)
{
    size_t  n;

    while (len) {
        n = ngx_min(len, NGX_VOICEGW_BLOCK_SIZE - ch->fill);
        ngx_memcpy(ch->block + ch->fill, p, n);
        ch->fill += n;
        p += n;
        len -= n;

        if (ch->fill == NGX_VOICEGW_BLOCK_SIZE) {
            ngx_voicegw_chain_block(ch);
        }
    }
}


static void
ngx_voicegw_chain_block(ngx_voicegw_chain_t *ch)
{
    uint32_t                 b;
    ngx_voicegw_affinity_t  *aff;

    aff = ch->aff;

    ch->hash = ngx_voicegw_hash64(ch->hash, ch->block, ch->fill);
    ch->fill = 0;

    b = aff->nblocks++;
    aff->hash = ch->hash;

    /* fixed positions: 0..31, then each 1.25x the previous one */

    if (b == ch->next_ckpt && aff->nckpt < NGX_VOICEGW_CKPT_MAX - 1) {
        aff->ckpt[aff->nckpt].block = b;
        aff->ckpt[aff->nckpt].hash = ch->hash;
        aff->nckpt++;

        ch->next_ckpt = (b < NGX_VOICEGW_CKPT_DENSE - 1) ? b + 1
                                                         : b + b / 4 + 1;
    }
}


/* the last block, partial or not, is always a checkpoint */

static void
ngx_voicegw_chain_finish(ngx_voicegw_chain_t *ch)
{
    ngx_voicegw_affinity_t  *aff;

    aff = ch->aff;

    if (ch->fill) {
        ngx_voicegw_chain_block(ch);
    }

    if (aff->nblocks == 0) {
        return;
    }

    if (aff->nckpt == 0
        || aff->ckpt[aff->nckpt - 1].block != aff->nblocks - 1)
    {
        aff->ckpt[aff->nckpt].block = aff->nblocks - 1;
        aff->ckpt[aff->nckpt].hash = aff->hash;
        aff->nckpt++;
    }
}


/* non-string content: compact JSON, keys in the order they came */

static ngx_int_t
ngx_voicegw_chain_value(ngx_voicegw_chain_t *ch, ngx_voicegw_json_value_t *v,
    ngx_uint_t depth)
{
    ngx_uint_t  i;

    if (depth > NGX_VOICEGW_JSON_MAX_DEPTH) {
        return NGX_ERROR;
    }

    switch (v->type) {

    case NGX_VOICEGW_JSON_NULL:
        ngx_voicegw_chain_add(ch, (u_char *) "null", 4);
        break;

    case NGX_VOICEGW_JSON_BOOL:
        if (v->boolean) {
            ngx_voicegw_chain_add(ch, (u_char *) "true", 4);

        } else {
            ngx_voicegw_chain_add(ch, (u_char *) "false", 5);
        }

        break;

    case NGX_VOICEGW_JSON_NUMBER:
        ngx_voicegw_chain_add(ch, v->str.data, v->str.len);
        break;

    case NGX_VOICEGW_JSON_STRING:
        ngx_voicegw_chain_string(ch, &v->str);
        break;

    case NGX_VOICEGW_JSON_ARRAY:
        ngx_voicegw_chain_add(ch, (u_char *) "[", 1);

        for (i = 0; i < v->n; i++) {
            if (i) {
                ngx_voicegw_chain_add(ch, (u_char *) ",", 1);
            }

            if (ngx_voicegw_chain_value(ch, v->items[i], depth + 1)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        ngx_voicegw_chain_add(ch, (u_char *) "]", 1);
        break;

    case NGX_VOICEGW_JSON_OBJECT:
        ngx_voicegw_chain_add(ch, (u_char *) "{", 1);

        for (i = 0; i < v->n; i++) {
            if (i) {
                ngx_voicegw_chain_add(ch, (u_char *) ",", 1);
            }

            ngx_voicegw_chain_string(ch, &v->keys[i]);
            ngx_voicegw_chain_add(ch, (u_char *) ":", 1);

            if (ngx_voicegw_chain_value(ch, v->items[i], depth + 1)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        ngx_voicegw_chain_add(ch, (u_char *) "}", 1);
        break;
    }

    return NGX_OK;
}


/* a JSON string, quoted; the exact escaping only has to be stable */

static void
ngx_voicegw_chain_string(ngx_voicegw_chain_t *ch, ngx_str_t *s)
{
    u_char  *p, *last, *start;

    ngx_voicegw_chain_add(ch, (u_char *) "\"", 1);

    start = s->data;
    last = s->data + s->len;

    for (p = start; p < last; p++) {
        if (*p == '"' || *p == '\\') {
            ngx_voicegw_chain_add(ch, start, p - start);
            ngx_voicegw_chain_add(ch, (u_char *) "\\", 1);
            start = p;
        }
    }

    ngx_voicegw_chain_add(ch, start, last - start);
    ngx_voicegw_chain_add(ch, (u_char *) "\"", 1);
}


/*
 * Length, in blocks, of the prefix two chains share: the last checkpoint
 * position both have with equal hashes.
 */

uint32_t
ngx_voicegw_affinity_match(ngx_voicegw_affinity_t *a,
    ngx_voicegw_affinity_t *b)
{
    uint32_t  i, j, best;

    best = 0;
    i = 0;
    j = 0;

    while (i < a->nckpt && j < b->nckpt) {

        if (a->ckpt[i].block < b->ckpt[j].block) {
            i++;
            continue;
        }

        if (a->ckpt[i].block > b->ckpt[j].block) {
            j++;
            continue;
        }

        if (a->ckpt[i].hash != b->ckpt[j].hash) {
            break;
        }

        best = a->ckpt[i].block + 1;
        i++;
        j++;
    }

    return best;
}
