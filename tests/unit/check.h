/* The unit tests' one assertion: CHECK(cond, fmt, ...) counts the check and, when cond is
 * false, prints "file:line: FAIL: message" and counts a failure; a test goes on after a
 * failure and exits 1 at the end if there was any (see each test's main). */
#ifndef SHOAL_TESTS_CHECK_H
#define SHOAL_TESTS_CHECK_H
#include <stdio.h>

static int failures, checks;

#define CHECK(cond, ...)                                                                     \
	do {                                                                                 \
		checks++;                                                                    \
		if (!(cond)) {                                                               \
			failures++;                                                          \
			fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);                \
			fprintf(stderr, __VA_ARGS__);                                        \
			fputc('\n', stderr);                                                 \
		}                                                                            \
	} while (0)

#endif
