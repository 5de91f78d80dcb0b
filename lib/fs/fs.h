/* File-system helpers: directories and durable, atomic state files. */
#ifndef SHOAL_FS_H
#define SHOAL_FS_H

#include <stddef.h>
#include <sys/types.h>

/* Creates path and its missing parents (parents 0755, path itself mode). */
int mkdir_p(const char *path, mode_t mode);
/* Writes data to path atomically and durably (temporary file, fsync, rename), so a reader
 * sees the old or the new content, never a mix. */
int write_file_atomic(const char *path, const void *data, size_t len);

#endif
