/*
 * smtpd_access - client screening at connect (issue 6, "Screening" 1
 * and 2): the client's country from the GeoIP database, the
 * smtpd_client_access tables (host screening, on every port), and
 * smtpd_country_reject (country screening).
 *
 * At connect (smtpd_access_connect, after the name lookup):
 *   1. the country code of the address (geoip_database; "--" for an
 *      address the database does not know, private or loopback ones
 *      included); it goes to the connect log line and, for the
 *      X-Origin-Country header, to cleanup (CLEANUP_CLIENT_COUNTRY);
 *   2. smtpd_client_access: the keys, in order, are the client's name
 *      (when known), its parent domains ("example.test" for
 *      "mx.example.test"), its address and, for IPv4, the address's
 *      first three, two and one octets ("192.0.2", "192.0", "192") -
 *      so cidr: and pcre: tables see the address (and pcre: the name),
 *      and hash: tables can list names, domains, addresses and
 *      networks as Postfix's access(5) does. The first key found
 *      decides: OK (or PERMIT) lets the client pass every later client
 *      check (country and the screen service's ban list); DUNNO stops
 *      the search with no verdict; REJECT [text], "4NN text", "5NN text"
 *      or any other text refuses the client (554 5.7.1, or the code
 *      given, with 4.7.1/5.7.1);
 *   3. smtpd_country_reject: a client from a listed country is refused
 *      with 554 5.7.1, unless it is in mynetworks or an access table
 *      said OK. Where AUTH is offered (smtpd_auth_on_mta_port = yes and
 *      a SASL back-end: the submission ports), the refusal waits for
 *      MAIL, so that a user travelling in such a country can still
 *      authenticate; an authenticated client is exempt, and one that did
 *      not authenticate gets 554 5.7.1 at MAIL (smtpd_access_mail).
 * A refusal at connect is kept in the session's connect_reject and sent
 * in place of the greeting; the session then closes. It is logged as
 * "NOQUEUE: reject: CONNECT from name[addr]: 554 5.7.1 ...".
 *
 * The database is mapped in pre_jail (before the chroot); a process
 * keeps the database it started with, so a new file takes effect in
 * smtpd processes started after it is in place (they end after max_use
 * sessions or max_idle, and at a reload that changes smtpd's
 * parameters).
 *
 * Failures: a broken smtpd_client_access table or a bad country code is
 * fatal at start-up; so is a database that cannot be opened while
 * smtpd_country_reject is set. Without smtpd_country_reject a missing
 * database (the default path on a host without one) silently turns
 * country logging off, another open error is a warning. A table lookup
 * that fails now gets 421 4.3.0 and a warning.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/msg.h"
#include "base/str.h"
#include "mail/geoip.h"
#include "mail/table.h"
#include "smtpd.h"

/* smtpd_access_country_code_ok - "JP" or "--" */
static bool smtpd_access_country_code_ok(const char *cc)
{
	if (strcmp(cc, GEOIP_UNKNOWN) == 0)
		return true;
	return strlen(cc) == 2 && isalpha((unsigned char) cc[0]) && isalpha((unsigned char) cc[1]);
}

/* smtpd_access_init - pre_jail: the database, the tables, the country list */
void smtpd_access_init(struct smtpd_server *srv)
{
	const char *path = srv->g->geoip_database;
	char *const *countries = srv->p->smtpd_country_reject;
	char err[TABLE_ERR_SIZE];

	for (size_t i = 0; countries[i] != NULL; i++)
		if (!smtpd_access_country_code_ok(countries[i]))
			msg_fatal("smtpd_country_reject: '%.20s' is not a country code (two letters, or -- for unknown)",
				  countries[i]);
	if (path[0] != '\0') {
		srv->geoip = geoip_open(path, err, sizeof(err));
		if (srv->geoip == NULL && countries[0] != NULL)
			msg_fatal("smtpd_country_reject is set, but geoip_database cannot be used: %s", err);
		if (srv->geoip == NULL && errno != ENOENT)
			msg_warn("geoip_database: %s; client countries are not known", err);
	} else if (countries[0] != NULL) {
		msg_fatal("smtpd_country_reject is set, but geoip_database is empty");
	}
	if (srv->p->smtpd_client_access[0] != NULL) {
		srv->client_access = tables_open_vector((const char *const *) srv->p->smtpd_client_access, 0, err,
							sizeof(err));
		if (srv->client_access == NULL)
			msg_fatal("smtpd_client_access: %s", err);
	}
	srv->country_at_mail = smtpd_sasl_available(srv);
}

/* smtpd_access_refuse - keep the refusal for the greeting and log it */
static void smtpd_access_refuse(struct smtpd_session *s, int code, const char *enh, const char *text)
{
	smtpd_reply_set(&s->connect_reject, code, enh, "%s", text);
	smtpd_log_reject(s, NULL, "CONNECT", code, enh, s->connect_reject.text, "");
}

/*
 * smtpd_access_action - what one access table value says: 1 OK, 0 DUNNO,
 * -1 refused (the refusal is kept)
 */
static int smtpd_access_action(struct smtpd_session *s, const char *value)
{
	char text[SMTPD_TEXT_MAX];
	size_t vlen;

	value += strspn(value, " \t");
	vlen = strcspn(value, " \t");
	if ((vlen == 2 && strncasecmp(value, "OK", 2) == 0) || (vlen == 6 && strncasecmp(value, "PERMIT", 6) == 0))
		return 1;
	if (vlen == 5 && strncasecmp(value, "DUNNO", 5) == 0)
		return 0;
	if (vlen == 6 && strncasecmp(value, "REJECT", 6) == 0) {
		const char *rest = value + vlen + strspn(value + vlen, " \t");

		str_fmt(text, sizeof(text), "<%s>: Client host rejected: %s", s->peer, rest[0] ? rest : "Access denied");
		smtpd_access_refuse(s, 554, "5.7.1", text);
		return -1;
	}
	if (vlen == 3 && (value[0] == '4' || value[0] == '5') && isdigit((unsigned char) value[1]) &&
	    isdigit((unsigned char) value[2])) {
		const char *rest = value + vlen + strspn(value + vlen, " \t");

		str_fmt(text, sizeof(text), "<%s>: Client host rejected: %s", s->peer, rest[0] ? rest : "Access denied");
		smtpd_access_refuse(s, atoi(value), value[0] == '4' ? "4.7.1" : "5.7.1", text);
		return -1;
	}
	str_fmt(text, sizeof(text), "<%s>: Client host rejected: %s", s->peer, value[0] ? value : "Access denied");
	smtpd_access_refuse(s, 554, "5.7.1", text);
	return -1;
}

/* smtpd_access_lookup - one key: 1 decided (*verdict set), 0 not found */
static int smtpd_access_lookup(struct smtpd_session *s, const char *key, int *verdict)
{
	char err[TABLE_ERR_SIZE];
	const char *value;
	int rc = tables_lookup(s->srv->client_access, key, &value, NULL, err, sizeof(err));

	if (rc == 0)
		return 0;
	if (rc < 0) {
		msg_warn("%s: smtpd_client_access lookup of %s: %s", s->peer, key, err);
		smtpd_access_refuse(s, 421, "4.3.0", "Error: temporary lookup failure; try again later");
		*verdict = -1;
		return 1;
	}
	*verdict = smtpd_access_action(s, value);
	return 1;
}

/* smtpd_access_tables - smtpd_client_access over every key: 1 OK, 0 no verdict, -1 refused */
static int smtpd_access_tables(struct smtpd_session *s)
{
	char key[INET6_ADDRSTRLEN];
	int verdict = 0;

	if (strcmp(s->name, "unknown") != 0) {
		/* the name, then its parent domains, not a top-level domain alone */
		for (const char *d = s->name;;) {
			const char *dot = strchr(d, '.');

			if (smtpd_access_lookup(s, d, &verdict))
				return verdict;
			if (dot == NULL || strchr(dot + 1, '.') == NULL)
				break;
			d = dot + 1;
		}
	}
	if (smtpd_access_lookup(s, s->addr, &verdict))
		return verdict;
	if (strchr(s->addr, ':') != NULL)
		return 0;
	str_copy(key, s->addr, sizeof(key));
	for (char *dot = strrchr(key, '.'); dot != NULL; dot = strrchr(key, '.')) {
		*dot = '\0';
		if (smtpd_access_lookup(s, key, &verdict))
			return verdict;
	}
	return 0;
}

/* smtpd_access_country_listed - is the session's country in smtpd_country_reject */
static bool smtpd_access_country_listed(const struct smtpd_session *s)
{
	char *const *countries = s->srv->p->smtpd_country_reject;

	for (size_t i = 0; s->country[0] && countries[i] != NULL; i++)
		if (strcasecmp(countries[i], s->country) == 0)
			return true;
	return false;
}

/* smtpd_access_connect - the client checks at connect (s->country is already set) */
void smtpd_access_connect(struct smtpd_session *s)
{
	struct smtpd_server *srv = s->srv;
	char text[SMTPD_TEXT_MAX];
	int rc;

	if (srv->client_access != NULL) {
		rc = smtpd_access_tables(s);
		if (rc < 0)
			return;
		s->client_ok = rc > 0;
	}
	if (s->client_ok || s->relay_ok == 1 || !smtpd_access_country_listed(s))
		return;
	if (srv->country_at_mail) {
		s->country_refused = true;	/* AUTH may still exempt it: see smtpd_access_mail */
		return;
	}
	str_fmt(text, sizeof(text), "<%s>: Client host rejected: connections from country %s are not accepted",
		s->peer, s->country);
	smtpd_access_refuse(s, 554, "5.7.1", text);
}

/* smtpd_access_mail - MAIL from a refused country without AUTH: 554 5.7.1 */
int smtpd_access_mail(struct smtpd_session *s)
{
	struct smtpd_reply r;

	if (!s->country_refused || s->sasl_user[0] != '\0')
		return 0;
	smtpd_reply_set(&r, 554, "5.7.1", "<%s>: Client host rejected: mail from country %s is accepted only after AUTH",
			s->peer, s->country);
	smtpd_log_reject(s, NULL, "MAIL", r.code, r.enh, r.text, "");
	smtpd_reply_kept(s, &r);
	return -1;
}
