/*
 * turn.h — one conversational turn: the agent's events in, answer text out.
 *
 * This is PROTOCOL.md "One turn, step by step", steps 4 and 5, as pure logic (no I/O, no
 * clock): the session feeds it every verified event of the thread subscription (after EOSE)
 * with the current time, arms a timer for nb_turn_deadline(), and calls nb_turn_tick() when it
 * fires. The turn calls back with text to send (already ordered, deduplicated, retried-text
 * skipped, repaired from kind:1 content, steps separated by "\n\n") and, once, with the end.
 *
 * Which events count: only the target agent's 24135 deltas / kind:1s (and legacy 21111/1111) in
 * this thread (root == the thread root, or reply e-tag == our message id); crash notices and
 * activity (24133) only from the project's backend key(s); everything else is ignored and
 * counted. The first-event / idle / total timeouts are the session's, not the turn's.
 *
 * Callbacks run synchronously from nb_turn_on_event / nb_turn_tick. on_end is called at most
 * once; after it the turn ignores further input and calls nothing else. The turn may be disposed
 * from inside on_end only: never from inside another callback (the turn still runs after those
 * return), and no callback may feed the turn (nb_turn_on_event / _tick / _flush) re-entrantly.
 */
#ifndef BRIDGE_TURN_H
#define BRIDGE_TURN_H

#include "bridge/buf.h"
#include "bridge/event.h"
#include "bridge/openai.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NB_TURN_MAX_BACKENDS 4
#define NB_TURN_MAX_PENDING 256 /* out-of-order deltas held per step */
#define NB_TURN_LATE_RALS 4     /* steps remembered whose kind:1 may still come late */

typedef enum {
    NB_TURN_END_COMPLETED = 1, /* the agent's completion (status completed, p = us) */
    NB_TURN_END_ERROR,         /* an ["error",…] event or a backend crash notice */
    NB_TURN_END_ASK,           /* the agent asked the user a question (text already sent) */
    NB_TURN_END_IDLE,          /* the agent stopped working without a completion (fallback) */
} nb_turn_end_kind_t;

typedef struct {
    nb_turn_end_kind_t kind;
    bool has_usage;
    nb_usage_t usage;
    const char *error; /* ERROR: the agent's / backend's message (borrowed for the call) */
    size_t error_len;
    uint8_t ask_id[32];    /* ASK: the ask event's id (the root an answer must use) */
    uint8_t ask_agent[32]; /* ASK: who asked (the p of an answer) */
} nb_turn_end_t;

#define NB_TURN_MAX_SUGGESTIONS 32 /* more options of an ask are dropped */
#define NB_TURN_MAX_AGENTS 64      /* p tags of one activity / delegation event beyond are dropped */

#define NB_TURN_ASK_MAX (512u * 1024) /* bytes of an ask's fields kept until the turn ends */

/**
 * An ask, as the native API shows it (all borrowed for the call; strings NUL-terminated). The
 * question is the ask's first ["question", title, prompt, option…] or ["multiselect", …] tag that
 * has a prompt item. TENEX's ask tool may write several; the others are rendered into the text as
 * without structured_ask (they reach a native client that way, and whole in the ["tool","ask"]
 * args).
 */
typedef struct {
    uint8_t ask_id[32];
    uint8_t agent[32]; /* who asked */
    const char *title; /* the title tag, else the question tag's title, else "" */
    size_t title_len;
    const char *question; /* the question/multiselect tag's prompt (when non-empty), else the content */
    size_t question_len;
    const char *suggestions[NB_TURN_MAX_SUGGESTIONS]; /* the tag's options, in order */
    size_t n_suggestions;
    bool multiselect; /* the tag was "multiselect" */
} nb_turn_ask_t;

typedef struct {
    /** Answer text to send, in order. p is borrowed for the call. */
    void (*on_text)(void *ud, const char *p, size_t len);
    /** A status line (stream-seq 0, e.g. "retrying in 10 s…"): never answer text. May be NULL. */
    void (*on_status)(void *ud, const char *p, size_t len);
    /** The end of the turn (exactly once). */
    void (*on_end)(void *ud, const nb_turn_end_t *end);
    /*
     * The native API's extra events; each may be NULL. None of them is answer text, none is ever
     * called after on_end, and none may dispose the turn. Everything passed is borrowed for the
     * call; names, args and suggestions are NUL-terminated (the length is authoritative).
     */
    /** The target agent's tool use, once per kind:1 with a "tool" tag in this thread (legacy 1111
     *  too), after the step it closes: name = the tag's value ("" for a bare ["tool"]); args =
     *  the first tool-args tag's value byte for byte ("" when absent or empty, as TENEX sends
     *  for JSON over 100,000 bytes). */
    void (*on_tool)(void *ud, const char *name, size_t name_len, const char *args, size_t args_len);
    /** A trusted backend's 24133 for this thread (unmarked e = the root): the agents working now,
     *  its lowercase p tags in order (ones that are not 64 hex skipped; at most
     *  NB_TURN_MAX_AGENTS). Called for every such event, with n = 0 when none is working, and
     *  before whatever the event ends (an ask held for it, say). */
    void (*on_activity)(void *ud, const uint8_t (*agents)[32], size_t n);
    /** The target agent asked: after the ask's text went to on_text, just before on_end with
     *  NB_TURN_END_ASK. */
    void (*on_ask)(void *ud, const nb_turn_ask_t *ask);
    /** The target agent delegated: its new root kind:1 with ["delegation",<this thread's root>] and
     *  no ["ask","true"]; to = its p tags (the delegatees; same rules as on_activity's). Such an
     *  event is neither text nor a step end; it marks a delegation pending, like the
     *  ["tool","delegate"] kind:1 that follows it. The session must subscribe to the agent's new
     *  kind:1s ({"kinds":[1],"authors":[agent],"since":now}) for these to arrive. */
    void (*on_delegation)(void *ud, const uint8_t (*to)[32], size_t n);
} nb_turn_cb_t;

typedef struct {
    uint8_t agent[32];                          /* the target agent */
    uint8_t user[32];                           /* our pubkey: the p of a completion to us */
    uint8_t root[32];                           /* the thread's root id */
    uint8_t msg_id[32];                         /* our kind:1 (the trigger) */
    uint8_t backends[NB_TURN_MAX_BACKENDS][32]; /* trusted for crash notices and activity */
    size_t n_backends;
    uint32_t gap_hold_ms;   /* wait this long for a missing delta; default 500 */
    uint32_t idle_grace_ms; /* after the agent stops working with no completion; default 3,000 */
    bool structured_ask;    /* the native API: an ask's question and suggestions go to on_ask only,
                               not rendered into the text (its content still is text); false (the
                               OpenAI route): content, prompt and a list of suggestions as text */
} nb_turn_config_t;

typedef struct {
    int64_t seq;
    char *text;
    size_t len;
} nb_turn_pending_t;

/** Counters the session reports in metrics. */
typedef struct {
    uint64_t deltas;       /* deltas accepted */
    uint64_t dropped_late; /* deltas of an already closed step */
    uint64_t duplicates;   /* deltas with an already seen seq */
    uint64_t gaps_skipped; /* missing deltas given up on */
    uint64_t retries;      /* step restarts (seq 1 again, same llm-ral) */
    uint64_t repaired;     /* steps completed from kind:1 content */
    uint64_t mismatches;   /* steps whose streamed text was not a prefix of the kind:1 */
    uint64_t wrong_author; /* events from keys that may not speak in this turn */
    uint64_t wrong_thread; /* the agent's events for another thread */
    uint64_t agent_events; /* events of the target agent that counted */
} nb_turn_stats_t;

typedef struct {
    nb_turn_config_t cfg;
    nb_turn_cb_t cb;
    void *ud;
    bool ended;
    /* the current step */
    bool step_open;
    int64_t step_ral;
    int64_t next_seq;
    int64_t max_seq_seen;
    nb_buf_t step_sent; /* what was sent for this step */
    bool retrying;
    nb_buf_t attempt; /* the retried attempt's text so far */
    size_t attempt_upto;
    nb_turn_pending_t *pending; /* allocated on the first gap (most turns have none), grows to the max */
    size_t n_pending, cap_pending;
    uint64_t gap_deadline; /* 0: none */
    /* across steps */
    bool acp;        /* one never-resetting counter (ACP agents, legacy 21111) */
    bool any_closed; /* a kind:1 of the agent closed a step */
    int64_t closed_last_seq;
    bool emitted_any;                     /* some text was sent in this turn */
    int64_t late_rals[NB_TURN_LATE_RALS]; /* llm-ral of steps closed by the next step's first delta */
    size_t n_late_rals;
    /* run tracking */
    bool agent_working;
    bool delegate_pending;
    uint64_t idle_deadline; /* 0: none */
    bool ask_pending;
    struct nb_turn_held_ask *ask; /* the held ask (turn.c); allocated on the first ask, since most
                                     turns have none and a held stream should not carry it */
    nb_turn_stats_t stats;
} nb_turn_t;

void nb_turn_config_defaults(nb_turn_config_t *c);
/** Start a turn (cfg and cb copied; ud borrowed). */
void nb_turn_init(nb_turn_t *t, const nb_turn_config_t *cfg, const nb_turn_cb_t *cb, void *ud);
void nb_turn_dispose(nb_turn_t *t);
/** Feed one verified event of the thread subscription. now_ms: a monotonic clock. */
void nb_turn_on_event(nb_turn_t *t, const nb_event_t *ev, uint64_t now_ms);
/** The earliest time nb_turn_tick has work to do, or 0 for none. */
uint64_t nb_turn_deadline(const nb_turn_t *t);
/** Run what is due at now_ms (give up on a gap, finish after the idle grace). */
void nb_turn_tick(nb_turn_t *t, uint64_t now_ms);
/** The agent went quiet without any signal (e.g. the session's idle timer fired while text
 *  is held back): send what is held, close the step. Does not end the turn. */
void nb_turn_flush(nb_turn_t *t);

#endif
