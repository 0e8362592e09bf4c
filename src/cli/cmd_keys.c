/*
 * cmd_keys.c — `bridge keygen` and `bridge pubkey`.
 */
#include "bridge/err.h"
#include "bridge/keys.h"
#include "cli_internal.h"

#include <stdio.h>
#include <string.h>

int nb_cmd_keygen(int argc, char **argv)
{
    if (argc > 1) return nb_cli_fail("keygen", "unexpected argument '%s'", argv[1]);
    nb_keys_t keys;
    int r = nb_keys_generate(&keys);
    if (r != 0) return nb_cli_fail("keygen", "%s", nb_strerror(r));
    char nsec[128];
    r = nb_keys_nsec(&keys, nsec, sizeof(nsec));
    if (r == 0) {
        /* The one place a secret is printed on purpose: the user asked for a new key. */
        printf("nsec: %s\nnpub: %s\nhex:  %s\n", nsec, keys.npub, keys.pubkey_hex);
        fflush(stdout);
    }
    explicit_bzero(nsec, sizeof(nsec));
    nb_keys_dispose(&keys);
    return r == 0 ? NB_EXIT_OK : nb_cli_fail("keygen", "%s", nb_strerror(r));
}

int nb_cmd_pubkey(int argc, char **argv)
{
    const char *nsec_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--nsec-file") == 0 && i + 1 < argc)
            nsec_file = argv[++i];
        else if (strncmp(argv[i], "--nsec-file=", 12) == 0)
            nsec_file = argv[i] + 12;
        else
            return nb_cli_fail("pubkey", "unexpected argument '%s'", argv[i]);
    }
    nb_keys_t keys;
    if (nb_cli_load_key("pubkey", &keys, nsec_file) != 0) return NB_EXIT_USAGE;
    printf("npub: %s\nhex:  %s\n", keys.npub, keys.pubkey_hex);
    nb_keys_dispose(&keys);
    return NB_EXIT_OK;
}
