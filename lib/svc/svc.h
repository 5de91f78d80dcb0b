/* Event scripts: the scripts of an events (or hook) directory, enabling them, and the
 * output tail svcd keeps of each run. Pure logic and file-system calls, for svcd and its
 * unit test; nothing here prints. */
#ifndef SHOAL_SVC_H
#define SHOAL_SVC_H

#include <stdbool.h>
#include <stddef.h>

#define NAME_MAX_LEN  64   /* script_result.name, with the NUL */

struct script_entry {
	char name[NAME_MAX_LEN];
	bool enabled;      /* executable (the owner's execute bit) */
};

/* Whether name is an event script's name as CTDB takes it: two digits, a dot, then
 * letters, digits, '_' or '-' (so `50.samba~` and `50.samba.orig` are ignored). */
bool script_name_valid(const char *name);
/* The regular files of dir (symbolic links followed) in name order. events: only valid
 * event script names; otherwise (hooks) any name not starting with '.' nor ending with '~'.
 * A missing directory has no scripts. Returns the count (at most max), or -1 with errno. */
int scripts_list(const char *dir, bool events, struct script_entry *out, size_t max);
/* Sets (enable) or clears the execute bits of dir/name. 0, or -1 with errno (ENOENT: no
 * such script, EINVAL: not a valid script name). */
int script_set_enabled(const char *dir, const char *name, bool enable);

/* Keeps the last cap bytes of a stream: appends data to tail (its length in *tail_len). */
void tail_append(char *tail, size_t *tail_len, size_t cap, const char *data, size_t len);
/* Printable text of a tail: controls but \n and \t, and non-ASCII, become '?'; the
 * trailing newlines go. out holds cap bytes. */
void tail_text(const char *tail, size_t len, char *out, size_t cap);

#endif
