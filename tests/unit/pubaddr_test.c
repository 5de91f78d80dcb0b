/* Unit tests of lib/pubaddr: public_addresses lines, canonical comparison, duplicates,
 * errors that name the line, interfaces that do not exist. Prints a line per failure;
 * exits 1 if any. */
#include "pubaddr/pubaddr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static struct pubaddr_list list;

static int parse(const char *text, struct conf_error *e)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	if (!f)
		exit(2);
	memset(e, 0, sizeof *e);
	int rc = pubaddr_load_stream(&list, f, "pa", e);
	fclose(f);
	return rc;
}

/* text must fail on line `line` with `what` in the message. */
static void bad(const char *text, unsigned line, const char *what)
{
	struct conf_error e;
	int rc = parse(text, &e);
	CHECK(rc == -1 && e.line == line && strstr(e.what, what),
	      "\"%s\": expected line %u \"%s\", got rc %d line %u \"%s\"", text, line, what, rc,
	      e.line, e.what);
}

static void test_good(void)
{
	struct conf_error e;
	int rc = parse("# comment\n\n10.0.0.101/24 eth1\n  fd00:0:0::101/64\teth1,eth2  # trailing\n"
	               "10.0.0.102/32 lo\n", &e);
	CHECK(rc == 0, "good file: %s", e.what);
	CHECK(list.count == 3, "3 addresses, got %u", list.count);
	CHECK(strcmp(list.a[0].text, "10.0.0.101") == 0 && list.a[0].bits == 24 &&
	      list.a[0].nifaces == 1 && strcmp(list.a[0].iface[0], "eth1") == 0 && list.a[0].line == 3,
	      "first entry");
	CHECK(strcmp(list.a[1].text, "fd00::101") == 0 && list.a[1].bits == 64 &&
	      list.a[1].nifaces == 2 && strcmp(list.a[1].iface[1], "eth2") == 0, "IPv6 canonical");
	CHECK(pubaddr_find(&list, "FD00::0101") == 1, "found in another spelling");
	CHECK(pubaddr_find(&list, "10.0.0.103") == -1, "absent");
	CHECK(pubaddr_find(&list, "bogus") == -1, "bogus");

	char buf[512];
	FILE *f = fmemopen(buf, sizeof buf, "w");
	pubaddr_print(&list, f);
	fclose(f);
	CHECK(strcmp(buf, "10.0.0.101/24 eth1\nfd00::101/64 eth1,eth2\n10.0.0.102/32 lo\n") == 0,
	      "canonical print: %s", buf);

	struct pubaddr x;
	char what[200];
	CHECK(pubaddr_parse_prefix("10.0.0.103/24", &x, what, sizeof what) == 0, "prefix");
	strcpy(x.iface[0], "eth1");
	x.nifaces = 1;
	CHECK(pubaddr_add(&list, &x) == 0 && list.count == 4, "add");
	CHECK(pubaddr_add(&list, &x) == -1 && errno == EEXIST, "add twice");
	CHECK(pubaddr_remove(&list, "10.0.0.101") == 0 && list.count == 3 &&
	      strcmp(list.a[0].text, "fd00::101") == 0, "remove keeps order");
	CHECK(pubaddr_remove(&list, "10.0.0.101") == -1 && errno == ENOENT, "remove absent");

	CHECK(parse("", &e) == 0 && list.count == 0, "empty file");
	CHECK(parse("# only\n   \n", &e) == 0 && list.count == 0, "comments only");
}

static void test_bad(void)
{
	bad("10.0.0.1 eth1\n", 1, "no prefix");
	bad("\n10.0.0.1/24\n", 2, "no interface");
	bad("10.0.0.1/24 eth1 eth2\n", 1, "more than two fields");
	bad("10.0.0.256/24 eth1\n", 1, "IPv4 or IPv6 address");
	bad("/24 eth1\n", 1, "ADDRESS/PREFIX");
	bad("10.0.0.1/33 eth1\n", 1, "from 1 to 32");
	bad("10.0.0.1/0 eth1\n", 1, "from 1 to 32");
	bad("10.0.0.1/ eth1\n", 1, "prefix length");
	bad("10.0.0.1/2x eth1\n", 1, "prefix length");
	bad("fd00::1/129 eth1\n", 1, "from 1 to 128");
	bad("fe80::1%eth0/64 eth1\n", 1, "IPv4 or IPv6 address");
	bad("10.0.0.1/24 eth1,\n", 1, "IFACE[,IFACE...]");
	bad("10.0.0.1/24 eth1,,eth2\n", 1, "IFACE[,IFACE...]");
	bad("10.0.0.1/24 eth1,eth1\n", 1, "listed twice");
	bad("10.0.0.1/24 averyveryverylongname\n", 1, "longer than 15");
	bad("10.0.0.1/24 a,b,c,d,e\n", 1, "more than 4 interfaces");
	bad("10.0.0.1/24 eth1\n10.0.0.1/24 eth2\n", 2, "10.0.0.1 is listed twice (first on line 1)");
	bad("fd00::1/64 eth1\n\nfd00:0::0:1/64 eth1\n", 3, "spelled differently");
	bad("10.0.0.1/24 eth1\n10.0.0.1/16 eth1\n", 2, "listed twice");
}

static void test_ifaces(void)
{
	struct conf_error e;
	CHECK(parse("10.0.0.1/24 lo\n", &e) == 0, "lo");
	CHECK(pubaddr_check_ifaces(&list, "pa", &e) == 0, "lo exists");
	CHECK(parse("10.0.0.1/24 lo\n10.0.0.2/24 lo,nosuchif9\n", &e) == 0, "parse");
	CHECK(pubaddr_check_ifaces(&list, "pa", &e) == -1 && e.line == 2 &&
	      strstr(e.what, "interface nosuchif9 does not exist"), "unknown interface: %s", e.what);
	CHECK(pubaddr_load(&list, "/nonexistent/pa", true, &e) == 0 && list.count == 0, "missing ok");
	CHECK(pubaddr_load(&list, "/nonexistent/pa", false, &e) == -1 && strstr(e.what, "unable to open"),
	      "missing: %s", e.what);
}

int main(void)
{
	test_good();
	test_bad();
	test_ifaces();
	printf("pubaddr_test: %d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
