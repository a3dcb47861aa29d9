/*
 * test_smtp_addr - unit tests for lib/mail/smtp_addr: MAIL FROM / RCPT TO
 * path parsing (every valid shape, every invalid one with its reply),
 * length limits at the limit and one past it, control and 8-bit octets,
 * the external form, and the relay-trap classification.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtp_addr.h"
#include "tap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

enum { M = SMTP_ADDR_MAIL, R = SMTP_ADDR_RCPT };
#define U8	SMTP_ADDR_F_UTF8
#define STRICT	SMTP_ADDR_F_STRICT
#define UNQ	SMTP_ADDR_F_UNQUALIFIED

struct addr_case {
	int kind;
	unsigned flags;
	const char *in;		/* the argument after "MAIL " / "RCPT " */
	enum smtp_addr_status status;
	/* when accepted */
	const char *local;
	const char *domain;
	const char *marks;	/* N null Q quoted R routed D dot U utf8 P postmaster S unqualified B bare 4/6 literal */
	const char *params;
	const char *external;
	/* when refused */
	int code;
	const char *enh;
};

#define OK_(k, f, in, l, d, m, p, x) {k, f, in, SMTP_ADDR_OK, l, d, m, p, x, 0, NULL}
#define BAD(k, f, in, st, c, e) {k, f, in, st, NULL, NULL, NULL, NULL, NULL, c, e}

static const struct addr_case cases[] = {
	/* plain shapes */
	OK_(M, 0, "FROM:<user@example.test>", "user", "example.test", "", "", "user@example.test"),
	OK_(M, 0, "from:<user@example.test>", "user", "example.test", "", "", "user@example.test"),
	OK_(M, 0, "FrOm:<User@Example.TEST>", "User", "example.test", "", "", "User@example.test"),
	OK_(R, 0, "TO:<user@local.test>", "user", "local.test", "", "", "user@local.test"),
	OK_(R, 0, "to:<user@local.test>", "user", "local.test", "", "", "user@local.test"),
	OK_(R, 0, "TO:<user@LOCAL.TEST>", "user", "local.test", "", "", "user@local.test"),
	OK_(M, 0, "FROM:<first.last@example.test>", "first.last", "example.test", "", "", "first.last@example.test"),
	OK_(M, 0, "FROM:<a.b.c@sub.example.test>", "a.b.c", "sub.example.test", "", "", "a.b.c@sub.example.test"),
	OK_(M, 0, "FROM:<!#$%&'*+-/=?^_`{|}~@example.test>", "!#$%&'*+-/=?^_`{|}~", "example.test", "", "",
	    "!#$%&'*+-/=?^_`{|}~@example.test"),
	OK_(M, 0, "FROM:<a@b-c.test>", "a", "b-c.test", "", "", "a@b-c.test"),
	OK_(R, 0, "TO:<user@localhost>", "user", "localhost", "", "", "user@localhost"),
	OK_(R, 0, "TO:<user@xn--bcher-kva.test>", "user", "xn--bcher-kva.test", "", "", "user@xn--bcher-kva.test"),
	OK_(R, 0, "TO:<1@2.test>", "1", "2.test", "", "", "1@2.test"),
	/* null path */
	OK_(M, 0, "FROM:<>", "", "", "N", "", ""),
	OK_(M, 0, "FROM:<> SIZE=100", "", "", "N", "SIZE=100", ""),
	OK_(M, 0, "FROM: <>", "", "", "N", "", ""),
	OK_(M, STRICT, "FROM:<>", "", "", "N", "", ""),
	/* white space and parameters */
	OK_(M, 0, "FROM: <user@example.test>", "user", "example.test", "", "", "user@example.test"),
	OK_(M, 0, "FROM:  <user@example.test>   SIZE=1  ", "user", "example.test", "", "SIZE=1  ", "user@example.test"),
	OK_(M, 0, " FROM:<a@b.test>", "a", "b.test", "", "", "a@b.test"),
	OK_(M, 0, "FROM:\t<a@b.test>\tSIZE=1", "a", "b.test", "", "SIZE=1", "a@b.test"),
	OK_(M, 0, "FROM:<a@b.test> ", "a", "b.test", "", "", "a@b.test"),
	OK_(R, 0, "TO:<user@local.test> NOTIFY=NEVER ORCPT=rfc822;x@y", "user", "local.test", "", "NOTIFY=NEVER ORCPT=rfc822;x@y", "user@local.test"),
	OK_(M, STRICT, "FROM:<a@b.test>", "a", "b.test", "", "", "a@b.test"),
	OK_(M, STRICT, "FROM:<a@b.test> SIZE=1", "a", "b.test", "", "SIZE=1", "a@b.test"),
	OK_(M, STRICT, "FROM:<a@b.test>  SIZE=1", "a", "b.test", "", "SIZE=1", "a@b.test"),
	/* no brackets (lax mode only) */
	OK_(M, 0, "FROM:user@example.test", "user", "example.test", "B", "", "user@example.test"),
	OK_(M, 0, "FROM: user@example.test SIZE=5", "user", "example.test", "B", "SIZE=5", "user@example.test"),
	OK_(R, 0, "TO:\"a b\"@local.test", "a b", "local.test", "BQ", "", "\"a b\"@local.test"),
	OK_(R, 0, "TO:Postmaster", "Postmaster", "", "BPS", "", "Postmaster"),
	/* quoted local parts */
	OK_(M, 0, "FROM:<\"john doe\"@example.test>", "john doe", "example.test", "Q", "", "\"john doe\"@example.test"),
	OK_(M, 0, "FROM:<\"john.doe\"@example.test>", "john.doe", "example.test", "Q", "", "john.doe@example.test"),
	OK_(M, 0, "FROM:<\"a\\\"b\"@example.test>", "a\"b", "example.test", "Q", "", "\"a\\\"b\"@example.test"),
	OK_(M, 0, "FROM:<\"a\\\\b\"@example.test>", "a\\b", "example.test", "Q", "", "\"a\\\\b\"@example.test"),
	OK_(M, 0, "FROM:<\"\\a\"@example.test>", "a", "example.test", "Q", "", "a@example.test"),
	OK_(M, 0, "FROM:<\"a>b\"@example.test>", "a>b", "example.test", "Q", "", "\"a>b\"@example.test"),
	OK_(M, 0, "FROM:<\".a\"@example.test>", ".a", "example.test", "Q", "", "\".a\"@example.test"),
	OK_(M, 0, "FROM:<\"a.\"@example.test>", "a.", "example.test", "Q", "", "\"a.\"@example.test"),
	OK_(M, 0, "FROM:<\"a..b\"@example.test>", "a..b", "example.test", "Q", "", "\"a..b\"@example.test"),
	OK_(M, 0, "FROM:<\"a@b\"@example.test>", "a@b", "example.test", "Q", "", "\"a@b\"@example.test"),
	OK_(M, 0, "FROM:<\" \"@example.test>", " ", "example.test", "Q", "", "\" \"@example.test"),
	OK_(M, 0, "FROM:<\"a,b:c<d>\"@example.test>", "a,b:c<d>", "example.test", "Q", "", "\"a,b:c<d>\"@example.test"),
	OK_(M, 0, "FROM:<\"\\ \"@example.test>", " ", "example.test", "Q", "", "\" \"@example.test"),
	/* address literals */
	OK_(M, 0, "FROM:<user@[192.0.2.1]>", "user", "[192.0.2.1]", "4", "", "user@[192.0.2.1]"),
	OK_(M, 0, "FROM:<user@[IPv6:2001:DB8::1]>", "user", "[IPv6:2001:db8::1]", "6", "", "user@[IPv6:2001:db8::1]"),
	OK_(R, 0, "TO:<user@[ipv6:::1]>", "user", "[IPv6:::1]", "6", "", "user@[IPv6:::1]"),
	OK_(R, 0, "TO:<user@[IPv6:0:0:0:0:0:0:0:1]>", "user", "[IPv6:::1]", "6", "", "user@[IPv6:::1]"),
	OK_(R, 0, "TO:<user@[IPv6:::ffff:192.0.2.1]>", "user", "[IPv6:::ffff:192.0.2.1]", "6", "", "user@[IPv6:::ffff:192.0.2.1]"),
	/* postmaster */
	OK_(R, 0, "TO:<Postmaster>", "Postmaster", "", "PS", "", "Postmaster"),
	OK_(R, 0, "TO:<postmaster>", "postmaster", "", "PS", "", "postmaster"),
	OK_(R, 0, "TO:<POSTMASTER> NOTIFY=NEVER", "POSTMASTER", "", "PS", "NOTIFY=NEVER", "POSTMASTER"),
	OK_(R, 0, "TO:<PoStMaStEr@local.test>", "PoStMaStEr", "local.test", "P", "", "PoStMaStEr@local.test"),
	OK_(R, 0, "TO:<\"postmaster\"@local.test>", "postmaster", "local.test", "PQ", "", "postmaster@local.test"),
	OK_(R, 0, "TO:<postmaster.x@local.test>", "postmaster.x", "local.test", "", "", "postmaster.x@local.test"),
	/* source routes: checked, dropped */
	OK_(R, 0, "TO:<@a.test,@b.test:user@local.test>", "user", "local.test", "R", "", "user@local.test"),
	OK_(R, 0, "TO:<@a.test:user@local.test>", "user", "local.test", "R", "", "user@local.test"),
	OK_(R, 0, "TO:<@[192.0.2.1]:user@local.test>", "user", "local.test", "R", "", "user@local.test"),
	OK_(M, 0, "FROM:<@a.test:user@example.test>", "user", "example.test", "R", "", "user@example.test"),
	OK_(R, 0, "TO:<@local.test:victim@external.test>", "victim", "external.test", "R", "", "victim@external.test"),
	OK_(R, 0, "TO:<@external.test:user@local.test>", "user", "local.test", "R", "", "user@local.test"),
	/* trailing dot */
	OK_(R, 0, "TO:<user@local.test.>", "user", "local.test", "D", "", "user@local.test"),
	OK_(R, 0, "TO:<victim@EXTERNAL.TEST.>", "victim", "external.test", "D", "", "victim@external.test"),
	/* routing syntax in the local part parses; the traps name it */
	OK_(R, 0, "TO:<victim%external.test@local.test>", "victim%external.test", "local.test", "", "", "victim%external.test@local.test"),
	OK_(R, 0, "TO:<external.test!victim@local.test>", "external.test!victim", "local.test", "", "", "external.test!victim@local.test"),
	OK_(R, 0, "TO:<\"victim@external.test\"@local.test>", "victim@external.test", "local.test", "Q", "", "\"victim@external.test\"@local.test"),
	/* SMTPUTF8 */
	OK_(M, U8, "FROM:<j\xc3\xb6rg@client.test>", "j\xc3\xb6rg", "client.test", "U", "", "j\xc3\xb6rg@client.test"),
	OK_(R, U8, "TO:<\xe7\x94\xa8\xe6\x88\xb7@local.test>", "\xe7\x94\xa8\xe6\x88\xb7", "local.test", "U", "", "\xe7\x94\xa8\xe6\x88\xb7@local.test"),
	OK_(M, U8, "FROM:<user@B\xc3\xbc" "cher.TEST>", "user", "b\xc3\xbc" "cher.test", "U", "", "user@b\xc3\xbc" "cher.test"),
	OK_(M, U8, "FROM:<\"j\xc3\xb6 rg\"@client.test>", "j\xc3\xb6 rg", "client.test", "QU", "", "\"j\xc3\xb6 rg\"@client.test"),
	OK_(M, U8, "FROM:<plain@example.test>", "plain", "example.test", "", "", "plain@example.test"),
	OK_(M, U8, "FROM:<\xf0\x9f\x98\x80@example.test>", "\xf0\x9f\x98\x80", "example.test", "U", "", "\xf0\x9f\x98\x80@example.test"),
	/* unqualified when the caller allows it */
	OK_(R, UNQ, "TO:<user>", "user", "", "S", "", "user"),
	OK_(M, UNQ, "FROM:<user>", "user", "", "S", "", "user"),
	OK_(M, UNQ, "FROM:<postmaster>", "postmaster", "", "PS", "", "postmaster"),

	/* the verb */
	BAD(M, 0, "<user@example.test>", SMTP_ADDR_EVERB, 501, "5.5.4"),
	BAD(M, 0, "FROM <user@example.test>", SMTP_ADDR_EVERB, 501, "5.5.4"),
	BAD(M, 0, "FROM;<a@b.test>", SMTP_ADDR_EVERB, 501, "5.5.4"),
	BAD(M, 0, "FROM\x1a<a@b.test>", SMTP_ADDR_EVERB, 501, "5.5.4"),
	BAD(M, 0, "FRO:<a@b.test>", SMTP_ADDR_EVERB, 501, "5.5.4"),
	BAD(R, 0, "FROM:<a@b.test>", SMTP_ADDR_EVERB, 501, "5.5.4"),
	BAD(M, 0, "TO:<a@b.test>", SMTP_ADDR_EVERB, 501, "5.5.4"),
	BAD(M, 0, "", SMTP_ADDR_EVERB, 501, "5.5.4"),
	BAD(R, 0, "T", SMTP_ADDR_EVERB, 501, "5.5.4"),
	BAD(M, STRICT, " FROM:<a@b.test>", SMTP_ADDR_EVERB, 501, "5.5.4"),
	/* empty, strictness */
	BAD(M, 0, "FROM:", SMTP_ADDR_ESYNTAX, 501, "5.1.7"),
	BAD(R, 0, "TO:", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:   ", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(M, STRICT, "FROM: <a@b.test>", SMTP_ADDR_ESYNTAX, 501, "5.1.7"),
	BAD(M, STRICT, "FROM:a@b.test", SMTP_ADDR_ESYNTAX, 501, "5.1.7"),
	BAD(M, STRICT, "FROM:<a@b.test>\tSIZE=1", SMTP_ADDR_ECTRL, 501, "5.1.7"),
	BAD(M, STRICT, "FROM:", SMTP_ADDR_ESYNTAX, 501, "5.1.7"),
	/* brackets */
	BAD(M, 0, "FROM:<user@example.test", SMTP_ADDR_ESYNTAX, 501, "5.1.7"),
	BAD(R, 0, "TO:<user@local.test", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<user", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(M, 0, "FROM:user@example.test>", SMTP_ADDR_EDOMAIN, 501, "5.1.7"),
	BAD(M, 0, "FROM:<<user@example.test>>", SMTP_ADDR_ESYNTAX, 501, "5.1.7"),
	BAD(M, 0, "FROM:<user@example.test>>", SMTP_ADDR_ESYNTAX, 501, "5.1.7"),
	BAD(M, 0, "FROM:<user@example.test>x", SMTP_ADDR_ESYNTAX, 501, "5.1.7"),
	BAD(M, 0, "FROM:<user@example.test>SIZE=1", SMTP_ADDR_ESYNTAX, 501, "5.1.7"),
	BAD(M, 0, "FROM:<<>>", SMTP_ADDR_ESYNTAX, 501, "5.1.7"),
	BAD(M, 0, "FROM:<>x", SMTP_ADDR_ESYNTAX, 501, "5.1.7"),
	BAD(M, 0, "FROM:< >", SMTP_ADDR_ESYNTAX, 501, "5.1.7"),
	BAD(M, 0, "FROM:<", SMTP_ADDR_ESYNTAX, 501, "5.1.7"),
	/* null path as recipient */
	BAD(R, 0, "TO:<>", SMTP_ADDR_ENULL, 501, "5.1.3"),
	BAD(R, 0, "TO:<> NOTIFY=NEVER", SMTP_ADDR_ENULL, 501, "5.1.3"),
	/* two @, quoted-pair outside quotes */
	BAD(R, 0, "TO:<victim@external.test@local.test>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@@local.test>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<victim@external.test\\@local.test>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<vic\\tim@local.test>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<us er@local.test>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@local.test >", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<a(comment)@local.test>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<Name <user@local.test>>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<a\"b\"@local.test>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<\"a\"b@local.test>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<\"a\".b@local.test>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<a[b]@local.test>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	/* broken routes */
	BAD(R, 0, "TO:<@local.test>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<@>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<@:user@local.test>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<@local.test:>", SMTP_ADDR_ELOCAL, 501, "5.1.3"),
	BAD(R, 0, "TO:<@local.test,user@local.test>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<@a.test,:user@local.test>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<@a.test,@:user@local.test>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<@local.test:@x.test:user@local.test>", SMTP_ADDR_ELOCAL, 501, "5.1.3"),
	BAD(R, 0, "TO:<@bad_name.test:user@local.test>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<@a.test:user>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<@a.test:postmaster>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, UNQ, "TO:<@a.test:user>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(M, 0, "FROM:<@a.test:>", SMTP_ADDR_ELOCAL, 501, "5.1.7"),
	/* local part */
	BAD(R, 0, "TO:<.user@local.test>", SMTP_ADDR_ELOCAL, 501, "5.1.3"),
	BAD(R, 0, "TO:<user.@local.test>", SMTP_ADDR_ELOCAL, 501, "5.1.3"),
	BAD(R, 0, "TO:<us..er@local.test>", SMTP_ADDR_ELOCAL, 501, "5.1.3"),
	BAD(R, 0, "TO:<.@local.test>", SMTP_ADDR_ELOCAL, 501, "5.1.3"),
	BAD(R, 0, "TO:<\"\"@local.test>", SMTP_ADDR_ELOCAL, 501, "5.1.3"),
	BAD(M, 0, "FROM:<\"\"@example.test>", SMTP_ADDR_ELOCAL, 501, "5.1.7"),
	BAD(R, 0, "TO:<\"unterminated@local.test>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<\"a\\", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, 0, "TO:<\"a\\\"@local.test>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	/* domain */
	BAD(R, 0, "TO:<user@>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(M, 0, "FROM:<user@>", SMTP_ADDR_EDOMAIN, 501, "5.1.7"),
	BAD(R, 0, "TO:<user@.local.test>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@local..test>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@local.test..>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@.>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@-local.test>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@local-.test>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@local_test.test>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@1.2.3.4>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@local.test,x>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@local.test:25>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@local.test/x>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
	/* literals */
	BAD(R, 0, "TO:<user@[1.2.3.256]>", SMTP_ADDR_ELITERAL, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@[1.2.3.4>", SMTP_ADDR_ELITERAL, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@[1.2.3]>", SMTP_ADDR_ELITERAL, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@[01.2.3.4]>", SMTP_ADDR_ELITERAL, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@[IPv6:1.2.3.4]>", SMTP_ADDR_ELITERAL, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@[IPv6:2001:db8::1%eth0]>", SMTP_ADDR_ELITERAL, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@[2001:db8::1]>", SMTP_ADDR_ELITERAL, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@[x400:abc]>", SMTP_ADDR_ELITERAL, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@[]>", SMTP_ADDR_ELITERAL, 501, "5.1.3"),
	BAD(M, 0, "FROM:<user@[192.0.2.1].>", SMTP_ADDR_ELITERAL, 501, "5.1.7"),
	BAD(M, 0, "FROM:<user@[127.0.0.1]x>", SMTP_ADDR_ELITERAL, 501, "5.1.7"),
	/* no domain */
	BAD(R, 0, "TO:<user>", SMTP_ADDR_EUNQUALIFIED, 501, "5.1.3"),
	BAD(M, 0, "FROM:<user>", SMTP_ADDR_EUNQUALIFIED, 501, "5.1.7"),
	BAD(R, 0, "TO:<victim%external.test>", SMTP_ADDR_EUNQUALIFIED, 501, "5.1.3"),
	BAD(R, 0, "TO:<external.test!victim>", SMTP_ADDR_EUNQUALIFIED, 501, "5.1.3"),
	BAD(M, 0, "FROM:<postmaster>", SMTP_ADDR_EUNQUALIFIED, 501, "5.1.7"),
	BAD(R, 0, "TO:<\"postmaster\">", SMTP_ADDR_EUNQUALIFIED, 501, "5.1.3"),
	BAD(R, 0, "TO:<postmasters>", SMTP_ADDR_EUNQUALIFIED, 501, "5.1.3"),
	BAD(R, 0, "TO:user", SMTP_ADDR_EUNQUALIFIED, 501, "5.1.3"),
	/* control octets */
	BAD(R, 0, "TO:<us\x01" "er@local.test>", SMTP_ADDR_ECTRL, 501, "5.1.3"),
	BAD(M, 0, "FROM:<us\x01" "er@example.test>", SMTP_ADDR_ECTRL, 501, "5.1.7"),
	BAD(R, 0, "TO:<user@local\x7f.test>", SMTP_ADDR_ECTRL, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@local.test\r\n", SMTP_ADDR_ECTRL, 501, "5.1.3"),
	BAD(R, 0, "TO:<user\r@local.test>", SMTP_ADDR_ECTRL, 501, "5.1.3"),
	BAD(R, 0, "TO:<user\n@local.test>", SMTP_ADDR_ECTRL, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@local.test\n>", SMTP_ADDR_ECTRL, 501, "5.1.3"),
	BAD(R, 0, "TO:<\"us\ter\"@local.test>", SMTP_ADDR_ECTRL, 501, "5.1.3"),
	BAD(R, 0, "TO:<\"us\rer\"@local.test>", SMTP_ADDR_ECTRL, 501, "5.1.3"),
	BAD(R, 0, "TO:<\"a\\\x01\"@local.test>", SMTP_ADDR_ECTRL, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@local.test>\r", SMTP_ADDR_ECTRL, 501, "5.1.3"),
	BAD(R, 0, "TO:<user@local.test>\r\nRCPT TO:<x@y>", SMTP_ADDR_ECTRL, 501, "5.1.3"),
	BAD(R, 0, "TO:<\x1b[31m@local.test>", SMTP_ADDR_ECTRL, 501, "5.1.3"),
	BAD(R, 0, "TO:<@a.test\r:user@local.test>", SMTP_ADDR_ECTRL, 501, "5.1.3"),
	BAD(R, 0, "TO:user@local.test\r", SMTP_ADDR_ECTRL, 501, "5.1.3"),
	/* 8-bit without SMTPUTF8 */
	BAD(M, 0, "FROM:<j\xc3\xb6rg@client.test>", SMTP_ADDR_E8BIT, 553, "5.6.7"),
	BAD(R, 0, "TO:<\xe7\x94\xa8\xe6\x88\xb7@local.test>", SMTP_ADDR_E8BIT, 553, "5.6.7"),
	BAD(R, 0, "TO:<user@b\xc3\xbc" "cher.test>", SMTP_ADDR_E8BIT, 553, "5.6.7"),
	BAD(R, 0, "TO:<\"j\xc3\xb6\"@local.test>", SMTP_ADDR_E8BIT, 553, "5.6.7"),
	BAD(R, 0, "TO:<\xff@local.test>", SMTP_ADDR_E8BIT, 553, "5.6.7"),
	BAD(R, 0, "TO:<a.\xc3\xb6@local.test>", SMTP_ADDR_E8BIT, 553, "5.6.7"),
	BAD(R, 0, "TO:<@b\xc3\xbc.test:user@local.test>", SMTP_ADDR_E8BIT, 553, "5.6.7"),
	BAD(R, 0, "TO:<user@local.test\xc3\xb6", SMTP_ADDR_E8BIT, 553, "5.6.7"),
	/* invalid UTF-8 with SMTPUTF8 */
	BAD(R, U8, "TO:<j\xc3(rg@local.test>", SMTP_ADDR_EUTF8, 553, "5.6.7"),
	BAD(R, U8, "TO:<\xc0\xafuser@local.test>", SMTP_ADDR_EUTF8, 553, "5.6.7"),
	BAD(R, U8, "TO:<user@b\xed\xa0\x80.test>", SMTP_ADDR_EUTF8, 553, "5.6.7"),
	BAD(M, U8, "FROM:<\"\xff\"@client.test>", SMTP_ADDR_EUTF8, 553, "5.6.7"),
	BAD(R, U8, "TO:<user@b\xc3\xbc\xc3.test>", SMTP_ADDR_EUTF8, 553, "5.6.7"),
	BAD(R, U8, "TO:<\xf4\x90\x80\x80@local.test>", SMTP_ADDR_EUTF8, 553, "5.6.7"),
	BAD(R, U8, "TO:<a\xe2\x82@local.test>", SMTP_ADDR_EUTF8, 553, "5.6.7"),
	BAD(R, U8, "TO:<a\xc2\x85" "b@local.test>", SMTP_ADDR_ECTRL, 501, "5.1.3"),
	BAD(R, U8, "TO:<\"\\\xc3\xb6\"@local.test>", SMTP_ADDR_ESYNTAX, 501, "5.1.3"),
	BAD(R, U8, "TO:<user@a\xe3\x80\x82" "b.test>", SMTP_ADDR_EDOMAIN, 501, "5.1.3"),
};

/* marks - the flag letters of an accepted address, in a fixed order */
static const char *marks(const struct smtp_addr *a)
{
	static char m[16];
	size_t n = 0;

	if (a->null)
		m[n++] = 'N';
	if (a->bare)
		m[n++] = 'B';
	if (a->postmaster)
		m[n++] = 'P';
	if (a->quoted)
		m[n++] = 'Q';
	if (a->routed)
		m[n++] = 'R';
	if (a->unqualified)
		m[n++] = 'S';
	if (a->trailing_dot)
		m[n++] = 'D';
	if (a->utf8)
		m[n++] = 'U';
	if (a->literal.family != 0)
		m[n++] = a->literal.family == 2 ? '4' : '6';
	m[n] = '\0';
	return m;
}

/* sorted - the letters of s in the order marks() writes them */
static const char *sorted(const char *s)
{
	static char m[16];
	const char *order = "NBPQRSDU46";
	size_t n = 0;

	for (const char *o = order; *o; o++)
		if (strchr(s, *o) != NULL)
			m[n++] = *o;
	m[n] = '\0';
	return m;
}

/* show - printable form of a test input for the test name */
static const char *show(const char *s, size_t len)
{
	static char b[400];
	size_t n = 0;

	for (size_t i = 0; i < len && n + 5 < sizeof(b); i++) {
		unsigned char c = (unsigned char) s[i];

		if (c >= 0x20 && c < 0x7F && c != '\\') {
			b[n++] = (char) c;
		} else {
			snprintf(b + n, sizeof(b) - n, "\\x%02x", c);
			n += 4;
		}
	}
	b[n] = '\0';
	return b;
}

/* check_case - run one table row */
static void check_case(const struct addr_case *c, size_t len)
{
	struct smtp_addr a;
	struct smtp_addr_reply err = {0, NULL, NULL, NULL, 0};
	enum smtp_addr_status st;
	char ext[SMTP_ADDR_TEXT_MAX + 3];
	char name[500];

	snprintf(name, sizeof(name), "%s %s", c->kind == M ? "MAIL" : "RCPT", show(c->in, len));
	st = smtp_addr_parse((enum smtp_addr_kind) c->kind, c->in, len, c->flags, &a, &err);
	if (!ok(st == c->status, "%s -> %s", name, smtp_addr_strerror(c->status))) {
		diag("got status %d (%s)", st, smtp_addr_strerror(st));
		return;
	}
	if (st != SMTP_ADDR_OK) {
		ok(err.code == c->code && err.enh != NULL && strcmp(err.enh, c->enh) == 0 && err.text != NULL,
		   "%s -> %d %s", name, c->code, c->enh);
		if (err.code != c->code || strcmp(err.enh, c->enh) != 0)
			diag("got %d %s", err.code, err.enh);
		ok(a.local_len == 0 && a.domain_len == 0 && a.params == NULL, "%s: result cleared", name);
		return;
	}
	is_str(a.local, c->local, "  local part");
	is_int((long long) a.local_len, (long long) strlen(c->local), "  local length");
	is_str(a.domain, c->domain, "  domain");
	is_int((long long) a.domain_len, (long long) strlen(c->domain), "  domain length");
	is_str(marks(&a), sorted(c->marks), "  flags");
	ok(a.params != NULL && a.params >= c->in && a.params + a.params_len == c->in + len,
	   "  params point into the input, to its end");
	if (a.params != NULL) {
		char p[400];

		snprintf(p, sizeof(p), "%.*s", (int) a.params_len, a.params);
		is_str(p, c->params, "  params");
	}
	ok(smtp_addr_external(&a, ext, sizeof(ext)) >= 0, "  external form fits");
	is_str(ext, c->external, "  external form");
}

static void test_table(void)
{
	for (size_t i = 0; i < N(cases); i++)
		check_case(&cases[i], strlen(cases[i].in));
}

/* NUL can only be tested with an explicit length */
static void test_nul(void)
{
	static const struct {
		int kind;
		const char *in;
		size_t len;
		enum smtp_addr_status st;
	} nul[] = {
		{R, "TO:<us\0er@local.test>", 21, SMTP_ADDR_ECTRL},
		{R, "TO:<user@local\0.test>", 21, SMTP_ADDR_ECTRL},
		{R, "TO:<user@local.test\0>", 21, SMTP_ADDR_ECTRL},
		{R, "TO:<\"us\0er\"@local.test>", 23, SMTP_ADDR_ECTRL},
		{R, "TO:<user@local.test>\0", 21, SMTP_ADDR_ECTRL},
		{R, "TO:<user@[127.0.0.1\0]>", 23, SMTP_ADDR_ECTRL},
		{M, "FROM:<\0>", 8, SMTP_ADDR_ECTRL},
		{M, "FROM\0<a@b.test>", 15, SMTP_ADDR_EVERB},
		{M, "FROM:\0<a@b.test>", 16, SMTP_ADDR_ECTRL},
	};

	for (size_t i = 0; i < N(nul); i++) {
		struct addr_case c = {nul[i].kind, 0, nul[i].in, nul[i].st, NULL, NULL, NULL, NULL, NULL,
				      501,
				      nul[i].st == SMTP_ADDR_EVERB ? "5.5.4" : nul[i].kind == M ? "5.1.7" : "5.1.3"};

		check_case(&c, nul[i].len);
	}

	/* a prefix of the input is all that is read */
	struct smtp_addr a;

	ok(smtp_addr_parse(SMTP_ADDR_RCPT, "TO:<a@b.test>XYZ", 13, 0, &a, NULL) == SMTP_ADDR_OK &&
	   a.params_len == 0 && strcmp(a.domain, "b.test") == 0, "length bounds the input");
	ok(smtp_addr_parse(SMTP_ADDR_RCPT, "TO:<a@b.test>", 12, 0, &a, NULL) == SMTP_ADDR_ESYNTAX,
	   "a path cut by the length is unbalanced");
}

/* ring - scratch buffers for built inputs */
static char *ring(void)
{
	static char bufs[8][1200];
	static unsigned next;

	return bufs[next++ % 8];
}

static const char *rep(char c, size_t n)
{
	char *b = ring();

	if (n >= 1200)
		abort();
	memset(b, c, n);
	b[n] = '\0';
	return b;
}

__attribute__((format(printf, 1, 2)))
static const char *cat(const char *f, ...)
{
	char *b = ring();
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(b, 1200, f, ap);
	va_end(ap);
	if (n < 0 || n >= 1200)
		abort();
	return b;
}

/* run - parse in and compare the status (and, refused, the reply) */
static void run(int kind, unsigned flags, const char *in, enum smtp_addr_status want, const char *what)
{
	struct smtp_addr a;
	struct smtp_addr_reply err = {0, NULL, NULL, NULL, 0};
	enum smtp_addr_status st = smtp_addr_parse((enum smtp_addr_kind) kind, in, strlen(in), flags, &a, &err);

	ok(st == want, "%s (%s)", what, smtp_addr_strerror(want));
	if (st != want)
		diag("got %s", smtp_addr_strerror(st));
	if (want != SMTP_ADDR_OK && st == want)
		ok(err.code == 501 && strcmp(err.enh, kind == M ? "5.1.7" : "5.1.3") == 0,
		   "  %s -> 501 %s", what, kind == M ? "5.1.7" : "5.1.3");
}

static void test_lengths(void)
{
	char d189[190], d190[191];
	const char *in;

	/* kept out of the scratch ring, which later calls reuse */
	snprintf(d189, sizeof(d189), "%s", cat("%s.%s.%s", rep('a', 63), rep('b', 63), rep('c', 61)));
	snprintf(d190, sizeof(d190), "%s", cat("%s.%s.%s", rep('a', 63), rep('b', 63), rep('c', 62)));
	is_int((long long) (strlen(d189) * 1000 + strlen(d190)), 189190, "built 189- and 190-octet domains");

	/* local part: 64 as written, not 65 */
	run(R, 0, cat("TO:<%s@local.test>", rep('x', 64)), SMTP_ADDR_OK, "local part of 64 octets");
	run(R, 0, cat("TO:<%s@local.test>", rep('x', 65)), SMTP_ADDR_ELOCALLEN, "local part of 65 octets");
	run(M, 0, cat("FROM:<%s@example.test>", rep('x', 65)), SMTP_ADDR_ELOCALLEN, "sender local part of 65 octets");
	run(R, 0, cat("TO:<%s@local.test>", rep('x', 500)), SMTP_ADDR_ELOCALLEN, "local part of 500 octets");
	run(R, 0, cat("TO:<\"%s\"@local.test>", rep('x', 62)), SMTP_ADDR_OK, "quoted local part of 64 octets");
	run(R, 0, cat("TO:<\"%s\"@local.test>", rep('x', 63)), SMTP_ADDR_ELOCALLEN, "quoted local part of 65 octets");
	run(R, 0, cat("TO:<\"%s\\\\\"@local.test>", rep('x', 60)), SMTP_ADDR_OK, "quoted 64 octets with a quoted-pair");
	run(R, 0, cat("TO:<\"%s\\\\\"@local.test>", rep('x', 61)), SMTP_ADDR_ELOCALLEN, "quoted 65 octets with a quoted-pair");
	run(R, U8, cat("TO:<%s\xc3\xb6@local.test>", rep('x', 62)), SMTP_ADDR_OK, "UTF-8 local part of 64 octets");
	run(R, U8, cat("TO:<%s\xc3\xb6@local.test>", rep('x', 63)), SMTP_ADDR_ELOCALLEN, "UTF-8 local part of 65 octets");
	run(R, UNQ, cat("TO:<%s>", rep('x', 65)), SMTP_ADDR_ELOCALLEN, "unqualified local part of 65 octets");

	/* path: 1 + 64 + 1 + 189 + 1 = 256; one more is over */
	in = cat("TO:<%s@%s>", rep('x', 64), d189);
	run(R, 0, in, SMTP_ADDR_OK, "path of 256 octets");
	{
		struct smtp_addr a;

		ok(smtp_addr_parse(SMTP_ADDR_RCPT, in, strlen(in), 0, &a, NULL) == SMTP_ADDR_OK &&
		   a.local_len == 64 && a.domain_len == 189 && strcmp(a.domain, d189) == 0,
		   "256-octet path kept whole");
	}
	run(R, 0, cat("TO:<%s@%s>", rep('x', 64), d190), SMTP_ADDR_EPATHLEN, "path of 257 octets");
	run(M, 0, cat("FROM:<%s@%s>", rep('x', 64), d190), SMTP_ADDR_EPATHLEN, "sender path of 257 octets");
	run(R, 0, cat("TO:<%s@%s> NOTIFY=NEVER", rep('x', 64), d189), SMTP_ADDR_OK, "256-octet path and parameters");
	run(R, 0, cat("TO:%s@%s", rep('x', 64), d189), SMTP_ADDR_OK, "bare path of 254 + 2 octets");
	run(R, 0, cat("TO:%s@%s", rep('x', 64), d190), SMTP_ADDR_EPATHLEN, "bare path of 255 + 2 octets");
	/* the route counts: "@r.test:" is 8 more octets */
	run(R, 0, cat("TO:<@r.test:%s@%s>", rep('x', 56), d189), SMTP_ADDR_OK, "routed path of 256 octets");
	run(R, 0, cat("TO:<@r.test:%s@%s>", rep('x', 57), d189), SMTP_ADDR_EPATHLEN, "routed path of 257 octets");
	run(R, 0, cat("TO:<@%s,@%s:user@local.test>", d189, d189), SMTP_ADDR_EPATHLEN, "long source route");
	/* domain: labels of 63, not 64; 255 octets is the most; a trailing dot still counts */
	run(R, 0, cat("TO:<u@%s.test>", rep('d', 63)), SMTP_ADDR_OK, "domain label of 63");
	run(R, 0, cat("TO:<u@%s.test>", rep('d', 64)), SMTP_ADDR_EDOMAIN, "domain label of 64");
	run(R, 0, cat("TO:<u@%s.%s.%s.%s>", rep('a', 64), rep('b', 63), rep('c', 63), rep('d', 63)),
	    SMTP_ADDR_EDOMAINLEN, "domain of 256 octets");
	run(R, 0, cat("TO:<u@%s.%s.%s.%s>", rep('a', 63), rep('b', 63), rep('c', 63), rep('d', 63)),
	    SMTP_ADDR_EDOMAIN, "domain of 255 octets is not a host name (253)");
	run(R, 0, cat("TO:<u@%s.%s.%s.%s>", rep('a', 63), rep('b', 63), rep('c', 63), rep('d', 62)),
	    SMTP_ADDR_EDOMAIN, "domain of 254 octets is not a host name (253)");
	run(R, 0, cat("TO:<u@%s.%s.%s.%s.>", rep('a', 63), rep('b', 63), rep('c', 63), rep('d', 61)),
	    SMTP_ADDR_EPATHLEN, "domain of 253 + dot fits the domain limit, not the path");

	/* the mailbox form has the same path budget */
	{
		struct smtp_addr a;
		const char *mb = cat("%s@%s", rep('x', 64), d189);

		ok(smtp_addr_parse_mailbox(mb, strlen(mb), 0, &a) == SMTP_ADDR_OK, "mailbox of 254 octets");
		mb = cat("%s@%s", rep('x', 64), d190);
		ok(smtp_addr_parse_mailbox(mb, strlen(mb), 0, &a) == SMTP_ADDR_EPATHLEN, "mailbox of 255 octets");
	}
}

static void test_mailbox(void)
{
	static const struct {
		const char *in;
		unsigned flags;
		enum smtp_addr_status st;
	} mb[] = {
		{"user@example.test", 0, SMTP_ADDR_OK},
		{"\"a b\"@example.test", 0, SMTP_ADDR_OK},
		{"user@[192.0.2.1]", 0, SMTP_ADDR_OK},
		{"j\xc3\xb6rg@client.test", U8, SMTP_ADDR_OK},
		{"j\xc3\xb6rg@client.test", 0, SMTP_ADDR_E8BIT},
		{"user", 0, SMTP_ADDR_EUNQUALIFIED},
		{"user", UNQ, SMTP_ADDR_OK},
		{"postmaster", 0, SMTP_ADDR_EUNQUALIFIED},
		{"<user@example.test>", 0, SMTP_ADDR_ESYNTAX},
		{"@a.test:user@example.test", 0, SMTP_ADDR_ELOCAL},
		{"user@example.test ", 0, SMTP_ADDR_EDOMAIN},
		{"user @example.test", 0, SMTP_ADDR_ESYNTAX},
		{" user@example.test", 0, SMTP_ADDR_ESYNTAX},
		{"user@example.test>", 0, SMTP_ADDR_EDOMAIN},
		{"", 0, SMTP_ADDR_ELOCAL},
		{"a\nb@example.test", 0, SMTP_ADDR_ECTRL},
		{"user@example.test SIZE=1", 0, SMTP_ADDR_EDOMAIN},
	};

	for (size_t i = 0; i < N(mb); i++) {
		struct smtp_addr a;
		enum smtp_addr_status st = smtp_addr_parse_mailbox(mb[i].in, strlen(mb[i].in), mb[i].flags, &a);

		ok(st == mb[i].st, "mailbox '%s' -> %s", show(mb[i].in, strlen(mb[i].in)),
		   smtp_addr_strerror(mb[i].st));
		if (st != mb[i].st)
			diag("got %s", smtp_addr_strerror(st));
	}
}

static void test_external(void)
{
	struct smtp_addr a;
	char buf[SMTP_ADDR_TEXT_MAX + 3];
	const char *in = "TO:<\"a b\"@local.test>";

	ok(smtp_addr_parse(SMTP_ADDR_RCPT, in, strlen(in), 0, &a, NULL) == SMTP_ADDR_OK, "parse for external");
	is_int(smtp_addr_external(&a, buf, 16), -1, "external: one octet short");
	is_int(smtp_addr_external(&a, buf, 17), 16, "external: exact room");
	is_str(buf, "\"a b\"@local.test", "external text");
	is_int(smtp_addr_external(&a, buf, 0), -1, "external: no room at all");

	/* worst case: 62 quote/backslash octets, quoted: 2 + 124 + ... exceeds the
	 * wire limit, so what parses always fits SMTP_ADDR_TEXT_MAX */
	in = cat("TO:<\"%s\"@%s.%s.%s>", rep('\\', 62), rep('a', 63), rep('b', 63), rep('c', 61));
	ok(smtp_addr_parse(SMTP_ADDR_RCPT, in, strlen(in), 0, &a, NULL) == SMTP_ADDR_OK, "31 quoted-pairs parse");
	ok(smtp_addr_external(&a, buf, sizeof(buf)) > 0 && strlen(buf) <= SMTP_ADDR_TEXT_MAX,
	   "external form of the worst case fits");

	static const struct {
		const char *local;
		int quote;
	} q[] = {
		{"a", 0}, {"a.b", 0}, {"a+b", 0}, {"", 1}, {".a", 1}, {"a.", 1}, {"a..b", 1}, {"a b", 1},
		{"a\"b", 1}, {"a@b", 1}, {"a,b", 1}, {"j\xc3\xb6rg", 0}, {"(x)", 1}, {"[x]", 1},
	};

	for (size_t i = 0; i < N(q); i++)
		is_int(smtp_addr_local_needs_quotes(q[i].local, strlen(q[i].local)), q[i].quote,
		       cat("needs quotes: '%s'", q[i].local));
}

static void test_traps(void)
{
	static const char *const own[] = {"192.0.2.1", "[IPv6:::1]", "2001:db8::25", NULL};
	static const struct {
		const char *in;
		unsigned flags;
		unsigned want;
		enum smtp_addr_trap first;
	} t[] = {
		{"TO:<user@local.test>", 0, 0, SMTP_ADDR_TRAP_NONE},
		{"TO:<Postmaster>", 0, 0, SMTP_ADDR_TRAP_NONE},
		{"TO:<postmaster@local.test>", 0, 0, SMTP_ADDR_TRAP_NONE},
		{"TO:<\"john.doe\"@local.test>", 0, 0, SMTP_ADDR_TRAP_NONE},
		{"TO:<victim%external.test@local.test>", 0, SMTP_ADDR_TRAP_PERCENT, SMTP_ADDR_TRAP_PERCENT},
		{"TO:<external.test!victim@local.test>", 0, SMTP_ADDR_TRAP_BANG, SMTP_ADDR_TRAP_BANG},
		{"TO:<\"victim@external.test\"@local.test>", 0, SMTP_ADDR_TRAP_QUOTED_AT, SMTP_ADDR_TRAP_QUOTED_AT},
		{"TO:<\"victim%external.test\"@local.test>", 0, SMTP_ADDR_TRAP_PERCENT, SMTP_ADDR_TRAP_PERCENT},
		{"TO:<\"external.test!victim\"@local.test>", 0, SMTP_ADDR_TRAP_BANG, SMTP_ADDR_TRAP_BANG},
		{"TO:<\"@external.test:victim\"@local.test>", 0, SMTP_ADDR_TRAP_QUOTED_AT, SMTP_ADDR_TRAP_QUOTED_AT},
		{"TO:<user@local.test.>", 0, SMTP_ADDR_TRAP_TRAILING_DOT, SMTP_ADDR_TRAP_TRAILING_DOT},
		{"TO:<user@[192.0.2.1]>", 0, 0, SMTP_ADDR_TRAP_NONE},
		{"TO:<user@[127.0.0.9]>", 0, SMTP_ADDR_TRAP_FOREIGN_LITERAL, SMTP_ADDR_TRAP_FOREIGN_LITERAL},
		{"TO:<user@[IPv6:::1]>", 0, 0, SMTP_ADDR_TRAP_NONE},
		{"TO:<user@[IPv6:0::0:1]>", 0, 0, SMTP_ADDR_TRAP_NONE},
		{"TO:<user@[IPv6:2001:DB8::25]>", 0, 0, SMTP_ADDR_TRAP_NONE},
		{"TO:<user@[IPv6:::2]>", 0, SMTP_ADDR_TRAP_FOREIGN_LITERAL, SMTP_ADDR_TRAP_FOREIGN_LITERAL},
		{"TO:<user@[IPv6:::ffff:192.0.2.1]>", 0, SMTP_ADDR_TRAP_FOREIGN_LITERAL, SMTP_ADDR_TRAP_FOREIGN_LITERAL},
		{"TO:<@external.test:user@local.test>", 0, SMTP_ADDR_TRAP_SOURCE_ROUTE, SMTP_ADDR_TRAP_SOURCE_ROUTE},
		{"TO:<@local.test:victim@external.test>", 0, SMTP_ADDR_TRAP_SOURCE_ROUTE, SMTP_ADDR_TRAP_SOURCE_ROUTE},
		{"TO:<user>", UNQ, SMTP_ADDR_TRAP_UNQUALIFIED, SMTP_ADDR_TRAP_UNQUALIFIED},
		{"TO:<victim%external.test>", UNQ, SMTP_ADDR_TRAP_UNQUALIFIED | SMTP_ADDR_TRAP_PERCENT,
		 SMTP_ADDR_TRAP_UNQUALIFIED},
		{"TO:<@r.test:a%b!c@local.test.>", 0,
		 SMTP_ADDR_TRAP_PERCENT | SMTP_ADDR_TRAP_BANG | SMTP_ADDR_TRAP_SOURCE_ROUTE | SMTP_ADDR_TRAP_TRAILING_DOT,
		 SMTP_ADDR_TRAP_PERCENT},
		{"TO:<\"a@b%c\"@[10.0.0.1]>", 0,
		 SMTP_ADDR_TRAP_QUOTED_AT | SMTP_ADDR_TRAP_PERCENT | SMTP_ADDR_TRAP_FOREIGN_LITERAL,
		 SMTP_ADDR_TRAP_QUOTED_AT},
	};

	for (size_t i = 0; i < N(t); i++) {
		struct smtp_addr a;
		unsigned mask;

		if (!ok(smtp_addr_parse(SMTP_ADDR_RCPT, t[i].in, strlen(t[i].in), t[i].flags, &a, NULL) ==
			SMTP_ADDR_OK, "trap input %s parses", t[i].in))
			continue;
		mask = smtp_addr_traps(&a, own);
		ok(mask == t[i].want, "traps of %s = 0x%x", t[i].in, t[i].want);
		if (mask != t[i].want)
			diag("got 0x%x", mask);
		ok(smtp_addr_trap_first(mask) == t[i].first, "  first trap %s", smtp_addr_trap_name(t[i].first));
	}

	/* no own addresses: every literal is foreign; the null path has no traps */
	struct smtp_addr a;

	ok(smtp_addr_parse(SMTP_ADDR_RCPT, "TO:<u@[192.0.2.1]>", 18, 0, &a, NULL) == SMTP_ADDR_OK &&
	   smtp_addr_traps(&a, NULL) == SMTP_ADDR_TRAP_FOREIGN_LITERAL, "no own list: literal is foreign");
	ok(smtp_addr_parse(SMTP_ADDR_MAIL, "FROM:<>", 7, 0, &a, NULL) == SMTP_ADDR_OK &&
	   smtp_addr_traps(&a, own) == 0, "null path: no traps");

	/* names and texts */
	is_str(smtp_addr_trap_name(SMTP_ADDR_TRAP_PERCENT), "percent_hack", "trap name percent");
	is_str(smtp_addr_trap_name(SMTP_ADDR_TRAP_BANG), "bang_path", "trap name bang");
	is_str(smtp_addr_trap_name(SMTP_ADDR_TRAP_NONE), "none", "trap name none");
	ok(strstr(smtp_addr_trap_text(SMTP_ADDR_TRAP_QUOTED_AT), "quoted") != NULL, "trap text quoted @");
	ok(strcmp(smtp_addr_trap_text(SMTP_ADDR_TRAP_NONE), "no routing syntax") == 0, "trap text none");
	for (unsigned bit = 1; bit <= SMTP_ADDR_TRAP_TRAILING_DOT; bit <<= 1)
		ok(strcmp(smtp_addr_trap_name((enum smtp_addr_trap) bit), "none") != 0 &&
		   smtp_addr_trap_first(bit) == (enum smtp_addr_trap) bit, "trap bit 0x%x named", bit);
}

static void test_replies(void)
{
	struct smtp_addr_reply r;

	for (int st = 1; st < SMTP_ADDR_NSTATUS; st++) {
		smtp_addr_reply((enum smtp_addr_status) st, SMTP_ADDR_MAIL, &r);
		ok(r.code >= 500 && r.code <= 559 && r.enh[0] == '5' && r.text != NULL && r.text[0] != '\0',
		   "MAIL reply for %s: %d %s %s", smtp_addr_strerror((enum smtp_addr_status) st), r.code, r.enh, r.text);
		smtp_addr_reply((enum smtp_addr_status) st, SMTP_ADDR_RCPT, &r);
		ok(r.code >= 500 && r.code <= 559 && r.enh[0] == '5' && r.text != NULL && r.text[0] != '\0',
		   "RCPT reply for %s: %d %s %s", smtp_addr_strerror((enum smtp_addr_status) st), r.code, r.enh, r.text);
	}
	smtp_addr_reply((enum smtp_addr_status) 999, SMTP_ADDR_RCPT, &r);
	ok(r.code == 501 && strcmp(r.enh, "5.1.3") == 0, "out-of-range status maps to a syntax error");
}

int main(void)
{
	test_table();
	test_nul();
	test_lengths();
	test_mailbox();
	test_external();
	test_traps();
	test_replies();
	return tap_done();
}
