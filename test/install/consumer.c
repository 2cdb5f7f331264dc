/* SPDX-License-Identifier: MIT */
/* Out-of-tree consumer: proves an installed nipc can be found, compiled and linked. */
/* <uv.h>, which nipc.h includes, needs POSIX types that strict ISO C (-std=c11) hides. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>

#include <nipc.h>

int main(void)
{
    printf("nipc %s\n", nipc_version_string());
    printf("NIPC_EQUEUEFULL: %s\n", nipc_strerror(NIPC_EQUEUEFULL));
    return 0;
}
