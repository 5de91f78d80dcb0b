/* The writer: a bounded queue between logfwd's loop and its one target, and the thread
 * that drains it. Only this thread touches the target, so a write that blocks (a full
 * pipe, syslog(3) on a stuck syslog socket, a slow disk) stalls nothing but this thread:
 * the loop keeps taking records, drops what does not fit, and counts it. The count rides
 * on the next record queued, and the writer prints it just before that record. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logfwd.h"

double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void writer_init(struct writer *w, const struct conf *c, const char *hostname)
{
	memset(w, 0, sizeof *w);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	target_init(&w->target, c, hostname);
}

int writer_push(struct writer *w, uint64_t time_us, int level, uint32_t pid, const char *service,
                const char *text, uint64_t lost_sender)
{
	size_t len = strlen(text);
	struct wrec *r = malloc(sizeof *r + len + 1);
	if (r) {
		r->time_us = time_us;
		r->lost_sender = lost_sender;
		r->pid = pid;
		r->level = level;
		snprintf(r->service, sizeof r->service, "%s", service);
		r->len = len;
		memcpy(r->text, text, len + 1);
	}
	pthread_mutex_lock(&w->lock);
	if (!r || w->count >= WRITER_QUEUE_MAX || w->bytes + len > WRITER_QUEUE_BYTES) {
		w->dropped++;
		w->lost_pending += 1 + lost_sender; /* the sender's count must not vanish with it */
		pthread_mutex_unlock(&w->lock);
		free(r);
		return -1;
	}
	r->lost_queue = w->lost_pending;
	w->lost_pending = 0;
	w->ring[(w->head + w->count) % WRITER_QUEUE_MAX] = r;
	w->count++;
	w->bytes += len;
	if (w->idle) /* a busy writer finds it anyway: no wake-up per record */
		pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct wrec *batch[WRITER_BATCH];

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->count && !atomic_load(&w->stop) && !atomic_load(&w->reopen)) {
			w->idle = true;
			pthread_cond_wait(&w->wake, &w->lock);
			w->idle = false;
		}
		if (!w->count && atomic_load(&w->stop))
			break;
		size_t n = 0;
		while (w->count && n < WRITER_BATCH) {
			batch[n] = w->ring[w->head];
			w->bytes -= batch[n]->len;
			w->head = (w->head + 1) % WRITER_QUEUE_MAX;
			w->count--;
			n++;
		}
		w->busy_since = mono_now();
		pthread_mutex_unlock(&w->lock);

		if (atomic_exchange(&w->reopen, false))
			target_close(&w->target); /* logrotate moved the file: open the new one */
		size_t ok = n ? target_write(&w->target, batch, n) : 0;
		for (size_t i = 0; i < n; i++)
			free(batch[i]);

		pthread_mutex_lock(&w->lock);
		w->busy_since = 0;
		w->written += ok;
		w->failed += n - ok;
		snprintf(w->error, sizeof w->error, "%s", w->target.error);
	}
	pthread_mutex_unlock(&w->lock);
	target_close(&w->target);
	return NULL;
}

int writer_start(struct writer *w)
{
	pthread_attr_t a;
	sigset_t all, old;
	pthread_attr_init(&a);
	/* Signals belong to the loop's thread (libev's signal watchers). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&w->thread, &a, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	if (rc) {
		errno = rc;
		return -1;
	}
	w->started = true;
	return 0;
}

void writer_reopen(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->reopen, true);
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

void writer_stop(struct writer *w, double timeout)
{
	if (!w->started)
		return;
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->stop, true);
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)timeout;
	ts.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	/* A writer stuck in write(2) on a stopped reader is left behind: exit ends it. */
	if (pthread_timedjoin_np(w->thread, NULL, &ts) == 0)
		w->started = false;
}

void writer_stats(struct writer *w, struct writer_stats *s)
{
	pthread_mutex_lock(&w->lock);
	s->written = w->written;
	s->dropped = w->dropped;
	s->failed = w->failed;
	s->queued = (uint32_t)w->count;
	s->blocked_ms = w->busy_since > 0 ? (uint64_t)((mono_now() - w->busy_since) * 1000) : 0;
	snprintf(s->error, sizeof s->error, "%s", w->error);
	pthread_mutex_unlock(&w->lock);
}
