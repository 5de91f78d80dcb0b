/* The shared-memory log ring between one process and logfwd (see log.h).
 *
 * A file in <run dir>/logring/ (tmpfs under /run), mapped by both: a header, then a data
 * area of LOG_RING_BYTES. One producer (the process; its threads take turns by trylock in
 * log.c), one consumer (logfwd). A record is a 4-byte length, then that many bytes, padded
 * to 8; a record never wraps: where it would, a WRAP length sends the reader back to the
 * start. head and tail only grow (bytes written, bytes taken); head - tail is the fill.
 *
 * Wake-ups: logfwd sets `sleeping` before it stops looking; a producer that finds it set
 * after publishing a record clears it and pokes logfwd with one datagram. Both sides store
 * then load with sequentially consistent atomics, so at least one of them sees the other:
 * no record waits for a poke that never comes. While records keep coming logfwd polls on a
 * short timer instead, so a busy producer makes no system call at all.
 *
 * logfwd trusts nothing in the mapping: lengths are checked against the area, and a record
 * is copied out before it is decoded (the producer could change it meanwhile).
 */
#include "log/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RING_MAGIC 0x72676f6cu /* "lorg" */
#define RING_WRAP  0xffffffffu
#define ALIGN8(n)  (((n) + 7) & ~(uint64_t)7)

static size_t map_len(void)
{
	return sizeof(struct log_ring_hdr) + LOG_RING_BYTES;
}

static int map(struct log_ring *r, int fd)
{
	void *p = mmap(NULL, map_len(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	r->h = p;
	r->data = (uint8_t *)p + sizeof(struct log_ring_hdr);
	return 0;
}

int log_ring_create(struct log_ring *r, const char *path, const char *service, pid_t pid)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)map_len()) < 0 || map(r, fd) < 0) {
		int e = errno;
		close(fd);
		unlink(path);
		errno = e;
		return -1;
	}
	close(fd);
	r->h->size = LOG_RING_BYTES;
	r->h->pid = (uint32_t)pid;
	snprintf(r->h->service, sizeof r->h->service, "%s", service);
	atomic_store(&r->h->sleeping, 1); /* nobody looks yet: the first record pokes */
	atomic_store(&r->h->magic, RING_MAGIC);
	return 0;
}

int log_ring_open(struct log_ring *r, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != map_len()) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	int rc = map(r, fd);
	close(fd);
	if (rc < 0)
		return -1;
	if (atomic_load(&r->h->magic) != RING_MAGIC || r->h->size != LOG_RING_BYTES) {
		log_ring_close(r);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

void log_ring_close(struct log_ring *r)
{
	if (r->h)
		munmap(r->h, map_len());
	r->h = NULL;
	r->data = NULL;
}

int log_ring_put(struct log_ring *r, const void *rec, size_t len, bool *poke)
{
	struct log_ring_hdr *h = r->h;
	uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&h->tail, memory_order_acquire);
	uint64_t need = ALIGN8(4 + len), at = head % LOG_RING_BYTES, skip = 0;
	if (len > LOG_RING_RECORD_MAX)
		return -1;
	if (at + need > LOG_RING_BYTES)
		skip = LOG_RING_BYTES - at; /* a record never wraps */
	if (head + skip + need - tail > LOG_RING_BYTES)
		return -1;
	if (skip) {
		uint32_t w = RING_WRAP;
		memcpy(r->data + at, &w, 4);
		at = 0;
	}
	uint32_t l = (uint32_t)len;
	memcpy(r->data + at, &l, 4);
	memcpy(r->data + at + 4, rec, len);
	atomic_store(&h->head, head + skip + need);
	*poke = atomic_load(&h->sleeping) && atomic_exchange(&h->sleeping, 0);
	return 0;
}

int log_ring_get(struct log_ring *r, void *buf, size_t cap, size_t *len)
{
	struct log_ring_hdr *h = r->h;
	for (;;) {
		uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
		uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
		if (head == tail)
			return 0;
		uint64_t at = tail % LOG_RING_BYTES;
		uint32_t l;
		if (head - tail > LOG_RING_BYTES || head - tail < 4 || at % 8) {
			errno = EPROTO;
			return -1;
		}
		memcpy(&l, r->data + at, 4);
		if (l == RING_WRAP) {
			atomic_store_explicit(&h->tail, tail + (LOG_RING_BYTES - at), memory_order_release);
			continue;
		}
		uint64_t need = ALIGN8(4 + (uint64_t)l);
		if (l > cap || at + need > LOG_RING_BYTES || need > head - tail) {
			errno = EPROTO;
			return -1;
		}
		memcpy(buf, r->data + at + 4, l);
		*len = l;
		atomic_store_explicit(&h->tail, tail + need, memory_order_release);
		return 1;
	}
}

bool log_ring_sleep(struct log_ring *r)
{
	atomic_store(&r->h->sleeping, 1);
	if (atomic_load(&r->h->head) == atomic_load(&r->h->tail))
		return true;
	/* A record came in between: look again rather than wait for a poke. */
	atomic_store(&r->h->sleeping, 0);
	return false;
}

pid_t log_ring_pid(const struct log_ring *r)
{
	return (pid_t)r->h->pid;
}
