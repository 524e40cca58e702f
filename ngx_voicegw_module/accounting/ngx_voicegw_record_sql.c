
/*
 * ngx_voicegw_record_sql.c
 *
 * Owns the recorder's SQL: a batch of records committed in ONE
 * transaction with its rollups (its rows' statements and retention are
 * ngx_voicegw_record_rows.c's).  Runs in a thread of the store's pool,
 * never on the event loop.
 *
 *   - Rows are inserted with the ids the recorder gave them, OR IGNORE:
 *     a batch committed twice (a flusher died after its commit, another
 *     took over) adds nothing the second time, rollups included, because
 *     only rows actually inserted are rolled up.
 *   - The rollups are the trigger's SQL (store/ngx_voicegw_rollup_sql.h),
 *     run once per distinct key of the batch with its summed counts
 *     rather than once per row: a few hundred statements for thousands of
 *     records.  The rows carry rolled_up = 1 so that the trigger leaves
 *     them alone.
 *   - This is the recorder's own bulk writer next to the general batch
 *     runner (store/ngx_voicegw_sql.c): that one runs a short list of
 *     statements with results for the API; this one streams thousands of
 *     rows with no result.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_sql.h"
#include "ngx_voicegw_rollup_sql.h"
#include "ngx_voicegw_record.h"
#include "ngx_voicegw_recorder.h"
#include "ngx_voicegw_record_sql.h"
#include "ngx_voicegw_record_rows.h"

#include <math.h>


/* the statements of a batch, each prepared once per batch */

enum {
    NGX_VOICEGW_ST_INSERT = 0,
    NGX_VOICEGW_ST_DAILY,
    NGX_VOICEGW_ST_DAY_COPY,
    NGX_VOICEGW_ST_DAY_MARK,
    NGX_VOICEGW_ST_ADD,
    NGX_VOICEGW_ST_GROUP,       /* prepared when a batch has a group */
    NGX_VOICEGW_NST
};


static const char  *ngx_voicegw_record_sql[NGX_VOICEGW_NST] = {

    NULL,                       /* ngx_voicegw_record_rows_prepare() */

    NGX_VOICEGW_SQL_DAILY("?1", "?2", "?3", "?4", "?5", "?6", "?7", "?8",
                          "?9", "?10", "?11", "?12", "?13", "?14"),

    /* NGX_VOICEGW_SQL_LATENCY_DAY is two statements: copy, then mark */
    NGX_VOICEGW_SQL_LATENCY_DAY("?1", "?2", "?3", "?4", "1"),
    NULL,

    NGX_VOICEGW_SQL_LATENCY_ADD("?1", "?2", "?3", "?4", "?5", "?6", "1"),
    NULL
};


/* one key of the daily rollup, and its sums */

typedef struct {
    uint32_t                     hash;
    int32_t                      day;
    ngx_uint_t                   modality;
    ngx_str_t                    project;
    ngx_str_t                    provider;
    ngx_str_t                    model;
    int64_t                      n;
    int64_t                      errors;
    double                       cost;
    double                       in;
    double                       out;
    double                       tsum;
    int64_t                      tn;
    double                       lsum;
    int64_t                      ln;
} ngx_voicegw_agg_daily_t;


/* one bucket of one day of one cumulative histogram */

typedef struct {
    uint32_t                     hash;
    int32_t                      day;
    int32_t                      bucket;
    ngx_uint_t                   kind;       /* 0: ttfb, 1: total */
    ngx_str_t                    group;      /* a project, or "*" */
    ngx_str_t                    model;
    int64_t                      n;
} ngx_voicegw_agg_bucket_t;


typedef struct {
    sqlite3_stmt                *st[NGX_VOICEGW_NST];
    ngx_voicegw_agg_daily_t     *daily;
    ngx_uint_t                   ndaily;      /* slots, a power of 2 */
    ngx_uint_t                   udaily;      /* used */
    ngx_voicegw_agg_bucket_t    *buckets;
    ngx_uint_t                   nbuckets;
    ngx_uint_t                   ubuckets;
    ngx_uint_t                   failed;      /* out of memory */
    u_char                      *err;
    size_t                       errlen;
    /* the batch's pauses: see ngx_voicegw_record_pause() */
    uint64_t                     slice;
    uint64_t                     until;
    ngx_uint_t                   steps;
    ngx_uint_t                   pauses;
} ngx_voicegw_agg_t;


static ngx_int_t ngx_voicegw_record_prepare(sqlite3 *db,
    ngx_voicegw_agg_t *a);
static ngx_int_t ngx_voicegw_record_groups(sqlite3 *db, ngx_voicegw_agg_t *a,
    ngx_voicegw_record_batch_t *b);
static ngx_int_t ngx_voicegw_record_row(sqlite3 *db, ngx_voicegw_agg_t *a,
    ngx_voicegw_rec_t *h, ngx_uint_t *inserted);
static void ngx_voicegw_record_sum(ngx_voicegw_agg_t *a,
    ngx_voicegw_rec_t *h);
static void ngx_voicegw_record_bucket(ngx_voicegw_agg_t *a, ngx_str_t *group,
    uint32_t ghash, ngx_str_t *model, uint32_t mhash, ngx_uint_t kind,
    int32_t day, int32_t bucket);
static int32_t ngx_voicegw_record_bucket_of(double ms);
static ngx_int_t ngx_voicegw_record_rollups(sqlite3 *db,
    ngx_voicegw_agg_t *a);
static ngx_int_t ngx_voicegw_record_days(sqlite3 *db, ngx_voicegw_agg_t *a);
static int ngx_libc_cdecl ngx_voicegw_bucket_cmp(const void *one,
    const void *two);
static void ngx_voicegw_record_pause(ngx_voicegw_agg_t *a);
static void ngx_voicegw_record_rest(ngx_voicegw_agg_t *a);
static ngx_int_t ngx_voicegw_record_step(sqlite3 *db, ngx_voicegw_agg_t *a,
    sqlite3_stmt *st, const char *what);
static uint32_t ngx_voicegw_agg_hash(uint32_t a, uint32_t b, uint32_t c,
    int64_t x, int64_t y);
static ngx_int_t ngx_voicegw_agg_grow(void **table, ngx_uint_t *slots,
    size_t size);


static const char  *ngx_voicegw_kind_names[] = { "ttfb", "total" };


/*
 * A batch is milliseconds of CPU, taken in slices: after each 100 us of
 * work the thread sleeps 100 us.  On a machine short of CPUs a woken
 * event loop, the provider's or the client's process, otherwise waited
 * behind the batch whatever the thread's priority: in bench/, a 4 ms
 * burst every 200 ms at nice 10 took plain nginx's p99 from 0.2 to 1.1
 * ms; a sched_yield() every 200 us to 0.24 ms; slices with sleeps left
 * it where it was.  Not for a full batch (records pile up), and not past
 * a quarter of the flush interval (on a busy machine each pause lasts,
 * and the buffer must not overflow).
 */

#define NGX_VOICEGW_RECORD_SLICE  100       /* us of work */
#define NGX_VOICEGW_RECORD_REST   100       /* us of sleep */


static void
ngx_voicegw_record_pause(ngx_voicegw_agg_t *a)
{
    if ((++a->steps & 15) == 0) {
        ngx_voicegw_record_rest(a);
    }
}


/* the sleep, if the slice is over; between steps too long to count */

static void
ngx_voicegw_record_rest(ngx_voicegw_agg_t *a)
{
    uint64_t         now;
    struct timespec  rest;

    if (!a->pauses) {
        return;
    }

    now = ngx_voicegw_recorder_usec();

    if (now - a->slice > NGX_VOICEGW_RECORD_SLICE && now < a->until) {
        rest.tv_sec = 0;
        rest.tv_nsec = NGX_VOICEGW_RECORD_REST * 1000;

        (void) nanosleep(&rest, NULL);

        a->slice = ngx_voicegw_recorder_usec();
    }
}


ngx_int_t
ngx_voicegw_record_sql_batch(ngx_voicegw_store_op_t *op, sqlite3 *db)
{
    ngx_voicegw_record_batch_t  *b = op->data;

    u_char              *p, *last;
    ngx_int_t            rc;
    ngx_uint_t           i, inserted;
    ngx_voicegw_agg_t    a;
    ngx_voicegw_rec_t   *h;

    ngx_memzero(&a, sizeof(ngx_voicegw_agg_t));
    a.err = op->err;
    a.errlen = sizeof(op->err);

    b->inserted = 0;
    b->known = 0;

    /*
     * the keys of a batch are few (days x labels, buckets): the tables
     * start small and double when half full
     */

    a.ndaily = 64;
    a.nbuckets = 1024;

    a.daily = ngx_calloc(a.ndaily * sizeof(ngx_voicegw_agg_daily_t),
                         op->store->log);
    a.buckets = ngx_calloc(a.nbuckets * sizeof(ngx_voicegw_agg_bucket_t),
                           op->store->log);

    if (a.daily == NULL || a.buckets == NULL) {
        ngx_snprintf(op->err, sizeof(op->err), "out of memory%Z");
        rc = NGX_ERROR;
        goto done;
    }

    /* the first slice has the transaction's start and the statements */

    a.pauses = !b->backlog;
    a.slice = ngx_voicegw_recorder_usec();
    a.until = a.slice + (uint64_t) op->store->flush * 250;

    if (ngx_voicegw_sql_exec(db, "BEGIN IMMEDIATE", op->err,
                             sizeof(op->err))
        != NGX_OK)
    {
        rc = NGX_ERROR;
        goto done;
    }

    /*
     * the trigger (requests_import) rolls up rows inserted by other means;
     * these are rolled up below.  Off for the batch, it costs nothing:
     * on, its WHEN alone ran a sub-program per row (a frame allocated,
     * zeroed and freed), a third of the thread's time (perf, bench/).
     */

    (void) sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);

    rc = ngx_voicegw_record_prepare(db, &a);

    if (rc == NGX_OK) {
        rc = ngx_voicegw_record_groups(db, &a, b);
    }

    p = b->data;
    last = p;

    if (rc == NGX_DECLINED) {
        /* a small batch, or some rows were there (committed again) */
        last = b->data + b->len;
        rc = NGX_OK;
    }

    while (rc == NGX_OK && p < last) {
        h = (ngx_voicegw_rec_t *) p;
        p += h->len;

        ngx_voicegw_record_pause(&a);

        rc = ngx_voicegw_record_row(db, &a, h, &inserted);

        if (rc == NGX_OK) {
            if (inserted) {
                b->inserted++;
                ngx_voicegw_record_sum(&a, h);

            } else {
                b->known++;
            }
        }
    }

    if (rc == NGX_OK && a.failed) {
        ngx_snprintf(op->err, sizeof(op->err), "out of memory%Z");
        rc = NGX_ERROR;
    }

    if (rc == NGX_OK) {
        rc = ngx_voicegw_record_rollups(db, &a);
    }

    for (i = 0; i < NGX_VOICEGW_NST; i++) {
        if (a.st[i]) {
            sqlite3_finalize(a.st[i]);
        }
    }

    (void) sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 1, NULL);

    if (rc == NGX_OK) {
        rc = ngx_voicegw_sql_exec(db, "COMMIT", op->err, sizeof(op->err));
    }

    if (rc != NGX_OK) {
        /* what failed, before ROLLBACK sets SQLite's last code */
        op->sqlite_rc = sqlite3_extended_errcode(db);
        (void) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        b->inserted = 0;
        b->known = 0;
    }

done:

    if (a.daily) {
        ngx_free(a.daily);
    }

    if (a.buckets) {
        ngx_free(a.buckets);
    }

    return rc;
}


static ngx_int_t
ngx_voicegw_record_prepare(sqlite3 *db, ngx_voicegw_agg_t *a)
{
    ngx_uint_t   i;
    const char  *tail;

    tail = NULL;

    for (i = 0; i < NGX_VOICEGW_NST; i++) {

        ngx_voicegw_record_rest(a);

        if (i == NGX_VOICEGW_ST_INSERT) {
            if (ngx_voicegw_record_rows_prepare(db, 1, &a->st[i]) != NGX_OK) {
                goto failed;
            }

            continue;
        }

        if (i == NGX_VOICEGW_ST_GROUP) {
            continue;
        }

        if (i == NGX_VOICEGW_ST_DAY_MARK) {
            /* the second statement of the copy's text */
            if (sqlite3_prepare_v2(db, tail, -1, &a->st[i], NULL)
                != SQLITE_OK)
            {
                goto failed;
            }

            continue;
        }

        if (sqlite3_prepare_v2(db, ngx_voicegw_record_sql[i], -1, &a->st[i],
                               &tail)
            != SQLITE_OK)
        {
            goto failed;
        }
    }

    return NGX_OK;

failed:

    ngx_voicegw_sql_error(db, "prepare", a->err, a->errlen);

    return NGX_ERROR;
}


/*
 * The batch's rows, NGX_VOICEGW_RECORD_GROUP to a statement (the rest one
 * by one): NGX_OK, every row was new, and each is in the rollups' sums.
 * NGX_DECLINED: the rows go one by one, as the batch has fewer than
 * NGX_VOICEGW_RECORD_GROUPED (the group statement's preparation would
 * cost more than it saves), or as some were there already, which rows
 * is not known (the transaction is begun again).
 */

static ngx_int_t
ngx_voicegw_record_groups(sqlite3 *db, ngx_voicegw_agg_t *a,
    ngx_voicegw_record_batch_t *b)
{
    u_char             *p, *last;
    ngx_uint_t          i, n, left, rows, changes;
    sqlite3_stmt       *st;
    ngx_voicegw_rec_t  *h;

    last = b->data + b->len;
    n = 0;

    for (p = b->data; p < last; p += ((ngx_voicegw_rec_t *) p)->len) {
        n++;
    }

    if (n < NGX_VOICEGW_RECORD_GROUPED) {
        return NGX_DECLINED;
    }

    if (ngx_voicegw_record_rows_prepare(db, NGX_VOICEGW_RECORD_GROUP,
                                        &a->st[NGX_VOICEGW_ST_GROUP])
        != NGX_OK)
    {
        ngx_voicegw_sql_error(db, "prepare", a->err, a->errlen);
        return NGX_ERROR;
    }

    changes = 0;
    left = n;
    p = b->data;

    while (left) {
        rows = (left >= NGX_VOICEGW_RECORD_GROUP) ? NGX_VOICEGW_RECORD_GROUP
                                                  : 1;
        st = a->st[rows > 1 ? NGX_VOICEGW_ST_GROUP : NGX_VOICEGW_ST_INSERT];

        sqlite3_reset(st);

        for (i = 0; i < rows; i++) {
            h = (ngx_voicegw_rec_t *) p;
            p += h->len;
            ngx_voicegw_record_rows_bind(st, i, h);
        }

        left -= rows;

        ngx_voicegw_record_rest(a);

        if (ngx_voicegw_record_step(db, a, st, "insert") != NGX_OK) {
            return NGX_ERROR;
        }

        changes += sqlite3_changes(db);
    }

    if (changes != n) {
        if (ngx_voicegw_sql_exec(db, "ROLLBACK", a->err, a->errlen) != NGX_OK
            || ngx_voicegw_sql_exec(db, "BEGIN IMMEDIATE", a->err, a->errlen)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_DECLINED;
    }

    for (p = b->data; p < last; p += ((ngx_voicegw_rec_t *) p)->len) {
        ngx_voicegw_record_sum(a, (ngx_voicegw_rec_t *) p);
    }

    b->inserted = n;

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_record_row(sqlite3 *db, ngx_voicegw_agg_t *a,
    ngx_voicegw_rec_t *h, ngx_uint_t *inserted)
{
    sqlite3_stmt  *st;

    st = a->st[NGX_VOICEGW_ST_INSERT];

    sqlite3_reset(st);
    ngx_voicegw_record_rows_bind(st, 0, h);

    if (ngx_voicegw_record_step(db, a, st, "insert") != NGX_OK) {
        return NGX_ERROR;
    }

    *inserted = (sqlite3_changes(db) == 1);

    return NGX_OK;
}


/* the record's share of the rollups */

static void
ngx_voicegw_record_sum(ngx_voicegw_agg_t *a, ngx_voicegw_rec_t *h)
{
    u_char                   *s;
    double                    ms;
    int32_t                   day, bucket;
    uint32_t                  hash, hp, hm, hall;
    ngx_uint_t                kind;
    ngx_str_t                 project, provider, model, all;
    ngx_uint_t                i;
    ngx_voicegw_agg_daily_t  *d;

    s = (u_char *) (h + 1);

    project.data = s;
    project.len = h->project_len;
    provider.data = s + h->project_len;
    provider.len = h->provider_len;
    model.data = s + h->project_len + h->provider_len;
    model.len = h->model_len;

    day = (int32_t) (h->ts / 86400000);

    /* each string hashed once for the record's five keys */

    hp = ngx_crc32_short(project.data, project.len);
    hm = ngx_crc32_short(model.data, model.len);

    hash = ngx_voicegw_agg_hash(hp, ngx_crc32_short(provider.data,
                                                    provider.len),
                                hm, day, h->modality);

    if (2 * (a->udaily + 1) > a->ndaily
        && ngx_voicegw_agg_grow((void **) &a->daily, &a->ndaily,
                                sizeof(ngx_voicegw_agg_daily_t))
           != NGX_OK)
    {
        a->failed = 1;
        return;
    }

    for (i = hash & (a->ndaily - 1); /* void */; i = (i + 1) & (a->ndaily - 1))
    {
        d = &a->daily[i];

        if (d->hash == 0) {
            a->udaily++;
            d->hash = hash;
            d->day = day;
            d->modality = h->modality;
            d->project = project;
            d->provider = provider;
            d->model = model;
            break;
        }

        if (d->hash == hash && d->day == day && d->modality == h->modality
            && d->project.len == project.len
            && d->provider.len == provider.len
            && d->model.len == model.len
            && ngx_memcmp(d->project.data, project.data, project.len) == 0
            && ngx_memcmp(d->provider.data, provider.data, provider.len) == 0
            && ngx_memcmp(d->model.data, model.data, model.len) == 0)
        {
            break;
        }
    }

    d->n++;
    d->errors += (h->status != NGX_VOICEGW_STATUS_SUCCESS);
    d->cost += h->cost_usd;
    d->in += h->input_units;
    d->out += h->output_units;

    if (h->ttfb_ms >= 0) {
        d->tsum += h->ttfb_ms;
        d->tn++;
    }

    if (h->total_ms >= 0) {
        d->lsum += h->total_ms;
        d->ln++;
    }

    ngx_str_set(&all, "*");
    hall = '*';

    for (kind = 0; kind < 2; kind++) {
        ms = kind ? h->total_ms : h->ttfb_ms;

        if (ms < 0) {
            continue;
        }

        bucket = ngx_voicegw_record_bucket_of(ms);

        ngx_voicegw_record_bucket(a, &project, hp, &model, hm, kind, day,
                                  bucket);
        ngx_voicegw_record_bucket(a, &all, hall, &model, hm, kind, day,
                                  bucket);
    }
}


static void
ngx_voicegw_record_bucket(ngx_voicegw_agg_t *a, ngx_str_t *group,
    uint32_t ghash, ngx_str_t *model, uint32_t mhash, ngx_uint_t kind,
    int32_t day, int32_t bucket)
{
    uint32_t                   hash;
    ngx_uint_t                 i;
    ngx_voicegw_agg_bucket_t  *b;

    hash = ngx_voicegw_agg_hash(ghash, mhash, (uint32_t) kind, day, bucket);

    if (2 * (a->ubuckets + 1) > a->nbuckets
        && ngx_voicegw_agg_grow((void **) &a->buckets, &a->nbuckets,
                                sizeof(ngx_voicegw_agg_bucket_t))
           != NGX_OK)
    {
        a->failed = 1;
        return;
    }

    for (i = hash & (a->nbuckets - 1); /* void */;
         i = (i + 1) & (a->nbuckets - 1))
    {
        b = &a->buckets[i];

        if (b->hash == 0) {
            a->ubuckets++;
            b->hash = hash;
            b->day = day;
            b->bucket = bucket;
            b->kind = kind;
            b->group = *group;
            b->model = *model;
            break;
        }

        if (b->hash == hash && b->day == day && b->bucket == bucket
            && b->kind == kind
            && b->group.len == group->len && b->model.len == model->len
            && ngx_memcmp(b->group.data, group->data, group->len) == 0
            && ngx_memcmp(b->model.data, model->data, model->len) == 0)
        {
            break;
        }
    }

    b->n++;
}


static int32_t
ngx_voicegw_record_bucket_of(double ms)
{
    return (int32_t) floor(log(ngx_max(ms, 0.001))
                           / log(NGX_VOICEGW_LATENCY_BASE));
}


static ngx_int_t
ngx_voicegw_record_rollups(sqlite3 *db, ngx_voicegw_agg_t *a)
{
    u_char                    dbuf[16];
    ngx_str_t                 day;
    ngx_uint_t                i;
    sqlite3_stmt             *st;
    ngx_voicegw_agg_daily_t  *d;
    ngx_voicegw_agg_bucket_t *b;

    st = a->st[NGX_VOICEGW_ST_DAILY];

    for (i = 0; i < a->ndaily; i++) {
        d = &a->daily[i];

        if (d->hash == 0) {
            continue;
        }

        ngx_voicegw_record_day(dbuf, d->day, &day);

        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, (char *) day.data, day.len, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, (char *) d->project.data, d->project.len,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 3, (char *) d->provider.data, d->provider.len,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 4, (char *) d->model.data, d->model.len,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 5,
                          (char *) ngx_voicegw_modality_names[d->modality].data,
                          ngx_voicegw_modality_names[d->modality].len,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, d->n);
        sqlite3_bind_int64(st, 7, d->errors);
        sqlite3_bind_double(st, 8, d->cost);
        sqlite3_bind_double(st, 9, d->in);
        sqlite3_bind_double(st, 10, d->out);
        sqlite3_bind_double(st, 11, d->tsum);
        sqlite3_bind_int64(st, 12, d->tn);
        sqlite3_bind_double(st, 13, d->lsum);
        sqlite3_bind_int64(st, 14, d->ln);

        if (ngx_voicegw_record_step(db, a, st, "daily") != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_voicegw_record_days(db, a) != NGX_OK) {
        return NGX_ERROR;
    }

    st = a->st[NGX_VOICEGW_ST_ADD];

    for (i = 0; i < a->nbuckets; i++) {
        b = &a->buckets[i];

        if (b->hash == 0) {
            continue;
        }

        ngx_voicegw_record_day(dbuf, b->day, &day);

        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, (char *) b->group.data, b->group.len,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 2, (char *) b->model.data, b->model.len,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 3, ngx_voicegw_kind_names[b->kind], 4 + b->kind,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 4, (char *) day.data, day.len, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, b->bucket);
        sqlite3_bind_int64(st, 6, b->n);

        if (ngx_voicegw_record_step(db, a, st, "latency") != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Every histogram of the batch gets its row set for each day it has
 * records on, earlier days first, before any count is added: a new
 * day's row set copies the latest earlier one as it was before this
 * batch, and the counts are then added to that day and every later one.
 */

static ngx_int_t
ngx_voicegw_record_days(sqlite3 *db, ngx_voicegw_agg_t *a)
{
    u_char                     dbuf[16];
    ngx_str_t                  day;
    ngx_uint_t                 i, n, k;
    ngx_voicegw_agg_bucket_t  *b, **all;

    all = ngx_alloc(a->nbuckets * sizeof(ngx_voicegw_agg_bucket_t *),
                    ngx_cycle->log);
    if (all == NULL) {
        ngx_snprintf(a->err, a->errlen, "out of memory%Z");
        return NGX_ERROR;
    }

    for (n = 0, i = 0; i < a->nbuckets; i++) {
        if (a->buckets[i].hash) {
            all[n++] = &a->buckets[i];
        }
    }

    ngx_qsort(all, n, sizeof(ngx_voicegw_agg_bucket_t *),
              ngx_voicegw_bucket_cmp);

    for (i = 0; i < n; i++) {
        b = all[i];

        /* one row set per histogram and day: the first bucket of each */

        if (i > 0 && ngx_voicegw_bucket_cmp(&all[i - 1], &b) == 0) {
            continue;
        }

        ngx_voicegw_record_day(dbuf, b->day, &day);

        for (k = NGX_VOICEGW_ST_DAY_COPY; k <= NGX_VOICEGW_ST_DAY_MARK; k++) {
            sqlite3_reset(a->st[k]);
            sqlite3_bind_text(a->st[k], 1, (char *) b->group.data,
                              b->group.len, SQLITE_STATIC);
            sqlite3_bind_text(a->st[k], 2, (char *) b->model.data,
                              b->model.len, SQLITE_STATIC);
            sqlite3_bind_text(a->st[k], 3, ngx_voicegw_kind_names[b->kind],
                              4 + b->kind, SQLITE_STATIC);
            sqlite3_bind_text(a->st[k], 4, (char *) day.data, day.len,
                              SQLITE_STATIC);

            if (ngx_voicegw_record_step(db, a, a->st[k], "latency day")
                != NGX_OK)
            {
                ngx_free(all);
                return NGX_ERROR;
            }
        }
    }

    ngx_free(all);

    return NGX_OK;
}


/* by histogram, then day: buckets of one histogram and day compare equal */

static int ngx_libc_cdecl
ngx_voicegw_bucket_cmp(const void *one, const void *two)
{
    ngx_int_t                  rc;
    ngx_voicegw_agg_bucket_t  *a, *b;

    a = *(ngx_voicegw_agg_bucket_t **) one;
    b = *(ngx_voicegw_agg_bucket_t **) two;

    rc = ngx_memn2cmp(a->group.data, b->group.data, a->group.len,
                      b->group.len);
    if (rc) {
        return (int) rc;
    }

    rc = ngx_memn2cmp(a->model.data, b->model.data, a->model.len,
                      b->model.len);
    if (rc) {
        return (int) rc;
    }

    if (a->kind != b->kind) {
        return a->kind < b->kind ? -1 : 1;
    }

    if (a->day != b->day) {
        return a->day < b->day ? -1 : 1;
    }

    return 0;
}


static ngx_int_t
ngx_voicegw_record_step(sqlite3 *db, ngx_voicegw_agg_t *a, sqlite3_stmt *st,
    const char *what)
{
    ngx_voicegw_record_pause(a);

    if (sqlite3_step(st) != SQLITE_DONE) {
        ngx_voicegw_sql_error(db, what, a->err, a->errlen);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static uint32_t
ngx_voicegw_agg_hash(uint32_t a, uint32_t b, uint32_t c, int64_t x,
    int64_t y)
{
    uint32_t  hash;

    hash = a;
    hash = hash * 31 + b;
    hash = hash * 31 + c;
    hash = hash * 31 + (uint32_t) x;
    hash = hash * 31 + (uint32_t) y;

    return hash | 1;
}


/*
 * Twice the slots, every entry moved to its place in the new table (an
 * entry starts with its hash; 0 marks a free slot).
 */

static ngx_int_t
ngx_voicegw_agg_grow(void **table, ngx_uint_t *slots, size_t size)
{
    u_char      *old, *new, *e;
    uint32_t     hash;
    ngx_uint_t   i, j, n;

    old = *table;
    n = *slots * 2;

    new = ngx_calloc(n * size, ngx_cycle->log);
    if (new == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < *slots; i++) {
        e = old + i * size;
        hash = *(uint32_t *) e;

        if (hash == 0) {
            continue;
        }

        for (j = hash & (n - 1); *(uint32_t *) (new + j * size);
             j = (j + 1) & (n - 1))
        {
            /* void */
        }

        ngx_memcpy(new + j * size, e, size);
    }

    ngx_free(old);

    *table = new;
    *slots = n;

    return NGX_OK;
}
