/* shoal configuration: the INI parser, defaults and canonical printer, all driven by one
 * table (items[] below), and the cross checks. The nodes file lives in nodes.c. */
#include "conf/conf.h"
#include "conf/conf_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum item_type {
	T_ADDRESS,  /* IPv4 or IPv6, stored canonical; may be empty (= not set) */
	T_PATH,     /* absolute path */
	T_LOCATION, /* a log target: conf_log_target_parse */
	T_FACILITY, /* a syslog facility name */
	T_TOKEN,    /* printable ASCII, no blanks; may be empty; charset in .unit */
	T_UINT,     /* decimal, min..max, in unit */
	T_LEVEL,    /* a log level name */
	T_CHOICE,   /* one word of .choices, stored as its index (int) */
	T_LOCK,     /* a cluster lock: conf_lock_parse */
};

struct item {
	const char *section;
	const char *key;     /* canonical spelling: lower case, single spaces */
	enum item_type type;
	size_t offset;       /* into struct conf */
	size_t size;         /* of the field (strings) */
	unsigned min, max;   /* T_UINT */
	const char *unit;    /* T_UINT: "milliseconds", "seconds" or NULL */
	const char *def;     /* default, in the file's syntax; parsed like a value read */
	const char *const *choices; /* T_CHOICE: NULL-terminated */
};

static const char *const yes_no[] = { "no", "yes", NULL };
static const char *const start_as[] = { "enabled", "disabled", "stopped", NULL };
static const char *const health_monitor[] = { "svcd", "none", NULL };
static const char *const ip_allocation[] = { "deterministic", "nondeterministic", "lcp2", NULL };
static const char *const ip_host_source[] = { "memberd", "manual", NULL };

#define FIELD(f) .offset = offsetof(struct conf, f), .size = sizeof(((struct conf *)0)->f)

/* Sections in print order; items[] keeps each section's keys together, in print order. */
static const char *const sections[] = { "cluster", "database", "membership", "leadership",
					"ip", "events", "supervision", "logging" };
#define NSECTIONS (sizeof sections / sizeof sections[0])

static const struct item items[] = {
	{ "cluster", "node address", T_ADDRESS, FIELD(node_address), .def = "" },
	{ "cluster", "nodes file", T_PATH, FIELD(nodes_file), .def = "/etc/shoal/nodes" },
	{ "cluster", "cluster key", T_PATH, FIELD(cluster_key), .def = "/etc/shoal/cluster.key" },
	{ "cluster", "port base", T_UINT, FIELD(port_base), .min = 1024,
	  .max = 65535 - CONF_PORT_SPAN, .def = "4480" },
	{ "cluster", "run directory", T_PATH, FIELD(run_dir), .def = "/run/shoal" },
	{ "cluster", "cluster lock", T_LOCK, FIELD(cluster_lock), .def = "none" },
	{ "cluster", "leader capability", T_CHOICE, FIELD(leader_capable), .choices = yes_no,
	  .def = "yes" },
	{ "database", "directory", T_PATH, FIELD(db_dir), .def = "/var/lib/shoal" },
	{ "membership", "keepalive interval", T_UINT, FIELD(keepalive_interval_ms), .min = 10,
	  .max = 60000, .unit = "milliseconds", .def = "180" },
	{ "membership", "keepalive limit", T_UINT, FIELD(keepalive_limit), .min = 1, .max = 100,
	  .def = "3" },
	{ "membership", "start as", T_CHOICE, FIELD(start_as), .choices = start_as,
	  .def = "enabled" },
	{ "membership", "health monitor", T_CHOICE, FIELD(health_monitor),
	  .choices = health_monitor, .def = "svcd" },
	{ "membership", "realtime scheduling", T_CHOICE, FIELD(realtime), .choices = yes_no,
	  .def = "yes" },
	{ "leadership", "lease", T_UINT, FIELD(lease_ms), .min = 30, .max = 600000,
	  .unit = "milliseconds", .def = "500" },
	{ "leadership", "election timeout", T_UINT, FIELD(election_timeout_ms), .min = 10,
	  .max = 600000, .unit = "milliseconds", .def = "200" },
	{ "leadership", "drift", T_UINT, FIELD(drift_percent), .min = 0, .max = 50,
	  .unit = "percent", .def = "1" },
	{ "leadership", "enable bans", T_CHOICE, FIELD(enable_bans), .choices = yes_no,
	  .def = "yes" },
	{ "leadership", "ban culprit count", T_UINT, FIELD(ban_culprit_count), .min = 0,
	  .max = 1000000, .def = "3" },
	{ "leadership", "recovery grace period", T_UINT, FIELD(recovery_grace_s), .min = 1,
	  .max = 86400, .unit = "seconds", .def = "120" },
	{ "leadership", "recovery ban period", T_UINT, FIELD(recovery_ban_s), .min = 1,
	  .max = 31536000, .unit = "seconds", .def = "300" },
	{ "ip", "public addresses", T_PATH, FIELD(public_addresses),
	  .def = "/etc/shoal/public_addresses" },
	{ "ip", "ip allocation", T_CHOICE, FIELD(ip_allocation), .choices = ip_allocation,
	  .def = "lcp2" },
	{ "ip", "no ip failback", T_CHOICE, FIELD(no_ip_failback), .choices = yes_no, .def = "no" },
	{ "ip", "no ip takeover", T_CHOICE, FIELD(no_ip_takeover), .choices = yes_no, .def = "no" },
	{ "ip", "disable ip failover", T_CHOICE, FIELD(disable_ip_failover), .choices = yes_no,
	  .def = "no" },
	{ "ip", "no ip host on all disabled", T_CHOICE, FIELD(no_ip_host_on_all_disabled),
	  .choices = yes_no, .def = "yes" },
	{ "ip", "ip host source", T_CHOICE, FIELD(ip_host_source), .choices = ip_host_source,
	  .def = "memberd" },
	{ "ip", "shutdown failover timeout", T_UINT, FIELD(shutdown_failover_timeout_s), .min = 0,
	  .max = 3600, .unit = "seconds", .def = "10" },
	{ "events", "directory", T_PATH, FIELD(events_dir), .def = "/etc/shoal/events.d" },
	{ "events", "hook directory", T_PATH, FIELD(hook_dir), .def = "/etc/shoal/hooks.d" },
	{ "events", "monitor interval", T_UINT, FIELD(monitor_interval_s), .min = 1, .max = 86400,
	  .unit = "seconds", .def = "15" },
	{ "events", "event timeout", T_UINT, FIELD(event_timeout_s), .min = 1, .max = 86400,
	  .unit = "seconds", .def = "30" },
	{ "events", "monitor timeout count", T_UINT, FIELD(monitor_timeout_count), .min = 1,
	  .max = 1000, .def = "3" },
	{ "events", "shutdown timeout", T_UINT, FIELD(shutdown_timeout_s), .min = 1, .max = 3600,
	  .unit = "seconds", .def = "10" },
	{ "supervision", "restart backoff max", T_UINT, FIELD(restart_backoff_max_ms), .min = 100,
	  .max = 3600000, .unit = "milliseconds", .def = "5000" },
	{ "supervision", "permanent failure count", T_UINT, FIELD(permafail_count), .min = 1,
	  .max = 1000, .def = "5" },
	{ "supervision", "permanent failure seconds", T_UINT, FIELD(permafail_seconds), .min = 1,
	  .max = 86400, .unit = "seconds", .def = "60" },
	{ "logging", "location", T_LOCATION, FIELD(log_location), .def = "stderr" },
	{ "logging", "level", T_LEVEL, FIELD(log_level), .def = "notice" },
	{ "logging", "facility", T_FACILITY, FIELD(log_facility), .def = "daemon" },
	{ "logging", "tag", T_TOKEN, FIELD(log_tag), .unit = "letters, digits, '.', '_' or '-'",
	  .def = "" },
	{ "logging", "hostname", T_TOKEN, FIELD(log_hostname), .unit = "printable ASCII",
	  .def = "" },
};
#define NITEMS (sizeof items / sizeof items[0])

static const char *const level_names[] = {
	[LOGL_ERR] = "err", [LOGL_WARNING] = "warning", [LOGL_NOTICE] = "notice",
	[LOGL_INFO] = "info", [LOGL_DEBUG] = "debug",
};

const char *log_level_name(int level)
{
	if (level < LOGL_ERR || level > LOGL_DEBUG)
		return "?";
	return level_names[level];
}

int log_level_parse(const char *s)
{
	for (int l = LOGL_ERR; l <= LOGL_DEBUG; l++)
		if (strcasecmp(s, level_names[l]) == 0)
			return l;
	/* The spellings of syslog(3)'s LOG_ERR/LOG_WARNING and of CTDB's levels. */
	if (strcasecmp(s, "error") == 0)
		return LOGL_ERR;
	if (strcasecmp(s, "warn") == 0)
		return LOGL_WARNING;
	return -1;
}

/* syslog(3)'s facility codes (<syslog.h> LOG_xxx >> 3), as RFC 5424 numbers them. */
static const char *const facility_names[] = {
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
	"authpriv", "ftp", NULL, NULL, NULL, NULL, "local0", "local1", "local2", "local3",
	"local4", "local5", "local6", "local7",
};
#define NFACILITIES (int)(sizeof facility_names / sizeof facility_names[0])

const char *log_facility_name(int code)
{
	if (code < 0 || code >= NFACILITIES || !facility_names[code])
		return "?";
	return facility_names[code];
}

int log_facility_parse(const char *s)
{
	for (int i = 0; i < NFACILITIES; i++)
		if (facility_names[i] && strcasecmp(s, facility_names[i]) == 0)
			return i;
	return -1;
}

/* HOST:PORT (or [V6]:PORT) after "syslog:udp:"; an empty rest keeps the defaults. */
static int parse_host_port(const char *s, struct conf_log_target *t)
{
	const char *colon;
	size_t hlen;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -1;
		hlen = (size_t)(close - s - 1);
		s++;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen)) /* a bare IPv6 address needs brackets */
			return -1;
	}
	if (hlen == 0 || hlen >= sizeof t->host)
		return -1;
	for (size_t i = 0; i < hlen; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(".-_:", s[i]))
			return -1;
	unsigned long port = 0;
	const char *p = colon + 1;
	if (!*p)
		return -1;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p) || (port = port * 10 + (unsigned long)(*p - '0')) > 65535)
			return -1;
	}
	if (port == 0)
		return -1;
	memcpy(t->host, s, hlen);
	t->host[hlen] = 0;
	t->port = (unsigned)port;
	return 0;
}

int conf_log_target_parse(const char *s, struct conf_log_target *t, char *what, size_t wlen)
{
	memset(t, 0, sizeof *t);
	snprintf(t->host, sizeof t->host, "127.0.0.1");
	t->port = 514;
	const char *path = NULL;
	if (strcmp(s, "stderr") == 0) {
		t->kind = CONF_LOG_STDERR;
		return 0;
	} else if (s[0] == '/') {
		t->kind = CONF_LOG_FILE;
		path = s;
	} else if (strncmp(s, "file:", 5) == 0) {
		t->kind = CONF_LOG_FILE;
		path = s + 5;
	} else if (strcmp(s, "syslog") == 0) {
		t->kind = CONF_LOG_SYSLOG;
		return 0;
	} else if (strcmp(s, "syslog:nonblocking") == 0) {
		t->kind = CONF_LOG_NONBLOCKING;
		path = "/dev/log";
	} else if (strncmp(s, "syslog:nonblocking:", 19) == 0) {
		t->kind = CONF_LOG_NONBLOCKING;
		path = s + 19;
	} else if (strcmp(s, "syslog:udp") == 0 || strcmp(s, "syslog:udp-rfc5424") == 0) {
		t->kind = s[10] ? CONF_LOG_UDP_5424 : CONF_LOG_UDP;
		return 0;
	} else if (strncmp(s, "syslog:udp:", 11) == 0 || strncmp(s, "syslog:udp-rfc5424:", 19) == 0) {
		t->kind = s[10] == ':' ? CONF_LOG_UDP : CONF_LOG_UDP_5424;
		if (parse_host_port(s + (t->kind == CONF_LOG_UDP ? 11 : 19), t) < 0) {
			snprintf(what, wlen, "expected HOST:PORT or [IPv6]:PORT (port 1 to 65535) after "
				 "syslog:%s:", t->kind == CONF_LOG_UDP ? "udp" : "udp-rfc5424");
			return -1;
		}
		return 0;
	} else {
		snprintf(what, wlen, "expected stderr, file:PATH, syslog, syslog:nonblocking[:SOCKET], "
			 "syslog:udp[:HOST:PORT] or syslog:udp-rfc5424[:HOST:PORT]");
		return -1;
	}
	if (path[0] != '/') {
		snprintf(what, wlen, "expected an absolute path after %s",
			 t->kind == CONF_LOG_FILE ? "file:" : "syslog:nonblocking:");
		return -1;
	}
	size_t max = t->kind == CONF_LOG_FILE ? sizeof t->path : CONF_SUN_PATH_MAX;
	if (strlen(path) >= max) {
		snprintf(what, wlen, "path longer than %zu bytes", max - 1);
		return -1;
	}
	memcpy(t->path, path, strlen(path) + 1);
	return 0;
}

int conf_lock_parse(const char *s, int *kind, const char **arg, char *what, size_t wlen)
{
	if (strcmp(s, "none") == 0) {
		*kind = CONF_LOCK_NONE;
		*arg = "";
		return 0;
	}
	if (strncmp(s, "file:", 5) == 0) {
		if (s[5] != '/') {
			snprintf(what, wlen, "expected an absolute path after file:");
			return -1;
		}
		*kind = CONF_LOCK_FILE;
		*arg = s + 5;
		return 0;
	}
	if (s[0] == '!') {
		const char *p = s + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p) {
			snprintf(what, wlen, "expected a command after !");
			return -1;
		}
		*kind = CONF_LOCK_COMMAND;
		*arg = p;
		return 0;
	}
	snprintf(what, wlen, "expected none, file:PATH or !COMMAND ARGS");
	return -1;
}

/* ---- errors ---- */

void conf_err_set(struct conf_error *err, const char *file, unsigned line, const char *fmt, ...)
{
	if (!err)
		return;
	snprintf(err->file, sizeof err->file, "%s", file ? file : "");
	err->line = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->what, sizeof err->what, fmt, ap);
	va_end(ap);
}

const char *conf_error_str(const struct conf_error *e, char *buf, size_t len)
{
	if (e->line)
		snprintf(buf, len, "%s:%u: %s", e->file, e->line, e->what);
	else
		snprintf(buf, len, "%s: %s", e->file, e->what);
	return buf;
}

const char *conf_quote(const char *s, char *buf, size_t len)
{
	size_t n = 0, max = len < 64 ? len : 64;
	for (; *s && n + 4 < max; s++)
		buf[n++] = isprint((unsigned char)*s) ? *s : '?';
	if (*s && max >= 4) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = 0;
	return buf;
}

/* ---- small text helpers ---- */

char *conf_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

int conf_each_line(FILE *f, const char *name, struct conf_error *err, conf_line_fn *fn, void *arg)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	int r = 0, e = EINVAL;
	errno = 0;
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (strlen(line) != (size_t)len) {
			conf_err_set(err, name, lineno, "line holds a NUL byte");
			r = -1;
			break;
		}
		char *s = conf_trim(line);
		if (*s && fn(arg, s, lineno) < 0) {
			r = -1;
			break;
		}
	}
	if (r == 0 && ferror(f)) {
		e = errno ? errno : EIO;
		conf_err_set(err, name, 0, "%s", strerror(e));
		r = -1;
	}
	free(line);
	if (r < 0)
		errno = e;
	return r;
}

int conf_parse_address(const char *s, char *out, size_t len)
{
	unsigned char bin[sizeof(struct in6_addr)];
	int af = strchr(s, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(af, s, bin) != 1 || !inet_ntop(af, bin, out, len)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* ---- values ---- */

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -1;
	}
	if (v < min)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Stores value v (trimmed) in c's field for it; else -1 with the reason in what. */
static int set_value(struct conf *c, const struct item *it, const char *v, char *what, size_t wlen)
{
	char *field = (char *)c + it->offset;
	char q[64];

	switch (it->type) {
	case T_CHOICE: {
		char list[96];
		size_t off = 0;
		for (int i = 0; it->choices[i]; i++) {
			if (strcasecmp(v, it->choices[i]) == 0) {
				memcpy(field, &i, sizeof i);
				return 0;
			}
			off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "",
			                        it->choices[i]);
		}
		snprintf(what, wlen, "%s: expected one of %s, got \"%s\"", it->key, list,
		         conf_quote(v, q, sizeof q));
		return -1;
	}
	case T_LOCK: {
		int kind;
		const char *arg;
		char why[200];
		if (conf_lock_parse(v, &kind, &arg, why, sizeof why) < 0) {
			snprintf(what, wlen, "%s: %s, got \"%s\"", it->key, why,
				 conf_quote(v, q, sizeof q));
			return -1;
		}
		goto copy;
	}
	case T_ADDRESS: {
		char addr[CONF_ADDR_MAX];
		if (!*v) {
			addr[0] = 0; /* not set: conf_check says so */
		} else if (conf_parse_address(v, addr, sizeof addr) < 0) {
			snprintf(what, wlen, "%s: expected an IPv4 or IPv6 address, got \"%s\"",
				 it->key, conf_quote(v, q, sizeof q));
			return -1;
		}
		memset(field, 0, it->size);
		memcpy(field, addr, strlen(addr));
		return 0;
	}
	case T_LOCATION: {
		struct conf_log_target t;
		char why[200];
		if (conf_log_target_parse(v, &t, why, sizeof why) < 0) {
			snprintf(what, wlen, "%s: %s, got \"%s\"", it->key, why,
				 conf_quote(v, q, sizeof q));
			return -1;
		}
		goto copy;
	}
	case T_FACILITY: {
		int f = log_facility_parse(v);
		if (f < 0) {
			snprintf(what, wlen, "%s: expected a syslog facility (daemon, user, local0 .. "
				 "local7, ...), got \"%s\"", it->key, conf_quote(v, q, sizeof q));
			return -1;
		}
		memcpy(field, &f, sizeof f);
		return 0;
	}
	case T_TOKEN: {
		bool tag = it->offset == offsetof(struct conf, log_tag);
		for (const char *p = v; *p; p++)
			if (tag ? !isalnum((unsigned char)*p) && !strchr("._-", *p)
				: *p <= ' ' || *p > '~') {
				snprintf(what, wlen, "%s: expected %s, got \"%s\"", it->key, it->unit,
					 conf_quote(v, q, sizeof q));
				return -1;
			}
		if (strlen(v) >= it->size) {
			snprintf(what, wlen, "%s: longer than %zu bytes", it->key, it->size - 1);
			return -1;
		}
		memset(field, 0, it->size);
		memcpy(field, v, strlen(v));
		return 0;
	}
	case T_PATH:
		if (v[0] != '/') {
			snprintf(what, wlen, "%s: expected an absolute path, got \"%s\"", it->key,
				 conf_quote(v, q, sizeof q));
			return -1;
		}
	copy:
		if (strlen(v) >= it->size) {
			snprintf(what, wlen, "%s: path longer than %zu bytes", it->key, it->size - 1);
			return -1;
		}
		memset(field, 0, it->size);
		memcpy(field, v, strlen(v));
		return 0;
	case T_UINT: {
		unsigned u;
		if (parse_uint(v, it->min, it->max, &u) < 0) {
			snprintf(what, wlen, "%s: expected a number%s%s from %u to %u, got \"%s\"",
				 it->key, it->unit ? " of " : "", it->unit ? it->unit : "", it->min,
				 it->max, conf_quote(v, q, sizeof q));
			return -1;
		}
		memcpy(field, &u, sizeof u);
		return 0;
	}
	case T_LEVEL: {
		int l = log_level_parse(v);
		if (l < 0) {
			snprintf(what, wlen,
				 "%s: expected one of err, warning, notice, info, debug, got \"%s\"",
				 it->key, conf_quote(v, q, sizeof q));
			return -1;
		}
		memcpy(field, &l, sizeof l);
		return 0;
	}
	}
	return -1;
}

static void print_value(const struct conf *c, const struct item *it, FILE *f)
{
	const char *field = (const char *)c + it->offset;
	unsigned u;
	int l;

	switch (it->type) {
	case T_ADDRESS:
	case T_PATH:
	case T_LOCK:
	case T_LOCATION:
	case T_TOKEN:
		fprintf(f, "%s =%s%s\n", it->key, *field ? " " : "", field); /* no trailing blank */
		break;
	case T_UINT:
		memcpy(&u, field, sizeof u);
		fprintf(f, "%s = %u\n", it->key, u);
		break;
	case T_LEVEL:
		memcpy(&l, field, sizeof l);
		fprintf(f, "%s = %s\n", it->key, log_level_name(l));
		break;
	case T_CHOICE:
		memcpy(&l, field, sizeof l);
		fprintf(f, "%s = %s\n", it->key, it->choices[l]);
		break;
	case T_FACILITY:
		memcpy(&l, field, sizeof l);
		fprintf(f, "%s = %s\n", it->key, log_facility_name(l));
		break;
	}
}

void conf_defaults(struct conf *c)
{
	char what[256];
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < NITEMS; i++)
		(void)set_value(c, &items[i], items[i].def, what, sizeof what); /* tested */
}

void conf_print(const struct conf *c, FILE *f)
{
	for (size_t s = 0; s < NSECTIONS; s++) {
		fprintf(f, "%s[%s]\n", s ? "\n" : "", sections[s]);
		for (size_t i = 0; i < NITEMS; i++)
			if (strcmp(items[i].section, sections[s]) == 0)
				print_value(c, &items[i], f);
	}
}

/* ---- the parser ---- */

static int find_section(const char *name)
{
	for (size_t s = 0; s < NSECTIONS; s++)
		if (strcasecmp(name, sections[s]) == 0)
			return (int)s;
	return -1;
}

static int find_item(int section, const char *key)
{
	for (size_t i = 0; i < NITEMS; i++)
		if (strcmp(items[i].section, sections[section]) == 0 &&
		    strcasecmp(items[i].key, key) == 0)
			return (int)i;
	return -1;
}

/* "a, b, c": the keys of one section, or the section names when section < 0. */
static const char *list_names(int section, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = 0;
	if (section < 0) {
		for (size_t s = 0; s < NSECTIONS; s++)
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", s ? ", " : "",
					      sections[s]);
		return buf;
	}
	for (size_t i = 0; i < NITEMS; i++)
		if (strcmp(items[i].section, sections[section]) == 0)
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? ", " : "",
					      items[i].key);
	return buf;
}

/* One line of the file (trimmed, not blank, not a comment). */
static int parse_line(struct conf *c, char *line, int *section, unsigned *seen, unsigned lineno,
		      const char *name, struct conf_error *err)
{
	char q[64], list[200];

	if (line[0] == '[') {
		size_t n = strlen(line);
		if (line[n - 1] != ']')
			goto malformed;
		line[n - 1] = 0;
		char *sname = conf_trim(line + 1);
		*section = find_section(sname);
		if (*section < 0) {
			conf_err_set(err, name, lineno, "unknown section [%s] (expected one of: %s)",
				     conf_quote(sname, q, sizeof q), list_names(-1, list, sizeof list));
			return -1;
		}
		return 0;
	}

	char *eq = strchr(line, '=');
	if (!eq)
		goto malformed;
	*eq = 0;
	char *key = conf_trim(line), *value = conf_trim(eq + 1);
	if (!*key)
		goto malformed;
	if (*section < 0) {
		conf_err_set(err, name, lineno, "key \"%s\" before any [section] line",
			     conf_quote(key, q, sizeof q));
		return -1;
	}
	int i = find_item(*section, key);
	if (i < 0) {
		conf_err_set(err, name, lineno, "unknown key \"%s\" in [%s] (expected one of: %s)",
			     conf_quote(key, q, sizeof q), sections[*section],
			     list_names(*section, list, sizeof list));
		return -1;
	}
	if (seen[i]) {
		conf_err_set(err, name, lineno, "duplicate key \"%s\" (first set on line %u)",
			     items[i].key, seen[i]);
		return -1;
	}
	seen[i] = lineno;
	char what[256];
	if (set_value(c, &items[i], value, what, sizeof what) < 0) {
		conf_err_set(err, name, lineno, "%s", what);
		return -1;
	}
	return 0;

malformed:
	conf_err_set(err, name, lineno, "expected [section], key = value, or a comment");
	return -1;
}

struct conf_reader {
	struct conf *c;
	int section;
	unsigned *seen;
	const char *name;
	struct conf_error *err;
};

static int conf_line(void *arg, char *s, unsigned lineno)
{
	struct conf_reader *x = arg;
	if (*s == '#' || *s == ';')
		return 0;
	return parse_line(x->c, s, &x->section, x->seen, lineno, x->name, x->err);
}

int conf_load_stream(struct conf *c, FILE *f, const char *name, struct conf_error *err)
{
	unsigned seen[NITEMS] = { 0 }; /* line where each key was set */
	struct conf_reader x = { c, -1, seen, name, err };
	conf_defaults(c);
	snprintf(c->path, sizeof c->path, "%s", name);
	return conf_each_line(f, name, err, conf_line, &x);
}

int conf_load(struct conf *c, const char *path, struct conf_error *err)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		conf_defaults(c);
		conf_err_set(err, path, 0, "%s", strerror(e));
		errno = e;
		return -1;
	}
	int r = conf_load_stream(c, f, path, err);
	int e = errno;
	fclose(f);
	errno = e;
	return r;
}

/* ---- cross checks and the key ---- */

/* Opens and checks the key file; returns the fd (and its size in *size) or -1. */
static int open_key(const char *path, size_t *size, struct conf_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	int e;

	if (fd < 0 || fstat(fd, &st) < 0) {
		e = errno;
		conf_err_set(err, path, 0, "%s", strerror(e));
		goto fail;
	}
	e = EINVAL;
	mode_t mode = st.st_mode & 07777;
	if (!S_ISREG(st.st_mode)) {
		conf_err_set(err, path, 0, "cluster key: not a regular file");
	} else if (mode & 0026) {
		conf_err_set(err, path, 0,
			     "cluster key: mode %04o lets others read or write it: run chmod 600 %s",
			     (unsigned)mode, path);
		e = EPERM;
	} else if (mode != 0600 && mode != 0640) {
		conf_err_set(err, path, 0, "cluster key: mode %04o, expected 0600 or 0640: run chmod 600 %s",
			     (unsigned)mode, path);
		e = EPERM;
	} else if (st.st_size < CONF_KEY_MIN || st.st_size > CONF_KEY_MAX) {
		conf_err_set(err, path, 0, "cluster key: holds %lld bytes, expected %d to %d",
			     (long long)st.st_size, CONF_KEY_MIN, CONF_KEY_MAX);
	} else {
		*size = (size_t)st.st_size;
		return fd;
	}
fail:
	if (fd >= 0)
		close(fd);
	errno = e;
	return -1;
}

int conf_read_key(const char *path, uint8_t *key, size_t cap, struct conf_error *err)
{
	size_t size, n = 0;
	int fd = open_key(path, &size, err), e = EINVAL;
	if (fd < 0)
		return -1;
	if (size > cap) {
		conf_err_set(err, path, 0, "cluster key: holds %zu bytes, more than the %zu expected",
			     size, cap);
		e = ENOBUFS;
		goto fail;
	}
	while (n < size) {
		ssize_t r = read(fd, key + n, size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e = r < 0 ? errno : EIO;
			conf_err_set(err, path, 0, "%s", r < 0 ? strerror(e) : "file shrank while read");
			goto fail;
		}
		n += (size_t)r;
	}
	close(fd);
	return (int)n;
fail:
	close(fd);
	errno = e;
	return -1;
}

int conf_check(const struct conf *c, const struct conf_nodes *n, struct conf_error *err)
{
	if (!c->node_address[0]) {
		conf_err_set(err, c->path, 0,
			     "node address is not set: add \"node address = <this node's address>\" to [cluster]");
		errno = EINVAL;
		return -1;
	}
	int num = nodes_find(n, c->node_address);
	if (num < 0) {
		int deleted = -1;
		for (unsigned i = 0; i < n->count; i++)
			if (n->node[i].deleted && strcmp(n->node[i].address, c->node_address) == 0)
				deleted = (int)i;
		if (deleted >= 0)
			conf_err_set(err, c->nodes_file, 0,
				     "node address %s (from %s) is node %d, which is deleted",
				     c->node_address, c->path, deleted);
		else
			conf_err_set(err, c->nodes_file, 0,
				     "node address %s (from %s) is not listed", c->node_address,
				     c->path);
		errno = EINVAL;
		return -1;
	}

	size_t dir = strlen(c->run_dir), need = dir + strlen("/sock/") + CONF_SOCK_NAME_MAX;
	if (need > CONF_SUN_PATH_MAX - 1) {
		conf_err_set(err, c->path, 0,
			     "run directory is too long (%zu bytes): socket paths under it would take "
			     "%zu bytes, more than the %d of sun_path; use at most %d bytes",
			     dir, need, CONF_SUN_PATH_MAX - 1,
			     (int)(CONF_SUN_PATH_MAX - 1 - strlen("/sock/") - CONF_SOCK_NAME_MAX));
		errno = ENAMETOOLONG;
		return -1;
	}

	size_t size;
	int fd = open_key(c->cluster_key, &size, err);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}
