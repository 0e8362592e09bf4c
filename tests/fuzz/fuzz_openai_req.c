/* libFuzzer: the chat completion request parser (the HTTP body is outside input). On success the
 * result must be internally consistent and its texts valid UTF-8, so they can go into a signed
 * event and back out as JSON. */
#include "bridge/json.h"
#include "bridge/openai.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nb_chat_req_t r;
    nb_api_error_t e;
    nb_chat_limits_t lim = {64, 64 * 1024};
    if (nb_chat_req_parse(&r, (const char *)data, size, &lim, &e) != 0) {
        if (e.status != 400 || e.message[0] == '\0') abort();
        return 0;
    }
    if (r.model == NULL || r.n_messages == 0 || r.last_user >= r.n_messages ||
        r.messages[r.last_user].role != NB_ROLE_USER)
        abort();
    for (size_t i = 0; i < r.n_messages; i++)
        if (!nb_utf8_valid(r.messages[i].text, r.messages[i].len)) abort();
    nb_chat_req_dispose(&r);
    return 0;
}
