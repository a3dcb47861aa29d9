/*
 * ipc - attribute frames (attr.h) over UNIX-domain stream sockets.
 *
 * Two sides share one wire format (tern-ipc(7)):
 *
 * Blocking (tools, simple clients): every call takes a timeout in
 * milliseconds (negative: wait forever) that bounds the whole call; it
 * polls, restarts after EINTR, and carries on after short reads and
 * writes. Failures return -1 with errno: ETIMEDOUT when the deadline
 * passed, EPROTO for a malformed frame, ECONNRESET when the peer closed
 * inside a frame, and what the system said otherwise. Sends use
 * MSG_NOSIGNAL, so a gone peer is EPIPE, never SIGPIPE.
 *
 * Event-driven (daemons): struct ipc_conn watches a socket with libevent
 * (one persistent read event; writes go straight to the socket at the end
 * of the callback that queued them). Complete frames are delivered in order, as many per read as arrived; a
 * partial frame waits for the rest. A malformed or oversized frame, a
 * timeout, an I/O error or EOF closes the connection (the fd is closed at
 * once) and calls on_close exactly once with a reason to log, NULL for a
 * clean close (EOF between frames, or ipc_conn_finish done); the process
 * never exits because of a peer. on_close runs from the event loop, never
 * from inside an ipc_conn_* call. The owner frees the conn, from on_close
 * or later; ipc_conn_free is safe inside any callback. The event side
 * sends with MSG_NOSIGNAL; only a pipe given as the fd could raise SIGPIPE,
 * which daemons ignore (the skeleton does).
 *
 * Message content streams (DESIGN.md section 4): a stream is a sequence of
 * frames, each with one "chunk" (D, 1..IPC_CHUNK_MAX bytes), closed by a
 * frame with "end" (I, the total byte count), so the receiver can tell that
 * nothing was lost. Senders use ipc_stream_send_chunk/_end (blocking) or
 * ipc_conn_send_chunk/_end (event side), which split data at IPC_CHUNK_MAX.
 * Receivers pass each frame to ipc_stream_take: an event-side receiver
 * calls it from on_frame, writes the chunk (valid only during the
 * callback) wherever it goes, and on IPC_STREAM_END knows the count
 * matched; on -1 it replies with the error or closes the connection.
 */
#ifndef TERN_BASE_IPC_H
#define TERN_BASE_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/attr.h"

struct event_base;

/* Blocking side. */

/* ipc_connect_unix - connect to a UNIX stream socket: a blocking fd, or -1 */
int ipc_connect_unix(const char *path, int timeout_ms);
/*
 * ipc_listen_unix - listening socket at path with exactly the given mode
 * (non-blocking, close-on-exec). A stale socket left by a dead daemon is
 * removed; a live one (it accepts connections) is EADDRINUSE; anything
 * else at path is EEXIST and left alone.
 */
int ipc_listen_unix(const char *path, mode_t mode);
/* ipc_peer_uid - credentials of the peer (SO_PEERCRED); NULL outputs skipped */
int ipc_peer_uid(int fd, uid_t *uid, gid_t *gid, pid_t *pid);

/* ipc_send - send one frame: 0, or -1 (EINVAL when the list has an error) */
int ipc_send(int fd, const struct attr_list *l, int timeout_ms);
/*
 * ipc_recv - receive one frame into l (max_frame 0: ATTR_FRAME_MAX):
 * 1 frame, 0 EOF between frames, -1 error (errno, and err says why).
 */
int ipc_recv(int fd, struct attr_list *l, size_t max_frame, int timeout_ms,
    char *err, size_t errlen);
/*
 * ipc_request - send req, receive the reply, one deadline for both:
 * 0, or -1 (EOF before the reply is ECONNRESET, "connection closed").
 */
int ipc_request(int fd, const struct attr_list *req, struct attr_list *reply,
    size_t max_frame, int timeout_ms, char *err, size_t errlen);
/*
 * ipc_call - the same for a peer that sends exactly one frame per
 * request and nothing else (ipc_client's services): the reply is read
 * with one poll and, up to 4 KB, one recv; bytes after it are EPROTO.
 */
int ipc_call(int fd, const struct attr_list *req, struct attr_list *reply,
    size_t max_frame, int timeout_ms, char *err, size_t errlen);

/* Content streams. */

#define IPC_CHUNK_MAX	(64 * 1024)
#define IPC_STREAM_CHUNK "chunk"
#define IPC_STREAM_END	"end"

enum {
	IPC_STREAM_ERROR = -1,
	IPC_STREAM_END_OK = 0,		/* "end" matched the bytes seen */
	IPC_STREAM_DATA = 1,		/* a chunk */
};

struct ipc_stream {
	int64_t bytes;			/* sent or received so far */
	bool ended;
};

/* ipc_stream_init - a fresh stream (sender or receiver) */
void ipc_stream_init(struct ipc_stream *s);
/* ipc_stream_send_chunk - send n bytes as frames of up to IPC_CHUNK_MAX */
int ipc_stream_send_chunk(int fd, struct ipc_stream *s, const void *p, size_t n,
    int timeout_ms);
/* ipc_stream_send_end - send the "end" frame with the byte count */
int ipc_stream_send_end(int fd, struct ipc_stream *s, int timeout_ms);
/*
 * ipc_stream_take - account for one received frame: IPC_STREAM_DATA with
 * the chunk in *p, *n; IPC_STREAM_END_OK; or IPC_STREAM_ERROR with err
 * (neither or both of chunk and end, wrong type, oversized chunk, count
 * mismatch, frame after the end).
 */
int ipc_stream_take(struct ipc_stream *s, const struct attr_list *frame,
    const void **p, size_t *n, char *err, size_t errlen);

/* Event side. */

struct ipc_conn;

/* a frame arrived; frame is valid only during the call */
typedef void ipc_frame_fn(struct ipc_conn *conn, const struct attr_list *frame, void *arg);
/* the connection is closed; reason is NULL for a clean close */
typedef void ipc_close_fn(struct ipc_conn *conn, const char *reason, void *arg);
/* all queued output has been written */
typedef void ipc_drain_fn(struct ipc_conn *conn, void *arg);

/*
 * ipc_conn_new - own fd (made non-blocking; closed by close or free) and
 * start reading. max_frame 0 means ATTR_FRAME_MAX; on_close is required.
 */
struct ipc_conn *ipc_conn_new(struct event_base *base, int fd, size_t max_frame,
    ipc_frame_fn *on_frame, ipc_close_fn *on_close, void *arg);
/* ipc_conn_set_timeout - idle limits in ms for reading and for writing (<= 0: none) */
void ipc_conn_set_timeout(struct ipc_conn *conn, int read_ms, int write_ms);
/* ipc_conn_set_drain - call fn each time the output queue empties */
void ipc_conn_set_drain(struct ipc_conn *conn, ipc_drain_fn *fn);
/* ipc_conn_read_enable - stop or resume reading (flow control) */
void ipc_conn_read_enable(struct ipc_conn *conn, bool on);
/* ipc_conn_send - queue one frame: 0, or -1 when closed or the list has an error */
int ipc_conn_send(struct ipc_conn *conn, const struct attr_list *l);
/* ipc_conn_send_chunk - queue n bytes of a stream (one copy, into the output) */
int ipc_conn_send_chunk(struct ipc_conn *conn, struct ipc_stream *s, const void *p, size_t n);
/* ipc_conn_send_end - queue the "end" frame of a stream */
int ipc_conn_send_end(struct ipc_conn *conn, struct ipc_stream *s);
/* ipc_conn_pending - bytes queued but not yet written */
size_t ipc_conn_pending(const struct ipc_conn *conn);
/* ipc_conn_finish - stop reading, write what is queued, then close (reason NULL) */
void ipc_conn_finish(struct ipc_conn *conn);
/* ipc_conn_is_closed - true once closed (on_close has been or is being called) */
bool ipc_conn_is_closed(const struct ipc_conn *conn);
/* ipc_conn_fd - the socket (for ipc_peer_uid), or -1 when closed */
int ipc_conn_fd(const struct ipc_conn *conn);
/* ipc_conn_free - close without calling on_close, and release */
void ipc_conn_free(struct ipc_conn *conn);

#endif
