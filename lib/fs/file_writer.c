/* A state file written by a thread of its own, so the caller's loop never waits on the disk.
 *
 * Under write load on this machine's disk, opening, writing and renaming a 100-byte file
 * took up to 525 ms (the journal, dirty-page throttling); an fsync takes longer still. A
 * failure detector that does that in its loop goes silent and is dropped by its peers. Here
 * the loop only copies the content under a mutex the thread never holds across I/O. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/fs.h"

struct file_writer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *path;
	size_t max_len;
	char *waiting, *writing; /* the newest content put, and the one being written */
	size_t waiting_len;
	bool has_waiting, closing, busy;
	int err;                 /* errno of the latest failed write, until file_writer_error */
};

static void *writer_run(void *arg)
{
	struct file_writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->has_waiting && !w->closing)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->has_waiting)
			break;
		char *p = w->writing;
		w->writing = w->waiting;
		w->waiting = p;
		size_t len = w->waiting_len;
		w->has_waiting = false;
		w->busy = true;
		pthread_mutex_unlock(&w->mu);
		int e = write_file_atomic(w->path, w->writing, len) < 0 ? errno : 0;
		pthread_mutex_lock(&w->mu);
		w->busy = false;
		if (e)
			w->err = e;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

struct file_writer *file_writer_new(const char *path, size_t max_len)
{
	struct file_writer *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->max_len = max_len;
	w->path = strdup(path);
	w->waiting = malloc(max_len ? max_len : 1);
	w->writing = malloc(max_len ? max_len : 1);
	if (!w->path || !w->waiting || !w->writing)
		goto fail;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* file_writer_close's deadline */
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* Signals are the loop's: the thread starts with all of them blocked. And it writes at
	 * the ordinary priority, not the realtime one memberd's loop may hold. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_attr_t attr;
	struct sched_param sp = { .sched_priority = 0 };
	pthread_attr_init(&attr);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
	pthread_attr_setschedparam(&attr, &sp);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(&w->thread, &attr, writer_run, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (e) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		errno = e;
		goto fail;
	}
	return w;
fail: {
	int saved = errno;
	free(w->writing);
	free(w->waiting);
	free(w->path);
	free(w);
	errno = saved;
	return NULL;
}
}

int file_writer_put(struct file_writer *w, const void *data, size_t len)
{
	if (len > w->max_len) {
		errno = EMSGSIZE;
		return -1;
	}
	pthread_mutex_lock(&w->mu);
	memcpy(w->waiting, data, len);
	w->waiting_len = len;
	w->has_waiting = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

const char *file_writer_path(const struct file_writer *w)
{
	return w->path;
}

int file_writer_error(struct file_writer *w)
{
	pthread_mutex_lock(&w->mu);
	int e = w->err;
	w->err = 0;
	pthread_mutex_unlock(&w->mu);
	return e;
}

int file_writer_sync(struct file_writer *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->has_waiting || w->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	int e = w->err;
	w->err = 0;
	pthread_mutex_unlock(&w->mu);
	return e;
}

int file_writer_close(struct file_writer *w, int timeout_ms)
{
	if (!w)
		return 0;
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += timeout_ms / 1000;
	end.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&w->mu);
	w->closing = true;
	pthread_cond_broadcast(&w->cv);
	int e = 0;
	while ((w->has_waiting || w->busy) && e != ETIMEDOUT)
		e = pthread_cond_timedwait(&w->cv, &w->mu, &end);
	if (w->has_waiting || w->busy) {
		/* A disk that does not answer: leave the thread to it (it still holds w), so
		 * the caller's exit does not hang too. */
		pthread_mutex_unlock(&w->mu);
		return ETIMEDOUT;
	}
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	e = w->err;
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w->writing);
	free(w->waiting);
	free(w->path);
	free(w);
	return e;
}
