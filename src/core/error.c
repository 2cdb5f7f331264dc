/* SPDX-License-Identifier: MIT */
/*
 * Names and messages for every code nipc returns, from the one table in nipc/errno.h, and
 * libuv's for the rest. (libuv's string functions are pure; they are the only uv_* calls in
 * the core.) For a code libuv does not know, uv_strerror() returns a fresh allocation that
 * nobody frees, so unknown codes are answered here.
 */
#include "core.h"

#include <string.h>

static bool uv_knows(int err)
{
    char buf[64];
    uv_err_name_r(err, buf, sizeof buf);
    return strncmp(buf, "Unknown system error", 20) != 0;
}

const char *nipc_strerror(int err)
{
    switch (err) {
#define NIPC__ERR_MSG(name, off, msg)                                                              \
    case NIPC_##name:                                                                              \
        return msg;
        NIPC_ERRNO_MAP(NIPC__ERR_MSG)
#undef NIPC__ERR_MSG
    default:
        return uv_knows(err) ? uv_strerror(err) : "unknown error";
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
        return uv_knows(err) ? uv_err_name(err) : "UNKNOWN";
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
