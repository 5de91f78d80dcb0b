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

#endif
