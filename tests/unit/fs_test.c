/* lib/fs: write_file_atomic and the file writer's thread (the newest content wins, errors
 * reach the caller, close writes what waits). Usage: fs_test DIR (an empty directory). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "fs/fs.h"

static char *slurp(const char *path, size_t *len)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	*len = fread(buf, 1, sizeof buf - 1, f);
	buf[*len] = 0;
	fclose(f);
	return buf;
}

static void test_atomic(const char *dir)
{
	char path[512];
	size_t len;
	snprintf(path, sizeof path, "%s/atomic", dir);
	CHECK(write_file_atomic(path, "one\n", 4) == 0, "write_file_atomic: %s", strerror(errno));
	CHECK(write_file_atomic(path, "two\n", 4) == 0, "write_file_atomic again: %s", strerror(errno));
	char *s = slurp(path, &len);
	CHECK(s && len == 4 && strcmp(s, "two\n") == 0, "atomic: read back '%s'", s ? s : "(none)");
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "atomic: mode %o", st.st_mode & 0777);
	snprintf(path, sizeof path, "%s/atomic.tmp", dir);
	CHECK(stat(path, &st) < 0 && errno == ENOENT, "atomic: the temporary file is gone");
	snprintf(path, sizeof path, "%s/no/such/dir/file", dir);
	CHECK(write_file_atomic(path, "x", 1) < 0 && errno == ENOENT, "atomic into a missing directory fails");
}

static void test_writer(const char *dir)
{
	char path[512], content[64];
	size_t len;
	snprintf(path, sizeof path, "%s/state", dir);
	struct file_writer *w = file_writer_new(path, 32);
	CHECK(w != NULL, "file_writer_new: %s", strerror(errno));
	if (!w)
		return;
	CHECK(strcmp(file_writer_path(w), path) == 0, "file_writer_path");
	/* Many puts in a row: whatever the thread skipped, the last one is what stays. */
	for (int i = 0; i < 2000; i++) {
		int n = snprintf(content, sizeof content, "state %d\n", i);
		CHECK(file_writer_put(w, content, (size_t)n) == 0, "put %d", i);
	}
	CHECK(file_writer_sync(w) == 0, "sync after puts");
	char *s = slurp(path, &len);
	CHECK(s && strcmp(s, "state 1999\n") == 0, "writer: read back '%s'", s ? s : "(none)");
	CHECK(file_writer_put(w, content, 33) < 0 && errno == EMSGSIZE, "a put above max_len is refused");
	CHECK(file_writer_put(w, "", 0) == 0, "an empty put");
	CHECK(file_writer_sync(w) == 0 && slurp(path, &len) && len == 0, "an empty file is written");
	CHECK(file_writer_put(w, "last\n", 5) == 0, "put before close");
	CHECK(file_writer_close(w, 5000) == 0, "close");
	s = slurp(path, &len);
	CHECK(s && strcmp(s, "last\n") == 0, "close writes what waits: '%s'", s ? s : "(none)");
	CHECK(file_writer_close(NULL, 0) == 0, "close(NULL)");

	/* A failure reaches the caller once, and the writer goes on. */
	snprintf(path, sizeof path, "%s/gone/state", dir);
	char sub[512];
	snprintf(sub, sizeof sub, "%s/gone", dir);
	w = file_writer_new(path, 32);
	CHECK(w != NULL, "file_writer_new in a missing directory");
	if (!w)
		return;
	CHECK(file_writer_put(w, "a\n", 2) == 0, "put into a missing directory");
	CHECK(file_writer_sync(w) == ENOENT, "the failure is told by sync");
	CHECK(file_writer_error(w) == 0, "and only once");
	CHECK(file_writer_put(w, "b\n", 2) == 0, "put again");
	for (int i = 0; i < 1000 && file_writer_error(w) == 0; i++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	CHECK(mkdir(sub, 0755) == 0, "mkdir %s", sub);
	CHECK(file_writer_put(w, "c\n", 2) == 0 && file_writer_sync(w) == 0, "once the directory exists it writes");
	s = slurp(path, &len);
	CHECK(s && strcmp(s, "c\n") == 0, "after a failure: read back '%s'", s ? s : "(none)");
	CHECK(file_writer_close(w, 5000) == 0, "close");
}

/* A write that never ends (its temporary file is a FIFO without a reader, so open()
 * waits) holds close up only until its deadline; a second close waits again. */
static void test_hung_close(const char *dir)
{
	char path[512], tmp[520];
	snprintf(path, sizeof path, "%s/hung", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	CHECK(mkfifo(tmp, 0600) == 0, "mkfifo: %s", strerror(errno));
	struct file_writer *w = file_writer_new(path, 32);
	CHECK(w != NULL, "file_writer_new");
	if (!w)
		return;
	CHECK(file_writer_put(w, "x\n", 2) == 0, "put");
	CHECK(file_writer_close(w, 200) == ETIMEDOUT, "a hung write: close gives up at its deadline");
	int fd = open(tmp, O_RDONLY | O_NONBLOCK); /* lets the writer's open() return */
	CHECK(fd >= 0, "open the FIFO: %s", strerror(errno));
	int e = file_writer_close(w, 5000);
	CHECK(e != ETIMEDOUT, "the second close ends the thread (%s)", strerror(e));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fs_test DIR\n");
		return 2;
	}
	test_atomic(argv[1]);
	test_writer(argv[1]);
	test_hung_close(argv[1]);
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
