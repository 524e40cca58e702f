
/*
 * ngx_voicegw_jsonfeed.c
 *
 * Owns the bounded yajl front end: a byte filter that walks the JSON text
 * just enough to know where strings are (and to count their code points),
 * in front of yajl, whose callbacks (ngx_voicegw_jsonpath.c) follow the
 * key path down a small table.
 *
 * It must never hold more than a short piece of the text: yajl keeps an
 * unfinished token in its own buffer, so a string is cut after max_string
 * raw bytes (at a character boundary, never inside an escape) and the
 * rest of it is skipped up to its closing quote, and a bare token (number,
 * literal) of more than 64 bytes ends the parse.  Keys are strings too:
 * a cut key is longer than any key of a table, so it matches none.
 *
 * Containers deeper than NGX_VOICEGW_JSONPATH_TRACKED have no path (no
 * table goes that deep); those deeper than 512 end the parse, which
 * keeps yajl's own stack small.
 *
 * With NGX_VOICEGW_JSONFEED_SKIP the filter also knows which strings are
 * keys (it keeps the kind of each open container).  A key that no entry
 * of the table names, compared as it is written, leads nowhere: the
 * filter passes over the whole member, key and value, and yajl never
 * sees it.  The messages of a long conversation, the text of an answer,
 * an answer's "id" and "choices", cost a walk for their quotes and
 * brackets, not a parse: yajl's lexer and its callbacks cost ~100
 * instructions a token, and a chat answer is two thirds such members.
 * So a key's bytes are held until its end decides, and the commas
 * between an object's members are the filter's: yajl gets one before
 * each member it is given but the first.  A key the table names, or one
 * with an escape (yajl decodes it: "mod\u0065l" is "model"), goes to
 * yajl with its value, whose key callback follows the paths exactly.
 * The decision looks at the key's bytes alone (the first
 * NGX_VOICEGW_JSONFEED_KEY are kept when it is cut between pieces: no
 * longer key can name an entry, escaped or not), so it is the same
 * however the text comes cut.  What the filter passes over is not
 * checked: a value that is not JSON there, or a comma too many or too
 * few between members, no longer fails the parse.
 *
 * The text for yajl is gathered (NGX_VOICEGW_JSONFEED_STAGE bytes, less
 * the values passed over) and handed over once per piece, at the end of
 * a string value when its code points are counted, and before an error:
 * a call of yajl_parse() costs more than copying a few dozen bytes.
 *
 * yajl's memory comes from ngx_voicegw_jsonmem.c: blocks the process
 * keeps for the next parse.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <math.h>

#include "ngx_voicegw_jsonfeed.h"
#include "ngx_voicegw_jsonmem.h"
#include "ngx_voicegw_scan.h"


#define NGX_VOICEGW_JSONFEED_MAX_TOKEN  64


static void ngx_voicegw_jsonfeed_cleanup(void *data);
static void ngx_voicegw_jsonfeed_pass(ngx_voicegw_jsonfeed_t *f, u_char *p,
    u_char *last);
static void ngx_voicegw_jsonfeed_flush(ngx_voicegw_jsonfeed_t *f);
static u_char *ngx_voicegw_jsonfeed_skip(ngx_voicegw_jsonfeed_t *f, u_char *p,
    u_char *last);
static void ngx_voicegw_jsonfeed_key(ngx_voicegw_jsonfeed_t *f, u_char *s,
    u_char *last);
static ngx_uint_t ngx_voicegw_jsonfeed_leads(ngx_voicegw_jsonfeed_t *f,
    u_char *s, size_t len, ngx_uint_t escaped);


/* the bytes that end a bare token (a number, a literal) */

static const u_char  ngx_voicegw_jsonfeed_ends_bare[256] = {
    ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [' '] = 1,
    [','] = 1, [']'] = 1, ['}'] = 1
};


/* the bytes of a value passed over that matter outside its strings */

static const u_char  ngx_voicegw_jsonfeed_skip_stops[256] = {
    ['"'] = 1, ['['] = 1, [']'] = 1, ['{'] = 1, ['}'] = 1
};



/*
 * The key tables are static: their keys by length are worked out once
 * per process (a table's pointer is its name; the module's data, this
 * array with it, is loaded afresh with the module on a reload).
 */

#define NGX_VOICEGW_JSONFEED_TABLES  16

static ngx_voicegw_jsonfeed_keys_t
    ngx_voicegw_jsonfeed_tables[NGX_VOICEGW_JSONFEED_TABLES];
static ngx_uint_t  ngx_voicegw_jsonfeed_ntables;


ngx_voicegw_jsonfeed_t *
ngx_voicegw_jsonfeed_create(ngx_pool_t *pool, ngx_voicegw_jsonpath_t *paths,
    ngx_uint_t npaths, size_t max_string, ngx_uint_t flags)
{
    ngx_uint_t                    i;
    ngx_pool_cleanup_t           *cln;
    ngx_voicegw_jsonfeed_t       *f;
    ngx_voicegw_jsonfeed_keys_t  *keys;

    f = ngx_pcalloc(pool, sizeof(ngx_voicegw_jsonfeed_t));
    if (f == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_voicegw_jsonfeed_cleanup;
    cln->data = f;

    f->paths = paths;
    f->max_string = max_string;
    f->flags = flags;

    for (i = 0; i < ngx_voicegw_jsonfeed_ntables; i++) {
        keys = &ngx_voicegw_jsonfeed_tables[i];

        if (keys->paths == paths && keys->npaths == npaths) {
            f->keys = keys;
            return f;
        }
    }

    /* the table's first parse in this process */

    if (npaths > NGX_VOICEGW_JSONPATH_MAX) {
        return NULL;
    }

    if (ngx_voicegw_jsonfeed_ntables < NGX_VOICEGW_JSONFEED_TABLES) {
        keys = &ngx_voicegw_jsonfeed_tables[ngx_voicegw_jsonfeed_ntables];

    } else {
        keys = ngx_palloc(pool, sizeof(ngx_voicegw_jsonfeed_keys_t));
        if (keys == NULL) {
            return NULL;
        }
    }

    ngx_memzero(keys, sizeof(ngx_voicegw_jsonfeed_keys_t));

    for (i = 1; i < npaths; i++) {
        if (paths[i].key.len == 0
            || paths[i].key.len > NGX_VOICEGW_JSONFEED_KEY_MAX)
        {
            return NULL;                /* a table no key could reach */
        }

        keys->bylen[paths[i].key.len - 1] |= (uint64_t) 1 << i;
        keys->heads |= (uint64_t) 1 << ((paths[i].key.data[0]
                                          + paths[i].key.len) & 63);
    }

    keys->paths = paths;
    keys->npaths = npaths;

    if (keys == &ngx_voicegw_jsonfeed_tables[ngx_voicegw_jsonfeed_ntables]) {
        ngx_voicegw_jsonfeed_ntables++;
    }

    f->keys = keys;

    return f;
}


static void
ngx_voicegw_jsonfeed_cleanup(void *data)
{
    ngx_voicegw_jsonfeed_t  *f = data;

    if (f->yh) {
        yajl_free(f->yh);
        f->yh = NULL;
    }
}


/* a new parse: a text (or, with NGX_VOICEGW_JSONFEED_MULTIPLE, texts) */

ngx_int_t
ngx_voicegw_jsonfeed_begin(ngx_voicegw_jsonfeed_t *f)
{
    if (f->yh) {
        yajl_free(f->yh);
    }

    f->depth = 0;
    f->cur = 0;
    f->kept = 0;
    f->run = 0;
    f->chars = 0;
    f->hex = 0;
    f->last_chars = 0;
    f->in_string = 0;
    f->dropping = 0;
    f->escape = 0;
    f->high = 0;
    f->last_cut = 0;
    f->in_object = 0;
    f->failed = 0;
    f->kinds = 0;
    f->members = 0;
    f->open = 0;
    f->skip_depth = 0;
    f->expect_key = 0;
    f->is_key = 0;
    f->drop = 0;
    f->drop_bare = 0;
    f->skipping = 0;
    f->skip_str = 0;
    f->skip_esc = 0;
    f->staged = 0;

    f->yh = yajl_alloc(&ngx_voicegw_jsonfeed_callbacks, &ngx_voicegw_jsonmem,
                       f);
    if (f->yh == NULL) {
        f->failed = 1;
        return NGX_ERROR;
    }

    if (!(f->flags & NGX_VOICEGW_JSONFEED_VALIDATE)) {
        yajl_config(f->yh, yajl_dont_validate_strings, 1);
    }

    if (f->flags & NGX_VOICEGW_JSONFEED_MULTIPLE) {
        yajl_config(f->yh, yajl_allow_multiple_values, 1);
    }

    return NGX_OK;
}


/*
 * The filter.  Outside strings only the length of bare tokens matters;
 * inside, escapes are followed so that a cut never splits one and so that
 * "\uD83C\uDF0D" counts as one code point, as yajl decodes it.  With
 * NGX_VOICEGW_JSONFEED_COUNT the bytes are handed to yajl up to each
 * closing quote, so that the string callback finds last_chars and
 * last_cut describing its own string.
 */

ngx_int_t
ngx_voicegw_jsonfeed_feed(ngx_voicegw_jsonfeed_t *f, u_char *p, size_t len)
{
    u_char      c, *start, *last, *q, *end, *key;
    ngx_uint_t  d, n, skip, count, leads;

    if (f->yh == NULL || f->failed) {
        return NGX_ERROR;
    }

    skip = f->flags & NGX_VOICEGW_JSONFEED_SKIP;
    count = f->flags & NGX_VOICEGW_JSONFEED_COUNT;
    start = p;
    last = p + len;

    /* the bytes of a key in this piece: from its '"', or the piece's start */

    key = (f->in_string && f->is_key) ? p : NULL;

    for ( /* void */ ; p < last; p++) {
        c = *p;

        if (f->skipping) {
            p = ngx_voicegw_jsonfeed_skip(f, p, last);

            if (p == last) {
                break;
            }

            /* the value ended, and with it the member passed over */

            f->skipping = 0;
            f->drop = 0;
            start = p + 1;
            continue;
        }

        if (!f->in_string) {

            if (f->drop) {

                /* a member passed over, after its key: up to its value */

                if (f->drop_bare) {

                    while (!ngx_voicegw_jsonfeed_ends_bare[c]) {
                        if (++p == last) {
                            goto done;
                        }

                        c = *p;
                    }

                    f->drop = 0;                /* the bare value ended */
                    f->drop_bare = 0;
                    start = p;

                } else {

                    switch (c) {

                    case ':':
                    case ' ': case '\t': case '\r': case '\n':
                        continue;

                    case '"':
                        f->skipping = 1;
                        f->skip_str = 1;
                        f->skip_esc = 0;
                        f->skip_depth = 0;
                        continue;

                    case '{': case '[':
                        f->skipping = 1;
                        f->skip_str = 0;
                        f->skip_depth = 1;
                        continue;

                    case ',': case '}': case ']':
                        f->drop = 0;            /* no value: not checked */
                        start = p;
                        break;

                    default:
                        f->drop_bare = 1;
                        continue;
                    }
                }
            }

            switch (c) {

            case '"':
                f->in_string = 1;
                f->is_key = f->expect_key;
                f->expect_key = 0;
                key = p + 1;
                f->key_split = 0;
                f->key_esc = 0;
                f->kept = 0;
                f->chars = 0;
                f->escape = 0;
                f->hex = 0;
                f->high = 0;
                f->run = 0;

                if (f->is_key && skip) {
                    /* held until its end says whether yajl gets it */
                    ngx_voicegw_jsonfeed_pass(f, start, p);
                    start = p;
                }

                continue;

            case '{': case '[':
                if (f->open < 64) {
                    f->kinds &= ~((uint64_t) 1 << f->open);
                    f->kinds |= (uint64_t) (c == '{') << f->open;
                    f->members &= ~((uint64_t) 1 << f->open);
                }

                f->open++;
                f->expect_key = (c == '{' && f->open <= 64);
                f->run = 0;
                continue;

            case '}': case ']':
                if (f->open) {
                    f->open--;
                }

                f->expect_key = 0;
                f->run = 0;
                continue;

            case ',':
                f->expect_key = (f->open && f->open <= 64
                                 && (f->kinds >> (f->open - 1)) & 1);
                f->run = 0;

                if (f->expect_key && skip) {
                    /* between members: yajl gets the filter's own */
                    ngx_voicegw_jsonfeed_pass(f, start, p);
                    start = p + 1;
                }

                continue;

            case ':':
            case ' ': case '\t': case '\r': case '\n':
                f->run = 0;
                continue;

            default:
                f->expect_key = 0;

                if (++f->run > NGX_VOICEGW_JSONFEED_MAX_TOKEN) {
                    ngx_voicegw_jsonfeed_pass(f, start, p);
                    ngx_voicegw_jsonfeed_flush(f);
                    f->failed = 1;
                    return NGX_ERROR;
                }

                continue;
            }
        }

        if (f->escape) {
            f->escape = 0;

            if (c == 'u') {
                f->hex = 4;
                f->code = 0;

            } else {
                f->chars++;
                f->high = 0;
            }

            f->kept++;
            continue;
        }

        if (f->hex) {
            d = (c >= '0' && c <= '9') ? (ngx_uint_t) (c - '0')
                : (ngx_uint_t) ((c | 0x20) - 'a' + 10) & 0xf;
            f->code = (f->code << 4) | d;

            if (--f->hex == 0) {
                if (f->high && f->code >= 0xdc00 && f->code <= 0xdfff) {
                    f->high = 0;

                } else {
                    f->chars++;
                    f->high = (f->code >= 0xd800 && f->code <= 0xdbff);
                }
            }

            f->kept++;
            continue;
        }

        if (!f->dropping && f->kept < f->max_string) {

            /*
             * the plain run of a string at once: up to a quote, an
             * escape or the cut, counting the bytes that start a
             * character when the owner wants characters
             */

            end = p + ngx_min((size_t) (last - p), f->max_string - f->kept);
            q = ngx_voicegw_scan_string_end(p, end);
            n = count ? ngx_voicegw_scan_chars(p, q) : 0;

            if (q != p) {
                f->kept += q - p;

                if (n) {
                    f->chars += n;
                    f->high = 0;
                }

                if (q == last) {
                    break;
                }

                p = q;
                c = *p;
            }
        }

        if (c == '"') {
            f->in_string = 0;
            f->last_chars = f->chars;
            f->last_cut = f->dropping;

            if (f->dropping) {
                f->dropping = 0;
                start = p;
            }

            if (f->is_key && skip) {
                f->is_key = 0;

                if (!f->key_split) {
                    leads = ngx_voicegw_jsonfeed_leads(f, key, p - key,
                                                       f->key_esc);

                } else {
                    /* begun in an earlier piece: the bytes kept, and these */

                    ngx_voicegw_jsonfeed_key(f, key, p);

                    leads = ngx_voicegw_jsonfeed_leads(f, f->key, f->key_len,
                                                       f->key_esc);
                }

                q = start;                      /* the key's '"', if here */
                key = NULL;
                start = p + 1;

                if (!leads) {
                    f->drop = 1;
                    continue;
                }

                /* yajl gets the member: a comma first, unless it is the
                   object's first; the key from its '"' (start, held) */

                d = f->open - 1;

                if ((f->members >> d) & 1) {
                    ngx_voicegw_jsonfeed_pass(f, (u_char *) ",",
                                              (u_char *) "," + 1);
                }

                f->members |= (uint64_t) 1 << d;

                if (!f->key_split) {
                    ngx_voicegw_jsonfeed_pass(f, q, p + 1);

                } else {
                    ngx_voicegw_jsonfeed_pass(f, (u_char *) "\"",
                                              (u_char *) "\"" + 1);
                    ngx_voicegw_jsonfeed_pass(f, f->key, f->key + f->key_len);
                    ngx_voicegw_jsonfeed_pass(f, (u_char *) "\"",
                                              (u_char *) "\"" + 1);
                }

                if (f->failed) {
                    return NGX_ERROR;
                }

                continue;

            } else if ((f->flags & NGX_VOICEGW_JSONFEED_COUNT) && !f->is_key)
            {
                /* the string callback finds last_chars for this string */

                ngx_voicegw_jsonfeed_pass(f, start, p + 1);
                ngx_voicegw_jsonfeed_flush(f);
                start = p + 1;

                if (f->failed) {
                    return NGX_ERROR;
                }
            }

            continue;
        }

        if (!f->dropping && !(f->is_key && skip) && f->kept >= f->max_string
            && (c & 0xc0) != 0x80)
        {
            ngx_voicegw_jsonfeed_pass(f, start, p);

            if (f->failed) {
                return NGX_ERROR;
            }

            f->dropping = 1;
        }

        if (c == '\\') {
            f->escape = 1;
            f->key_esc = 1;

        } else if ((c & 0xc0) != 0x80) {
            f->chars++;
            f->high = 0;
        }

        f->kept++;
    }

done:

    /* not a key still held, nor a member passed over */

    if (!f->dropping && !f->skipping && !f->drop
        && !(f->in_string && f->is_key && skip))
    {
        ngx_voicegw_jsonfeed_pass(f, start, last);
    }

    if (key && f->in_string && f->is_key
        && (f->flags & NGX_VOICEGW_JSONFEED_SKIP))
    {
        ngx_voicegw_jsonfeed_key(f, key, last);
    }

    ngx_voicegw_jsonfeed_flush(f);

    return f->failed ? NGX_ERROR : NGX_OK;
}


/*
 * A value passed over, from where the last piece left it: its strings
 * (escapes followed) and its brackets, nothing else.  The end: the byte
 * that closes the value (its string's quote, its last bracket); last,
 * when the piece ends first (the state is kept for the next one).
 */

static u_char *
ngx_voicegw_jsonfeed_skip(ngx_voicegw_jsonfeed_t *f, u_char *p, u_char *last)
{
    size_t  depth;

    depth = f->skip_depth;

    if (f->skip_str) {

        if (f->skip_esc) {
            f->skip_esc = 0;
            p++;                        /* the escaped byte */
        }

        goto string;
    }

    for ( ;; ) {

        while (p < last && !ngx_voicegw_jsonfeed_skip_stops[*p]) {
            p++;
        }

        if (p == last) {
            break;
        }

        switch (*p) {

        case '"':
            p++;

        string:

            for ( ;; ) {
                p = ngx_voicegw_scan_string_end(p, last);

                if (p == last) {
                    f->skip_str = 1;
                    f->skip_depth = depth;
                    return last;
                }

                if (*p == '"') {
                    break;
                }

                if (++p == last) {          /* a '\\' ends the piece */
                    f->skip_str = 1;
                    f->skip_esc = 1;
                    f->skip_depth = depth;
                    return last;
                }

                p++;
            }

            f->skip_str = 0;

            if (depth == 0) {
                return p;                   /* a string value */
            }

            break;

        case '{': case '[':
            depth++;
            break;

        default:                            /* '}', ']' */
            if (--depth == 0) {
                f->skip_depth = 0;
                return p;
            }
        }

        p++;
    }

    f->skip_str = 0;
    f->skip_depth = depth;

    return last;
}


/* a key's bytes, kept while it is cut between pieces */

static void
ngx_voicegw_jsonfeed_key(ngx_voicegw_jsonfeed_t *f, u_char *s, u_char *last)
{
    size_t  n;

    if (!f->key_split) {
        f->key_split = 1;
        f->key_len = 0;
    }

    n = last - s;

    if (f->key_len < NGX_VOICEGW_JSONFEED_KEY) {
        ngx_memcpy(f->key + f->key_len, s,
                   ngx_min(n, NGX_VOICEGW_JSONFEED_KEY - f->key_len));
    }

    f->key_len += n;
}


/*
 * Whether a key may lead to a value of the table: one with an escape may
 * (only yajl can tell), else one that an entry names as it is written.
 * len is the key's whole length; of a longer key than
 * NGX_VOICEGW_JSONFEED_KEY only that much was kept, and no entry is so
 * long, even escaped (6 bytes at most for each of its characters).
 */

static ngx_uint_t
ngx_voicegw_jsonfeed_leads(ngx_voicegw_jsonfeed_t *f, u_char *s, size_t len,
    ngx_uint_t escaped)
{
    uint64_t                 m;
    ngx_voicegw_jsonpath_t  *path;

    if (len == 0 || len > NGX_VOICEGW_JSONFEED_KEY) {
        return 0;
    }

    if (escaped) {
        return 1;
    }

    if (len > NGX_VOICEGW_JSONFEED_KEY_MAX
        || !((f->keys->heads >> ((s[0] + len) & 63)) & 1))
    {
        return 0;
    }

    for (m = f->keys->bylen[len - 1]; m; m &= m - 1) {
        path = &f->paths[__builtin_ctzll(m)];

        if (path->key.data[0] == s[0]
            && ngx_memcmp(path->key.data, s, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* text for yajl: gathered, or a long piece handed over as it is */

static void
ngx_voicegw_jsonfeed_pass(ngx_voicegw_jsonfeed_t *f, u_char *p,
    u_char *last)
{
    size_t  n;

    n = last - p;

    if (n == 0 || f->failed) {
        return;
    }

    if (f->staged + n > NGX_VOICEGW_JSONFEED_STAGE) {
        ngx_voicegw_jsonfeed_flush(f);

        if (n > NGX_VOICEGW_JSONFEED_STAGE / 2) {
            if (!f->failed && yajl_parse(f->yh, p, n) != yajl_status_ok) {
                f->failed = 1;
            }

            return;
        }
    }

    ngx_memcpy(f->stage + f->staged, p, n);
    f->staged += n;
}


static void
ngx_voicegw_jsonfeed_flush(ngx_voicegw_jsonfeed_t *f)
{
    if (f->staged && !f->failed
        && yajl_parse(f->yh, f->stage, f->staged) != yajl_status_ok)
    {
        f->failed = 1;
    }

    f->staged = 0;
}


/*
 * The end of the text: yajl completes a number it could not know had
 * ended, an object left open is closed for the owner (what it gave is
 * kept), and the handle is freed.
 */

ngx_int_t
ngx_voicegw_jsonfeed_end(ngx_voicegw_jsonfeed_t *f)
{
    if (f->yh == NULL) {
        return NGX_ERROR;
    }

    if (!f->failed && yajl_complete_parse(f->yh) != yajl_status_ok) {
        f->failed = 1;
    }

    if (f->in_object) {
        f->in_object = 0;

        if (f->object) {
            f->object(f->ctx, 1);
        }
    }

    yajl_free(f->yh);
    f->yh = NULL;

    return f->failed ? NGX_ERROR : NGX_OK;
}


/* a number value as yajl handed it: finite, not negative; else NGX_ERROR */

ngx_int_t
ngx_voicegw_jsonfeed_number(u_char *s, size_t len, double *v)
{
    char      number[NGX_VOICEGW_JSONFEED_MAX_TOKEN + 1], *end;
    size_t    i;
    uint64_t  n;

    if (len == 0 || len > NGX_VOICEGW_JSONFEED_MAX_TOKEN) {
        return NGX_ERROR;
    }

    /* a count, the usual: up to 15 digits are exact in a double */

    if (len <= 15) {
        n = 0;

        for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            n = n * 10 + (s[i] - '0');
        }

        if (i == len) {
            *v = (double) n;
            return NGX_OK;
        }
    }

    ngx_memcpy(number, s, len);
    number[len] = '\0';

    *v = strtod(number, &end);

    if (end != number + len || !isfinite(*v) || *v < 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}
