/* shoal configuration: one INI file for every daemon, and the nodes file.
 *
 * INI: `[section]` lines, then `key = value` lines; keys may contain spaces (`node address`);
 * `#` and `;` start comments at the start of a line; blank lines are ignored. Unknown
 * sections or keys, duplicates, and values of the wrong form are errors that name the file,
 * the line and what was expected. conf_print() writes every setting, defaults included, in a
 * canonical form that conf_load() reads back to the same struct.
 *
 * Nodes file (as CTDB's): one address per line, node number = line order from 0; a line
 * starting with `#` is a deleted node that keeps its number; blank lines are ignored and do
 * not take a number. The address after `#`, if any, must be valid; it is remembered (and
 * printed) but never matched. A line starting with `;` is a comment and takes no number (so
 * a `# comment` cannot silently renumber the nodes after it: it is an error).
 */
#ifndef SHOAL_CONF_H
#define SHOAL_CONF_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_DEFAULT_PATH "/etc/shoal/shoal.conf"
#define CONF_MAX_NODES    1024
#define CONF_ADDR_MAX     64   /* textual address, IPv6 included */
#define CONF_PORT_BASE    4480 /* not CTDB's 4379, so both can run side by side */
#define CONF_PORT_SPAN    16   /* ports port_base .. port_base + 15, one per service */
#define CONF_SUN_PATH_MAX 108  /* sizeof(sockaddr_un.sun_path) */
/* The longest socket name under `<run dir>/sock/` (a client's c.PID.N). */
#define CONF_SOCK_NAME_MAX 32
#define CONF_KEY_MIN      32   /* bytes in the cluster key file */
#define CONF_KEY_MAX      1024
#define CONF_LOG_TAG_MAX  24   /* with the NUL; tag-service fits RFC 5424's 48 */
#define CONF_LOG_HOST_MAX 256  /* RFC 5424 HOSTNAME: at most 255 printable ASCII */

struct conf_error {
	char file[PATH_MAX];
	unsigned line;          /* 0: the error is about the file as a whole */
	char what[256];
};
/* "file:line: what" (or "file: what") into buf. */
const char *conf_error_str(const struct conf_error *e, char *buf, size_t len);

enum log_level_value { LOGL_ERR = 3, LOGL_WARNING = 4, LOGL_NOTICE = 5, LOGL_INFO = 6, LOGL_DEBUG = 7 };

enum { CONF_START_ENABLED, CONF_START_DISABLED, CONF_START_STOPPED };
enum { CONF_HEALTH_SVCD, CONF_HEALTH_NONE };
/* [ip] ip allocation: the values are CTDB's IPAllocAlgorithm (and ipalloc's). */
enum { CONF_IPALLOC_DETERMINISTIC, CONF_IPALLOC_NONDETERMINISTIC, CONF_IPALLOC_LCP2 };
enum { CONF_IPHOSTS_MEMBERD, CONF_IPHOSTS_MANUAL };

struct conf {
	char path[PATH_MAX];
	/* [cluster] */
	char node_address[CONF_ADDR_MAX]; /* this node's address, canonical text */
	char nodes_file[PATH_MAX];        /* default /etc/shoal/nodes */
	char cluster_key[PATH_MAX];       /* default /etc/shoal/cluster.key; mode 0600 */
	unsigned port_base;               /* default CONF_PORT_BASE */
	char run_dir[PATH_MAX];           /* default /run/shoal */
	char cluster_lock[PATH_MAX];      /* none | file:PATH | !COMMAND ARGS; see conf_lock_parse */
	int leader_capable;               /* yes: this node may lead */
	/* [database] */
	char db_dir[PATH_MAX];            /* `directory`, default /var/lib/shoal */
	/* [membership] */
	unsigned keepalive_interval_ms;   /* default 180: memberd wakes once per interval */
	unsigned keepalive_limit;         /* default 3: silent intervals before disconnected */
	int start_as;                     /* CONF_START_*: the state at first start */
	int health_monitor;               /* CONF_HEALTH_*: who clears "not yet monitored" */
	int realtime;                     /* yes: SCHED_FIFO and locked memory where allowed */
	/* [leadership] */
	unsigned lease_ms;                /* default 500: a frozen leader is replaced within 1 s */
	unsigned election_timeout_ms;     /* default 200: then the next candidate bids */
	unsigned drift_percent;           /* default 1: clock rate difference a lease allows */
	int enable_bans;                  /* yes: culprits are banned */
	unsigned ban_culprit_count;       /* default 3: more reports than this ... */
	unsigned recovery_grace_s;        /* ... within 120 s ban the node ... */
	unsigned recovery_ban_s;          /* ... for 300 s */
	/* [ip] */
	char public_addresses[PATH_MAX];  /* default /etc/shoal/public_addresses */
	int ip_allocation;                /* CONF_IPALLOC_*, default lcp2 */
	int no_ip_failback;               /* yes: never rebalance, only place (NoIPFailback) */
	int no_ip_takeover;               /* yes: no node receives an address (NoIPTakeover) */
	int disable_ip_failover;          /* yes: no allocation at all (DisableIPFailover) */
	int no_ip_host_on_all_disabled;   /* obsolete (as in CTDB 4.17): accepted, ignored */
	int ip_host_source;               /* CONF_IPHOSTS_*: who says which nodes may host */
	unsigned shutdown_failover_timeout_s; /* default 10: shoal node stop hands addresses over */
	/* [events] (svcd) */
	char events_dir[PATH_MAX];        /* `directory`, default /etc/shoal/events.d */
	char hook_dir[PATH_MAX];          /* default /etc/shoal/hooks.d: ipd's notifications */
	unsigned monitor_interval_s;      /* default 15 */
	unsigned event_timeout_s;         /* default 30: all scripts of one event */
	unsigned monitor_timeout_count;   /* default 3 consecutive monitor timeouts = failure */
	unsigned shutdown_timeout_s;      /* default 10: below `shoal node stop`'s patience */
	/* [supervision] */
	unsigned restart_backoff_max_ms;  /* default 5000 */
	unsigned permafail_count;         /* default 5 deaths ... */
	unsigned permafail_seconds;       /* ... within 60 s leave the daemon down */
	/* [logging] */
	char log_location[PATH_MAX];      /* default "stderr"; see conf_log_target_parse */
	int log_level;                    /* default LOGL_NOTICE */
	int log_facility;                 /* syslog facility code (LOG_DAEMON >> 3 = 3) */
	char log_tag[CONF_LOG_TAG_MAX];   /* "": APP-NAME is the service, else TAG-SERVICE */
	char log_hostname[CONF_LOG_HOST_MAX]; /* "": the node address */
};

struct conf_node {
	char address[CONF_ADDR_MAX];     /* canonical text (inet_ntop of inet_pton) */
	bool deleted;
};

struct conf_nodes {
	unsigned count;                  /* numbers 0 .. count-1 */
	struct conf_node node[CONF_MAX_NODES];
	uint8_t digest[32];              /* SHA-256 of the canonical list, for peers to compare */
};

/* Fills defaults, then reads path. 0, or -1 with *err filled (errno set). */
int conf_load(struct conf *c, const char *path, struct conf_error *err);
void conf_defaults(struct conf *c);
/* Canonical form: every section and key, defaults included. */
void conf_print(const struct conf *c, FILE *f);

int nodes_load(struct conf_nodes *n, const char *path, struct conf_error *err);
/* The same from an open stream; name is used in errors (and as conf->path). */
int conf_load_stream(struct conf *c, FILE *f, const char *name, struct conf_error *err);
int nodes_load_stream(struct conf_nodes *n, FILE *f, const char *name, struct conf_error *err);
void nodes_print(const struct conf_nodes *n, FILE *f);
/* The number of the node whose address is addr, or -1. */
int nodes_find(const struct conf_nodes *n, const char *addr);
/* Whether two nodes lists can belong to one cluster during a rolling reload: they differ
 * only by entries added at the end of one, or by entries one of them has deleted (`#`).
 * 0, or -1 with the first difference in why. Symmetric. */
int nodes_compatible(const struct conf_nodes *a, const struct conf_nodes *b, char *why, size_t len);
/* Whether `next` may replace `cur` in a running node: only additions and new deletions
 * (a deleted node never comes back under its old number). 0, or -1 with why. */
int nodes_reload_ok(const struct conf_nodes *cur, const struct conf_nodes *next, char *why,
                    size_t len);

/* Cross checks of a loaded pair: this node's address is listed and not deleted, socket paths
 * under run_dir fit in sun_path, the key file exists, is a regular file of mode 0600 (or
 * 0640) and holds at least 32 bytes. 0, or -1 with *err. */
int conf_check(const struct conf *c, const struct conf_nodes *n, struct conf_error *err);

/* Reads the cluster key (the whole file, 32..1024 bytes) into key; returns its length or -1. */
int conf_read_key(const char *path, uint8_t *key, size_t cap, struct conf_error *err);

/* Canonical text of an IPv4 or IPv6 address (inet_ntop of inet_pton) into out; 0 or -1
 * (EINVAL). fe80:0:0::1 -> fe80::1. */
int conf_parse_address(const char *s, char *out, size_t len);

/* [logging] location, as CTDB's `logging` option:
 *   stderr                           the supervisor's log pipe
 *   file:PATH (or a bare /PATH)      appended to, reopened on SIGHUP
 *   syslog                           syslog(3)
 *   syslog:nonblocking[:SOCKET]      RFC 3164 to a local datagram socket (/dev/log)
 *   syslog:udp[:HOST:PORT]           RFC 3164 over UDP (127.0.0.1:514); [IPv6]:PORT
 *   syslog:udp-rfc5424[:HOST:PORT]   RFC 5424 over UDP (RFC 5426) */
enum conf_log_kind {
	CONF_LOG_STDERR, CONF_LOG_FILE, CONF_LOG_SYSLOG, CONF_LOG_NONBLOCKING, CONF_LOG_UDP,
	CONF_LOG_UDP_5424,
};
struct conf_log_target {
	enum conf_log_kind kind;
	char path[PATH_MAX];     /* FILE, NONBLOCKING */
	char host[256];          /* UDP: a name or a numeric address, no brackets */
	unsigned port;
};
/* 0, or -1 with the reason (what was expected) in what. */
int conf_log_target_parse(const char *s, struct conf_log_target *t, char *what, size_t wlen);

/* [cluster] cluster lock, as CTDB's `cluster lock`:
 *   none            no shared storage: a term needs votes from a majority of the nodes
 *   file:PATH       a lease on a file of shared storage (an absolute path)
 *   !COMMAND ARGS   an external mutex helper with CTDB's contract (cluster_mutex_helper.txt) */
enum conf_lock_kind { CONF_LOCK_NONE, CONF_LOCK_FILE, CONF_LOCK_COMMAND };
/* The kind, and in arg the path or the command line; -1 with the reason in what. */
int conf_lock_parse(const char *s, int *kind, const char **arg, char *what, size_t wlen);

const char *log_level_name(int level); /* "?" if out of range */
/* syslog facility names (daemon, local0 ..) and codes (LOG_DAEMON >> 3). */
const char *log_facility_name(int code); /* "?" if out of range */
int log_facility_parse(const char *s);   /* -1 if unknown */
int log_level_parse(const char *s); /* -1 if unknown */

#endif
