
/*
 * ngx_voicegw_ws_frame.c
 *
 * Owns the WebSocket codec (RFC 6455 section 5): frame headers read a
 * byte at a time if they must (a header split across reads is kept in
 * the parser, never a payload), the unmasked frames a server writes, the
 * handshake's Sec-WebSocket-Accept, and the "type" of a client's JSON
 * text message, read from its first bytes without holding the message.
 */


#include "ngx_voicegw_ws.h"
#include <ngx_sha1.h>


#define NGX_VOICEGW_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


/* base64(SHA-1(key + GUID)) into out, NGX_VOICEGW_WS_ACCEPT_LEN bytes */

ngx_int_t
ngx_voicegw_ws_accept_key(ngx_str_t *key, u_char *out)
{
    u_char     digest[20];
    ngx_str_t  src, dst;
    ngx_sha1_t sha1;

    if (key->len == 0 || key->len > 64) {
        return NGX_ERROR;
    }

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, key->data, key->len);
    ngx_sha1_update(&sha1, NGX_VOICEGW_WS_GUID,
                    sizeof(NGX_VOICEGW_WS_GUID) - 1);
    ngx_sha1_final(digest, &sha1);

    src.data = digest;
    src.len = sizeof(digest);
    dst.data = out;

    ngx_encode_base64(&dst, &src);

    return (dst.len == NGX_VOICEGW_WS_ACCEPT_LEN) ? NGX_OK : NGX_ERROR;
}


/* a whole unmasked frame (FIN set) of len bytes into buf */

size_t
ngx_voicegw_ws_frame(u_char *buf, ngx_uint_t opcode, u_char *data,
    size_t len)
{
    u_char  *p;

    p = buf;
    *p++ = (u_char) (0x80 | opcode);

    if (len < 126) {
        *p++ = (u_char) len;

    } else if (len < 65536) {
        *p++ = 126;
        *p++ = (u_char) (len >> 8);
        *p++ = (u_char) len;

    } else {
        /* the gateway's own frames are short */
        return 0;
    }

    p = ngx_cpymem(p, data, len);

    return p - buf;
}


size_t
ngx_voicegw_ws_close_frame(u_char *buf, ngx_uint_t code, const char *reason)
{
    u_char  payload[125];
    size_t  len;

    len = ngx_min(ngx_strlen(reason), sizeof(payload) - 2);

    payload[0] = (u_char) (code >> 8);
    payload[1] = (u_char) code;
    ngx_memcpy(payload + 2, reason, len);

    return ngx_voicegw_ws_frame(buf, NGX_VOICEGW_WS_CLOSE, payload, len + 2);
}


/*
 * Header bytes from pos: how many were used.  Once the header is whole,
 * p->in_payload is set with the frame's opcode, FIN, mask and length;
 * the caller passes the payload (p->left bytes) and calls
 * ngx_voicegw_ws_next().  p->bad: not a frame a peer may send (RSV bits,
 * an unknown or fragmented control opcode, a 64-bit length with its top
 * bit set).
 */

size_t
ngx_voicegw_ws_header(ngx_voicegw_ws_parser_t *p, u_char *pos, u_char *last)
{
    u_char      *start, *h;
    uint64_t     len;
    ngx_uint_t   i, n;

    start = pos;

    while (pos < last && !p->in_payload) {

        p->hdr[p->have++] = *pos++;

        if (p->have == 2) {
            n = p->hdr[1] & 0x7f;
            p->need = 2 + ((p->hdr[1] & 0x80) ? 4 : 0)
                      + (n == 126 ? 2 : (n == 127 ? 8 : 0));
        }

        if (p->have < 2 || p->have < p->need) {
            continue;
        }

        h = p->hdr;

        p->fin = (h[0] & 0x80) ? 1 : 0;
        p->opcode = h[0] & 0x0f;
        p->masked = (h[1] & 0x80) ? 1 : 0;

        n = h[1] & 0x7f;
        i = 2;

        if (n == 126) {
            len = ((uint64_t) h[2] << 8) | h[3];
            i = 4;

        } else if (n == 127) {
            len = 0;

            for (i = 2; i < 10; i++) {
                len = (len << 8) | h[i];
            }

            if (len >> 63) {
                p->bad = 1;
            }

        } else {
            len = n;
        }

        if (p->masked) {
            ngx_memcpy(p->mask, &h[i], 4);
        }

        if ((h[0] & 0x70)
            || (p->opcode > NGX_VOICEGW_WS_BINARY
                && p->opcode < NGX_VOICEGW_WS_CLOSE)
            || p->opcode > NGX_VOICEGW_WS_PONG
            || (p->opcode >= NGX_VOICEGW_WS_CLOSE && (!p->fin || len > 125)))
        {
            p->bad = 1;
        }

        if (p->opcode == NGX_VOICEGW_WS_TEXT
            || p->opcode == NGX_VOICEGW_WS_BINARY)
        {
            p->message = p->opcode;
        }

        p->left = len;
        p->offset = 0;
        p->in_payload = 1;
    }

    return pos - start;
}


void
ngx_voicegw_ws_next(ngx_voicegw_ws_parser_t *p)
{
    p->have = 0;
    p->need = 2;
    p->in_payload = 0;
}


/*
 * Frames and bytes of a stream passed as it is; every piece of payload
 * to "watch" as well, if there is one.
 */

ngx_int_t
ngx_voicegw_ws_count(ngx_voicegw_ws_parser_t *p, u_char *pos, u_char *last,
    ngx_voicegw_ws_count_t *n, ngx_voicegw_ws_watch_pt watch, void *data)
{
    size_t  size;

    n->bytes += last - pos;

    while (pos < last) {

        if (!p->in_payload) {
            pos += ngx_voicegw_ws_header(p, pos, last);

            if (!p->in_payload) {
                break;
            }

            if (p->bad) {
                return NGX_ERROR;
            }

            n->frames++;

            if (p->left == 0) {
                if (watch) {
                    watch(data, 0, p, pos, 0, 1);
                }

                ngx_voicegw_ws_next(p);
                continue;
            }
        }

        size = (size_t) ngx_min((uint64_t) (last - pos), p->left);

        if (watch) {
            watch(data, 0, p, pos, size, size == p->left);
        }

        pos += size;
        p->left -= size;
        p->offset += size;

        if (p->left == 0) {
            ngx_voicegw_ws_next(p);
        }
    }

    return NGX_OK;
}


/* bytes until the frame being read ends (its header's, then payload's) */

size_t
ngx_voicegw_ws_frame_left(ngx_voicegw_ws_parser_t *p)
{
    if (p->in_payload) {
        return (size_t) ngx_min(p->left, (uint64_t) NGX_MAX_SIZE_T_VALUE);
    }

    return p->need - p->have;
}


/* bytes of the frame being read seen so far; 0 between frames */

size_t
ngx_voicegw_ws_frame_seen(ngx_voicegw_ws_parser_t *p)
{
    if (p->in_payload) {
        return p->need + (size_t) p->offset;
    }

    return p->have;
}


/* len payload bytes from offset, unmasked if the frame was masked */

void
ngx_voicegw_ws_unmask(ngx_voicegw_ws_parser_t *p, uint64_t offset,
    u_char *dst, u_char *src, size_t len)
{
    size_t  i;

    if (!p->masked) {
        ngx_memcpy(dst, src, len);
        return;
    }

    for (i = 0; i < len; i++) {
        dst[i] = src[i] ^ p->mask[(offset + i) & 3];
    }
}


/*
 * The "type" of a JSON object from its first len bytes (the start of a
 * text message's payload, masked with mask if mask is not NULL): the
 * string value of a "type" key at the top level, copied into buf
 * (NGX_VOICEGW_WS_PEEK bytes).  NGX_DECLINED: not within those bytes.
 */

ngx_int_t
ngx_voicegw_ws_type(u_char *data, size_t len, u_char *mask, ngx_str_t *type,
    u_char *buf)
{
    u_char      c, *key;
    size_t      i, klen;
    ngx_uint_t  depth, in_string, escape, after_key, want;

    len = ngx_min(len, NGX_VOICEGW_WS_PEEK);

    for (i = 0; i < len; i++) {
        buf[i] = mask ? (data[i] ^ mask[i & 3]) : data[i];
    }

    depth = 0;
    in_string = 0;
    escape = 0;
    after_key = 0;      /* a top-level key just closed: 1, then ':' 2 */
    want = 0;           /* the value of "type" is the next string */
    key = NULL;

    for (i = 0; i < len; i++) {
        c = buf[i];

        if (in_string) {
            if (escape) {
                escape = 0;

            } else if (c == '\\') {
                escape = 1;

            } else if (c == '"') {
                in_string = 0;
                klen = &buf[i] - key;

                if (want) {
                    type->data = key;
                    type->len = klen;
                    return NGX_OK;
                }

                after_key = (depth == 1 && klen == 4
                             && ngx_strncmp(key, "type", 4) == 0);
            }

            continue;
        }

        switch (c) {

        case '"':
            in_string = 1;
            key = &buf[i + 1];
            break;

        case '{': case '[':
            depth++;
            want = 0;
            break;

        case '}': case ']':
            depth--;
            want = 0;
            break;

        case ':':
            if (after_key) {
                want = 1;
            }

            after_key = 0;
            break;

        case ' ': case '\t': case '\r': case '\n':
            break;

        default:
            after_key = 0;
            want = 0;
        }
    }

    return NGX_DECLINED;
}
