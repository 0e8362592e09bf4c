/*
 * test_events.h — build unsigned events for logic tests (the directory, the turn), where only
 * kind, author, time, content and tags matter. Tags are written as NULL-terminated string lists,
 * the whole list ended by one more NULL:
 *
 *     nb_test_event(&ev, 1, author, 1700000000, "hi", TAG("e", root, "", "root"), TAG("p", pk), END);
 */
#ifndef BRIDGE_TEST_EVENTS_H
#define BRIDGE_TEST_EVENTS_H

#include "bridge/event.h"

#include <stdarg.h>
#include <string.h>

#define TAG(...) __VA_ARGS__, NULL
#define END NULL

/** Fill ev (initialized here; the caller disposes it). Each event gets a distinct id. */
static void nb_test_event(nb_event_t *ev, uint32_t kind, const uint8_t *author, int64_t at, const char *content,
                          ...)
{
    static unsigned counter;
    nb_event_init(ev);
    ev->kind = kind;
    ev->created_at = at;
    memcpy(ev->pubkey, author, 32);
    counter++;
    memset(ev->id, 0x80, 32);
    memcpy(ev->id, &counter, sizeof(counter));
    nb_event_set_content(ev, content, strlen(content));
    va_list ap;
    va_start(ap, content);
    for (;;) {
        const char *items[8];
        size_t n = 0;
        const char *s = va_arg(ap, const char *);
        if (s == NULL) break;
        while (s != NULL && n < 8) {
            items[n++] = s;
            s = va_arg(ap, const char *);
        }
        nb_event_add_tag(ev, items, n);
    }
    va_end(ap);
}

#endif
