/*
 * cfgfile - configuration file syntax: logical lines and "name = value";
 * see cfgfile.h for the rules.
 *
 * The whole file is read into memory first (it is at most CFGFILE_FILE_MAX
 * bytes), then cut into physical lines and joined into logical lines in a
 * struct buf whose limit is CFGFILE_LINE_MAX, so an over-long line is
 * found without ever holding more than the limit. Errors fill a struct
 * cfgfile_error and leave the result empty; nothing here exits.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cfgfile.h"
#include "base/mem.h"

/* cfgfile_fail - fill err and return -1 */
__attribute__((format(printf, 4, 5)))
static int cfgfile_fail(struct cfgfile_error *err, int lineno, int errnum, const char *fmt, ...)
{
	va_list ap;

	err->lineno = lineno;
	err->errnum = errnum;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return -1;
}

/* cfgfile_blank - true for the white space the syntax knows */
static int cfgfile_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* cfgfile_kind - classify one physical line */
enum cfgfile_kind cfgfile_kind(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && cfgfile_blank((unsigned char) line[i]))
		i++;
	if (i == len)
		return CFGFILE_BLANK;
	if (line[i] == '#')
		return CFGFILE_COMMENT;
	return i > 0 ? CFGFILE_CONT : CFGFILE_START;
}

/* cfgfile_free - release all lines */
void cfgfile_free(struct cfgfile *cf)
{
	for (size_t i = 0; i < cf->count; i++)
		free(cf->lines[i].text);
	free(cf->lines);
	cf->lines = NULL;
	cf->count = 0;
}

/* cfgfile_push - append the logical line in b to cf */
static void cfgfile_push(struct cfgfile *cf, size_t *cap, struct buf *b, int first, int last)
{
	if (cf->count == *cap) {
		*cap = *cap ? *cap * 2 : 32;
		cf->lines = xreallocarray(cf->lines, *cap, sizeof(cf->lines[0]));
	}
	cf->lines[cf->count].text = buf_steal(b);
	cf->lines[cf->count].lineno = first;
	cf->lines[cf->count].lastno = last;
	cf->count++;
}

/* cfgfile_parse - cut text into logical lines */
int cfgfile_parse(const char *text, size_t len, struct cfgfile *cf, struct cfgfile_error *err)
{
	struct buf cur;
	size_t cap = 0, pos = 0;
	int lineno = 0, first = 0, last = 0;

	cf->lines = NULL;
	cf->count = 0;
	if (len > CFGFILE_FILE_MAX)
		return cfgfile_fail(err, 0, 0, "file is larger than %d bytes", CFGFILE_FILE_MAX);
	buf_init(&cur, CFGFILE_LINE_MAX);
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t) (nl - line) : len - pos;
		size_t start = 0, end = n;
		enum cfgfile_kind kind;

		pos += nl ? n + 1 : n;
		lineno++;
		if (memchr(line, '\0', n) != NULL) {
			buf_free(&cur);
			cfgfile_free(cf);
			return cfgfile_fail(err, lineno, 0, "NUL byte in line");
		}
		kind = cfgfile_kind(line, n);
		if (kind == CFGFILE_BLANK || kind == CFGFILE_COMMENT)
			continue;
		while (end > 0 && cfgfile_blank((unsigned char) line[end - 1]))
			end--;
		if (kind == CFGFILE_START) {
			if (first > 0)
				cfgfile_push(cf, &cap, &cur, first, last);
			buf_reset(&cur);
			first = lineno;
		} else {
			if (first == 0) {
				buf_free(&cur);
				cfgfile_free(cf);
				return cfgfile_fail(err, lineno, 0,
						    "line starts with white space but there is no line before it to continue");
			}
			while (cfgfile_blank((unsigned char) line[start]))
				start++;
			if (buf_putc(&cur, ' ') < 0)
				goto too_long;
		}
		if (buf_append(&cur, line + start, end - start) < 0)
			goto too_long;
		last = lineno;
	}
	if (first > 0)
		cfgfile_push(cf, &cap, &cur, first, last);
	buf_free(&cur);
	return 0;

too_long:
	buf_free(&cur);
	cfgfile_free(cf);
	return cfgfile_fail(err, first, 0, "logical line is longer than %d bytes", CFGFILE_LINE_MAX);
}

/* cfgfile_slurp - the bytes of a regular file of at most CFGFILE_FILE_MAX bytes */
int cfgfile_slurp(const char *path, char **data, size_t *len, struct cfgfile_error *err)
{
	struct stat st;
	size_t got = 0;
	char *buf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return cfgfile_fail(err, 0, errno, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		return cfgfile_fail(err, 0, e, "cannot stat: %s", strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return cfgfile_fail(err, 0, S_ISDIR(st.st_mode) ? EISDIR : EINVAL,
				    "not a regular file");
	}
	if (st.st_size > CFGFILE_FILE_MAX) {
		close(fd);
		return cfgfile_fail(err, 0, 0, "file is larger than %d bytes", CFGFILE_FILE_MAX);
	}
	/* room for one byte more than the size, to notice a file that grew */
	buf = xmalloc((size_t) st.st_size + 2);
	for (;;) {
		ssize_t n = read(fd, buf + got, (size_t) st.st_size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			close(fd);
			return cfgfile_fail(err, 0, e, "read error: %s", strerror(e));
		}
		if (n == 0)
			break;
		got += (size_t) n;
		if (got > (size_t) st.st_size) {
			free(buf);
			close(fd);
			return cfgfile_fail(err, 0, 0, "file changed while it was read");
		}
	}
	close(fd);
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

/* cfgfile_read - read and parse a file */
int cfgfile_read(const char *path, struct cfgfile *cf, struct cfgfile_error *err)
{
	char *data;
	size_t len;
	int rc;

	cf->lines = NULL;
	cf->count = 0;
	if (cfgfile_slurp(path, &data, &len, err) < 0)
		return -1;
	rc = cfgfile_parse(data, len, cf, err);
	free(data);
	return rc;
}

/* cfgfile_name_ok - 1..CFGFILE_NAME_MAX characters of [a-z0-9_] */
bool cfgfile_name_ok(const char *name)
{
	size_t n = 0;

	for (; name[n]; n++)
		if (!((name[n] >= 'a' && name[n] <= 'z') || (name[n] >= '0' && name[n] <= '9') ||
		      name[n] == '_'))
			return false;
	return n > 0 && n <= CFGFILE_NAME_MAX;
}

/* cfgfile_quote - a short printable excerpt of text for an error message */
static void cfgfile_quote(char *out, size_t size, const char *text)
{
	size_t i = 0;

	for (; text[i] && i + 4 < size && i < 40; i++)
		out[i] = isprint((unsigned char) text[i]) ? text[i] : '?';
	if (text[i] && i + 4 < size) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

/* cfgfile_split - cut "name = value" in place */
int cfgfile_split(char *text, char **name, char **value, struct cfgfile_error *err)
{
	char *eq = strchr(text, '=');
	char *n, *v, *end;
	char shown[64];

	if (eq == NULL) {
		cfgfile_quote(shown, sizeof(shown), text);
		return cfgfile_fail(err, 0, 0, "missing '=' in '%s' (expected name = value)", shown);
	}
	*eq = '\0';
	n = text;
	while (cfgfile_blank((unsigned char) *n))
		n++;
	end = n + strlen(n);
	while (end > n && cfgfile_blank((unsigned char) end[-1]))
		*--end = '\0';
	if (*n == '\0') {
		*eq = '=';
		return cfgfile_fail(err, 0, 0, "missing parameter name before '='");
	}
	if (!cfgfile_name_ok(n)) {
		cfgfile_quote(shown, sizeof(shown), n);
		*eq = '=';
		return cfgfile_fail(err, 0, 0,
				    "invalid parameter name '%s' (names are lower-case letters, digits and '_')",
				    shown);
	}
	v = eq + 1;
	while (cfgfile_blank((unsigned char) *v))
		v++;
	end = v + strlen(v);
	while (end > v && cfgfile_blank((unsigned char) end[-1]))
		*--end = '\0';
	*name = n;
	*value = v;
	return 0;
}
