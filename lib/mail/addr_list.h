/*
 * addr_list - the addresses in an RFC 5322 address list: the value of a
 * To:, Cc: or Bcc: header field, or a recipient argument of sendmail.
 *
 * What it understands (RFC 5322 sections 3.2-3.4, with the obsolete
 * forms mail programs still write): comments "(...)" (nested, with
 * quoted pairs) anywhere between tokens; quoted strings; display names
 * before "<addr-spec>"; source routes "<@a,@b:user@dom>" (dropped);
 * groups "name: a, b;" and empty ones ("undisclosed-recipients:;");
 * empty list elements ("a,,b"); folding white space (the caller unfolds
 * or not: CR and LF count as white space here). Bytes of 0x80 and up are
 * kept inside atoms and quoted strings (RFC 6532).
 *
 * What comes out is one addr-spec text per address, without comments or
 * white space: the local part as written (a quoted local part keeps its
 * quotes, re-escaped canonically), then "@domain" when there is one.
 * This module checks the list structure only; whether an addr-spec is a
 * valid mailbox is for smtp_addr_parse_mailbox, and qualifying a bare
 * local part ("root") is for the caller.
 *
 * Refused, with a reason: unbalanced quotes, comments, '<' or '>'; a
 * display name without "<...>" ("John Doe john@x" would otherwise run the
 * words together); "<>" or text after the '>' of an address; ':' or ';'
 * where no group can be; control characters other than white space; more
 * than ADDR_LIST_MAX addresses in one list, or an addr-spec longer than
 * ADDR_LIST_ADDR_MAX bytes. Nothing is ever cut. Memory is never the
 * failure (mem.h).
 */
#ifndef TERN_MAIL_ADDR_LIST_H
#define TERN_MAIL_ADDR_LIST_H

#include <stddef.h>

#define ADDR_LIST_MAX		10000	/* addresses in one list */
#define ADDR_LIST_ADDR_MAX	1024	/* bytes of one addr-spec text */

/* addr_list - addr-spec texts, in list order */
struct addr_list {
	char **addrs;
	size_t count;
	size_t cap;
};

/* addr_list_init - an empty list */
void addr_list_init(struct addr_list *l);
/* addr_list_free - release every address; the list is empty after */
void addr_list_free(struct addr_list *l);
/*
 * addr_list_parse - append the addresses of the list s[len] to l.
 * Returns 0, or -1 with a reason in err[errlen] (l then holds what came
 * before this call only).
 */
int addr_list_parse(struct addr_list *l, const char *s, size_t len, char *err, size_t errlen);

#endif
