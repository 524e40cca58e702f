
/*
 * ngx_voicegw_sql.c
 *
 * Owns the running of SQL: the one batch runner every reader and writer
 * of the store goes through, in a thread of the store's pool, and the
 * return of its rows to the event loop.
 *
 * A thread only touches SQLite and plain memory: result rows are encoded
 * into a malloc()ed buffer per statement, and decoded into the caller's
 * pool back on the event loop (ngx_voicegw_sql_collect); a caller that
 * went away meanwhile frees the buffers from a pool cleanup.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_sql.h"


ngx_int_t
ngx_voicegw_sql_exec(sqlite3 *db, const char *sql, u_char *err, size_t len)
{
    char  *msg;

    msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        ngx_snprintf(err, len, "%s%Z", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_voicegw_sql_error(sqlite3 *db, const char *what, u_char *err,
    size_t len)
{
    ngx_snprintf(err, len, "%s: %s%Z", what, sqlite3_errmsg(db));
}


ngx_voicegw_sql_stmt_t *
ngx_voicegw_sql_add(ngx_voicegw_sql_batch_t *b, const char *sql,
    ngx_uint_t expect)
{
    ngx_voicegw_sql_stmt_t  *st;

    if (b->nstmts == NGX_VOICEGW_SQL_STMTS) {
        return NULL;
    }

    st = &b->stmt[b->nstmts++];
    ngx_memzero(st, sizeof(ngx_voicegw_sql_stmt_t));

    st->sql = sql;
    st->expect = expect;

    return st;
}


/*
 * The next parameter.  Too many of them is a programming error: the last
 * slot is reused, and the batch fails when it runs, saying why.
 */

static ngx_voicegw_sql_value_t *
ngx_voicegw_sql_param(ngx_voicegw_sql_stmt_t *st)
{
    if (st->nparams == NGX_VOICEGW_SQL_PARAMS) {
        st->sql = NULL;
        return &st->param[NGX_VOICEGW_SQL_PARAMS - 1];
    }

    return &st->param[st->nparams++];
}


void
ngx_voicegw_sql_text(ngx_voicegw_sql_stmt_t *st, ngx_str_t *s)
{
    ngx_voicegw_sql_value_t  *v;

    v = ngx_voicegw_sql_param(st);

    if (s == NULL || s->data == NULL) {
        v->type = NGX_VOICEGW_SQL_NULL;
        return;
    }

    v->type = NGX_VOICEGW_SQL_TEXT;
    v->s = *s;
}


void
ngx_voicegw_sql_ctext(ngx_voicegw_sql_stmt_t *st, const char *s)
{
    ngx_voicegw_sql_value_t  *v;

    v = ngx_voicegw_sql_param(st);
    v->type = NGX_VOICEGW_SQL_TEXT;
    v->s.data = (u_char *) s;
    v->s.len = ngx_strlen(s);
}


void
ngx_voicegw_sql_real(ngx_voicegw_sql_stmt_t *st, double d)
{
    ngx_voicegw_sql_value_t  *v;

    v = ngx_voicegw_sql_param(st);
    v->type = NGX_VOICEGW_SQL_REAL;
    v->d = d;
}


void
ngx_voicegw_sql_int(ngx_voicegw_sql_stmt_t *st, int64_t i)
{
    ngx_voicegw_sql_value_t  *v;

    v = ngx_voicegw_sql_param(st);
    v->type = NGX_VOICEGW_SQL_INT;
    v->i = i;
}


void
ngx_voicegw_sql_null(ngx_voicegw_sql_stmt_t *st)
{
    ngx_voicegw_sql_param(st)->type = NGX_VOICEGW_SQL_NULL;
}


/* the thread's side: append to a statement's result buffer */

static ngx_int_t
ngx_voicegw_sql_append(ngx_voicegw_sql_stmt_t *st, const void *data,
    size_t len)
{
    size_t   cap;
    u_char  *buf;

    if (st->len + len > st->cap) {
        cap = ngx_max(st->cap * 2, st->len + len + 1024);

        buf = realloc(st->buf, cap);
        if (buf == NULL) {
            return NGX_ERROR;
        }

        st->buf = buf;
        st->cap = cap;
    }

    ngx_memcpy(st->buf + st->len, data, len);
    st->len += len;

    return NGX_OK;
}


static ngx_int_t
ngx_voicegw_sql_row(ngx_voicegw_sql_stmt_t *st, sqlite3_stmt *stmt)
{
    int             i, n, type;
    u_char          t;
    double          d;
    int64_t         v;
    uint32_t        len;
    const u_char   *text;

    n = sqlite3_column_count(stmt);
    st->ncols = n;

    for (i = 0; i < n; i++) {
        type = sqlite3_column_type(stmt, i);

        switch (type) {

        case SQLITE_INTEGER:
            t = NGX_VOICEGW_SQL_INT;
            v = sqlite3_column_int64(stmt, i);

            if (ngx_voicegw_sql_append(st, &t, 1) != NGX_OK
                || ngx_voicegw_sql_append(st, &v, sizeof(v)) != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;

        case SQLITE_FLOAT:
            t = NGX_VOICEGW_SQL_REAL;
            d = sqlite3_column_double(stmt, i);

            if (ngx_voicegw_sql_append(st, &t, 1) != NGX_OK
                || ngx_voicegw_sql_append(st, &d, sizeof(d)) != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;

        case SQLITE_NULL:
            t = NGX_VOICEGW_SQL_NULL;

            if (ngx_voicegw_sql_append(st, &t, 1) != NGX_OK) {
                return NGX_ERROR;
            }

            break;

        default:
            t = NGX_VOICEGW_SQL_TEXT;
            text = sqlite3_column_text(stmt, i);
            len = sqlite3_column_bytes(stmt, i);

            if (text == NULL) {
                if (sqlite3_errcode(sqlite3_db_handle(stmt)) == SQLITE_NOMEM) {
                    return NGX_ERROR;
                }

                text = (const u_char *) "";   /* an empty blob */
                len = 0;
            }

            if (ngx_voicegw_sql_append(st, &t, 1) != NGX_OK
                || ngx_voicegw_sql_append(st, &len, sizeof(len)) != NGX_OK
                || ngx_voicegw_sql_append(st, text, len)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    st->nrows++;

    return NGX_OK;
}


/*
 * Runs the batch of op->data (ngx_voicegw_sql_batch_t) in a thread: NGX_OK;
 * NGX_DECLINED when a statement's expectation failed or a constraint was
 * violated (b->failed says which, b->sqlite_rc why); NGX_ERROR otherwise.
 */

ngx_int_t
ngx_voicegw_sql_run(ngx_voicegw_store_op_t *op, sqlite3 *db)
{
    ngx_voicegw_sql_batch_t  *b = op->data;

    int                       rc;
    ngx_int_t                 result;
    ngx_uint_t                i, k, n;
    sqlite3_stmt             *stmt;
    ngx_voicegw_sql_stmt_t   *st;
    ngx_voicegw_sql_value_t  *v;

    b->failed = -1;
    stmt = NULL;
    result = NGX_ERROR;

    /* a write takes the lock now; a read sees one snapshot throughout */

    if (ngx_voicegw_sql_exec(db, b->write ? "BEGIN IMMEDIATE" : "BEGIN",
                               op->err, sizeof(op->err))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < b->nstmts; i++) {
        st = &b->stmt[i];

        if (st->sql == NULL) {
            ngx_snprintf(op->err, sizeof(op->err),
                         "statement %ui has more than %d parameters%Z",
                         i, NGX_VOICEGW_SQL_PARAMS);
            goto rollback;
        }

        if (sqlite3_prepare_v2(db, st->sql, -1, &stmt, NULL) != SQLITE_OK) {
            goto failed;
        }

        /* a statement may leave some of the batch's parameters unused */

        n = (ngx_uint_t) sqlite3_bind_parameter_count(stmt);

        for (k = 0; k < st->nparams && k < n; k++) {
            v = &st->param[k];

            switch (v->type) {
            case NGX_VOICEGW_SQL_INT:
                rc = sqlite3_bind_int64(stmt, k + 1, v->i);
                break;
            case NGX_VOICEGW_SQL_REAL:
                rc = sqlite3_bind_double(stmt, k + 1, v->d);
                break;
            case NGX_VOICEGW_SQL_TEXT:
                rc = sqlite3_bind_text(stmt, k + 1, (char *) v->s.data,
                                       (int) v->s.len, SQLITE_STATIC);
                break;
            default:
                rc = sqlite3_bind_null(stmt, k + 1);
            }

            if (rc != SQLITE_OK) {
                goto failed;
            }
        }

        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            if (ngx_voicegw_sql_row(st, stmt) != NGX_OK) {
                ngx_snprintf(op->err, sizeof(op->err), "out of memory%Z");
                sqlite3_finalize(stmt);
                stmt = NULL;
                goto rollback;
            }
        }

        if (rc != SQLITE_DONE) {
            b->sqlite_rc = rc;

            if ((rc & 0xff) == SQLITE_CONSTRAINT) {
                b->failed = i;
                result = NGX_DECLINED;
            }

            goto failed;
        }

        /* sqlite3_changes() keeps the last write's count over a SELECT */
        st->changes = sqlite3_stmt_readonly(stmt) ? 0 : sqlite3_changes(db);

        sqlite3_finalize(stmt);
        stmt = NULL;

        if ((st->expect == NGX_VOICEGW_SQL_ROW && st->nrows == 0)
            || (st->expect == NGX_VOICEGW_SQL_NO_ROW && st->nrows)
            || (st->expect == NGX_VOICEGW_SQL_CHANGED && st->changes == 0))
        {
            b->failed = i;
            result = NGX_DECLINED;
            goto rollback;
        }
    }

    if (ngx_voicegw_sql_exec(db, "COMMIT", op->err, sizeof(op->err))
        != NGX_OK)
    {
        goto rollback;
    }

    return NGX_OK;

failed:

    ngx_voicegw_sql_error(db, "statement", op->err, sizeof(op->err));

    if (stmt != NULL) {
        sqlite3_finalize(stmt);
    }

rollback:

    /* what failed, before ROLLBACK sets SQLite's last code */

    if (op->sqlite_rc == SQLITE_OK) {
        op->sqlite_rc = sqlite3_extended_errcode(db);
    }

    (void) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);

    return result;
}


/* back on the event loop: the rows into the pool, the buffers freed */

ngx_int_t
ngx_voicegw_sql_collect(ngx_pool_t *pool, ngx_voicegw_sql_batch_t *b)
{
    u_char                   *p, *last;
    uint32_t                  len;
    ngx_uint_t                i, n;
    ngx_voicegw_sql_stmt_t   *st;
    ngx_voicegw_sql_value_t  *v;

    for (i = 0; i < b->nstmts; i++) {
        st = &b->stmt[i];

        if (st->nrows == 0) {
            continue;
        }

        st->rows = ngx_pcalloc(pool, st->nrows * st->ncols
                                     * sizeof(ngx_voicegw_sql_value_t));
        if (st->rows == NULL) {
            ngx_voicegw_sql_free(b);
            return NGX_ERROR;
        }

        p = st->buf;
        last = st->buf + st->len;

        for (n = 0; n < st->nrows * st->ncols && p < last; n++) {
            v = &st->rows[n];
            v->type = *p++;

            switch (v->type) {

            case NGX_VOICEGW_SQL_INT:
                ngx_memcpy(&v->i, p, sizeof(int64_t));
                v->d = (double) v->i;
                p += sizeof(int64_t);
                break;

            case NGX_VOICEGW_SQL_REAL:
                ngx_memcpy(&v->d, p, sizeof(double));
                v->i = (int64_t) v->d;
                p += sizeof(double);
                break;

            case NGX_VOICEGW_SQL_TEXT:
                ngx_memcpy(&len, p, sizeof(uint32_t));
                p += sizeof(uint32_t);

                v->s.data = ngx_pnalloc(pool, len + 1);
                if (v->s.data == NULL) {
                    ngx_voicegw_sql_free(b);
                    return NGX_ERROR;
                }

                ngx_memcpy(v->s.data, p, len);
                v->s.data[len] = '\0';
                v->s.len = len;
                p += len;
                break;

            default:
                break;
            }
        }
    }

    ngx_voicegw_sql_free(b);

    return NGX_OK;
}


/* a pool cleanup: the buffers of a batch whose request went away */

void
ngx_voicegw_sql_cleanup(void *data)
{
    ngx_voicegw_sql_free(data);
}


void
ngx_voicegw_sql_free(ngx_voicegw_sql_batch_t *b)
{
    ngx_uint_t  i;

    for (i = 0; i < b->nstmts; i++) {
        free(b->stmt[i].buf);
        b->stmt[i].buf = NULL;
        b->stmt[i].len = 0;
        b->stmt[i].cap = 0;
    }
}


/* a value of a row as JSON: a string, a number, or null */

void
ngx_voicegw_sql_json(ngx_voicegw_json_t *j, ngx_voicegw_sql_value_t *v)
{
    switch (v->type) {

    case NGX_VOICEGW_SQL_TEXT:
        ngx_voicegw_json_str(j, &v->s);
        break;

    case NGX_VOICEGW_SQL_INT:
    case NGX_VOICEGW_SQL_REAL:
        ngx_voicegw_json_double(j, v->d);
        break;

    default:
        ngx_voicegw_json_null(j);
    }
}
