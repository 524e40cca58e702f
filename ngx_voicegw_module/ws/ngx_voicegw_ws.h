
/*
 * ngx_voicegw_ws.h
 *
 * The WebSocket layer (RFC 6455) of the gateway's own: the frame codec
 * (a header parser that survives any split of the bytes, the server's
 * frames, the handshake's accept key, a look at a text message's "type")
 * and the frame-aware relay between a client and a worker.  It knows
 * nothing of pools or tickets: pool/ngx_voicegw_task_ws.c drives it.
 */


#ifndef _NGX_VOICEGW_WS_H_INCLUDED_
#define _NGX_VOICEGW_WS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_VOICEGW_WS_CONT     0x0
#define NGX_VOICEGW_WS_TEXT     0x1
#define NGX_VOICEGW_WS_BINARY   0x2
#define NGX_VOICEGW_WS_CLOSE    0x8
#define NGX_VOICEGW_WS_PING     0x9
#define NGX_VOICEGW_WS_PONG     0xa

/* the close codes the gateway sends (docs/frontend.md) */
#define NGX_VOICEGW_WS_NORMAL        1000
#define NGX_VOICEGW_WS_TOO_BIG       1009
#define NGX_VOICEGW_WS_INTERNAL      1011
#define NGX_VOICEGW_WS_TRY_LATER     1013
#define NGX_VOICEGW_WS_CANCELLED     4000
#define NGX_VOICEGW_WS_QUEUE_TIMEOUT 4008

#define NGX_VOICEGW_WS_ACCEPT_LEN    28       /* base64 of a SHA-1 */

/* the longest frame the gateway writes itself */
#define NGX_VOICEGW_WS_FRAME_MAX     512

/* a close frame: 2 + 125 bytes at most */
#define NGX_VOICEGW_WS_CLOSE_MAX     127

/* how much of a client text message is looked at for its "type" */
#define NGX_VOICEGW_WS_PEEK          128


/* where a stream of frames is: a header being read, or a payload */

typedef struct {
    u_char                       hdr[14];
    ngx_uint_t                   have;        /* header bytes so far */
    ngx_uint_t                   need;        /* header bytes in all */
    ngx_uint_t                   opcode;
    ngx_uint_t                   message;     /* opcode of the message */
    uint64_t                     left;        /* payload bytes to come */
    uint64_t                     offset;      /* payload bytes passed */
    u_char                       mask[4];
    unsigned                     fin:1;
    unsigned                     masked:1;
    unsigned                     in_payload:1;
    unsigned                     bad:1;
} ngx_voicegw_ws_parser_t;


/* what a relay counts, per direction */

typedef struct {
    uint64_t                     frames;
    uint64_t                     bytes;
} ngx_voicegw_ws_count_t;


typedef struct ngx_voicegw_ws_relay_s  ngx_voicegw_ws_relay_t;

/* a client message of a type the owner asked to hear of */
typedef void (*ngx_voicegw_ws_type_pt)(void *data, ngx_str_t *type);

/* a dropped client message, whole (unmasked), for the owner to keep */
typedef void (*ngx_voicegw_ws_dropped_pt)(void *data, u_char *buf,
    size_t len);

/*
 * A piece of a frame's payload as it passes, in either direction, still
 * masked if it was (p->mask, p->offset: where the piece starts); "end":
 * the frame ends with it.  A frame with no payload comes once, empty.
 */
typedef void (*ngx_voicegw_ws_watch_pt)(void *data, ngx_uint_t from_client,
    ngx_voicegw_ws_parser_t *p, u_char *pos, size_t len, ngx_uint_t end);


typedef struct {
    size_t                       buffer;      /* per direction */
    ngx_msec_t                   read_timeout;    /* the worker's */
    ngx_msec_t                   send_timeout;
    ngx_uint_t                   filter;      /* drop client_diagnostic */
    ngx_voicegw_ws_type_pt       on_type;     /* pause / resume seen */
    ngx_voicegw_ws_dropped_pt    on_dropped;  /* NULL: only counted */
    size_t                       keep;        /* the longest one kept */
    ngx_voicegw_ws_watch_pt      watch;       /* every payload; or NULL */
    void                        *data;
} ngx_voicegw_ws_relay_conf_t;


struct ngx_voicegw_ws_relay_s {
    ngx_http_request_t          *request;
    ngx_connection_t            *client;
    ngx_connection_t            *worker;
    ngx_voicegw_ws_relay_conf_t  conf;

    /* client -> worker: read into in, forwarded frames copied to out */
    ngx_buf_t                    c_in;
    ngx_buf_t                    c_out;
    ngx_voicegw_ws_parser_t      c_parse;
    unsigned                     c_drop:1;    /* this message is dropped */
    unsigned                     c_decided:1; /* this frame's fate known */
    unsigned                     c_skip:1;    /* this frame is dropped */
    unsigned                     c_head:1;    /* its header forwarded */
    unsigned                     c_eof:1;
    unsigned                     w_eof:1;

    /* worker -> client: passed as read, frames counted */
    ngx_buf_t                    w_buf;
    ngx_voicegw_ws_parser_t      w_parse;

    ngx_voicegw_ws_count_t       from_client;
    ngx_voicegw_ws_count_t       from_worker;
    ngx_uint_t                   dropped;     /* client messages */

    /* the dropped message being gathered for on_dropped */
    u_char                      *d_buf;
    size_t                       d_len;
    unsigned                     d_over:1;    /* longer than keep */
    unsigned                     done:1;

    /* the gateway closes the session (ngx_voicegw_ws_relay_close()) */
    ngx_int_t                    rc;          /* how it ended */
    unsigned                     kick:1;      /* its first run to come */
    unsigned                     closing:1;
    unsigned                     close_queued:1;  /* in w_buf */
    ngx_uint_t                   close_code;
    u_char                       close_frame[NGX_VOICEGW_WS_CLOSE_MAX];
    size_t                       close_len;
};


/* the codec (ngx_voicegw_ws_frame.c) */

ngx_int_t ngx_voicegw_ws_accept_key(ngx_str_t *key, u_char *out);
size_t ngx_voicegw_ws_frame(u_char *buf, ngx_uint_t opcode, u_char *data,
    size_t len);
size_t ngx_voicegw_ws_close_frame(u_char *buf, ngx_uint_t code,
    const char *reason);
size_t ngx_voicegw_ws_header(ngx_voicegw_ws_parser_t *p, u_char *pos,
    u_char *last);
void ngx_voicegw_ws_next(ngx_voicegw_ws_parser_t *p);
ngx_int_t ngx_voicegw_ws_count(ngx_voicegw_ws_parser_t *p, u_char *pos,
    u_char *last, ngx_voicegw_ws_count_t *n, ngx_voicegw_ws_watch_pt watch,
    void *data);
size_t ngx_voicegw_ws_frame_left(ngx_voicegw_ws_parser_t *p);
size_t ngx_voicegw_ws_frame_seen(ngx_voicegw_ws_parser_t *p);
void ngx_voicegw_ws_unmask(ngx_voicegw_ws_parser_t *p, uint64_t offset,
    u_char *dst, u_char *src, size_t len);
ngx_int_t ngx_voicegw_ws_type(u_char *data, size_t len, u_char *mask,
    ngx_str_t *type, u_char *buf);

/* the relay (ngx_voicegw_ws_relay.c) */

ngx_voicegw_ws_relay_t *ngx_voicegw_ws_relay_create(ngx_http_request_t *r,
    ngx_connection_t *worker, ngx_voicegw_ws_relay_conf_t *conf,
    ngx_str_t *to_worker, ngx_str_t *to_client, ngx_str_t *from_worker);
void ngx_voicegw_ws_relay_start(ngx_voicegw_ws_relay_t *rl);
void ngx_voicegw_ws_relay_event(ngx_voicegw_ws_relay_t *rl);
void ngx_voicegw_ws_relay_run(ngx_voicegw_ws_relay_t *rl);
void ngx_voicegw_ws_relay_close(ngx_voicegw_ws_relay_t *rl, ngx_uint_t code,
    const char *reason);


#endif /* _NGX_VOICEGW_WS_H_INCLUDED_ */
