/*
 * geoip - country codes of client addresses from a MaxMind DB file
 * (GeoLite2/GeoIP2-Country format), through libmaxminddb. The contract
 * is in geoip.h.
 *
 * The database is opened with MMDB_MODE_MMAP: lookups read the mapping
 * and never the file, so they work in a chroot and after the file was
 * replaced. geoip_reopen opens the new file first and swaps only on
 * success, so a half-copied or broken update never turns screening off.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/geoip.h"

struct geoip {
	char *path;
	MMDB_s db;
};

/* geoip_map - MMDB_open path into db; 0, or -1 with err and errno */
static int geoip_map(const char *path, MMDB_s *db, char *err, size_t errlen)
{
	int status;

	errno = 0;
	status = MMDB_open(path, MMDB_MODE_MMAP, db);
	if (status == MMDB_SUCCESS)
		return 0;
	if (status == MMDB_FILE_OPEN_ERROR || status == MMDB_IO_ERROR) {
		int e = errno ? errno : EIO;

		str_fmt(err, errlen, "GeoIP database %s: %s: %s", path, MMDB_strerror(status), strerror(e));
		errno = e;
		return -1;
	}
	str_fmt(err, errlen, "GeoIP database %s: %s", path, MMDB_strerror(status));
	errno = EINVAL;
	return -1;
}

/* geoip_open - map the database at path */
struct geoip *geoip_open(const char *path, char *err, size_t errlen)
{
	struct geoip *g = xcalloc(1, sizeof(*g));

	if (geoip_map(path, &g->db, err, errlen) < 0) {
		int e = errno;

		free(g);
		errno = e;
		return NULL;
	}
	g->path = xstrdup(path);
	return g;
}

/* geoip_reopen - map the file again; keep the old mapping when that fails */
int geoip_reopen(struct geoip *g, char *err, size_t errlen)
{
	MMDB_s fresh;

	if (geoip_map(g->path, &fresh, err, errlen) < 0)
		return -1;
	MMDB_close(&g->db);
	g->db = fresh;
	return 0;
}

/* geoip_code - the iso_code under top (country, registered_country) as two letters; 0 or -1 */
static int geoip_code(MMDB_entry_s *entry, const char *top, char cc[GEOIP_CC_SIZE])
{
	MMDB_entry_data_s data;

	if (MMDB_get_value(entry, &data, top, "iso_code", NULL) != MMDB_SUCCESS || !data.has_data
	    || data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size != 2)
		return -1;
	for (int i = 0; i < 2; i++) {
		char c = data.utf8_string[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			return -1;
		cc[i] = (char) (c & ~0x20);	/* upper case */
	}
	cc[2] = '\0';
	return 0;
}

/* geoip_country - the country code of sa */
void geoip_country(struct geoip *g, const struct sockaddr *sa, char cc[GEOIP_CC_SIZE])
{
	struct sockaddr_in v4;
	MMDB_lookup_result_s res;
	int mmdb_error = MMDB_SUCCESS;

	str_copy(cc, GEOIP_UNKNOWN, GEOIP_CC_SIZE);
	if (g == NULL || sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return;
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *) sa;

		if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
			memset(&v4, 0, sizeof(v4));
			v4.sin_family = AF_INET;
			memcpy(&v4.sin_addr, &v6->sin6_addr.s6_addr[12], 4);
			sa = (const struct sockaddr *) &v4;
		}
	}
	res = MMDB_lookup_sockaddr(&g->db, sa, &mmdb_error);
	if (mmdb_error != MMDB_SUCCESS) {
		msg_warn("GeoIP database %s: lookup: %s", g->path, MMDB_strerror(mmdb_error));
		return;
	}
	if (!res.found_entry)
		return;
	if (geoip_code(&res.entry, "country", cc) < 0 && geoip_code(&res.entry, "registered_country", cc) < 0)
		str_copy(cc, GEOIP_UNKNOWN, GEOIP_CC_SIZE);
}

/* geoip_country_text - the country code of a textual address */
void geoip_country_text(struct geoip *g, const char *addr, char cc[GEOIP_CC_SIZE])
{
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;

	memset(&v4, 0, sizeof(v4));
	memset(&v6, 0, sizeof(v6));
	if (addr != NULL && inet_pton(AF_INET, addr, &v4.sin_addr) == 1) {
		v4.sin_family = AF_INET;
		geoip_country(g, (const struct sockaddr *) &v4, cc);
	} else if (addr != NULL && inet_pton(AF_INET6, addr, &v6.sin6_addr) == 1) {
		v6.sin6_family = AF_INET6;
		geoip_country(g, (const struct sockaddr *) &v6, cc);
	} else {
		str_copy(cc, GEOIP_UNKNOWN, GEOIP_CC_SIZE);
	}
}

/* geoip_path - the database file */
const char *geoip_path(const struct geoip *g)
{
	return g->path;
}

/* geoip_db_type - the database type from its metadata */
const char *geoip_db_type(const struct geoip *g)
{
	return g->db.metadata.database_type ? g->db.metadata.database_type : "";
}

/* geoip_close - unmap and free (NULL is fine) */
void geoip_close(struct geoip *g)
{
	if (g == NULL)
		return;
	MMDB_close(&g->db);
	free(g->path);
	free(g);
}
