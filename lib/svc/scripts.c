/* The scripts of an events directory (or a hook directory), and enabling them. As CTDB's
 * legacy event scripts: `NN.name`, run in name order; a script is enabled when it is
 * executable, so `svcctl disable` persists by clearing the execute bits. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>

#include "svc/svc.h"

bool script_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len < 4 || len >= NAME_MAX_LEN)
		return false;
	if (!isdigit((unsigned char)name[0]) || !isdigit((unsigned char)name[1]) || name[2] != '.')
		return false;
	for (const char *p = name + 3; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return false;
	return true;
}

static bool hook_name_valid(const char *name)
{
	size_t len = strlen(name);
	return len > 0 && len < NAME_MAX_LEN && name[0] != '.' && name[len - 1] != '~';
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct script_entry *)a)->name, ((const struct script_entry *)b)->name);
}

int scripts_list(const char *dir, bool events, struct script_entry *out, size_t max)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	/* All names first, then the first max in order: which scripts run must not depend on
	 * the order readdir happens to return. */
	size_t n = 0, cap = 0;
	struct script_entry *all = NULL;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!(events ? script_name_valid(e->d_name) : hook_name_valid(e->d_name)))
			continue;
		char path[PATH_MAX + NAME_MAX_LEN + 2];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct script_entry *a = realloc(all, ncap * sizeof *a);
			if (!a) {
				free(all);
				closedir(d);
				errno = ENOMEM;
				return -1;
			}
			all = a;
			cap = ncap;
		}
		snprintf(all[n].name, sizeof all[n].name, "%s", e->d_name);
		all[n].enabled = (st.st_mode & S_IXUSR) != 0;
		n++;
	}
	closedir(d);
	if (n)
		qsort(all, n, sizeof all[0], by_name);
	if (n > max)
		n = max;
	if (n)
		memcpy(out, all, n * sizeof *out);
	free(all);
	return (int)n;
}

int script_set_enabled(const char *dir, const char *name, bool enable)
{
	if (!script_name_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	char path[PATH_MAX + NAME_MAX_LEN + 2];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (stat(path, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = ENOENT;
		return -1;
	}
	mode_t x = S_IXUSR | S_IXGRP | S_IXOTH;
	mode_t mode = enable ? (st.st_mode | x) : (st.st_mode & ~x);
	return chmod(path, mode & 07777);
}
