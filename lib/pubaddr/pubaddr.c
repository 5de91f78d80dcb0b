/* public_addresses: the parser, lookups and the canonical printer (see pubaddr.h). */
#include "pubaddr/pubaddr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int fail(struct conf_error *err, const char *name, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct conf_error *err, const char *name, unsigned line, const char *fmt, ...)
{
	va_list ap;
	snprintf(err->file, sizeof err->file, "%s", name);
	err->line = line;
	va_start(ap, fmt);
	vsnprintf(err->what, sizeof err->what, fmt, ap);
	va_end(ap);
	errno = EINVAL;
	return -1;
}

int pubaddr_parse_prefix(const char *s, struct pubaddr *e, char *what, size_t wlen)
{
	char buf[128];
	const char *slash = strchr(s, '/');
	if (!slash) {
		snprintf(what, wlen, "expected ADDRESS/PREFIX, got \"%.60s\" (no prefix)", s);
		return -1;
	}
	size_t n = (size_t)(slash - s);
	if (n == 0 || n >= sizeof buf) {
		snprintf(what, wlen, "expected ADDRESS/PREFIX, got \"%.60s\"", s);
		return -1;
	}
	memcpy(buf, s, n);
	buf[n] = 0;
	memset(e, 0, sizeof *e);
	if (ipalloc_addr_parse(&e->addr, buf) < 0) {
		snprintf(what, wlen, "expected an IPv4 or IPv6 address, got \"%.60s\"", buf);
		return -1;
	}
	ipalloc_addr_format(&e->addr, e->text, sizeof e->text);
	unsigned max = e->addr.family == AF_INET ? 32 : 128;
	const char *p = slash + 1;
	unsigned long v = 0;
	if (!*p)
		goto badprefix;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || (v = v * 10 + (unsigned long)(*p - '0')) > max)
			goto badprefix;
	}
	if (v < 1)
		goto badprefix;
	e->bits = (unsigned)v;
	return 0;
badprefix:
	snprintf(what, wlen, "expected a prefix length from 1 to %u after %s/, got \"%.20s\"", max, buf,
	         slash + 1);
	return -1;
}

static int parse_ifaces(char *s, struct pubaddr *e, char *what, size_t wlen)
{
	char *save = NULL;
	e->nifaces = 0;
	if (!*s || s[0] == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,")) {
		snprintf(what, wlen, "expected IFACE[,IFACE...], got \"%.60s\"", s);
		return -1;
	}
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t n = strlen(tok);
		if (n >= IF_NAMESIZE) {
			snprintf(what, wlen, "interface name \"%.40s\" longer than %d characters", tok,
			         IF_NAMESIZE - 1);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if (tok[i] <= ' ' || tok[i] > '~' || tok[i] == '/') {
				snprintf(what, wlen, "interface name \"%.40s\" has a forbidden character", tok);
				return -1;
			}
		for (unsigned i = 0; i < e->nifaces; i++)
			if (strcmp(e->iface[i], tok) == 0) {
				snprintf(what, wlen, "interface %s listed twice", tok);
				return -1;
			}
		if (e->nifaces == PUBADDR_IFACES_MAX) {
			snprintf(what, wlen, "more than %d interfaces", PUBADDR_IFACES_MAX);
			return -1;
		}
		memcpy(e->iface[e->nifaces++], tok, n + 1);
	}
	return 0;
}

int pubaddr_load_stream(struct pubaddr_list *l, FILE *f, const char *name, struct conf_error *err)
{
	char line[1024];
	unsigned lineno = 0;
	l->count = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		size_t len = strlen(line);
		if (len == sizeof line - 1 && line[len - 1] != '\n')
			return fail(err, name, lineno, "line longer than %zu bytes", sizeof line - 2);
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		char *fields[3];
		int nf = 0;
		char *save = NULL;
		for (char *tok = strtok_r(line, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
			if (nf == 3)
				break;
			fields[nf++] = tok;
		}
		if (nf == 0)
			continue;
		if (nf != 2)
			return fail(err, name, lineno, "expected ADDRESS/PREFIX IFACE[,IFACE...], got %s",
			            nf == 1 ? "no interface" : "more than two fields");
		struct pubaddr e;
		char what[200];
		if (pubaddr_parse_prefix(fields[0], &e, what, sizeof what) < 0 ||
		    parse_ifaces(fields[1], &e, what, sizeof what) < 0)
			return fail(err, name, lineno, "%s", what);
		e.line = lineno;
		int dup = pubaddr_find_addr(l, &e.addr);
		if (dup >= 0) {
			*strchr(fields[0], '/') = 0;
			return fail(err, name, lineno, "%s is listed twice (first on line %u%s)", e.text,
			            l->a[dup].line, strcmp(e.text, fields[0]) ? ", spelled differently" : "");
		}
		if (l->count == PUBADDR_MAX)
			return fail(err, name, lineno, "more than %d addresses", PUBADDR_MAX);
		l->a[l->count++] = e;
	}
	if (ferror(f))
		return fail(err, name, 0, "read error: %s", strerror(errno));
	return 0;
}

int pubaddr_load(struct pubaddr_list *l, const char *path, bool missing_ok, struct conf_error *err)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT && missing_ok) {
			l->count = 0;
			return 0;
		}
		int e = errno;
		fail(err, path, 0, "unable to open: %s", strerror(e));
		errno = e;
		return -1;
	}
	int rc = pubaddr_load_stream(l, f, path, err);
	fclose(f);
	return rc;
}

int pubaddr_find_addr(const struct pubaddr_list *l, const struct ipalloc_addr *a)
{
	for (unsigned i = 0; i < l->count; i++)
		if (ipalloc_addr_cmp(&l->a[i].addr, a) == 0)
			return (int)i;
	return -1;
}

int pubaddr_find(const struct pubaddr_list *l, const char *addr)
{
	struct ipalloc_addr a;
	if (ipalloc_addr_parse(&a, addr) < 0)
		return -1;
	return pubaddr_find_addr(l, &a);
}

int pubaddr_add(struct pubaddr_list *l, const struct pubaddr *e)
{
	if (pubaddr_find_addr(l, &e->addr) >= 0) {
		errno = EEXIST;
		return -1;
	}
	if (l->count == PUBADDR_MAX) {
		errno = ENOSPC;
		return -1;
	}
	l->a[l->count++] = *e;
	return 0;
}

int pubaddr_remove(struct pubaddr_list *l, const char *addr)
{
	int i = pubaddr_find(l, addr);
	if (i < 0) {
		errno = ENOENT;
		return -1;
	}
	memmove(&l->a[i], &l->a[i + 1], (l->count - (unsigned)i - 1) * sizeof l->a[0]);
	l->count--;
	return 0;
}

void pubaddr_print(const struct pubaddr_list *l, FILE *f)
{
	for (unsigned i = 0; i < l->count; i++) {
		fprintf(f, "%s/%u ", l->a[i].text, l->a[i].bits);
		for (unsigned k = 0; k < l->a[i].nifaces; k++)
			fprintf(f, "%s%s", k ? "," : "", l->a[i].iface[k]);
		fputc('\n', f);
	}
}

int pubaddr_check_ifaces(const struct pubaddr_list *l, const char *name, struct conf_error *err)
{
	for (unsigned i = 0; i < l->count; i++)
		for (unsigned k = 0; k < l->a[i].nifaces; k++)
			if (if_nametoindex(l->a[i].iface[k]) == 0)
				return fail(err, name, l->a[i].line, "%s: interface %s does not exist",
				            l->a[i].text, l->a[i].iface[k]);
	return 0;
}
