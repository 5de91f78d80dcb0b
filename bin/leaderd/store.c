/* What leaderd keeps on disk.
 *
 * <db dir>/leaderd.state: the newest term accepted and the last vote, written atomically
 * and durably (fsync) before leaderd answers a vote or acts on a term, and reloaded at start,
 * so a restarted leaderd never votes twice in one term nor goes back to an older one:
 *
 *     newest = 12
 *     voted term = 13
 *     voted for = 2
 *
 * <run dir>/leaderd.trace, only when leaderd's environment has SHOAL_LEADERD_TRACE=1 (the
 * test clusters set it): one line per leadership event, on CLOCK_MONOTONIC nanoseconds, for
 * the tests' interval check (tests/cluster/leadercheck.py). Off by default: it grows by a
 * line per renewal on every node (~20 MB a day in the run directory, often a tmpfs), and
 * the write is a tenth of an idle leaderd's CPU.
 *
 *     start TERM NODE AT UNTIL       this node leads TERM from AT; its lease runs to UNTIL
 *     valid TERM NODE UNTIL          the lease now runs to UNTIL (a renewal came through)
 *     end TERM NODE AT               it stopped leading at AT
 *     accept TERM FROM SENT NODE AT  NODE acted on FROM's leader message sent at SENT
 *     term TERM NODE AT              NODE's newest term is now TERM
 *
 * UNTIL is 18446744073709551615 for a lock that never expires (`!COMMAND`). The lines are
 * appended with one write(2) each, so a killed leaderd loses none it has written. leaderd
 * and memberd (the valid and accept lines of a lease it carries) both write it, through
 * lib/member's member_trace. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "leaderd.h"
#include "log/log.h"

static void state_path(const struct leaderd *ld, char *buf, size_t len)
{
	snprintf(buf, len, "%s/leaderd.state", ld->d.conf.db_dir);
}

void store_load(struct leaderd *ld)
{
	char path[PATH_MAX + 32], line[128];
	unsigned long long v;
	state_path(ld, path, sizeof path);
	ld->voted_for = NODE_NONE;
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno != ENOENT)
			log_warning("unable to read %s: %s", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "newest = %llu", &v) == 1)
			ld->newest = v;
		else if (sscanf(line, "voted term = %llu", &v) == 1)
			ld->voted_term = v;
		else if (sscanf(line, "voted for = %llu", &v) == 1)
			ld->voted_for = v < CONF_MAX_NODES ? (uint32_t)v : NODE_NONE;
	}
	fclose(f);
	log_notice("state: newest term %" PRIu64 ", voted in term %" PRIu64, ld->newest,
	           ld->voted_term);
}

int store_save(struct leaderd *ld)
{
	char path[PATH_MAX + 32], buf[160];
	state_path(ld, path, sizeof path);
	int n = snprintf(buf, sizeof buf, "newest = %" PRIu64 "\nvoted term = %" PRIu64
	                 "\nvoted for = %ld\n", ld->newest, ld->voted_term,
	                 ld->voted_for == NODE_NONE ? -1L : (long)ld->voted_for);
	if (write_file_atomic(path, buf, (size_t)n) < 0) {
		log_err("unable to save %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

