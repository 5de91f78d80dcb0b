/* shoal: the cluster-wide admin tool. main.c parses the global options and dispatches to a
 * command from its table; each command lives in its own file and is declared here.
 *
 * To add a command: write `int cmd_NAME(int argc, char **argv)` in bin/shoal/NAME.c (argv[0]
 * is the command's name; parse the rest with getopt_long, optind starts at 1 again), declare
 * it below, and add a line to the table in main.c. A command returns the exit code. */
#ifndef SHOAL_SHOAL_H
#define SHOAL_SHOAL_H

#include "cli/cli.h"
#include "conf/conf.h"

#define EXIT_TEMP EXIT_SYSTEM /* temporary or system failure (cli.h has the vocabulary) */

/* The config file: -c/--config before the command, else $SHOAL_CONF, else
 * CONF_DEFAULT_PATH. A command may also accept -c after its name and set it. */
extern const char *shoal_conf_path;

/* "shoal: fatal: " fmt, then exit(code). */
_Noreturn void shoal_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "shoal: fatal: file:line: what"; exit 100, or 111 if errno says the failure may pass. */
_Noreturn void shoal_die_conf(const struct conf_error *e);
/* "shoal: fatal: usage error ... (see shoal CMD --help)"; exit 100. */
_Noreturn void shoal_die_usage(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Flushes stdout; a write error is fatal (111). Call before returning 0. */
int shoal_flush_stdout(void);

/* The commands. */
int cmd_config(int argc, char **argv);
int cmd_node(int argc, char **argv);
int cmd_status(int argc, char **argv);

#endif
