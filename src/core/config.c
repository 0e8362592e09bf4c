/*
 * config.c — the configuration file: per-key policies (see the header for the format).
 *
 * The whole file is checked before anything reaches the caller's key set: entries go into a
 * scratch set first and are moved over only when every one of them is valid, so a bad file never
 * leaves half its keys configured.
 *
 * Error messages name the place ("api_keys[2].projects[0]: …") and never echo text from the file:
 * an unknown member could be a key pasted in the wrong place, a name could be a key, and a message
 * goes to the log. Project entries are stored as given, naddr1… included; whoever matches them
 * against a request resolves an naddr to its d-tag.
 */
#include "bridge/config.h"

#include "bridge/err.h"
#include "bridge/json.h"
#include "bridge/keys.h"
#include "bridge/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROJECTS_MAX 256
#define PROJECT_LEN_MAX 256
#define NUMBER_MAX 1000000

/* Members per key entry; the tokens of the largest file that can be valid bound the token array
 * (root, "api_keys" and its array, then per key its object, 5 members and 256 projects). */
#define ENTRY_MEMBERS 5
#define TOKENS_MAX (3 + (size_t)NB_APIKEYS_MAX * (1 + 2 * ENTRY_MEMBERS + PROJECTS_MAX))

#define ALLOWED_MEMBERS "key, name, projects, max_streams, rate_per_minute"

typedef struct {
    const char *s;
    const nb_json_tok_t *toks;
    char *err;
    size_t err_cap;
} ctx_t;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(ctx_t *c, const char *fmt, ...)
{
    if (c->err_cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->err_cap, fmt, ap);
        va_end(ap);
    }
    return NB_EINVAL;
}

static const char *type_name(uint8_t t)
{
    switch (t) {
    case NB_JSON_OBJECT:
        return "an object";
    case NB_JSON_ARRAY:
        return "an array";
    case NB_JSON_STRING:
        return "a string";
    case NB_JSON_NUMBER:
        return "a number";
    case NB_JSON_TRUE:
    case NB_JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static bool name_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
           ch == '_' || ch == '-';
}

static bool space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static int get_number(ctx_t *c, size_t e, const char *member, uint32_t v, uint32_t *out)
{
    const nb_json_tok_t *t = &c->toks[v];
    int64_t n;
    if (t->type != NB_JSON_NUMBER)
        return fail(c, "api_keys[%zu].%s: expected a number, got %s", e, member, type_name(t->type));
    if (nb_json_int64(c->s, t, &n) != 0 || n < 0 || n > NUMBER_MAX)
        return fail(c, "api_keys[%zu].%s: expected a whole number from 0 to %d", e, member, NUMBER_MAX);
    *out = (uint32_t)n;
    return 0;
}

static int get_name(ctx_t *c, size_t e, uint32_t v, nb_apikey_policy_t *pol)
{
    const nb_json_tok_t *t = &c->toks[v];
    size_t n;
    if (t->type != NB_JSON_STRING)
        return fail(c, "api_keys[%zu].name: expected a string, got %s", e, type_name(t->type));
    if (nb_json_string_to(pol->name, sizeof(pol->name), &n, c->s, t) != 0)
        return fail(c, "api_keys[%zu].name: longer than %d bytes", e, NB_APIKEY_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if (!name_char(pol->name[i]))
            return fail(c, "api_keys[%zu].name: byte %zu is not one of A-Z a-z 0-9 . _ -", e, i);
    return 0;
}

/* Fills pol->projects with new strings (the caller frees them, on errors too). */
static int get_projects(ctx_t *c, size_t e, uint32_t v, nb_apikey_policy_t *pol)
{
    const nb_json_tok_t *t = &c->toks[v];
    if (t->type != NB_JSON_ARRAY)
        return fail(c, "api_keys[%zu].projects: expected an array, got %s", e, type_name(t->type));
    /* An empty list would mean "every project" (like no list): almost certainly not what was
     * meant, and a config mistake must not open access. */
    if (t->size == 0)
        return fail(c, "api_keys[%zu].projects: empty (leave it out to allow every project)", e);
    if (t->size > PROJECTS_MAX)
        return fail(c, "api_keys[%zu].projects: more than %d entries", e, PROJECTS_MAX);
    pol->projects = nb_calloc(t->size, sizeof(char *));
    uint32_t i = v + 1;
    for (size_t j = 0; j < t->size; j++, i = c->toks[i].next) {
        const nb_json_tok_t *p = &c->toks[i];
        if (p->type != NB_JSON_STRING)
            return fail(c, "api_keys[%zu].projects[%zu]: expected a string, got %s", e, j,
                        type_name(p->type));
        size_t n = nb_json_string_len(c->s, p);
        if (n == 0 || n > PROJECT_LEN_MAX)
            return fail(c, "api_keys[%zu].projects[%zu]: expected 1 to %d bytes", e, j, PROJECT_LEN_MAX);
        char *d = nb_malloc(n + 1);
        pol->projects[pol->n_projects++] = d;
        nb_json_string_to(d, n + 1, NULL, c->s, p);
        /* Control bytes (\u0000 above all, which would cut the C string short and so allow a
         * different project) and '/' have no place in a d-tag. */
        for (size_t b = 0; b < n; b++)
            if ((unsigned char)d[b] < 0x20 || d[b] == 0x7f || d[b] == '/')
                return fail(c, "api_keys[%zu].projects[%zu]: byte %zu is '/' or a control character", e, j,
                            b);
    }
    return 0;
}

/* One entry of "api_keys" (token o) into tmp; existing is the caller's set (for duplicates). */
static int parse_entry(ctx_t *c, const nb_apikeys_t *existing, nb_apikeys_t *tmp, size_t e, uint32_t o)
{
    const nb_json_tok_t *t = &c->toks[o];
    if (t->type != NB_JSON_OBJECT)
        return fail(c, "api_keys[%zu]: expected an object, got %s", e, type_name(t->type));

    static const char *const members[ENTRY_MEMBERS] = {"key", "name", "projects", "max_streams",
                                                       "rate_per_minute"};
    nb_apikey_policy_t pol;
    memset(&pol, 0, sizeof(pol));
    uint32_t key_tok = 0;
    unsigned seen = 0;
    char *key = NULL;
    size_t key_cap = 0;
    int r = 0;

    uint32_t i = o + 1;
    for (size_t m = 0; m < t->size && r == 0; m++, i = c->toks[i + 1].next) {
        int which = -1;
        for (int w = 0; w < ENTRY_MEMBERS; w++)
            if (nb_json_str_eq(c->s, &c->toks[i], members[w])) which = w;
        if (which < 0) {
            /* Not echoed: it could be a key in the wrong place. */
            r = fail(c, "api_keys[%zu]: member #%zu is unknown (allowed: " ALLOWED_MEMBERS ")", e, m + 1);
            break;
        }
        if (seen & (1u << which)) {
            r = fail(c, "api_keys[%zu].%s: given twice", e, members[which]);
            break;
        }
        seen |= 1u << which;
        uint32_t v = i + 1;
        switch (which) {
        case 0:
            if (c->toks[v].type != NB_JSON_STRING)
                r = fail(c, "api_keys[%zu].key: expected a string, got %s", e, type_name(c->toks[v].type));
            key_tok = v;
            break;
        case 1:
            r = get_name(c, e, v, &pol);
            break;
        case 2:
            r = get_projects(c, e, v, &pol);
            break;
        case 3:
            r = get_number(c, e, "max_streams", v, &pol.max_streams);
            break;
        default:
            r = get_number(c, e, "rate_per_minute", v, &pol.rate_per_minute);
            break;
        }
    }
    if (r != 0) goto out;
    if (key_tok == 0) {
        r = fail(c, "api_keys[%zu]: \"key\" is missing", e);
        goto out;
    }

    key_cap = nb_json_string_len(c->s, &c->toks[key_tok]) + 1;
    key = nb_malloc(key_cap);
    size_t len;
    nb_json_string_to(key, key_cap, &len, c->s, &c->toks[key_tok]);
    const char *kp = key;
    while (len > 0 && space(kp[0]))
        kp++, len--;
    while (len > 0 && space(kp[len - 1]))
        len--;
    if (len == 0) {
        r = fail(c, "api_keys[%zu].key: empty", e);
        goto out;
    }
    if (len > NB_APIKEY_MAX_LEN) {
        r = fail(c, "api_keys[%zu].key: longer than %d bytes", e, NB_APIKEY_MAX_LEN);
        goto out;
    }
    if (nb_apikeys_find(existing, kp, len) >= 0) {
        r = fail(c, "api_keys[%zu].key: already configured (by a flag, the environment or a key file)", e);
        goto out;
    }
    int dup = nb_apikeys_find(tmp, kp, len);
    if (dup >= 0) {
        r = fail(c, "api_keys[%zu].key: the same key as api_keys[%d]", e, dup);
        goto out;
    }
    if (existing->n + tmp->n >= NB_APIKEYS_MAX) {
        fail(c, "api_keys[%zu]: more than %d keys in all", e, NB_APIKEYS_MAX);
        r = NB_ELIMIT;
        goto out;
    }
    r = nb_apikeys_add_policy(tmp, kp, len, &pol);
    if (r != 0) fail(c, "api_keys[%zu].key: %s", e, nb_strerror(r)); /* cannot happen: checked above */

out:
    if (key != NULL) {
        nb_memwipe(key, key_cap);
        nb_free(key);
    }
    for (size_t j = 0; j < pol.n_projects; j++)
        nb_free(pol.projects[j]);
    nb_free(pol.projects);
    return r;
}

static int parse_root(ctx_t *c, const nb_apikeys_t *k, nb_apikeys_t *tmp)
{
    const nb_json_tok_t *root = &c->toks[0];
    if (root->type != NB_JSON_OBJECT) return fail(c, "expected an object, got %s", type_name(root->type));
    uint32_t arr = 0;
    uint32_t i = 1;
    for (size_t m = 0; m < root->size; m++, i = c->toks[i + 1].next) {
        if (!nb_json_str_eq(c->s, &c->toks[i], "api_keys"))
            return fail(c, "top-level member #%zu is unknown (allowed: api_keys)", m + 1);
        if (arr != 0) return fail(c, "api_keys: given twice");
        arr = i + 1;
    }
    if (arr == 0) return 0; /* no keys: nothing to add */
    const nb_json_tok_t *a = &c->toks[arr];
    if (a->type != NB_JSON_ARRAY) return fail(c, "api_keys: expected an array, got %s", type_name(a->type));
    i = arr + 1;
    for (size_t e = 0; e < a->size; e++, i = c->toks[i].next) {
        int r = parse_entry(c, k, tmp, e, i);
        if (r != 0) return r;
    }
    return 0;
}

int nb_config_parse(nb_apikeys_t *k, const char *text, size_t len, char *err, size_t err_cap)
{
    ctx_t c = {text, NULL, err, err_cap};
    if (err_cap > 0) err[0] = '\0';
    if (len > NB_CONFIG_MAX_BYTES) {
        fail(&c, "larger than %u bytes", NB_CONFIG_MAX_BYTES);
        return NB_ELIMIT;
    }
    /* Every token takes at least one byte and a separator (a container two bytes). */
    size_t cap = len / 2 + 2;
    if (cap > TOKENS_MAX) cap = TOKENS_MAX;
    nb_json_tok_t *toks = nb_malloc(cap * sizeof(*toks));
    nb_apikeys_t *tmp = nb_malloc(sizeof(*tmp));
    nb_apikeys_init(tmp);
    size_t ntoks;
    int r = nb_json_parse(toks, cap, &ntoks, text, len);
    if (r == NB_ETOOBIG) {
        fail(&c, "more JSON values than a file with %d keys can hold", NB_APIKEYS_MAX);
        r = NB_ELIMIT;
        goto out;
    }
    if (r != 0) {
        r = fail(&c, "not valid JSON (%s)", nb_strerror(r));
        goto out;
    }
    c.toks = toks;
    r = parse_root(&c, k, tmp);
    if (r != 0) goto out;

    /* Every entry is valid and fits: move them over (the policies' strings change owner). */
    for (size_t i = 0; i < tmp->n; i++) {
        memcpy(k->digest[k->n], tmp->digest[i], 32);
        k->policy[k->n] = tmp->policy[i];
        k->n++;
    }
    memset(tmp->policy, 0, sizeof(tmp->policy));
    tmp->n = 0;
out:
    nb_apikeys_dispose(tmp);
    nb_free(tmp);
    nb_free(toks);
    return r;
}

int nb_config_load(nb_apikeys_t *k, const char *path, char *err, size_t err_cap)
{
    ctx_t c = {NULL, NULL, err, err_cap};
    char *buf = NULL;
    size_t got = 0;
    struct stat st;
    int r = NB_EIO;

    if (err_cap > 0) err[0] = '\0';
    /* O_NONBLOCK: a FIFO in its place must not hang start-up before the check refuses it. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        fail(&c, "config %s: %s", path, strerror(errno));
        goto out;
    }
    r = nb_secret_file_check(fd, &st);
    if (r == NB_EIO) {
        fail(&c, "config %s: not a regular file", path);
        goto out;
    }
    if (r != 0) {
        fail(&c, "config %s: group or others may read or write it (it holds keys: chmod 600 it)", path);
        goto out;
    }
    if (st.st_size > (off_t)NB_CONFIG_MAX_BYTES) {
        fail(&c, "config %s: larger than %u bytes", path, NB_CONFIG_MAX_BYTES);
        r = NB_ELIMIT;
        goto out;
    }
    /* Read one byte past the limit: the file may have grown since fstat. */
    buf = nb_malloc(NB_CONFIG_MAX_BYTES + 1);
    while (got < NB_CONFIG_MAX_BYTES + 1) {
        ssize_t n = read(fd, buf + got, NB_CONFIG_MAX_BYTES + 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            fail(&c, "config %s: %s", path, strerror(errno));
            r = NB_EIO;
            goto out;
        }
        if (n == 0) break;
        got += (size_t)n;
    }
    if (got > NB_CONFIG_MAX_BYTES) {
        fail(&c, "config %s: larger than %u bytes", path, NB_CONFIG_MAX_BYTES);
        r = NB_ELIMIT;
        goto out;
    }
    char inner[256];
    r = nb_config_parse(k, buf, got, inner, sizeof(inner));
    if (r != 0) fail(&c, "config %s: %s", path, inner);
out:
    if (buf != NULL) {
        nb_memwipe(buf, got);
        nb_free(buf);
    }
    if (fd >= 0) close(fd);
    return r;
}
