
/*
 * ngx_voicegw_jsonmem.c
 *
 * Owns the memory of the proxy's yajl parsers (ngx_voicegw_jsonfeed.c):
 * blocks that the process keeps, by size class, for the next parse.
 *
 * With malloc() a parse cost half a dozen heap operations (an SSE stream,
 * parsed an event at a time, a thousand); taken from the request's pool
 * instead, they added 4.5 KB to each call's pool.  The lists belong to
 * the process's event loop, the only thread that parses; a new process
 * starts with none, and what they hold is at most
 * NGX_VOICEGW_JSONMEM_KEEP blocks a class.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_voicegw_jsonmem.h"


/*
 * Under AddressSanitizer (t/050's driver, the fuzzers) a block on a free
 * list, and the part of a block beyond what yajl asked for, are poisoned:
 * a read after yajl freed it, or past its size, is still caught.
 */

#if defined(__SANITIZE_ADDRESS__)
#define NGX_VOICEGW_JSONMEM_ASAN  1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NGX_VOICEGW_JSONMEM_ASAN  1
#endif
#endif

#if (NGX_VOICEGW_JSONMEM_ASAN)
#include <sanitizer/asan_interface.h>
#define ngx_voicegw_jsonmem_poison(p, n)    ASAN_POISON_MEMORY_REGION(p, n)
#define ngx_voicegw_jsonmem_unpoison(p, n)  ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define ngx_voicegw_jsonmem_poison(p, n)
#define ngx_voicegw_jsonmem_unpoison(p, n)
#endif


/* yajl's memory: size classes of 64 << k bytes, k < CLASSES */
#define NGX_VOICEGW_JSONMEM_SMALLEST   64
#define NGX_VOICEGW_JSONMEM_CLASSES    7
#define NGX_VOICEGW_JSONMEM_KEEP       32     /* free blocks kept a class */


typedef struct ngx_voicegw_jsonmem_block_s  ngx_voicegw_jsonmem_block_t;

struct ngx_voicegw_jsonmem_block_s {
    ngx_voicegw_jsonmem_block_t  *next;       /* when free */
    size_t                        size;       /* bytes after the header */
    size_t                        asked;      /* of them, yajl's */
    ngx_uint_t                    class;      /* CLASSES: none */
};


static void *ngx_voicegw_jsonmem_malloc(void *ctx, size_t size);
static void *ngx_voicegw_jsonmem_realloc(void *ctx, void *ptr, size_t size);
static void ngx_voicegw_jsonmem_free(void *ctx, void *ptr);


yajl_alloc_funcs  ngx_voicegw_jsonmem = {
    ngx_voicegw_jsonmem_malloc,
    ngx_voicegw_jsonmem_realloc,
    ngx_voicegw_jsonmem_free,
    NULL
};

static ngx_voicegw_jsonmem_block_t
    *ngx_voicegw_jsonmem_blocks[NGX_VOICEGW_JSONMEM_CLASSES];
static ngx_uint_t  ngx_voicegw_jsonmem_kept[NGX_VOICEGW_JSONMEM_CLASSES];


/*
 * Blocks of 64 to 4096 bytes by powers of two, each class with a list of
 * free blocks.  A parse asks for the same half a dozen sizes every time;
 * the next one, in this or another request, takes the same blocks back.
 * Larger blocks (the lexer's buffer of a long string, bounded by the
 * feed's max_string) are malloc()'s and free()'s, yajl's own default.
 */

static void *
ngx_voicegw_jsonmem_malloc(void *ctx, size_t size)
{
    size_t                        n;
    ngx_uint_t                    k;
    ngx_voicegw_jsonmem_block_t  *b;

    for (k = 0; k < NGX_VOICEGW_JSONMEM_CLASSES; k++) {
        if (size <= (size_t) NGX_VOICEGW_JSONMEM_SMALLEST << k) {
            break;
        }
    }

    n = size;

    if (k < NGX_VOICEGW_JSONMEM_CLASSES) {
        b = ngx_voicegw_jsonmem_blocks[k];

        if (b) {
            ngx_voicegw_jsonmem_blocks[k] = b->next;
            ngx_voicegw_jsonmem_kept[k]--;
            b->asked = size;
            ngx_voicegw_jsonmem_unpoison(b + 1, size);
            return b + 1;
        }

        n = (size_t) NGX_VOICEGW_JSONMEM_SMALLEST << k;
    }

    b = malloc(sizeof(ngx_voicegw_jsonmem_block_t) + n);
    if (b == NULL) {
        return NULL;
    }

    b->next = NULL;
    b->size = n;
    b->asked = size;
    b->class = k;

    ngx_voicegw_jsonmem_poison((u_char *) (b + 1) + size, n - size);

    return b + 1;
}


static void *
ngx_voicegw_jsonmem_realloc(void *ctx, void *ptr, size_t size)
{
    void                         *p;
    ngx_voicegw_jsonmem_block_t  *b;

    if (ptr == NULL) {
        return ngx_voicegw_jsonmem_malloc(ctx, size);
    }

    b = (ngx_voicegw_jsonmem_block_t *) ptr - 1;

    if (b->size >= size) {
        ngx_voicegw_jsonmem_poison(ptr, b->size);
        ngx_voicegw_jsonmem_unpoison(ptr, size);
        b->asked = size;
        return ptr;
    }

    p = ngx_voicegw_jsonmem_malloc(ctx, size);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, ptr, b->asked);
    ngx_voicegw_jsonmem_free(ctx, ptr);

    return p;
}


static void
ngx_voicegw_jsonmem_free(void *ctx, void *ptr)
{
    ngx_uint_t                    k;
    ngx_voicegw_jsonmem_block_t  *b;

    if (ptr == NULL) {
        return;
    }

    b = (ngx_voicegw_jsonmem_block_t *) ptr - 1;
    k = b->class;

    if (k >= NGX_VOICEGW_JSONMEM_CLASSES
        || ngx_voicegw_jsonmem_kept[k] >= NGX_VOICEGW_JSONMEM_KEEP)
    {
        free(b);
        return;
    }

    ngx_voicegw_jsonmem_poison(b + 1, b->size);

    b->next = ngx_voicegw_jsonmem_blocks[k];
    ngx_voicegw_jsonmem_blocks[k] = b;
    ngx_voicegw_jsonmem_kept[k]++;
}


/*
 * At a process's exit: the blocks kept are given back.  nginx unloads the
 * module (dlclose()) when it destroys the cycle's pool, and with it the
 * lists: a leak checker would find the blocks pointed to by nothing.
 */

void
ngx_voicegw_jsonmem_release(void)
{
    ngx_uint_t                    k;
    ngx_voicegw_jsonmem_block_t  *b;

    for (k = 0; k < NGX_VOICEGW_JSONMEM_CLASSES; k++) {

        while (ngx_voicegw_jsonmem_blocks[k]) {
            b = ngx_voicegw_jsonmem_blocks[k];
            ngx_voicegw_jsonmem_unpoison(b + 1, b->size);
            ngx_voicegw_jsonmem_blocks[k] = b->next;
            free(b);
        }

        ngx_voicegw_jsonmem_kept[k] = 0;
    }
}
