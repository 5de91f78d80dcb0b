/* shoal: the admin tool. Parses the global options, then runs one command from the table. */
#include "shoal.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *shoal_conf_path = CONF_DEFAULT_PATH;

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "config", cmd_config, "check or print the configuration and the nodes file" },
	{ "node", cmd_node, "start, stop or show this node's daemons and their supervisor" },
	{ "status", cmd_status, "the cluster overview: every node's state, this node, the view" },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
	fputs("Usage: shoal [-c FILE] COMMAND [ARGUMENTS]\n"
	      "       shoal --help\n"
	      "\n"
	      "shoal administers a shoal cluster from one of its nodes.\n"
	      "\n"
	      "Commands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "Options:\n"
	      "  -c, --config FILE  the configuration file (default: $SHOAL_CONF if set,\n"
	      "                     else " CONF_DEFAULT_PATH ")\n"
	      "  -h, --help         print this help and exit\n"
	      "\n"
	      "Run `shoal COMMAND --help` for the arguments of a command.\n"
	      "\n"
	      "Exit status:\n"
	      "  0    success\n"
	      "  100  usage error or permanent failure (a bad configuration, for one)\n"
	      "  111  temporary or system failure\n"
	      "\n"
	      "Environment:\n"
	      "  SHOAL_CONF  the configuration file when -c is not given\n", f);
}

static void vdie(const char *fmt, va_list ap)
{
	fputs("shoal: fatal: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void shoal_die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdie(fmt, ap);
	va_end(ap);
	exit(code);
}

void shoal_die_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("shoal: fatal: ", stderr);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (see shoal%s%s --help)\n", cmd ? " " : "", cmd ? cmd : "");
	va_end(ap);
	exit(EXIT_USAGE);
}

void shoal_die_conf(const struct conf_error *e)
{
	int temporary = errno == EIO || errno == ENOMEM || errno == EMFILE || errno == ENFILE ||
			errno == EINTR || errno == EAGAIN;
	char buf[PATH_MAX + 300];
	shoal_die(temporary ? EXIT_TEMP : EXIT_USAGE, "%s", conf_error_str(e, buf, sizeof buf));
}

int shoal_flush_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout))
		shoal_die(EXIT_TEMP, "unable to write to stdout: %s", strerror(errno));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv("SHOAL_CONF");
	if (env && *env)
		shoal_conf_path = env;

	opterr = 0;
	int c;
	/* '+': stop at the command; what follows belongs to it. */
	while ((c = getopt_long(argc, argv, "+:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			shoal_conf_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return shoal_flush_stdout();
		case ':':
			shoal_die_usage(NULL, "option %s needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				shoal_die_usage(NULL, "unknown option \"-%c\"", optopt);
			shoal_die_usage(NULL, "unknown option \"%s\"", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[optind];
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(name, commands[i].name) == 0) {
			int first = optind;
			optind = 0; /* glibc: start the command's getopt afresh */
			return commands[i].run(argc - first, argv + first);
		}
	}
	shoal_die_usage(NULL, "unknown command \"%s\"", name);
}
