/* cli_internal.h — shared pieces of the subcommands (private to src/cli/). */
#ifndef BRIDGE_CLI_INTERNAL_H
#define BRIDGE_CLI_INTERNAL_H

#include "bridge/buf.h"
#include "bridge/keys.h"

#include <stdbool.h>
#include <stddef.h>

/* Exit statuses shared by every subcommand. */
enum { NB_EXIT_OK = 0, NB_EXIT_NO = 1, NB_EXIT_USAGE = 2 };

/** Max bytes read from stdin by sign/verify. */
#define NB_CLI_MAX_INPUT (1024 * 1024)

/** Print "bridge <cmd>: <message>" on stderr and return NB_EXIT_USAGE. */
int nb_cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Read all of stdin into out (ceiling NB_CLI_MAX_INPUT). 0, NB_ETOOBIG or NB_EIO. */
int nb_cli_read_stdin(nb_buf_t *out);

/**
 * Load the user's key: --nsec-file PATH when given, else $TENEX_NSEC. Prints the error itself
 * (never the secret). 0 or the nb_err_t.
 */
int nb_cli_load_key(const char *cmd, nb_keys_t *keys, const char *nsec_file);

/** Split data[0..len) into lines; calls fn for each non-blank one. Stops at the first nonzero. */
int nb_cli_each_line(const char *data, size_t len, int (*fn)(void *ud, const char *line, size_t n), void *ud);

int nb_cmd_keygen(int argc, char **argv);
int nb_cmd_pubkey(int argc, char **argv);
int nb_cmd_sign(int argc, char **argv);
int nb_cmd_verify(int argc, char **argv);
int nb_cmd_server(int argc, char **argv);

#endif
