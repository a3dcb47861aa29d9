/*
 * test_cleanup_msg - one message through cleanup's modules (envelope,
 * header filter, queue file, commit threads) without the daemon, and the
 * failures only a fault seam can reach: ENOSPC, EDQUOT, EIO and short
 * writes at every step of the writer and the commit (qfile_fault_hook).
 *
 * The modules are compiled into this test directly (the Makefile links
 * unit tests with libtern.a only). Files go to a fresh directory under
 * /tmp, which is removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/str.h"
#include "../../qmgr/cleanup_commit.c"
#include "../../qmgr/cleanup_env.c"
#include "../../qmgr/cleanup_header.c"
#include "../../qmgr/cleanup_msg.c"
#include "../../qmgr/cleanup_received.c"
#include "../../qmgr/cleanup_checks.c"
#include "../../qmgr/cleanup_screen.c"
#include "tap.h"

static char tmpdir[] = "/tmp/test_cleanup_msg.XXXXXX";
static struct qfile_dir incoming, hold;
static struct cleanup_cfg cfg;
static struct event_base *base;
static struct cleanup_commit *cc;
static int batches;

/* the fault seam: fail fault_op with fault_errno after fault_skip calls */
static _Atomic int op_count[QFILE_OP_PREAD + 1];
static _Atomic int fault_op = -1;
static _Atomic int fault_skip;
static _Atomic int fault_errno;
static _Atomic bool fault_short;	/* first matching write is cut in half instead */

static int fault_hook(enum qfile_op op, size_t *len)
{
	atomic_fetch_add(&op_count[op], 1);
	if ((int) op != atomic_load(&fault_op))
		return 0;
	if (atomic_fetch_sub(&fault_skip, 1) > 0)
		return 0;
	if (atomic_exchange(&fault_short, false) && *len > 1) {
		*len /= 2;
		return 0;
	}
	return atomic_load(&fault_errno);
}

static void fault_set(int op, int err, int skip, bool cut)
{
	atomic_store(&fault_skip, skip);
	atomic_store(&fault_errno, err);
	atomic_store(&fault_short, cut);
	atomic_store(&fault_op, op);
}

/* files - entries in a queue directory */
static int files(const char *sub)
{
	char path[256];
	struct dirent *d;
	DIR *dp;
	int n = 0;

	str_fmt(path, sizeof(path), "%s/%s", tmpdir, sub);
	if ((dp = opendir(path)) == NULL)
		return -1;
	while ((d = readdir(dp)) != NULL)
		if (d->d_name[0] != '.')
			n++;
	closedir(dp);
	return n;
}

/* clear - remove every file of a queue directory */
static void clear(const char *sub)
{
	char path[512];
	struct dirent *d;
	DIR *dp;

	str_fmt(path, sizeof(path), "%s/%s", tmpdir, sub);
	if ((dp = opendir(path)) == NULL)
		return;
	while ((d = readdir(dp)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		str_fmt(path, sizeof(path), "%s/%s/%s", tmpdir, sub, d->d_name);
		unlink(path);
	}
	closedir(dp);
}

/* count - occurrences of needle */
static int count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay++;
	}
	return n;
}

static void batch_end(void *arg)
{
	(void) arg;
	batches++;
}

struct ctx {
	struct cleanup_job job;
	struct cleanup_msg *m;
	bool done;
};

static void job_done(struct cleanup_job *job)
{
	struct ctx *c = job->ctx;

	c->m->w = job->w;
	cleanup_msg_committed(c->m, job->failed ? &job->err : NULL);
	c->done = true;
}

/* wait_done - run the loop until every ctx is done */
static void wait_done(struct ctx *cs, size_t n)
{
	for (;;) {
		size_t left = 0;

		for (size_t i = 0; i < n; i++)
			left += !cs[i].done;
		if (left == 0)
			return;
		event_base_loop(base, EVLOOP_ONCE);
	}
}

/* submit - end of content; queue the commit when the message is ready */
static void submit(struct ctx *c)
{
	if (!cleanup_msg_end(c->m)) {
		c->done = true;
		return;
	}
	memset(&c->job, 0, sizeof(c->job));
	c->job.w = c->m->w;
	c->job.dir = c->m->dir;
	c->job.done = job_done;
	c->job.ctx = c;
	c->m->w = NULL;
	cleanup_commit_submit(cc, &c->job);
}

/* send - one whole message; the caller frees the result */
static struct cleanup_msg *send_msg(const struct attr_list *frame, const char *content, size_t len,
				    size_t chunk)
{
	struct ctx c = {0};

	c.m = cleanup_msg_begin(&cfg, frame, 1234);
	for (size_t pos = 0; pos < len; pos += chunk)
		cleanup_msg_content(c.m, content + pos, len - pos < chunk ? len - pos : chunk);
	submit(&c);
	wait_done(&c, 1);
	return c.m;
}

/* frame_basic - a BEGIN frame with a sender and n recipients */
static void frame_basic(struct attr_list *l, int nrcpt)
{
	char rcpt[64];

	attr_list_reset(l);
	attr_add_str(l, "op", "begin");
	attr_add_str(l, "sender", "sender@client.test");
	for (int i = 0; i < nrcpt; i++) {
		str_fmt(rcpt, sizeof(rcpt), "rcpt%d@local.test", i);
		attr_add_str(l, "rcpt", rcpt);
	}
	attr_add_str(l, "client_name", "client.test");
	attr_add_str(l, "client_addr", "192.0.2.1");
	attr_add_str(l, "helo", "helo.client.test");
	attr_add_str(l, "protocol", "ESMTP");
}

/* read_file - the queue file of m and its content */
static struct qfile *read_file(const struct cleanup_msg *m, struct buf *content)
{
	char path[256];
	struct qfile_error err;
	struct qfile *qf;
	char tmp[4096];
	ssize_t n;

	str_fmt(path, sizeof(path), "%s/%s/%s", tmpdir, m->hold ? "hold" : "incoming", m->qid);
	if ((qf = qfile_open(path, 0, &err)) == NULL) {
		diag("qfile_open %s: %s", path, err.text);
		return NULL;
	}
	buf_init(content, 0);
	while ((n = qfile_content_read(qf, tmp, sizeof(tmp), &err)) > 0)
		buf_append(content, tmp, (size_t) n);
	if (n < 0)
		diag("content: %s", err.text);
	return qf;
}

static void test_full_envelope(void)
{
	struct attr_list l;
	struct cleanup_msg *m;
	struct qfile *qf;
	struct buf content;
	const char *v;
	const char *msg = "Subject: hi\r\nFrom: <a@b>\r\n\r\nline 1\r\n.\r\n";

	attr_list_init(&l);
	attr_add_str(&l, "op", "begin");
	attr_add_str(&l, "sender", "");
	attr_add_str(&l, "rcpt", "one@local.test");
	attr_add_str(&l, "orcpt", "rfc822;one+2Bx@local.test");
	attr_add_int(&l, "notify", CLEANUP_NOTIFY_SUCCESS | CLEANUP_NOTIFY_DELAY);
	attr_add_str(&l, "rcpt", "two@local.test");
	attr_add_str(&l, "orcpt", "");
	attr_add_int(&l, "notify", 0);
	attr_add_str(&l, "ret", "FULL");
	attr_add_str(&l, "envid", "ID+2B1");
	attr_add_int(&l, "flags", CLEANUP_FLAG_8BITMIME | CLEANUP_FLAG_SMTPUTF8 | CLEANUP_FLAG_REQUIRETLS
		     | CLEANUP_FLAG_SUBMISSION);
	attr_add_int(&l, "size", 42);
	attr_add_str(&l, "client_name", "client.test");
	attr_add_str(&l, "client_addr", "192.0.2.1");
	attr_add_int(&l, "client_port", 4711);
	attr_add_str(&l, "helo", "helo.client.test");
	attr_add_str(&l, "protocol", "UTF8SMTPSA");
	attr_add_str(&l, "tls_proto", "TLSv1.3");
	attr_add_str(&l, "tls_cipher", "TLS_AES_128_GCM_SHA256");
	attr_add_int(&l, "tls_bits", 128);
	attr_add_str(&l, "auth_user", "joe");
	attr_add_str(&l, "session", "s-1");
	attr_add_str(&l, "service", "submission");
	attr_add_str(&l, "dsn_kind", "delay");
	attr_add_str(&l, "some_future_attribute", "ignored");

	m = send_msg(&l, msg, strlen(msg), 7);
	is_int(m->stat, CLEANUP_STAT_OK, "full envelope: ok");
	ok(qid_valid(m->qid), "full envelope: queue id %s", m->qid);
	if ((qf = read_file(m, &content)) != NULL) {
		ok(qf->complete, "file complete");
		is_str(qf->sender, "", "null sender");
		ok(qf->flags == (QFILE_F_SMTPUTF8 | QFILE_F_REQUIRETLS) && qf->body == QFILE_BODY_8BITMIME,
		   "flags and body");
		ok(qf->dsn_ret == QFILE_RET_FULL && qf->envid && strcmp(qf->envid, "ID+2B1") == 0, "RET, ENVID");
		is_int((long long) qf->nrcpts, 2, "two recipients");
		if (qf->nrcpts == 2) {
			is_str(qf->rcpts[0].addr, "one@local.test", "recipient 1");
			ok(qf->rcpts[0].orcpt_type && strcmp(qf->rcpts[0].orcpt_type, "rfc822") == 0
			   && strcmp(qf->rcpts[0].orcpt, "one+2Bx@local.test") == 0, "ORCPT 1");
			is_int(qf->rcpts[0].notify, QFILE_NOTIFY_SUCCESS | QFILE_NOTIFY_DELAY, "NOTIFY 1");
			ok(qf->rcpts[1].orcpt == NULL && qf->rcpts[1].notify == 0, "recipient 2 plain");
		}
		ok((v = qfile_attr(qf, QFILE_A_CLIENT_PORT, NULL)) && strcmp(v, "4711") == 0, "client_port");
		ok((v = qfile_attr(qf, QFILE_A_SASL_USERNAME, NULL)) && strcmp(v, "joe") == 0, "sasl_username");
		ok((v = qfile_attr(qf, "tls_bits", NULL)) && strcmp(v, "128") == 0, "tls_bits");
		ok((v = qfile_attr(qf, "peer_uid", NULL)) && strcmp(v, "1234") == 0, "peer_uid");
		ok((v = qfile_attr(qf, "announced_size", NULL)) && strcmp(v, "42") == 0, "announced size");
		ok((v = qfile_attr(qf, "dsn_kind", NULL)) && strcmp(v, "delay") == 0, "dsn_kind");
		ok(qfile_attr(qf, "some_future_attribute", NULL) == NULL, "unknown attributes not stored");
		ok(str_has_prefix(buf_str(&content), "Received: from helo.client.test (client.test [192.0.2.1])\n"
				  "\t(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits))\n"
				  "\tby mx.test (tern) with UTF8SMTPSA id "), "Received: first");
		ok(strstr(buf_str(&content), "Subject: hi\nFrom: <a@b>\nMessage-ID: <") != NULL
		   && strstr(buf_str(&content), "@mx.test>\nDate: ") != NULL
		   && strstr(buf_str(&content), "\n\nline 1\n.\n") != NULL, "Message-ID: and Date: added");
		is_int(cleanup_msg_size(m), (long long) (content.len + qf->lf_count), "size in CRLF terms");
		ok(qfile_verify(qf, NULL) == 0, "file verifies");
		buf_free(&content);
		qfile_close(qf);
	}
	cleanup_msg_free(m);
	clear("incoming");
	attr_list_free(&l);
}

static void test_missing_headers(void)
{
	struct attr_list l;
	struct cleanup_msg *m;
	struct buf content;
	struct qfile *qf;
	const char *msg = "Subject: x\r\n\r\nbody\r\n";
	const char *with = "Subject: x\r\nMessage-ID: <given@x>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nb\r\n";

	attr_list_init(&l);
	frame_basic(&l, 1);
	m = send_msg(&l, msg, strlen(msg), 100);
	if ((qf = read_file(m, &content)) != NULL) {
		ok(!strstr(buf_str(&content), "Message-ID:") && !strstr(buf_str(&content), "\nDate:"),
		   "relayed mail: no Message-ID: or Date: added");
		ok(strstr(buf_str(&content), "\tfor <rcpt0@local.test>; ") != NULL, "one recipient: for <rcpt>");
		buf_free(&content);
		qfile_close(qf);
	}
	cleanup_msg_free(m);

	/* local submission: no client address */
	attr_list_reset(&l);
	attr_add_str(&l, "op", "begin");
	attr_add_str(&l, "sender", "root@mx.test");
	attr_add_str(&l, "rcpt", "a@local.test");
	attr_add_str(&l, "rcpt", "b@local.test");
	attr_add_int(&l, "origin_uid", 0);
	m = send_msg(&l, msg, strlen(msg), 100);
	if ((qf = read_file(m, &content)) != NULL) {
		ok(str_has_prefix(buf_str(&content), "Received: by mx.test (tern, from userid 0)\n\tid "),
		   "local: Received: by ... from userid");
		ok(strstr(buf_str(&content), "for <") == NULL, "two recipients: no for");
		ok(strstr(buf_str(&content), "Message-ID: <") && strstr(buf_str(&content), "\nDate: "),
		   "local: Message-ID: and Date: added");
		buf_free(&content);
		qfile_close(qf);
	}
	cleanup_msg_free(m);

	/* submission with both present: nothing added */
	frame_basic(&l, 1);
	attr_add_int(&l, "flags", CLEANUP_FLAG_SUBMISSION);
	m = send_msg(&l, with, strlen(with), 3);
	is_str(m->hdr.msgid, "<given@x>", "given Message-ID kept for the log");
	if ((qf = read_file(m, &content)) != NULL) {
		const char *c = buf_str(&content);

		is_int(count(c, "Message-ID:"), 1, "submission with Message-ID: none added");
		is_int(count(c, "\nDate:"), 1, "submission with Date: none added");
		buf_free(&content);
		qfile_close(qf);
	}
	cleanup_msg_free(m);
	clear("incoming");
	attr_list_free(&l);
}

static void test_envelope_errors(void)
{
	static const struct {
		const char *name;
		const char *attrs;	/* name=value|...; "I:name": an integer */
		enum cleanup_stat stat;
		int code;
		const char *dsn;
	} cases[] = {
		{"no sender", "rcpt=a@b", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"two senders", "sender=a@b|sender=c@d|rcpt=a@b", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"no recipients", "sender=a@b", CLEANUP_STAT_NORCPT, 554, "5.5.1"},
		{"too many recipients", "sender=a@b|rcpt=1@x|rcpt=2@x|rcpt=3@x|rcpt=4@x", CLEANUP_STAT_RCPTS, 552, "5.5.3"},
		{"empty recipient", "sender=a@b|rcpt=", CLEANUP_STAT_RCPT, 553, "5.1.3"},
		{"recipient with a control character", "sender=a@b|rcpt=a\tb@c", CLEANUP_STAT_RCPT, 553, "5.1.3"},
		{"sender with a control character", "sender=a\x7f@b|rcpt=a@b", CLEANUP_STAT_SENDER, 553, "5.1.7"},
		{"orcpt count", "sender=a@b|rcpt=a@b|rcpt=c@d|orcpt=rfc822;a@b", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"orcpt without type", "sender=a@b|rcpt=a@b|orcpt=a@b", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"orcpt with space", "sender=a@b|rcpt=a@b|orcpt=rfc822;a b", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"notify NEVER with SUCCESS", "sender=a@b|rcpt=a@b|I:notify=3", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"notify unknown bit", "sender=a@b|rcpt=a@b|I:notify=16", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"ret bad", "sender=a@b|rcpt=a@b|ret=SOME", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"envid not xtext", "sender=a@b|rcpt=a@b|envid=a=b", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"envid bad escape", "sender=a@b|rcpt=a@b|envid=a+4", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"unknown flag", "sender=a@b|rcpt=a@b|I:flags=1024", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"flags as string", "sender=a@b|rcpt=a@b|flags=1", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"helo as integer", "sender=a@b|rcpt=a@b|I:helo=1", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"client port out of range", "sender=a@b|rcpt=a@b|I:client_port=70000", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"helo with a control character", "sender=a@b|rcpt=a@b|helo=a\x01", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"unknown dsn_kind", "sender=|rcpt=a@b|dsn_kind=bogus", CLEANUP_STAT_ENVELOPE, 554, "5.5.4"},
		{"announced size over the limit", "sender=a@b|rcpt=a@b|I:size=100001", CLEANUP_STAT_SIZE, 552, "5.3.4"},
	};
	struct attr_list l;

	attr_list_init(&l);
	cfg.rcpt_limit = 3;
	cfg.size_limit = 100000;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *copy = xstrdup(cases[i].attrs), *p = copy, *tok;
		struct cleanup_msg *m;

		attr_list_reset(&l);
		attr_add_str(&l, "op", "begin");
		while ((tok = strsep(&p, "|")) != NULL) {
			char *eq = strchr(tok, '=');

			*eq = '\0';
			if (strncmp(tok, "I:", 2) == 0)
				attr_add_int(&l, tok + 2, atoll(eq + 1));
			else
				attr_add_str(&l, tok, eq + 1);
		}
		m = send_msg(&l, "A: b\r\n", 6, 6);
		ok(m->stat == cases[i].stat && m->reply.code == cases[i].code
		   && strcmp(m->reply.dsn, cases[i].dsn) == 0, "%s: %d %s %s", cases[i].name, m->reply.code,
		   m->reply.dsn, m->reply.text);
		ok(m->qid[0] == '\0' && files("incoming") == 0, "%s: no file", cases[i].name);
		cleanup_msg_free(m);
		free(copy);
	}
	cfg.rcpt_limit = 1000;
	cfg.size_limit = 0;
	attr_list_free(&l);
}

static void test_limits(void)
{
	struct attr_list l;
	struct cleanup_msg *m;
	struct buf msg;

	attr_list_init(&l);
	buf_init(&msg, 0);
	frame_basic(&l, 1);

	/* size: as the source sends it, CRLF counted */
	cfg.size_limit = 1000;
	buf_puts(&msg, "Subject: x\r\n\r\n");
	while (msg.len < 998)
		buf_puts(&msg, "a");
	buf_puts(&msg, "\r\n");
	m = send_msg(&l, msg.data, msg.len, 64);
	ok(m->stat == CLEANUP_STAT_OK, "size: 1000 bytes with a limit of 1000: ok");
	cleanup_msg_free(m);
	buf_puts(&msg, "x");
	m = send_msg(&l, msg.data, msg.len, 64);
	ok(m->stat == CLEANUP_STAT_SIZE && m->reply.code == 552 && strcmp(m->reply.dsn, "5.3.4") == 0,
	   "size: 1001 bytes: 552 5.3.4");
	cleanup_msg_free(m);
	is_int(files("incoming"), 1, "size: only the accepted file is left");
	clear("incoming");
	cfg.size_limit = 0;

	/* hop count: hopcount_limit - 1 Received: fields pass, hopcount_limit do not */
	for (int hops = 99; hops <= 100; hops++) {
		buf_reset(&msg);
		for (int i = 0; i < hops; i++)
			buf_printf(&msg, "Received: from hop%d.test by x.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n", i);
		buf_puts(&msg, "Subject: loop\r\n\r\nbody\r\n");
		m = send_msg(&l, msg.data, msg.len, 1000);
		if (hops == 99)
			ok(m->stat == CLEANUP_STAT_OK && m->hdr.received == 99, "99 Received: fields: ok");
		else
			ok(m->stat == CLEANUP_STAT_HOPS && m->reply.code == 554 && strcmp(m->reply.dsn, "5.4.6") == 0,
			   "100 Received: fields: 554 5.4.6 (%s)", m->reply.text);
		cleanup_msg_free(m);
	}
	is_int(files("incoming"), 1, "hops: only the accepted file is left");
	clear("incoming");

	/* a header line the file cannot hold */
	buf_reset(&msg);
	buf_puts(&msg, "X-Big: ");
	while (msg.len < QFILE_HEADER_LINE_MAX + 10)
		buf_putc(&msg, 'x');
	buf_puts(&msg, "\r\n\r\n");
	m = send_msg(&l, msg.data, msg.len, 4096);
	ok(m->stat == CLEANUP_STAT_HEADER && m->reply.code == 552, "header line over %d bytes: 552",
	   QFILE_HEADER_LINE_MAX);
	cleanup_msg_free(m);
	is_int(files("incoming"), 0, "header line: no file");

	/* hold */
	attr_add_int(&l, "flags", CLEANUP_FLAG_HOLD);
	m = send_msg(&l, "A: b\r\n", 6, 6);
	ok(m->stat == CLEANUP_STAT_OK && m->hold && files("hold") == 1 && files("incoming") == 0,
	   "hold flag: the file goes to hold/");
	cleanup_msg_free(m);
	clear("hold");

	/* abandoned in the middle: the file goes away */
	frame_basic(&l, 1);
	m = cleanup_msg_begin(&cfg, &l, 0);
	cleanup_msg_content(m, "Subject: x\r\n", 12);
	is_int(files("incoming"), 1, "abandoned: the file exists while the message streams");
	cleanup_msg_free(m);
	is_int(files("incoming"), 0, "abandoned: the file is removed");

	buf_free(&msg);
	attr_list_free(&l);
}

static void test_faults(void)
{
	static const struct {
		const char *name;
		int op, err, skip;
		bool cut;
		size_t size;		/* content bytes */
		int code;
		const char *dsn;
	} cases[] = {
		{"create: ENOSPC", QFILE_OP_OPEN, ENOSPC, 0, false, 100, 452, "4.3.1"},
		{"create: EIO", QFILE_OP_OPEN, EIO, 0, false, 100, 451, "4.3.0"},
		{"rename: EDQUOT", QFILE_OP_RENAME, EDQUOT, 0, false, 100, 452, "4.3.1"},
		{"write in the content: ENOSPC", QFILE_OP_WRITE, ENOSPC, 0, false, 300000, 452, "4.3.1"},
		{"write in the content: EIO", QFILE_OP_WRITE, EIO, 1, false, 300000, 451, "4.3.0"},
		{"short write, then ENOSPC", QFILE_OP_WRITE, ENOSPC, 0, true, 300000, 452, "4.3.1"},
		{"write at commit: EDQUOT", QFILE_OP_WRITE, EDQUOT, 0, false, 100, 452, "4.3.1"},
		{"fchmod at commit: EIO", QFILE_OP_FCHMOD, EIO, 0, false, 100, 451, "4.3.0"},
		{"fsync at commit: ENOSPC", QFILE_OP_FSYNC, ENOSPC, 0, false, 100, 452, "4.3.1"},
		{"fsync at commit: EIO", QFILE_OP_FSYNC, EIO, 0, false, 100, 451, "4.3.0"},
		{"close at commit: EIO", QFILE_OP_CLOSE, EIO, 0, false, 100, 451, "4.3.0"},
		{"directory fsync: EIO", QFILE_OP_DIRSYNC, EIO, 0, false, 100, 451, "4.3.0"},
		{"short write only", QFILE_OP_WRITE, 0, 0, true, 300000, 0, "2.0.0"},
	};
	struct attr_list l;
	struct buf msg;

	attr_list_init(&l);
	buf_init(&msg, 0);
	frame_basic(&l, 2);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cleanup_msg *m;

		buf_reset(&msg);
		buf_puts(&msg, "Subject: fault\r\n\r\n");
		while (msg.len < cases[i].size)
			buf_puts(&msg, "0123456789012345678901234567890123456789012345678901234567890123456789\r\n");
		fault_set(cases[i].op, cases[i].err, cases[i].skip, cases[i].cut);
		m = send_msg(&l, msg.data, msg.len, 65536);
		fault_set(-1, 0, 0, false);
		ok(m->reply.code == cases[i].code && strcmp(m->reply.dsn, cases[i].dsn) == 0, "%s: %d %s",
		   cases[i].name, m->reply.code, m->reply.dsn);
		if (cases[i].code)
			ok(files("incoming") == 0, "%s: no file left", cases[i].name);
		else
			ok(files("incoming") == 1, "%s: the file is whole", cases[i].name);
		cleanup_msg_free(m);
		clear("incoming");
	}
	buf_free(&msg);
	attr_list_free(&l);
}

static void test_group_commit(void)
{
	enum { N = 60 };
	struct ctx cs[N];
	struct attr_list l;
	int syncs, oks = 0, before = batches;
	bool unique = true;

	attr_list_init(&l);
	frame_basic(&l, 1);
	memset(cs, 0, sizeof(cs));
	atomic_store(&op_count[QFILE_OP_DIRSYNC], 0);
	for (int i = 0; i < N; i++) {
		cs[i].m = cleanup_msg_begin(&cfg, &l, 0);
		cleanup_msg_content(cs[i].m, "Subject: many\r\n\r\nx\r\n", 20);
		submit(&cs[i]);
	}
	wait_done(cs, N);
	syncs = atomic_load(&op_count[QFILE_OP_DIRSYNC]);
	for (int i = 0; i < N; i++) {
		oks += cs[i].m->stat == CLEANUP_STAT_OK;
		for (int k = 0; k < i; k++)
			if (strcmp(cs[i].m->qid, cs[k].m->qid) == 0)
				unique = false;
	}
	is_int(oks, N, "group: every message committed");
	ok(unique, "group: queue ids unique");
	is_int(files("incoming"), N, "group: every file there");
	ok(syncs >= 1 && syncs <= N, "group: %d directory fsyncs for %d messages", syncs, N);
	ok(batches > before, "group: batch_end ran (%d batches)", batches - before);
	is_int((long long) cleanup_commit_pending(cc), 0, "group: nothing pending");
	for (int i = 0; i < N; i++)
		cleanup_msg_free(cs[i].m);
	clear("incoming");
	attr_list_free(&l);
}

int main(void)
{
	char path[256];
	struct qfile_error err;

	setenv("TZ", "UTC", 1);
	tzset();
	msg_open(MSG_FILE, "/dev/null", NULL);	/* the log lines are not what is tested */
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	str_fmt(path, sizeof(path), "%s/incoming", tmpdir);
	mkdir(path, 0700);
	if (qfile_dir_open(&incoming, path, &err) < 0)
		return 1;
	str_fmt(path, sizeof(path), "%s/hold", tmpdir);
	mkdir(path, 0700);
	if (qfile_dir_open(&hold, path, &err) < 0)
		return 1;
	cfg.myhostname = "mx.test";
	cfg.hopcount_limit = 100;
	cfg.rcpt_limit = 1000;
	cfg.incoming = &incoming;
	cfg.hold = &hold;
	base = event_base_new();
	cc = cleanup_commit_new(base, 4, batch_end, NULL);
	qfile_fault_hook = fault_hook;

	test_full_envelope();
	test_missing_headers();
	test_envelope_errors();
	test_limits();
	test_faults();
	test_group_commit();

	qfile_fault_hook = NULL;
	cleanup_commit_free(cc);
	event_base_free(base);
	qfile_dir_close(&incoming);
	qfile_dir_close(&hold);
	str_fmt(path, sizeof(path), "%s/incoming", tmpdir);
	rmdir(path);
	str_fmt(path, sizeof(path), "%s/hold", tmpdir);
	rmdir(path);
	rmdir(tmpdir);
	return tap_done();
}
