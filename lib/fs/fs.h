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
/* The same without the fsync, for a loop that must never wait on the disk (a failure
 * detector: an fsync under I/O load can take hundreds of milliseconds). The new file
 * outlives the process at once (the page cache), a power loss only once the kernel has
 * written it back: until then a reboot may find the old file, or on some file systems an
 * empty one. */
int write_file_replace(const char *path, const void *data, size_t len);

#endif
