/* SPDX-License-Identifier: MIT */
/* Names and messages for every code nipc returns, from the one table in nipc/errno.h. */
#include "core.h"

const char *nipc_strerror(int err)
{
    switch (err) {
#define NIPC__ERR_MSG(name, off, msg)                                                              \
    case NIPC_##name:                                                                              \
        return msg;
        NIPC_ERRNO_MAP(NIPC__ERR_MSG)
#undef NIPC__ERR_MSG
    default:
        return uv_strerror(err);
    }
}

const char *nipc_err_name(int err)
{
    switch (err) {
#define NIPC__ERR_NAME(name, off, msg)                                                             \
    case NIPC_##name:                                                                              \
        return "NIPC_" #name;
        NIPC_ERRNO_MAP(NIPC__ERR_NAME)
#undef NIPC__ERR_NAME
    default:
        return uv_err_name(err);
    }
}

const char *nipc_version_string(void)
{
    return NIPC_VERSION_STRING;
}

unsigned nipc_version(void)
{
    return NIPC_VERSION_HEX;
}
