
/*
 * ngx_voicegw_doorbell.c
 *
 * Owns the wake-up of parked requests across nginx worker processes.
 *
 * A parked request lives in the process that accepted its connection, but
 * the worker it waits for may be freed in any process.  The granting
 * process writes the grant into the ticket in shared memory, then rings
 * the owner's doorbell: a one-byte datagram to a Unix socket in Linux's
 * abstract namespace named after the zone's instance and the owner's
 * process slot.  The owner's event loop wakes at once and looks at the
 * tickets the granting process left in its mailbox (ngx_voicegw_park.c).  Nothing is created before fork and nothing is
 * inherited, so reloads and respawned workers need no special care (the
 * master never gives a live process's slot to another one).  Within one
 * process the request's own event is posted instead.
 *
 * A lost datagram (a full socket buffer means the owner is already awake)
 * is harmless: a slow timer in each process rechecks its parked requests
 * as a backstop.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_zone.h"
#include "ngx_voicegw_pool.h"
#include "ngx_voicegw_doorbell.h"

#include <sys/un.h>


static socklen_t ngx_voicegw_doorbell_addr(ngx_voicegw_pools_t *vp,
    ngx_int_t slot, struct sockaddr_un *sun);


static socklen_t
ngx_voicegw_doorbell_addr(ngx_voicegw_pools_t *vp, ngx_int_t slot,
    struct sockaddr_un *sun)
{
    u_char  *p;

    ngx_memzero(sun, sizeof(struct sockaddr_un));
    sun->sun_family = AF_UNIX;

    /* sun_path[0] == '\0': the abstract namespace, no file */

    p = ngx_snprintf((u_char *) sun->sun_path + 1,
                     sizeof(sun->sun_path) - 1, "voicegw-%016xL-%i",
                     vp->zone->sh->instance, slot);

    return (socklen_t) (p - (u_char *) sun);
}


ngx_int_t
ngx_voicegw_doorbell_init_process(ngx_cycle_t *cycle,
    ngx_voicegw_pools_t *vp, ngx_event_handler_pt handler)
{
    int                  fd;
    socklen_t            len;
    ngx_connection_t    *c;
    struct sockaddr_un   sun;

    fd = socket(AF_UNIX, SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0);

    if (fd == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      "voicegw: doorbell socket() failed");
        return NGX_ERROR;
    }

    len = ngx_voicegw_doorbell_addr(vp, ngx_process_slot, &sun);

    if (bind(fd, (struct sockaddr *) &sun, len) == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      "voicegw: doorbell bind() failed");
        close(fd);
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, cycle->log);
    if (c == NULL) {
        close(fd);
        return NGX_ERROR;
    }

    /* the events' data stays the connection, as nginx's event modules need */

    c->read->handler = handler;
    c->read->log = cycle->log;
    c->write->log = cycle->log;
    c->data = vp;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_close_connection(c);
        return NGX_ERROR;
    }

    vp->proc->doorbell = c;

    return NGX_OK;
}


void
ngx_voicegw_doorbell_exit_process(ngx_voicegw_pools_t *vp)
{
    if (vp->proc->doorbell != NULL) {
        ngx_close_connection(vp->proc->doorbell);
        vp->proc->doorbell = NULL;
    }
}


/* read every pending ring; level does not matter, only that we woke */

void
ngx_voicegw_doorbell_drain(ngx_voicegw_pools_t *vp)
{
    u_char  buf[64];

    if (vp->proc->doorbell == NULL) {
        return;
    }

    while (recv(vp->proc->doorbell->fd, buf, sizeof(buf), 0) > 0) {
        /* void */
    }

    (void) ngx_handle_read_event(vp->proc->doorbell->read, 0);
}


/* may be called with the zone locked: it never blocks */

void
ngx_voicegw_doorbell_ring(ngx_voicegw_pools_t *vp, ngx_pid_t pid,
    ngx_int_t slot, void *event)
{
    socklen_t           len;
    struct sockaddr_un  sun;

    if (pid == ngx_pid) {
        if (event != NULL) {
            ngx_post_event((ngx_event_t *) event, &ngx_posted_events);
        }

        return;
    }

    if (vp->proc->doorbell == NULL || slot < 0) {
        return;
    }

    len = ngx_voicegw_doorbell_addr(vp, slot, &sun);

    (void) sendto(vp->proc->doorbell->fd, "!", 1, MSG_DONTWAIT,
                  (struct sockaddr *) &sun, len);
}
