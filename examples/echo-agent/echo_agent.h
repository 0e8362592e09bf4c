/*
 * echo_agent.h — a TENEX backend stand-in for demos and the bridge's tests.
 *
 * The program plays every TENEX role except the human: the owner (signs the 31933 project), the
 * backend daemon (24010/24011/24012 liveness, 24133 activity, crash notices) and one key per
 * agent (24135 deltas, kind:1 conversation / tool / completion / error / ask events, kind 0
 * profiles). Agents "think" by echoing the user's text; directives in the text (#steps=3,
 * #retry, #ask, …) make one process act out every case a bridge must handle.
 *
 * Reading order: main.c (lifecycle) → config.c (flags, keys) → project.c (31933, kind 0,
 * periodic status) → inbox.c (subscription, trust, routing, stop, boot) → memory.c (threads,
 * pending asks) → directives.c → script.c (what a run will say) → run.c (saying it, on timers)
 * → wire.c (the exact event shapes).
 *
 * Everything runs on one libuv loop; nothing here is thread-safe. Cross-file names are echo_*,
 * statics are unprefixed.
 */
#ifndef ECHO_AGENT_H
#define ECHO_AGENT_H

#include "bridge/buf.h"
#include "bridge/event.h"
#include "bridge/keys.h"
#include "bridge/log.h"
#include "bridge/relay_pool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define ECHO_MAX_AGENTS 16
#define ECHO_MAX_RELAYS 16
#define ECHO_MAX_WHITELIST 64
#define ECHO_MAX_SLUG 32
#define ECHO_MAX_DTAG 128
#define ECHO_MAX_TITLE 256
#define ECHO_MAX_MODEL 64
#define ECHO_COORD_LEN (6 + 64 + 1 + ECHO_MAX_DTAG + 1) /* "31933:" hex ":" dtag NUL */
/** Largest reply #huge produces (the relay and the bridge refuse much larger events anyway). */
#define ECHO_MAX_HUGE (4u * 1024 * 1024)
/** Exit status of #die (abrupt exit mid-reply). */
#define ECHO_DIE_STATUS 3

/* ---- configuration (config.c) ------------------------------------------------------------- */

typedef struct {
    char slug[ECHO_MAX_SLUG + 1];
    nb_keys_t keys;
    char legacy_id[65]; /* legacy 31933 ["agent",<id>]: a stand-in for a kind 4199 definition id */
    uint64_t acp_seq;   /* #acp: one stream-seq counter per agent that never resets */
} echo_agent_t;

typedef enum { ECHO_CONFIG_RUN = 0, ECHO_CONFIG_EXIT_OK, ECHO_CONFIG_EXIT_USAGE } echo_config_result_t;

typedef struct {
    char *relays[ECHO_MAX_RELAYS]; /* owned */
    size_t n_relays;
    nb_keys_t owner;                      /* signs the 31933 project */
    nb_keys_t backend;                    /* signs 24010/24011/24012/24133, crash notices; does NIP-42 AUTH */
    echo_agent_t agents[ECHO_MAX_AGENTS]; /* agents[0] is the PM */
    size_t n_agents;
    uint8_t whitelist[ECHO_MAX_WHITELIST][32]; /* [0] is the owner */
    char whitelist_hex[ECHO_MAX_WHITELIST][65];
    size_t n_whitelist;
    char dtag[ECHO_MAX_DTAG + 1];
    char title[ECHO_MAX_TITLE + 1];
    char coord[ECHO_COORD_LEN]; /* "31933:<owner hex>:<dtag>" */
    char model[ECHO_MAX_MODEL + 1];
    uint32_t status_interval_s;
    bool status_reversed; /* list agents of 24010/24011 in reverse roster order */
    bool lazy;            /* not running until a 24000 boot request */
    bool offline;         /* no backend: nothing periodic, nothing answered */
    bool legacy;          /* pre-2025-12-30 shapes */
    size_t chunk;         /* delta size in bytes; 0 = one word per delta */
    uint32_t delay_ms;    /* between published pieces of a run */
    nb_log_level_t log_level;
    bool log_json;
} echo_config_t;

/**
 * Fill c from argv and the environment (ECHO_OWNER_NSEC, ECHO_BACKEND_NSEC, ECHO_AGENTS,
 * ECHO_RELAYS). Missing keys are generated. --help / --version / --generate print to stdout
 * and return ECHO_CONFIG_EXIT_OK; a usage error prints to stderr and returns
 * ECHO_CONFIG_EXIT_USAGE. On anything but ECHO_CONFIG_RUN, c is already disposed.
 */
echo_config_result_t echo_config_parse(echo_config_t *c, int argc, char **argv);
/** Wipe the keys and free the relay URLs. */
void echo_config_dispose(echo_config_t *c);
/** The agent a #delegate of agent hands work to (the next one in roster order). */
static inline int echo_config_delegatee(const echo_config_t *c, int agent)
{
    return (int)(((size_t)agent + 1) % c->n_agents);
}
/** Index of the agent with this pubkey, or -1. */
int echo_config_agent_index(const echo_config_t *c, const uint8_t pubkey[32]);
/** True when pubkey may command the backend (whitelist, which includes the owner, or the backend key). */
bool echo_config_trusted(const echo_config_t *c, const uint8_t pubkey[32]);

/* ---- directives (directives.c) ------------------------------------------------------------ */

typedef struct {
    uint32_t steps; /* LLM steps; 0 = not given (1) */
    bool tool;      /* intermediate steps are tool-only (and at least 2 steps) */
    bool retry, acp, ask, nocompletion, delegate, silent, error, crash;
    bool reorder, dup, die, unicode;
    uint32_t drop;   /* stream-seq of the final step never published; 0 = none */
    size_t huge;     /* reply size in bytes; 0 = none */
    int64_t slow_ms; /* delay between deltas; < 0 = not given */
    size_t chunk;    /* delta size; 0 = not given */
} echo_directives_t;

/**
 * Find the directives in text[0..len) and append the text without them (and without the
 * whitespace that separated them, trimmed at both ends) to out. A token that names a directive
 * but carries a bad value stays in the text. 0 or NB_ETOOBIG (out's ceiling).
 */
int echo_directives_parse(echo_directives_t *d, nb_buf_t *out, const char *text, size_t len);
/** "steps=3,retry" (or "none") into out. */
void echo_directives_describe(const echo_directives_t *d, char *out, size_t cap);

/* ---- one user message, after routing ------------------------------------------------------ */

typedef struct {
    uint8_t id[32];
    char id_hex[65];
    char author_hex[65];
    char root_hex[65];
    char root_author_hex[65]; /* legacy ["P",…]: who started the thread (or the author) */
    char *text;               /* owned: the user's text without directives */
    size_t len;
    echo_directives_t d;
    bool ask_answer;  /* answers an ask of this agent (root = the ask id) */
    char *asked_text; /* owned: ask_answer: the text the ask was about */
    size_t asked_len;
} echo_msg_t;

/** Deep copy (dst uninitialized). */
void echo_msg_copy(echo_msg_t *dst, const echo_msg_t *src);
void echo_msg_dispose(echo_msg_t *m);

/* ---- the whole program's state ------------------------------------------------------------ */

typedef struct echo_run echo_run_t;
typedef struct echo_thread echo_thread_t;
typedef struct echo_ask echo_ask_t;

#define ECHO_SEEN_CAP 8192

typedef struct {
    uv_loop_t *loop;
    echo_config_t cfg;
    nb_pool_t *pool;
    int64_t start; /* Unix seconds at start-up: the kind:1 subscriptions' since */
    bool running;  /* the project runtime is booted (always, unless --lazy) */
    bool stopping;
    int exit_code;

    /* main.c */
    uv_signal_t sigint, sigterm;
    bool ready_printed;
    bool project_ok;
    bool inbox_eose;

    /* project.c */
    uv_timer_t status_timer;
    bool status_timer_on;

    /* inbox.c */
    nb_sub_t *inbox;
    uint8_t (*seen)[32]; /* ring of recent event ids */
    size_t seen_n, seen_next;

    /* memory.c */
    echo_thread_t *threads;
    size_t n_threads;
    echo_ask_t *asks;
    size_t n_asks;

    /* run.c */
    echo_run_t *runs;
    size_t runs_closing; /* timers still closing */
} echo_app_t;

/* main.c */
/** Print "ready" on stdout once the project is stored and the inbox is live (idempotent). */
void echo_app_check_ready(echo_app_t *app);

/* ---- project and status (project.c) ------------------------------------------------------- */

/** Start the periodic status timer (unless --offline). */
void echo_project_start(echo_app_t *app);
/** A relay (re)opened: publish the project, the profiles and (if any) a status round now. */
void echo_project_on_relay_open(echo_app_t *app);
/** A boot request arrived: the project runs from now on (publishes 24010 at once). */
void echo_project_boot(echo_app_t *app);
/** Close the timer (its close callback runs on the loop). */
void echo_project_stop(echo_app_t *app);

/* ---- inbox (inbox.c) ---------------------------------------------------------------------- */

/** Subscribe like the real backend. 0 or a negative nb_err_t. */
int echo_inbox_start(echo_app_t *app);
void echo_inbox_stop(echo_app_t *app);

/* ---- memory (memory.c) -------------------------------------------------------------------- */

/** Remember message id_hex (text[0..len), copied, at most 4 KiB) by author_hex in thread root_hex;
 *  when id_hex is the root itself, author_hex becomes the thread's root author. */
void echo_memory_add(echo_app_t *app, const char *root_hex, const char *id_hex, const char *author_hex,
                     const char *text, size_t len);
/**
 * Look message id_hex up in thread root_hex: *turn = its 1-based position among the thread's
 * messages, *prev and *prev_len = the message before it (NULL when it is the first). Borrowed until
 * the next echo_memory_add. False when unknown.
 */
bool echo_memory_lookup(echo_app_t *app, const char *root_hex, const char *id_hex, uint32_t *turn,
                        const char **prev, size_t *prev_len);
/** Who started thread root_hex (hex), or NULL when its root message was never seen. */
const char *echo_memory_root_author(echo_app_t *app, const char *root_hex);
/** An agent asked a question (new root ask_id_hex) about text[0..len). */
void echo_memory_add_ask(echo_app_t *app, const char *ask_id_hex, int agent, const char *text, size_t len);
/** If ask_id_hex is a pending ask of agent: remove it, return its text (new, nb_free) and true. */
bool echo_memory_take_ask(echo_app_t *app, const char *ask_id_hex, int agent, char **text, size_t *len);
void echo_memory_dispose(echo_app_t *app);

/* ---- runs (script.c builds, run.c executes) ----------------------------------------------- */

typedef enum {
    ECHO_ACT_BUSY = 1,     /* 24133: the agent works in this thread */
    ECHO_ACT_IDLE,         /* 24133: it no longer does (the run may go on: delegation) */
    ECHO_ACT_DELTA,        /* 24135 (legacy 21111) */
    ECHO_ACT_STATUS,       /* 24135 stream-seq 0 status line */
    ECHO_ACT_CONVERSATION, /* kind:1 text of an intermediate step */
    ECHO_ACT_TOOL,         /* kind:1 tool use */
    ECHO_ACT_COMPLETION,   /* kind:1 status completed */
    ECHO_ACT_ERROR,        /* kind:1 ["error","system"] */
    ECHO_ACT_CRASH,        /* kind:1 by the backend key */
    ECHO_ACT_ASK,          /* new root ask */
    ECHO_ACT_DELEGATE,     /* new root delegation + tool kind:1 + the delegatee's run */
    ECHO_ACT_AWAIT,        /* wait until the delegatee's run has ended */
    ECHO_ACT_DIE,          /* _exit() */
} echo_act_kind_t;

typedef struct {
    echo_act_kind_t kind;
    uint32_t delay_ms; /* before this action */
    uint64_t seq;
    uint32_t ral;
    bool twice; /* #dup: publish the same event twice */
    char *text; /* owned */
    size_t len;
    char *aux; /* owned: tool name, ask prompt, delegation prompt */
    size_t aux_len;
    char *args;        /* owned: tool-args JSON */
    uint64_t usage[3]; /* prompt, completion, total */
} echo_act_t;

struct echo_run {
    echo_app_t *app;
    echo_run_t *next, *prev;
    int agent;      /* index in cfg.agents */
    echo_msg_t msg; /* the trigger */
    bool delegated; /* a delegatee's run: recipient is the delegator */
    char recipient_hex[65];
    echo_act_t *acts;
    size_t n_acts, cap_acts, pc;
    uv_timer_t timer;
    bool working; /* listed in this thread's 24133 */
    bool parked;  /* ECHO_ACT_AWAIT until the child ends */
    bool ended;
    echo_run_t *parent, *child; /* delegation */
    echo_msg_t *queued;         /* newest message that arrived while this run was busy */
};

/** Append an action (the text/aux/args pointers are taken over). Returns it for further fields. */
echo_act_t *echo_run_push(echo_run_t *r, echo_act_kind_t kind, uint32_t delay_ms);

/** Build the actions of a run that answers r->msg (a user message, an ask answer). */
void echo_script_reply(echo_app_t *app, echo_run_t *r);
/** Build the actions of a delegatee's run: answer r->msg (the delegation) in its own thread. */
void echo_script_delegatee(echo_app_t *app, echo_run_t *r);

/**
 * Run agent on msg: start now, or queue it behind the agent's run in the same thread (only the
 * newest queued message is kept). msg is copied.
 */
void echo_run_dispatch(echo_app_t *app, int agent, const echo_msg_t *msg);
/** A delegatee run for agent in the new thread delegation_id (recipient = the delegator). */
echo_run_t *echo_run_delegatee(echo_app_t *app, echo_run_t *parent, int agent, const char *delegation_id_hex,
                               const char *text, size_t len);
/** Stop (24134): end agent's run in thread root_hex at once. True when there was one. */
bool echo_run_stop(echo_app_t *app, int agent, const char *root_hex);
/** End every run (shutdown): no further events. */
void echo_run_stop_all(echo_app_t *app);

/* ---- wire shapes (wire.c) ----------------------------------------------------------------- */

/** Sign ev with keys, publish it (fire and forget, failures logged), and dispose it. */
void echo_wire_publish(echo_app_t *app, nb_event_t *ev, const nb_keys_t *keys, bool twice);

void echo_wire_project(echo_app_t *app);
void echo_wire_profiles(echo_app_t *app);
void echo_wire_heartbeat(echo_app_t *app);
void echo_wire_inventory(echo_app_t *app);
void echo_wire_status(echo_app_t *app);
/** 24133 for thread root_hex listing agents[0..n) (indexes) as working. */
void echo_wire_activity(echo_app_t *app, const char *root_hex, const int *agents, size_t n);
/** Publish action a of run r (every kind but BUSY/IDLE/AWAIT/DIE). id_out (may be NULL)
 *  receives the hex id of the published event. */
void echo_wire_act(echo_app_t *app, const echo_run_t *r, const echo_act_t *a, char id_out[65]);

#endif
