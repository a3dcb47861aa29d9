/*
 * pickup_begin - the envelope pickup passes to cleanup for a local
 * submission; see pickup.h. This is where a local user's frame stops
 * being trusted: only the fields below pass, each with its type checked,
 * and who sent it comes from the kernel (the socket peer, or the
 * maildrop file's owner), never from the frame.
 */
#include <string.h>

#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/maildrop.h"
#include "mail/smtp_addr.h"
#include "pickup.h"

/* what a local client may set */
#define PICKUP_CLIENT_FLAGS	(CLEANUP_FLAG_8BITMIME | CLEANUP_FLAG_SMTPUTF8)
#define PICKUP_NOTIFY_ALL	(CLEANUP_NOTIFY_NEVER | CLEANUP_NOTIFY_SUCCESS | CLEANUP_NOTIFY_FAILURE | \
				 CLEANUP_NOTIFY_DELAY)

/* the fields that pass, with their types */
static const struct {
	const char *name;
	enum attr_type type;
} pickup_fields[] = {
	{CLEANUP_SENDER, ATTR_STR}, {CLEANUP_RCPT, ATTR_STR}, {CLEANUP_RCPT_ORCPT, ATTR_STR},
	{CLEANUP_RCPT_NOTIFY, ATTR_INT}, {CLEANUP_RET, ATTR_STR}, {CLEANUP_ENVID, ATTR_STR},
	{CLEANUP_SIZE, ATTR_INT}, {CLEANUP_FLAGS, ATTR_INT},
};

/* pickup_value_ok - the checks beyond the type */
static bool pickup_value_ok(const struct attr *a)
{
	if (strcmp(a->name, CLEANUP_RET) == 0)
		return strcmp(a->value, "FULL") == 0 || strcmp(a->value, "HDRS") == 0;
	if (strcmp(a->name, CLEANUP_RCPT_NOTIFY) == 0)
		return (a->num & ~(int64_t) PICKUP_NOTIFY_ALL) == 0;
	if (strcmp(a->name, CLEANUP_SIZE) == 0)
		return a->num >= 0;
	return true;
}

/* pickup_addr_ok - a sender ("" allowed) or recipient address: a mailbox with a domain */
static bool pickup_addr_ok(const struct attr *a, bool sender)
{
	struct smtp_addr sa;

	if (sender && a->len == 0)
		return true;
	return smtp_addr_parse_mailbox(a->value, a->len, SMTP_ADDR_F_UTF8, &sa) == SMTP_ADDR_OK;
}

/* pickup_begin - the frame for cleanup */
int pickup_begin(const struct attr_list *in, uid_t uid, const char *service, struct attr_list *out,
		 struct pickup_refusal *no, char *err, size_t errlen)
{
	int64_t flags = 0;

	no->code = 0;
	if (maildrop_check_begin(in, err, errlen) < 0)
		return -1;
	attr_list_reset(out);
	attr_add_str(out, CLEANUP_OP, CLEANUP_OP_BEGIN);
	for (size_t i = 0; i < attr_count(in); i++) {
		const struct attr *a = attr_at(in, i);

		for (size_t f = 0; f < sizeof(pickup_fields) / sizeof(pickup_fields[0]); f++) {
			if (strcmp(a->name, pickup_fields[f].name) != 0)
				continue;
			if (a->type != pickup_fields[f].type || !pickup_value_ok(a)) {
				str_fmt(err, errlen, "bad value of attribute \"%s\"", a->name);
				return -1;
			}
			if ((strcmp(a->name, CLEANUP_SENDER) == 0 || strcmp(a->name, CLEANUP_RCPT) == 0) &&
			    no->code == 0 && !pickup_addr_ok(a, strcmp(a->name, CLEANUP_SENDER) == 0)) {
				bool is_sender = strcmp(a->name, CLEANUP_SENDER) == 0;

				no->code = 501;
				str_copy(no->dsn, is_sender ? "5.1.7" : "5.1.3", sizeof(no->dsn));
				str_fmt(no->text, sizeof(no->text), "Error: bad %s address syntax: <%.200s>",
					is_sender ? "sender" : "recipient", pickup_printable(a->value));
			}
			if (strcmp(a->name, CLEANUP_FLAGS) == 0)
				flags = a->num & PICKUP_CLIENT_FLAGS;
			else if (a->type == ATTR_STR)
				attr_add_strn(out, a->name, a->value, a->len);
			else
				attr_add_int(out, a->name, a->num);
		}
	}
	attr_add_int(out, CLEANUP_FLAGS, flags | CLEANUP_FLAG_SUBMISSION);
	attr_add_str(out, CLEANUP_PROTOCOL, "local");
	attr_add_str(out, CLEANUP_CLIENT_ADDR, "");
	attr_add_int(out, CLEANUP_ORIGIN_UID, (int64_t) uid);
	attr_add_str(out, CLEANUP_SERVICE, service);
	if (attr_list_error(out) != NULL) {
		str_fmt(err, errlen, "envelope too large: %s", attr_list_error(out));
		return -1;
	}
	if (no->code != 0) {
		str_fmt(err, errlen, "%d %s %s", no->code, no->dsn, no->text);
		return 1;
	}
	return 0;
}

/* pickup_printable - for log lines; four calls may share one line */
const char *pickup_printable(const char *s)
{
	static char ring[4][301];
	static unsigned next;
	char *out = ring[next++ % 4];
	size_t i;

	for (i = 0; s[i] != '\0' && i < sizeof(ring[0]) - 1; i++)
		out[i] = (unsigned char) s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[i] = '\0';
	return out;
}
