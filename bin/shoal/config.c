/* shoal config: check or print the configuration (the `daemon -n` of OpenBSD's daemons). */
#include "shoal.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void config_usage(FILE *f)
{
	fputs("Usage: shoal config check [-c FILE] [--nodes]\n"
	      "       shoal config print [-c FILE] [--nodes]\n"
	      "\n"
	      "check  reads the configuration file and the nodes file it names and checks them\n"
	      "       together: `node address` is set, listed in the nodes file and not deleted;\n"
	      "       socket paths under `run directory` fit in a Unix socket address; the\n"
	      "       `cluster key` file is a regular file of mode 0600 or 0640 holding 32 to\n"
	      "       1024 bytes. Then it prints the configuration in canonical form.\n"
	      "print  prints the configuration in canonical form, checking only its syntax.\n"
	      "\n"
	      "The canonical form lists every section and key, defaults included, with numbers\n"
	      "in decimal, addresses as inet_ntop(3) writes them and level names in lower case;\n"
	      "reading it back gives the same configuration.\n"
	      "\n"
	      "Options:\n"
	      "  -c, --config FILE  the configuration file (as `shoal -c FILE config ...`)\n"
	      "  -n, --nodes        print the nodes file in canonical form instead: one node per\n"
	      "                     line, numbered from 0, a deleted node as `#` or `#ADDRESS`\n"
	      "  -h, --help         print this help and exit\n"
	      "\n"
	      "Errors name the file and line: `shoal: fatal: shoal.conf:7: unknown key ...`;\n"
	      "exit status 100 for a bad file, 111 for a system failure.\n", f);
}

int cmd_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "nodes", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* Big (the nodes table): not on the stack. */
	static struct conf conf;
	static struct conf_nodes nodes;
	struct conf_error err;

	if (argc < 2) {
		config_usage(stderr);
		return EXIT_USAGE;
	}
	const char *verb = argv[1];
	if (strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0) {
		config_usage(stdout);
		return shoal_flush_stdout();
	}
	int check = strcmp(verb, "check") == 0;
	if (!check && strcmp(verb, "print") != 0)
		shoal_die_usage("config", "unknown config command \"%s\"", verb);

	argc--, argv++;
	opterr = 0;
	int c, print_nodes = 0;
	while ((c = getopt_long(argc, argv, ":c:nh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			shoal_conf_path = optarg;
			break;
		case 'n':
			print_nodes = 1;
			break;
		case 'h':
			config_usage(stdout);
			return shoal_flush_stdout();
		case ':':
			shoal_die_usage("config", "option %s needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				shoal_die_usage("config", "unknown option \"-%c\"", optopt);
			shoal_die_usage("config", "unknown option \"%s\"", argv[optind - 1]);
		}
	}
	if (optind < argc)
		shoal_die_usage("config", "unexpected argument \"%s\"", argv[optind]);

	if (conf_load(&conf, shoal_conf_path, &err) < 0)
		shoal_die_conf(&err);
	if ((check || print_nodes) && nodes_load(&nodes, conf.nodes_file, &err) < 0)
		shoal_die_conf(&err);
	if (check && conf_check(&conf, &nodes, &err) < 0)
		shoal_die_conf(&err);

	if (print_nodes)
		nodes_print(&nodes, stdout);
	else
		conf_print(&conf, stdout);
	return shoal_flush_stdout();
}
