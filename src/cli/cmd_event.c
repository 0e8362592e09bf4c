/*
 * cmd_event.c — `bridge sign` and `bridge verify`: the Nostr core for scripts and tests.
 *
 * sign reads {"kind":…, "content":…, "tags":[…], "created_at":…} (created_at optional,
 * defaults to now; id/pubkey/sig are ignored so an existing event can be re-signed) and prints
 * the signed event as one line. verify reads a wire event and says "valid" or why not.
 */
#include "bridge/err.h"
#include "bridge/event.h"
#include "bridge/json.h"
#include "bridge/keys.h"
#include "bridge/mem.h"
#include "cli_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Where a bad sign input went wrong, for a one-line message naming the field. */
typedef struct {
    char msg[160];
} sign_err_t;

static int bad(sign_err_t *e, const char *msg)
{
    snprintf(e->msg, sizeof(e->msg), "%s", msg);
    return NB_EINVAL;
}

static int parse_tags(nb_event_t *ev, const char *s, const nb_json_tok_t *toks, uint32_t arr, sign_err_t *e)
{
    if (toks[arr].type != NB_JSON_ARRAY) return bad(e, "\"tags\" must be an array of arrays of strings");
    nb_buf_t scratch;
    nb_buf_init(&scratch, NB_CLI_MAX_INPUT);
    nb_str_t *items = NULL;
    size_t *offs = NULL, items_cap = 0;
    int r = 0;
    uint32_t t = arr + 1;
    for (uint32_t i = 0; i < toks[arr].size; i++, t = toks[t].next) {
        if (toks[t].type != NB_JSON_ARRAY || toks[t].size == 0) {
            r = bad(e, "each tag must be a non-empty array of strings");
            goto out;
        }
        /* Decode all items into one scratch buffer, then point at them (offsets first: the
         * buffer may move while it grows). */
        nb_buf_reset(&scratch);
        if (toks[t].size > items_cap) {
            items_cap = toks[t].size;
            items = nb_realloc(items, items_cap * sizeof(*items));
            offs = nb_realloc(offs, items_cap * sizeof(*offs));
        }
        uint32_t it = t + 1;
        for (uint32_t j = 0; j < toks[t].size; j++, it = toks[it].next) {
            if (toks[it].type != NB_JSON_STRING) {
                r = bad(e, "tag items must be strings");
                goto out;
            }
            size_t off = scratch.len;
            if ((r = nb_json_string(&scratch, s, &toks[it])) != 0 ||
                (r = nb_buf_appendc(&scratch, '\0')) != 0) {
                bad(e, "tags are too large");
                goto out;
            }
            offs[j] = off;
            items[j].len = scratch.len - 1 - off;
        }
        for (uint32_t j = 0; j < toks[t].size; j++)
            items[j].p = scratch.data + offs[j];
        nb_event_add_tag_str(ev, items, toks[t].size);
    }
out:
    nb_free(items);
    nb_free(offs);
    nb_buf_dispose(&scratch);
    return r;
}

static int parse_template(nb_event_t *ev, const char *s, size_t len, sign_err_t *e)
{
    size_t cap = len / 2 + 4, n = 0;
    nb_json_tok_t *toks = nb_malloc(cap * sizeof(*toks));
    nb_buf_t content;
    nb_buf_init(&content, NB_CLI_MAX_INPUT);
    bool have_kind = false, have_content = false, have_created = false;
    int r = nb_json_parse(toks, cap, &n, s, len);
    if (r != 0) {
        snprintf(e->msg, sizeof(e->msg), "input is not valid JSON (%s)", nb_strerror(r));
        goto out;
    }
    if (toks[0].type != NB_JSON_OBJECT) {
        r = bad(e, "input must be a JSON object {\"kind\",\"content\",\"tags\",\"created_at\"}");
        goto out;
    }
    uint32_t k = 1;
    for (uint32_t i = 0; i < toks[0].size; i++) {
        uint32_t v = k + 1;
        int64_t num;
        if (nb_json_str_eq(s, &toks[k], "kind")) {
            if (toks[v].type != NB_JSON_NUMBER || nb_json_int64(s, &toks[v], &num) != 0 || num < 0 ||
                num > 65535) {
                r = bad(e, "\"kind\" must be an integer from 0 to 65535");
                goto out;
            }
            ev->kind = (uint32_t)num;
            have_kind = true;
        } else if (nb_json_str_eq(s, &toks[k], "content")) {
            if (toks[v].type != NB_JSON_STRING) {
                r = bad(e, "\"content\" must be a string");
                goto out;
            }
            if ((r = nb_json_string(&content, s, &toks[v])) != 0) {
                bad(e, "\"content\" is too large");
                goto out;
            }
            have_content = true;
        } else if (nb_json_str_eq(s, &toks[k], "tags")) {
            if ((r = parse_tags(ev, s, toks, v, e)) != 0) goto out;
        } else if (nb_json_str_eq(s, &toks[k], "created_at")) {
            if (toks[v].type != NB_JSON_NUMBER || nb_json_int64(s, &toks[v], &num) != 0 || num < 0) {
                r = bad(e, "\"created_at\" must be a non-negative integer (unix seconds)");
                goto out;
            }
            ev->created_at = num;
            have_created = true;
        } else if (nb_json_str_eq(s, &toks[k], "id") || nb_json_str_eq(s, &toks[k], "pubkey") ||
                   nb_json_str_eq(s, &toks[k], "sig")) {
            /* replaced by signing */
        } else {
            char key[48];
            size_t kl = 0;
            if (nb_json_string_to(key, sizeof(key), &kl, s, &toks[k]) != 0)
                snprintf(key, sizeof(key), "(long key)");
            snprintf(e->msg, sizeof(e->msg),
                     "unknown field \"%s\" (expected kind, content, tags, created_at)", key);
            r = NB_EINVAL;
            goto out;
        }
        k = toks[v].next;
    }
    if (!have_kind) {
        r = bad(e, "missing \"kind\"");
        goto out;
    }
    if (!have_content) {
        r = bad(e, "missing \"content\"");
        goto out;
    }
    if (!have_created) ev->created_at = (int64_t)time(NULL);
    nb_event_set_content(ev, content.data ? content.data : "", content.len);
out:
    nb_buf_dispose(&content);
    nb_free(toks);
    return r;
}

typedef struct {
    const nb_keys_t *keys;
    nb_buf_t out;
    unsigned line;
    bool batch;
} sign_ctx_t;

static int sign_one(void *ud, const char *line, size_t n)
{
    sign_ctx_t *c = ud;
    c->line++;
    nb_event_t ev;
    nb_event_init(&ev);
    sign_err_t e = {{0}};
    int r = parse_template(&ev, line, n, &e);
    if (r != 0) {
        nb_event_dispose(&ev);
        if (c->batch) return nb_cli_fail("sign", "line %u: %s", c->line, e.msg);
        return nb_cli_fail("sign", "%s", e.msg);
    }
    r = nb_event_sign(&ev, c->keys);
    if (r == 0) {
        nb_buf_reset(&c->out);
        r = nb_event_to_json(&c->out, &ev);
    }
    nb_event_dispose(&ev);
    if (r != 0) return nb_cli_fail("sign", "%s", nb_strerror(r));
    fwrite(c->out.data, 1, c->out.len, stdout);
    fputc('\n', stdout);
    return 0;
}

static int parse_flags(const char *cmd, int argc, char **argv, bool *batch, const char **nsec_file)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--batch") == 0)
            *batch = true;
        else if (nsec_file != NULL && strcmp(argv[i], "--nsec-file") == 0 && i + 1 < argc)
            *nsec_file = argv[++i];
        else if (nsec_file != NULL && strncmp(argv[i], "--nsec-file=", 12) == 0)
            *nsec_file = argv[i] + 12;
        else
            return nb_cli_fail(cmd, "unexpected argument '%s'", argv[i]);
    }
    return 0;
}

int nb_cmd_sign(int argc, char **argv)
{
    bool batch = false;
    const char *nsec_file = NULL;
    if (parse_flags("sign", argc, argv, &batch, &nsec_file) != 0) return NB_EXIT_USAGE;
    nb_keys_t keys;
    if (nb_cli_load_key("sign", &keys, nsec_file) != 0) return NB_EXIT_USAGE;
    int status = NB_EXIT_OK;
    nb_buf_t in;
    nb_buf_init(&in, NB_CLI_MAX_INPUT * (batch ? 64 : 1));
    int r = nb_cli_read_stdin(&in);
    if (r != 0) {
        status = nb_cli_fail("sign", "reading stdin: %s", nb_strerror(r));
        goto out;
    }
    sign_ctx_t c = {.keys = &keys, .batch = batch};
    nb_buf_init(&c.out, 4 * NB_CLI_MAX_INPUT);
    if (batch)
        r = nb_cli_each_line(in.data ? in.data : "", in.len, sign_one, &c);
    else
        r = sign_one(&c, in.data ? in.data : "", in.len);
    if (r != 0) status = NB_EXIT_USAGE;
    nb_buf_dispose(&c.out);
out:
    nb_buf_dispose(&in);
    nb_keys_dispose(&keys);
    fflush(stdout);
    return status;
}

typedef struct {
    int worst;
    bool batch;
    unsigned line;
} verify_ctx_t;

static int verify_one(void *ud, const char *line, size_t n)
{
    verify_ctx_t *c = ud;
    c->line++;
    nb_event_t ev;
    nb_event_init(&ev);
    int r = nb_event_parse(&ev, line, n, NULL);
    if (r != 0) {
        nb_event_dispose(&ev);
        if (c->batch) {
            printf("error: not an event: %s\n", nb_strerror(r));
            c->worst = NB_EXIT_USAGE;
            return 0;
        }
        c->worst = nb_cli_fail("verify", "input is not a valid event: %s", nb_strerror(r));
        return 0;
    }
    r = nb_event_verify(&ev);
    nb_event_dispose(&ev);
    if (r == 0) {
        puts("valid");
    } else {
        printf("invalid: %s\n", nb_strerror(r));
        if (c->worst < NB_EXIT_NO) c->worst = NB_EXIT_NO;
    }
    return 0;
}

int nb_cmd_verify(int argc, char **argv)
{
    bool batch = false;
    if (parse_flags("verify", argc, argv, &batch, NULL) != 0) return NB_EXIT_USAGE;
    nb_buf_t in;
    nb_buf_init(&in, NB_CLI_MAX_INPUT * (batch ? 64 : 1));
    int r = nb_cli_read_stdin(&in);
    verify_ctx_t c = {.worst = NB_EXIT_OK, .batch = batch};
    if (r != 0)
        c.worst = nb_cli_fail("verify", "reading stdin: %s", nb_strerror(r));
    else if (batch)
        nb_cli_each_line(in.data ? in.data : "", in.len, verify_one, &c);
    else
        verify_one(&c, in.data ? in.data : "", in.len);
    nb_buf_dispose(&in);
    fflush(stdout);
    return c.worst;
}
