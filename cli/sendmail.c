/*
 * sendmail - the Sendmail-compatible command line of tern: local
 * submission for cron, mail user agents, scripts and PHP's mail(); also
 * "mailq" (= sendmail -bp) and "newaliases" (= sendmail -bi) when called
 * by those names. See sendmail(1).
 *
 * The mail mode: options; configuration (-C/-c DIR, else
 * $TERN_CONFIG_DIR, else /etc/tern); the sender (-f, else the login name
 * of the real uid at myorigin); the recipients (command line, and with
 * -t the headers); the message from standard input; then one hand-off
 * (sendmail_submit.c), and the exit code says how it went: 0 only when
 * the message is on disk, in the queue or in the maildrop.
 *
 * Failures are printed as "sendmail: error: ..." with a sysexits.h code:
 * 64 usage (and no recipients), 65 bad address or message data, 67
 * unknown user, 69 refused, 71 no login name, 74 input error, 75 try
 * again later, 77 not allowed, 78 configuration.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/addr_list.h"
#include "mail/cleanup_proto.h"
#include "mail/maildrop.h"
#include "mail/smtp_addr.h"
#include "sendmail.h"

/* sendmail_usage - the synopsis; EX_USAGE */
static int sendmail_usage(const char *why)
{
	if (why != NULL)
		msg_error("%s", why);
	fprintf(stderr,
		"usage: sendmail [-C DIR] [-t] [-i] [-f sender] [-F name] [-N dsn] [-R ret] [-V envid]\n"
		"                [-B type] [-v] [recipient ...]\n"
		"       sendmail -bs | -bv address ... | -bp | -bi   (also mailq, newaliases)\n");
	return EX_USAGE;
}

/* sendmail_env_init - an empty envelope */
void sendmail_env_init(struct sendmail_env *env)
{
	memset(env, 0, sizeof(*env));
}

/* sendmail_env_free - release the envelope; it is empty after */
void sendmail_env_free(struct sendmail_env *env)
{
	for (size_t i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].orcpt);
	}
	free(env->rcpts);
	free(env->sender);
	free(env->ret);
	free(env->envid);
	sendmail_env_init(env);
}

/* sendmail_env_rcpt - add a recipient once */
int sendmail_env_rcpt(struct sendmail_env *env, const char *addr, unsigned notify, const char *orcpt)
{
	struct sendmail_rcpt *r;

	for (size_t i = 0; i < env->nrcpts; i++)
		if (strcmp(env->rcpts[i].addr, addr) == 0)
			return 0;
	if (env->nrcpts == SENDMAIL_RCPT_MAX)
		return -1;
	if (env->nrcpts == env->cap) {
		env->cap = env->cap ? 2 * env->cap : 8;
		env->rcpts = xreallocarray(env->rcpts, env->cap, sizeof(*env->rcpts));
	}
	r = &env->rcpts[env->nrcpts++];
	r->addr = xstrdup(addr);
	r->notify = notify;
	r->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
	return 0;
}

/* sendmail_canon - an address in external form, qualified with myorigin */
int sendmail_canon(const struct sendmail *sm, const char *text, char *out, size_t size, bool *utf8,
		   char *err, size_t errlen)
{
	unsigned flags = SMTP_ADDR_F_UTF8 | SMTP_ADDR_F_UNQUALIFIED;
	struct smtp_addr a;
	enum smtp_addr_status st;
	char *qualified = NULL;

	st = smtp_addr_parse_mailbox(text, strlen(text), flags, &a);
	if (st == SMTP_ADDR_OK && a.unqualified) {
		qualified = str_dupf("%s@%s", text, sm->cfg.global.myorigin);
		st = smtp_addr_parse_mailbox(qualified, strlen(qualified), flags, &a);
	}
	free(qualified);
	if (st != SMTP_ADDR_OK) {
		str_fmt(err, errlen, "bad address syntax: <%.300s>: %s", text, smtp_addr_strerror(st));
		return -1;
	}
	if (smtp_addr_external(&a, out, size) < 0) {
		str_fmt(err, errlen, "address too long: <%.300s>", text);
		return -1;
	}
	if (utf8 != NULL)
		*utf8 = a.utf8;
	return 0;
}

/* sendmail_rcpt_list - an address list into env */
int sendmail_rcpt_list(const struct sendmail *sm, struct sendmail_env *env, const char *text,
		       size_t len, char *err, size_t errlen)
{
	struct addr_list l;
	char why[256];
	int ret = EX_OK;

	addr_list_init(&l);
	if (addr_list_parse(&l, text, len, why, sizeof(why)) < 0) {
		str_fmt(err, errlen, "bad address list \"%.200s\": %s", text, why);
		addr_list_free(&l);
		return EX_DATAERR;
	}
	for (size_t i = 0; i < l.count && ret == EX_OK; i++) {
		char addr[SMTP_ADDR_TEXT_MAX + 1];
		bool utf8 = false;

		if (sendmail_canon(sm, l.addrs[i], addr, sizeof(addr), &utf8, err, errlen) < 0) {
			ret = EX_DATAERR;
		} else if (sendmail_env_rcpt(env, addr, sm->notify, NULL) < 0) {
			str_fmt(err, errlen, "more than %d recipients in one message", SENDMAIL_RCPT_MAX);
			ret = EX_USAGE;
		} else if (utf8) {
			env->flags |= CLEANUP_FLAG_SMTPUTF8;
		}
	}
	addr_list_free(&l);
	return ret;
}

/* sendmail_notify - "-N success,delay" to CLEANUP_NOTIFY_* bits; 0 bad */
static unsigned sendmail_notify(const char *arg)
{
	char *copy = xstrdup(arg);
	char *p = copy, *tok;
	unsigned bits = 0;

	while ((tok = str_token(&p, ", \t")) != NULL) {
		if (str_eq_nocase(tok, "never"))
			bits |= CLEANUP_NOTIFY_NEVER;
		else if (str_eq_nocase(tok, "success"))
			bits |= CLEANUP_NOTIFY_SUCCESS;
		else if (str_eq_nocase(tok, "failure"))
			bits |= CLEANUP_NOTIFY_FAILURE;
		else if (str_eq_nocase(tok, "delay"))
			bits |= CLEANUP_NOTIFY_DELAY;
		else
			bits = 0x100;	/* invalid */
	}
	free(copy);
	if ((bits & CLEANUP_NOTIFY_NEVER) && bits != CLEANUP_NOTIFY_NEVER)
		return 0;
	return bits & 0x100 ? 0 : bits;
}

/* sendmail_envid_ok - -V: 1..100 printable ASCII characters */
static bool sendmail_envid_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 100)
		return false;
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			return false;
	return true;
}

/* sendmail_o - a -o option: -oi counts, the classic ones are ignored, others warned about */
static void sendmail_o(struct sendmail *sm, const char *arg)
{
	if (strcmp(arg, "i") == 0) {
		sm->ignore_dots = true;
		return;
	}
	/* -oe? (error mode), -om (me too), -oo (old headers), -od? (delivery mode), -o7/-o8, -ob */
	if (arg[0] != '\0' && strchr("emod78b", arg[0]) != NULL)
		return;
	msg_warn("-o%s: option ignored", arg);
}

/* sendmail_mode - the -b argument */
static int sendmail_mode(struct sendmail *sm, const char *arg)
{
	static const struct {
		const char *name;
		enum sendmail_mode mode;
	} modes[] = {
		{"m", SENDMAIL_MAIL}, {"s", SENDMAIL_SMTP}, {"v", SENDMAIL_VERIFY},
		{"p", SENDMAIL_QUEUE}, {"i", SENDMAIL_ALIASES},
	};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(arg, modes[i].name) == 0) {
			sm->mode = modes[i].mode;
			return 0;
		}
	}
	if (strcmp(arg, "d") == 0 || strcmp(arg, "D") == 0)
		msg_error("-b%s: daemon mode: start tern with \"ternctl start\"", arg);
	else
		msg_error("-b%s: unsupported mode (supported: -bm -bs -bv -bp -bi)", arg);
	return -1;
}

/* sendmail_config_dir - -C FILE means its directory; -C DIR the directory */
static const char *sendmail_config_dir(const char *arg)
{
	struct stat st;
	char *slash;

	if (stat(arg, &st) == 0 && S_ISREG(st.st_mode) && (slash = strrchr(arg, '/')) != NULL) {
		static char dir[4096];

		if (slash == arg)
			return "/";
		if (str_fmt(dir, sizeof(dir), "%.*s", (int) (slash - arg), arg) == 0)
			return dir;
	}
	return arg;
}

/* sendmail_options - the command line; 0, or an exit code */
static int sendmail_options(struct sendmail *sm, int argc, char **argv)
{
	int ch;

	opterr = 0;
	while ((ch = getopt(argc, argv, "+B:b:C:c:e:F:f:Gh:IiL:mN:nO:o:p:q::R:r:tUV:vX:x")) != -1) {
		switch (ch) {
		case 'B':
			if (str_eq_nocase(optarg, "8BITMIME"))
				sm->body_8bit = true;
			else if (!str_eq_nocase(optarg, "7BIT"))
				return sendmail_usage("-B: body type must be 7BIT or 8BITMIME");
			break;
		case 'b':
			if (sendmail_mode(sm, optarg) < 0)
				return strcmp(optarg, "d") == 0 ? EX_UNAVAILABLE : EX_USAGE;
			break;
		case 'C':
		case 'c':
			sm->config_dir = sendmail_config_dir(optarg);
			break;
		case 'F':
			if (strlen(optarg) > SENDMAIL_NAME_MAX)
				return sendmail_usage("-F: full name too long");
			sm->full_name = optarg;
			break;
		case 'f':
		case 'r':
			sm->sender_arg = optarg;
			break;
		case 'I':
			sm->mode = SENDMAIL_ALIASES;
			break;
		case 'i':
			sm->ignore_dots = true;
			break;
		case 'N':
			if ((sm->notify = sendmail_notify(optarg)) == 0)
				return sendmail_usage("-N: expected never, or one or more of success, failure, delay");
			break;
		case 'o':
			sendmail_o(sm, optarg);
			break;
		case 'O':
			msg_warn("-O %s: option ignored", optarg);
			break;
		case 'q':
			msg_error("-q%s: queue runs are not done by sendmail; tern delivers on its own",
				  optarg ? optarg : "");
			return EX_UNAVAILABLE;
		case 'R':
			if (str_eq_nocase(optarg, "full"))
				sm->ret = "FULL";
			else if (str_eq_nocase(optarg, "hdrs"))
				sm->ret = "HDRS";
			else
				return sendmail_usage("-R: expected full or hdrs");
			break;
		case 't':
			sm->extract = true;
			break;
		case 'V':
			if (!sendmail_envid_ok(optarg))
				return sendmail_usage("-V: envelope id must be 1 to 100 printable ASCII characters");
			sm->envid = optarg;
			break;
		case 'v':
			sm->verbose = true;
			break;
		case 'X':
			msg_warn("-X %s: option ignored", optarg);
			break;
		case 'e':	/* error mode */
		case 'G':	/* gateway submission */
		case 'h':	/* hop count */
		case 'L':	/* syslog label */
		case 'm':	/* me too */
		case 'n':	/* no aliasing */
		case 'p':	/* protocol */
		case 'U':	/* initial user submission */
		case 'x':
			break;
		default:
			if (optopt != 0 && strchr("BbCcFfNOoRrVXehLp", optopt) != NULL) {
				char why[64];

				str_fmt(why, sizeof(why), "-%c needs a value", optopt);
				return sendmail_usage(why);
			}
			return sendmail_usage("unknown option");
		}
	}
	sm->rcpt_args = argv + optind;
	sm->nrcpt_args = argc - optind;
	if (sm->full_name == NULL && getenv("NAME") != NULL && strlen(getenv("NAME")) <= SENDMAIL_NAME_MAX)
		sm->full_name = getenv("NAME");
	return 0;
}

/* sendmail_config - load tern.conf; 0 or EX_CONFIG */
static int sendmail_config(struct sendmail *sm)
{
	struct config_problems probs = {0};
	int ret = 0;

	memset(&sm->cfg, 0, sizeof(sm->cfg));
	if (config_load(&sm->cfg, sm->config_dir, NULL, NULL, sm->config_dir != NULL, &probs) != 0) {
		for (size_t i = 0; i < probs.count; i++)
			msg_error("%s: %s", probs.list[i].where, probs.list[i].text);
		ret = EX_CONFIG;
	}
	sm->size_limit = maildrop_content_limit(sm->cfg.global.message_size_limit);
	config_problems_free(&probs);
	return ret;
}

/* sendmail_sender - the envelope sender into env; EX_OK or an exit code */
static int sendmail_sender(const struct sendmail *sm, struct sendmail_env *env)
{
	char addr[SMTP_ADDR_TEXT_MAX + 1];
	char err[512];
	bool utf8 = false;

	if (sm->sender_arg == NULL) {
		if (sendmail_canon(sm, sm->login, addr, sizeof(addr), &utf8, err, sizeof(err)) < 0) {
			msg_error("login name %s: %s", sm->login, err);
			return EX_DATAERR;
		}
	} else {
		const char *s = sm->sender_arg;
		size_t n = strlen(s);
		char *bare;

		if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
			s++;
			n -= 2;
		}
		bare = xstrndup(s, n);
		if (bare[0] == '\0') {
			addr[0] = '\0';		/* the null sender */
		} else if (sendmail_canon(sm, bare, addr, sizeof(addr), &utf8, err, sizeof(err)) < 0) {
			msg_error("-f: %s", err);
			free(bare);
			return EX_DATAERR;
		}
		free(bare);
	}
	env->sender = xstrdup(addr);
	if (sm->ret != NULL)
		env->ret = xstrdup(sm->ret);
	if (sm->envid != NULL)
		env->envid = xstrdup(sm->envid);
	if (utf8)
		env->flags |= CLEANUP_FLAG_SMTPUTF8;
	return EX_OK;
}

/* sendmail_mail - the mail mode: read one message and submit it */
static int sendmail_mail(struct sendmail *sm)
{
	struct sendmail_env env;
	struct sendmail_msg m;
	struct sendmail_result res;
	char err[512] = "";
	int rc;

	sendmail_env_init(&env);
	sendmail_msg_init(&m, (size_t) sm->size_limit);
	if ((rc = sendmail_sender(sm, &env)) != EX_OK)
		goto out;
	if (sm->nrcpt_args == 0 && !sm->extract) {
		rc = sendmail_usage("no recipients: give them on the command line, or use -t");
		goto out;
	}
	for (int i = 0; i < sm->nrcpt_args; i++) {
		if ((rc = sendmail_rcpt_list(sm, &env, sm->rcpt_args[i], strlen(sm->rcpt_args[i]),
					     err, sizeof(err))) != EX_OK) {
			msg_error("%s", err);
			goto out;
		}
	}
	if ((rc = sendmail_msg_read(&m, STDIN_FILENO, sm->ignore_dots, err, sizeof(err))) != EX_OK ||
	    (rc = sendmail_msg_finish(sm, &m, &env, sm->extract, err, sizeof(err))) != EX_OK) {
		msg_error("%s", err);
		goto out;
	}
	if (env.nrcpts == 0) {
		msg_error("no recipient addresses found in the message header (-t)");
		rc = EX_USAGE;
		goto out;
	}
	rc = sendmail_submit(sm, &env, &m, &res);
	if (rc != EX_OK)
		msg_error("message not sent: %d %s %s", res.code, res.dsn, res.text);
	else if (sm->verbose)
		fprintf(stderr, "sendmail: queued as %s\n", res.queue_id);
out:
	sendmail_env_free(&env);
	sendmail_msg_free(&m);
	return rc;
}

/* sendmail_whoami - the real uid and its login name; 0 or EX_OSERR */
static int sendmail_whoami(struct sendmail *sm)
{
	struct passwd *pw;

	sm->uid = getuid();
	pw = getpwuid(sm->uid);
	if (pw == NULL || str_copy(sm->login, pw->pw_name, sizeof(sm->login)) < 0) {
		msg_error("no login name for uid %ld", (long) sm->uid);
		return EX_OSERR;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct sendmail sm;	/* reachable until exit */
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int rc;

	msg_init("sendmail");
	signal(SIGPIPE, SIG_IGN);
	umask(022);
	if (strcmp(base, "mailq") == 0) {
		msg_init("mailq");
		sm.mode = SENDMAIL_QUEUE;
	} else if (strcmp(base, "newaliases") == 0) {
		msg_init("newaliases");
		sm.mode = SENDMAIL_ALIASES;
	}
	if ((rc = sendmail_options(&sm, argc, argv)) != 0)
		return rc;
	if ((rc = sendmail_whoami(&sm)) != 0 || (rc = sendmail_config(&sm)) != 0)
		return rc;
	switch (sm.mode) {
	case SENDMAIL_SMTP:
		rc = sendmail_smtp(&sm);
		break;
	case SENDMAIL_VERIFY:
		rc = sendmail_verify(&sm);
		break;
	case SENDMAIL_QUEUE:
		rc = sendmail_admin_mailq(&sm);
		break;
	case SENDMAIL_ALIASES:
		rc = sendmail_admin_newaliases(&sm);
		break;
	case SENDMAIL_MAIL:
	default:
		rc = sendmail_mail(&sm);
		break;
	}
	config_free(&sm.cfg);
	return rc;
}
