/*
 * log.h — one line per record, to stderr, as text or JSON.
 *
 * Text:  2026-11-23T14:00:00.123Z info  relay: connected url=wss://relay.example
 * JSON:  {"ts":"2026-11-23T14:00:00.123Z","level":"info","msg":"relay: connected url=..."}
 *
 * Secrets never reach this module: callers log public keys (npub), never nsec or hex secrets.
 */
#ifndef BRIDGE_LOG_H
#define BRIDGE_LOG_H

#include <stdbool.h>

typedef enum { NB_LOG_DEBUG = 0, NB_LOG_INFO, NB_LOG_WARN, NB_LOG_ERROR, NB_LOG_OFF } nb_log_level_t;

/** Set the threshold and the format (JSON lines when json is true). Default: info, text. */
void nb_log_setup(nb_log_level_t level, bool json);
/** Parse "debug" / "info" / "warn" / "error" / "off". 0 or NB_EINVAL. */
int nb_log_level_parse(const char *s, nb_log_level_t *out);
/** True when records at level would be written. */
bool nb_log_enabled(nb_log_level_t level);
/** Write one record; a newline inside msg is escaped so a record is always one line. */
void nb_log(nb_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Reopen stderr onto path (for SIGHUP log rotation); NULL keeps stderr. 0 or NB_EIO. */
int nb_log_reopen(const char *path);

#define NB_DEBUG(...) (nb_log_enabled(NB_LOG_DEBUG) ? nb_log(NB_LOG_DEBUG, __VA_ARGS__) : (void)0)
#define NB_INFO(...) nb_log(NB_LOG_INFO, __VA_ARGS__)
#define NB_WARN(...) nb_log(NB_LOG_WARN, __VA_ARGS__)
#define NB_ERROR(...) nb_log(NB_LOG_ERROR, __VA_ARGS__)

#endif
