/*
 * relay_msg.h — the NIP-01 / NIP-42 relay message codec. Pure functions over (ptr, len).
 *
 * Relay → client: ["EVENT",sub,ev] ["OK",id,bool,msg] ["EOSE",sub] ["CLOSED",sub,msg]
 *                 ["NOTICE",msg] ["AUTH",challenge]
 * Client → relay: ["EVENT",ev] ["REQ",sub,filter…] ["CLOSE",sub] ["AUTH",ev]
 *
 * Parsing does not verify signatures (the pool decides whether an event is wanted first, then
 * verifies). Subscription ids are at most NB_SUBID_MAX bytes (NIP-01 says 64).
 */
#ifndef BRIDGE_RELAY_MSG_H
#define BRIDGE_RELAY_MSG_H

#include "bridge/buf.h"
#include "bridge/event.h"
#include "bridge/filter.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NB_SUBID_MAX 64
#define NB_RELAY_MSG_MAX_TEXT 4096 /* OK / CLOSED / NOTICE messages and AUTH challenges are cut here */
#define NB_REQ_MAX_FILTERS 32

typedef enum {
    NB_RMSG_EVENT = 1, /* relay → client: sub_id, event;  client → relay: event */
    NB_RMSG_OK,        /* event_id, ok, text */
    NB_RMSG_EOSE,      /* sub_id */
    NB_RMSG_CLOSED,    /* sub_id, text */
    NB_RMSG_NOTICE,    /* text */
    NB_RMSG_AUTH,      /* relay → client: text = challenge;  client → relay: event */
    NB_RMSG_REQ,       /* client → relay: sub_id, filters */
    NB_RMSG_CLOSE,     /* client → relay: sub_id */
} nb_rmsg_type_t;

typedef struct {
    nb_rmsg_type_t type;
    char sub_id[NB_SUBID_MAX + 1];
    uint8_t event_id[32];
    bool ok;
    char text[NB_RELAY_MSG_MAX_TEXT + 1]; /* decoded, NUL-terminated, cut at the max */
    size_t text_len;
    bool has_event;
    nb_event_t event; /* parsed, NOT verified */
    nb_filter_t filters[NB_REQ_MAX_FILTERS];
    uint32_t n_filters;
} nb_relay_msg_t;

/** Prepare m for parsing (call once; parse may be called repeatedly after dispose). */
void nb_relay_msg_init(nb_relay_msg_t *m);
/** Free what the last parse allocated (the event, filters). */
void nb_relay_msg_dispose(nb_relay_msg_t *m);

/**
 * Parse a relay → client message. Unknown message types → NB_EFRAME (callers log and skip).
 * lim limits the embedded event (NULL = defaults). 0, NB_EFRAME, NB_EJSON*, NB_EUTF8,
 * NB_EEVENT, NB_ETOOBIG. m is disposed first.
 */
int nb_relay_msg_parse(nb_relay_msg_t *m, const char *frame, size_t len, const nb_event_limits_t *lim);

/** Parse a client → relay message (EVENT, REQ, CLOSE, AUTH): for test relays and fuzzing. */
int nb_client_msg_parse(nb_relay_msg_t *m, const char *frame, size_t len, const nb_event_limits_t *lim);

/* Builders append one frame to out. 0 or NB_ETOOBIG (or NB_EINVAL for a bad sub id). */
int nb_msg_build_event(nb_buf_t *out, const nb_event_t *ev); /* ["EVENT",ev] */
int nb_msg_build_req(nb_buf_t *out, const char *sub_id, const nb_filter_t *filters, size_t n);
int nb_msg_build_close(nb_buf_t *out, const char *sub_id);  /* ["CLOSE",sub] */
int nb_msg_build_auth(nb_buf_t *out, const nb_event_t *ev); /* ["AUTH",ev] */
/* Relay-side builders (test relays, fuzz seeds). */
int nb_msg_build_sub_event(nb_buf_t *out, const char *sub_id, const nb_event_t *ev);
int nb_msg_build_ok(nb_buf_t *out, const uint8_t id[32], bool ok, const char *text);
int nb_msg_build_eose(nb_buf_t *out, const char *sub_id);
int nb_msg_build_closed(nb_buf_t *out, const char *sub_id, const char *text);
int nb_msg_build_notice(nb_buf_t *out, const char *text);
int nb_msg_build_auth_challenge(nb_buf_t *out, const char *challenge);

#endif
