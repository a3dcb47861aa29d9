/*
 * config - load tern's parameters: files, overrides, $name expansion and
 * typed values; see config.h for the contract.
 *
 * config_load runs in three steps over one array of values (global
 * parameters, then the group's, in .def order):
 *
 *   1. collect raw text: defaults, tern.conf, the group file, overrides
 *      (later sources replace earlier ones; each value remembers where);
 *   2. expand every value, recursively and memoized: a value is RAW,
 *      BUSY (being expanded: meeting it again is a loop) or DONE;
 *   3. convert each expanded value to its type, into struct
 *      params_global or the group's struct.
 *
 * Every error becomes a config_problem naming file:line and the
 * parameter; the value then falls back to its default (expanded and
 * converted quietly) so callers that only report can go on. Nothing here
 * exits, except config_load_or_die.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cfgfile.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/config.h"

#define CONFIG_NEST_MAX		20	/* ${a?${b?...}} depth */
#define CONFIG_PROBLEM_MAX	1024	/* bytes of one problem text */
#define CONFIG_QUOTE_MAX	60	/* bytes of a bad value shown in a message */
#define CONFIG_LIST_SEP		", \t\r\n"

enum config_state { CONFIG_RAW, CONFIG_BUSY, CONFIG_DONE };

/* config_ctx - the state of one config_load */
struct config_ctx {
	struct config *cfg;
	struct config_problems *probs;
	unsigned char *state;		/* enum config_state per value */
	size_t *stack;			/* values being expanded, outermost first */
	size_t depth;
};

/* config_problem_add - append one problem, or count it when the list is full */
void config_problem_add(struct config_problems *probs, const char *where, const char *fmt, ...)
{
	char text[CONFIG_PROBLEM_MAX];
	va_list ap;

	if (probs->count >= CONFIG_PROBLEMS_MAX) {
		probs->dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	probs->list = xreallocarray(probs->list, probs->count + 1, sizeof(probs->list[0]));
	probs->list[probs->count].where = xstrdup(where);
	probs->list[probs->count].text = xstrdup(text);
	probs->count++;
}

/* config_problems_free - release the list; probs is empty after */
void config_problems_free(struct config_problems *probs)
{
	for (size_t i = 0; i < probs->count; i++) {
		free(probs->list[i].where);
		free(probs->list[i].text);
	}
	free(probs->list);
	probs->list = NULL;
	probs->count = 0;
	probs->dropped = 0;
}

/* config_dir_default - $TERN_CONFIG_DIR, else the compiled-in directory */
const char *config_dir_default(void)
{
	const char *env = getenv("TERN_CONFIG_DIR");

	return env && *env ? env : TERN_SYSCONFDIR;
}

/* config_file_path - join dir and file */
char *config_file_path(const char *dir, const char *file)
{
	size_t n = strlen(dir);

	return str_dupf("%s%s%s", dir, n > 0 && dir[n - 1] == '/' ? "" : "/", file);
}

/* config_quote - a short printable excerpt of a value, for messages */
static const char *config_quote(const char *s, char *out, size_t size)
{
	size_t i = 0;

	for (; s[i] && i < CONFIG_QUOTE_MAX && i + 4 < size; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i] && i + 4 < size) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* config_index - the index of name in cfg->values, or -1 */
static long config_index(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nvalues; i++)
		if (strcmp(cfg->values[i].def->name, name) == 0)
			return (long) i;
	return -1;
}

/* config_value_find - the effective setting of name, or NULL */
const struct config_value *config_value_find(const struct config *cfg, const char *name)
{
	long i = config_index(cfg, name);

	return i < 0 ? NULL : &cfg->values[i];
}

/* config_field - where the typed value of values[i] lives */
static void *config_field(struct config *cfg, size_t i)
{
	const struct config_value *v = &cfg->values[i];
	char *base = v->group == param_registry()[0] ? (char *) &cfg->global : (char *) cfg->own;

	return base + v->def->offset;
}

/* config_set - give values[i] a new raw text and origin */
static void config_set(struct config *cfg, size_t i, const char *raw, const char *where, bool set)
{
	struct config_value *v = &cfg->values[i];

	free(v->raw);
	free(v->where);
	v->raw = xstrdup(raw);
	v->where = xstrdup(where);
	v->set = set;
}

/*
 * config_assign - one "name = value" from a file (file is its base name,
 * "tern.conf" or the group file) or from -o (file NULL)
 */
static void config_assign(struct config_ctx *ctx, const char *where, const char *file,
			  const char *name, const char *value)
{
	struct config *cfg = ctx->cfg;
	const struct param_group *global = param_registry()[0];
	const struct param_group *g = NULL;
	const struct param_def *d = param_find(name, &g);
	bool main_file = file != NULL && strcmp(file, global->file) == 0;

	if (d == NULL) {
		const char *near = param_suggest(name);

		if (near)
			config_problem_add(ctx->probs, where, "unknown parameter '%s' (did you mean '%s'?)",
					   name, near);
		else
			config_problem_add(ctx->probs, where, "unknown parameter '%s'", name);
		return;
	}
	if (g != global && (main_file || g != cfg->group)) {
		if (file)
			config_problem_add(ctx->probs, where,
					   "parameter '%s' belongs in %s (read by %s), not in %s",
					   name, g->file, g->who, file);
		else
			config_problem_add(ctx->probs, where,
					   "parameter '%s' belongs in %s (read by %s), which this program does not read",
					   name, g->file, g->who);
		return;
	}
	if (strcmp(name, "config_directory") == 0) {
		config_problem_add(ctx->probs, where,
				   "config_directory cannot be set here: it is the directory given with -c or $TERN_CONFIG_DIR");
		return;
	}
	config_set(cfg, (size_t) config_index(cfg, name), value, where, true);
}

/* config_read_file - apply one file; a missing file is fine unless required */
static void config_read_file(struct config_ctx *ctx, const char *file, bool required)
{
	char *path = config_file_path(ctx->cfg->dir, file);
	struct cfgfile cf;
	struct cfgfile_error err;

	if (cfgfile_read(path, &cf, &err) < 0) {
		if (err.errnum != ENOENT || required) {
			char *where = err.lineno ? str_dupf("%s:%d", path, err.lineno) : xstrdup(path);

			config_problem_add(ctx->probs, where, "%s", err.text);
			free(where);
		}
		free(path);
		return;
	}
	for (size_t i = 0; i < cf.count; i++) {
		char *where = str_dupf("%s:%d", path, cf.lines[i].lineno);
		char *name, *value;

		if (cfgfile_split(cf.lines[i].text, &name, &value, &err) < 0)
			config_problem_add(ctx->probs, where, "%s", err.text);
		else
			config_assign(ctx, where, file, name, value);
		free(where);
	}
	cfgfile_free(&cf);
	free(path);
}

/* config_apply_overrides - "name=value" strings, as from master.conf -o */
static void config_apply_overrides(struct config_ctx *ctx, const char *const *overrides)
{
	for (size_t i = 0; overrides && overrides[i]; i++) {
		struct cfgfile_error err;
		char *copy, *name, *value;

		if (strlen(overrides[i]) > CFGFILE_LINE_MAX) {
			config_problem_add(ctx->probs, "-o", "override is longer than %d bytes",
					   CFGFILE_LINE_MAX);
			continue;
		}
		copy = xstrdup(overrides[i]);
		if (strchr(copy, '\n') != NULL)
			config_problem_add(ctx->probs, "-o", "override contains a newline");
		else if (cfgfile_split(copy, &name, &value, &err) < 0)
			config_problem_add(ctx->probs, "-o", "%s", err.text);
		else
			config_assign(ctx, "-o", NULL, name, value);
		free(copy);
	}
}

/* config_value_problem - a problem about values[owner], unless quiet */
__attribute__((format(printf, 4, 5)))
static void config_value_problem(struct config_ctx *ctx, size_t owner, bool quiet,
				 const char *fmt, ...)
{
	const struct config_value *v = &ctx->cfg->values[owner];
	char text[CONFIG_PROBLEM_MAX];
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	config_problem_add(ctx->probs, v->where, "%s: %s", v->def->name, text);
}

static const char *config_resolve(struct config_ctx *ctx, size_t i);

/* config_ref - the expanded value of a referenced name, or NULL (reported) */
static const char *config_ref(struct config_ctx *ctx, size_t owner, bool quiet, const char *name)
{
	const struct param_group *g;
	long j = config_index(ctx->cfg, name);

	if (j < 0) {
		const char *near;

		if (param_find(name, &g) != NULL) {
			config_value_problem(ctx, owner, quiet,
					     "'$%s' is a parameter of %s, which this program does not read",
					     name, g->file);
		} else if ((near = param_suggest(name)) != NULL) {
			config_value_problem(ctx, owner, quiet,
					     "unknown parameter '$%s' (did you mean '$%s'?)", name, near);
		} else {
			config_value_problem(ctx, owner, quiet, "unknown parameter '$%s'", name);
		}
		return NULL;
	}
	if (ctx->state[j] == CONFIG_BUSY) {
		char chain[512] = "";
		size_t from = 0, len = 0;

		while (from < ctx->depth && ctx->stack[from] != (size_t) j)
			from++;
		for (size_t k = from; k < ctx->depth; k++) {
			int n = snprintf(chain + len, sizeof(chain) - len, "%s -> ",
					 ctx->cfg->values[ctx->stack[k]].def->name);

			if (n < 0 || (size_t) n >= sizeof(chain) - len)
				break;
			len += (size_t) n;
		}
		config_value_problem(ctx, owner, quiet, "expansion loop: %s%s", chain, name);
		return NULL;
	}
	return config_resolve(ctx, (size_t) j);
}

/* config_name_char - may c appear in a parameter name */
static bool config_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* config_brace_end - the '}' matching the '{' before text, or NULL */
static const char *config_brace_end(const char *text, const char *end)
{
	int depth = 1;

	for (const char *p = text; p < end; p++) {
		if (*p == '{')
			depth++;
		else if (*p == '}' && --depth == 0)
			return p;
	}
	return NULL;
}

/*
 * config_expand - expand len bytes of text (part of values[owner]) onto
 * out. Returns 0, or -1 after reporting (unless quiet) the first error.
 */
static int config_expand(struct config_ctx *ctx, size_t owner, const char *text, size_t len,
			 struct buf *out, bool quiet, int nest)
{
	const char *p = text, *end = text + len;

	if (nest > CONFIG_NEST_MAX) {
		config_value_problem(ctx, owner, quiet, "'${...}' nested more than %d deep",
				     CONFIG_NEST_MAX);
		return -1;
	}
	while (p < end) {
		const char *dollar = memchr(p, '$', (size_t) (end - p));
		const char *val, *name_end, *close, *rest = NULL;
		char name[CFGFILE_NAME_MAX + 1];
		size_t n;
		char op = 0;

		if (dollar == NULL)
			dollar = end;
		if (buf_append(out, p, (size_t) (dollar - p)) < 0)
			goto too_long;
		if (dollar == end)
			break;
		p = dollar + 1;
		if (p < end && *p == '$') {
			if (buf_putc(out, '$') < 0)
				goto too_long;
			p++;
			continue;
		}
		if (p < end && *p == '{') {
			close = config_brace_end(p + 1, end);
			if (close == NULL) {
				config_value_problem(ctx, owner, quiet, "'${' without a closing '}'");
				return -1;
			}
			name_end = p + 1;
			while (name_end < close && config_name_char(*name_end))
				name_end++;
			if (name_end < close && (*name_end == '?' || *name_end == ':')) {
				op = *name_end;
				rest = name_end + 1;
			} else if (name_end != close) {
				config_value_problem(ctx, owner, quiet,
						     "bad parameter name in '${...}' (expected ${name}, ${name?text} or ${name:text})");
				return -1;
			}
			n = (size_t) (name_end - (p + 1));
			p++;
		} else {
			name_end = p;
			while (name_end < end && config_name_char(*name_end))
				name_end++;
			n = (size_t) (name_end - p);
			close = name_end - 1;
		}
		if (n == 0 || n > CFGFILE_NAME_MAX) {
			config_value_problem(ctx, owner, quiet,
					     n == 0 ? "'$' must be followed by a parameter name, {name} or '$' (write '$$' for a '$')"
					     : "parameter name after '$' is too long");
			return -1;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		p = close + 1;
		if ((val = config_ref(ctx, owner, quiet, name)) == NULL)
			return -1;
		if (op == 0) {
			if (buf_puts(out, val) < 0)
				goto too_long;
		} else if ((op == '?') == (*val != '\0')) {
			if (config_expand(ctx, owner, rest, (size_t) (close - rest), out, quiet, nest + 1) < 0)
				return -1;
		}
	}
	return 0;

too_long:
	config_value_problem(ctx, owner, quiet, "value is longer than %d bytes after expansion",
			     CONFIG_VALUE_MAX);
	return -1;
}

/* config_derive - the derived defaults of myhostname and mydomain */
static void config_derive(struct config_ctx *ctx, size_t i, struct buf *out)
{
	const char *name = ctx->cfg->values[i].def->name;

	if (out->len > 0)
		return;
	if (strcmp(name, "myhostname") == 0) {
		char host[256];

		if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
			str_copy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		buf_puts(out, host);
	} else if (strcmp(name, "mydomain") == 0) {
		long h = config_index(ctx->cfg, "myhostname");
		const char *host = h >= 0 && ctx->state[h] != CONFIG_BUSY ?
		    config_resolve(ctx, (size_t) h) : "";
		const char *dot = strchr(host, '.');

		buf_puts(out, dot && dot[1] ? dot + 1 : "localdomain");
	}
}

/* config_resolve - the expanded value of values[i] (never NULL) */
static const char *config_resolve(struct config_ctx *ctx, size_t i)
{
	struct config_value *v = &ctx->cfg->values[i];
	struct buf out;

	if (ctx->state[i] == CONFIG_DONE)
		return v->expanded;
	ctx->state[i] = CONFIG_BUSY;
	ctx->stack[ctx->depth++] = i;
	buf_init(&out, CONFIG_VALUE_MAX);
	if (config_expand(ctx, i, v->raw, strlen(v->raw), &out, false, 0) < 0) {
		buf_reset(&out);
		if (config_expand(ctx, i, v->def->defval, strlen(v->def->defval), &out, true, 0) < 0)
			buf_reset(&out);
	}
	config_derive(ctx, i, &out);
	if (out.data == NULL)
		buf_puts(&out, "");
	free(v->expanded);
	v->expanded = buf_steal(&out);
	ctx->depth--;
	ctx->state[i] = CONFIG_DONE;
	return v->expanded;
}

/* config_list_free - release a NULL-terminated list */
static void config_list_free(char **list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; list[i]; i++)
		free(list[i]);
	free(list);
}

/*
 * config_list_split - split on commas and white space, keeping "{...}"
 * groups whole. Returns the list, or NULL with msg filled.
 */
static char **config_list_split(const char *s, char *msg, size_t msglen)
{
	char **list = xcalloc(1, sizeof(char *));
	size_t count = 0;
	const char *p = s;

	for (;;) {
		const char *start;
		int depth = 0;

		p += strspn(p, CONFIG_LIST_SEP);
		if (*p == '\0')
			return list;
		for (start = p; *p && (depth > 0 || strchr(CONFIG_LIST_SEP, *p) == NULL); p++) {
			if (*p == '{') {
				depth++;
			} else if (*p == '}' && --depth < 0) {
				snprintf(msg, msglen, "'}' without a matching '{'");
				config_list_free(list);
				return NULL;
			}
		}
		if (depth > 0) {
			snprintf(msg, msglen, "'{' without a matching '}'");
			config_list_free(list);
			return NULL;
		}
		list = xreallocarray(list, count + 2, sizeof(char *));
		list[count++] = xstrndup(start, (size_t) (p - start));
		list[count] = NULL;
	}
}

/* config_table_ok - "type:name" with type of [a-z0-9_] and a name */
static bool config_table_ok(const char *s)
{
	size_t n = 0;

	while (config_name_char(s[n]))
		n++;
	return n > 0 && s[n] == ':' && s[n + 1] != '\0';
}

/* config_unit_text - v seconds or bytes in the largest exact unit */
static void config_unit_text(char *out, size_t size, long long v, bool time)
{
	static const struct {
		char unit;
		long long scale;
	} t[] = { {'w', 604800}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1} },
	  z[] = { {'G', 1073741824LL}, {'M', 1048576}, {'k', 1024} };
	size_t n = time ? sizeof(t) / sizeof(t[0]) : sizeof(z) / sizeof(z[0]);

	for (size_t i = 0; i < n && v != 0; i++) {
		long long sc = time ? t[i].scale : z[i].scale;

		if (v % sc == 0) {
			snprintf(out, size, "%lld%c", v / sc, time ? t[i].unit : z[i].unit);
			return;
		}
	}
	snprintf(out, size, time ? "%llds" : "%lld", v);
}

/* config_number - parse an INT, TIME or SIZE value; -1 with msg */
static int config_number(const struct param_def *d, const char *text, long long *out,
			 char *msg, size_t msglen)
{
	char lo[32], hi[32], shown[CONFIG_QUOTE_MAX + 8];
	const char *what, *expect;
	long long v;
	int rc;

	if (d->type == PT_INT) {
		snprintf(lo, sizeof(lo), "%lld", d->min);
		snprintf(hi, sizeof(hi), "%lld", d->max);
		rc = str_to_ll(text, LLONG_MIN, LLONG_MAX, &v);
		what = "an integer";
		expect = "an integer in ";
	} else if (d->type == PT_TIME) {
		config_unit_text(lo, sizeof(lo), d->min, true);
		config_unit_text(hi, sizeof(hi), d->max, true);
		rc = str_to_time(text, LLONG_MIN, LLONG_MAX, &v);
		what = "a time";
		expect = "a number with optional unit s, m, h, d, w; ";
	} else {
		config_unit_text(lo, sizeof(lo), d->min, false);
		config_unit_text(hi, sizeof(hi), d->max, false);
		rc = str_to_size(text, LLONG_MIN, LLONG_MAX, &v);
		what = "a size";
		expect = "a number of bytes with optional unit k, M, G; ";
	}
	config_quote(text, shown, sizeof(shown));
	if (rc < 0) {
		snprintf(msg, msglen, "'%s' is not %s (expected %s%s..%s)", shown, what, expect, lo, hi);
		return -1;
	}
	if (v < d->min || v > d->max) {
		snprintf(msg, msglen, "'%s' is out of range (expected %s..%s)", shown, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

/* config_convert - store text as d's type at field; -1 with msg (field untouched) */
static int config_convert(const struct param_def *d, const char *text, void *field,
			  char *msg, size_t msglen)
{
	char shown[CONFIG_QUOTE_MAX + 8];
	char **list;
	long long v;
	bool b;

	switch (d->type) {
	case PT_STR:
		*(char **) field = xstrdup(text);
		return 0;
	case PT_BOOL:
		if (str_to_bool(text, &b) < 0) {
			snprintf(msg, msglen, "'%s' is not a boolean (expected yes or no)",
				 config_quote(text, shown, sizeof(shown)));
			return -1;
		}
		*(bool *) field = b;
		return 0;
	case PT_INT:
	case PT_TIME:
	case PT_SIZE:
		if (config_number(d, text, &v, msg, msglen) < 0)
			return -1;
		*(long long *) field = v;
		return 0;
	case PT_LIST:
	case PT_TABLES:
		if ((list = config_list_split(text, msg, msglen)) == NULL)
			return -1;
		for (size_t i = 0; d->type == PT_TABLES && list[i]; i++) {
			if (!config_table_ok(list[i])) {
				snprintf(msg, msglen,
					 "'%s' is not a lookup table (expected type:name, e.g. hash:/etc/tern/access)",
					 config_quote(list[i], shown, sizeof(shown)));
				config_list_free(list);
				return -1;
			}
		}
		*(char ***) field = list;
		return 0;
	}
	msg_panic("config_convert: parameter %s has unknown type %d", d->name, (int) d->type);
}

/* config_convert_value - convert values[i], falling back to its default */
static void config_convert_value(struct config_ctx *ctx, size_t i)
{
	struct config_value *v = &ctx->cfg->values[i];
	void *field = config_field(ctx->cfg, i);
	char msg[CONFIG_PROBLEM_MAX];
	struct buf def;

	if (config_convert(v->def, v->expanded, field, msg, sizeof(msg)) == 0)
		return;
	config_problem_add(ctx->probs, v->where, "%s: %s", v->def->name, msg);
	buf_init(&def, CONFIG_VALUE_MAX);
	if (config_expand(ctx, i, v->def->defval, strlen(v->def->defval), &def, true, 0) < 0 ||
	    config_convert(v->def, buf_str(&def), field, msg, sizeof(msg)) < 0) {
		/* a broken default: a bug the registry test catches; keep the type's zero */
		if (v->def->type == PT_STR)
			*(char **) field = xstrdup("");
		else if (v->def->type == PT_LIST || v->def->type == PT_TABLES)
			*(char ***) field = xcalloc(1, sizeof(char *));
	}
	buf_free(&def);
}

/* config_load - read, expand and convert; see config.h */
int config_load(struct config *cfg, const char *dir, const char *group,
		const char *const *overrides, bool require_main, struct config_problems *probs)
{
	const struct param_group *global = param_registry()[0];
	size_t before = probs->count + probs->dropped, n = 0;
	struct config_ctx ctx = { cfg, probs, NULL, NULL, 0 };
	long cd;

	if (global->size != sizeof(struct params_global))
		msg_panic("config_load: registry[0] is not the global group");
	memset(cfg, 0, sizeof(*cfg));
	cfg->dir = xstrdup(dir ? dir : config_dir_default());
	if (group && strcmp(group, global->id) != 0) {
		cfg->group = param_group_find(group);
		if (cfg->group == NULL)
			config_problem_add(probs, "config_load", "unknown parameter group '%s'", group);
	}
	cfg->nvalues = global->ndefs + (cfg->group ? cfg->group->ndefs : 0);
	cfg->values = xcalloc(cfg->nvalues, sizeof(cfg->values[0]));
	if (cfg->group)
		cfg->own = xcalloc(1, cfg->group->size);
	for (size_t g = 0; g < 2; g++) {
		const struct param_group *pg = g == 0 ? global : cfg->group;

		for (size_t j = 0; pg && j < pg->ndefs; j++, n++) {
			cfg->values[n].def = &pg->defs[j];
			cfg->values[n].group = pg;
			config_set(cfg, n, pg->defs[j].defval, "default", false);
		}
	}
	if ((cd = config_index(cfg, "config_directory")) >= 0 &&
	    strcmp(cfg->dir, cfg->values[cd].def->defval) != 0) {
		/* raw text is expanded: a '$' in the path must stay a '$' */
		struct buf esc;

		buf_init(&esc, 0);
		for (const char *p = cfg->dir; *p; p++)
			buf_puts(&esc, *p == '$' ? "$$" : (char[2]) { *p, '\0' });
		config_set(cfg, (size_t) cd, buf_str(&esc), "-c", false);
		buf_free(&esc);
	}

	config_read_file(&ctx, global->file, require_main);
	if (cfg->group)
		config_read_file(&ctx, cfg->group->file, false);
	config_apply_overrides(&ctx, overrides);

	ctx.state = xcalloc(cfg->nvalues, 1);
	ctx.stack = xcalloc(cfg->nvalues, sizeof(size_t));
	for (size_t i = 0; i < cfg->nvalues; i++)
		config_resolve(&ctx, i);
	for (size_t i = 0; i < cfg->nvalues; i++)
		config_convert_value(&ctx, i);
	free(ctx.state);
	free(ctx.stack);
	return (int) (probs->count + probs->dropped - before);
}

/* config_load_or_die - config_load, fatal on the first problem */
void config_load_or_die(struct config *cfg, const char *dir, const char *group,
			const char *const *overrides)
{
	struct config_problems probs = { NULL, 0, 0 };
	int n = config_load(cfg, dir, group, overrides, false, &probs);

	if (n > 0)
		msg_fatal("%s: %s%s", probs.list[0].where, probs.list[0].text,
			  n > 1 ? " (and more problems: run ternctl check)" : "");
	config_problems_free(&probs);
}

/* config_free - release everything config_load allocated */
void config_free(struct config *cfg)
{
	for (size_t i = 0; cfg->values && i < cfg->nvalues; i++) {
		struct config_value *v = &cfg->values[i];

		if (v->group == param_registry()[0] || cfg->own) {
			void *field = config_field(cfg, i);

			if (v->def->type == PT_STR)
				free(*(char **) field);
			else if (v->def->type == PT_LIST || v->def->type == PT_TABLES)
				config_list_free(*(char ***) field);
		}
		free(v->raw);
		free(v->expanded);
		free(v->where);
	}
	free(cfg->values);
	free(cfg->own);
	free(cfg->dir);
	memset(cfg, 0, sizeof(*cfg));
}
