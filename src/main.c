/* main.c — argv → the CLI dispatcher (src/cli/). */
#include "bridge/cli.h"

int main(int argc, char **argv)
{
    return nb_cli_main(argc, argv);
}
