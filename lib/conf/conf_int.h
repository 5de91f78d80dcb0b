/* Helpers shared by the files of lib/conf; not part of the API. */
#ifndef SHOAL_CONF_INT_H
#define SHOAL_CONF_INT_H

#include "conf/conf.h"

void conf_err_set(struct conf_error *err, const char *file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A value quoted for an error message: at most 60 bytes, non-printing bytes as '?'. */
const char *conf_quote(const char *s, char *buf, size_t len);
/* Strips leading and trailing white space in place. */
char *conf_trim(char *s);
/* Calls fn with each line of f that is not blank, trimmed, and its number, until one fails.
 * A NUL byte in a line and a read error are errors of their own, set in err. Returns 0, or
 * -1 with errno set (EINVAL for what fn or the NUL check refused). */
typedef int conf_line_fn(void *arg, char *s, unsigned lineno);
int conf_each_line(FILE *f, const char *name, struct conf_error *err, conf_line_fn *fn, void *arg);

#endif
