/*
 * params - the parameter registry, generated from params/global.def and
 * params/all_groups.h with X-macros; see config.h.
 *
 * Invariants: param_groups[0] is the global group (tern.conf); the list
 * ends with NULL; every name is unique over all groups (a unit test walks
 * the registry to check it, and that every default expands and converts).
 * Unit tests may swap in a registry of their own with
 * param_registry_set(); everything here looks names up through
 * param_registry(), never through param_groups directly.
 */
#include <stddef.h>
#include <string.h>

#include "base/str.h"
#include "mail/config.h"

/* the global group */
static const struct param_def param_defs_global[] = {
#define PARAM(name, type, def, lo, hi, doc) \
	{ #name, PT_##type, def, lo, hi, doc, offsetof(struct params_global, name) },
#include "mail/params/global.def"
#undef PARAM
};

static const struct param_group param_group_global = {
	"global", "tern.conf", "every tern program", param_defs_global,
	sizeof(param_defs_global) / sizeof(param_defs_global[0]), sizeof(struct params_global),
};

/*
 * One definitions array and one group per GROUP block. PARAM_GROUP (set
 * by all_groups.h around each block) gives PARAM and GROUP_END the id.
 */
#define PARAMS_CAT_(a, b)	a##b
#define PARAMS_CAT(a, b)	PARAMS_CAT_(a, b)
#define PARAMS_STR_(a)		#a
#define PARAMS_STR(a)		PARAMS_STR_(a)

#define GROUP(id, file, who) \
	_Static_assert(_Generic((struct params_##id *) 0, \
		struct PARAMS_CAT(params_, PARAM_GROUP) *: 1, default: 0), \
		"all_groups.h: PARAM_GROUP differs from the GROUP id " #id); \
	static const char param_file_##id[] = file; \
	static const char param_who_##id[] = who; \
	static const struct param_def param_defs_##id[] = {
#define PARAM(name, type, def, lo, hi, doc) \
	{ #name, PT_##type, def, lo, hi, doc, \
	  offsetof(struct PARAMS_CAT(params_, PARAM_GROUP), name) },
#define GROUP_END \
	}; \
	static const struct param_group PARAMS_CAT(param_group_, PARAM_GROUP) = { \
		PARAMS_STR(PARAM_GROUP), PARAMS_CAT(param_file_, PARAM_GROUP), \
		PARAMS_CAT(param_who_, PARAM_GROUP), PARAMS_CAT(param_defs_, PARAM_GROUP), \
		sizeof(PARAMS_CAT(param_defs_, PARAM_GROUP)) / sizeof(struct param_def), \
		sizeof(struct PARAMS_CAT(params_, PARAM_GROUP)), \
	};
#include "mail/params/all_groups.h"
#undef GROUP
#undef GROUP_END
#undef PARAM

const struct param_group *const param_groups[] = {
	&param_group_global,
#define GROUP(id, file, who)
#define PARAM(name, type, def, lo, hi, doc)
#define GROUP_END &PARAMS_CAT(param_group_, PARAM_GROUP),
#include "mail/params/all_groups.h"
#undef GROUP
#undef GROUP_END
#undef PARAM
	NULL,
};

static const struct param_group *const *param_active = param_groups;

/* param_registry_set - use another registry; NULL restores the built-in one */
void param_registry_set(const struct param_group *const *groups)
{
	param_active = groups ? groups : param_groups;
}

/* param_registry - the registry in use */
const struct param_group *const *param_registry(void)
{
	return param_active;
}

/* param_group_find - a group by id ("global", "smtpd", ...) */
const struct param_group *param_group_find(const char *id)
{
	for (size_t i = 0; param_active[i]; i++)
		if (strcmp(param_active[i]->id, id) == 0)
			return param_active[i];
	return NULL;
}

/* param_def_in - the definition of name in one group, or NULL */
const struct param_def *param_def_in(const struct param_group *g, const char *name)
{
	for (size_t j = 0; j < g->ndefs; j++)
		if (strcmp(g->defs[j].name, name) == 0)
			return &g->defs[j];
	return NULL;
}

/* param_find - the definition of name in any group */
const struct param_def *param_find(const char *name, const struct param_group **group)
{
	for (size_t i = 0; param_active[i]; i++) {
		const struct param_def *d = param_def_in(param_active[i], name);

		if (d) {
			if (group)
				*group = param_active[i];
			return d;
		}
	}
	return NULL;
}

/*
 * param_suggest - the closest known name, when it is close enough to be
 * a likely typo: at most one edit in four characters, never more than 3
 */
const char *param_suggest(const char *name)
{
	const char *best = NULL;
	int best_d = 0;
	int allowed = (int) ((strlen(name) + 2) / 4);

	if (allowed < 1)
		allowed = 1;
	if (allowed > 3)
		allowed = 3;
	for (size_t i = 0; param_active[i]; i++)
		for (size_t j = 0; j < param_active[i]->ndefs; j++) {
			int d = str_distance(name, param_active[i]->defs[j].name);

			if (d <= allowed && (best == NULL || d < best_d)) {
				best = param_active[i]->defs[j].name;
				best_d = d;
			}
		}
	return best;
}

/* param_group_for_program - the group whose "who" list names program */
const struct param_group *param_group_for_program(const char *program)
{
	/* param_active[0] is global: read by all, named by none */
	for (size_t i = 1; param_active[i]; i++) {
		const char *p = param_active[i]->who;
		size_t want = strlen(program);

		while (*p) {
			size_t n;

			p += strspn(p, ", \t");
			n = strcspn(p, ", \t");
			if (n > 0 && n == want && strncmp(p, program, n) == 0)
				return param_active[i];
			p += n;
		}
	}
	return NULL;
}

/* param_type_name - the type as the man page names it */
const char *param_type_name(enum param_type type)
{
	static const char *const names[] = {
		[PT_STR] = "string", [PT_INT] = "integer", [PT_BOOL] = "boolean",
		[PT_TIME] = "time", [PT_SIZE] = "size", [PT_LIST] = "list", [PT_TABLES] = "tables",
	};

	return (size_t) type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}
