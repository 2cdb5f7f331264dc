/* SPDX-License-Identifier: MIT */
/*
 * Checks of command-line values that the nipc tool and the examples (hello, world,
 * cluster) share: strict numbers and readable files. No state; public API only.
 */
#ifndef NIPC_TOOLS_ARGS_H
#define NIPC_TOOLS_ARGS_H

#include <stdbool.h>

/* A decimal number from min to max written with digits only (no sign, space or exponent,
 * so "1e3" or "8050x" is refused): sets *out and returns true, or returns false. */
bool args_number(const char *s, unsigned long long min, unsigned long long max,
                 unsigned long long *out);

/* A decimal number from min to max written as digits with at most one '.' between digits
 * ("2", "1.5", "0.25"; not ".5", "1.", "1e3", "-1" or "inf"): sets *out and returns true, or
 * returns false. */
bool args_decimal(const char *s, double min, double max, double *out);

/* Why the file at path cannot be a PEM file (strerror's text, or "the file is empty"), or
 * NULL when it can be read and is not empty. Reading one byte also tells a directory
 * (EISDIR) from a file. */
const char *args_unreadable(const char *path);

#endif /* NIPC_TOOLS_ARGS_H */
