/*
 * fuzz_event.c — libFuzzer driver for nb_event_parse.
 *
 * On success: serialize to wire JSON, parse that again, and require the same event (every field,
 * every byte of content and tags) and the same id preimage; also run verify (almost always a
 * cheap id mismatch). On failure: the event must be left empty. ASan/LSan do the rest.
 *
 *   build-fuzz/tests/fuzz/fuzz_event tests/fuzz/corpus/event -dict=tests/fuzz/json.dict
 */
#include "bridge/err.h"
#include "bridge/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "fuzz_event: %s:%d: %s\n", __FILE__, __LINE__, #cond);                           \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

static int same_str(const nb_str_t *a, const nb_str_t *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0 && a->p[a->len] == '\0';
}

static void check_same(const nb_event_t *a, const nb_event_t *b)
{
    CHECK(memcmp(a->id, b->id, 32) == 0);
    CHECK(memcmp(a->pubkey, b->pubkey, 32) == 0);
    CHECK(memcmp(a->sig, b->sig, 64) == 0);
    CHECK(a->created_at == b->created_at && a->kind == b->kind);
    CHECK(same_str(&a->content, &b->content));
    CHECK(a->ntags == b->ntags);
    for (uint32_t i = 0; i < a->ntags; i++) {
        CHECK(a->tags[i].n == b->tags[i].n && a->tags[i].n >= 1);
        for (uint32_t j = 0; j < a->tags[i].n; j++)
            CHECK(same_str(&a->tags[i].items[j], &b->tags[i].items[j]));
    }
}

static int is_empty(const nb_event_t *ev)
{
    return ev->arena == NULL && ev->ntags == 0 && ev->content.len == 0 && ev->kind == 0 &&
           ev->created_at == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const nb_event_limits_t small = {
        .max_tags = 4, .max_tag_items = 3, .max_content = 64, .max_json = 1024};
    nb_event_t ev, back;
    nb_event_init(&ev);
    nb_event_init(&back);

    /* Tight limits first: only ETOOBIG may differ from the default-limit answer. */
    int rs = nb_event_parse(&ev, (const char *)data, size, &small);
    int r = nb_event_parse(&ev, (const char *)data, size, NULL);
    CHECK(rs == r || rs == NB_ETOOBIG || r == NB_ETOOBIG);
    if (r != 0) {
        CHECK(r == NB_EJSON || r == NB_EJSON_DEPTH || r == NB_EUTF8 || r == NB_EEVENT || r == NB_ETOOBIG);
        CHECK(is_empty(&ev));
        return 0;
    }
    CHECK(ev.kind <= 65535 && ev.created_at >= 0);

    nb_buf_t wire, pre1, pre2;
    nb_buf_init(&wire, 8u << 20);
    nb_buf_init(&pre1, 8u << 20);
    nb_buf_init(&pre2, 8u << 20);
    CHECK(nb_event_to_json(&wire, &ev) == 0);
    CHECK(nb_event_parse(&back, wire.data, wire.len, NULL) == 0);
    check_same(&ev, &back);
    CHECK(nb_event_serialize(&pre1, &ev) == 0);
    CHECK(nb_event_serialize(&pre2, &back) == 0);
    CHECK(pre1.len == pre2.len && memcmp(pre1.data, pre2.data, pre1.len) == 0);

    int v = nb_event_verify(&ev);
    CHECK(v == 0 || v == NB_EEVENT_ID || v == NB_EPUBKEY || v == NB_EEVENT_SIG);
    CHECK(nb_event_verify(&back) == v);

    nb_buf_dispose(&wire);
    nb_buf_dispose(&pre1);
    nb_buf_dispose(&pre2);
    nb_event_dispose(&back);
    nb_event_dispose(&ev);
    return 0;
}
