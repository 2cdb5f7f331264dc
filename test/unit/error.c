/* SPDX-License-Identifier: MIT */
/* nipc_strerror and nipc_err_name for nipc's own codes and libuv's, and the version calls. */
#include "core/core.h"

#include <criterion/criterion.h>

#include <string.h>

#define CODE_ENTRY(name, off, msg) {NIPC_##name, "NIPC_" #name, msg},
static const struct {
    int code;
    const char *name;
    const char *msg;
} codes[] = {NIPC_ERRNO_MAP(CODE_ENTRY)};
#undef CODE_ENTRY

#define NCODES (sizeof codes / sizeof codes[0])

Test(error, every_nipc_code_has_its_name_and_message, .timeout = 10)
{
    cr_assert_geq(NCODES, 5);
    for (size_t i = 0; i < NCODES; i++) {
        const char *name = nipc_err_name(codes[i].code);
        const char *msg = nipc_strerror(codes[i].code);
        cr_assert_not_null(name);
        cr_assert_not_null(msg);
        cr_assert_str_eq(name, codes[i].name);
        cr_assert_eq(strncmp(name, "NIPC_E", 6), 0, "%s", name);
        cr_assert_str_eq(msg, codes[i].msg);
        cr_assert_gt(strlen(msg), 0);
        /* libuv's fallback text would mean the table was not consulted. */
        cr_assert_null(strstr(msg, "nknown"), "%s: %s", name, msg);
    }
}

Test(error, names_and_messages_are_distinct, .timeout = 10)
{
    for (size_t i = 0; i < NCODES; i++) {
        for (size_t j = i + 1; j < NCODES; j++) {
            cr_assert_neq(codes[i].code, codes[j].code);
            cr_assert_str_neq(nipc_err_name(codes[i].code), nipc_err_name(codes[j].code));
            cr_assert_str_neq(nipc_strerror(codes[i].code), nipc_strerror(codes[j].code));
        }
    }
}

Test(error, the_named_codes_exist, .timeout = 10)
{
    static const int wanted[] = {NIPC_EBADTYPE,     NIPC_ERESERVED,      NIPC_EQUEUEFULL,
                                 NIPC_EDESTROYED,   NIPC_EDELIM,         NIPC_ETLS,
                                 NIPC_ECERTEXPIRED, NIPC_ECERTUNTRUSTED, NIPC_ECERTNAME,
                                 NIPC_ECERTINVALID, NIPC_ETLSVERSION,    NIPC_ENOPEERCERT};
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        cr_assert_lt(wanted[i], 0);
        cr_assert_eq(strncmp(nipc_err_name(wanted[i]), "NIPC_E", 6), 0);
    }
}

/* What libuv has a code for is libuv's code: callers test one value, not two. */
Test(error, conditions_libuv_names_use_libuv_codes, .timeout = 10)
{
    static const int shared[] = {UV_EPROTO, UV_EMSGSIZE, UV_ENOTCONN, UV_ENOTSUP};
    static const char *const names[] = {"EPROTO", "EMSGSIZE", "ENOTCONN", "ENOTSUP"};
    for (size_t i = 0; i < sizeof shared / sizeof shared[0]; i++)
        cr_assert_str_eq(nipc_err_name(shared[i]), names[i]);
    for (size_t i = 0; i < NCODES; i++)
        for (size_t j = 0; j < sizeof names / sizeof names[0]; j++)
            cr_assert_str_neq(codes[i].name + 5, names[j], "%s shadows libuv's", codes[i].name);
}

Test(error, nipc_codes_never_collide_with_libuv, .timeout = 10)
{
    /* libuv's codes are negated errno values (well above -30000) or its own UV__EOF range. */
    static const int uv[] = {UV_ECONNREFUSED, UV_EINVAL,     UV_ENOMEM,   UV_ENOENT,
                             UV_EPIPE,        UV_EADDRINUSE, UV_EALREADY, UV_EOF,
                             UV_ENAMETOOLONG, UV_EAI_NONAME, UV_ECHARSET, UV_E2BIG,
                             UV_EFTYPE};
    for (size_t i = 0; i < sizeof uv / sizeof uv[0]; i++) {
        for (size_t j = 0; j < NCODES; j++)
            cr_assert_neq(uv[i], codes[j].code);
        cr_assert_eq(strncmp(nipc_err_name(uv[i]), "NIPC_", 5) != 0, true);
    }
    for (size_t j = 0; j < NCODES; j++)
        cr_assert_lt(codes[j].code, NIPC__ERR_BASE);
}

Test(error, libuv_codes_pass_through, .timeout = 10)
{
    cr_assert_str_eq(nipc_err_name(UV_ECONNREFUSED), "ECONNREFUSED");
    cr_assert_str_eq(nipc_strerror(UV_ECONNREFUSED), uv_strerror(UV_ECONNREFUSED));
    cr_assert_str_eq(nipc_err_name(UV_EINVAL), "EINVAL");
    cr_assert_str_eq(nipc_err_name(UV_ENAMETOOLONG), "ENAMETOOLONG");
    cr_assert_str_eq(nipc_strerror(UV_ENOMEM), uv_strerror(UV_ENOMEM));
}

/*
 * A code neither nipc nor libuv knows still gives text, and asking must not cost memory:
 * libuv's uv_err_name()/uv_strerror() return a fresh heap string for unknown codes that is
 * never freed, so passing them through leaks on every call (LeakSanitizer reports it).
 */
Test(error, unknown_codes_give_text_without_leaking, .timeout = 10)
{
    cr_assert_not_null(nipc_err_name(-29999));
    cr_assert_not_null(nipc_strerror(-29999));
    cr_assert_not_null(nipc_err_name(NIPC__ERR_BASE - 50));
    cr_assert_not_null(nipc_strerror(NIPC__ERR_BASE - 50));
    cr_assert_not_null(nipc_strerror(0));
}

Test(error, version_matches_the_header, .timeout = 10)
{
    cr_assert_str_eq(nipc_version_string(), NIPC_VERSION_STRING);
    cr_assert_eq(nipc_version(), NIPC_VERSION_HEX);
}
