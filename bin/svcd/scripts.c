/* The scripts of an events directory (or a hook directory), and enabling them. As CTDB's
 * legacy event scripts: `NN.name`, run in name order; a script is enabled when it is
 * executable, so `svcctl disable` persists by clearing the execute bits. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "svcd.h"

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
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < max) {
		if (!(events ? script_name_valid(e->d_name) : hook_name_valid(e->d_name)))
			continue;
		char path[PATH_MAX + NAME_MAX_LEN + 2];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		snprintf(out[n].name, sizeof out[n].name, "%s", e->d_name);
		out[n].enabled = (st.st_mode & S_IXUSR) != 0;
		n++;
	}
	closedir(d);
	qsort(out, n, sizeof out[0], by_name);
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
