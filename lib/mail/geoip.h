/*
 * geoip - the country of a client address, from a GeoLite2/GeoIP2
 * Country-format database (libmaxminddb).
 *
 * Use: geoip_open(geoip_database) in pre_jail, as root and before any
 * chroot hides the file (the database is mapped into memory, so lookups
 * need no file access afterwards); geoip_country() for each client;
 * geoip_reopen() on reload, which keeps the old database when the new
 * file cannot be opened; geoip_close() at the end.
 *
 * The answer is always two characters and a NUL: the ISO 3166-1 alpha-2
 * code of the record's country ("JP"), else of its registered_country
 * (anonymous networks have only that), else "--" for an address the
 * database does not know, a private or loopback address it has no data
 * for, an address family it cannot hold, a lookup error (logged) or a
 * code that is not two ASCII letters. An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, what a dual-stack listener gives) is looked up as the
 * IPv4 address it is.
 *
 * Failures: geoip_open returns NULL with the reason in err and errno set
 * (ENOENT: the file does not exist, which a caller may treat as "country
 * screening off"; EINVAL: not a usable MaxMind DB; anything else from
 * the system). Memory is never the failure (mem.h aborts).
 */
#ifndef TERN_MAIL_GEOIP_H
#define TERN_MAIL_GEOIP_H

#include <stddef.h>
#include <sys/socket.h>

#define GEOIP_UNKNOWN	"--"
#define GEOIP_CC_SIZE	3		/* two letters and a NUL */

struct geoip;

/* geoip_open - map the database at path; NULL with err and errno */
struct geoip *geoip_open(const char *path, char *err, size_t errlen);
/* geoip_reopen - map the file again (reload); 0, or -1 with err and the old database kept */
int geoip_reopen(struct geoip *g, char *err, size_t errlen);
/* geoip_country - the country code of sa (AF_INET or AF_INET6) into cc; never fails */
void geoip_country(struct geoip *g, const struct sockaddr *sa, char cc[GEOIP_CC_SIZE]);
/* geoip_country_text - the same for a textual address ("192.0.2.1", "2001:db8::1") */
void geoip_country_text(struct geoip *g, const char *addr, char cc[GEOIP_CC_SIZE]);
/* geoip_path - the file the database came from */
const char *geoip_path(const struct geoip *g);
/* geoip_db_type - the database's type ("GeoLite2-Country") */
const char *geoip_db_type(const struct geoip *g);
void geoip_close(struct geoip *g);

#endif
