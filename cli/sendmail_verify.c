/*
 * sendmail_verify - "sendmail -bv": say for each address whether tern
 * would deliver it, without sending anything.
 *
 * An address is taken as in the mail mode (a bare local part gets
 * "@myorigin"; with -t the recipients come from the message headers on
 * standard input). Then: bad syntax is undeliverable; a domain listed in
 * mydestination is delivered locally, so its local part must be a key
 * of alias_maps or a user of the password file (exact, then lower
 * case); any other domain is relayed to its mail exchangers, which only
 * a delivery attempt can check.
 *
 * One line per address on standard output:
 *	alice@host.example... deliverable: local user alice
 *	bob@example.org... deliverable: relayed to example.org
 *	nobody42@host.example... undeliverable: unknown user
 * Exit: 0 all deliverable; 67 (EX_NOUSER) an unknown user; 65
 * (EX_DATAERR) bad syntax; 75 (EX_TEMPFAIL) an alias table could not be
 * read, so a local address could not be checked.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/str.h"
#include "mail/addr_list.h"
#include "mail/smtp_addr.h"
#include "mail/table.h"
#include "sendmail.h"

/* sendmail_verify_local_domain - is domain one of mydestination's names? */
static bool sendmail_verify_local_domain(const struct sendmail *sm, const char *domain)
{
	for (char **d = sm->cfg.global.mydestination; *d != NULL; d++)
		if (strchr(*d, ':') == NULL && strchr(*d, '/') == NULL && str_eq_nocase(*d, domain))
			return true;
	return false;
}

/* sendmail_verify_user - a user of the password file, as given or in lower case */
static bool sendmail_verify_user(const char *local)
{
	char *lower;
	bool found;

	if (getpwnam(local) != NULL)
		return true;
	lower = str_lower(xstrdup(local));
	found = getpwnam(lower) != NULL;
	free(lower);
	return found;
}

/* sendmail_verify_one - check one address text; its exit code */
static int sendmail_verify_one(const struct sendmail *sm, struct tables **aliases, const char *text)
{
	char addr[SMTP_ADDR_TEXT_MAX + 1], err[TABLE_ERR_SIZE];
	struct smtp_addr a;
	const char *value;
	int rc;

	if (sendmail_canon(sm, text, addr, sizeof(addr), NULL, err, sizeof(err)) < 0) {
		printf("%s... undeliverable: %s\n", text, err);
		return EX_DATAERR;
	}
	smtp_addr_parse_mailbox(addr, strlen(addr), SMTP_ADDR_F_UTF8, &a);
	if (!sendmail_verify_local_domain(sm, a.domain)) {
		printf("%s... deliverable: relayed to %s\n", addr, a.domain);
		return EX_OK;
	}
	if (*aliases == NULL && sm->cfg.global.alias_maps[0] != NULL) {
		*aliases = tables_open_vector((const char *const *) sm->cfg.global.alias_maps, 0, err, sizeof(err));
		if (*aliases == NULL) {
			if (sendmail_verify_user(a.local)) {
				printf("%s... deliverable: local user %s\n", addr, a.local);
				return EX_OK;
			}
			printf("%s... cannot check: %s\n", addr, err);
			return EX_TEMPFAIL;
		}
	}
	rc = *aliases != NULL ? tables_lookup(*aliases, a.local, &value, NULL, err, sizeof(err)) : 0;
	if (rc > 0) {
		printf("%s... deliverable: alias of %s\n", addr, value);
		return EX_OK;
	}
	if (sendmail_verify_user(a.local)) {
		printf("%s... deliverable: local user %s\n", addr, a.local);
		return EX_OK;
	}
	if (rc < 0) {
		printf("%s... cannot check: %s\n", addr, err);
		return EX_TEMPFAIL;
	}
	printf("%s... undeliverable: unknown user\n", addr);
	return EX_NOUSER;
}

/* sendmail_verify_worse - keep the exit code that matters most */
static int sendmail_verify_worse(int a, int b)
{
	static const int order[] = {EX_OK, EX_NOUSER, EX_DATAERR, EX_TEMPFAIL};
	int ra = 0, rb = 0;

	for (int i = 0; i < 4; i++) {
		if (order[i] == a)
			ra = i;
		if (order[i] == b)
			rb = i;
	}
	return ra >= rb ? a : b;
}

/* sendmail_verify - the -bv mode */
int sendmail_verify(struct sendmail *sm)
{
	struct tables *aliases = NULL;
	char err[512];
	int rc = EX_OK;
	size_t n = 0;

	if (sm->cfg.global.queue_directory[0] != '\0') {
		char *sock = str_dupf("%s/private/proxymap", sm->cfg.global.queue_directory);

		table_proxy_set_socket(sock);
		free(sock);
	}
	for (int i = 0; i < sm->nrcpt_args; i++) {
		struct addr_list l;

		addr_list_init(&l);
		if (addr_list_parse(&l, sm->rcpt_args[i], strlen(sm->rcpt_args[i]), err, sizeof(err)) < 0) {
			printf("%s... undeliverable: %s\n", sm->rcpt_args[i], err);
			rc = sendmail_verify_worse(rc, EX_DATAERR);
			n++;
		}
		for (size_t j = 0; j < l.count; j++, n++)
			rc = sendmail_verify_worse(rc, sendmail_verify_one(sm, &aliases, l.addrs[j]));
		addr_list_free(&l);
	}
	if (sm->extract) {
		struct sendmail_env env;
		struct sendmail_msg m;
		int r;

		sendmail_env_init(&env);
		env.sender = xstrdup("");
		sendmail_msg_init(&m, (size_t) sm->size_limit);
		if ((r = sendmail_msg_read(&m, STDIN_FILENO, sm->ignore_dots, err, sizeof(err))) != EX_OK ||
		    (r = sendmail_msg_finish(sm, &m, &env, true, err, sizeof(err))) != EX_OK) {
			fprintf(stderr, "sendmail: error: %s\n", err);
			rc = sendmail_verify_worse(rc, r == EX_USAGE ? EX_DATAERR : r);
		}
		for (size_t j = 0; j < env.nrcpts; j++, n++)
			rc = sendmail_verify_worse(rc, sendmail_verify_one(sm, &aliases, env.rcpts[j].addr));
		sendmail_env_free(&env);
		sendmail_msg_free(&m);
	}
	if (aliases != NULL)
		tables_close(aliases);
	if (n == 0) {
		fprintf(stderr, "sendmail: error: -bv: no addresses to verify (give them, or use -t)\n");
		return EX_USAGE;
	}
	return rc;
}
