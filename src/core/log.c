#include "bridge/log.h"

#include "bridge/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static nb_log_level_t g_level = NB_LOG_INFO;
static bool g_json = false;
static const char *const g_names[] = {"debug", "info", "warn", "error", "off"};

void nb_log_setup(nb_log_level_t level, bool json)
{
    g_level = level;
    g_json = json;
}

int nb_log_level_parse(const char *s, nb_log_level_t *out)
{
    for (int i = 0; i <= NB_LOG_OFF; i++) {
        if (strcasecmp(s, g_names[i]) == 0) {
            *out = (nb_log_level_t)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = NB_LOG_WARN;
        return 0;
    }
    return NB_EINVAL;
}

bool nb_log_enabled(nb_log_level_t level)
{
    return level >= g_level && level < NB_LOG_OFF;
}

/* Copy src into dst escaping what would break one line (text) or one JSON string (json). */
static size_t escape(char *dst, size_t cap, const char *src, bool json)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p && o + 7 < cap; p++) {
        unsigned char c = *p;
        if (c == '\n') {
            dst[o++] = '\\';
            dst[o++] = 'n';
        } else if (c == '\r') {
            dst[o++] = '\\';
            dst[o++] = 'r';
        } else if (json && (c == '"' || c == '\\')) {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", c);
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = '\0';
    return o;
}

void nb_log(nb_log_level_t level, const char *fmt, ...)
{
    if (!nb_log_enabled(level)) return;
    char msg[2048], esc[4096], ts[40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    escape(esc, sizeof(esc), msg, g_json);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03dZ", (int)(tv.tv_usec / 1000));

    if (g_json)
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", ts, g_names[level], esc);
    else
        fprintf(stderr, "%s %-5s %s\n", ts, g_names[level], esc);
}

int nb_log_reopen(const char *path)
{
    if (path == NULL) return 0;
    if (freopen(path, "a", stderr) == NULL) return NB_EIO;
    setvbuf(stderr, NULL, _IOLBF, 0);
    return 0;
}
