/*
 * all_groups.h - expands every per-daemon group's .def file between
 * GROUP(id, file, who) and GROUP_END. Included by config.h (to declare
 * the structs) and by params.c (to build the registry) with different
 * definitions of GROUP, GROUP_END and PARAM. Add one block per group:
 *
 *	GROUP(smtpd, "smtpd.conf", "smtpd, screen")
 *	#include "mail/params/smtpd.def"
 *	GROUP_END
 */
