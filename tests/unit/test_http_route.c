/* The HTTP route table and d-tag decoding (src/http/route.c). */
#include "../../src/http/route.h"
#include "test.h"

static nb_route_outcome_t parse(nb_route_t *rt, const char *method, const char *path)
{
    return nb_http_route_parse(rt, method, strlen(method), path, strlen(path));
}

static void test_global_routes(void)
{
    nb_route_t rt;
    NB_CHECK_INT(parse(&rt, "POST", "/v1/chat/completions"), NB_ROUTE_DISPATCH);
    NB_CHECK_INT(rt.kind, NB_ROUTE_CHAT);
    NB_CHECK(!rt.has_dtag);
    NB_CHECK_INT(parse(&rt, "GET", "/v1/models"), NB_ROUTE_DISPATCH);
    NB_CHECK_INT(rt.kind, NB_ROUTE_MODELS);
    NB_CHECK(!rt.has_dtag);
    NB_CHECK_INT(parse(&rt, "GET", "/health"), NB_ROUTE_DISPATCH);
    NB_CHECK_INT(rt.kind, NB_ROUTE_HEALTH);
    NB_CHECK_INT(parse(&rt, "GET", "/metrics"), NB_ROUTE_DISPATCH);
    NB_CHECK_INT(rt.kind, NB_ROUTE_METRICS);
    /* the query plays no part */
    NB_CHECK_INT(parse(&rt, "GET", "/health?verbose=1"), NB_ROUTE_DISPATCH);
    NB_CHECK_INT(rt.kind, NB_ROUTE_HEALTH);
    NB_CHECK_INT(parse(&rt, "GET", "/v1/models?"), NB_ROUTE_DISPATCH);
}

static void test_dtag_routes(void)
{
    nb_route_t rt;
    const char *chat[] = {"/proj/chat/completions", "/proj/v1/chat/completions"};
    for (int i = 0; i < 2; i++) {
        NB_CHECK_INT(parse(&rt, "POST", chat[i]), NB_ROUTE_DISPATCH);
        NB_CHECK_INT(rt.kind, NB_ROUTE_CHAT);
        NB_CHECK(rt.has_dtag);
        NB_CHECK_STR(rt.dtag, "proj");
        NB_CHECK_INT(rt.dtag_len, 4);
    }
    const char *models[] = {"/proj/models", "/proj/v1/models", "/proj/models?x=/y"};
    for (int i = 0; i < 3; i++) {
        NB_CHECK_INT(parse(&rt, "GET", models[i]), NB_ROUTE_DISPATCH);
        NB_CHECK_INT(rt.kind, NB_ROUTE_MODELS);
        NB_CHECK_STR(rt.dtag, "proj");
    }
    /* the global route wins; a project named "v1" is reached with the long form */
    NB_CHECK_INT(parse(&rt, "GET", "/v1/models"), NB_ROUTE_DISPATCH);
    NB_CHECK(!rt.has_dtag);
    NB_CHECK_INT(parse(&rt, "GET", "/v1/v1/models"), NB_ROUTE_DISPATCH);
    NB_CHECK(rt.has_dtag);
    NB_CHECK_STR(rt.dtag, "v1");
    /* names that look like other routes are just d-tags */
    NB_CHECK_INT(parse(&rt, "POST", "/health/chat/completions"), NB_ROUTE_DISPATCH);
    NB_CHECK_STR(rt.dtag, "health");
}

static void test_native_routes(void)
{
    nb_route_t rt;
    /* GET /chat is the WebSocket upgrade, any query string allowed */
    const char *ws[] = {"/chat", "/chat?", "/chat?thread=abc&token=x%2Fy", "/chat#frag"};
    for (size_t i = 0; i < sizeof(ws) / sizeof(ws[0]); i++) {
        NB_CHECK_INT(parse(&rt, "GET", ws[i]), NB_ROUTE_DISPATCH);
        NB_CHECK_INT(rt.kind, NB_ROUTE_CHAT_WS);
        NB_CHECK(!rt.has_dtag);
        NB_CHECK_STR(rt.allow, "GET, OPTIONS");
    }
    NB_CHECK_INT(parse(&rt, "OPTIONS", "/chat"), NB_ROUTE_PREFLIGHT);
    NB_CHECK_INT(rt.kind, NB_ROUTE_CHAT_WS);
    NB_CHECK_INT(parse(&rt, "POST", "/chat"), NB_ROUTE_BAD_METHOD);
    NB_CHECK_STR(rt.allow, "GET, OPTIONS");
    NB_CHECK_INT(parse(&rt, "HEAD", "/chat"), NB_ROUTE_BAD_METHOD);
    /* POST /chat/sse */
    NB_CHECK_INT(parse(&rt, "POST", "/chat/sse"), NB_ROUTE_DISPATCH);
    NB_CHECK_INT(rt.kind, NB_ROUTE_CHAT_SSE);
    NB_CHECK(!rt.has_dtag);
    NB_CHECK_INT(parse(&rt, "POST", "/chat/sse?x=1"), NB_ROUTE_DISPATCH);
    NB_CHECK_INT(rt.kind, NB_ROUTE_CHAT_SSE);
    NB_CHECK_INT(parse(&rt, "GET", "/chat/sse"), NB_ROUTE_BAD_METHOD);
    NB_CHECK_STR(rt.allow, "POST, OPTIONS");
    NB_CHECK_INT(parse(&rt, "OPTIONS", "/chat/sse"), NB_ROUTE_PREFLIGHT);
    NB_CHECK_INT(rt.kind, NB_ROUTE_CHAT_SSE);
    /* a project named "chat" keeps its routes */
    NB_CHECK_INT(parse(&rt, "POST", "/chat/chat/completions"), NB_ROUTE_DISPATCH);
    NB_CHECK_INT(rt.kind, NB_ROUTE_CHAT);
    NB_CHECK_STR(rt.dtag, "chat");
    NB_CHECK_INT(parse(&rt, "POST", "/chat/v1/chat/completions"), NB_ROUTE_DISPATCH);
    NB_CHECK_STR(rt.dtag, "chat");
    NB_CHECK_INT(parse(&rt, "GET", "/chat/models"), NB_ROUTE_DISPATCH);
    NB_CHECK_INT(rt.kind, NB_ROUTE_MODELS);
    NB_CHECK_STR(rt.dtag, "chat");
    /* near misses */
    const char *nope[] = {"/chat/",      "/chat/sse/", "/chat/ws",   "/Chat",
                          "/chat%2Fsse", "/v1/chat",   "/p/chat/sse"};
    for (size_t i = 0; i < sizeof(nope) / sizeof(nope[0]); i++) {
        NB_CHECK_INT(parse(&rt, "GET", nope[i]), NB_ROUTE_NOT_FOUND);
        NB_CHECK_INT(parse(&rt, "POST", nope[i]), NB_ROUTE_NOT_FOUND);
    }
}

static void test_percent_decoding(void)
{
    nb_route_t rt;
    NB_CHECK_INT(parse(&rt, "POST", "/my%20project/chat/completions"), NB_ROUTE_DISPATCH);
    NB_CHECK_STR(rt.dtag, "my project");
    NB_CHECK_INT(parse(&rt, "POST", "/%41%62c/chat/completions"), NB_ROUTE_DISPATCH);
    NB_CHECK_STR(rt.dtag, "Abc");
    NB_CHECK_INT(parse(&rt, "GET", "/caf%C3%A9/models"), NB_ROUTE_DISPATCH);
    NB_CHECK_STR(rt.dtag, "caf\xc3\xa9");
    NB_CHECK_INT(parse(&rt, "GET", "/caf%c3%a9/models"), NB_ROUTE_DISPATCH);
    NB_CHECK_STR(rt.dtag, "caf\xc3\xa9");
    NB_CHECK_INT(parse(&rt, "GET", "/a+b/models"), NB_ROUTE_DISPATCH);
    NB_CHECK_STR(rt.dtag, "a+b"); /* '+' is not a space in a path */
    /* raw UTF-8 is fine too */
    NB_CHECK_INT(parse(&rt, "GET", "/\xf0\x9f\x98\x80/models"), NB_ROUTE_DISPATCH);
    NB_CHECK_STR(rt.dtag, "\xf0\x9f\x98\x80");
}

static void test_bad_dtags(void)
{
    nb_route_t rt;
    const char *bad[] = {
        "//chat/completions",      /* empty */
        "/a%2Fb/chat/completions", /* decodes to '/' */
        "/a%2fb/chat/completions",
        "/a%00b/chat/completions", /* NUL */
        "/a%/chat/completions",    /* truncated escape */
        "/a%4/chat/completions",
        "/a%zz/chat/completions",      /* not hex */
        "/%C3/chat/completions",       /* truncated UTF-8 */
        "/%C0%AF/chat/completions",    /* overlong */
        "/%ED%A0%80/chat/completions", /* surrogate */
        "/\xff/models",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        NB_CHECK_INT(parse(&rt, "POST", bad[i]), NB_ROUTE_NOT_FOUND);
        NB_CHECK(rt.why != NULL);
        NB_CHECK(!rt.has_dtag);
    }
}

static void test_dtag_length(void)
{
    nb_route_t rt;
    char path[1024];
    /* 256 bytes is the limit, counted after decoding */
    memset(path, 0, sizeof(path));
    path[0] = '/';
    memset(path + 1, 'a', 256);
    strcat(path, "/models");
    NB_CHECK_INT(parse(&rt, "GET", path), NB_ROUTE_DISPATCH);
    NB_CHECK_INT(rt.dtag_len, 256);
    NB_CHECK_INT(strlen(rt.dtag), 256);
    memset(path, 0, sizeof(path));
    path[0] = '/';
    memset(path + 1, 'a', 257);
    strcat(path, "/models");
    NB_CHECK_INT(parse(&rt, "GET", path), NB_ROUTE_NOT_FOUND);
    /* 256 escaped bytes (768 characters) are fine */
    memset(path, 0, sizeof(path));
    path[0] = '/';
    for (int i = 0; i < 256; i++)
        memcpy(path + 1 + 3 * i, "%41", 3);
    strcat(path, "/models");
    NB_CHECK_INT(parse(&rt, "GET", path), NB_ROUTE_DISPATCH);
    NB_CHECK_INT(rt.dtag_len, 256);
    NB_CHECK(rt.dtag[0] == 'A' && rt.dtag[255] == 'A' && rt.dtag[256] == '\0');
}

static void test_methods(void)
{
    nb_route_t rt;
    NB_CHECK_INT(parse(&rt, "GET", "/p/chat/completions"), NB_ROUTE_BAD_METHOD);
    NB_CHECK_STR(rt.allow, "POST, OPTIONS");
    NB_CHECK_INT(rt.kind, NB_ROUTE_CHAT);
    NB_CHECK_INT(parse(&rt, "POST", "/v1/models"), NB_ROUTE_BAD_METHOD);
    NB_CHECK_STR(rt.allow, "GET, OPTIONS");
    NB_CHECK_INT(parse(&rt, "HEAD", "/health"), NB_ROUTE_BAD_METHOD);
    NB_CHECK_INT(parse(&rt, "post", "/v1/chat/completions"), NB_ROUTE_BAD_METHOD); /* case-sensitive */
    NB_CHECK_INT(parse(&rt, "DELETE", "/metrics"), NB_ROUTE_BAD_METHOD);
    NB_CHECK_INT(parse(&rt, "OPTIONS", "/p/chat/completions"), NB_ROUTE_PREFLIGHT);
    NB_CHECK_STR(rt.dtag, "p");
    NB_CHECK_INT(parse(&rt, "OPTIONS", "/v1/models"), NB_ROUTE_PREFLIGHT);
    NB_CHECK_INT(parse(&rt, "OPTIONS", "/health"), NB_ROUTE_PREFLIGHT);
    /* an unknown path is 404 whatever the method */
    NB_CHECK_INT(parse(&rt, "OPTIONS", "/nope"), NB_ROUTE_NOT_FOUND);
    NB_CHECK_INT(parse(&rt, "DELETE", "/nope/x"), NB_ROUTE_NOT_FOUND);
}

static void test_unknown_paths(void)
{
    nb_route_t rt;
    const char *paths[] = {
        "",
        "*",
        "health",
        "http://x/health",
        "/",
        "/v1",
        "/v1/",
        "/health/",
        "/v1/models/",
        "/p",
        "/p/",
        "/p/chat",
        "/p/chat/completions/",
        "/p/v2/models",
        "/p/models/x",
        "/p/q/chat/completions",
        "/v1/chat/completions/x",
        "/?/models",
        "/p#/models",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        NB_CHECK_INT(parse(&rt, "GET", paths[i]), NB_ROUTE_NOT_FOUND);
        NB_CHECK(rt.why != NULL);
        NB_CHECK_INT(rt.kind, NB_ROUTE_NONE);
    }
}

static void test_no_overread(void)
{
    /* the lengths are honoured: nothing after them is looked at */
    nb_route_t rt;
    const char path[] = "/v1/modelsXYZ";
    NB_CHECK_INT(nb_http_route_parse(&rt, "GETX", 3, path, 10), NB_ROUTE_DISPATCH);
    NB_CHECK_INT(rt.kind, NB_ROUTE_MODELS);
    const char esc[] = "/a%4";
    NB_CHECK_INT(nb_http_route_parse(&rt, "GET", 3, esc, 4), NB_ROUTE_NOT_FOUND);
}

int main(void)
{
    NB_RUN(test_global_routes);
    NB_RUN(test_dtag_routes);
    NB_RUN(test_native_routes);
    NB_RUN(test_percent_decoding);
    NB_RUN(test_bad_dtags);
    NB_RUN(test_dtag_length);
    NB_RUN(test_methods);
    NB_RUN(test_unknown_paths);
    NB_RUN(test_no_overread);
    return nb_test_summary();
}
