/*
 * tern-geoip - test program: country lookups through lib/mail/geoip.c,
 * for t/90-geoip.t.
 *
 *	tern-geoip DATABASE [ADDRESS...]
 *
 * Opens DATABASE with geoip_open and prints, for each ADDRESS, one line
 * "ADDRESS<tab>CC". Without addresses it reads commands from standard
 * input, one per line, so that a test can change the file under a
 * running process:
 *
 *	ADDRESS		look it up (textual IPv4 or IPv6; an IPv6 address
 *			is passed as a struct sockaddr_in6, so ::ffff:a.b.c.d
 *			exercises the IPv4-mapped path)
 *	reopen		geoip_reopen: prints "reopen<tab>ok" or
 *			"reopen<tab>error<tab>REASON"
 *	type		prints "type<tab>" and the database type
 *
 * Exit 0 after the last line, 1 when the database cannot be opened (the
 * reason on standard error, with "errno=ENOENT" for a missing file), 2
 * on usage.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mail/geoip.h"

#define TERN_GEOIP_LINE_MAX	512

/* geoip_answer - one command or address */
static void geoip_answer(struct geoip *g, const char *what)
{
	char cc[GEOIP_CC_SIZE], err[512];

	if (strcmp(what, "reopen") == 0) {
		if (geoip_reopen(g, err, sizeof(err)) == 0)
			printf("reopen\tok\n");
		else
			printf("reopen\terror\t%s\n", err);
	} else if (strcmp(what, "type") == 0) {
		printf("type\t%s\n", geoip_db_type(g));
	} else {
		geoip_country_text(g, what, cc);
		printf("%s\t%s\n", what, cc);
	}
	fflush(stdout);
}

/* main - open the database, answer arguments or standard input */
int main(int argc, char **argv)
{
	char err[512], line[TERN_GEOIP_LINE_MAX];
	struct geoip *g;

	if (argc < 2) {
		fprintf(stderr, "usage: tern-geoip DATABASE [ADDRESS...]\n");
		return 2;
	}
	if ((g = geoip_open(argv[1], err, sizeof(err))) == NULL) {
		fprintf(stderr, "tern-geoip: %s%s\n", err, errno == ENOENT ? " (errno=ENOENT)" : "");
		return 1;
	}
	if (argc > 2) {
		for (int i = 2; i < argc; i++)
			geoip_answer(g, argv[i]);
	} else {
		while (fgets(line, sizeof(line), stdin) != NULL) {
			line[strcspn(line, "\r\n")] = '\0';
			if (line[0] != '\0')
				geoip_answer(g, line);
		}
	}
	geoip_close(g);
	return 0;
}
