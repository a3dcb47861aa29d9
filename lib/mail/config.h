/*
 * config - tern's parameters: definitions, files, overrides, typed values.
 *
 * Every parameter is declared once, in an X-macro file under params/
 * (params/global.def for tern.conf, params/<group>.def for each daemon
 * file such as smtpd.conf), as
 *
 *	PARAM(name, TYPE, "default as config text", min, max, "one-line doc")
 *
 * TYPE is STR, INT, BOOL, TIME (seconds; units s m h d w), SIZE (bytes;
 * units k M G), LIST (comma/space separated words) or TABLES (a list of
 * "type:name" lookup table references). min/max bound INT, TIME and SIZE
 * values and are ignored for the others. Defaults may refer to other
 * parameters ($name, ${name}); "$$" is a literal dollar.
 *
 * From the same .def files come the typed structs below, the registry that
 * ternconf and "ternctl check" walk, and the check that the man pages list
 * every parameter with its default.
 *
 * Precedence, lowest first: built-in default, tern.conf (global
 * parameters only), the group's own file (its own and global parameters),
 * master.conf "-o name=value" overrides of the service. Files use
 * "name = value", '#' comments at the start of a line, and continuation
 * lines that start with white space. After all sources are read, values
 * are expanded ($name) and converted to their types; expansion loops and
 * references to unknown names are errors.
 *
 * Errors never exit from here: they are collected, each with the file and
 * line (or "-o" or "default"), so "ternctl check" can list all of them and
 * a daemon can report the first and stop (config_load_or_die).
 */
#ifndef TERN_MAIL_CONFIG_H
#define TERN_MAIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define PARAM_CTYPE_STR		char *
#define PARAM_CTYPE_INT		long long
#define PARAM_CTYPE_BOOL	bool
#define PARAM_CTYPE_TIME	long long
#define PARAM_CTYPE_SIZE	long long
#define PARAM_CTYPE_LIST	char **		/* NULL-terminated, never NULL itself */
#define PARAM_CTYPE_TABLES	char **		/* NULL-terminated "type:name" */

enum param_type { PT_STR, PT_INT, PT_BOOL, PT_TIME, PT_SIZE, PT_LIST, PT_TABLES };

/* params_global - every parameter of tern.conf */
struct params_global {
#define PARAM(name, type, def, lo, hi, doc) PARAM_CTYPE_##type name;
#include "mail/params/global.def"
#undef PARAM
};

/*
 * Per-daemon groups. params/all_groups.h lists them as
 *	GROUP(id, "file.conf", "services that read it")
 * and each has params/<id>.def; the struct is struct params_<id>.
 */
#define PARAM(name, type, def, lo, hi, doc) PARAM_CTYPE_##type name;
#define GROUP(id, file, who) struct params_##id {
#define GROUP_END };
#include "mail/params/all_groups.h"
#undef GROUP
#undef GROUP_END
#undef PARAM

/* param_def - one parameter, as declared in its .def file */
struct param_def {
	const char *name;
	enum param_type type;
	const char *defval;		/* config text, before expansion */
	long long min, max;
	const char *doc;
	size_t offset;			/* of the value in its group struct */
};

/* param_group - tern.conf ("global") or one daemon file */
struct param_group {
	const char *id;			/* "global", "smtpd", ... */
	const char *file;		/* "tern.conf", "smtpd.conf", ... */
	const char *who;		/* services that read it, for docs */
	const struct param_def *defs;
	size_t ndefs;
	size_t size;			/* sizeof(struct params_<id>) */
};

/* the registry: param_groups[0] is global; NULL-terminated */
extern const struct param_group *const param_groups[];
/*
 * param_registry - the registry in use: param_groups, unless a unit test
 * installed its own with param_registry_set (NULL restores param_groups;
 * groups[0] must be param_groups[0]). Everything below goes through it.
 */
const struct param_group *const *param_registry(void);
void param_registry_set(const struct param_group *const *groups);
/* param_group_find - a group by id ("global", "smtpd"), or NULL */
const struct param_group *param_group_find(const char *id);
/* param_def_in - the definition of name in group g, or NULL */
const struct param_def *param_def_in(const struct param_group *g, const char *name);
/* param_find - the definition of name in any group (and its group), or NULL */
const struct param_def *param_find(const char *name, const struct param_group **group);
/* param_suggest - the closest known name (for did-you-mean), or NULL */
const char *param_suggest(const char *name);
/* param_type_name - "string", "integer", "boolean", "time", "size", "list", "tables" */
const char *param_type_name(enum param_type type);
/*
 * param_group_for_program - the group a program reads ("smtpd" -> the
 * smtpd group, from the GROUP "who" list), or NULL: global only
 */
const struct param_group *param_group_for_program(const char *program);

/* config_problem_add - append a problem (where and printf-style text) */
struct config_problems;
void config_problem_add(struct config_problems *probs, const char *where,
			const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* config_problem - one error, with where it came from */
struct config_problem {
	char *where;			/* "/etc/tern/smtpd.conf:12", "master.conf:7 -o", "default" */
	char *text;			/* "unknown parameter 'myhostnme' (did you mean 'myhostname'?)" */
};

/*
 * config_problems - start zeroed ({0}); at most CONFIG_PROBLEMS_MAX are
 * kept, the rest are only counted in dropped (a file of garbage must not
 * make a list of millions)
 */
#define CONFIG_PROBLEMS_MAX	200
struct config_problems {
	struct config_problem *list;
	size_t count;
	size_t dropped;
};

/* config_value - one effective setting, for ternconf and logging */
struct config_value {
	const struct param_def *def;
	const struct param_group *group;
	char *raw;			/* as written (or the default), before expansion */
	char *expanded;			/* after $name expansion */
	char *where;			/* "default", "/etc/tern/tern.conf:3", "-o" */
	bool set;			/* set in a file or by -o (what ternconf -n shows) */
};

/* config - everything one process knows about its parameters */
struct config {
	char *dir;			/* the configuration directory */
	const struct param_group *group;/* the daemon's group, or NULL (global only) */
	struct params_global global;	/* typed values of tern.conf */
	void *own;			/* typed values of the group: struct params_<id> * */
	struct config_value *values;	/* global, then the group's; in .def order */
	size_t nvalues;
};

/*
 * config_load - read tern.conf and (when group is not NULL) the group's
 * file from dir, apply overrides ("name=value" strings, NULL-terminated;
 * may be NULL), expand and convert. Missing files are fine (defaults
 * apply) except tern.conf when require_main is set. Returns the number of
 * problems added to probs (0 on success); on problems, cfg still holds
 * defaults for whatever was wrong so callers that only report can go on.
 * dir NULL means config_dir_default(); group is a group id ("smtpd"), not
 * a program name (see param_group_for_program). cfg is always filled and
 * must be released with config_free.
 *
 * Details: a name set twice in one file takes the later value, as in
 * Postfix. config_directory cannot be set: its value is dir. An empty
 * myhostname becomes the system's host name; an empty mydomain becomes
 * myhostname without its first label ("localdomain" when it has none).
 * Expansion knows $name, ${name}, ${name?text} (text when name is not
 * empty), ${name:text} (text when name is empty) and "$$"; a '$' followed
 * by anything else is an error. LIST and TABLES values are split on
 * commas and white space, keeping "{...}" together; each TABLES element
 * must look like type:name. Expanded values are limited to
 * CONFIG_VALUE_MAX bytes.
 */
#define CONFIG_VALUE_MAX	(256 * 1024)
int config_load(struct config *cfg, const char *dir, const char *group,
		const char *const *overrides, bool require_main,
		struct config_problems *probs);
/* config_load_or_die - config_load, then msg_fatal with the first problem */
void config_load_or_die(struct config *cfg, const char *dir, const char *group,
			const char *const *overrides);
void config_free(struct config *cfg);
void config_problems_free(struct config_problems *probs);

/* config_value_find - the effective setting of name (global or own group), or NULL */
const struct config_value *config_value_find(const struct config *cfg, const char *name);

/* config_dir_default - $TERN_CONFIG_DIR, else the compiled-in /etc/tern */
const char *config_dir_default(void);
/* config_file_path - "dir/file" without a doubled '/' (free it) */
char *config_file_path(const char *dir, const char *file);

/*
 * config_edit - set name = value in the right file under dir (NULL:
 * config_dir_default()): tern.conf for a global parameter, the group's
 * file for a daemon parameter. The first line that sets it (and its
 * continuation lines) is replaced and later ones dropped, comments and
 * other lines are kept, a new parameter is appended; the file is replaced
 * atomically (write, fsync, rename) keeping its mode (and owner, as root),
 * with concurrent editors serialised by a lock on "<file>.tmp". Refuses
 * unknown names, config_directory, multi-line values, and any value that
 * would add a problem to the configuration (bad type or range, unknown
 * $reference, loop, or breaking a value that refers to it); problems
 * already there do not block it. Returns 0, or -1 with a message in
 * err[errlen].
 */
int config_edit(const char *dir, const char *name, const char *value,
		char *err, size_t errlen);

#endif
