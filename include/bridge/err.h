/*
 * err.h — the one error table of bridge.
 *
 * Every fallible function returns 0 on success or a negative nb_err_t. The table is an
 * X-macro (like libuv's UV_ERRNO_MAP) so the enum, nb_strerror() and nb_err_name() can never
 * drift apart. Messages never contain input data, so they are always safe to log.
 */
#ifndef BRIDGE_ERR_H
#define BRIDGE_ERR_H

#define NB_ERR_MAP(X)                                                                                        \
    X(EINVAL, "invalid argument")                                                                            \
    X(ENOMEM, "out of memory")                                                                               \
    X(ETOOBIG, "input exceeds its size limit")                                                               \
    X(EIO, "input/output error")                                                                             \
    X(EHEX, "invalid hex string")                                                                            \
    X(EHEXLEN, "hex string has the wrong length")                                                            \
    X(EBECH32, "malformed bech32 string")                                                                    \
    X(EBECH32_CASE, "bech32 string mixes upper and lower case")                                              \
    X(EBECH32_CHECKSUM, "bech32 checksum mismatch")                                                          \
    X(EBECH32_HRP, "unexpected bech32 prefix")                                                               \
    X(ENIP19_LEN, "NIP-19 payload has the wrong length")                                                     \
    X(ENIP19_TLV, "malformed NIP-19 TLV payload")                                                            \
    X(EKEY, "invalid secret key")                                                                            \
    X(EPUBKEY, "invalid public key")                                                                         \
    X(EKEYFILE, "key file is unreadable or readable by other users")                                         \
    X(ENOKEY, "no secret key given (set TENEX_NSEC or use --nsec-file)")                                     \
    X(ERANDOM, "the system random source failed")                                                            \
    X(ECRYPTO, "signature operation failed")                                                                 \
    X(EJSON, "malformed JSON")                                                                               \
    X(EJSON_DEPTH, "JSON nested too deeply")                                                                 \
    X(EUTF8, "invalid UTF-8")                                                                                \
    X(EEVENT, "malformed event")                                                                             \
    X(EEVENT_ID, "event id does not match its content")                                                      \
    X(EEVENT_SIG, "event signature is invalid")                                                              \
    X(EFRAME, "malformed relay message")                                                                     \
    X(EFILTER, "malformed subscription filter")                                                              \
    X(EURL, "malformed relay URL")                                                                           \
    X(ECLOSED, "connection closed")                                                                          \
    X(ETIMEDOUT, "operation timed out")                                                                      \
    X(ELIMIT, "a configured limit was reached")                                                              \
    X(ENOTFOUND, "not found")                                                                                \
    X(ECANCELED, "operation canceled")                                                                       \
    X(EREJECTED, "rejected by every relay")                                                                  \
    X(ENORELAY, "no relay is connected")

typedef enum {
    NB_OK = 0,
    NB_ERR__FIRST = -1000,
#define NB_ERR_ENUM_(name, msg) NB_##name,
    NB_ERR_MAP(NB_ERR_ENUM_)
#undef NB_ERR_ENUM_
        NB_ERR__LAST
} nb_err_t;

/** A static, human-readable message for err (never NULL, never contains input data). */
const char *nb_strerror(int err);
/** The symbolic name of err, e.g. "EHEX" (never NULL). */
const char *nb_err_name(int err);

#endif
