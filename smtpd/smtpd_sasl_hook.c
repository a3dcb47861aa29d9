/*
 * smtpd_sasl_hook - where AUTH abuse leaves smtpd: the one function
 * called for every failed AUTH, and the one called for an AUTH probe on
 * the MTA port (smtpd_auth_on_mta_port = no, smtpd_auth_probe_ban =
 * yes).
 *
 * Contract for the screen service (issue 6, "screen service and its
 * defences"): smtpd_sasl_hook_failure is the single place every failed
 * AUTH passes through, with everything the auth-failure log needs (the
 * client, the service it came to, the session id, the account tried or
 * "none", the mechanism, the reason). smtpd_sasl_hook_probe is the
 * single place a client probing AUTH on port 25 passes through; the
 * caller closes the connection with 421 4.7.0 after it returns. Both run
 * on smtpd's event loop and must not block it: a screen client should
 * send its record without waiting for an answer (or with the short,
 * bounded wait the proxy: tables use).
 *
 * Both write the Postfix-shaped warning line to the mail log and send
 * the record to the screen service (smtpd_screen.c): AUTH_FAIL, whose
 * "banned" answer closes the session with 421 4.7.1 before its next
 * command, and AUTH_PROBE. Passwords never reach this file.
 */
#include "base/msg.h"
#include "smtpd.h"

/* smtpd_sasl_hook_failure - one failed AUTH: the record (today the log line) */
void smtpd_sasl_hook_failure(struct smtpd_session *s, const char *account, const char *mech,
			     const char *reason)
{
	/* Postfix: "host[addr]: SASL PLAIN authentication failed: reason, sasl_username=u" */
	msg_warn("%s: SASL %s authentication failed: %s, sasl_username=%s, service=%s, session=%s",
		 s->peer, mech, reason, account[0] ? account : "none", s->srv->service, s->id);
	smtpd_screen_auth_fail(s, account, mech, reason);
}

/* smtpd_sasl_hook_probe - AUTH tried where it is not offered: log, and the screen service bans */
void smtpd_sasl_hook_probe(struct smtpd_session *s)
{
	msg_warn("%s: AUTH probe on the MTA port (service=%s, session=%s): client to be banned; "
		 "disconnecting", s->peer, s->srv->service, s->id);
	smtpd_screen_probe(s);
}
