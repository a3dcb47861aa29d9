/*
 * smtp_deliver - one DELIVER request of the smtp agent: what the message
 * needs (8-bit, SMTPUTF8, REQUIRETLS, "TLS-Required: No", its size on the
 * wire), the return-path override, a cached session for the same next
 * hop, routing, and the hosts tried in order until every recipient has a
 * final result or the limits (smtp_mx_address_limit addresses,
 * smtp_mx_session_limit greeted sessions) are reached.
 *
 * Per host: the TLS plan (smtp_tls_host_new) may say the host is
 * unusable (skipped, reason kept); a connection failure or timeout tries
 * the next address, a 4xx or 5xx greeting or a TLS failure the next
 * host. Recipients deferred by one host (4xx to RCPT, lost connection)
 * are tried at the next. What is left at the end is deferred with the
 * last reason, or bounced when the reason is permanent: every host
 * unusable for a REQUIRETLS message (5.7.10), a host without REQUIRETLS
 * (5.7.30), every greeting a 5xx.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/table.h"
#include "smtp.h"

#define SMTP_HEADER_SCAN_MAX	(1024 * 1024)

/* smtp_8bit - true when p[0..n) has an octet over 127 (a word at a time) */
static bool smtp_8bit(const char *p, size_t n)
{
	uint64_t acc = 0;
	size_t k = 0;

	for (; k + 8 <= n; k += 8) {
		uint64_t w;

		memcpy(&w, p + k, sizeof(w));
		acc |= w;
	}
	for (; k < n; k++)
		acc |= (unsigned char) p[k];
	return (acc & 0x8080808080808080ULL) != 0;
}

/* smtp_msg_scan - 8-bit content and "TLS-Required: No" in the header; 0 or -1 (why) */
static int smtp_msg_scan(struct smtp_msg *m, char *why, size_t whylen)
{
	struct qfile *qf = m->job->ro;
	struct qfile_error qerr;
	uint64_t hend = 0, pos = 0;
	struct buf hdr;
	char *io = xmalloc(65536);
	ssize_t n;
	int ret = 0;

	buf_init(&hdr, 0);
	if (qfile_header_end(qf, &hend, &qerr) != 0 || qfile_content_seek(qf, 0, &qerr) != 0) {
		str_fmt(why, whylen, "queue file %s: %s", m->job->queue_file, qerr.text);
		free(io);
		buf_free(&hdr);
		return -1;
	}
	while ((n = qfile_content_read(qf, io, 65536, &qerr)) > 0) {
		if (!m->eight_bit && smtp_8bit(io, (size_t) n))
			m->eight_bit = true;
		if (pos < hend && hdr.len < SMTP_HEADER_SCAN_MAX) {
			uint64_t take = hend - pos < (uint64_t) n ? hend - pos : (uint64_t) n;

			buf_append(&hdr, io, (size_t) take);
		}
		pos += (uint64_t) n;
	}
	if (n < 0) {
		str_fmt(why, whylen, "queue file %s: %s", m->job->queue_file, qerr.text);
		ret = -1;
	}
	for (const char *line = buf_str(&hdr); line && *line; ) {
		const char *nl = strchr(line, '\n');

		if (str_has_prefix_nocase(line, "TLS-Required:")) {
			char val[64];
			size_t len = nl ? (size_t) (nl - line) : strlen(line);

			str_fmt(val, sizeof(val), "%.*s", (int) (len - 13 < 63 ? len - 13 : 63), line + 13);
			if (str_eq_nocase(str_trim(val), "No"))
				m->tls_req_no = true;
		}
		line = nl ? nl + 1 : NULL;
	}
	m->wire_size = qf->content_len + qf->lf_count;
	if (qf->content_len > 0 && qf->lf_count == 0)
		m->wire_size += 2;
	free(io);
	buf_free(&hdr);
	return ret;
}

/* smtp_all_left - set every recipient that is not final */
static void smtp_all_left(struct smtp_msg *m, const struct deliver_out *o, const char *relay)
{
	for (size_t i = 0; i < m->job->nrcpts; i++)
		if (!m->final[i]) {
			m->out[i] = *o;
			if (relay && !m->relay[i][0])
				str_copy(m->relay[i], relay, sizeof(m->relay[0]));
		}
}

/* smtp_left - recipients without a final result */
static size_t smtp_left(const struct smtp_msg *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->job->nrcpts; i++)
		n += !m->final[i];
	return n;
}

/* smtp_run - one transaction on s; keeps or closes s; false when the host refused the message */
static bool smtp_run(struct smtp_agent *a, struct smtp_session *s, struct smtp_msg *m, bool *keep)
{
	enum smtp_trans_status st = smtp_trans(a, s, m);

	*keep = st != SMTP_TRANS_BROKEN && st != SMTP_TRANS_STALE;
	return st != SMTP_TRANS_HOST_REFUSED;
}

/* smtp_rcpt_limited - a recipient left waits because the server said 452 to its RCPT */
static bool smtp_rcpt_limited(const struct smtp_msg *m)
{
	for (size_t i = 0; i < m->job->nrcpts; i++)
		if (!m->final[i] && m->out[i].state == DELIVER_DEFER &&
		    (strcmp(m->out[i].dsn, "4.5.3") == 0 || strstr(m->out[i].text, " said: 452 ") != NULL))
			return true;
	return false;
}

/*
 * smtp_run_all - transactions on s until every recipient has a result: a
 * server that answers 452 to RCPT (too many recipients) gets the rest in
 * another transaction at once (RFC 5321 section 4.5.3.1.10), as long as
 * each transaction delivers something
 */
static bool smtp_run_all(struct smtp_agent *a, struct smtp_session *s, struct smtp_msg *m, bool *keep)
{
	for (;;) {
		size_t before = smtp_left(m);

		if (!smtp_run(a, s, m, keep))
			return false;
		if (!*keep || smtp_left(m) == 0 || smtp_left(m) >= before || !smtp_rcpt_limited(m))
			return true;
		msg_debug("%s: %zu recipients left after a 452: another transaction", m->job->qid, smtp_left(m));
	}
}

/* smtp_try_hosts - the hosts of rt in order; the reasons of failures in last */
static void smtp_try_hosts(struct smtp_agent *a, struct smtp_msg *m, struct smtp_route *rt,
			   const char *key, struct smtp_session **kept, struct deliver_out *last,
			   char *last_relay, bool *permanent)
{
	struct deliver_job *job = m->job;
	unsigned flags = (m->requiretls ? SMTP_TLS_MSG_REQUIRETLS : 0) | (m->tls_req_no ? SMTP_TLS_MSG_TLS_REQ_NO : 0);
	struct smtp_tls_dest *dest = NULL;
	long long addrs = 0, sessions = 0;
	bool any_usable = false, all_5xx = true, refreshed = false;

	*permanent = false;
	if (!rt->unix_path[0] && a->tls != NULL)
		dest = smtp_tls_dest_new(a->tls, rt->domain, rt->literal, flags);
again:
	for (size_t hi = 0; hi < (rt->unix_path[0] ? 1 : rt->nhost) && smtp_left(m) > 0; hi++) {
		struct smtp_host *h = rt->unix_path[0] ? NULL : &rt->host[hi];
		struct smtp_tls_host *th = NULL;
		struct smtp_open_ctx c;

		if (h != NULL && h->naddr == 0) {
			deliver_set(last, DELIVER_DEFER, "4.4.3", "%s", h->why);
			continue;
		}
		if (h != NULL && dest != NULL) {
			const struct smtp_tls_plan *plan;

			th = smtp_tls_host_new(dest, h->name, h->secure, h->port);
			plan = smtp_tls_host_plan(th);
			if (plan->unusable) {
				msg_info("%s: skipping %s: %s", job->qid, h->name, plan->why);
				if (plan->permanent)
					deliver_set(last, DELIVER_BOUNCE, "5.7.10", "%s", plan->why);
				else
					deliver_set(last, DELIVER_DEFER, "4.7.5", "%s", plan->why);
				str_copy(last_relay, h->name, SMTP_RELAY_MAX);
				all_5xx = false;
				*permanent = plan->permanent && !any_usable;
				smtp_tls_host_free(th);
				continue;
			}
		} else if (h != NULL && a->tls == NULL && m->requiretls) {
			deliver_set(last, DELIVER_DEFER, "4.7.5", "TLS is not available: %s", a->tls_err);
			continue;
		}
		any_usable = true;
		*permanent = false;
		memset(&c, 0, sizeof(c));
		c.a = a;
		c.tlsh = th;
		c.nexthop = job->nexthop;
		c.domain = rt->domain;
		c.key = key;
		for (size_t ai = 0; ai < (h ? h->naddr : 1) && smtp_left(m) > 0; ai++) {
			struct smtp_session *s = NULL;
			enum smtp_open_status os;
			bool keep;

			if (h != NULL && addrs >= a->p->smtp_mx_address_limit)
				break;
			addrs++;
			os = smtp_session_open(&c, h, ai, rt->unix_path, &s);
			if (c.greeted)
				sessions++;
			if (os != SMTP_OPEN_OK) {
				msg_info("%s: %s", job->qid, c.why);
				deliver_set(last, c.dsn[0] == '5' ? DELIVER_BOUNCE : DELIVER_DEFER, c.dsn, "%s", c.why);
				str_copy(last_relay, h ? h->name : rt->unix_path, SMTP_RELAY_MAX);
				if (c.dsn[0] != '5')
					all_5xx = false;
				if (os == SMTP_OPEN_NEXT_HOST || sessions >= a->p->smtp_mx_session_limit)
					break;
				continue;
			}
			all_5xx = false;
			if (!smtp_run_all(a, s, m, &keep)) {
				/* REQUIRETLS not offered: this host can never take it */
				deliver_set(last, DELIVER_BOUNCE, "5.7.30", "REQUIRETLS support required: host %s "
					    "does not offer REQUIRETLS", s->relay);
				str_copy(last_relay, s->relay, SMTP_RELAY_MAX);
				*permanent = true;
				smtp_session_close(a, s, true);
				break;
			}
			if (smtp_left(m) == 0 && keep) {
				smtp_session_close(a, *kept, true);
				*kept = s;
			} else {
				smtp_session_close(a, s, keep);
			}
			for (size_t i = 0; i < job->nrcpts; i++)
				if (!m->final[i] && m->out[i].state == DELIVER_DEFER && m->relay[i][0]) {
					*last = m->out[i];
					str_copy(last_relay, m->relay[i], SMTP_RELAY_MAX);
				}
			if (sessions >= a->p->smtp_mx_session_limit)
				break;
			break;	/* the next host gets what this one deferred */
		}
		smtp_tls_host_free(th);
		if (sessions >= a->p->smtp_mx_session_limit || (h != NULL && addrs >= a->p->smtp_mx_address_limit))
			break;
	}
	/* an enforce policy kept mail back: a newer policy may allow it (once per request) */
	if (dest != NULL && !refreshed && smtp_left(m) > 0 && smtp_tls_dest_sts_refresh(dest)) {
		refreshed = true;
		addrs = sessions = 0;
		any_usable = false;
		all_5xx = true;
		*permanent = false;
		goto again;
	}
	if (all_5xx && last->state == DELIVER_BOUNCE && !*permanent)
		*permanent = true;
	if (dest != NULL)
		smtp_tls_dest_free(dest);
}

/* smtp_deliver - see smtp.h */
void smtp_deliver(struct smtp_agent *a, struct deliver_job *job)
{
	struct smtp_msg m;
	struct smtp_route rt;
	struct deliver_out last;
	struct smtp_session *s, *kept = NULL;
	char key[SMTP_KEY_MAX], why[SMTP_TEXT_MAX], err[TABLE_ERR_SIZE], last_relay[SMTP_RELAY_MAX] = "";
	const char *rp;
	size_t n = job->nrcpts;
	bool permanent = false;

	memset(&m, 0, sizeof(m));
	memset(&rt, 0, sizeof(rt));
	memset(&last, 0, sizeof(last));
	m.job = job;
	m.sender = job->sender;
	m.out = xcalloc(n, sizeof(*m.out));
	m.final = xcalloc(n, sizeof(*m.final));
	m.relay = xcalloc(n, sizeof(*m.relay));
	m.note = xcalloc(n, sizeof(*m.note));
	m.smtputf8 = (job->ro->flags & QFILE_F_SMTPUTF8) != 0;
	m.requiretls = (job->ro->flags & QFILE_F_REQUIRETLS) != 0;
	deliver_set(&last, DELIVER_DEFER, "4.4.1", "no host was tried");
	str_fmt(key, sizeof(key), "%s:%s", a->lmtp ? "lmtp" : "smtp", job->nexthop);
	if (smtp_msg_scan(&m, why, sizeof(why)) != 0) {
		deliver_set(&last, DELIVER_DEFER, "4.3.0", "%s", why);
		smtp_all_left(&m, &last, "none");
		goto report;
	}
	if (smtp_route_resolve(a, job->nexthop, &rt, &last) != 0) {
		msg_info("%s: %s", job->qid, last.text);
		smtp_all_left(&m, &last, job->nexthop);
		if (last.state == DELIVER_BOUNCE)
			for (size_t i = 0; i < n; i++)
				m.final[i] = true;
		goto report;
	}
	switch (smtp_lookup_nexthop(a->retpath, job->nexthop, rt.domain, &rp, err, sizeof(err))) {
	case -1:
		deliver_set(&last, DELIVER_DEFER, "4.3.0", "smtp_return_path_maps: %s", err);
		smtp_all_left(&m, &last, "none");
		goto report;
	case 1:
		if (rp[0]) {
			m.sender = xstrdup(rp);
			msg_info("%s: return path <%s> for %s (smtp_return_path_maps)", job->qid, m.sender, job->nexthop);
		}
		break;
	default:
		break;
	}
	/* a session kept from the previous request to the same next hop */
	if (!m.requiretls && !m.tls_req_no && (s = smtp_cache_take(a, key)) != NULL) {
		if (s->ext & SMTP_EXT_PIPELINING) {
			/* RSET goes out with MAIL FROM: one round trip less per message */
			msg_debug("%s: reusing the session with %s", job->qid, s->relay);
			s->rset_pending = true;
			if (smtp_trans(a, s, &m) == SMTP_TRANS_STALE) {
				msg_debug("%s: the cached session with %s is gone: %s", job->qid, s->relay,
					  s->st.why[0] ? s->st.why : "RSET refused");
				smtp_session_close(a, s, false);
			} else if (!s->broken && smtp_left(&m) == 0) {
				kept = s;
			} else {
				smtp_session_close(a, s, !s->broken);
			}
		} else if (smtp_session_reset(a, s) == 0) {
			bool keep;

			msg_debug("%s: reusing the session with %s", job->qid, s->relay);
			(void) smtp_run(a, s, &m, &keep);
			if (keep && smtp_left(&m) == 0)
				kept = s;
			else
				smtp_session_close(a, s, keep);
		} else {
			smtp_session_close(a, s, false);
		}
	}
	if (smtp_left(&m) > 0)
		smtp_try_hosts(a, &m, &rt, key, &kept, &last, last_relay, &permanent);
	for (size_t i = 0; i < n; i++)
		if (!m.final[i]) {
			if (permanent && last.state == DELIVER_BOUNCE) {
				m.out[i] = last;
				m.final[i] = true;
			} else if (m.out[i].state == 0 || (m.out[i].state != DELIVER_DEFER) ||
				   m.out[i].text[0] == '\0') {
				m.out[i] = last;
				if (m.out[i].state != DELIVER_DEFER)
					deliver_set(&m.out[i], DELIVER_DEFER, last.dsn[0] == '5' ? "4.0.0" : last.dsn,
						    "%s", last.text);
			}
			if (!m.relay[i][0])
				str_copy(m.relay[i], last_relay[0] ? last_relay : "none", sizeof(m.relay[0]));
		}
report:
	{
		/* one fsync for every final result of the request (deliver_job_results) */
		const char **relays = xcalloc(n + 1, sizeof(*relays));
		const char **notes = xcalloc(n + 1, sizeof(*notes));

		for (size_t i = 0; i < n; i++) {
			if (!m.relay[i][0])
				str_copy(m.relay[i], "none", sizeof(m.relay[0]));
			if (m.out[i].state == 0)
				deliver_set(&m.out[i], DELIVER_DEFER, "4.3.0", "no result");
			relays[i] = m.relay[i];
			notes[i] = m.note[i][0] ? m.note[i] : NULL;
		}
		deliver_job_results(job, m.out, relays, notes);
		free(relays);
		free(notes);
	}
	if (kept != NULL)
		smtp_cache_put(a, kept);
	if (m.sender != job->sender)
		free((char *) m.sender);
	smtp_route_free(&rt);
	free(m.out);
	free(m.final);
	free(m.relay);
	free(m.note);
}
