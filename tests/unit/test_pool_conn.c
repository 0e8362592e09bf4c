/* Pure parts of the relay connection: URL parsing and backoff. */
#include "../../src/relay/relay_conn.h"
#include "bridge/err.h"
#include "test.h"

static void test_url_ok(void)
{
    nb_relay_url_t u;
    NB_CHECK_INT(nb_relay_url_parse(&u, "ws://127.0.0.1:7777"), 0);
    NB_CHECK(!u.tls);
    NB_CHECK_STR(u.host, "127.0.0.1");
    NB_CHECK_INT(u.port, 7777);
    NB_CHECK_STR(u.path, "/");

    NB_CHECK_INT(nb_relay_url_parse(&u, "wss://relay.tenex.chat"), 0);
    NB_CHECK(u.tls);
    NB_CHECK_STR(u.host, "relay.tenex.chat");
    NB_CHECK_INT(u.port, 443);
    NB_CHECK_STR(u.path, "/");

    NB_CHECK_INT(nb_relay_url_parse(&u, "WSS://Relay.Example:8443/nostr?x=1"), 0);
    NB_CHECK_STR(u.host, "Relay.Example");
    NB_CHECK_INT(u.port, 8443);
    NB_CHECK_STR(u.path, "/nostr?x=1");

    NB_CHECK_INT(nb_relay_url_parse(&u, "ws://example.com?q"), 0);
    NB_CHECK_STR(u.path, "/?q");
    NB_CHECK_INT(u.port, 80);

    NB_CHECK_INT(nb_relay_url_parse(&u, "ws://[::1]:9000/"), 0);
    NB_CHECK_STR(u.host, "::1");
    NB_CHECK_INT(u.port, 9000);
}

static void test_url_bad(void)
{
    nb_relay_url_t u;
    const char *bad[] = {"",
                         "http://example.com",
                         "ws://",
                         "ws://:80",
                         "ws://host:0",
                         "ws://host:65536",
                         "ws://host:12a",
                         "ws://host:",
                         "ws://user@host",
                         "ws://host/a b",
                         "ws://host/#frag",
                         "ws://[::1",
                         "ws://[::1]x",
                         " ws://host",
                         "wss//host"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (nb_relay_url_parse(&u, bad[i]) != NB_EURL) NB_FAIL_("accepted \"%s\"", bad[i]);
}

static void test_backoff(void)
{
    /* rnd = 0 gives the lower bound d/2 (rounded up), rnd = max gives d. */
    NB_CHECK_INT(nb_backoff_delay_ms(1, 500, 30000, 0), 250);
    NB_CHECK_INT(nb_backoff_delay_ms(1, 500, 30000, 250), 500);
    NB_CHECK_INT(nb_backoff_delay_ms(2, 500, 30000, 500), 1000);
    NB_CHECK_INT(nb_backoff_delay_ms(3, 500, 30000, 1000), 2000);
    NB_CHECK_INT(nb_backoff_delay_ms(7, 500, 30000, 0), 15000);        /* 500*64 → capped 30000 */
    NB_CHECK_INT(nb_backoff_delay_ms(1000, 500, 30000, 15000), 30000); /* no overflow */
    NB_CHECK_INT(nb_backoff_delay_ms(0, 500, 30000, 0), 250);
    for (uint32_t a = 1; a < 64; a++)
        for (uint32_t rnd = 0; rnd < 100000; rnd += 7919) {
            uint32_t d = nb_backoff_delay_ms(a, 100, 5000, rnd * 2654435761u);
            if (d < 50 || d > 5000) NB_FAIL_("attempt %u: %u ms out of range", a, d);
        }
    NB_CHECK_INT(nb_backoff_delay_ms(3, 0, 0, 0), 1); /* degenerate config stays positive */
}

int main(void)
{
    NB_RUN(test_url_ok);
    NB_RUN(test_url_bad);
    NB_RUN(test_backoff);
    return nb_test_summary();
}
