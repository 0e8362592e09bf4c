/*
 * tenex_tags.h — reading the TENEX conventions out of an event's tags.
 *
 * Every era of TENEX is read (PROTOCOL.md "Older deployments"): the root of an event is the `e`
 * tag marked "root", else the first unmarked `e`, else `E` — except for the legacy kinds 1111 and
 * 21111, whose root is `E` (their unmarked `e` is the parent).
 */
#ifndef BRIDGE_TENEX_TAGS_H
#define BRIDGE_TENEX_TAGS_H

#include "bridge/event.h"

#include <stdbool.h>
#include <stdint.h>

/* TENEX kinds (PROTOCOL.md). */
enum {
    NB_KIND_PROFILE = 0,
    NB_KIND_TEXT = 1,
    NB_KIND_LEGACY_REPLY = 1111,
    NB_KIND_BOOT = 24000,
    NB_KIND_STATUS = 24010,
    NB_KIND_INVENTORY = 24011,
    NB_KIND_HEARTBEAT = 24012,
    NB_KIND_ACTIVITY = 24133,
    NB_KIND_STOP = 24134,
    NB_KIND_DELTA = 24135,
    NB_KIND_LEGACY_CHUNK = 21111,
    NB_KIND_AUTH = 22242,
    NB_KIND_PROJECT = 31933,
};

/** The conversation root of ev (rules above). false when it has none. */
bool nb_tenex_root(const nb_event_t *ev, uint8_t out[32]);
/** The `e` tag marked "reply" (the message that started the run). false when none. */
bool nb_tenex_reply(const nb_event_t *ev, uint8_t out[32]);
/** The first unmarked `e` (crash notices name the trigger this way). false when none. */
bool nb_tenex_unmarked_e(const nb_event_t *ev, uint8_t out[32]);
/** True when a tag named name (e.g. "p", "P") has items[1] == the hex of pk. */
bool nb_tenex_has_pubkey_tag(const nb_event_t *ev, const char *name, const uint8_t pk[32]);
/** Integer value of the first tag named name (e.g. "stream-seq"); false when absent or not an integer. */
bool nb_tenex_tag_int(const nb_event_t *ev, const char *name, int64_t *out);
/** True when a tag named name exists whose items[1] equals value (value NULL: any tag named name). */
bool nb_tenex_has_tag(const nb_event_t *ev, const char *name, const char *value);
/** Decode items[i] of tag t as 32 bytes of hex. */
bool nb_tenex_tag_hex32(const nb_tag_t *t, uint32_t i, uint8_t out[32]);

#endif
