/* <run dir>/log-levels: the per-daemon log levels, written by logfwd, read by everyone.
 *
 *     # shoal log levels: written by logfwd (logctl level), followed by every daemon
 *     * notice
 *     memberd debug
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon/daemon.h"
#include "log/log.h"

void log_levels_path(const struct conf *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s/log-levels", c->run_dir);
}

int log_levels_load(const char *path, struct log_levels *l)
{
	char line[128], name[64], level[64];
	memset(l, 0, sizeof *l);
	l->def = -1;
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		if (line[0] == '#' || sscanf(line, "%63s %63s", name, level) != 2)
			continue;
		int lv = log_level_parse(level);
		if (lv < 0 || strlen(name) >= sizeof l->e[0].service)
			continue;
		log_levels_set(l, strcmp(name, "*") == 0 ? NULL : name, lv);
	}
	fclose(f);
	return 0;
}

int log_levels_save(const char *path, const struct log_levels *l)
{
	char buf[128 + LOG_LEVELS_MAX * 48];
	size_t n = (size_t)snprintf(buf, sizeof buf,
	                            "# shoal log levels: written by logfwd (logctl level), followed by every daemon\n");
	if (l->def >= 0)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "* %s\n", log_level_name(l->def));
	for (unsigned i = 0; i < l->n && n < sizeof buf; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s %s\n", l->e[i].service,
		                      log_level_name(l->e[i].level));
	if (n >= sizeof buf) {
		errno = EMSGSIZE;
		return -1;
	}
	return write_file_atomic(path, buf, n);
}

int log_levels_find(const struct log_levels *l, const char *service, int fallback)
{
	for (unsigned i = 0; i < l->n; i++)
		if (strcmp(l->e[i].service, service) == 0)
			return l->e[i].level;
	return l->def >= 0 ? l->def : fallback;
}

int log_levels_set(struct log_levels *l, const char *service, int level)
{
	if (!service || !*service) {
		l->def = level;
		l->n = 0;
		return 0;
	}
	for (unsigned i = 0; i < l->n; i++)
		if (strcmp(l->e[i].service, service) == 0) {
			l->e[i].level = level;
			return 0;
		}
	if (l->n >= LOG_LEVELS_MAX || strlen(service) >= sizeof l->e[0].service) {
		errno = ENOSPC;
		return -1;
	}
	snprintf(l->e[l->n].service, sizeof l->e[0].service, "%s", service);
	l->e[l->n++].level = level;
	return 0;
}
