
/*
 * ngx_voicegw_jsonfeed.h
 *
 * The bounded front end of yajl that the proxy's parsers share: bytes of
 * a JSON text in pieces of any size, a few values picked out by their key
 * path.  It never builds a tree and never holds a whole string: a string
 * longer than max_string raw bytes reaches yajl cut short (the rest is
 * still counted), a bare token longer than 64 bytes or nesting deeper
 * than 512 stops the parse, so the memory of a parse stays small whatever
 * the upstream sends.  The yajl handle is freed by a pool cleanup when
 * the request ends mid-value.  yajl's memory is kept by the process for
 * the next parse (an SSE stream parses an event at a time): no malloc()
 * per parse.
 */


#ifndef _NGX_VOICEGW_JSONFEED_H_INCLUDED_
#define _NGX_VOICEGW_JSONFEED_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <yajl/yajl_parse.h>


/* the key paths matched, as a tree: entry 0 is the top-level value */
#define NGX_VOICEGW_JSONPATH_NONE     0xff
#define NGX_VOICEGW_JSONPATH_TRACKED  16     /* levels with a known path */

/* bytes gathered for yajl before a call of yajl_parse() */
#define NGX_VOICEGW_JSONFEED_STAGE    256

/*
 * bytes kept of a key cut between pieces: a table's keys are ASCII and at
 * most 32 bytes, and an escape writes a character in at most 6 bytes, so
 * no longer key, escaped or not, can name an entry
 */
#define NGX_VOICEGW_JSONFEED_KEY      192
#define NGX_VOICEGW_JSONFEED_KEY_MAX  32

/* the types of the values handed over */
#define NGX_VOICEGW_JSON_NUMBER       1
#define NGX_VOICEGW_JSON_STRING       2
#define NGX_VOICEGW_JSON_TRUE         3
#define NGX_VOICEGW_JSON_FALSE        4
#define NGX_VOICEGW_JSON_NULL         5

/* flags */
#define NGX_VOICEGW_JSONFEED_COUNT    0x01   /* code points of strings */
#define NGX_VOICEGW_JSONFEED_MULTIPLE 0x02   /* several top-level values */
#define NGX_VOICEGW_JSONFEED_UNWRAP   0x04   /* a top-level array's items
                                                are top-level values */
#define NGX_VOICEGW_JSONFEED_VALIDATE 0x08   /* UTF-8 checked by yajl */
#define NGX_VOICEGW_JSONFEED_SKIP     0x10   /* a member whose key no
                                                path names is passed over
                                                by the filter, key and
                                                value: yajl never sees it */


typedef struct {
    ngx_uint_t                   parent;  /* index of the enclosing key */
    ngx_str_t                    key;
    ngx_uint_t                   slot;    /* 0: only a way to a value */
} ngx_voicegw_jsonpath_t;


/* a value at a path with a slot; s is not NUL-terminated */
typedef void (*ngx_voicegw_jsonfeed_value_pt)(void *ctx, ngx_uint_t slot,
    ngx_uint_t type, u_char *s, size_t len);

/* a top-level object opens (end == 0) or closes (end == 1) */
typedef void (*ngx_voicegw_jsonfeed_object_pt)(void *ctx, ngx_uint_t end);


/*
 * A table's keys by length, worked out once per process for each table
 * (ngx_voicegw_jsonfeed_create()): a table has at most 64 entries
 */

#define NGX_VOICEGW_JSONPATH_MAX      64

typedef struct {
    ngx_voicegw_jsonpath_t          *paths;
    ngx_uint_t                       npaths;
    uint64_t                         heads;       /* bit (first byte + n)
                                                     % 64 of each key of n
                                                     bytes */
    uint64_t                         bylen[NGX_VOICEGW_JSONFEED_KEY_MAX];
                                                  /* [n - 1]: bit i, entry
                                                     i's key has n bytes */
} ngx_voicegw_jsonfeed_keys_t;


typedef struct {
    yajl_handle                      yh;
    ngx_uint_t                       flags;
    size_t                           max_string;

    ngx_voicegw_jsonpath_t          *paths;
    ngx_voicegw_jsonfeed_keys_t     *keys;       /* and their number */
    ngx_voicegw_jsonfeed_value_pt    value;
    ngx_voicegw_jsonfeed_object_pt   object;
    void                            *ctx;

    /* where the parser is: the path of each open container */
    ngx_uint_t                       depth;
    ngx_uint_t                       cur;         /* path of next value */
    u_char                           node[NGX_VOICEGW_JSONPATH_TRACKED];
    u_char                           array[NGX_VOICEGW_JSONPATH_TRACKED];

    /* the byte filter in front of yajl */
    size_t                           kept;        /* raw bytes of string */
    size_t                           run;         /* bytes of bare token */
    size_t                           chars;       /* code points so far */
    ngx_uint_t                       hex;         /* \u digits to come */
    ngx_uint_t                       code;        /* their value so far */

    /* the last string that ended (with NGX_VOICEGW_JSONFEED_COUNT) */
    size_t                           last_chars;

    /* the text for yajl, gathered: a call of yajl_parse() per piece */
    size_t                           staged;
    u_char                           stage[NGX_VOICEGW_JSONFEED_STAGE];

    /* with NGX_VOICEGW_JSONFEED_SKIP: a key cut between pieces */
    size_t                           key_len;     /* raw bytes so far */
    u_char                           key[NGX_VOICEGW_JSONFEED_KEY];

    /* with NGX_VOICEGW_JSONFEED_SKIP: containers as the filter sees them */
    uint64_t                         kinds;       /* bit d: d is an object */
    uint64_t                         members;     /* bit d: the object at d
                                                     gave yajl a member */
    size_t                           open;        /* containers open */
    size_t                           skip_depth;  /* open in the skipped */

    /*
     * flags: bytes, not bits, as each is set and read again at once (a
     * bit's read-modify-write stalled the next read of its word)
     */
    u_char                           in_string;
    u_char                           dropping;
    u_char                           escape;
    u_char                           high;        /* after a high surrogate */
    u_char                           last_cut;    /* last string cut short */
    u_char                           in_object;   /* a top-level object */
    u_char                           failed;

    u_char                           expect_key;
    u_char                           is_key;      /* the string is a key
                                                     (with SKIP: held from
                                                     yajl until its end) */
    u_char                           drop;        /* in a member passed
                                                     over, before or in a
                                                     bare value */
    u_char                           drop_bare;   /* in its bare value */
    u_char                           skipping;    /* in its string, object
                                                     or array value */
    u_char                           skip_str;
    u_char                           skip_esc;
    u_char                           key_esc;     /* the string so far has
                                                     a '\\' */
    u_char                           key_split;   /* it began in a piece
                                                     before this one */
} ngx_voicegw_jsonfeed_t;


ngx_voicegw_jsonfeed_t *ngx_voicegw_jsonfeed_create(ngx_pool_t *pool,
    ngx_voicegw_jsonpath_t *paths, ngx_uint_t npaths, size_t max_string,
    ngx_uint_t flags);
ngx_int_t ngx_voicegw_jsonfeed_begin(ngx_voicegw_jsonfeed_t *f);
ngx_int_t ngx_voicegw_jsonfeed_feed(ngx_voicegw_jsonfeed_t *f, u_char *p,
    size_t len);
ngx_int_t ngx_voicegw_jsonfeed_end(ngx_voicegw_jsonfeed_t *f);
ngx_int_t ngx_voicegw_jsonfeed_number(u_char *s, size_t len, double *v);

/* the yajl callbacks that follow the paths (ngx_voicegw_jsonpath.c) */
extern const yajl_callbacks  ngx_voicegw_jsonfeed_callbacks;


#endif /* _NGX_VOICEGW_JSONFEED_H_INCLUDED_ */
