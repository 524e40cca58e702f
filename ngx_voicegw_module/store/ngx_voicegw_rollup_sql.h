
/*
 * ngx_voicegw_rollup_sql.h
 *
 * The rollups of the request log, written once as SQL templates and used
 * twice: by the trigger that rolls up rows inserted into "requests" by
 * other means (an import, a test), one row at a time, and by the
 * recorder's batches (accounting/ngx_voicegw_record_sql.c), once per
 * distinct key with the counts of the whole batch.  Each argument is a
 * piece of SQL: NEW.column expressions in the trigger, ?N parameters in
 * the batch.
 *
 *   daily          per UTC day x project x provider x model x modality:
 *                  requests, errors (status other than success), cost,
 *                  units in and out, sums and counts of TTFB and latency.
 *
 *   latency_days,  cumulative latency histograms: for every group
 *   latency_cum    (project, or "*" for all of them, x model x kind,
 *                  "ttfb" or "total") and every day the group has data,
 *                  the counts per bucket of every record of that group up
 *                  to and including that day.  Bucket b holds
 *                  1.02^b <= ms < 1.02^(b+1), so percentiles are within
 *                  2 %.  A period's histogram is the latest row set in it
 *                  minus the latest one before it: two row sets, however
 *                  many days or records the period has.
 */


#ifndef _NGX_VOICEGW_ROLLUP_SQL_H_INCLUDED_
#define _NGX_VOICEGW_ROLLUP_SQL_H_INCLUDED_


#define NGX_VOICEGW_SQL_DAILY(day, project, provider, model, modality,       \
                              n, errors, cost, in, out, tsum, tn, lsum, ln)  \
    "INSERT INTO daily (day, project, provider, model_id, modality,"         \
    " requests, errors, cost_usd, input_units, output_units,"                \
    " ttfb_sum, ttfb_n, latency_sum, latency_n) VALUES ("                    \
    day ", " project ", " provider ", " model ", " modality ", "             \
    n ", " errors ", " cost ", " in ", " out ", "                            \
    tsum ", " tn ", " lsum ", " ln ")"                                       \
    " ON CONFLICT DO UPDATE SET"                                             \
    " requests = requests + excluded.requests,"                              \
    " errors = errors + excluded.errors,"                                    \
    " cost_usd = cost_usd + excluded.cost_usd,"                              \
    " input_units = input_units + excluded.input_units,"                     \
    " output_units = output_units + excluded.output_units,"                  \
    " ttfb_sum = ttfb_sum + excluded.ttfb_sum,"                              \
    " ttfb_n = ttfb_n + excluded.ttfb_n,"                                    \
    " latency_sum = latency_sum + excluded.latency_sum,"                     \
    " latency_n = latency_n + excluded.latency_n;"


/*
 * A group's row set for a day: a copy of its latest earlier one, made
 * the first time the group has data on that day.
 */

#define NGX_VOICEGW_SQL_GROUP(p, m, k)                                       \
    "project = " p " AND model_id = " m " AND kind = " k

#define NGX_VOICEGW_SQL_LATENCY_DAY(p, m, k, day, cond)                      \
    "INSERT INTO latency_cum (project, model_id, kind, day, bucket, n)"      \
    " SELECT project, model_id, kind, " day ", bucket, n FROM latency_cum"   \
    " WHERE " NGX_VOICEGW_SQL_GROUP(p, m, k) " AND (" cond ")"               \
    " AND day = (SELECT max(day) FROM latency_days"                          \
    "  WHERE " NGX_VOICEGW_SQL_GROUP(p, m, k) " AND day < " day ")"          \
    " AND NOT EXISTS (SELECT 1 FROM latency_days"                            \
    "  WHERE " NGX_VOICEGW_SQL_GROUP(p, m, k) " AND day = " day ");"         \
    "INSERT INTO latency_days (project, model_id, kind, day)"                \
    " SELECT " p ", " m ", " k ", " day " WHERE " cond                       \
    " ON CONFLICT DO NOTHING;"

/* n records in a bucket on a day: counted on that day and every later one */

#define NGX_VOICEGW_SQL_LATENCY_ADD(p, m, k, day, bucket, n, cond)           \
    "INSERT INTO latency_cum (project, model_id, kind, day, bucket, n)"      \
    " SELECT project, model_id, kind, day, " bucket ", " n                   \
    " FROM latency_days"                                                     \
    " WHERE " NGX_VOICEGW_SQL_GROUP(p, m, k) " AND day >= " day              \
    " AND (" cond ")"                                                        \
    " ON CONFLICT DO UPDATE SET n = n + excluded.n;"


/* the bucket of a latency in ms, as the C code computes it */

#define NGX_VOICEGW_SQL_BUCKET(ms)                                           \
    "CAST(floor(ln(max(" ms ", 0.001)) / ln(1.02)) AS INTEGER)"

#define NGX_VOICEGW_LATENCY_BASE  1.02


#endif /* _NGX_VOICEGW_ROLLUP_SQL_H_INCLUDED_ */
