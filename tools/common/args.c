/* SPDX-License-Identifier: MIT */
/* Command-line value checks shared by tools/nipc and examples/ (args.h). */
#include "args.h"

#include <errno.h>
#include <stdio.h>
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
