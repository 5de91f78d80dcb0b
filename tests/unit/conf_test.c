/* Unit tests of lib/conf (the INI parser, the nodes file, the checks) and lib/log.
 * Prints a line per failure; exits 1 if any. */
#include "conf/conf.h"
#include "log/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static struct conf conf, conf2;
static struct conf_nodes nodes, nodes2;
static char tmpdir[] = "/tmp/conf_test.XXXXXX";

static const char *errstr(const struct conf_error *e)
{
	static char buf[PATH_MAX + 300];
	return conf_error_str(e, buf, sizeof buf);
}

/* Parses text as "shoal.conf"; returns 0/-1 and leaves the error string in *msg. */
static int parse_conf(struct conf *c, const char *text, const char **msg)
{
	struct conf_error err = { .line = 0 };
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	if (!f) {
		perror("fmemopen");
		exit(2);
	}
	int r = conf_load_stream(c, f, "shoal.conf", &err);
	fclose(f);
	*msg = r < 0 ? errstr(&err) : "";
	return r;
}

static int parse_nodes(struct conf_nodes *n, const char *text, const char **msg)
{
	struct conf_error err = { .line = 0 };
	/* fmemopen of an empty buffer is refused: give it a blank line instead. */
	FILE *f = fmemopen((void *)(*text ? text : "\n"), *text ? strlen(text) : 1, "r");
	if (!f) {
		perror("fmemopen");
		exit(2);
	}
	int r = nodes_load_stream(n, f, "nodes", &err);
	fclose(f);
	*msg = r < 0 ? errstr(&err) : "";
	return r;
}

/* conf_print into a string (static buffer). */
static const char *print_conf(const struct conf *c)
{
	static char buf[8192];
	FILE *f = fmemopen(buf, sizeof buf, "w");
	conf_print(c, f);
	fclose(f);
	return buf;
}

static const char *print_nodes(const struct conf_nodes *n)
{
	static char buf[CONF_MAX_NODES * (CONF_ADDR_MAX + 2) + 1];
	FILE *f = fmemopen(buf, sizeof buf, "w");
	nodes_print(n, f);
	fclose(f);
	return buf;
}

/* ---- the INI file ---- */

static void test_defaults(void)
{
	const char *msg;
	conf_defaults(&conf);
	CHECK(conf.node_address[0] == 0, "node address default");
	CHECK(strcmp(conf.nodes_file, "/etc/shoal/nodes") == 0, "nodes file %s", conf.nodes_file);
	CHECK(strcmp(conf.cluster_key, "/etc/shoal/cluster.key") == 0, "key %s", conf.cluster_key);
	CHECK(conf.port_base == CONF_PORT_BASE, "port base %u", conf.port_base);
	CHECK(strcmp(conf.run_dir, "/run/shoal") == 0, "run dir %s", conf.run_dir);
	CHECK(strcmp(conf.db_dir, "/var/lib/shoal") == 0, "db dir %s", conf.db_dir);
	CHECK(conf.keepalive_interval_ms == 180, "keepalive interval");
	CHECK(conf.keepalive_limit == 3, "keepalive limit");
	CHECK(conf.restart_backoff_max_ms == 5000, "backoff");
	CHECK(conf.permafail_count == 5, "permafail count");
	CHECK(conf.permafail_seconds == 60, "permafail seconds");
	CHECK(strcmp(conf.log_location, "stderr") == 0, "location");
	CHECK(conf.log_level == LOGL_NOTICE, "level");

	/* An empty file gives the defaults. */
	CHECK(parse_conf(&conf2, "# nothing\n\n; at all\n", &msg) == 0, "empty: %s", msg);
	CHECK(strcmp(print_conf(&conf), print_conf(&conf2)) == 0, "empty file != defaults");
}

static void test_good(void)
{
	const char *msg;
	const char *text =
		"  # comment\n"
		"; another\n"
		"\n"
		"[ Cluster ]\n"
		"Node Address=fe80:0:0::1   \n"
		"\tport base =\t 5000\r\n"
		"RUN DIRECTORY = /tmp/x y\n"
		"[logging]\n"
		"level = DEBUG\n"
		"location = /var/log/shoal.log\n"
		"[membership]\n"
		"keepalive interval = 0010\n"
		"keepalive limit = 100\n"
		"[cluster]\n" /* a section may be opened again */
		"nodes file = /etc/n\n"
		"[supervision]\n"
		"permanent failure seconds = 86400\n";
	CHECK(parse_conf(&conf, text, &msg) == 0, "good: %s", msg);
	CHECK(strcmp(conf.node_address, "fe80::1") == 0, "ipv6 canonical: %s", conf.node_address);
	CHECK(conf.port_base == 5000, "port base %u", conf.port_base);
	CHECK(strcmp(conf.run_dir, "/tmp/x y") == 0, "run dir '%s'", conf.run_dir);
	CHECK(conf.log_level == LOGL_DEBUG, "level %d", conf.log_level);
	CHECK(strcmp(conf.log_location, "/var/log/shoal.log") == 0, "location");
	CHECK(conf.keepalive_interval_ms == 10, "interval %u", conf.keepalive_interval_ms);
	CHECK(conf.keepalive_limit == 100, "limit");
	CHECK(strcmp(conf.nodes_file, "/etc/n") == 0, "nodes file");
	CHECK(conf.permafail_seconds == 86400, "seconds");
	CHECK(strcmp(conf.path, "shoal.conf") == 0, "path %s", conf.path);

	/* Round trip: print, parse, same struct and same text. */
	char first[8192];
	snprintf(first, sizeof first, "%s", print_conf(&conf));
	CHECK(parse_conf(&conf2, first, &msg) == 0, "reparse: %s", msg);
	CHECK(memcmp(&conf, &conf2, sizeof conf) == 0, "round trip changed the struct");
	CHECK(strcmp(first, print_conf(&conf2)) == 0, "round trip changed the text");
	CHECK(strstr(first, "[cluster]\nnode address = fe80::1\nnodes file = /etc/n\n") == first,
	      "canonical text:\n%s", first);
	CHECK(strstr(first, "\nlevel = debug\n"), "level printed by name");

	/* An unset address prints as `node address =` and reads back as unset. */
	conf_defaults(&conf);
	snprintf(first, sizeof first, "%s", print_conf(&conf));
	CHECK(strstr(first, "node address =\n"), "unset address: %s", first);
	CHECK(parse_conf(&conf2, first, &msg) == 0 && conf2.node_address[0] == 0, "unset: %s", msg);

	static const struct {
		const char *in, *out;
	} addrs[] = {
		{ "127.0.0.1", "127.0.0.1" },
		{ "FE80::0:1", "fe80::1" },
		{ "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },
		{ "::ffff:10.0.0.1", "::ffff:10.0.0.1" },
		{ "0:0:0:0:0:0:0:0", "::" },
	};
	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		char out[CONF_ADDR_MAX];
		CHECK(conf_parse_address(addrs[i].in, out, sizeof out) == 0 &&
			      strcmp(out, addrs[i].out) == 0,
		      "address %s -> %s", addrs[i].in, out);
	}
}

static void test_bad(void)
{
	static const struct {
		const char *in, *err;
	} cases[] = {
		{ "[cluster]\nfoo = 1\n",
		  "shoal.conf:2: unknown key \"foo\" in [cluster] (expected one of: node address, "
		  "nodes file, cluster key, port base, run directory, cluster lock, leader capability)" },
		{ "[membership]\nkeepalive interval = fast\n",
		  "shoal.conf:2: keepalive interval: expected a number of milliseconds from 10 to "
		  "60000, got \"fast\"" },
		{ "[membership]\nkeepalive interval = 9\n",
		  "shoal.conf:2: keepalive interval: expected a number of milliseconds from 10 to "
		  "60000, got \"9\"" },
		{ "[membership]\nkeepalive interval = 60001\n",
		  "shoal.conf:2: keepalive interval: expected a number of milliseconds from 10 to "
		  "60000, got \"60001\"" },
		{ "[membership]\nkeepalive limit = -1\n",
		  "shoal.conf:2: keepalive limit: expected a number from 1 to 100, got \"-1\"" },
		{ "[membership]\nkeepalive limit = 99999999999999999999999\n",
		  "shoal.conf:2: keepalive limit: expected a number from 1 to 100, got "
		  "\"99999999999999999999999\"" },
		{ "[membership]\nkeepalive limit =\n",
		  "shoal.conf:2: keepalive limit: expected a number from 1 to 100, got \"\"" },
		{ "[membership]\nkeepalive limit = 5 # five\n",
		  "shoal.conf:2: keepalive limit: expected a number from 1 to 100, got \"5 # five\"" },
		{ "[cluster]\nport base = 1023\n",
		  "shoal.conf:2: port base: expected a number from 1024 to 65519, got \"1023\"" },
		{ "[cluster]\nport base = 65520\n",
		  "shoal.conf:2: port base: expected a number from 1024 to 65519, got \"65520\"" },
		{ "[supervision]\npermanent failure seconds = 0\n",
		  "shoal.conf:2: permanent failure seconds: expected a number of seconds from 1 to "
		  "86400, got \"0\"" },
		{ "[cluster]\nthis line is wrong\n",
		  "shoal.conf:2: expected [section], key = value, or a comment" },
		{ "[cluster\n", "shoal.conf:1: expected [section], key = value, or a comment" },
		{ "[cluster]\n = 3\n", "shoal.conf:2: expected [section], key = value, or a comment" },
		{ "node address = 127.0.0.1\n",
		  "shoal.conf:1: key \"node address\" before any [section] line" },
		{ "[clusters]\n",
		  "shoal.conf:1: unknown section [clusters] (expected one of: cluster, database, "
		  "membership, leadership, ip, events, supervision, logging)" },
		{ "[cluster]\nport base = 5000\n\n# again\nPort Base = 5000\n",
		  "shoal.conf:5: duplicate key \"port base\" (first set on line 2)" },
		{ "[cluster]\nport base = 5000\n[cluster]\nport base = 5000\n",
		  "shoal.conf:4: duplicate key \"port base\" (first set on line 2)" },
		{ "[cluster]\nnode  address = 127.0.0.1\n",
		  "shoal.conf:2: unknown key \"node  address\" in [cluster] (expected one of: node "
		  "address, nodes file, cluster key, port base, run directory, cluster lock, leader capability)" },
		{ "[cluster]\nnode address = 127.0.0.256\n",
		  "shoal.conf:2: node address: expected an IPv4 or IPv6 address, got \"127.0.0.256\"" },
		{ "[cluster]\nnode address = fe80::1%eth0\n",
		  "shoal.conf:2: node address: expected an IPv4 or IPv6 address, got \"fe80::1%eth0\"" },
		{ "[cluster]\nnode address = host.example\n",
		  "shoal.conf:2: node address: expected an IPv4 or IPv6 address, got \"host.example\"" },
		{ "[cluster]\nnodes file = etc/nodes\n",
		  "shoal.conf:2: nodes file: expected an absolute path, got \"etc/nodes\"" },
		{ "[database]\ndirectory =\n",
		  "shoal.conf:2: directory: expected an absolute path, got \"\"" },
		{ "[logging]\nlocation = syslog:tcp\n",
		  "shoal.conf:2: location: expected stderr, file:PATH, syslog, "
		  "syslog:nonblocking[:SOCKET], syslog:udp[:HOST:PORT] or "
		  "syslog:udp-rfc5424[:HOST:PORT], got \"syslog:tcp\"" },
		{ "[logging]\nlocation = file:var/log\n",
		  "shoal.conf:2: location: expected an absolute path after file:, got \"file:var/log\"" },
		{ "[logging]\nlocation = syslog:udp:::1:514\n",
		  "shoal.conf:2: location: expected HOST:PORT or [IPv6]:PORT (port 1 to 65535) after "
		  "syslog:udp:, got \"syslog:udp:::1:514\"" },
		{ "[logging]\nlocation = syslog:udp-rfc5424:host:0\n",
		  "shoal.conf:2: location: expected HOST:PORT or [IPv6]:PORT (port 1 to 65535) after "
		  "syslog:udp-rfc5424:, got \"syslog:udp-rfc5424:host:0\"" },
		{ "[logging]\nfacility = local8\n",
		  "shoal.conf:2: facility: expected a syslog facility (daemon, user, local0 .. local7, "
		  "...), got \"local8\"" },
		{ "[logging]\ntag = a b\n",
		  "shoal.conf:2: tag: expected letters, digits, '.', '_' or '-', got \"a b\"" },
		{ "[logging]\nlevel = loud\n",
		  "shoal.conf:2: level: expected one of err, warning, notice, info, debug, got "
		  "\"loud\"" },
		{ "[logging]\nlevel = 0123456789012345678901234567890123456789012345678901234567890123456789\n",
		  "shoal.conf:2: level: expected one of err, warning, notice, info, debug, got "
		  "\"012345678901234567890123456789012345678901234567890123456789...\"" },
		{ "[logging]\nlevel = a\x01z\n",
		  "shoal.conf:2: level: expected one of err, warning, notice, info, debug, got \"a?z\"" },
		{ "[database]\nunknown = 1\n",
		  "shoal.conf:2: unknown key \"unknown\" in [database] (expected one of: directory)" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *msg;
		errno = 0;
		int r = parse_conf(&conf, cases[i].in, &msg);
		CHECK(r < 0 && strcmp(msg, cases[i].err) == 0,
		      "bad case %zu:\n  want: %s\n  got:  %s", i, cases[i].err, r < 0 ? msg : "(ok)");
		CHECK(r == 0 || errno == EINVAL, "bad case %zu: errno %d", i, errno);
	}

	/* A NUL byte inside a line. */
	{
		const char text[] = "[cluster]\nport base = 4\0\n";
		FILE *f = fmemopen((void *)text, sizeof text - 1, "r");
		struct conf_error err;
		CHECK(conf_load_stream(&conf, f, "x.conf", &err) < 0 &&
			      strcmp(errstr(&err), "x.conf:2: line holds a NUL byte") == 0,
		      "NUL: %s", errstr(&err));
		fclose(f);
	}

	/* A path too long for the field. */
	{
		char text[PATH_MAX + 64];
		int n = snprintf(text, sizeof text, "[database]\ndirectory = /");
		memset(text + n, 'a', PATH_MAX);
		strcpy(text + n + PATH_MAX, "\n");
		const char *msg;
		CHECK(parse_conf(&conf, text, &msg) < 0 &&
			      strcmp(msg, "shoal.conf:2: directory: path longer than 4095 bytes") == 0,
		      "long path: %s", msg);
	}

	/* A missing file: line 0, strerror, errno kept. */
	{
		struct conf_error err;
		errno = 0;
		int r = conf_load(&conf, "/nonexistent/shoal.conf", &err);
		CHECK(r < 0 && errno == ENOENT, "missing file errno %d", errno);
		CHECK(strcmp(errstr(&err), "/nonexistent/shoal.conf: No such file or directory") == 0,
		      "missing file: %s", errstr(&err));
		CHECK(err.line == 0, "missing file line %u", err.line);
	}
}

/* ---- the nodes file ---- */

static void test_nodes(void)
{
	const char *msg;
	const char *text =
		"; the cluster\n"
		"10.0.0.1\n"
		"\n"
		"  #10.0.0.2  \n"
		"FE80:0:0::1\n"
		"#\n"
		"\t10.0.0.5\n";
	CHECK(parse_nodes(&nodes, text, &msg) == 0, "nodes: %s", msg);
	CHECK(nodes.count == 5, "count %u", nodes.count);
	CHECK(strcmp(nodes.node[0].address, "10.0.0.1") == 0 && !nodes.node[0].deleted, "node 0");
	CHECK(strcmp(nodes.node[1].address, "10.0.0.2") == 0 && nodes.node[1].deleted, "node 1");
	CHECK(strcmp(nodes.node[2].address, "fe80::1") == 0 && !nodes.node[2].deleted, "node 2 %s",
	      nodes.node[2].address);
	CHECK(nodes.node[3].address[0] == 0 && nodes.node[3].deleted, "node 3");
	CHECK(strcmp(nodes.node[4].address, "10.0.0.5") == 0, "node 4");
	CHECK(nodes_find(&nodes, "10.0.0.5") == 4, "find 4");
	CHECK(nodes_find(&nodes, "fe80::1") == 2, "find 2");
	CHECK(nodes_find(&nodes, "10.0.0.2") == -1, "a deleted node is not found");
	CHECK(nodes_find(&nodes, "10.0.0.9") == -1, "find unknown");

	const char *canon = "10.0.0.1\n#10.0.0.2\nfe80::1\n#\n10.0.0.5\n";
	CHECK(strcmp(print_nodes(&nodes), canon) == 0, "nodes print:\n%s", print_nodes(&nodes));
	CHECK(parse_nodes(&nodes2, canon, &msg) == 0, "reparse: %s", msg);
	CHECK(memcmp(&nodes, &nodes2, sizeof nodes) == 0, "nodes round trip");

	/* The digest covers the canonical list: comments and blanks do not matter, a node
	 * added, deleted or renumbered does. */
	uint8_t d0[32];
	memcpy(d0, nodes.digest, 32);
	CHECK(parse_nodes(&nodes2, "; x\n10.0.0.1\n#10.0.0.2\n\nfe80::0:1\n#\n10.0.0.5\n\n", &msg) == 0 &&
		      memcmp(d0, nodes2.digest, 32) == 0,
	      "digest changed with comments: %s", msg);
	CHECK(parse_nodes(&nodes2, "10.0.0.1\n#10.0.0.2\nfe80::1\n#\n10.0.0.5\n10.0.0.6\n", &msg) == 0 &&
		      memcmp(d0, nodes2.digest, 32) != 0,
	      "digest same after adding a node: %s", msg);
	CHECK(parse_nodes(&nodes2, "10.0.0.1\n#10.0.0.2\nfe80::1\n#\n#10.0.0.5\n", &msg) == 0 &&
		      memcmp(d0, nodes2.digest, 32) != 0,
	      "digest same after deleting a node: %s", msg);
	/* Known value: SHA-256("10.0.0.1\n"), as sha256sum computes it. */
	static const uint8_t one[32] = { 0x81, 0x0a, 0xb5, 0xdf, 0x76, 0x06, 0x25, 0xac, 0xb9, 0x29, 0x78, 0xe2, 0xfe, 0x43, 0x63, 0x98, 0x76, 0x78, 0x4a, 0xc2, 0xed, 0x32, 0x75, 0x2d, 0x88, 0x1e, 0xb8, 0x7b, 0x77, 0x08, 0x56, 0x6e };
	CHECK(parse_nodes(&nodes2, "10.0.0.1\n", &msg) == 0 && memcmp(nodes2.digest, one, 32) == 0,
	      "digest of one node: %s", msg);

	static const struct {
		const char *in, *err;
	} bad[] = {
		{ "10.0.0.1\n10.0.0.x\n", "nodes:2: expected an IPv4 or IPv6 address, got \"10.0.0.x\"" },
		{ "10.0.0.1\n10.0.0.1 \n",
		  "nodes:2: duplicate address 10.0.0.1 (node 0, line 1)" },
		{ "\n\nfe80::1\n10.0.0.1\nfe80:0::1\n",
		  "nodes:5: duplicate address fe80::1 (node 0, line 3)" },
		{ "10.0.0.1\n# the old one\n",
		  "nodes:2: expected a deleted node (# and an optional IPv4 or IPv6 address), got "
		  "\"#the old one\" (comments start with ;)" },
		{ "", "nodes: no nodes listed" },
		{ "; only a comment\n\n", "nodes: no nodes listed" },
		{ "#10.0.0.1\n#\n", "nodes: every node is deleted" },
		{ "10.0.0.1 10.0.0.2\n",
		  "nodes:1: expected an IPv4 or IPv6 address, got \"10.0.0.1 10.0.0.2\"" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int r = parse_nodes(&nodes2, bad[i].in, &msg);
		CHECK(r < 0 && strcmp(msg, bad[i].err) == 0, "bad nodes %zu:\n  want: %s\n  got:  %s",
		      i, bad[i].err, r < 0 ? msg : "(ok)");
	}

	/* A deleted node's address may come back under a new number. */
	CHECK(parse_nodes(&nodes2, "#10.0.0.1\n10.0.0.1\n", &msg) == 0 &&
		      nodes_find(&nodes2, "10.0.0.1") == 1,
	      "re-added node: %s", msg);

	/* CONF_MAX_NODES nodes are fine, one more is not. */
	static char many[(CONF_MAX_NODES + 1) * 16];
	size_t n = 0;
	for (int i = 0; i <= CONF_MAX_NODES; i++)
		n += (size_t)sprintf(many + n, "10.1.%d.%d\n", i / 256, i % 256);
	CHECK(parse_nodes(&nodes2, many, &msg) < 0 &&
		      strcmp(msg, "nodes:1025: more than 1024 nodes") == 0,
	      "too many: %s", msg);
	many[n - strlen("10.1.4.0\n")] = 0;
	CHECK(parse_nodes(&nodes2, many, &msg) == 0 && nodes2.count == CONF_MAX_NODES, "1024: %s",
	      msg);
}

/* ---- checks and the key ---- */

static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || fchmod(fd, mode) < 0) {
		perror(path);
		exit(2);
	}
	close(fd);
}

static void test_check(void)
{
	char key[PATH_MAX], nodesf[PATH_MAX], text[PATH_MAX * 3];
	const char *msg;
	struct conf_error err;
	uint8_t buf[CONF_KEY_MAX];

	snprintf(key, sizeof key, "%s/cluster.key", tmpdir);
	snprintf(nodesf, sizeof nodesf, "%s/nodes", tmpdir);
	write_file(key, "0123456789abcdef0123456789abcdef", 32, 0600);
	write_file(nodesf, "127.0.0.11\n#127.0.0.12\n127.0.0.13\n", 33, 0644);

	snprintf(text, sizeof text,
		 "[cluster]\nnode address = 127.0.0.13\nnodes file = %s\ncluster key = %s\n"
		 "run directory = /tmp/shoal\n",
		 nodesf, key);
	CHECK(parse_conf(&conf, text, &msg) == 0, "check conf: %s", msg);
	CHECK(nodes_load(&nodes, conf.nodes_file, &err) == 0, "nodes_load: %s", errstr(&err));
	CHECK(conf_check(&conf, &nodes, &err) == 0, "conf_check: %s", errstr(&err));
	CHECK(conf_read_key(conf.cluster_key, buf, sizeof buf, &err) == 32 &&
		      memcmp(buf, "0123456789abcdef", 16) == 0,
	      "read key: %s", errstr(&err));
	CHECK(conf_read_key(conf.cluster_key, buf, 31, &err) < 0 && errno == ENOBUFS,
	      "small buffer");

	/* Not set, deleted, absent. */
	struct conf c = conf;
	c.node_address[0] = 0;
	CHECK(conf_check(&c, &nodes, &err) < 0 &&
		      strcmp(errstr(&err), "shoal.conf: node address is not set: add \"node address = "
					   "<this node's address>\" to [cluster]") == 0,
	      "unset: %s", errstr(&err));
	strcpy(c.node_address, "127.0.0.12");
	char want[PATH_MAX * 2];
	snprintf(want, sizeof want,
		 "%s: node address 127.0.0.12 (from shoal.conf) is node 1, which is deleted", nodesf);
	CHECK(conf_check(&c, &nodes, &err) < 0 && strcmp(errstr(&err), want) == 0, "deleted: %s",
	      errstr(&err));
	strcpy(c.node_address, "127.0.0.14");
	snprintf(want, sizeof want, "%s: node address 127.0.0.14 (from shoal.conf) is not listed",
		 nodesf);
	CHECK(conf_check(&c, &nodes, &err) < 0 && strcmp(errstr(&err), want) == 0, "absent: %s",
	      errstr(&err));

	/* Run directory: 69 bytes fit, 70 do not. */
	c = conf;
	memset(c.run_dir, 0, sizeof c.run_dir);
	c.run_dir[0] = '/';
	memset(c.run_dir + 1, 'r', 68);
	CHECK(conf_check(&c, &nodes, &err) == 0, "69-byte run dir: %s", errstr(&err));
	c.run_dir[69] = 'r';
	CHECK(conf_check(&c, &nodes, &err) < 0 &&
		      strcmp(errstr(&err),
			     "shoal.conf: run directory is too long (70 bytes): socket paths under it "
			     "would take 108 bytes, more than the 107 of sun_path; use at most 69 bytes") == 0,
	      "long run dir: %s", errstr(&err));

	/* The key's mode, type and size. */
	static const struct {
		mode_t mode;
		size_t len;
		const char *what; /* after "KEY: " */
	} keys[] = {
		{ 0600, 32, NULL },
		{ 0640, 1024, NULL },
		{ 0644, 32, "cluster key: mode 0644 lets others read or write it: run chmod 600 %s" },
		{ 0660, 32, "cluster key: mode 0660 lets others read or write it: run chmod 600 %s" },
		{ 0602, 32, "cluster key: mode 0602 lets others read or write it: run chmod 600 %s" },
		{ 0400, 32, "cluster key: mode 0400, expected 0600 or 0640: run chmod 600 %s" },
		{ 0700, 32, "cluster key: mode 0700, expected 0600 or 0640: run chmod 600 %s" },
		{ 0600, 31, "cluster key: holds 31 bytes, expected 32 to 1024" },
		{ 0600, 1025, "cluster key: holds 1025 bytes, expected 32 to 1024" },
	};
	static char data[2048];
	memset(data, 'k', sizeof data);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		write_file(key, data, keys[i].len, keys[i].mode);
		int r = conf_check(&conf, &nodes, &err);
		if (!keys[i].what) {
			CHECK(r == 0, "key %zu: %s", i, errstr(&err));
			CHECK(conf_read_key(key, buf, sizeof buf, &err) == (int)keys[i].len,
			      "read key %zu: %s", i, errstr(&err));
			continue;
		}
		char w[PATH_MAX * 2], full[PATH_MAX * 4];
		snprintf(w, sizeof w, keys[i].what, key);
		snprintf(full, sizeof full, "%s: %s", key, w);
		CHECK(r < 0 && strcmp(errstr(&err), full) == 0, "key %zu:\n  want: %s\n  got:  %s", i,
		      full, r < 0 ? errstr(&err) : "(ok)");
		CHECK(conf_read_key(key, buf, sizeof buf, &err) < 0, "read key %zu accepted", i);
	}
	unlink(key);
	snprintf(want, sizeof want, "%s: No such file or directory", key);
	CHECK(conf_check(&conf, &nodes, &err) < 0 && strcmp(errstr(&err), want) == 0 &&
		      errno == ENOENT,
	      "no key: %s", errstr(&err));
	mkdir(key, 0700);
	snprintf(want, sizeof want, "%s: cluster key: not a regular file", key);
	CHECK(conf_check(&conf, &nodes, &err) < 0 && strcmp(errstr(&err), want) == 0,
	      "dir key: %s", errstr(&err));
	rmdir(key);
	unlink(nodesf);
}

/* ---- log ---- */

static void test_log(void)
{
	char path[PATH_MAX], line[4096];
	snprintf(path, sizeof path, "%s/log", tmpdir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), saved = dup(2);
	dup2(fd, 2);

	log_init("conftest", 3, LOGL_INFO);
	CHECK(log_get_level() == LOGL_INFO, "level");
	errno = EPIPE;
	log_notice("hello %d\nworld", 42);
	CHECK(errno == EPIPE, "errno changed to %d", errno);
	log_debug("not shown");
	log_set_level(LOGL_DEBUG);
	log_debug("shown");
	static char big[5000];
	memset(big, 'x', sizeof big - 1);
	log_err("%s", big);

	dup2(saved, 2);
	close(saved);
	FILE *f = fdopen(fd, "r");
	rewind(f);
	char want[64];
	snprintf(want, sizeof want, " notice conftest[%ld]: hello 42 world\n", (long)getpid());
	CHECK(fgets(line, sizeof line, f) && strlen(line) == 24 + strlen(want) &&
		      strcmp(line + 24, want) == 0 && line[4] == '-' && line[10] == 'T' &&
		      line[19] == '.' && line[23] == 'Z',
	      "log line: %s", line);
	snprintf(want, sizeof want, " debug conftest[%ld]: shown\n", (long)getpid());
	CHECK(fgets(line, sizeof line, f) && strcmp(line + 24, want) == 0, "debug line: %s", line);
	CHECK(fgets(line, sizeof line, f) && strlen(line) == 2048 &&
		      strcmp(line + 2043, "x...\n") == 0 && strstr(line, " err conftest["),
	      "long line (%zu): %.60s", strlen(line), line);
	CHECK(!fgets(line, sizeof line, f), "extra line: %s", line);
	fclose(f);
	unlink(path);

	CHECK(strcmp(log_level_name(LOGL_WARNING), "warning") == 0, "name");
	CHECK(strcmp(log_level_name(99), "?") == 0, "bad name");
	CHECK(log_level_parse("Info") == LOGL_INFO, "parse Info");
	CHECK(log_level_parse("error") == LOGL_ERR, "parse error");
	CHECK(log_level_parse("verbose") == -1, "parse verbose");
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	test_defaults();
	test_good();
	test_bad();
	test_nodes();
	test_check();
	test_log();
	rmdir(tmpdir);
	printf("conf_test: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
