/*
 * smtp_param - ESMTP parameters of MAIL FROM and RCPT TO (RFC 5321
 * section 4.1.2 esmtp-param), each checked against its own RFC.
 *
 *	MAIL: SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531),
 *	      RET and ENVID (RFC 3461), AUTH (RFC 4954), REQUIRETLS (RFC 8689)
 *	RCPT: NOTIFY and ORCPT (RFC 3461; ORCPT=utf-8; RFC 6533)
 *
 * Keywords are matched in any case; parameters are separated by spaces
 * (tabs tolerated). The caller says which extensions its EHLO reply
 * offered (0 after HELO). Errors, each with the reply smtpd sends as is:
 *
 *	unknown keyword, or one for the other command	555 5.5.4
 *	keyword of an extension not offered		555 5.5.4
 *	the same keyword twice				501 5.5.4
 *	bad value, value where none belongs, none given	501 5.5.4
 *	bad parameter syntax, control octets		501 5.5.4
 *
 * Values: SIZE is 1..20 digits (a value past 2^64-1 saturates to
 * UINT64_MAX, which any size limit refuses with 552; it never wraps);
 * BODY is 7BIT or 8BITMIME (BINARYMIME is not offered: 501); SMTPUTF8
 * and REQUIRETLS take no value; RET is FULL or HDRS; ENVID is xtext of
 * at most 100 printable characters once decoded; AUTH is xtext of "<>"
 * or a mailbox; NOTIFY is NEVER alone or a set of SUCCESS, FAILURE,
 * DELAY without repeats; ORCPT is "addr-type;value" of at most 500
 * characters as written: rfc822 (and any other atom type) takes xtext
 * decoding to printable ASCII, utf-8 takes RFC 6533 utf-8-addr-xtext
 * (or -unitext, raw UTF-8, when the transaction is SMTPUTF8) decoding to
 * a valid mailbox. Decoded values are kept; so is ORCPT as written,
 * to be passed on unchanged.
 *
 * smtp_param_mail_cmd and smtp_param_rcpt_cmd do a whole command
 * argument: the path (smtp_addr), then the parameters, then the rule that
 * a non-ASCII address needs SMTPUTF8 (553 5.6.7).
 */
#ifndef TERN_MAIL_SMTP_PARAM_H
#define TERN_MAIL_SMTP_PARAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/smtp_addr.h"

#define SMTP_PARAM_SIZE_DIGITS	20	/* RFC 1870 size-value */
#define SMTP_PARAM_ENVID_MAX	100	/* decoded characters */
#define SMTP_PARAM_ORCPT_MAX	500	/* "type;value" as written */
#define SMTP_PARAM_ORCPT_TYPE_MAX 32	/* addr-type atom */

/* extensions the server offered; what the caller passes as ext */
enum smtp_param_ext {
	SMTP_PARAM_EXT_SIZE = 1 << 0,
	SMTP_PARAM_EXT_8BITMIME = 1 << 1,
	SMTP_PARAM_EXT_SMTPUTF8 = 1 << 2,
	SMTP_PARAM_EXT_DSN = 1 << 3,
	SMTP_PARAM_EXT_AUTH = 1 << 4,
	SMTP_PARAM_EXT_REQUIRETLS = 1 << 5,
};

enum smtp_param_status {
	SMTP_PARAM_OK = 0,
	SMTP_PARAM_EUNKNOWN,	/* 555: not a parameter of this command */
	SMTP_PARAM_EDISABLED,	/* 555: extension not offered */
	SMTP_PARAM_EDUP,	/* 501: given twice */
	SMTP_PARAM_EVALUE,	/* 501: bad or missing value */
	SMTP_PARAM_ESYNTAX,	/* 501: not keyword[=value] */
	SMTP_PARAM_NSTATUS
};

enum smtp_param_body {
	SMTP_PARAM_BODY_NONE = 0,	/* not given */
	SMTP_PARAM_BODY_7BIT,
	SMTP_PARAM_BODY_8BITMIME,
};

enum smtp_param_ret {
	SMTP_PARAM_RET_NONE = 0,	/* not given */
	SMTP_PARAM_RET_FULL,
	SMTP_PARAM_RET_HDRS,
};

enum smtp_param_notify {
	SMTP_PARAM_NOTIFY_NEVER = 1 << 0,
	SMTP_PARAM_NOTIFY_SUCCESS = 1 << 1,
	SMTP_PARAM_NOTIFY_FAILURE = 1 << 2,
	SMTP_PARAM_NOTIFY_DELAY = 1 << 3,
};

enum smtp_param_orcpt_type {
	SMTP_PARAM_ORCPT_NONE = 0,	/* not given */
	SMTP_PARAM_ORCPT_RFC822,
	SMTP_PARAM_ORCPT_UTF8,
	SMTP_PARAM_ORCPT_OTHER,		/* another atom: xtext decoded, not interpreted */
};

struct smtp_param_mail {
	bool size_given;
	uint64_t size;				/* saturates at UINT64_MAX */
	enum smtp_param_body body;
	bool smtputf8;
	enum smtp_param_ret ret;
	bool envid_given;
	char envid[SMTP_PARAM_ENVID_MAX + 1];	/* decoded */
	bool auth_given;
	bool auth_null;				/* AUTH=<> */
	char auth[SMTP_ADDR_TEXT_MAX + 1];	/* decoded mailbox, "" for <> */
	bool requiretls;
};

struct smtp_param_rcpt {
	unsigned notify;			/* smtp_param_notify bits; 0 = not given */
	enum smtp_param_orcpt_type orcpt_type;
	char orcpt_type_name[SMTP_PARAM_ORCPT_TYPE_MAX + 1];	/* as written */
	char orcpt_addr[SMTP_PARAM_ORCPT_MAX + 1];	/* decoded (UTF-8 for utf-8) */
	char orcpt_raw[SMTP_PARAM_ORCPT_MAX + 1];	/* "type;xtext" as written */
};

/*
 * smtp_param_parse_mail - parameters s[len] of MAIL (addr.params), with
 * the extensions ext offered. Returns SMTP_PARAM_OK or a status, with the
 * reply in *err (when not NULL; err->item is the offending parameter).
 */
enum smtp_param_status smtp_param_parse_mail(const char *s, size_t len, unsigned ext,
					     struct smtp_param_mail *out,
					     struct smtp_addr_reply *err);
/*
 * smtp_param_parse_rcpt - parameters s[len] of RCPT; smtputf8 says the
 * transaction's MAIL had SMTPUTF8 (raw UTF-8 allowed in ORCPT values).
 */
enum smtp_param_status smtp_param_parse_rcpt(const char *s, size_t len, unsigned ext,
					     bool smtputf8, struct smtp_param_rcpt *out,
					     struct smtp_addr_reply *err);
/* smtp_param_reply - the generic reply for a status */
void smtp_param_reply(enum smtp_param_status st, struct smtp_addr_reply *err);

/*
 * smtp_param_mail_cmd - the whole MAIL argument arg[len] ("FROM:<a@b>
 * SIZE=10"): path with addr_flags (SMTP_ADDR_F_UTF8 is added when
 * SMTPUTF8 is offered), parameters, and 553 5.6.7 for a non-ASCII address
 * without SMTPUTF8. Returns 0, or -1 with the reply in *err.
 */
int smtp_param_mail_cmd(const char *arg, size_t len, unsigned ext, unsigned addr_flags,
			struct smtp_addr *addr, struct smtp_param_mail *p,
			struct smtp_addr_reply *err);
/*
 * smtp_param_rcpt_cmd - the whole RCPT argument; smtputf8 says the
 * transaction's MAIL had SMTPUTF8 (else a non-ASCII address is 553 5.6.7).
 */
int smtp_param_rcpt_cmd(const char *arg, size_t len, unsigned ext, unsigned addr_flags,
			bool smtputf8, struct smtp_addr *addr, struct smtp_param_rcpt *p,
			struct smtp_addr_reply *err);

/*
 * smtp_param_notify_text - NOTIFY bits as the parameter value
 * ("SUCCESS,FAILURE") into dst[size]; its length, or -1 when notify is 0,
 * not a valid combination, or does not fit. For the SMTP client.
 */
int smtp_param_notify_text(unsigned notify, char *dst, size_t size);

#endif
