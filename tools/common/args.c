/* SPDX-License-Identifier: MIT */
/* Command-line value checks shared by tools/nipc and examples/ (args.h). */
#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool args_number(const char *s, unsigned long long min, unsigned long long max,
                 unsigned long long *out)
{
    unsigned long long v = 0;
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (d > max || v > (max - d) / 10) /* checked before each digit: v never overflows */
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return v >= min;
}

bool args_decimal(const char *s, double min, double max, double *out)
{
    /* Checked by hand, then read by strtod(): strtod alone takes hex, exponents, "inf",
     * signs and leading spaces. */
    size_t i = 0, digits = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (digits == 0)
        return false;
    if (s[i] == '.') {
        size_t frac = 0;
        for (i++; s[i] >= '0' && s[i] <= '9'; i++)
            frac++;
        if (frac == 0)
            return false;
    }
    if (s[i] != '\0' || i > 64)
        return false;
    double v = strtod(s, NULL);
    if (!(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

const char *args_unreadable(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return strerror(errno);
    int c = getc(f), err = errno;
    bool failed = c == EOF && ferror(f);
    fclose(f);
    if (failed)
        return strerror(err);
    return c == EOF ? "the file is empty" : NULL;
}
