/*
 * all_groups.h - expands every per-daemon group's .def file between
 * GROUP(id, file, who) and GROUP_END. Included by config.h (to declare
 * the structs) and by params.c (to build the registry) with different
 * definitions of GROUP, GROUP_END and PARAM.
 *
 * Add one block per group, in this shape (PARAM_GROUP repeats the id: a
 * PARAM line does not name its group, and params.c needs it to find the
 * member's offset; params.c checks at compile time that the two agree):
 *
 *	#define PARAM_GROUP smtpd
 *	GROUP(smtpd, "smtpd.conf", "smtpd, screen")
 *	#include "mail/params/smtpd.def"
 *	GROUP_END
 *	#undef PARAM_GROUP
 *
 * "who" lists the programs (master.conf commands) that read the file,
 * separated by commas or spaces; param_group_for_program() looks there.
 * Every parameter name must be unique over all groups, and each group's
 * parameters must be documented in man/man5/tern.conf.5 or in
 * man/man5/<file>.5 (t/12-ternconf.t checks both names and defaults).
 */

#define PARAM_GROUP smtpd
GROUP(smtpd, "smtpd.conf", "smtpd, screen")
#include "mail/params/smtpd.def"
GROUP_END
#undef PARAM_GROUP

#define PARAM_GROUP qmgr
GROUP(qmgr, "qmgr.conf", "cleanup, pickup, qmgr, bounce, proxymap")
#include "mail/params/qmgr.def"
GROUP_END
#undef PARAM_GROUP

#define PARAM_GROUP delivery
GROUP(delivery, "delivery.conf", "local, virtual, smtp, lmtp, sts")
#include "mail/params/delivery.def"
GROUP_END
#undef PARAM_GROUP
