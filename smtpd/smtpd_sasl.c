/*
 * smtpd_sasl - the AUTH command (RFC 4954): SASL PLAIN (RFC 4616) and
 * LOGIN, checked against tern's own accounts or against Dovecot's auth
 * service.
 *
 * The exchange: "AUTH mech [initial-response]"; "334 challenge" lines
 * and the client's base64 answers ("*" cancels: 501 5.7.0; bad base64:
 * 501 5.5.2; "=" is an empty answer); then 235 2.7.0, or 535 5.7.8 after
 * smtpd_auth_failure_delay, or 454 4.7.0 when the back-end cannot answer
 * now. One successful AUTH per session (503 after it); none inside a
 * transaction (503); none before TLS while smtpd_tls_auth_only is set
 * (538 5.7.11); on a service with smtpd_auth_on_mta_port = no the verb
 * does not exist (500 5.5.1), and with smtpd_auth_probe_ban the client
 * is handed to smtpd_sasl_hook_probe and disconnected (421 4.7.0).
 *
 * Back-ends (smtpd_sasl_type):
 *	tern	the accounts ternuser(8) manages: smtpd_sasl_user_maps
 *		(default $virtual_mailbox_maps, looked up through proxymap:
 *		smtpd is chrooted) maps the full address to "maildir hash";
 *		the last word is a crypt(3) hash (yescrypt "$y$", or any
 *		method libcrypt knows) that crypt_rn verifies.
 *	dovecot	Dovecot's auth client protocol (version 1) on the UNIX
 *		socket smtpd_sasl_path, relative to queue_directory: the
 *		handshake (VERSION, CPID; the server's MECH ... DONE), then
 *		"AUTH id PLAIN service=smtp ... resp=BASE64"; OK or FAIL.
 *		LOGIN credentials are passed on as a PLAIN message.
 *
 * Threads: a yescrypt check costs tens of milliseconds and a Dovecot
 * round trip may wait for a slow server, while one smtpd process serves
 * many sessions on one event loop. So that work runs on a small pool of
 * worker threads (SMTPD_SASL_THREADS), started at the first AUTH of the
 * process: a job holds copies of everything it needs, the worker fills
 * in the verdict, puts the job on the done list and writes one byte to a
 * pipe; the event loop reads the pipe and finishes the sessions. The
 * table lookup (a proxymap round trip, as at RCPT) stays on the loop,
 * because the proxy: client is one connection per process. Workers never
 * log, never touch a session and never call anything that exits; a
 * session that closes while its job runs only marks the job orphaned,
 * and the loop frees it when it comes back. The session reads no input
 * while a job or the failure delay is under way (SMTPD_IN_AUTH).
 *
 * Secrets: the password lives in the job and the exchange state only as
 * long as needed and is wiped (OPENSSL_cleanse) before the memory is
 * freed; it is never logged, nor the base64 that carries it.
 *
 * Bounds: a decoded answer is at most SMTPD_SASL_RESP_MAX octets (the
 * command line limit applies before that), names at most
 * SMTPD_SASL_NAME_MAX, passwords SMTPD_SASL_PASS_MAX; the Dovecot
 * conversation reads lines of at most SMTPD_SASL_DOVECOT_LINE octets and
 * every read and write there has SMTPD_SASL_DOVECOT_TIMEOUT.
 */
#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/table.h"
#include "smtpd.h"

#define SMTPD_SASL_THREADS		2	/* worker threads per smtpd process */
#define SMTPD_SASL_RESP_MAX		1024	/* decoded octets of one client answer */
#define SMTPD_SASL_PASS_MAX		255
#define SMTPD_SASL_HASH_MAX		512
#define SMTPD_SASL_DOVECOT_LINE		8192	/* longest line Dovecot may send us */
#define SMTPD_SASL_DOVECOT_TIMEOUT	30	/* seconds for each read and write */

/* the exchange with one client */
enum smtpd_sasl_step {
	SASL_PLAIN_RESP,		/* "334 " sent: the PLAIN message comes */
	SASL_LOGIN_USER,		/* "334 VXNlcm5hbWU6" sent */
	SASL_LOGIN_PASS,		/* "334 UGFzc3dvcmQ6" sent */
	SASL_VERIFY,			/* a job is with the workers */
	SASL_DELAY,			/* failed: waiting before the 535 */
};

enum smtpd_sasl_backend { SASL_BACKEND_NONE, SASL_BACKEND_TERN, SASL_BACKEND_DOVECOT };

/* smtpd_sasl_job - one verification, handed to a worker thread */
struct smtpd_sasl_job {
	struct smtpd_sasl_job *next;
	struct smtpd_session *s;	/* event loop only; NULL when the session is gone */
	enum smtpd_sasl_backend backend;
	/* in */
	char user[SMTPD_SASL_NAME_MAX + 1];
	char pass[SMTPD_SASL_PASS_MAX + 1];
	char hash[SMTPD_SASL_HASH_MAX + 1];	/* tern */
	char path[sizeof(((struct sockaddr_un *) 0)->sun_path)];	/* dovecot */
	char rip[INET6_ADDRSTRLEN], lip[INET6_ADDRSTRLEN];
	int rport, lport;
	bool secured;
	unsigned long id;
	/* out */
	int verdict;			/* 1 good, 0 refused, -1 temporary trouble */
	char reason[256];		/* for the log, never for the client */
	char identity[SMTPD_SASL_NAME_MAX + 1];	/* dovecot's user=, else user */
};

/* smtpd_sasl - a session's exchange under way */
struct smtpd_sasl {
	enum smtpd_sasl_step step;
	const char *mech;		/* "PLAIN", "LOGIN" */
	char user[SMTPD_SASL_NAME_MAX + 1];
	char account[SMTPD_SASL_NAME_MAX + 1];	/* what to name in the failure record */
	char reason[256];
	char identity[SMTPD_SASL_NAME_MAX + 1];	/* accepted by the back-end, waiting for AUTH_CHECK */
	bool frozen;			/* the screen service says the account is frozen */
	struct smtpd_sasl_job *job;	/* SASL_VERIFY */
	struct event *delay;		/* SASL_DELAY */
};

/* the worker pool of this process */
static struct smtpd_sasl_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct smtpd_sasl_job *todo, *todo_tail;	/* for the workers, in order */
	struct smtpd_sasl_job *done, *done_tail;	/* for the loop, in order */
	int pipe[2];
	struct event *ev;
	bool started;
	unsigned long seq;		/* Dovecot request ids */
} smtpd_sasl_pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.pipe = {-1, -1},
};

static enum smtpd_sasl_backend smtpd_sasl_backend;

/* smtpd_sasl_init - pre_jail: the back-end and its tables */
void smtpd_sasl_init(struct smtpd_server *srv)
{
	const char *type = srv->p->smtpd_sasl_type;
	char *const *maps = srv->p->smtpd_sasl_user_maps;
	char err[TABLE_ERR_SIZE];
	char **specs;
	size_t n = 0;

	if (strcmp(type, "none") == 0 || type[0] == '\0')
		smtpd_sasl_backend = SASL_BACKEND_NONE;
	else if (strcmp(type, "tern") == 0)
		smtpd_sasl_backend = SASL_BACKEND_TERN;
	else if (strcmp(type, "dovecot") == 0)
		smtpd_sasl_backend = SASL_BACKEND_DOVECOT;
	else
		msg_fatal("smtpd_sasl_type = %s: expected tern, dovecot or none", type);
	if (smtpd_sasl_backend == SASL_BACKEND_DOVECOT &&
	    strlen(srv->p->smtpd_sasl_path) >= sizeof(((struct sockaddr_un *) 0)->sun_path))
		msg_fatal("smtpd_sasl_path = %s: too long for a UNIX socket name", srv->p->smtpd_sasl_path);
	if (srv->p->smtpd_sender_login_maps[0] != NULL) {
		srv->login_maps = tables_open_vector((const char *const *) srv->p->smtpd_sender_login_maps, 0,
						     err, sizeof(err));
		if (srv->login_maps == NULL)
			msg_fatal("smtpd_sender_login_maps: %s", err);
	}
	if (smtpd_sasl_backend != SASL_BACKEND_TERN)
		return;
	for (size_t i = 0; maps[i]; i++)
		n++;
	if (n == 0) {
		smtpd_sasl_backend = SASL_BACKEND_NONE;	/* no accounts: AUTH is not offered */
		return;
	}
	/* smtpd is chrooted: the account tables are read through proxymap */
	specs = xcalloc(n + 1, sizeof(*specs));
	for (size_t i = 0; i < n; i++)
		specs[i] = str_has_prefix(maps[i], "proxy:") ? xstrdup(maps[i]) : str_dupf("proxy:%s", maps[i]);
	srv->sasl_maps = tables_open_vector((const char *const *) specs, 0, err, sizeof(err));
	if (srv->sasl_maps == NULL)
		msg_fatal("smtpd_sasl_user_maps: %s", err);
	for (size_t i = 0; i < n; i++)
		free(specs[i]);
	free(specs);
}

/* smtpd_sasl_enabled - is there a back-end at all */
static bool smtpd_sasl_enabled(const struct smtpd_server *srv)
{
	(void) srv;
	return smtpd_sasl_backend != SASL_BACKEND_NONE;
}

/* smtpd_sasl_available - may a client of this service authenticate at all */
bool smtpd_sasl_available(const struct smtpd_server *srv)
{
	return smtpd_sasl_enabled(srv) && srv->p->smtpd_auth_on_mta_port;
}

/* smtpd_sasl_offered - AUTH in the EHLO reply now */
bool smtpd_sasl_offered(const struct smtpd_session *s)
{
	const struct params_smtpd *p = s->srv->p;

	return smtpd_sasl_enabled(s->srv) && p->smtpd_auth_on_mta_port && s->sasl_user[0] == '\0' &&
	    (s->tls || !p->smtpd_tls_auth_only);
}

/* smtpd_sasl_wipe - forget a secret */
static void smtpd_sasl_wipe(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}

/* smtpd_sasl_job_free - wipe and free a job */
static void smtpd_sasl_job_free(struct smtpd_sasl_job *job)
{
	smtpd_sasl_wipe(job, sizeof(*job));
	free(job);
}

/* smtpd_b64_value - the 6-bit value of a base64 character, or -1 */
static int smtpd_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * smtpd_b64_decode - strict base64 (RFC 4648 section 4, padded) of in[len]
 * into out[size]: the length, or -1 for bad input, -2 when it is too long
 */
static ssize_t smtpd_b64_decode(const char *in, size_t len, unsigned char *out, size_t size)
{
	size_t o = 0;

	if (len % 4 != 0)
		return -1;
	if (len / 4 * 3 > size + 2)
		return -2;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;

		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char) in[i + (size_t) k];

			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = smtpd_b64_value(c)) < 0)
				return -1;
		}
		if ((size_t) (3 - pad) > size - o)
			return -2;
		out[o++] = (unsigned char) (v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char) ((v[1] & 0xf) << 4 | v[2] >> 2);
		else if ((v[1] & 0xf) != 0)
			return -1;
		if (pad < 1)
			out[o++] = (unsigned char) ((v[2] & 0x3) << 6 | v[3]);
		else if (pad == 1 && (v[2] & 0x3) != 0)
			return -1;
	}
	return (ssize_t) o;
}

/* smtpd_sasl_name_ok - a name we pass on and log: printable, no spaces */
static bool smtpd_sasl_name_ok(const unsigned char *p, size_t n)
{
	if (n == 0 || n > SMTPD_SASL_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] <= 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

/* smtpd_sasl_printable - untrusted text for the failure record */
static void smtpd_sasl_printable(char *dst, size_t size, const unsigned char *src, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < size; i++)
		dst[o++] = (src[i] > 0x20 && src[i] < 0x7f) ? (char) src[i] : '?';
	dst[o] = '\0';
}

/* smtpd_sasl_free - end the exchange state (the job, if any, is orphaned) */
static void smtpd_sasl_free(struct smtpd_session *s)
{
	struct smtpd_sasl *x = s->sasl;

	if (x == NULL)
		return;
	if (x->job != NULL)
		x->job->s = NULL;	/* the loop frees it when the worker is done */
	if (x->delay != NULL)
		event_free(x->delay);
	smtpd_sasl_wipe(x, sizeof(*x));
	free(x);
	s->sasl = NULL;
}

/* smtpd_sasl_session_end - the session closes */
void smtpd_sasl_session_end(struct smtpd_session *s)
{
	smtpd_sasl_free(s);
}

/* smtpd_sasl_active - does the next input line belong to the exchange */
bool smtpd_sasl_active(const struct smtpd_session *s)
{
	return s->sasl != NULL && s->sasl->step <= SASL_LOGIN_PASS;
}

/* smtpd_sasl_continue - back to commands after the final reply */
static void smtpd_sasl_continue(struct smtpd_session *s)
{
	smtpd_sasl_free(s);
	if (s->input != SMTPD_IN_AUTH)
		return;
	if (s->stopping) {
		smtpd_reply_noerr(s, 421, "4.3.2", "%s Service shutting down", s->srv->g->myhostname);
		smtpd_session_finish(s);
		return;
	}
	s->input = SMTPD_IN_COMMAND;
	smtpd_session_reading(s, true);
	smtpd_session_resume(s);
}

/* smtpd_sasl_wait - no input until the verdict */
static void smtpd_sasl_wait(struct smtpd_session *s)
{
	s->input = SMTPD_IN_AUTH;
	smtpd_session_reading(s, false);
}

/* smtpd_sasl_delay_cb - the failure delay is over: 535 */
static void smtpd_sasl_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_session *s = arg;

	(void) fd;
	(void) what;
	if (s->sasl->frozen)
		smtpd_reply(s, 535, "5.7.8", "Error: authentication failed: account frozen after suspicious "
			    "activity; ask the postmaster to release it");
	else
		smtpd_reply(s, 535, "5.7.8", "Error: authentication failed: authentication failure");
	smtpd_sasl_continue(s);
}

/*
 * smtpd_sasl_fail - a refused AUTH: the hook, then 535 after the delay.
 * account: the name tried (printable) or "" for none.
 */
static void smtpd_sasl_fail(struct smtpd_session *s, const char *account, const char *reason)
{
	struct smtpd_sasl *x = s->sasl;
	struct timeval tv = {(time_t) s->srv->p->smtpd_auth_failure_delay, 0};

	smtpd_sasl_hook_failure(s, account, x->mech, reason);
	x->step = SASL_DELAY;
	smtpd_sasl_wait(s);
	if (tv.tv_sec == 0) {
		smtpd_sasl_delay_cb(-1, 0, s);
		return;
	}
	x->delay = evtimer_new(s->srv->base, smtpd_sasl_delay_cb, s);
	if (x->delay == NULL)
		msg_fatal("smtpd_sasl_fail: evtimer_new failed");
	evtimer_add(x->delay, &tv);
}

/* smtpd_sasl_abort - a malformed or cancelled exchange: 501, and a failure record */
static void smtpd_sasl_abort(struct smtpd_session *s, const char *enh, const char *text, const char *reason)
{
	smtpd_sasl_hook_failure(s, s->sasl->account, s->sasl->mech, reason);
	smtpd_reply(s, 501, enh, "%s", text);
	smtpd_sasl_free(s);
}

/* smtpd_sasl_temp - the back-end cannot answer now: 454 (no failure record) */
static void smtpd_sasl_temp(struct smtpd_session *s, const char *why)
{
	msg_warn("%s: SASL %s authentication unavailable: %s", s->peer, s->sasl->mech, why);
	smtpd_reply(s, 454, "4.7.0", "Temporary authentication failure");
	smtpd_sasl_continue(s);
}

/* smtpd_sasl_success - 235, the identity and the log line */
static void smtpd_sasl_success(struct smtpd_session *s, const char *identity)
{
	str_copy(s->sasl_user, identity, sizeof(s->sasl_user));
	s->sasl_method = s->sasl->mech;
	msg_info("%s: client=%s, sasl_method=%s, sasl_username=%s", s->id, s->peer, s->sasl_method,
		 s->sasl_user);
	smtpd_reply(s, 235, "2.7.0", "Authentication successful");
	smtpd_sasl_continue(s);
}

/* smtpd_sasl_worker_tern - crypt_rn verifies pass against hash */
static void smtpd_sasl_worker_tern(struct smtpd_sasl_job *job, struct crypt_data *cd)
{
	const char *out;
	size_t hlen = strlen(job->hash);

	memset(cd, 0, sizeof(*cd));
	out = crypt_rn(job->pass, job->hash, cd, sizeof(*cd));
	if (out == NULL || out[0] == '*') {
		job->verdict = 0;
		str_copy(job->reason, "password hash not usable by crypt(3)", sizeof(job->reason));
	} else if (strlen(out) == hlen && CRYPTO_memcmp(out, job->hash, hlen) == 0) {
		job->verdict = 1;
		str_copy(job->identity, job->user, sizeof(job->identity));
	} else {
		job->verdict = 0;
		str_copy(job->reason, "authentication failure", sizeof(job->reason));
	}
	smtpd_sasl_wipe(cd, sizeof(*cd));
}

/* smtpd_dovecot_write - all of buf[n] within the socket's time limit: 0 or -1 */
static int smtpd_dovecot_write(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t) w;
	}
	return 0;
}

/* smtpd_dovecot_conn - the line reader of one Dovecot connection */
struct smtpd_dovecot_conn {
	int fd;
	char buf[SMTPD_SASL_DOVECOT_LINE];
	size_t have;
	char line[SMTPD_SASL_DOVECOT_LINE];
};

/* smtpd_dovecot_line - the next line (no LF) into c->line: 0, or -1 with why */
static int smtpd_dovecot_line(struct smtpd_dovecot_conn *c, char *why, size_t size)
{
	for (;;) {
		char *lf = memchr(c->buf, '\n', c->have);
		ssize_t r;

		if (lf != NULL) {
			size_t n = (size_t) (lf - c->buf);

			memcpy(c->line, c->buf, n);
			c->line[n] = '\0';
			memmove(c->buf, lf + 1, c->have - n - 1);
			c->have -= n + 1;
			return 0;
		}
		if (c->have == sizeof(c->buf)) {
			str_copy(why, "line from the auth server too long", size);
			return -1;
		}
		r = recv(c->fd, c->buf + c->have, sizeof(c->buf) - c->have, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			str_fmt(why, size, "reading from the auth server: %s",
				r == 0 ? "connection closed" : errno == EAGAIN ? "timeout" : strerror(errno));
			return -1;
		}
		c->have += (size_t) r;
	}
}

/* smtpd_dovecot_field - the value of "name=" among the TAB-separated fields, or NULL */
static const char *smtpd_dovecot_field(char *fields, const char *name, size_t *len)
{
	size_t nl = strlen(name);

	for (char *f = fields; f != NULL && *f; ) {
		char *tab = strchr(f, '\t');
		size_t flen = tab ? (size_t) (tab - f) : strlen(f);

		if (flen > nl && strncmp(f, name, nl) == 0 && f[nl] == '=') {
			*len = flen - nl - 1;
			return f + nl + 1;
		}
		if (flen == nl && strncmp(f, name, nl) == 0) {
			*len = 0;
			return f + nl;
		}
		f = tab ? tab + 1 : NULL;
	}
	return NULL;
}

/* smtpd_dovecot_talk - handshake and AUTH on a connected socket; sets the verdict */
static void smtpd_dovecot_talk(struct smtpd_sasl_job *job, struct smtpd_dovecot_conn *c)
{
	char msg[2 * SMTPD_SASL_NAME_MAX + SMTPD_SASL_PASS_MAX + 4];
	char b64[4 * sizeof(msg) / 3 + 8];
	char req[sizeof(b64) + 512];
	size_t ulen = strlen(job->user), plen = strlen(job->pass), mlen, len;
	bool plain = false, version = false;
	char idtext[32];
	int n;

	n = snprintf(req, sizeof(req), "VERSION\t1\t1\nCPID\t%ld\n", (long) getpid());
	if (n < 0 || smtpd_dovecot_write(c->fd, req, (size_t) n) < 0) {
		str_fmt(job->reason, sizeof(job->reason), "writing to the auth server: %s", strerror(errno));
		return;
	}
	for (;;) {
		if (smtpd_dovecot_line(c, job->reason, sizeof(job->reason)) < 0)
			return;
		if (strncmp(c->line, "VERSION\t", 8) == 0) {
			if (strncmp(c->line + 8, "1\t", 2) != 0) {
				str_fmt(job->reason, sizeof(job->reason), "auth server speaks protocol version %.20s",
					c->line + 8);
				return;
			}
			version = true;
		} else if (strncmp(c->line, "MECH\tPLAIN", 10) == 0 && (c->line[10] == '\t' || !c->line[10])) {
			plain = true;
		} else if (strcmp(c->line, "DONE") == 0) {
			break;
		}
	}
	if (!version || !plain) {
		str_copy(job->reason, version ? "auth server does not offer PLAIN" : "auth server sent no VERSION",
			 sizeof(job->reason));
		return;
	}
	/* RFC 4616: authzid NUL authcid NUL passwd, without the authzid */
	msg[0] = '\0';
	memcpy(msg + 1, job->user, ulen);
	msg[1 + ulen] = '\0';
	memcpy(msg + 2 + ulen, job->pass, plen);
	mlen = 2 + ulen + plen;
	EVP_EncodeBlock((unsigned char *) b64, (const unsigned char *) msg, (int) mlen);
	smtpd_sasl_wipe(msg, sizeof(msg));
	str_fmt(idtext, sizeof(idtext), "%lu", job->id);
	n = snprintf(req, sizeof(req), "AUTH\t%s\tPLAIN\tservice=smtp\tnologin\tlip=%s\trip=%s\tlport=%d\trport=%d%s"
		     "\tresp=%s\n", idtext, job->lip, job->rip, job->lport, job->rport,
		     job->secured ? "\tsecured" : "", b64);
	smtpd_sasl_wipe(b64, sizeof(b64));
	if (n < 0 || (size_t) n >= sizeof(req)) {
		smtpd_sasl_wipe(req, sizeof(req));
		str_copy(job->reason, "AUTH request too long", sizeof(job->reason));
		return;
	}
	len = (size_t) n;
	n = smtpd_dovecot_write(c->fd, req, len);
	smtpd_sasl_wipe(req, sizeof(req));
	if (n < 0) {
		str_fmt(job->reason, sizeof(job->reason), "writing to the auth server: %s", strerror(errno));
		return;
	}
	for (;;) {
		char *word, *rest, *id;
		const char *v;
		size_t vlen;

		if (smtpd_dovecot_line(c, job->reason, sizeof(job->reason)) < 0)
			return;
		rest = c->line;
		word = strsep(&rest, "\t");
		id = rest ? strsep(&rest, "\t") : NULL;
		if (id == NULL || strcmp(id, idtext) != 0)
			continue;		/* not ours (or not a reply at all) */
		if (strcmp(word, "OK") == 0) {
			job->verdict = 1;
			if ((v = smtpd_dovecot_field(rest, "user", &vlen)) != NULL && vlen > 0 &&
			    smtpd_sasl_name_ok((const unsigned char *) v, vlen))
				str_fmt(job->identity, sizeof(job->identity), "%.*s", (int) vlen, v);
			else
				str_copy(job->identity, job->user, sizeof(job->identity));
			return;
		}
		if (strcmp(word, "FAIL") == 0) {
			size_t tlen;

			v = smtpd_dovecot_field(rest, "reason", &vlen);
			if (smtpd_dovecot_field(rest, "temp", &tlen) != NULL) {
				str_fmt(job->reason, sizeof(job->reason), "auth server: temporary failure%s%.*s",
					v ? ": " : "", v ? (int) (vlen > 200 ? 200 : vlen) : 0, v ? v : "");
				return;
			}
			job->verdict = 0;
			str_fmt(job->reason, sizeof(job->reason), "%.*s", v ? (int) (vlen > 200 ? 200 : vlen) : 22,
				v ? v : "authentication failure");
			return;
		}
		str_fmt(job->reason, sizeof(job->reason), "unexpected %.20s reply from the auth server", word);
		return;
	}
}

/* smtpd_sasl_worker_dovecot - one connection, one AUTH */
static void smtpd_sasl_worker_dovecot(struct smtpd_sasl_job *job)
{
	struct smtpd_dovecot_conn *c = xcalloc(1, sizeof(*c));
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {SMTPD_SASL_DOVECOT_TIMEOUT, 0};

	job->verdict = -1;
	memcpy(sun.sun_path, job->path, sizeof(sun.sun_path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		str_fmt(job->reason, sizeof(job->reason), "socket: %s", strerror(errno));
	} else if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
		   setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
		str_fmt(job->reason, sizeof(job->reason), "setsockopt: %s", strerror(errno));
	} else if (connect(c->fd, (struct sockaddr *) &sun, sizeof(sun)) != 0) {
		str_fmt(job->reason, sizeof(job->reason), "cannot connect to the auth server %s: %s", job->path,
			strerror(errno));
	} else {
		smtpd_dovecot_talk(job, c);
	}
	if (c->fd >= 0)
		close(c->fd);
	smtpd_sasl_wipe(c, sizeof(*c));
	free(c);
}

/* smtpd_sasl_worker - a worker thread: take a job, do it, hand it back */
static void *smtpd_sasl_worker(void *arg)
{
	struct smtpd_sasl_pool *pool = arg;
	struct crypt_data *cd = xmalloc(sizeof(*cd));

	for (;;) {
		struct smtpd_sasl_job *job;
		ssize_t w;

		pthread_mutex_lock(&pool->lock);
		while (pool->todo == NULL)
			pthread_cond_wait(&pool->work, &pool->lock);
		job = pool->todo;
		pool->todo = job->next;
		if (pool->todo == NULL)
			pool->todo_tail = NULL;
		pthread_mutex_unlock(&pool->lock);

		job->next = NULL;
		job->verdict = -1;
		if (job->backend == SASL_BACKEND_TERN)
			smtpd_sasl_worker_tern(job, cd);
		else
			smtpd_sasl_worker_dovecot(job);
		smtpd_sasl_wipe(job->pass, sizeof(job->pass));

		pthread_mutex_lock(&pool->lock);
		if (pool->done_tail)
			pool->done_tail->next = job;
		else
			pool->done = job;
		pool->done_tail = job;
		pthread_mutex_unlock(&pool->lock);
		/* a full pipe already holds a wake-up: the loop drains the whole list */
		do
			w = write(pool->pipe[1], "j", 1);
		while (w < 0 && errno == EINTR);
	}
	return NULL;
}

/* smtpd_sasl_verdict - the event loop gets a job back */
static void smtpd_sasl_verdict(struct smtpd_sasl_job *job)
{
	struct smtpd_session *s = job->s;

	if (s == NULL || s->sasl == NULL || s->sasl->job != job) {
		smtpd_sasl_job_free(job);
		return;
	}
	s->sasl->job = NULL;
	if (job->verdict > 0) {
		/* the screen service may still say the account is frozen */
		str_copy(s->sasl->identity, job->identity, sizeof(s->sasl->identity));
		if (!smtpd_screen_auth_check(s, s->sasl->identity))
			smtpd_sasl_success(s, s->sasl->identity);
	}
	else if (job->verdict == 0)
		smtpd_sasl_fail(s, s->sasl->account, job->reason);
	else
		smtpd_sasl_temp(s, job->reason);
	smtpd_sasl_job_free(job);
}

/* smtpd_sasl_checked - AUTH_CHECK answered: 235, or the frozen account's 535 */
void smtpd_sasl_checked(struct smtpd_session *s, bool frozen, const char *text)
{
	struct smtpd_sasl *x = s->sasl;

	if (x == NULL || x->step != SASL_VERIFY)
		msg_panic("smtpd_sasl_checked: no AUTH waits for its check");
	if (!frozen) {
		smtpd_sasl_success(s, x->identity);
		return;
	}
	msg_warn("%s: SASL %s login of %s refused: account frozen%s%s", s->peer, x->mech, x->identity,
		 text[0] ? ": " : "", text);
	x->frozen = true;
	smtpd_sasl_fail(s, x->account, "account frozen");
}

/* smtpd_sasl_pipe_cb - workers finished jobs */
static void smtpd_sasl_pipe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_sasl_pool *pool = arg;
	struct smtpd_sasl_job *list, *next;
	char junk[64];

	(void) what;
	while (read(fd, junk, sizeof(junk)) > 0)
		;
	pthread_mutex_lock(&pool->lock);
	list = pool->done;
	pool->done = pool->done_tail = NULL;
	pthread_mutex_unlock(&pool->lock);
	for (; list != NULL; list = next) {
		next = list->next;
		smtpd_sasl_verdict(list);
	}
}

/* smtpd_sasl_pool_start - the pipe, its event and the threads (first AUTH) */
static void smtpd_sasl_pool_start(struct smtpd_server *srv)
{
	struct smtpd_sasl_pool *pool = &smtpd_sasl_pool;
	pthread_attr_t attr;

	if (pool->started)
		return;
	if (pipe2(pool->pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		msg_fatal("smtpd_sasl: pipe: %s", strerror(errno));
	pool->ev = event_new(srv->base, pool->pipe[0], EV_READ | EV_PERSIST, smtpd_sasl_pipe_cb, pool);
	if (pool->ev == NULL || event_add(pool->ev, NULL) != 0)
		msg_fatal("smtpd_sasl: cannot watch the worker pipe");
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < SMTPD_SASL_THREADS; i++) {
		pthread_t t;
		int err = pthread_create(&t, &attr, smtpd_sasl_worker, pool);

		if (err != 0)
			msg_fatal("smtpd_sasl: pthread_create: %s", strerror(err));
	}
	pthread_attr_destroy(&attr);
	pool->started = true;
}

/* smtpd_sasl_submit - hand a job to the workers; the session waits */
static void smtpd_sasl_submit(struct smtpd_session *s, struct smtpd_sasl_job *job)
{
	struct smtpd_sasl_pool *pool = &smtpd_sasl_pool;

	smtpd_sasl_pool_start(s->srv);
	job->s = s;
	s->sasl->job = job;
	s->sasl->step = SASL_VERIFY;
	smtpd_sasl_wait(s);
	pthread_mutex_lock(&pool->lock);
	if (pool->todo_tail)
		pool->todo_tail->next = job;
	else
		pool->todo = job;
	pool->todo_tail = job;
	pthread_cond_signal(&pool->work);
	pthread_mutex_unlock(&pool->lock);
}

/* smtpd_sasl_hash - the crypt(3) hash of an account: 1 found, 0 no usable hash, -1 trouble */
static int smtpd_sasl_hash(struct smtpd_session *s, const char *user, char *hash, size_t size,
			   char *why, size_t whylen)
{
	char err[TABLE_ERR_SIZE];
	const char *value, *last = NULL;
	int rc;

	if (s->srv->sasl_maps == NULL) {
		str_copy(why, "no account tables (smtpd_sasl_user_maps)", whylen);
		return 0;
	}
	rc = tables_lookup(s->srv->sasl_maps, user, &value, NULL, err, sizeof(err));
	if (rc < 0) {
		str_fmt(why, whylen, "smtpd_sasl_user_maps lookup: %s", err);
		return -1;
	}
	if (rc == 0) {
		str_copy(why, "no such account", whylen);
		return 0;
	}
	/* "maildir hash": the last word; a value of one word has no password */
	for (const char *p = value; *p; ) {
		size_t n;

		p += strspn(p, " \t");
		n = strcspn(p, " \t");
		if (n > 0 && p != value)
			last = p;
		p += n;
	}
	if (last == NULL || last[0] != '$' || strcspn(last, " \t") >= size) {
		str_copy(why, "account has no password", whylen);
		return 0;
	}
	str_fmt(hash, size, "%.*s", (int) strcspn(last, " \t"), last);
	return 1;
}

/* smtpd_sasl_check - credentials are complete: start the verification */
static void smtpd_sasl_check(struct smtpd_session *s, const char *user, size_t ulen, const char *pass,
			     size_t plen)
{
	struct smtpd_sasl_job *job;
	char why[TABLE_ERR_SIZE + 64];
	int rc;

	smtpd_sasl_printable(s->sasl->account, sizeof(s->sasl->account), (const unsigned char *) user, ulen);
	if (!smtpd_sasl_name_ok((const unsigned char *) user, ulen) || plen > SMTPD_SASL_PASS_MAX ||
	    memchr(pass, '\0', plen) != NULL) {
		smtpd_sasl_fail(s, s->sasl->account, "malformed user name or password");
		return;
	}
	job = xcalloc(1, sizeof(*job));
	job->backend = smtpd_sasl_backend;
	memcpy(job->user, user, ulen);
	memcpy(job->pass, pass, plen);
	if (job->backend == SASL_BACKEND_TERN) {
		str_lower(job->user);	/* accounts are addresses, stored folded */
		rc = smtpd_sasl_hash(s, job->user, job->hash, sizeof(job->hash), why, sizeof(why));
		if (rc <= 0) {
			smtpd_sasl_job_free(job);
			if (rc < 0)
				smtpd_sasl_temp(s, why);
			else
				smtpd_sasl_fail(s, s->sasl->account, why);
			return;
		}
	} else {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		str_copy(job->path, s->srv->p->smtpd_sasl_path, sizeof(job->path));
		str_copy(job->rip, s->addr, sizeof(job->rip));
		job->rport = s->port;
		if (getsockname(s->fd, (struct sockaddr *) &ss, &sl) == 0) {
			if (ss.ss_family == AF_INET) {
				inet_ntop(AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, job->lip, sizeof(job->lip));
				job->lport = ntohs(((struct sockaddr_in *) &ss)->sin_port);
			} else if (ss.ss_family == AF_INET6) {
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &ss)->sin6_addr, job->lip, sizeof(job->lip));
				job->lport = ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
			}
		}
		job->secured = s->tls;
		job->id = ++smtpd_sasl_pool.seq;
	}
	smtpd_sasl_submit(s, job);
}

/* smtpd_sasl_plain - the PLAIN message: [authzid] NUL authcid NUL passwd */
static void smtpd_sasl_plain(struct smtpd_session *s, const unsigned char *m, size_t n)
{
	const unsigned char *nul1 = memchr(m, '\0', n), *nul2;
	size_t zlen, ulen;

	if (nul1 == NULL || (nul2 = memchr(nul1 + 1, '\0', n - (size_t) (nul1 + 1 - m))) == NULL) {
		smtpd_sasl_fail(s, "", "malformed PLAIN message");
		return;
	}
	zlen = (size_t) (nul1 - m);
	ulen = (size_t) (nul2 - nul1 - 1);
	if (zlen > 0 && (zlen != ulen || memcmp(m, nul1 + 1, ulen) != 0)) {
		smtpd_sasl_printable(s->sasl->account, sizeof(s->sasl->account), nul1 + 1, ulen);
		smtpd_sasl_fail(s, s->sasl->account, "authorization identity differs from the login");
		return;
	}
	smtpd_sasl_check(s, (const char *) nul1 + 1, ulen, (const char *) nul2 + 1, n - (size_t) (nul2 + 1 - m));
}

/* smtpd_sasl_answer - one client answer (initial response or a line after 334) */
static void smtpd_sasl_answer(struct smtpd_session *s, const char *text, size_t len)
{
	struct smtpd_sasl *x = s->sasl;
	unsigned char buf[SMTPD_SASL_RESP_MAX];
	ssize_t n;

	if (len == 1 && text[0] == '*') {
		smtpd_sasl_abort(s, "5.7.0", "Authentication aborted", "cancelled by the client");
		return;
	}
	if (len == 1 && text[0] == '=')
		n = 0;
	else if ((n = smtpd_b64_decode(text, len, buf, sizeof(buf))) == -2) {
		smtpd_sasl_abort(s, "5.5.6", "Authentication exchange line is too long", "answer too long");
		return;
	} else if (n < 0 || len == 0) {
		smtpd_sasl_abort(s, "5.5.2", "Cannot decode response", "response not base64");
		return;
	}
	switch (x->step) {
	case SASL_PLAIN_RESP:
		smtpd_sasl_plain(s, buf, (size_t) n);
		break;
	case SASL_LOGIN_USER:
		if ((size_t) n > SMTPD_SASL_NAME_MAX || !smtpd_sasl_name_ok(buf, (size_t) n)) {
			smtpd_sasl_printable(x->account, sizeof(x->account), buf, (size_t) n);
			smtpd_sasl_fail(s, x->account, "malformed user name");
			break;
		}
		memcpy(x->user, buf, (size_t) n);
		x->user[n] = '\0';
		smtpd_sasl_printable(x->account, sizeof(x->account), buf, (size_t) n);
		x->step = SASL_LOGIN_PASS;
		smtpd_write(s, "334 UGFzc3dvcmQ6\r\n", 18);
		break;
	case SASL_LOGIN_PASS:
		smtpd_sasl_check(s, x->user, strlen(x->user), (const char *) buf, (size_t) n);
		break;
	default:
		msg_panic("smtpd_sasl_answer: step %d", (int) x->step);
	}
	smtpd_sasl_wipe(buf, sizeof(buf));
}

/* smtpd_sasl_line - a line while the exchange waits for the client */
void smtpd_sasl_line(struct smtpd_session *s, const char *line, size_t len)
{
	smtpd_sasl_answer(s, line, len);
}

/* smtpd_sasl_probe - AUTH on the MTA port */
static void smtpd_sasl_probe(struct smtpd_session *s)
{
	if (!s->srv->p->smtpd_auth_probe_ban) {
		smtpd_reply(s, 500, "5.5.1", "Error: command not recognized");
		return;
	}
	smtpd_sasl_hook_probe(s);
	smtpd_reply_noerr(s, 421, "4.7.0", "%s Error: AUTH is not available on this port", s->srv->g->myhostname);
	smtpd_session_finish(s);
}

/* smtpd_sasl_auth - the AUTH command */
void smtpd_sasl_auth(struct smtpd_session *s, const char *arg, size_t len)
{
	const struct params_smtpd *p = s->srv->p;
	size_t mlen = 0, a;
	struct smtpd_sasl *x;

	if (!p->smtpd_auth_on_mta_port) {
		smtpd_sasl_probe(s);
		return;
	}
	if (!smtpd_sasl_enabled(s->srv)) {
		smtpd_reply(s, 503, "5.5.1", "Error: authentication not enabled");
		return;
	}
	if (!s->esmtp) {
		smtpd_reply(s, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	if (s->sasl_user[0]) {
		smtpd_reply(s, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	if (s->state & (SMTPD_ST_MAIL | SMTPD_ST_RCPT | SMTPD_ST_BDAT)) {
		smtpd_reply(s, 503, "5.5.1", "Error: MAIL transaction in progress");
		return;
	}
	if (p->smtpd_tls_auth_only && !s->tls) {
		smtpd_reply(s, 538, "5.7.11", "Encryption required for requested authentication mechanism");
		return;
	}
	while (mlen < len && arg[mlen] != ' ')
		mlen++;
	for (a = mlen; a < len && arg[a] == ' '; a++)
		;
	if (mlen == 0) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: AUTH mechanism");
		return;
	}
	x = xcalloc(1, sizeof(*x));
	if (mlen == 5 && strncasecmp(arg, "PLAIN", 5) == 0) {
		x->mech = "PLAIN";
		x->step = SASL_PLAIN_RESP;
	} else if (mlen == 5 && strncasecmp(arg, "LOGIN", 5) == 0) {
		x->mech = "LOGIN";
		x->step = SASL_LOGIN_USER;
	} else {
		free(x);
		smtpd_reply(s, 504, "5.5.4", "Unsupported authentication mechanism");
		return;
	}
	s->sasl = x;
	if (a < len) {
		smtpd_sasl_answer(s, arg + a, len - a);
		return;
	}
	if (x->step == SASL_PLAIN_RESP)
		smtpd_write(s, "334 \r\n", 6);
	else
		smtpd_write(s, "334 VXNlcm5hbWU6\r\n", 18);
}

/* smtpd_sasl_mechanisms - the AUTH line of EHLO */
const char *smtpd_sasl_mechanisms(void)
{
	return "PLAIN LOGIN";
}

/*
 * smtpd_sasl_sender_ok - smtpd_sender_login_maps: may the logged-in
 * user send as sender? 1 yes, 0 no, -1 lookup trouble
 */
int smtpd_sasl_sender_ok(struct smtpd_session *s, const char *sender)
{
	char err[TABLE_ERR_SIZE];
	char key[SMTP_ADDR_TEXT_MAX + 2];
	const char *value, *at;
	char *copy, *cp, *w;
	int rc, found = 0;

	if (s->srv->login_maps == NULL || s->sasl_user[0] == '\0' || sender[0] == '\0')
		return 1;
	rc = tables_lookup(s->srv->login_maps, sender, &value, NULL, err, sizeof(err));
	if (rc == 0 && (at = strrchr(sender, '@')) != NULL && str_fmt(key, sizeof(key), "%s", at) == 0)
		rc = tables_lookup(s->srv->login_maps, key, &value, NULL, err, sizeof(err));
	if (rc < 0) {
		msg_warn("smtpd_sender_login_maps lookup of %s: %s", sender, err);
		return -1;
	}
	if (rc == 0)
		return 0;
	copy = xstrdup(value);
	cp = copy;
	while (!found && (w = str_token(&cp, ", \t")) != NULL)
		found = str_eq_nocase(w, s->sasl_user);
	free(copy);
	return found;
}
