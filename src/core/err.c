#include "bridge/err.h"

const char *nb_strerror(int err)
{
    switch (err) {
    case NB_OK:
        return "success";
#define NB_ERR_MSG_(name, msg)                                                                               \
    case NB_##name:                                                                                          \
        return msg;
        NB_ERR_MAP(NB_ERR_MSG_)
#undef NB_ERR_MSG_
    default:
        return "unknown error";
    }
}

const char *nb_err_name(int err)
{
    switch (err) {
    case NB_OK:
        return "OK";
#define NB_ERR_NAME_(name, msg)                                                                              \
    case NB_##name:                                                                                          \
        return #name;
        NB_ERR_MAP(NB_ERR_NAME_)
#undef NB_ERR_NAME_
    default:
        return "EUNKNOWN";
    }
}
