#include "bridge/cli.h"

#include <stdio.h>

int nb_cli_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    puts("bridge " BRIDGE_VERSION);
    return 0;
}
