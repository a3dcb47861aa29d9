/*
 * cleanup_submit - one whole message to private/cleanup: the BEGIN
 * frame, the content as a stream, then the RESULT, under one deadline.
 * Contract in cleanup_submit.h.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/cleanup_submit.h"
#include "mail/qid.h"

/* cleanup_submit_left - milliseconds left until deadline (at least 1) */
static int cleanup_submit_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000LL + (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 1 ? 1 : ms > 86400000 ? 86400000 : (int) ms;
}

/* cleanup_submit_result - check cleanup's RESULT frame: 0 with the queue id, or -1 with err */
static int cleanup_submit_result(const struct attr_list *res, char qid[QID_SIZE], char *err,
				 size_t errlen)
{
	const char *status, *id, *text = "", *dsn = "";
	int64_t code = 0;

	if (!attr_get_str(res, CLEANUP_STATUS, &status)) {
		str_copy(err, "cleanup sent a result without status", errlen);
		return -1;
	}
	if (strcmp(status, CLEANUP_STATUS_OK) != 0) {
		attr_get_int(res, CLEANUP_REPLY_CODE, &code);
		attr_get_str(res, CLEANUP_REPLY_DSN, &dsn);
		attr_get_str(res, CLEANUP_REPLY_TEXT, &text);
		str_fmt(err, errlen, "cleanup refused it: %lld %.16s %.200s", (long long) code, dsn, text);
		return -1;
	}
	if (!attr_get_str(res, CLEANUP_QUEUE_ID, &id) || !qid_valid(id)) {
		str_copy(err, "cleanup sent ok without a valid queue_id", errlen);
		return -1;
	}
	str_copy(qid, id, QID_SIZE);
	return 0;
}

/* cleanup_submit - submit one message and wait for the RESULT */
int cleanup_submit(const struct cleanup_message *m, int timeout_ms, char qid[QID_SIZE],
		   char *err, size_t errlen)
{
	struct attr_list req, res;
	struct ipc_stream st;
	struct timespec deadline;
	char why[ATTR_ERR_MAX];
	int fd, rc = -1;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	if ((fd = ipc_connect_unix(CLEANUP_SOCKET_PRIVATE, timeout_ms)) < 0) {
		str_fmt(err, errlen, "connect to %s: %s", CLEANUP_SOCKET_PRIVATE, strerror(errno));
		return -1;
	}
	attr_list_init(&req);
	attr_list_init(&res);
	attr_add_str(&req, CLEANUP_OP, CLEANUP_OP_BEGIN);
	attr_add_str(&req, CLEANUP_SENDER, m->sender);
	attr_add_str(&req, CLEANUP_RCPT, m->rcpt);
	attr_add_int(&req, CLEANUP_FLAGS, m->flags);
	attr_add_int(&req, CLEANUP_SIZE, (int64_t) m->len);
	attr_add_str(&req, CLEANUP_PROTOCOL, "local");
	attr_add_str(&req, CLEANUP_CLIENT_ADDR, "");
	attr_add_str(&req, CLEANUP_SERVICE, m->service);
	if (m->dsn_kind != NULL)
		attr_add_str(&req, CLEANUP_DSN_KIND, m->dsn_kind);
	ipc_stream_init(&st);
	if (attr_list_error(&req) != NULL) {
		str_fmt(err, errlen, "cannot build the request: %s", attr_list_error(&req));
	} else if (ipc_send(fd, &req, cleanup_submit_left(&deadline)) < 0
		   || ipc_stream_send_chunk(fd, &st, m->data, m->len, cleanup_submit_left(&deadline)) < 0
		   || ipc_stream_send_end(fd, &st, cleanup_submit_left(&deadline)) < 0) {
		str_fmt(err, errlen, "send to %s: %s", CLEANUP_SOCKET_PRIVATE, strerror(errno));
	} else {
		switch (ipc_recv(fd, &res, 0, cleanup_submit_left(&deadline), why, sizeof(why))) {
		case 1:
			rc = cleanup_submit_result(&res, qid, err, errlen);
			break;
		case 0:
			str_fmt(err, errlen, "%s closed the connection without a result", CLEANUP_SOCKET_PRIVATE);
			break;
		default:
			str_fmt(err, errlen, "receive from %s: %s", CLEANUP_SOCKET_PRIVATE, why);
			break;
		}
	}
	attr_list_free(&req);
	attr_list_free(&res);
	close(fd);
	return rc;
}
