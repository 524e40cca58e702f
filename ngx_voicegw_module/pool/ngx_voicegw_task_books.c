
/*
 * ngx_voicegw_task_books.c
 *
 * Owns what a worker-pool task puts on the books: one record per task
 * request, whatever its end (served, failed, timed out, cancelled,
 * refused, or left by its client), written in the log phase, when all
 * of it is known.  Modality "omni", provider "pool", model the pool's
 * name, project from X-VoiceGW-Project ("default" without one); total
 * latency is the task's time on its worker, queue wait its time before.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_http.h"
#include "ngx_voicegw_clock.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_queue.h"
#include "ngx_voicegw_task.h"
#include "ngx_voicegw_record.h"
#include "ngx_voicegw_task_books.h"


static ngx_int_t ngx_voicegw_task_books_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_voicegw_task_books_status(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx, ngx_uint_t http_status);
static void ngx_voicegw_task_books_project(ngx_http_request_t *r,
    ngx_str_t *project);


/* the error code a refused task was answered with, and its status */

static struct {
    const char                  *code;
    ngx_uint_t                   status;
} ngx_voicegw_task_refusals[] = {
    { "queue_timeout", NGX_VOICEGW_STATUS_TIMEOUT },
    { "cancelled", NGX_VOICEGW_STATUS_CANCELLED },
    { NULL, NGX_VOICEGW_STATUS_REJECTED }
};


ngx_int_t
ngx_voicegw_task_books_init(ngx_conf_t *cf)
{
    return ngx_voicegw_http_phase_handler(cf, NGX_HTTP_LOG_PHASE,
                                          ngx_voicegw_task_books_handler);
}


static ngx_int_t
ngx_voicegw_task_books_handler(ngx_http_request_t *r)
{
    uint64_t                    now;
    ngx_uint_t                  http_status;
    ngx_voicegw_record_t        rec;
    ngx_voicegw_task_ctx_t     *ctx;
    ngx_http_upstream_state_t  *state;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_voicegw_task_get_ctx(r);

    if (ctx == NULL || ctx->booked || ctx->vp->recorder == NULL) {
        return NGX_OK;
    }

    ctx->booked = 1;
    now = ngx_voicegw_mono_msec();

    ngx_voicegw_record_init(&rec);

    rec.modality = NGX_VOICEGW_MODALITY_OMNI;
    ngx_str_set(&rec.provider, "pool");
    rec.model = ctx->tcf->pool->name;
    ngx_voicegw_task_books_project(r, &rec.project);

    http_status = r->headers_out.status ? r->headers_out.status
                                        : (ngx_uint_t) r->err_status;

    if (r->connection->error && http_status == 0) {
        http_status = NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    rec.http_status = http_status;
    rec.status = ngx_voicegw_task_books_status(r, ctx, http_status);

    if (ctx->grant.assigned_mono) {
        /* it had a worker */
        rec.queue_wait_ms = (double) ngx_voicegw_mono_since(
                                ctx->grant.enqueued_mono,
                                ctx->grant.assigned_mono);
        rec.total_ms = (double) ngx_voicegw_mono_since(
                                ctx->grant.assigned_mono,
                                ctx->ended_mono ? ctx->ended_mono : now);

        if (ctx->grant.hit) {
            rec.flags |= NGX_VOICEGW_RECORD_CACHE_HIT;
        }

        if (r->upstream_states && r->upstream_states->nelts) {
            state = r->upstream_states->elts;
            state += r->upstream_states->nelts - 1;

            if (state->header_time != (ngx_msec_t) -1) {
                rec.ttfb_ms = (double) state->header_time;
            }
        }

    } else if (ctx->ticket) {
        /* it waited, and never got a worker */
        rec.queue_wait_ms = (double) ngx_voicegw_mono_since(ctx->created_mono,
                                                             now);
    }

    (void) ngx_voicegw_record(ctx->vp->recorder, &rec);

    return NGX_OK;
}


static ngx_uint_t
ngx_voicegw_task_books_status(ngx_http_request_t *r,
    ngx_voicegw_task_ctx_t *ctx, ngx_uint_t http_status)
{
    ngx_uint_t  i;

    if (ctx->refused) {
        for (i = 0; ngx_voicegw_task_refusals[i].code; i++) {
            if (ngx_strcmp(ctx->refused, ngx_voicegw_task_refusals[i].code)
                == 0)
            {
                break;
            }
        }

        return ngx_voicegw_task_refusals[i].status;
    }

    if (!ctx->grant.assigned_mono
        || ctx->outcome == NGX_VOICEGW_RELEASE_UNUSED + 1
        || http_status == NGX_HTTP_CLIENT_CLOSED_REQUEST)
    {
        /* the client left first: queued, granted, or mid-task */
        return NGX_VOICEGW_STATUS_ABANDONED;
    }

    if (http_status == NGX_HTTP_GATEWAY_TIME_OUT) {
        return NGX_VOICEGW_STATUS_TIMEOUT;
    }

    if (ctx->outcome == NGX_VOICEGW_RELEASE_FAILED + 1
        || ctx->outcome == NGX_VOICEGW_RELEASE_OFFLINE + 1
        || http_status >= NGX_HTTP_INTERNAL_SERVER_ERROR)
    {
        return NGX_VOICEGW_STATUS_ERROR;
    }

    return NGX_VOICEGW_STATUS_SUCCESS;
}


/* X-VoiceGW-Project: an id of [A-Za-z0-9._-], 1 to 64; else "default" */

static void
ngx_voicegw_task_books_project(ngx_http_request_t *r, ngx_str_t *project)
{
    u_char           *p;
    ngx_table_elt_t  *h;

    ngx_str_set(project, "default");

    h = ngx_voicegw_http_header(&r->headers_in.headers, "X-VoiceGW-Project");

    if (h == NULL || h->value.len == 0 || h->value.len > 64) {
        return;
    }

    for (p = h->value.data; p < h->value.data + h->value.len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9')
              || *p == '.' || *p == '_' || *p == '-'))
        {
            return;
        }
    }

    *project = h->value;
}
