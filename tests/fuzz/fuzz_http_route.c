/*
 * fuzz_http_route.c — libFuzzer driver for nb_http_route_parse (src/http/route.c).
 *
 * Input: "METHOD PATH" (everything before the first space is the method; no space: GET and the
 * whole input as the path). Invariants checked on every input:
 *   - the outcome and kind are in range, and agree (NOT_FOUND ⇔ no kind, a reason is given);
 *   - only the chat and models routes name a project;
 *   - a decoded d-tag is 1..256 bytes, NUL-terminated at dtag_len, valid UTF-8, no '/' or NUL;
 *   - round trip: percent-encoding every byte of the d-tag and routing it again yields the same
 *     d-tag and kind.
 *
 *   build-fuzz/tests/fuzz/fuzz_http_route tests/fuzz/corpus/http_route -max_total_time=60
 */
#include "../../src/http/route.h"
#include "bridge/json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_http_route: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *sp = memchr(s, ' ', size);
    const char *method = "GET", *path = s;
    size_t mlen = 3, plen = size;
    if (sp != NULL) {
        method = s;
        mlen = (size_t)(sp - s);
        path = sp + 1;
        plen = size - mlen - 1;
    }
    /* Copies of exactly the right size, so ASan catches any read past the lengths. */
    char *m = malloc(mlen ? mlen : 1), *p = malloc(plen ? plen : 1);
    memcpy(m, method, mlen);
    memcpy(p, path, plen);

    nb_route_t rt;
    nb_route_outcome_t o = nb_http_route_parse(&rt, m, mlen, p, plen);
    if (o != rt.outcome || o > NB_ROUTE_BAD_METHOD) fail("outcome");
    if (rt.kind > NB_ROUTE_CHAT_SSE) fail("kind");
    if ((o == NB_ROUTE_NOT_FOUND) != (rt.kind == NB_ROUTE_NONE)) fail("kind vs outcome");
    if (o == NB_ROUTE_NOT_FOUND && (rt.why == NULL || rt.has_dtag)) fail("not found without reason");
    if (o != NB_ROUTE_NOT_FOUND && rt.allow == NULL) fail("allow");
    if (rt.has_dtag && rt.kind != NB_ROUTE_CHAT && rt.kind != NB_ROUTE_MODELS)
        fail("d-tag on a global route");
    if (rt.has_dtag) {
        if (rt.dtag_len == 0 || rt.dtag_len > NB_HTTP_DTAG_MAX) fail("dtag length");
        if (rt.dtag[rt.dtag_len] != '\0' || strlen(rt.dtag) != rt.dtag_len) fail("dtag terminator / NUL");
        if (memchr(rt.dtag, '/', rt.dtag_len) != NULL) fail("dtag slash");
        if (!nb_utf8_valid(rt.dtag, rt.dtag_len)) fail("dtag utf-8");

        static const char tails[][24] = {"", "/chat/completions", "/models"};
        char enc[1 + 3 * NB_HTTP_DTAG_MAX + 24];
        size_t n = 0;
        enc[n++] = '/';
        for (size_t i = 0; i < rt.dtag_len; i++)
            n += (size_t)snprintf(enc + n, 4, "%%%02X", (unsigned char)rt.dtag[i]);
        const char *tail = tails[rt.kind == NB_ROUTE_CHAT ? 1 : 2];
        memcpy(enc + n, tail, strlen(tail));
        n += strlen(tail);
        nb_route_t again;
        nb_http_route_parse(&again, m, mlen, enc, n);
        if (!again.has_dtag || again.dtag_len != rt.dtag_len ||
            memcmp(again.dtag, rt.dtag, rt.dtag_len) != 0 || again.kind != rt.kind ||
            again.outcome != rt.outcome)
            fail("percent-encoding round trip");
    }
    free(m);
    free(p);
    return 0;
}
