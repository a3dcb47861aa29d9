/*
 * test_table_proxy - unit tests for the proxy: client
 * (lib/mail/table_proxy.c) against a scripted stand-in for proxymap in
 * a child process: names that do not open, found / not found / error
 * replies, the flags sent along, one connection reused for many
 * lookups, one reconnect when the kept connection died, no second try
 * on a fresh connection, a bad reply, a timeout, and no service at all
 * - every failure a temporary error (-1), never "not found"; then the
 * recent answers (table_proxy_set_cache_time): found and not found kept
 * per table, errors never, forgotten after their time or at a new
 * socket; proxy:unix:passwd.byname answers a key with '@' unasked.
 *
 * The stand-in answers by key: "found" ok (value "TABLE|KEY|FLAGS"),
 * "missing" notfound, "err" error "boom", "weird" an unknown status,
 * "conns" ok with the number of connections accepted so far, "count" ok
 * with the number of requests answered so far, "drop" ok
 * and then closes the connection, "twice" sends its reply twice (a frame
 * nobody asked for), "close" closes without a reply,
 * "hang" answers nothing for 3 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/str.h"
#include "mail/proxymap_proto.h"
#include "mail/table.h"
#include "tap.h"

static char dir[64];
static char sock[128];
static char err[TABLE_ERR_SIZE];

/* fake_answer - the reply to one request; returns 1 to close after it, 2 to send it twice, -1 to close instead */
static int fake_answer(const struct attr_list *req, struct attr_list *r, int conns)
{
	static int requests;
	const char *table = "", *key = "";
	int64_t flags = -1;
	char v[512];

	attr_get_str(req, PROXYMAP_TABLE, &table);
	attr_get_str(req, PROXYMAP_KEY, &key);
	attr_get_int(req, PROXYMAP_FLAGS, &flags);
	attr_list_reset(r);
	requests++;
	if (strcmp(key, "close") == 0)
		return -1;
	if (strcmp(key, "hang") == 0) {
		sleep(3);
		return -1;
	}
	if (strcmp(key, "missing") == 0) {
		attr_add_str(r, PROXYMAP_STATUS, PROXYMAP_STATUS_NOTFOUND);
	} else if (strcmp(key, "err") == 0) {
		attr_add_str(r, PROXYMAP_STATUS, PROXYMAP_STATUS_ERROR);
		attr_add_str(r, PROXYMAP_TEXT, "boom");
	} else if (strcmp(key, "weird") == 0) {
		attr_add_str(r, PROXYMAP_STATUS, "maybe");
	} else {
		if (strcmp(key, "conns") == 0)
			str_fmt(v, sizeof(v), "%d", conns);
		else if (strcmp(key, "count") == 0)
			str_fmt(v, sizeof(v), "%d", requests);
		else
			str_fmt(v, sizeof(v), "%s|%s|%lld", table, key, (long long) flags);
		attr_add_str(r, PROXYMAP_STATUS, PROXYMAP_STATUS_OK);
		attr_add_str(r, PROXYMAP_VALUE, v);
	}
	if (strcmp(key, "twice") == 0)
		return 2;
	return strcmp(key, "drop") == 0 ? 1 : 0;
}

/* fake_proxymap - serve connections one at a time until killed */
static void fake_proxymap(int lfd)
{
	struct attr_list req, r;
	char e[256];
	int conns = 0;

	attr_list_init(&req);
	attr_list_init(&r);
	fcntl(lfd, F_SETFL, 0);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		conns++;
		while (ipc_recv(fd, &req, 0, 10000, e, sizeof(e)) > 0) {
			int rc = fake_answer(&req, &r, conns);

			if (rc == 2) {
				/* both frames in one write: the client sees them together */
				size_t n = attr_encoded_size(&r);
				char two[1024];

				if (2 * n > sizeof(two))
					break;
				attr_encode_into(&r, two);
				attr_encode_into(&r, two + n);
				if (write(fd, two, 2 * n) != (ssize_t) (2 * n))
					break;
				continue;
			}
			if (rc < 0 || ipc_send(fd, &r, 10000) < 0 || rc == 1)
				break;
		}
		close(fd);
	}
}

/* lookup - table_lookup with err cleared */
static int lookup(struct table *t, const char *key, const char **value)
{
	err[0] = '\0';
	return table_lookup(t, key, value, err, sizeof(err));
}

/* test_open - names that do not open */
static void test_open(void)
{
	static const struct {
		const char *spec;
		int err;
		const char *why;
	} bad[] = {
		{"proxy:", EINVAL, "expected proxy:type:name"},
		{"proxy:hash", EINVAL, "expected proxy:type:name"},
		{"proxy:hash:", EINVAL, "expected proxy:type:name"},
		{"proxy:nosuch:x", ENOTSUP, "type 'nosuch'"},
		{"proxy:proxy:hash:/x", ENOTSUP, "type 'proxy'"},
		{"proxy:has:/x", ENOTSUP, "type 'has'"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct table *t = table_open(bad[i].spec, 0, err, sizeof(err));

		ok(t == NULL && errno == bad[i].err && strstr(err, bad[i].why) != NULL,
		   "%s does not open (%s)", bad[i].spec, bad[i].why);
		if (t != NULL || strstr(err, bad[i].why) == NULL)
			diag("err: %s", t ? "(opened)" : err);
		table_close(t);
	}
}

/* test_no_service - nobody listens: a temporary error, not "not found" */
static void test_no_service(void)
{
	struct table *t = table_open("proxy:unix:passwd.byname", 0, err, sizeof(err));
	const char *value = "x";

	ok(t != NULL, "proxy: opens without the service");
	is_int(lookup(t, "root", &value), -1, "no service: temporary error");
	ok(value == NULL && strstr(err, "cannot connect to the proxymap service") != NULL,
	   "no service: says so");
	diag("%s", err);
	table_close(t);
}

/* test_service - lookups through the stand-in */
static void test_service(void)
{
	struct table *t = table_open("proxy:hash:/etc/tern/aliases", 0, err, sizeof(err));
	struct table *k = table_open("proxy:texthash:/x", TABLE_KEEP_CASE, err, sizeof(err));
	const char *value;
	struct timespec a, b;
	double secs;

	table_proxy_set_cache_time(0);		/* every lookup asks: test_cache has the rest */
	ok(t != NULL && k != NULL, "open two proxy: tables");
	is_int(lookup(t, "found", &value), 1, "found");
	is_str(value, "hash:/etc/tern/aliases|found|0", "the table without proxy:, the key, the flags");
	is_int(lookup(k, "found", &value), 1, "found in the second table");
	is_str(value, "texthash:/x|found|2", "TABLE_KEEP_CASE is passed on");
	is_int(lookup(t, "FOUND", &value), 1, "the key goes as given");
	is_str(value, "hash:/etc/tern/aliases|FOUND|0", "not folded by the client");
	is_int(lookup(t, "missing", &value), 0, "notfound: not found");
	ok(value == NULL && err[0] == '\0', "notfound: no value, no error");
	is_int(lookup(t, "err", &value), -1, "error: temporary error");
	ok(strstr(err, "proxy:hash:/etc/tern/aliases: proxymap: boom") != NULL, "error: the reason");
	is_int(lookup(t, "conns", &value), 1, "conns");
	is_str(value, "1", "all of that on one connection");

	is_int(lookup(t, "drop", &value), 1, "a reply, then the service closes the connection");
	is_int(lookup(t, "found", &value), 1, "the next lookup reconnects once");
	is_int(lookup(t, "conns", &value), 1, "conns");
	is_str(value, "2", "on a second connection");

	is_int(lookup(t, "close", &value), -1, "closed without a reply, twice: temporary error");
	ok(strstr(err, "closed") != NULL, "and says so");
	diag("%s", err);
	is_int(lookup(t, "conns", &value), 1, "conns");
	is_str(value, "4", "one retry on a new connection, no more");

	is_int(lookup(t, "twice", &value), -1, "a frame after the reply: temporary error");
	ok(strstr(err, "after the reply frame") != NULL, "and says so");
	diag("%s", err);
	is_int(lookup(t, "found", &value), 1, "the next lookup works on a new connection");

	is_int(lookup(t, "weird", &value), -1, "unknown status: temporary error");
	ok(strstr(err, "unknown status 'maybe'") != NULL, "and says so");
	is_int(lookup(t, "found", &value), 1, "works again after a bad reply");

	table_proxy_set_timeout(1);
	clock_gettime(CLOCK_MONOTONIC, &a);
	is_int(lookup(t, "hang", &value), -1, "no answer: temporary error");
	clock_gettime(CLOCK_MONOTONIC, &b);
	secs = (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9;
	ok(secs > 0.8 && secs < 2.5, "after the timeout, not retried (%.2f s)", secs);
	ok(strstr(err, "time") != NULL, "and says it timed out");
	diag("%s", err);
	table_proxy_set_timeout(0);
	table_close(t);
	table_close(k);
}

/* count - the stand-in's request counter, read through t */
static int count(struct table *t)
{
	const char *value = NULL;

	if (lookup(t, "count", &value) != 1 || value == NULL)
		return -1;
	return atoi(value);
}

/* test_cache - recent answers kept per table, for their time only */
static void test_cache(void)
{
	struct table *t = table_open("proxy:hash:/etc/tern/aliases", 0, err, sizeof(err));
	struct table *u = table_open("proxy:texthash:/x", 0, err, sizeof(err));
	struct table *pw = table_open("proxy:unix:passwd.byname", 0, err, sizeof(err));
	const char *value;
	int n, m;

	ok(t != NULL && u != NULL && pw != NULL, "open three proxy: tables");
	table_proxy_set_cache_time(-1);
	n = count(t);
	ok(n > 0, "count: %d", n);
	is_int(count(t), n, "asked again at once: the kept answer");
	m = count(u);
	ok(m > n, "another table asks for itself (%d)", m);
	is_int(lookup(t, "missing", &value), 0, "not found");
	is_int(lookup(t, "missing", &value), 0, "not found again");
	is_int(lookup(t, "err", &value), -1, "an error");
	is_int(lookup(t, "err", &value), -1, "an error again");
	is_int(count(u), m, "u: still the kept answer");
	is_int(count(u), m, "u: and once more");
	table_proxy_set_cache_time(0);
	n = count(u);
	is_int(n, m + 4, "uncached: proxymap saw missing once, err twice, then this count");
	is_int(lookup(t, "found", &value), 1, "found, uncached");
	is_str(value, "hash:/etc/tern/aliases|found|0", "the value");
	table_proxy_set_cache_time(1);
	is_int(lookup(t, "found", &value), 1, "found, kept");
	is_int(lookup(t, "found", &value), 1, "found, from the kept answer");
	is_str(value, "hash:/etc/tern/aliases|found|0", "the same value");
	n = count(t);
	is_int(count(t), n, "count kept");
	usleep(1100 * 1000);
	ok(count(t) > n, "after its time (1 s) the answer is asked again");
	n = count(t);
	table_proxy_set_socket(sock);
	ok(count(t) > n, "a new socket forgets the kept answers");

	table_proxy_set_cache_time(0);
	n = count(t);
	is_int(lookup(pw, "alice@example.com", &value), 0, "passwd.byname: a key with '@' is not found");
	ok(err[0] == '\0', "and no error");
	is_int(lookup(pw, "found", &value), 1, "passwd.byname: a name is asked");
	is_str(value, "unix:passwd.byname|found|0", "the value");
	is_int(count(t), n + 2, "proxymap saw only the name");
	table_proxy_set_cache_time(-1);
	table_close(t);
	table_close(u);
	table_close(pw);
}

int main(void)
{
	pid_t pid;
	int lfd, status;

	signal(SIGPIPE, SIG_IGN);
	str_copy(dir, "/tmp/test_table_proxy.XXXXXX", sizeof(dir));
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	str_fmt(sock, sizeof(sock), "%s/proxymap", dir);
	test_open();
	table_proxy_set_socket(sock);
	test_no_service();

	lfd = ipc_listen_unix(sock, 0600);
	if (!ok(lfd >= 0, "listen on %s", sock))
		return tap_done();
	pid = fork();
	if (pid == 0) {
		fake_proxymap(lfd);
		_exit(0);
	}
	close(lfd);
	test_service();
	test_cache();
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	table_proxy_set_socket(NULL);
	unlink(sock);
	rmdir(dir);
	return tap_done();
}
