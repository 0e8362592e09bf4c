/*
 * cli.c — the `bridge` command line: global flags and subcommand dispatch.
 */
#include "bridge/cli.h"

#include "bridge/err.h"
#include "bridge/keys.h"
#include "bridge/log.h"
#include "bridge/mem.h"
#include "cli_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "bridge " BRIDGE_VERSION " — OpenAI-compatible chat completions for TENEX agents over Nostr\n"
    "\n"
    "Usage:\n"
    "  bridge --server [options]     serve POST /<project>/chat/completions (see below)\n"
    "  bridge keygen                 print a new secret key (nsec) and its public key (npub, hex)\n"
    "  bridge pubkey                 print the npub and hex public key of the configured secret key\n"
    "  bridge sign [--batch]         sign {\"kind\",\"content\",\"tags\",\"created_at\"} read on stdin;\n"
    "                                print the signed event as one line of JSON\n"
    "  bridge verify [--batch]       check the event read on stdin: prints \"valid\" (exit 0) or\n"
    "                                \"invalid: <reason>\" (exit 1)\n"
    "  bridge --help | -h            this text\n"
    "  bridge --version | -V         the version\n"
    "\n"
    "Server options:\n"
    "  --bind HOST:PORT              listen address (default 127.0.0.1:3000; env BRIDGE_BIND)\n"
    "  --relay URL                   a ws:// or wss:// relay, repeatable (env BRIDGE_RELAYS, comma-\n"
    "                                separated; default wss://relay.tenex.chat)\n"
    "  --relay-ca FILE               trust the CA certificates in this PEM file for wss:// relays\n"
    "                                instead of the system store (a private CA; env BRIDGE_RELAY_CA);\n"
    "                                the host name is still checked\n"
    "  --owner NPUB                  the projects' owner (default: the key's own pubkey)\n"
    "  --api-key KEY                 require this API key (Authorization: Bearer or X-Api-Key),\n"
    "                                repeatable (env BRIDGE_API_KEYS, comma-separated; default: none =\n"
    "                                local mode)\n"
    "  --api-key-file PATH           API keys, one per line; the file must not be readable by others\n"
    "  --config PATH                 API keys with names and per-key policies (projects, limits): a\n"
    "                                JSON file, see docs/guide.md; must not be readable by others\n"
    "  --protect-health              /health needs an API key too (default: public)\n"
    "  --max-streams N               concurrent chat requests in all (default 10000); beyond: 429\n"
    "  --max-streams-per-key N       concurrent chat requests per API key (default 0: no limit)\n"
    "  --rate-limit N                chat requests per API key per minute (default 0: no limit)\n"
    "  --backend NPUB                trust only this TENEX backend key for status, activity and crash\n"
    "                                notices; repeatable (default: any author)\n"
    "  --cors-origin ORIGIN          allow this browser origin, repeatable (default: any)\n"
    "  --max-body BYTES              request body cap (default 1M)\n"
    "  --max-stream-queue BYTES      bytes queued for a slow reader before it is cut off (default 1M)\n"
    "  --max-frame BYTES             largest message accepted from a relay; a relay that sends a bigger\n"
    "                                one is dropped and reconnected (default 1M)\n"
    "  --first-event-timeout SECS    wait for the agent's first event (default 60)\n"
    "  --idle-timeout SECS           wait between the agent's events (default 120)\n"
    "  --turn-timeout SECS           a whole turn (default 900)\n"
    "  --boot-timeout SECS           wait for a lazily booted project to come online (default 30)\n"
    "  --publish-timeout SECS        wait for a relay to accept the message (default 5)\n"
    "  --startup-grace SECS          after start-up, wait this long for a first TENEX status before\n"
    "                                answering 503 for an offline project (default 35)\n"
    "  --shutdown-grace SECS         on SIGTERM, wait this long for responses to finish (default 5)\n"
    "  --no-history-transcript       do not prepend earlier turns of a conversation bridge has not seen\n"
    "  --state PATH                  remember conversations (history -> Nostr thread) in this SQLite\n"
    "                                file across restarts (default $XDG_STATE_HOME/bridge/state.db,\n"
    "                                else ~/.local/state/bridge/state.db); :memory: keeps them in memory\n"
    "  --state-max-entries N         conversations remembered, oldest use dropped first (default 100000)\n"
    "  --state-ttl SECS              forget a conversation unused this long (default 604800: 7 days)\n"
    "  --log-level LEVEL             debug, info, warn, error or off (default info)\n"
    "  --log-json                    log JSON lines instead of text (same as --log-format json)\n"
    "  --log-format FORMAT           text (default) or json\n"
    "  --log-file PATH               append the log to PATH instead of stderr; SIGHUP reopens it (for\n"
    "                                log rotation)\n"
    "  --filler TEXT                 streamed at once when the agent starts working, before its first\n"
    "                                words (for voice front ends; e.g. \"... \"; default none)\n"
    "  --stop-on-disconnect          a client that goes away mid-turn stops the agent's run (TENEX\n"
    "                                kind 24134); by default the turn runs on and is recorded\n"
    "  --log-content                 the per-request log line includes the user's text and the reply\n"
    "                                (first 4000 bytes each; default: never message content)\n"
    "  --max-ws-threads N            turns running at once on one WS /chat connection (default 16)\n"
    "  --ws-idle-timeout SECS        close a WS /chat connection silent this long (default 60)\n"
    "\n"
    "Key options (server, pubkey, sign):\n"
    "  --nsec-file PATH              read the secret key (nsec1… or 64 hex digits) from PATH; the file\n"
    "                                must not be readable by group or others\n"
    "\n"
    "  --batch                       sign/verify: one JSON object per input line, one output line each\n"
    "\n"
    "Environment:\n"
    "  TENEX_NSEC                    the secret key (nsec1… or 64 hex digits), used when --nsec-file\n"
    "                                is not given; removed from the environment once read\n"
    "  BRIDGE_RELAYS, BRIDGE_BIND    defaults for --relay and --bind\n"
    "  BRIDGE_RELAY_CA               default for --relay-ca\n"
    "  BRIDGE_API_KEYS               API keys, comma-separated (removed from the environment once read)\n"
    "\n"
    "Exit status: 0 success, 1 a negative answer (verify: invalid), 2 bad usage or bad input.\n";

int nb_cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, *cmd ? "bridge %s: " : "bridge: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return NB_EXIT_USAGE;
}

int nb_cli_read_stdin(nb_buf_t *out)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EINTR) continue;
            return NB_EIO;
        }
        int r = nb_buf_append(out, chunk, (size_t)n);
        if (r != 0) return r;
    }
}

int nb_cli_load_key(const char *cmd, nb_keys_t *keys, const char *nsec_file)
{
    int r = nsec_file != NULL ? nb_keys_load_file(keys, nsec_file) : nb_keys_load_env(keys, "TENEX_NSEC");
    if (r == 0) return 0;
    if (nsec_file != NULL)
        nb_cli_fail(cmd, "%s: %s", nsec_file, nb_strerror(r));
    else if (r == NB_ENOKEY)
        nb_cli_fail(cmd, "%s", nb_strerror(r));
    else
        nb_cli_fail(cmd, "TENEX_NSEC: %s (expected nsec1… or 64 hex digits)", nb_strerror(r));
    return r;
}

int nb_cli_each_line(const char *data, size_t len, int (*fn)(void *ud, const char *line, size_t n), void *ud)
{
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - data) : len;
        size_t s = i, e = end;
        while (s < e && (data[s] == ' ' || data[s] == '\t' || data[s] == '\r'))
            s++;
        while (e > s && (data[e - 1] == ' ' || data[e - 1] == '\t' || data[e - 1] == '\r'))
            e--;
        if (e > s) {
            int r = fn(ud, data + s, e - s);
            if (r != 0) return r;
        }
        i = end + 1;
    }
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
} commands[] = {
    {"keygen", nb_cmd_keygen}, {"pubkey", nb_cmd_pubkey},   {"sign", nb_cmd_sign},
    {"verify", nb_cmd_verify}, {"--server", nb_cmd_server}, {"server", nb_cmd_server},
};

int nb_cli_main(int argc, char **argv)
{
    nb_mem_install();
    if (argc < 2) {
        fputs(usage_text, stderr);
        return NB_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return NB_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 || strcmp(cmd, "version") == 0) {
        puts("bridge " BRIDGE_VERSION);
        return NB_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(cmd, commands[i].name) == 0) {
            if (nb_secp_init() != 0) return nb_cli_fail(cmd, "%s", nb_strerror(NB_ERANDOM));
            int status = commands[i].fn(argc - 1, argv + 1);
            nb_secp_dispose();
            return status;
        }
    }
    nb_cli_fail("", "unknown command or option '%s' (see bridge --help)", cmd);
    return NB_EXIT_USAGE;
}
