/*
 * tern-screenq - test client of the screen service through
 * lib/mail/screen_client (t/85-screen.t):
 *
 *	tern-screenq [-a] [-n N] SOCKET OP [name=value ...]
 *
 * sends the request N times (default 1) and prints one line per reply:
 * "STATUS TEXT". Without -a the blocking client is used; with -a the
 * event-driven one, all N requests queued at once on one event_base
 * (pipelined), the replies printed by the callbacks in order. Names:
 * addr service session account mech reason rcpt (strings), port
 * recipients seconds (integers). Exit 0, or 1 when a reply was
 * SCREEN_UNAVAILABLE, 64 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "base/str.h"
#include "mail/screen_client.h"

#define SCREENQ_MAX	1000

/* screenq_state - what the callbacks share */
struct screenq_state {
	int left;
	int unavailable;
	struct event_base *base;
};

/* screenq_print - one reply line */
static void screenq_print(const struct screen_result *r)
{
	printf("%s %s\n", screen_status_name(r->status), r->text);
}

/* screenq_done - async callback */
static void screenq_done(const struct screen_result *r, void *arg)
{
	struct screenq_state *st = arg;

	screenq_print(r);
	if (r->status == SCREEN_UNAVAILABLE)
		st->unavailable = 1;
	if (--st->left == 0)
		event_base_loopexit(st->base, NULL);
}

/* screenq_arg - one name=value into q: 0, or -1 */
static int screenq_arg(struct screen_query *q, char *arg)
{
	char *eq = strchr(arg, '=');
	long long v;

	if (eq == NULL)
		return -1;
	*eq++ = '\0';
	if (strcmp(arg, "addr") == 0) q->addr = eq;
	else if (strcmp(arg, "service") == 0) q->service = eq;
	else if (strcmp(arg, "session") == 0) q->session = eq;
	else if (strcmp(arg, "account") == 0) q->account = eq;
	else if (strcmp(arg, "mech") == 0) q->mech = eq;
	else if (strcmp(arg, "reason") == 0) q->reason = eq;
	else if (strcmp(arg, "rcpt") == 0) q->rcpt = eq;
	else if (str_to_ll(eq, 0, 1LL << 40, &v) < 0) return -1;
	else if (strcmp(arg, "port") == 0) q->port = v;
	else if (strcmp(arg, "recipients") == 0) q->recipients = v;
	else if (strcmp(arg, "seconds") == 0) q->seconds = v;
	else return -1;
	return 0;
}

/* main - parse, ask, print */
int main(int argc, char **argv)
{
	struct screen_query q;
	struct screen_result r;
	long long n = 1;
	int i = 1, async = 0, rc = 0;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-a") == 0)
			async = 1;
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc && str_to_ll(argv[++i], 1, SCREENQ_MAX, &n) == 0)
			continue;
		else
			goto usage;
	}
	if (argc - i < 2)
		goto usage;
	memset(&q, 0, sizeof(q));
	q.op = argv[i + 1];
	for (int j = i + 2; j < argc; j++)
		if (screenq_arg(&q, argv[j]) < 0)
			goto usage;
	if (async) {
		struct screenq_state st = {.left = (int) n, .base = event_base_new()};
		struct screen_async *a = screen_async_new(st.base, argv[i], 5000);

		for (long long k = 0; k < n; k++)
			screen_async_request(a, &q, screenq_done, &st);
		event_base_dispatch(st.base);
		screen_async_free(a);
		event_base_free(st.base);
		return st.unavailable;
	}
	struct screen_client *c = screen_client_new(argv[i], 5);

	for (long long k = 0; k < n; k++) {
		if (screen_client_request(c, &q, &r) < 0)
			rc = 1;
		screenq_print(&r);
	}
	screen_client_free(c);
	return rc;
usage:
	fprintf(stderr, "usage: tern-screenq [-a] [-n N] SOCKET OP [name=value ...]\n");
	return 64;
}
