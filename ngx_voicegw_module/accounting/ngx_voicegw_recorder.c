
/*
 * ngx_voicegw_recorder.c
 *
 * Owns the record API (ngx_voicegw_record.h) and the recorder's part of
 * the shared zone: a ring of bytes that records are copied into, and the
 * metrics series they are counted in.
 *
 *   - A record is copied whole, under the zone's lock, in about a
 *     microsecond: no allocation, no I/O, no waiting for the database.
 *     A record that does not fit is dropped and counted; the request goes
 *     on as if nothing happened.  The counters of /v1/metrics count it
 *     all the same.
 *   - Records never wrap: one that does not fit before the end of the
 *     ring starts again at its beginning, after a padding mark.
 *   - Each record gets an id that follows the request log's highest id
 *     (read when the configuration was loaded): a record that two
 *     flushers commit is one row (ngx_voicegw_flusher.c).
 *   - The ring's bytes are freed only once their batch is committed, so
 *     a flusher that dies takes nothing with it.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_clock.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_recorder.h"


static ngx_int_t ngx_voicegw_recorder_init_zone(ngx_voicegw_zone_t *zone,
    void *data, ngx_uint_t reused);
static ngx_voicegw_series_t *ngx_voicegw_series_locked(
    ngx_voicegw_recorder_sh_t *sh, ngx_uint_t modality, ngx_str_t *labels);
static ngx_uint_t ngx_voicegw_series_is(ngx_voicegw_series_t *s,
    ngx_uint_t modality, ngx_str_t *labels);
static void ngx_voicegw_series_add(ngx_voicegw_series_t *s,
    ngx_voicegw_record_t *r);
static void ngx_voicegw_hist_add(ngx_voicegw_hist_t *h, double ms);
static size_t ngx_voicegw_record_str(u_char *dst, ngx_str_t *s, size_t max);


ngx_str_t  ngx_voicegw_modality_names[] = {
    ngx_string("stt"),
    ngx_string("llm"),
    ngx_string("tts"),
    ngx_string("omni"),
    ngx_string("other"),
    ngx_null_string
};


ngx_str_t  ngx_voicegw_status_names[] = {
    ngx_string("success"),
    ngx_string("error"),
    ngx_string("timeout"),
    ngx_string("cancelled"),
    ngx_string("abandoned"),
    ngx_string("rejected"),
    ngx_string("client_closed"),
    ngx_string("upstream_failed"),
    ngx_null_string
};


/* the flags, bit by bit, as /v1/logs names them */

ngx_str_t  ngx_voicegw_flag_names[] = {
    ngx_string("budget"),
    ngx_string("cache_hit"),
    ngx_string("unpriced"),
    ngx_string("partial"),
    ngx_string("no_usage"),
    ngx_string("unknown_units"),
    ngx_string("estimated"),
    ngx_string("interim"),
    ngx_null_string
};


const double  ngx_voicegw_hist_bounds[NGX_VOICEGW_HIST_BOUNDS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
};


/* set up with the configuration, when both a zone and a store exist */

ngx_voicegw_recorder_t *
ngx_voicegw_recorder_create(ngx_conf_t *cf, ngx_voicegw_zone_t *zone,
    ngx_voicegw_store_t *store)
{
    ngx_voicegw_recorder_t  *rec;

    rec = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_recorder_t));
    if (rec == NULL) {
        return NULL;
    }

    rec->zone = zone;
    rec->store = store;
    rec->size = store->buffer;

    if (rec->size == 0) {
        /*
         * 4m, or a quarter of a small zone: two flush intervals of
         * records at 20k a second (one batch being committed, the next
         * arriving) with room to spare when the store's thread is slow
         */
        rec->size = ngx_min(4 * 1024 * 1024,
                            ngx_align(zone->shm_zone->shm.size / 4, 8));
        rec->size = ngx_max(rec->size, 64 * 1024);
    }

    if (ngx_voicegw_zone_on_init(zone, ngx_voicegw_recorder_init_zone, rec)
        != NGX_OK)
    {
        return NULL;
    }

    return rec;
}


static ngx_int_t
ngx_voicegw_recorder_init_zone(ngx_voicegw_zone_t *zone, void *data,
    ngx_uint_t reused)
{
    ngx_voicegw_recorder_t  *rec = data;

    ngx_voicegw_recorder_sh_t  *sh;

    sh = ngx_voicegw_zone_part_locked(zone, "recorder",
                                      offsetof(ngx_voicegw_recorder_sh_t, data)
                                      + rec->size);
    if (sh == NULL) {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "voicegw_zone \"%V\" is too small for the record "
                      "buffer of voicegw_store (buffer=%uz and about %uz "
                      "bytes of metrics)", &zone->shm_zone->shm.name,
                      rec->size, offsetof(ngx_voicegw_recorder_sh_t, data));
        return NGX_ERROR;
    }

    if (sh->size == 0) {
        /* a new part: ids follow the request log's */
        sh->size = rec->size;
        sh->next_id = rec->store->last_request_id + 1;

    } else if (sh->size != rec->size) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "voicegw_store: the record buffer keeps its size "
                      "(%uz) until nginx restarts", sh->size);
    }

    rec->sh = sh;

    return NGX_OK;
}


void
ngx_voicegw_record_init(ngx_voicegw_record_t *r)
{
    ngx_memzero(r, sizeof(ngx_voicegw_record_t));

    r->ttfb_ms = -1;
    r->total_ms = -1;
    r->queue_wait_ms = -1;
}


ngx_int_t
ngx_voicegw_record(ngx_voicegw_recorder_t *rec, ngx_voicegw_record_t *r)
{
    u_char                      buf[sizeof(ngx_voicegw_rec_t)
                                    + 2 * NGX_VOICEGW_RECORD_ID_LEN
                                    + NGX_VOICEGW_RECORD_MODEL_LEN + 8];
    u_char                     *p;
    size_t                      len, off, need;
    ngx_int_t                   rc;
    ngx_str_t                   project, labels[3];
    uint64_t                    ns;
    struct timespec             t0, t1;
    ngx_voicegw_rec_t          *h;
    ngx_voicegw_series_t       *s;
    ngx_voicegw_recorder_sh_t  *sh;

    if (rec == NULL || rec->sh == NULL) {
        return NGX_DECLINED;
    }

    (void) clock_gettime(CLOCK_MONOTONIC, &t0);

    sh = rec->sh;

    project = r->project;

    if (project.len == 0) {
        ngx_str_set(&project, "default");
    }

    /* the record as it goes into the ring, built outside the lock */

    h = (ngx_voicegw_rec_t *) buf;
    ngx_memzero(h, sizeof(ngx_voicegw_rec_t));

    h->modality = (uint8_t) ngx_min(r->modality, NGX_VOICEGW_NMODALITIES - 1);
    h->status = (uint8_t) ngx_min(r->status, NGX_VOICEGW_NSTATUSES - 1);
    /* an HTTP status, or a WebSocket close code (realtime sessions) */
    h->http_status = (uint16_t) ngx_min(r->http_status, 4999);
    h->flags = (uint16_t) r->flags;
    h->ts = (int64_t) ngx_voicegw_now_msec();
    h->input_units = r->input_units;
    h->output_units = r->output_units;
    h->cost_usd = r->cost_usd;
    h->ttfb_ms = r->ttfb_ms;
    h->total_ms = r->total_ms;
    h->queue_wait_ms = r->queue_wait_ms;

    p = buf + sizeof(ngx_voicegw_rec_t);

    /* the labels as the books keep them: project, provider, model */

    labels[0].data = p;
    labels[0].len = ngx_voicegw_record_str(p, &project,
                                           NGX_VOICEGW_RECORD_ID_LEN);
    p += labels[0].len;

    labels[1].data = p;
    labels[1].len = ngx_voicegw_record_str(p, &r->provider,
                                           NGX_VOICEGW_RECORD_ID_LEN);
    p += labels[1].len;

    labels[2].data = p;
    labels[2].len = ngx_voicegw_record_str(p, &r->model,
                                           NGX_VOICEGW_RECORD_MODEL_LEN);
    p += labels[2].len;

    h->project_len = (uint8_t) labels[0].len;
    h->provider_len = (uint8_t) labels[1].len;
    h->model_len = (uint16_t) labels[2].len;

    /*
     * the padding too: no stack garbage goes into the shared zone (and
     * valgrind, which sees only this process's writes to it, would take
     * another process's record written there later for garbage)
     */

    len = ngx_align(p - buf, 8);
    ngx_memzero(p, len - (p - buf));
    h->len = (uint32_t) len;

    ngx_voicegw_zone_lock(rec->zone);

    /* this process's time in here so far (this call: at the next one) */
    sh->record_ns += rec->pending_ns;
    sh->record_calls += rec->pending_calls;
    rec->pending_ns = 0;
    rec->pending_calls = 0;

    s = ngx_voicegw_series_locked(sh, h->modality, labels);
    ngx_voicegw_series_add(s, r);

    off = (size_t) (sh->head % sh->size);
    need = (sh->size - off < len) ? sh->size - off + len : len;

    if (need > sh->size - (size_t) (sh->head - sh->tail)) {
        sh->dropped++;
        rc = NGX_DECLINED;

    } else {
        if (sh->size - off < len) {
            /* a padding mark, and the record starts over at 0 */
            ((ngx_voicegw_rec_t *) (sh->data + off))->len = 0;
            sh->head += sh->size - off;
            off = 0;
        }

        h->id = sh->next_id++;
        ngx_memcpy(sh->data + off, buf, len);
        sh->head += len;
        sh->accepted++;
        rec->mine = sh->head;
        rc = NGX_OK;
    }

    ngx_voicegw_zone_unlock(rec->zone);

    (void) clock_gettime(CLOCK_MONOTONIC, &t1);

    ns = (uint64_t) (t1.tv_sec - t0.tv_sec) * 1000000000
         + t1.tv_nsec - t0.tv_nsec;

    rec->pending_ns += ns;
    rec->pending_calls++;

    if (ns / 1000 > rec->held[2] || ns > 1000000) {
        ngx_voicegw_recorder_held(rec, ns / 1000, 1);
    }

    return rc;
}


void
ngx_voicegw_recorder_held(ngx_voicegw_recorder_t *rec, uint64_t usec,
    ngx_uint_t call)
{
    uint32_t    *held;
    ngx_uint_t   grew, slot;

    held = &rec->held[call ? 2 : 0];
    grew = 0;

    if (usec > held[0]) {
        held[0] = (uint32_t) ngx_min(usec, 0xffffffff);
        grew = 1;
    }

    if (usec > 1000) {
        held[1]++;
        grew = 1;
    }

    if (!grew || ngx_process_slot < 0
        || ngx_process_slot >= NGX_MAX_PROCESSES)
    {
        return;
    }

    slot = ngx_process_slot;

    ngx_voicegw_zone_lock(rec->zone);

    if (call) {
        rec->sh->call_max[slot] = held[0];
        rec->sh->call_over[slot] = held[1];

    } else {
        rec->sh->hold_max[slot] = held[0];
        rec->sh->hold_over[slot] = held[1];
    }

    ngx_voicegw_zone_unlock(rec->zone);
}


uint64_t
ngx_voicegw_recorder_usec(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/* printable ASCII only, at most max bytes: ids and names of the books */

static size_t
ngx_voicegw_record_str(u_char *dst, ngx_str_t *s, size_t max)
{
    size_t  i, n;

    n = ngx_min(s->len, max);

    for (i = 0; i < n; i++) {
        dst[i] = (s->data[i] > 0x20 && s->data[i] < 0x7f) ? s->data[i] : '_';
    }

    return n;
}


/*
 * The series of a record: found by a hash of its labels, in a table of
 * NGX_VOICEGW_SERIES_MAX; when that is full, the last one, which gathers
 * every other ("_other" labels), so the labels stay bounded.
 */

static ngx_voicegw_series_t *
ngx_voicegw_series_locked(ngx_voicegw_recorder_sh_t *sh, ngx_uint_t modality,
    ngx_str_t *labels)
{
    uint32_t               hash;
    ngx_uint_t             i, n;
    ngx_voicegw_series_t  *s;

    hash = (uint32_t) modality;

    for (i = 0; i < 3; i++) {
        hash = hash * 31 + ngx_crc32_short(labels[i].data, labels[i].len);
    }

    hash |= 1;

    for (n = 0; n < NGX_VOICEGW_SERIES_MAX; n++) {
        s = &sh->series[(hash + n) % NGX_VOICEGW_SERIES_MAX];

        if (s->hash == 0) {
            s->hash = hash;
            s->modality = (uint32_t) modality;
            ngx_memcpy(s->project, labels[0].data, labels[0].len);
            ngx_memcpy(s->provider, labels[1].data, labels[1].len);
            ngx_memcpy(s->model, labels[2].data, labels[2].len);
            sh->nseries++;
            return s;
        }

        if (s->hash == hash && ngx_voicegw_series_is(s, modality, labels)) {
            return s;
        }
    }

    s = &sh->series[NGX_VOICEGW_SERIES_MAX];

    if (s->hash == 0) {
        s->hash = 1;
        s->modality = NGX_VOICEGW_MODALITY_OTHER;
        ngx_cpystrn(s->project, (u_char *) "_other", sizeof("_other"));
        ngx_cpystrn(s->provider, (u_char *) "_other", sizeof("_other"));
        ngx_cpystrn(s->model, (u_char *) "_other", sizeof("_other"));
    }

    return s;
}


static ngx_uint_t
ngx_voicegw_series_is(ngx_voicegw_series_t *s, ngx_uint_t modality,
    ngx_str_t *labels)
{
    u_char      *have[3];
    ngx_uint_t   i;

    have[0] = s->project;
    have[1] = s->provider;
    have[2] = s->model;

    if (s->modality != (uint32_t) modality) {
        return 0;
    }

    for (i = 0; i < 3; i++) {
        if (ngx_strncmp(have[i], labels[i].data, labels[i].len) != 0
            || have[i][labels[i].len] != '\0')
        {
            return 0;
        }
    }

    return 1;
}


static void
ngx_voicegw_series_add(ngx_voicegw_series_t *s, ngx_voicegw_record_t *r)
{
    s->requests[ngx_min(r->status, NGX_VOICEGW_NSTATUSES - 1)]++;

    if (r->flags & NGX_VOICEGW_RECORD_BUDGET) {
        s->budget_rejections++;
    }

    if (r->flags & NGX_VOICEGW_RECORD_UNPRICED) {
        s->unpriced++;
    }

    if (r->flags & NGX_VOICEGW_RECORD_PARTIAL) {
        s->partial++;
    }

    s->cost_usd += r->cost_usd;
    s->input_units += r->input_units;
    s->output_units += r->output_units;

    ngx_voicegw_hist_add(&s->ttfb, r->ttfb_ms);
    ngx_voicegw_hist_add(&s->latency, r->total_ms);
    ngx_voicegw_hist_add(&s->queue_wait, r->queue_wait_ms);
}


static void
ngx_voicegw_hist_add(ngx_voicegw_hist_t *h, double ms)
{
    ngx_uint_t  i;

    if (ms < 0) {
        return;
    }

    for (i = 0; i < NGX_VOICEGW_HIST_BOUNDS; i++) {
        if (ms <= ngx_voicegw_hist_bounds[i]) {
            break;
        }
    }

    h->count[i]++;
    h->n++;
    h->sum += ms;
}


/*
 * The next records from the ring position *from on, whole, up to cap
 * bytes; *from moves past them (and past padding).  Returns the bytes
 * copied; *n the records.
 */

size_t
ngx_voicegw_recorder_copy_locked(ngx_voicegw_recorder_sh_t *sh, u_char *dst,
    size_t cap, uint64_t *from, ngx_uint_t *n)
{
    size_t              copied, off;
    uint64_t            pos;
    ngx_voicegw_rec_t  *h;

    copied = 0;
    *n = 0;

    for (pos = *from; pos < sh->head; /* void */) {
        off = (size_t) (pos % sh->size);
        h = (ngx_voicegw_rec_t *) (sh->data + off);

        if (h->len == 0) {
            pos += sh->size - off;
            continue;
        }

        if (copied + h->len > cap) {
            break;
        }

        ngx_memcpy(dst + copied, h, h->len);
        copied += h->len;
        pos += h->len;
        (*n)++;
    }

    *from = pos;

    return copied;
}


/* what /v1/metrics shows; view->series has room for every series */

ngx_int_t
ngx_voicegw_recorder_view(ngx_voicegw_recorder_t *rec,
    ngx_voicegw_recorder_view_t *view)
{
    size_t                      off;
    uint64_t                    now;
    ngx_uint_t                  i;
    ngx_voicegw_rec_t          *h;
    ngx_voicegw_recorder_sh_t  *sh;

    if (rec == NULL || rec->sh == NULL) {
        return NGX_DECLINED;
    }

    sh = rec->sh;
    now = ngx_voicegw_now_msec();

    ngx_voicegw_zone_lock(rec->zone);

    view->accepted = sh->accepted;
    view->dropped = sh->dropped;
    view->committed = sh->committed;
    view->record_ns = sh->record_ns;
    view->record_calls = sh->record_calls;
    view->size = sh->size;
    view->used = (size_t) (sh->head - sh->tail);
    view->lag = 0;
    ngx_memcpy(view->late_max, sh->late_max, sizeof(sh->late_max));
    ngx_memcpy(view->hold_max, sh->hold_max, sizeof(sh->hold_max));
    ngx_memcpy(view->hold_over, sh->hold_over, sizeof(sh->hold_over));
    ngx_memcpy(view->call_max, sh->call_max, sizeof(sh->call_max));
    ngx_memcpy(view->call_over, sh->call_over, sizeof(sh->call_over));

    if (sh->head > sh->tail) {
        off = (size_t) (sh->tail % sh->size);
        h = (ngx_voicegw_rec_t *) (sh->data + off);

        if (h->len == 0 && sh->tail + (sh->size - off) < sh->head) {
            h = (ngx_voicegw_rec_t *) sh->data;
        }

        if (h->len && (uint64_t) h->ts < now) {
            view->lag = now - (uint64_t) h->ts;
        }
    }

    view->nseries = 0;

    for (i = 0; i <= NGX_VOICEGW_SERIES_MAX; i++) {
        if (sh->series[i].hash) {
            view->series[view->nseries++] = sh->series[i];
        }
    }

    ngx_voicegw_zone_unlock(rec->zone);

    return NGX_OK;
}
