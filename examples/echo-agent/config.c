/*
 * config.c — flags, environment and keys of echo-agent.
 *
 * Secrets come from flags (visible in `ps`: fine for a demo, prefer the environment) or from
 * ECHO_OWNER_NSEC / ECHO_BACKEND_NSEC / ECHO_AGENTS. They are parsed straight into nb_keys_t and
 * never logged; only npubs and hex pubkeys are printed.
 */
#include "echo_agent.h"

#include "bridge/err.h"
#include "bridge/hex.h"
#include "bridge/mem.h"
#include "bridge/nip19.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: echo-agent --relay URL [options]\n"
    "\n"
    "A TENEX backend stand-in: publishes a project (kind 31933) with echo agents, the backend's\n"
    "status events, and answers kind:1 messages exactly like today's TENEX (24133 activity,\n"
    "24135 deltas, kind:1 conversation/tool/completion). See examples/echo-agent/README.md.\n"
    "\n"
    "Relays and keys (a key is nsec1… or 64 hex digits; missing keys are generated):\n"
    "  --relay URL            relay to use (repeatable; env ECHO_RELAYS, space/comma separated)\n"
    "  --owner-nsec KEY       the project owner: signs the 31933 (env ECHO_OWNER_NSEC)\n"
    "  --backend-nsec KEY     the backend: signs 24010/24011/24012/24133 and crash notices,\n"
    "                         answers NIP-42 AUTH (env ECHO_BACKEND_NSEC)\n"
    "  --agent SLUG[=KEY]     an agent (repeatable, the first is the PM; env ECHO_AGENTS=\"pm=KEY\n"
    "                         coder=KEY\"); default: agents \"pm\" and \"coder\" with fresh keys\n"
    "  --whitelist NPUB|HEX   another pubkey the backend obeys (repeatable; the owner always is)\n"
    "  --generate             print fresh keys as shell `export` lines and exit (honours --agent\n"
    "                         slugs)\n"
    "\n"
    "Project and status:\n"
    "  --project DTAG         the project's d-tag (default \"demo\")\n"
    "  --title TEXT           the project's title (default \"Echo demo\")\n"
    "  --model NAME           the llm-model tag value (default \"echo:echo-1\")\n"
    "  --status-interval S    seconds between 24012/24011/24010 rounds (default 5; TENEX: 30)\n"
    "  --status-order ORDER   \"normal\" or \"reversed\": agent order in 24010/24011 (the 31933\n"
    "                         roster keeps the PM first)\n"
    "  --lazy                 the project is not running (no 24010, kind:1 ignored) until a\n"
    "                         kind 24000 boot request from a whitelisted author\n"
    "  --offline              no backend at all: only the project and profiles are published,\n"
    "                         nothing periodic, nothing answered\n"
    "  --legacy               pre-2025-12-30 shapes: 31933 [\"agent\",id] tags, 24010 \"pm\"\n"
    "                         marker, 21111 chunks and kind 1111 replies\n"
    "\n"
    "Replies:\n"
    "  --chunk N              bytes per delta, cut on UTF-8 boundaries (default 0: one word each)\n"
    "  --delay-ms MS          delay between published pieces of a reply (default 30)\n"
    "\n"
    "Directives in a message (stripped from the echoed text): #steps=N #tool #retry #acp #ask\n"
    "  #nocompletion #delegate #silent #error #crash #drop=N #reorder #dup #huge=BYTES #die\n"
    "  #slow=MS #chunk=N #unicode (see the README).\n"
    "\n"
    "Other:\n"
    "  --log-level LEVEL      debug, info (default), warn, error, off (logs go to stderr)\n"
    "  --log-json             JSON log lines\n"
    "  --help, --version\n"
    "\n"
    "stdout: one line per identity (\"owner HEX NPUB\", \"backend HEX NPUB\", \"agent SLUG HEX NPUB\"),\n"
    "\"project COORD\", then \"ready\" once the project is stored and the subscriptions are live.\n"
    "SIGINT/SIGTERM: clean shutdown, exit 0.\n";

/* ---- small parsers ------------------------------------------------------------------------ */

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (s == NULL || !isdigit((unsigned char)s[0])) return false;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) return false;
    *out = v;
    return true;
}

static bool slug_ok(const char *s, size_t len)
{
    if (len == 0 || len > ECHO_MAX_SLUG) return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!(isalnum((unsigned char)ch) || ch == '-' || ch == '_' || ch == '.')) return false;
    }
    return true;
}

static bool dtag_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > ECHO_MAX_DTAG) return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == ':' || s[i] == '/') return false;
    return true;
}

/* ---- agents and keys ---------------------------------------------------------------------- */

/* The legacy roster tag names a kind 4199 agent definition; ours is the id such a definition
 * (signed by the agent, content = slug, created_at 0) would have. Nothing publishes it. */
static void set_legacy_id(echo_agent_t *a)
{
    nb_event_t ev;
    nb_event_init(&ev);
    ev.kind = 4199;
    memcpy(ev.pubkey, a->keys.pubkey, 32);
    nb_event_set_content(&ev, a->slug, strlen(a->slug));
    uint8_t id[32];
    nb_event_compute_id(&ev, id);
    nb_hex_encode(a->legacy_id, id, 32);
    nb_event_dispose(&ev);
}

/* "slug" or "slug=KEY": add an agent (key generated when absent). */
static int add_agent(echo_config_t *c, const char *spec, const char **why)
{
    const char *eq = strchr(spec, '=');
    size_t slen = eq != NULL ? (size_t)(eq - spec) : strlen(spec);
    if (!slug_ok(spec, slen)) {
        *why = "an agent slug is 1-32 of [A-Za-z0-9._-]";
        return NB_EINVAL;
    }
    if (c->n_agents == ECHO_MAX_AGENTS) {
        *why = "too many agents (16 at most)";
        return NB_ELIMIT;
    }
    for (size_t i = 0; i < c->n_agents; i++) {
        if (strlen(c->agents[i].slug) == slen && memcmp(c->agents[i].slug, spec, slen) == 0) {
            *why = "duplicate agent slug";
            return NB_EINVAL;
        }
    }
    echo_agent_t *a = &c->agents[c->n_agents];
    memset(a, 0, sizeof *a);
    memcpy(a->slug, spec, slen);
    a->slug[slen] = '\0';
    int err = eq != NULL ? nb_keys_parse(&a->keys, eq + 1, strlen(eq + 1)) : nb_keys_generate(&a->keys);
    if (err < 0) {
        *why = "bad agent key";
        return err;
    }
    for (size_t i = 0; i < c->n_agents; i++) {
        if (memcmp(c->agents[i].keys.pubkey, a->keys.pubkey, 32) == 0) {
            nb_keys_dispose(&a->keys);
            *why = "two agents share one key";
            return NB_EINVAL;
        }
    }
    /* ACP children have served earlier prompts: a turn never starts at seq 1. */
    a->acp_seq = 41;
    c->n_agents++;
    return 0;
}

/* ECHO_AGENTS: "slug=KEY slug=KEY" (spaces, commas or newlines between). */
static int add_agents_env(echo_config_t *c, const char *env, const char **why)
{
    char *copy = nb_strdup(env);
    int err = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, " ,\t\n", &save); tok != NULL && err == 0;
         tok = strtok_r(NULL, " ,\t\n", &save))
        err = add_agent(c, tok, why);
    nb_memwipe(copy, strlen(copy));
    nb_free(copy);
    return err;
}

static int add_relay(echo_config_t *c, const char *url, size_t len, const char **why)
{
    if (len == 0) return 0;
    if (c->n_relays == ECHO_MAX_RELAYS) {
        *why = "too many relays (16 at most)";
        return NB_ELIMIT;
    }
    if (!((len > 5 && memcmp(url, "ws://", 5) == 0) || (len > 6 && memcmp(url, "wss://", 6) == 0))) {
        *why = "a relay URL starts with ws:// or wss://";
        return NB_EURL;
    }
    c->relays[c->n_relays++] = nb_strndup(url, len);
    return 0;
}

static int add_relays_env(echo_config_t *c, const char *env, const char **why)
{
    const char *p = env;
    while (*p != '\0') {
        size_t n = strcspn(p, " ,\t\n");
        int err = add_relay(c, p, n, why);
        if (err < 0) return err;
        p += n;
        p += strspn(p, " ,\t\n");
    }
    return 0;
}

static int add_whitelist(echo_config_t *c, const uint8_t pk[32], const char **why)
{
    for (size_t i = 0; i < c->n_whitelist; i++)
        if (memcmp(c->whitelist[i], pk, 32) == 0) return 0;
    if (c->n_whitelist == ECHO_MAX_WHITELIST) {
        *why = "too many whitelisted pubkeys (64 at most)";
        return NB_ELIMIT;
    }
    memcpy(c->whitelist[c->n_whitelist], pk, 32);
    nb_hex_encode(c->whitelist_hex[c->n_whitelist], pk, 32);
    c->n_whitelist++;
    return 0;
}

static int load_key(nb_keys_t *k, const char *flag_value, const char *env_name, bool *generated)
{
    *generated = false;
    if (flag_value != NULL) return nb_keys_parse(k, flag_value, strlen(flag_value));
    const char *env = getenv(env_name);
    if (env != NULL && env[0] != '\0') return nb_keys_parse(k, env, strlen(env));
    *generated = true;
    return nb_keys_generate(k);
}

/* ---- --generate --------------------------------------------------------------------------- */

static int print_generated(echo_config_t *c)
{
    nb_keys_t owner, backend;
    char nsec[64];
    int err = nb_keys_generate(&owner);
    if (err == 0) err = nb_keys_generate(&backend);
    if (err < 0) return err;
    printf("# echo-agent keys; load them with: eval \"$(echo-agent --generate)\"\n");
    nb_keys_nsec(&owner, nsec, sizeof nsec);
    printf("# owner   %s\nexport ECHO_OWNER_NSEC=%s\n", owner.npub, nsec);
    nb_keys_nsec(&backend, nsec, sizeof nsec);
    printf("# backend %s\nexport ECHO_BACKEND_NSEC=%s\n", backend.npub, nsec);
    for (size_t i = 0; i < c->n_agents; i++)
        printf("# agent %s %s\n", c->agents[i].slug, c->agents[i].keys.npub);
    printf("export ECHO_AGENTS=\"");
    for (size_t i = 0; i < c->n_agents; i++) {
        nb_keys_nsec(&c->agents[i].keys, nsec, sizeof nsec);
        printf("%s%s=%s", i ? " " : "", c->agents[i].slug, nsec);
    }
    printf("\"\n");
    nb_memwipe(nsec, sizeof nsec);
    nb_keys_dispose(&owner);
    nb_keys_dispose(&backend);
    fflush(stdout);
    return 0;
}

/* ---- the parser --------------------------------------------------------------------------- */

/* Flags that take a value. */
static const char *const valued[] = {
    "--relay", "--owner-nsec",      "--backend-nsec", "--agent", "--whitelist", "--project",   "--title",
    "--model", "--status-interval", "--status-order", "--chunk", "--delay-ms",  "--log-level", NULL,
};

static bool takes_value(const char *name, size_t len)
{
    for (size_t i = 0; valued[i] != NULL; i++)
        if (strlen(valued[i]) == len && memcmp(valued[i], name, len) == 0) return true;
    return false;
}

echo_config_result_t echo_config_parse(echo_config_t *c, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    snprintf(c->dtag, sizeof c->dtag, "demo");
    snprintf(c->title, sizeof c->title, "Echo demo");
    snprintf(c->model, sizeof c->model, "echo:echo-1");
    c->status_interval_s = 5;
    c->delay_ms = 30;
    c->log_level = NB_LOG_INFO;

    const char *owner_flag = NULL, *backend_flag = NULL, *why = NULL;
    const char *whitelist[ECHO_MAX_WHITELIST];
    size_t n_whitelist = 0;
    bool generate = false, agents_given = false;
    int err = 0;
    echo_config_result_t res = ECHO_CONFIG_EXIT_USAGE;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        size_t nlen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        if (takes_value(arg, nlen)) {
            if (eq != NULL)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                fprintf(stderr, "echo-agent: %s needs a value\n", arg);
                goto fail;
            }
        } else if (eq != NULL) {
            fprintf(stderr, "echo-agent: %.*s takes no value\n", (int)nlen, arg);
            goto fail;
        }
#define IS(name) (strlen(name) == nlen && memcmp(arg, name, nlen) == 0)
        uint64_t u = 0;
        if (IS("--help") || IS("-h")) {
            fputs(usage_text, stdout);
            res = ECHO_CONFIG_EXIT_OK;
            goto fail;
        } else if (IS("--version")) {
            printf("echo-agent %s\n", BRIDGE_VERSION);
            res = ECHO_CONFIG_EXIT_OK;
            goto fail;
        } else if (IS("--relay")) {
            err = add_relay(c, val, strlen(val), &why);
        } else if (IS("--owner-nsec")) {
            owner_flag = val;
        } else if (IS("--backend-nsec")) {
            backend_flag = val;
        } else if (IS("--agent")) {
            agents_given = true;
            err = add_agent(c, val, &why);
        } else if (IS("--whitelist")) {
            if (n_whitelist == ECHO_MAX_WHITELIST) {
                why = "too many --whitelist";
                err = NB_ELIMIT;
            } else {
                whitelist[n_whitelist++] = val;
            }
        } else if (IS("--project")) {
            if (!dtag_ok(val)) {
                why = "--project: 1-128 characters, no ':' '/' or control characters";
                err = NB_EINVAL;
            } else {
                snprintf(c->dtag, sizeof c->dtag, "%s", val);
            }
        } else if (IS("--title")) {
            snprintf(c->title, sizeof c->title, "%s", val);
        } else if (IS("--model")) {
            if (val[0] == '\0' || strlen(val) > ECHO_MAX_MODEL) {
                why = "--model: 1-64 characters";
                err = NB_EINVAL;
            } else {
                snprintf(c->model, sizeof c->model, "%s", val);
            }
        } else if (IS("--status-interval")) {
            if (!parse_u64(val, 1, 3600, &u)) {
                why = "--status-interval: 1..3600 seconds";
                err = NB_EINVAL;
            }
            c->status_interval_s = (uint32_t)u;
        } else if (IS("--status-order")) {
            if (strcmp(val, "normal") == 0)
                c->status_reversed = false;
            else if (strcmp(val, "reversed") == 0)
                c->status_reversed = true;
            else {
                why = "--status-order: normal or reversed";
                err = NB_EINVAL;
            }
        } else if (IS("--chunk")) {
            if (!parse_u64(val, 0, 1u << 20, &u)) {
                why = "--chunk: 0..1048576 bytes";
                err = NB_EINVAL;
            }
            c->chunk = (size_t)u;
        } else if (IS("--delay-ms")) {
            if (!parse_u64(val, 0, 60000, &u)) {
                why = "--delay-ms: 0..60000";
                err = NB_EINVAL;
            }
            c->delay_ms = (uint32_t)u;
        } else if (IS("--log-level")) {
            if (nb_log_level_parse(val, &c->log_level) < 0) {
                why = "--log-level: debug, info, warn, error or off";
                err = NB_EINVAL;
            }
        } else if (IS("--log-json")) {
            c->log_json = true;
        } else if (IS("--lazy")) {
            c->lazy = true;
        } else if (IS("--offline")) {
            c->offline = true;
        } else if (IS("--legacy")) {
            c->legacy = true;
        } else if (IS("--generate")) {
            generate = true;
        } else {
            fprintf(stderr, "echo-agent: unknown option %s (see --help)\n", arg);
            goto fail;
        }
#undef IS
        if (err < 0) {
            fprintf(stderr, "echo-agent: %s (%s)\n", why != NULL ? why : nb_strerror(err), arg);
            goto fail;
        }
    }

    if (!agents_given) {
        const char *env = getenv("ECHO_AGENTS");
        if (env != NULL && env[0] != '\0') {
            err = add_agents_env(c, env, &why);
        } else {
            err = add_agent(c, "pm", &why);
            if (err == 0) err = add_agent(c, "coder", &why);
        }
        if (err < 0) {
            fprintf(stderr, "echo-agent: ECHO_AGENTS: %s\n", why);
            goto fail;
        }
    }
    if (generate) {
        err = print_generated(c);
        res = err == 0 ? ECHO_CONFIG_EXIT_OK : ECHO_CONFIG_EXIT_USAGE;
        goto fail;
    }

    if (c->n_relays == 0) {
        const char *env = getenv("ECHO_RELAYS");
        if (env != NULL && add_relays_env(c, env, &why) < 0) {
            fprintf(stderr, "echo-agent: ECHO_RELAYS: %s\n", why);
            goto fail;
        }
    }
    if (c->n_relays == 0) {
        fprintf(stderr, "echo-agent: no relay: give --relay URL (or ECHO_RELAYS); see --help\n");
        goto fail;
    }

    bool gen_owner, gen_backend;
    if (load_key(&c->owner, owner_flag, "ECHO_OWNER_NSEC", &gen_owner) < 0) {
        fprintf(stderr, "echo-agent: bad owner key (--owner-nsec / ECHO_OWNER_NSEC)\n");
        goto fail;
    }
    if (load_key(&c->backend, backend_flag, "ECHO_BACKEND_NSEC", &gen_backend) < 0) {
        fprintf(stderr, "echo-agent: bad backend key (--backend-nsec / ECHO_BACKEND_NSEC)\n");
        goto fail;
    }
    if (gen_owner) NB_INFO("config: generated an owner key npub=%s", c->owner.npub);
    if (gen_backend) NB_INFO("config: generated a backend key npub=%s", c->backend.npub);

    add_whitelist(c, c->owner.pubkey, &why);
    for (size_t i = 0; i < n_whitelist; i++) {
        uint8_t pk[32];
        if (nb_pubkey_parse(pk, whitelist[i], strlen(whitelist[i])) < 0) {
            fprintf(stderr, "echo-agent: --whitelist: not an npub or hex pubkey: %s\n", whitelist[i]);
            goto fail;
        }
        if (add_whitelist(c, pk, &why) < 0) {
            fprintf(stderr, "echo-agent: %s\n", why);
            goto fail;
        }
    }

    for (size_t i = 0; i < c->n_agents; i++)
        set_legacy_id(&c->agents[i]);
    snprintf(c->coord, sizeof c->coord, "31933:%s:%s", c->owner.pubkey_hex, c->dtag);
    return ECHO_CONFIG_RUN;

fail:
    echo_config_dispose(c);
    return res;
}

void echo_config_dispose(echo_config_t *c)
{
    for (size_t i = 0; i < c->n_relays; i++)
        nb_free(c->relays[i]);
    c->n_relays = 0;
    for (size_t i = 0; i < c->n_agents; i++)
        nb_keys_dispose(&c->agents[i].keys);
    c->n_agents = 0;
    nb_keys_dispose(&c->owner);
    nb_keys_dispose(&c->backend);
}

int echo_config_agent_index(const echo_config_t *c, const uint8_t pubkey[32])
{
    for (size_t i = 0; i < c->n_agents; i++)
        if (memcmp(c->agents[i].keys.pubkey, pubkey, 32) == 0) return (int)i;
    return -1;
}

bool echo_config_trusted(const echo_config_t *c, const uint8_t pubkey[32])
{
    if (memcmp(c->backend.pubkey, pubkey, 32) == 0) return true;
    for (size_t i = 0; i < c->n_whitelist; i++)
        if (memcmp(c->whitelist[i], pubkey, 32) == 0) return true;
    return false;
}
