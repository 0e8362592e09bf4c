/* The OpenAI wire module: request parsing (good and bad) and the exact bytes of responses. */
#include "bridge/err.h"
#include "bridge/json.h"
#include "bridge/mem.h"
#include "bridge/openai.h"
#include "test.h"

static int parse(nb_chat_req_t *r, const char *body, nb_api_error_t *e)
{
    return nb_chat_req_parse(r, body, strlen(body), NULL, e);
}

static void test_minimal_request(void)
{
    nb_chat_req_t r;
    nb_api_error_t e;
    NB_REQUIRE(parse(&r, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &e) == 0);
    NB_CHECK_STR(r.model, "m");
    NB_CHECK(!r.stream && !r.include_usage);
    NB_CHECK_INT(r.max_tokens, -1);
    NB_CHECK_INT(r.n_messages, 1);
    NB_CHECK_INT(r.last_user, 0);
    NB_CHECK_STR(r.messages[0].text, "hi");
    nb_chat_req_dispose(&r);
}

static void test_full_request(void)
{
    /* What ElevenLabs and the SDKs send: parts, extra fields, tools, several roles. */
    const char *body = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                       "\"max_tokens\":10,\"max_completion_tokens\":20,\"temperature\":0.5,\"user_id\":\"u\","
                       "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
                       "\"elevenlabs_extra_body\":{\"a\":[1,2,{}]},"
                       "\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"first\"},"
                       "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}},{\"type\":\"text\",\"text\":"
                       "\"part \\u00e9\"}]},"
                       "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]},"
                       "{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":\"t\"},"
                       "{\"role\":\"user\",\"content\":\"second \\ud83d\\ude00\"},"
                       "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"dev\"}]}]}";
    nb_chat_req_t r;
    nb_api_error_t e;
    NB_REQUIRE(parse(&r, body, &e) == 0);
    NB_CHECK(r.stream && r.include_usage);
    NB_CHECK_INT(r.max_tokens, 20);
    NB_CHECK_INT(r.n_messages, 6);
    NB_CHECK_INT(r.messages[0].role, NB_ROLE_SYSTEM);
    NB_CHECK_STR(r.messages[1].text, "first\npart \xc3\xa9");
    NB_CHECK_INT(r.messages[2].role, NB_ROLE_ASSISTANT);
    NB_CHECK_INT(r.messages[2].len, 0);
    NB_CHECK_INT(r.last_user, 4);
    NB_CHECK_STR(r.messages[4].text, "second \xf0\x9f\x98\x80");
    NB_CHECK_INT(r.messages[5].role, NB_ROLE_DEVELOPER);
    nb_chat_req_dispose(&r);
}

static void test_bad_requests(void)
{
    static const struct {
        const char *body;
        const char *param; /* "" = null */
        const char *msg_part;
    } cases[] = {
        {"", "", "not valid JSON"},
        {"{\"model\":\"m\",\"messages\":[]} x", "", "not valid JSON"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}", "", "UTF-8"},
        {"[]", "", "JSON object"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "model", "required"},
        {"{\"model\":7,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "model", "string"},
        {"{\"model\":\"m\"}", "messages", "required"},
        {"{\"model\":\"m\",\"messages\":{}}", "messages", "array"},
        {"{\"model\":\"m\",\"messages\":[]}", "messages", "at least one"},
        {"{\"model\":\"m\",\"messages\":[1]}", "messages[0]", "object"},
        {"{\"model\":\"m\",\"messages\":[{\"content\":\"hi\"}]}", "messages[0].role", "role"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"robot\",\"content\":\"hi\"}]}", "messages[0].role",
         "unknown role"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content",
         "string or an array"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}", "messages[0].content", "content"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}]}",
         "messages[0].content", "type"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
         "messages[0].content", "text"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}", "messages",
         "user message"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\" \\n \"}]}", "messages[0].content",
         "no text"},
        {"{\"model\":\"m\",\"stream\":\"yes\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         "stream", "boolean"},
        {"{\"model\":\"m\",\"stream_options\":[],\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         "stream_options", "object"},
        {"{\"model\":\"m\",\"max_tokens\":0,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         "max_tokens", "positive"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nb_chat_req_t r;
        nb_api_error_t e;
        memset(&e, 0, sizeof(e));
        int rc = parse(&r, cases[i].body, &e);
        if (rc == 0) {
            NB_FAIL_("case %zu accepted: %s", i, cases[i].body);
            nb_chat_req_dispose(&r);
            continue;
        }
        NB_CHECK_INT(e.status, 400);
        NB_CHECK_STR(e.type, "invalid_request_error");
        if (strcmp(e.param, cases[i].param) != 0)
            NB_FAIL_("case %zu: param \"%s\", expected \"%s\"", i, e.param, cases[i].param);
        if (strstr(e.message, cases[i].msg_part) == NULL)
            NB_FAIL_("case %zu: message \"%s\" lacks \"%s\"", i, e.message, cases[i].msg_part);
        NB_CHECK(r.messages == NULL && r.model == NULL);
    }
}

static void test_limits(void)
{
    nb_chat_limits_t lim = {2, 10};
    nb_chat_req_t r;
    nb_api_error_t e;
    const char *three = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
                        "{\"role\":\"user\",\"content\":\"b\"},{\"role\":\"user\",\"content\":\"c\"}]}";
    NB_CHECK(nb_chat_req_parse(&r, three, strlen(three), &lim, &e) != 0);
    NB_CHECK_STR(e.message, "too many messages");
    const char *longer = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"123456\"},"
                         "{\"role\":\"user\",\"content\":\"123456\"}]}";
    NB_CHECK(nb_chat_req_parse(&r, longer, strlen(longer), &lim, &e) != 0);
    NB_CHECK_STR(e.message, "messages are too long");
}

static const nb_chunk_ctx_t ctx = {"chatcmpl-1", 1700000000, "pm", false};

static void test_chunks_exact(void)
{
    nb_buf_t b;
    nb_buf_init(&b, 1 << 20);
    NB_CHECK_INT(nb_oai_chunk_role(&b, &ctx), 0);
    NB_CHECK_STR(
        b.data,
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
        "\"model\":\"pm\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
        "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_oai_chunk_content(&b, &ctx, "a\"b\n\x01/\xc3\xa9", 8), 0);
    NB_CHECK_STR(
        b.data,
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
        "\"model\":\"pm\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\\\"b\\n\\u0001/\xc3\xa9\"},"
        "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    nb_buf_reset(&b);
    nb_chunk_ctx_t u = ctx;
    u.include_usage = true;
    NB_CHECK_INT(nb_oai_chunk_finish(&b, &u, "stop"), 0);
    NB_CHECK_STR(b.data,
                 "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                 "\"model\":\"pm\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                 "\"finish_reason\":\"stop\"}],\"usage\":null}\n\n");
    nb_buf_reset(&b);
    nb_usage_t usage = {3, 4, 7};
    NB_CHECK_INT(nb_oai_chunk_usage(&b, &u, &usage), 0);
    NB_CHECK_STR(b.data,
                 "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                 "\"model\":\"pm\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,"
                 "\"total_tokens\":7}}\n\n");
    nb_buf_reset(&b);
    NB_CHECK_INT(nb_oai_sse_done(&b), 0);
    NB_CHECK_STR(b.data, "data: [DONE]\n\n");
    nb_buf_dispose(&b);
}

static void test_completion_error_models(void)
{
    nb_buf_t b;
    nb_buf_init(&b, 1 << 20);
    nb_usage_t usage = {1, 2, 3};
    NB_CHECK_INT(nb_oai_completion(&b, &ctx, "hello", 5, &usage), 0);
    NB_CHECK_STR(
        b.data,
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"pm\","
        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hello\","
        "\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}");
    nb_buf_reset(&b);
    nb_api_error_t e;
    NB_CHECK_INT(nb_api_error_set(&e, 404, "invalid_request_error", "model_not_found", "model",
                                  "The model '%s' does not exist", "x\"y"),
                 404);
    NB_CHECK_INT(nb_oai_error_json(&b, &e), 0);
    NB_CHECK_STR(b.data, "{\"error\":{\"message\":\"The model 'x\\\"y' does not exist\",\"type\":"
                         "\"invalid_request_error\",\"param\":\"model\",\"code\":\"model_not_found\"}}");
    nb_buf_reset(&b);
    nb_api_error_set(&e, 504, "timeout_error", NULL, NULL, "late");
    NB_CHECK_INT(nb_oai_sse_error(&b, &e), 0);
    NB_CHECK_STR(
        b.data,
        "data: "
        "{\"error\":{\"message\":\"late\",\"type\":\"timeout_error\",\"param\":null,\"code\":null}}\n\n");
    nb_buf_reset(&b);
    const char *ids[] = {"pm", "coder"};
    NB_CHECK_INT(nb_oai_models(&b, ids, 2, 5, "tenex"), 0);
    NB_CHECK_STR(
        b.data,
        "{\"object\":\"list\",\"data\":[{\"id\":\"pm\",\"object\":\"model\",\"created\":5,\"owned_by\":"
        "\"tenex\"},{\"id\":\"coder\",\"object\":\"model\",\"created\":5,\"owned_by\":\"tenex\"}]}");
    nb_buf_dispose(&b);
}

static void test_builders_are_atomic(void)
{
    nb_buf_t b;
    nb_buf_init(&b, 40);
    NB_CHECK_INT(nb_buf_appends(&b, "keep"), 0);
    NB_CHECK_INT(nb_oai_chunk_content(&b, &ctx, "too long for the ceiling", 24), NB_ETOOBIG);
    NB_CHECK_INT(b.len, 4);
    NB_CHECK_STR(b.data, "keep");
    nb_buf_dispose(&b);
}

static void test_output_is_valid_json(void)
{
    /* Every builder's output must tokenize (the chunk payload after "data: "). */
    nb_buf_t b;
    nb_buf_init(&b, 1 << 20);
    nb_oai_chunk_content(&b, &ctx, "\x7f\t\"\\", 4);
    nb_json_tok_t toks[64];
    size_t n;
    NB_CHECK_INT(nb_json_parse(toks, 64, &n, b.data + 6, b.len - 8), 0);
    nb_buf_dispose(&b);
    char id[64];
    nb_oai_completion_id(id, sizeof(id));
    NB_CHECK_INT(strlen(id), 41);
    NB_CHECK(strncmp(id, "chatcmpl-", 9) == 0);
}

int main(void)
{
    NB_RUN(test_minimal_request);
    NB_RUN(test_full_request);
    NB_RUN(test_bad_requests);
    NB_RUN(test_limits);
    NB_RUN(test_chunks_exact);
    NB_RUN(test_completion_error_models);
    NB_RUN(test_builders_are_atomic);
    NB_RUN(test_output_is_valid_json);
    return nb_test_summary();
}
