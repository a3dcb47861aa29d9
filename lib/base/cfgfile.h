/*
 * cfgfile - the syntax of tern's configuration files, knowing nothing of
 * what the names mean.
 *
 * A file is read into logical lines. The rules, shared by tern.conf, the
 * daemon files and master.conf:
 *
 *   - a line whose first non-blank character is '#' is a comment, and a
 *     line of only white space is blank; both are skipped and neither
 *     starts nor ends a logical line (so a comment may sit between a line
 *     and its continuation lines);
 *   - a line that starts with white space (space or tab) continues the
 *     previous logical line: its surrounding white space is dropped and it
 *     is joined to what came before with one space;
 *   - any other line starts a new logical line; its trailing white space
 *     (including a '\r' of CRLF files) is dropped;
 *   - '#' after text is not a comment: it is part of the text.
 *
 * So
 *	mydestination = $myhostname,
 *	    localhost     # still the value
 * is the logical line "mydestination = $myhostname, localhost     # still
 * the value" (trailing blanks trimmed), starting on line 1.
 *
 * Limits (outside input): a logical line is at most CFGFILE_LINE_MAX
 * bytes, a file at most CFGFILE_FILE_MAX bytes; a NUL byte is refused, and
 * so is a continuation line with nothing before it to continue. Each of
 * these is an error that names the physical line, and stops the read:
 * nothing here exits or logs; errors come back in a struct cfgfile_error
 * for the caller to report as "path:line: text".
 *
 * How master.conf's parser (or any other) uses it:
 *
 *	struct cfgfile cf;
 *	struct cfgfile_error err;
 *
 *	if (cfgfile_read(path, &cf, &err) < 0)
 *		report(path, err.lineno, err.text);	(err.errnum == ENOENT: no file)
 *	for (size_t i = 0; i < cf.count; i++)
 *		parse(cf.lines[i].text, path, cf.lines[i].lineno);
 *	cfgfile_free(&cf);
 *
 * cfgfile_split() then cuts a "name = value" line (tern.conf style) into
 * its two halves, with an error for a missing '=' or a bad name.
 */
#ifndef TERN_BASE_CFGFILE_H
#define TERN_BASE_CFGFILE_H

#include <stdbool.h>
#include <stddef.h>

#define CFGFILE_LINE_MAX	(64 * 1024)		/* bytes in one logical line */
#define CFGFILE_FILE_MAX	(10 * 1024 * 1024)	/* bytes in one file */
#define CFGFILE_NAME_MAX	100			/* bytes in a parameter name */

/* cfgfile_line - one logical line */
struct cfgfile_line {
	char *text;		/* NUL-terminated, joined and trimmed as above */
	int lineno;		/* physical line (from 1) where it starts */
	int lastno;		/* physical line where its last continuation is */
};

/* cfgfile - the logical lines of one file, in file order */
struct cfgfile {
	struct cfgfile_line *lines;
	size_t count;
};

/* cfgfile_error - why a read or split failed */
struct cfgfile_error {
	int lineno;		/* the physical line, or 0 when about the whole file */
	int errnum;		/* errno of a failed open or read, else 0 */
	char text[256];		/* "logical line is longer than 65536 bytes", ... */
};

/* the kind of one physical line, for tools that rewrite a file in place */
enum cfgfile_kind {
	CFGFILE_BLANK,		/* empty or only white space */
	CFGFILE_COMMENT,	/* first non-blank character is '#' */
	CFGFILE_START,		/* starts a logical line */
	CFGFILE_CONT,		/* starts with white space: continues one */
};

/*
 * cfgfile_read - read path into cf (which is overwritten). Returns 0, or
 * -1 with err filled and cf empty. A missing file is an error with
 * errnum ENOENT, so callers that allow it can tell.
 */
int cfgfile_read(const char *path, struct cfgfile *cf, struct cfgfile_error *err);
/* cfgfile_parse - the same for len bytes of text already in memory */
int cfgfile_parse(const char *text, size_t len, struct cfgfile *cf, struct cfgfile_error *err);
/*
 * cfgfile_slurp - the raw bytes of a regular file (at most
 * CFGFILE_FILE_MAX), NUL-terminated, in *data (free it); for tools that
 * rewrite a file. Returns 0, or -1 with err filled as cfgfile_read does.
 */
int cfgfile_slurp(const char *path, char **data, size_t *len, struct cfgfile_error *err);
/* cfgfile_free - release the lines; cf is empty after */
void cfgfile_free(struct cfgfile *cf);

/* cfgfile_kind - classify one physical line of len bytes (no newline) */
enum cfgfile_kind cfgfile_kind(const char *line, size_t len);

/*
 * cfgfile_split - cut "name = value" in place: *name points at the name
 * (white space around it removed), *value at the value (white space
 * around it removed; may be empty). The name must be 1 to
 * CFGFILE_NAME_MAX characters of a-z, 0-9 and '_'. Returns 0, or -1 with
 * err filled (err->lineno 0: the caller knows the line); text is
 * changed either way.
 */
int cfgfile_split(char *text, char **name, char **value, struct cfgfile_error *err);
/* cfgfile_name_ok - name is a valid parameter name */
bool cfgfile_name_ok(const char *name);

#endif
