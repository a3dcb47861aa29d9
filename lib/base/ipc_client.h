/*
 * ipc_client.h - a blocking client of one service's UNIX socket that
 * keeps its connection between requests (ipc.h frames, tern-ipc(7)).
 * Used by the sts, screen and proxymap clients.
 *
 * Contract:
 *   - The caller fills the request list (ipc_client_req), then
 *     ipc_client_call sends it and receives one reply frame into
 *     ipc_client_reply. timeout_ms bounds one call (connect, send,
 *     reply); the reply frame may be at most reply_max bytes and the
 *     request list is limited to req_max.
 *   - A kept connection that fails (the service exited after max_idle or
 *     max_use, or was restarted) gets one more try on a new connection,
 *     unless the failure was a timeout (the deadline is spent).
 *   - After any failure the connection is closed, so a late reply cannot
 *     be taken for the answer to the next request. A caller that finds a
 *     reply malformed calls ipc_client_disconnect for the same reason.
 *   - Errors say which service and socket: "cannot connect to the sts
 *     service PATH: reason", "sts service PATH: reason".
 */
#ifndef TERN_BASE_IPC_CLIENT_H
#define TERN_BASE_IPC_CLIENT_H

#include <stddef.h>

#include "base/attr.h"

struct ipc_client;

/* ipc_client_new - a client of the service (its name for messages) at socket_path; no connection yet */
struct ipc_client *ipc_client_new(const char *service, const char *socket_path, int timeout_ms,
				  size_t req_max, size_t reply_max);
/* ipc_client_free - close and release (NULL is fine) */
void ipc_client_free(struct ipc_client *c);
/* ipc_client_set_path - talk to another socket from the next call on (closes the connection) */
void ipc_client_set_path(struct ipc_client *c, const char *socket_path);
/* ipc_client_set_timeout - the time limit of one call, in ms (<= 0: 1000) */
void ipc_client_set_timeout(struct ipc_client *c, int timeout_ms);
/* ipc_client_path - the socket it talks to */
const char *ipc_client_path(const struct ipc_client *c);
/* ipc_client_req - the request list to fill (reset it first) */
struct attr_list *ipc_client_req(struct ipc_client *c);
/* ipc_client_reply - the last reply frame (empty after a failed call) */
const struct attr_list *ipc_client_reply(const struct ipc_client *c);
/* ipc_client_call - send the request, receive the reply: 0, or -1 with why */
int ipc_client_call(struct ipc_client *c, char *why, size_t whylen);
/* ipc_client_disconnect - drop the kept connection (the next call opens a new one) */
void ipc_client_disconnect(struct ipc_client *c);

#endif
