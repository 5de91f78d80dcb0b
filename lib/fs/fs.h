/* File-system helpers: directories and durable, atomic state files. */
#ifndef SHOAL_FS_H
#define SHOAL_FS_H

#include <stddef.h>
#include <sys/types.h>

/* Creates path and its missing parents (parents 0755, path itself mode). */
int mkdir_p(const char *path, mode_t mode);
/* Writes data to path atomically and durably (temporary file, fsync, rename, fsync of the
 * directory), so a reader sees the old or the new content, never a mix. */
int write_file_atomic(const char *path, const void *data, size_t len);
/* A file kept up to date by a thread of its own, for a loop that must never wait on the
 * disk (memberd: under I/O load a small write and rename took hundreds of milliseconds, and
 * its peers dropped it for the silence). file_writer_put copies the content and returns;
 * the thread writes it with write_file_atomic. Only the newest content is written: what is
 * put while a write runs replaces what waited. */
struct file_writer;
/* Starts the thread for path, whose content is at most max_len bytes. NULL, errno: failed. */
struct file_writer *file_writer_new(const char *path, size_t max_len);
/* -1 with EMSGSIZE when len > max_len; never blocks on I/O. */
int file_writer_put(struct file_writer *w, const void *data, size_t len);
/* The errno of the latest failed write since the last call (0: none), for the caller to
 * report from its own thread. */
int file_writer_error(struct file_writer *w);
const char *file_writer_path(const struct file_writer *w);
/* Waits until what was put is written; returns as file_writer_error. */
int file_writer_sync(struct file_writer *w);
/* Writes what waits, ends the thread and frees w (NULL is fine); returns as
 * file_writer_error. A write not done within timeout_ms (a hung disk) is left to the
 * thread, w is not freed, and it returns ETIMEDOUT: the caller is exiting and must not
 * hang with the disk (or may call it again to wait more). */
int file_writer_close(struct file_writer *w, int timeout_ms);

#endif
