/* Unit tests of lib/svc: script names, listing and order, enable/disable, output tails.
 * Prints a line per failure; exits 1 if any. */
#include "svc/svc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static char dir[] = "/tmp/svc_test.XXXXXX";

static void touch(const char *name, mode_t mode)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd >= 0) {
		fchmod(fd, mode);
		close(fd);
	}
}

static mode_t mode_of(const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return stat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

static void test_names(void)
{
	static const char *const good[] = { "10.interface", "00.ctdb", "50.samba", "99.a_b-c", NULL };
	static const char *const bad[] = {
		"", "1.x", "10.", "10x", "a0.x", "10.samba~", "10.samba.orig", "10.a b", ".10.x",
		"10.options.x", "10.0123456789012345678901234567890123456789012345678901234567890123",
		NULL,
	};
	for (int i = 0; good[i]; i++)
		CHECK(script_name_valid(good[i]), "\"%s\" should be a script name", good[i]);
	for (int i = 0; bad[i]; i++)
		CHECK(!script_name_valid(bad[i]), "\"%s\" should not be a script name", bad[i]);
}

static void test_list(void)
{
	struct script_entry e[8];
	CHECK(scripts_list("/nonexistent/svc_test", true, e, 8) == 0, "a missing directory has no scripts");
	/* Created out of order: listed in name order; not-scripts ignored. */
	touch("50.samba", 0755);
	touch("10.interface", 0755);
	touch("40.off", 0644);
	touch("50.samba~", 0755);
	touch("50.samba.options", 0644);
	touch("README", 0644);
	touch(".hidden", 0755);
	char sub[PATH_MAX];
	snprintf(sub, sizeof sub, "%s/20.adir", dir);
	mkdir(sub, 0755);
	int n = scripts_list(dir, true, e, 8);
	CHECK(n == 3, "3 scripts, got %d", n);
	if (n == 3) {
		CHECK(strcmp(e[0].name, "10.interface") == 0 && e[0].enabled, "first %s", e[0].name);
		CHECK(strcmp(e[1].name, "40.off") == 0 && !e[1].enabled, "second %s", e[1].name);
		CHECK(strcmp(e[2].name, "50.samba") == 0 && e[2].enabled, "third %s", e[2].name);
	}
	/* At most max, the first in name order. */
	n = scripts_list(dir, true, e, 2);
	CHECK(n == 2 && strcmp(e[1].name, "40.off") == 0, "max 2: %d", n);
	/* Hooks: any name, but not dot files, backups or directories. */
	n = scripts_list(dir, false, e, 8);
	CHECK(n == 5, "5 hooks, got %d", n);
	if (n == 5)
		CHECK(strcmp(e[3].name, "50.samba.options") == 0 && strcmp(e[4].name, "README") == 0,
		      "hooks order %s %s", e[3].name, e[4].name);
	rmdir(sub);
}

static void test_enable(void)
{
	CHECK(script_set_enabled(dir, "50.samba", false) == 0, "disable: %s", strerror(errno));
	CHECK(mode_of("50.samba") == 0644, "disabled mode %o", (unsigned)mode_of("50.samba"));
	CHECK(script_set_enabled(dir, "50.samba", false) == 0, "disable twice");
	CHECK(script_set_enabled(dir, "40.off", true) == 0, "enable: %s", strerror(errno));
	CHECK(mode_of("40.off") == 0755, "enabled mode %o", (unsigned)mode_of("40.off"));
	errno = 0;
	CHECK(script_set_enabled(dir, "99.none", true) < 0 && errno == ENOENT, "missing: %s", strerror(errno));
	errno = 0;
	CHECK(script_set_enabled(dir, "../50.samba", true) < 0 && errno == EINVAL, "path: %s", strerror(errno));
	errno = 0;
	CHECK(script_set_enabled(dir, "README", true) < 0 && errno == EINVAL, "not a script name");
}

static void test_tail(void)
{
	char tail[8], out[16];
	size_t len = 0;
	tail_append(tail, &len, sizeof tail, "abc", 3);
	tail_append(tail, &len, sizeof tail, "defg", 4);
	CHECK(len == 7 && memcmp(tail, "abcdefg", 7) == 0, "no overflow yet");
	tail_append(tail, &len, sizeof tail, "hij", 3);
	CHECK(len == 8 && memcmp(tail, "cdefghij", 8) == 0, "oldest dropped: %.*s", (int)len, tail);
	tail_append(tail, &len, sizeof tail, "0123456789", 10);
	CHECK(len == 8 && memcmp(tail, "23456789", 8) == 0, "longer than the tail: %.*s", (int)len, tail);
	tail_text("a\x01" "b\xc3\xa9\tc\n\n", 9, out, sizeof out);
	CHECK(strcmp(out, "a?b??\tc") == 0, "printable: \"%s\"", out);
	tail_text("0123456789", 10, out, 5);
	CHECK(strcmp(out, "6789") == 0, "newest kept: \"%s\"", out);
	tail_text("", 0, out, sizeof out);
	CHECK(out[0] == 0, "empty");
}

static void cleanup(void)
{
	static const char *const names[] = { "50.samba", "10.interface", "40.off", "50.samba~",
		"50.samba.options", "README", ".hidden", NULL };
	char path[PATH_MAX];
	for (int i = 0; names[i]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	test_names();
	test_list();
	test_enable();
	test_tail();
	cleanup();
	printf("svc_test: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
