/* shoal logging. Every process logs through here; records carry (time, node, service, pid,
 * level, message). Until logfwd exists (the logfwd issue) records go to stderr, which s6
 * hands to the node's log; a call never blocks on a slow reader for long (stderr is the
 * supervisor's pipe). */
#ifndef SHOAL_LOG_H
#define SHOAL_LOG_H

#include "conf/conf.h"

void log_init(const char *service, int node, int level);
void log_set_level(int level);
int log_get_level(void);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...)     log_msg(LOGL_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOGL_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOGL_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOGL_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOGL_DEBUG, __VA_ARGS__)

#endif
