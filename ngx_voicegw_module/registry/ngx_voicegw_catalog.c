
/*
 * ngx_voicegw_catalog.c
 *
 * Owns the price catalogue: the "voicegw_price_catalog" directive, the
 * data file it names (one row a line, tab-separated: provider type, model
 * or "~regex" of a family, five prices, source, date; docs/prices.md) and
 * the lookup of a call's row.
 *
 * The file is read and checked whole while nginx reads its configuration,
 * so that "nginx -t" names the file, the line and the reason of a bad
 * row, and a reload with a bad file is refused while the old workers keep
 * pricing.  Families are compiled by nginx's regex API (PCRE2 in today's
 * distributions), as a "location ~" is.  Everything lives in the
 * configuration's pool; there is no global, and a request never reads a
 * file.  A lookup is a walk over some tens of rows, done once per call at
 * the log phase: exact ids first, then families in file order.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_conf.h"
#include "ngx_voicegw_catalog.h"


#define NGX_VOICEGW_CATALOG_COLUMNS   9
#define NGX_VOICEGW_CATALOG_MAX_SIZE  (1024 * 1024)
#define NGX_VOICEGW_CATALOG_MAX_ID    128


struct ngx_voicegw_catalog_s {
    ngx_str_t                    file;        /* empty: off */
    ngx_array_t                  rows;        /* ngx_voicegw_catalog_row_t,
                                                 in file order */
};


/* one line being read: where, for the errors */

typedef struct {
    ngx_conf_t                  *cf;
    ngx_str_t                   *file;
    ngx_uint_t                   line;
} ngx_voicegw_catalog_ctx_t;


static char *ngx_voicegw_catalog_read(ngx_conf_t *cf,
    ngx_voicegw_catalog_t *cat);
static ngx_int_t ngx_voicegw_catalog_row(ngx_voicegw_catalog_ctx_t *ctx,
    ngx_voicegw_catalog_t *cat, u_char *p, u_char *last);
static ngx_int_t ngx_voicegw_catalog_model(ngx_voicegw_catalog_ctx_t *ctx,
    ngx_voicegw_catalog_t *cat, ngx_voicegw_catalog_row_t *row,
    ngx_str_t *model);
static ngx_uint_t ngx_voicegw_catalog_valid_id(ngx_str_t *id);
static ngx_uint_t ngx_voicegw_catalog_valid_date(ngx_str_t *date);
static ngx_int_t ngx_voicegw_catalog_error(ngx_voicegw_catalog_ctx_t *ctx,
    const char *fmt, ...);


/* the provider types a row may name: the cloud providers that bill */

static ngx_conf_enum_t  ngx_voicegw_catalog_types[] = {
    { ngx_string("deepgram"), 0 },
    { ngx_string("openai"), 1 },
    { ngx_string("anthropic"), 2 },
    { ngx_string("groq"), 3 },
    { ngx_string("gemini"), 4 },
    { ngx_string("cartesia"), 5 },
    { ngx_string("elevenlabs"), 6 },
    { ngx_string("assemblyai"), 7 },
    { ngx_null_string, 0 }
};


/* the names of the prices, in the order of row->price[] */

static const char  *ngx_voicegw_catalog_prices[] = {
    "per_minute",
    "per_1k_input_tokens",
    "per_1k_output_tokens",
    "per_character",
    "per_1k_cached_tokens"
};

/* the price of each price column of the file, from the third */

static const ngx_uint_t  ngx_voicegw_catalog_price_column[] = {
    NGX_VOICEGW_PRICE_MINUTE,
    NGX_VOICEGW_PRICE_INPUT,
    NGX_VOICEGW_PRICE_OUTPUT,
    NGX_VOICEGW_PRICE_CACHED,
    NGX_VOICEGW_PRICE_CHARACTER
};


/* voicegw_price_catalog FILE | off; */

char *
ngx_voicegw_catalog_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ngx_str_t              *value;
    ngx_voicegw_catalog_t  *cat;

    if (vmcf->catalog != NULL) {
        return "is duplicate";
    }

    cat = ngx_pcalloc(cf->pool, sizeof(ngx_voicegw_catalog_t));
    if (cat == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&cat->rows, cf->pool, 64,
                       sizeof(ngx_voicegw_catalog_row_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    vmcf->catalog = cat;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        return NGX_CONF_OK;
    }

    cat->file = value[1];

    /* relative to the configuration's folder, as "include" is */

    if (ngx_conf_full_name(cf->cycle, &cat->file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_voicegw_catalog_read(cf, cat);
}


static char *
ngx_voicegw_catalog_read(ngx_conf_t *cf, ngx_voicegw_catalog_t *cat)
{
    u_char                     *p, *eol, *last;
    ngx_str_t                   content;
    ngx_voicegw_catalog_ctx_t   ctx;

    static ngx_str_t  name = ngx_string("voicegw_price_catalog");

    if (ngx_voicegw_conf_read_file(cf, &name, &cat->file,
                                   NGX_VOICEGW_CATALOG_MAX_SIZE, &content)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ctx.cf = cf;
    ctx.file = &cat->file;
    ctx.line = 0;

    last = content.data + content.len;

    for (p = content.data; p < last; p = eol + 1) {
        ctx.line++;

        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        if (ngx_voicegw_catalog_row(&ctx, cat, p, eol) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                   "voicegw_price_catalog: %ui rows from \"%V\"",
                   cat->rows.nelts, &cat->file);

    return NGX_CONF_OK;
}


/*
 * One line: blank, a comment ("#" first), or a row of nine columns
 * separated by tabs, each stripped of the spaces around it.
 */

static ngx_int_t
ngx_voicegw_catalog_row(ngx_voicegw_catalog_ctx_t *ctx,
    ngx_voicegw_catalog_t *cat, u_char *p, u_char *last)
{
    u_char                     *q;
    double                      d;
    ngx_str_t                   col[NGX_VOICEGW_CATALOG_COLUMNS];
    ngx_uint_t                  n, k, type;
    ngx_voicegw_catalog_row_t  *row;

    if (last > p && last[-1] == '\r') {
        last--;
    }

    for (q = p; q < last && (*q == ' ' || *q == '\t'); q++) {
        /* void */
    }

    if (q == last || *q == '#') {
        return NGX_OK;
    }

    for (n = 0; /* void */ ; n++) {
        q = ngx_strlchr(p, last, '\t');

        if (n < NGX_VOICEGW_CATALOG_COLUMNS) {
            col[n].data = p;
            col[n].len = (q ? q : last) - p;

            while (col[n].len && col[n].data[0] == ' ') {
                col[n].data++;
                col[n].len--;
            }

            while (col[n].len && col[n].data[col[n].len - 1] == ' ') {
                col[n].len--;
            }
        }

        if (q == NULL) {
            break;
        }

        p = q + 1;
    }

    if (n + 1 != NGX_VOICEGW_CATALOG_COLUMNS) {
        return ngx_voicegw_catalog_error(ctx,
                   "%ui columns instead of %ui: provider, model, "
                   "per_minute, per_1k_input_tokens, per_1k_output_tokens, "
                   "per_1k_cached_tokens, per_character, source, date, "
                   "separated by tabs", n + 1,
                   (ngx_uint_t) NGX_VOICEGW_CATALOG_COLUMNS);
    }

    if (ngx_voicegw_enum_value(ngx_voicegw_catalog_types, &col[0], &type)
        != NGX_OK)
    {
        return ngx_voicegw_catalog_error(ctx,
                   "unknown provider type \"%V\": use deepgram, openai, "
                   "anthropic, groq, gemini, cartesia, elevenlabs or "
                   "assemblyai", &col[0]);
    }

    row = ngx_array_push(&cat->rows);
    if (row == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(row, sizeof(ngx_voicegw_catalog_row_t));
    row->type = type;
    row->line = ctx->line;

    if (ngx_voicegw_catalog_model(ctx, cat, row, &col[1]) != NGX_OK) {
        return NGX_ERROR;
    }

    for (n = 2; n < 7; n++) {
        k = ngx_voicegw_catalog_price_column[n - 2];

        if (col[n].len == 0) {
            continue;
        }

        if (ngx_voicegw_parse_number(col[n].data, col[n].len, &d) != NGX_OK
            || d < 0)
        {
            return ngx_voicegw_catalog_error(ctx,
                       "bad %s \"%V\": a number of US dollars, 0 or more, "
                       "or nothing", ngx_voicegw_catalog_prices[k], &col[n]);
        }

        row->price[k] = d;
        row->priced |= (ngx_uint_t) 1 << k;
    }

    if (row->priced == 0) {
        return ngx_voicegw_catalog_error(ctx,
                   "no price: a row needs at least one of per_minute, "
                   "per_1k_input_tokens, per_1k_output_tokens, "
                   "per_1k_cached_tokens, per_character");
    }

    if (col[7].len == 0) {
        return ngx_voicegw_catalog_error(ctx,
                   "no source: say where the prices come from");
    }

    if (!ngx_voicegw_catalog_valid_date(&col[8])) {
        return ngx_voicegw_catalog_error(ctx,
                   "bad date \"%V\": the day the prices were checked, "
                   "YYYY-MM-DD", &col[8]);
    }

    row->source.data = ngx_pstrdup(ctx->cf->pool, &col[7]);
    row->date.data = ngx_pstrdup(ctx->cf->pool, &col[8]);

    if (row->source.data == NULL || row->date.data == NULL) {
        return NGX_ERROR;
    }

    row->source.len = col[7].len;
    row->date.len = col[8].len;

    return NGX_OK;
}


/* the model column: an exact id or "~" and a regex, once per type */

static ngx_int_t
ngx_voicegw_catalog_model(ngx_voicegw_catalog_ctx_t *ctx,
    ngx_voicegw_catalog_t *cat, ngx_voicegw_catalog_row_t *row,
    ngx_str_t *model)
{
    ngx_uint_t                  i;
    ngx_voicegw_catalog_row_t  *rows;
#if (NGX_PCRE)
    u_char                      errstr[NGX_MAX_CONF_ERRSTR];
    ngx_regex_compile_t         rc;
#endif

    /* NUL-terminated: a pattern goes to the regex library as it is */

    row->model.len = model->len;
    row->model.data = ngx_pnalloc(ctx->cf->pool, model->len + 1);
    if (row->model.data == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(row->model.data, model->data, model->len) = '\0';

    rows = cat->rows.elts;

    for (i = 0; i < cat->rows.nelts - 1; i++) {
        if (rows[i].type == row->type
            && rows[i].model.len == model->len
            && ngx_strncmp(rows[i].model.data, model->data, model->len) == 0)
        {
            return ngx_voicegw_catalog_error(ctx,
                       "duplicate model \"%V\" of %V, first at line %ui",
                       model, &ngx_voicegw_catalog_types[row->type].name,
                       rows[i].line);
        }
    }

    if (model->len && model->data[0] == '~') {

#if (NGX_PCRE)
        ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

        rc.pattern.data = row->model.data + 1;
        rc.pattern.len = row->model.len - 1;
        rc.pool = ctx->cf->pool;
        rc.err.len = NGX_MAX_CONF_ERRSTR;
        rc.err.data = errstr;

        if (rc.pattern.len == 0) {
            return ngx_voicegw_catalog_error(ctx,
                       "\"~\" without a regular expression");
        }

        if (ngx_regex_compile(&rc) != NGX_OK) {
            return ngx_voicegw_catalog_error(ctx,
                       "bad regular expression: %V", &rc.err);
        }

        row->regex = rc.regex;

        return NGX_OK;
#else
        return ngx_voicegw_catalog_error(ctx,
                   "model families (\"~regex\") need nginx built with PCRE");
#endif
    }

    if (!ngx_voicegw_catalog_valid_id(model)) {
        return ngx_voicegw_catalog_error(ctx,
                   "bad model \"%V\": an id as the provider names it (up to "
                   "128 printable characters, no space), or \"~\" and a "
                   "regular expression", model);
    }

    return NGX_OK;
}


/* ids as providers spell them: "gpt-4o-mini", "openai/gpt-oss-120b" */

static ngx_uint_t
ngx_voicegw_catalog_valid_id(ngx_str_t *id)
{
    size_t  i;

    if (id->len == 0 || id->len > NGX_VOICEGW_CATALOG_MAX_ID) {
        return 0;
    }

    for (i = 0; i < id->len; i++) {
        if (id->data[i] <= ' ' || id->data[i] >= 0x7f) {
            return 0;
        }
    }

    return 1;
}


/* YYYY-MM-DD, a day of the calendar */

static ngx_uint_t
ngx_voicegw_catalog_valid_date(ngx_str_t *date)
{
    ngx_int_t  y, m, d, days;

    static const ngx_int_t  mdays[] = {
        31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (date->len != sizeof("YYYY-MM-DD") - 1
        || date->data[4] != '-' || date->data[7] != '-')
    {
        return 0;
    }

    y = ngx_atoi(date->data, 4);
    m = ngx_atoi(date->data + 5, 2);
    d = ngx_atoi(date->data + 8, 2);

    if (y < 1970 || m < 1 || m > 12 || d < 1) {
        return 0;
    }

    days = mdays[m - 1];

    if (m == 2 && (y % 4 != 0 || (y % 100 == 0 && y % 400 != 0))) {
        days = 28;
    }

    return d <= days;
}


/* "voicegw_price_catalog: FILE:LINE: reason in nginx.conf:LINE" */

static ngx_int_t
ngx_voicegw_catalog_error(ngx_voicegw_catalog_ctx_t *ctx, const char *fmt,
    ...)
{
    u_char   *p, reason[NGX_MAX_CONF_ERRSTR];
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(reason, reason + sizeof(reason), fmt, args);
    va_end(args);

    ngx_conf_log_error(NGX_LOG_EMERG, ctx->cf, 0,
                       "voicegw_price_catalog: %V:%ui: %*s",
                       ctx->file, ctx->line, p - reason, reason);

    return NGX_ERROR;
}


/* -- at the log phase --------------------------------------------------- */

const ngx_voicegw_catalog_row_t *
ngx_voicegw_catalog_find(ngx_voicegw_catalog_t *cat, const char *type,
    ngx_str_t *model)
{
    ngx_str_t                   name;
    ngx_uint_t                  i, t;
    ngx_voicegw_catalog_row_t  *rows;

    if (cat == NULL || model->len == 0) {
        return NULL;
    }

    name.data = (u_char *) type;
    name.len = ngx_strlen(type);

    if (ngx_voicegw_enum_value(ngx_voicegw_catalog_types, &name, &t)
        != NGX_OK)
    {
        return NULL;
    }

    rows = cat->rows.elts;

    for (i = 0; i < cat->rows.nelts; i++) {
        if (rows[i].type == t
#if (NGX_PCRE)
            && rows[i].regex == NULL
#endif
            && rows[i].model.len == model->len
            && ngx_strncmp(rows[i].model.data, model->data, model->len) == 0)
        {
            return &rows[i];
        }
    }

#if (NGX_PCRE)
    for (i = 0; i < cat->rows.nelts; i++) {
        if (rows[i].type == t && rows[i].regex != NULL
            && ngx_regex_exec(rows[i].regex, model, NULL, 0) >= 0)
        {
            return &rows[i];
        }
    }
#endif

    return NULL;
}
