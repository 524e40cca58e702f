
/*
 * ngx_voicegw_store_settings.c
 *
 * Owns the settings in the store, the persistent side of the zone's
 * settings table (core/ngx_voicegw_settings.c).
 *
 * Settings come in groups named by a prefix ("eta.", "app.").  A write to
 * a group is one SQL batch: the rows, then "<prefix>version" bumped, then
 * the whole group read back, all in one transaction; the caller lays
 * exactly what was committed over the zone, which takes a group only when
 * its version is newer than the one it holds.  So two writes committed by
 * two processes in one order are applied in that order, whatever order
 * their completions run in, and a reload or restart never rolls the zone
 * back.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_store.h"
#include "ngx_voicegw_sql.h"
#include "ngx_voicegw_store_settings.h"


/* in the master, while the configuration is read */

ngx_int_t
ngx_voicegw_store_read_settings(ngx_pool_t *pool, ngx_array_t *settings,
    sqlite3 *db, u_char *err, size_t len)
{
    int                     rc;
    size_t                  klen, vlen;
    sqlite3_stmt           *stmt;
    ngx_voicegw_setting_t  *s;

    if (sqlite3_prepare_v2(db, "SELECT key, value FROM settings", -1, &stmt,
                           NULL)
        != SQLITE_OK)
    {
        ngx_voicegw_sql_error(db, "settings", err, len);
        return NGX_ERROR;
    }

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {

        s = ngx_array_push(settings);
        if (s == NULL) {
            sqlite3_finalize(stmt);
            return NGX_ERROR;
        }

        klen = sqlite3_column_bytes(stmt, 0);
        vlen = sqlite3_column_bytes(stmt, 1);

        s->key.data = ngx_pnalloc(pool, klen + vlen + 2);
        if (s->key.data == NULL) {
            sqlite3_finalize(stmt);
            return NGX_ERROR;
        }

        s->key.len = klen;
        ngx_memcpy(s->key.data, sqlite3_column_text(stmt, 0), klen);
        s->key.data[klen] = '\0';

        s->value.len = vlen;
        s->value.data = s->key.data + klen + 1;
        ngx_memcpy(s->value.data, sqlite3_column_text(stmt, 1), vlen);
        s->value.data[vlen] = '\0';
    }

    if (rc != SQLITE_DONE) {
        ngx_voicegw_sql_error(db, "settings", err, len);
        sqlite3_finalize(stmt);
        return NGX_ERROR;
    }

    sqlite3_finalize(stmt);

    return NGX_OK;
}

/* init_zone: the zone takes the groups the store held */

ngx_int_t
ngx_voicegw_store_settings_init_zone(ngx_voicegw_zone_t *zone, void *data,
    ngx_uint_t reused)
{
    ngx_voicegw_store_t  *store = data;

    ngx_voicegw_settings_load_locked(zone, &store->settings,
                                     zone->shm_zone->shm.log);

    return NGX_OK;
}


/*
 * A group write: each setting of "puts" (ngx_voicegw_setting_t, keys
 * starting with the prefix), then the version, then the group read back
 * (the last statement).
 */

ngx_int_t
ngx_voicegw_settings_batch(ngx_pool_t *pool, ngx_voicegw_sql_batch_t *b,
    const char *prefix, ngx_array_t *puts)
{
    u_char                  *p;
    size_t                   len;
    ngx_str_t               *key, *group;
    ngx_uint_t               i;
    ngx_voicegw_setting_t   *s;
    ngx_voicegw_sql_stmt_t  *st;

    len = ngx_strlen(prefix);

    if (len + sizeof("version") > NGX_VOICEGW_SETTING_SH_KEY
        || puts->nelts + 2 > NGX_VOICEGW_SQL_STMTS)
    {
        return NGX_ERROR;
    }

    key = ngx_palloc(pool, 2 * sizeof(ngx_str_t));
    p = ngx_pnalloc(pool, len + sizeof("version") - 1);

    if (key == NULL || p == NULL) {
        return NGX_ERROR;
    }

    key->data = p;
    key->len = ngx_sprintf(p, "%sversion", prefix) - p;

    group = key + 1;
    group->data = (u_char *) prefix;
    group->len = len;

    s = puts->elts;

    for (i = 0; i < puts->nelts; i++) {
        st = ngx_voicegw_sql_add(b,
                 "INSERT INTO settings (key, value) VALUES (?1, ?2) "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                 "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
                 NGX_VOICEGW_SQL_ANY);
        if (st == NULL) {
            return NGX_ERROR;
        }

        ngx_voicegw_sql_text(st, &s[i].key);
        ngx_voicegw_sql_text(st, &s[i].value);
    }

    st = ngx_voicegw_sql_add(b,
             "INSERT INTO settings (key, value) VALUES (?1, '1') "
             "ON CONFLICT (key) DO UPDATE SET "
             "value = CAST(value AS INTEGER) + 1",
             NGX_VOICEGW_SQL_CHANGED);
    if (st == NULL) {
        return NGX_ERROR;
    }

    ngx_voicegw_sql_text(st, key);

    st = ngx_voicegw_sql_add(b,
             "SELECT key, value FROM settings "
             "WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
             NGX_VOICEGW_SQL_ANY);
    if (st == NULL) {
        return NGX_ERROR;
    }

    ngx_voicegw_sql_text(st, group);

    return NGX_OK;
}


/* the group as committed, after ngx_voicegw_sql_collect() */

ngx_array_t *
ngx_voicegw_settings_committed(ngx_pool_t *pool, ngx_voicegw_sql_batch_t *b)
{
    ngx_uint_t                n;
    ngx_array_t              *rows;
    ngx_voicegw_setting_t    *s;
    ngx_voicegw_sql_stmt_t   *st;
    ngx_voicegw_sql_value_t  *v;

    st = &b->stmt[b->nstmts - 1];

    rows = ngx_array_create(pool, st->nrows + 1,
                            sizeof(ngx_voicegw_setting_t));
    if (rows == NULL) {
        return NULL;
    }

    for (n = 0; n < st->nrows && st->ncols == 2; n++) {
        v = ngx_voicegw_sql_cell(st, n, 0);

        if (v[0].type != NGX_VOICEGW_SQL_TEXT
            || v[1].type != NGX_VOICEGW_SQL_TEXT)
        {
            continue;
        }

        s = ngx_array_push(rows);
        if (s == NULL) {
            return NULL;
        }

        s->key = v[0].s;
        s->value = v[1].s;
    }

    return rows;
}
