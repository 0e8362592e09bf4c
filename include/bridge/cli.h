/*
 * cli.h — `bridge` command line: --help, --version, --server and the subcommands
 * (keygen, pubkey, sign, verify). Exit status: 0 ok, 1 a negative answer (verify: invalid),
 * 2 bad usage or bad input (a one-line error on stderr naming what is wrong).
 */
#ifndef BRIDGE_CLI_H
#define BRIDGE_CLI_H

/** Run the command line; returns the process exit status. */
int nb_cli_main(int argc, char **argv);

#endif
