/* The TENEX directory: projects, rosters (PM first), slugs, liveness, legacy shapes, pinning. */
#include "bridge/hex.h"
#include "bridge/tenex_dir.h"
#include "bridge/tenex_tags.h"
#include "test.h"
#include "test_events.h"


static uint8_t OWNER[32], STRANGER[32], BACKEND[32], PM[32], CODER[32];
static char OWNER_HEX[65], PM_HEX[65], CODER_HEX[65], COORD[200];

/* Feed the directory one event (see test_events.h for the tag syntax). */
#define feed(d, kind, author, at, ...)                                                                  \
    do {                                                                                                \
        nb_event_t ev_;                                                                                 \
        nb_test_event(&ev_, kind, author, at, __VA_ARGS__);                                             \
        nb_tenex_dir_on_event(d, &ev_);                                                                 \
        nb_event_dispose(&ev_);                                                                         \
    } while (0)

static nb_tenex_dir_t *make(const uint8_t (*pins)[32], size_t n)
{
    nb_tenex_dir_config_t c = {0};
    memcpy(c.owner, OWNER, 32);
    c.backends = pins;
    c.n_backends = n;
    nb_tenex_dir_t *d;
    nb_tenex_dir_create(&d, &c);
    return d;
}

static void test_roster_and_slugs(void)
{
    nb_tenex_dir_t *d = make(NULL, 0);
    feed(d, 31933, OWNER, 100, "", TAG("d", "demo"), TAG("title", "Demo"), TAG("p", PM_HEX),
         TAG("p", CODER_HEX), END);
    const nb_tenex_project_t *p = nb_tenex_dir_project(d, "demo");
    NB_REQUIRE(p != NULL);
    NB_CHECK_STR(p->title, "Demo");
    NB_CHECK_STR(p->coord, COORD);
    NB_CHECK_INT(p->n_agents, 2);
    NB_CHECK_MEM(p->agents[0].pubkey, PM, 32);
    char buf[NB_TENEX_MAX_SLUG + 1];
    NB_CHECK(strncmp(nb_tenex_agent_name(&p->agents[0], buf), "agent-", 6) == 0);
    /* profile names are the fallback, inventory beats them, the project's status beats both */
    feed(d, 0, PM, 100, "{\"name\":\"profile-pm\"}", END);
    NB_CHECK_STR(p->agents[0].slug, "profile-pm");
    feed(d, 24011, BACKEND, 100, "", TAG("p", OWNER_HEX), TAG("agent", PM_HEX, "inv-pm"), END);
    NB_CHECK_STR(p->agents[0].slug, "inv-pm");
    /* the status lists the coder first: the PM is still the roster's first p */
    feed(d, 24010, BACKEND, 200, "", TAG("a", COORD), TAG("p", OWNER_HEX), TAG("agent", CODER_HEX, "coder"),
         TAG("agent", PM_HEX, "pm"), END);
    NB_CHECK_STR(p->agents[0].slug, "pm");
    NB_CHECK_STR(p->agents[1].slug, "coder");
    NB_CHECK(nb_tenex_project_agent(p, "coder") == &p->agents[1]);
    NB_CHECK(nb_tenex_project_agent(p, "gpt-4o") == NULL);
    feed(d, 0, PM, 300, "{\"name\":\"late-profile\"}", END);
    NB_CHECK_STR(p->agents[0].slug, "pm");
    /* a status cannot add agents */
    uint8_t intruder[32];
    memset(intruder, 0x77, 32);
    char ihex[65];
    nb_hex_encode(ihex, intruder, 32);
    feed(d, 24010, BACKEND, 201, "", TAG("a", COORD), TAG("agent", ihex, "intruder"), END);
    NB_CHECK_INT(p->n_agents, 2);
    NB_CHECK(nb_tenex_project_agent(p, "intruder") == NULL);
    nb_tenex_dir_destroy(d);
}

static void test_versions_and_deletion(void)
{
    nb_tenex_dir_t *d = make(NULL, 0);
    feed(d, 31933, OWNER, 100, "", TAG("d", "demo"), TAG("p", PM_HEX), END);
    feed(d, 31933, OWNER, 50, "", TAG("d", "demo"), TAG("p", CODER_HEX), END); /* older: ignored */
    NB_CHECK_MEM(nb_tenex_dir_project(d, "demo")->agents[0].pubkey, PM, 32);
    feed(d, 31933, STRANGER, 500, "", TAG("d", "demo"), TAG("p", CODER_HEX), END); /* not the owner */
    NB_CHECK_MEM(nb_tenex_dir_project(d, "demo")->agents[0].pubkey, PM, 32);
    feed(d, 31933, OWNER, 150, "", TAG("d", "demo"), TAG("p", CODER_HEX), TAG("p", PM_HEX), END);
    NB_CHECK_MEM(nb_tenex_dir_project(d, "demo")->agents[0].pubkey, CODER, 32);
    NB_CHECK_STR(nb_tenex_dir_project(d, "demo")->title, "demo");
    feed(d, 31933, OWNER, 200, "", TAG("d", "demo"), TAG("deleted"), END);
    NB_CHECK(nb_tenex_dir_project(d, "demo") == NULL);
    NB_CHECK_INT(nb_tenex_dir_project_count(d), 0);
    feed(d, 31933, OWNER, 120, "", TAG("d", "demo"), TAG("p", PM_HEX), END); /* no resurrection */
    NB_CHECK(nb_tenex_dir_project(d, "demo") == NULL);
    NB_CHECK(nb_tenex_dir_project(d, "other") == NULL);
    nb_tenex_dir_destroy(d);
}

static void test_liveness(void)
{
    nb_tenex_dir_t *d = make(NULL, 0);
    feed(d, 31933, OWNER, 100, "", TAG("d", "demo"), TAG("p", PM_HEX), END);
    const nb_tenex_project_t *p = nb_tenex_dir_project(d, "demo");
    NB_CHECK(!nb_tenex_project_online(p, 1000));
    NB_CHECK_INT(nb_tenex_dir_backend_seen(d), 0);
    feed(d, 24012, BACKEND, 990, "", TAG("p", OWNER_HEX), END);
    NB_CHECK_INT(nb_tenex_dir_backend_seen(d), 990);
    NB_CHECK(!nb_tenex_project_online(p, 1000));
    feed(d, 24010, BACKEND, 980, "", TAG("a", COORD), TAG("p", OWNER_HEX), TAG("agent", PM_HEX, "pm"), END);
    NB_CHECK(nb_tenex_project_online(p, 1000));
    NB_CHECK(nb_tenex_project_online(p, 1024));
    NB_CHECK(!nb_tenex_project_online(p, 1025));
    NB_CHECK(p->has_backend);
    NB_CHECK_MEM(p->backend, BACKEND, 32);
    nb_tenex_dir_destroy(d);
}

static void test_pinned_backends(void)
{
    uint8_t pins[1][32];
    memcpy(pins[0], BACKEND, 32);
    nb_tenex_dir_t *d = make((const uint8_t(*)[32])pins, 1);
    feed(d, 31933, OWNER, 100, "", TAG("d", "demo"), TAG("p", PM_HEX), END);
    feed(d, 24010, STRANGER, 990, "", TAG("a", COORD), TAG("agent", PM_HEX, "fake"), END);
    feed(d, 24012, STRANGER, 990, "", END);
    const nb_tenex_project_t *p = nb_tenex_dir_project(d, "demo");
    NB_CHECK(!nb_tenex_project_online(p, 1000));
    NB_CHECK_INT(nb_tenex_dir_backend_seen(d), 0);
    NB_CHECK_STR(p->agents[0].slug, "");
    feed(d, 24010, BACKEND, 990, "", TAG("a", COORD), TAG("agent", PM_HEX, "pm"), END);
    NB_CHECK(nb_tenex_project_online(p, 1000));
    nb_tenex_dir_destroy(d);
}

static void test_legacy_project(void)
{
    nb_tenex_dir_t *d = make(NULL, 0);
    feed(d, 31933, OWNER, 100, "", TAG("d", "old"), TAG("agent", "4199eventid"), END);
    const nb_tenex_project_t *p = nb_tenex_dir_project(d, "old");
    NB_REQUIRE(p != NULL);
    NB_CHECK(p->legacy);
    NB_CHECK_INT(p->n_agents, 0);
    char coord[200];
    snprintf(coord, sizeof(coord), "31933:%s:old", OWNER_HEX);
    feed(d, 24010, BACKEND, 990, "", TAG("a", coord), TAG("agent", CODER_HEX, "coder"),
         TAG("agent", PM_HEX, "boss", "pm"), END);
    NB_CHECK_INT(p->n_agents, 2);
    NB_CHECK_STR(p->agents[0].slug, "boss");
    NB_CHECK_STR(p->agents[1].slug, "coder");
    nb_tenex_dir_destroy(d);
}

static void test_bad_input(void)
{
    nb_tenex_dir_t *d = make(NULL, 0);
    feed(d, 31933, OWNER, 100, "", TAG("title", "no d"), END);
    feed(d, 31933, OWNER, 100, "", TAG("d", ""), END);
    feed(d, 31933, OWNER, 100, "", TAG("d", "x"), TAG("p", "nothex"), TAG("p"), END);
    NB_CHECK_INT(nb_tenex_dir_project_count(d), 1);
    NB_CHECK_INT(nb_tenex_dir_project(d, "x")->n_agents, 0);
    feed(d, 0, PM, 1, "not json", END);
    feed(d, 0, PM, 1, "{\"name\":\"has/slash\"}", END);
    feed(d, 0, PM, 1, "{\"name\":5}", END);
    feed(d, 24010, BACKEND, 990, "", TAG("a", "31933:nope:x"), END);
    feed(d, 24010, BACKEND, 990, "", TAG("a"), END);
    nb_tenex_dir_destroy(d);
}

int main(void)
{
    nb_hex_decode(OWNER, 32, "0100000000000000000000000000000000000000000000000000000000000001", 64);
    nb_hex_decode(STRANGER, 32, "0200000000000000000000000000000000000000000000000000000000000002", 64);
    nb_hex_decode(BACKEND, 32, "0300000000000000000000000000000000000000000000000000000000000003", 64);
    nb_hex_decode(PM, 32, "0400000000000000000000000000000000000000000000000000000000000004", 64);
    nb_hex_decode(CODER, 32, "0500000000000000000000000000000000000000000000000000000000000005", 64);
    nb_hex_encode(OWNER_HEX, OWNER, 32);
    nb_hex_encode(PM_HEX, PM, 32);
    nb_hex_encode(CODER_HEX, CODER, 32);
    snprintf(COORD, sizeof(COORD), "31933:%s:demo", OWNER_HEX);
    NB_RUN(test_roster_and_slugs);
    NB_RUN(test_versions_and_deletion);
    NB_RUN(test_liveness);
    NB_RUN(test_pinned_backends);
    NB_RUN(test_legacy_project);
    NB_RUN(test_bad_input);
    return nb_test_summary();
}
