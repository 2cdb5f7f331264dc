/* SPDX-License-Identifier: MIT */
/*
 * gen_errors: writes docs/errors.md, every error code nipc returns, from the tables the
 * library answers with: nipc's own codes from NIPC_ERRNO_MAP (include/nipc/errno.h), which
 * nipc_strerror() and nipc_err_name() are built from, and libuv's codes that the contracts of
 * include/nipc.h name, looked up in libuv's UV_ERRNO_MAP. Names and messages are the
 * library's own answers (nipc_err_name(), nipc_strerror()), never copied text.
 *
 *   gen_errors SOURCE_DIR            print the page
 *   gen_errors SOURCE_DIR --write    rewrite SOURCE_DIR/docs/errors.md
 *   gen_errors SOURCE_DIR --check    exit 1 when SOURCE_DIR/docs/errors.md differs (ctest
 *                                    docs_errors)
 *
 * Besides the tables it reads two texts: each nipc code's reason, from the "- NAME: ..."
 * list in errno.h's comment (a code without one is an error: errno.h promises the reason
 * each exists), and, for every code, the declarations of nipc.h whose comments name it. A
 * UV_E* name in nipc.h that libuv does not define is an error too.
 */
#include <nipc.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DECLS 256
#define MAX_LINE 1024

typedef struct code {
    const char *name; /* as written in C: NIPC_EQUEUEFULL, UV_EINVAL */
    int value;
    const char *key; /* nipc's: the name in errno.h's list of reasons (EQUEUEFULL) */
    char why[1024];  /* nipc's: that reason */
    bool named;      /* libuv's: nipc.h or errno.h's prose names it */
    bool in_errno;   /* errno.h's prose, outside the list of reasons, names it */
    bool used[MAX_DECLS];
} code_t;

static code_t codes[] = {
#define NIPC_CODE(name, off, msg) {"NIPC_" #name, NIPC_##name, #name, "", false, false, {false}},
    NIPC_ERRNO_MAP(NIPC_CODE)
#undef NIPC_CODE
#define UV_CODE(name, msg) {"UV_" #name, UV_##name, NULL, "", false, false, {false}},
        UV_ERRNO_MAP(UV_CODE)
#undef UV_CODE
};
#define NCODES (sizeof codes / sizeof codes[0])

/* The declarations of nipc.h in header order: functions and typedefs. */
static char decls[MAX_DECLS][64];
static size_t ndecls;

NIPC_PRINTF(1, 2) static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gen_errors: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static code_t *find_code(const char *name, size_t n)
{
    for (size_t i = 0; i < NCODES; i++)
        if (strlen(codes[i].name) == n && strncmp(codes[i].name, name, n) == 0)
            return &codes[i];
    return NULL;
}

static void copy_ident(char *dst, size_t cap, const char *p, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, p, n);
    dst[n] = '\0';
}

/* The identifier that ends just before `end` (after skipping blanks and `*`). */
static void ident_before(const char *start, const char *end, char *dst, size_t cap)
{
    while (end > start && !ident_char(end[-1]))
        end--;
    const char *b = end;
    while (b > start && ident_char(b[-1]))
        b--;
    copy_ident(dst, cap, b, (size_t)(end - b));
}

/*
 * The codes a line names, into `pending`. A name followed by `*` (UV_E*, NIPC_E*) is a
 * pattern, not a code; NIPC_ names that are no code (NIPC_EXTERN, NIPC_EVENT_ANY) are other
 * macros; a UV_E name that libuv lacks is a mistake in the header.
 */
static int scan_codes(const char *line, bool *pending)
{
    for (const char *p = line; *p; p++) {
        bool uv = strncmp(p, "UV_E", 4) == 0, nipc = strncmp(p, "NIPC_E", 6) == 0;
        /* "NIPC_EQUEUEFULL" in quotes is a name given as an example, not a code named. */
        if ((!uv && !nipc) || (p > line && (ident_char(p[-1]) || p[-1] == '"')))
            continue;
        size_t n = 0;
        while (ident_char(p[n]))
            n++;
        code_t *c = find_code(p, n);
        if (c == NULL && uv && p[n] != '*') {
            char name[64];
            copy_ident(name, sizeof name, p, n);
            return fail("include/nipc.h names %s, which libuv does not define", name);
        }
        if (c != NULL)
            pending[c - codes] = true;
        p += n - 1;
    }
    return 0;
}

/*
 * A declaration after a comment: the comment's codes are named at the first declaration it
 * documents and at that one's variants (nipc_server_emit_new, nipc_server_emitf), never at
 * the undocumented accessors that follow in the same run (nipc_loop after nipc_stop).
 */
static int add_decl(const char *name, const bool *pending, char *first, size_t cap)
{
    if (ndecls == MAX_DECLS)
        return fail("more than %d declarations in include/nipc.h", MAX_DECLS);
    size_t d = ndecls++;
    snprintf(decls[d], sizeof decls[d], "%s", name);
    if (first[0] == '\0')
        snprintf(first, cap, "%s", name);
    else if (strncmp(name, first, strlen(first)) != 0)
        return 0;
    for (size_t i = 0; i < NCODES; i++)
        if (pending[i]) {
            codes[i].used[d] = true;
            codes[i].named = true;
        }
    return 0;
}

static int braces(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '{' ? 1 : *s == '}' ? -1 : 0;
    return n;
}

/*
 * Which declarations name which codes. A comment names codes for the declarations that follow
 * it (see add_decl), up to the next comment after a declaration, a section marker or a
 * preprocessor line; the comments inside a struct name codes for the struct's typedef name.
 * A macro (#define NIPC_UDP_MAX_FRAME) is a declaration too.
 */
static int read_header(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return fail("cannot read %s", path);
    char line[MAX_LINE], name[64], first[64] = "";
    bool pending[NCODES] = {false};
    bool after_decl = false;
    int depth = 0, err = 0;
    while (err == 0 && fgets(line, sizeof line, f) != NULL) {
        const char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        bool define = depth == 0 && strncmp(s, "#define NIPC_", 13) == 0;
        if (depth == 0 && (strncmp(s, "/* ----", 7) == 0 || (s[0] == '#' && !define) ||
                           (strncmp(s, "/*", 2) == 0 && after_decl))) {
            memset(pending, 0, sizeof pending);
            first[0] = '\0';
            after_decl = false;
        }
        if ((err = scan_codes(s, pending)) != 0)
            break;
        if (define) {
            const char *e = s + 8;
            while (ident_char(*e))
                e++;
            ident_before(s, e, name, sizeof name);
            err = add_decl(name, pending, first, sizeof first);
            after_decl = true;
        } else if (depth > 0) {
            depth += braces(s);
            if (depth == 0) { /* "} name;" */
                ident_before(s, strchr(s, ';') ? strchr(s, ';') : s + strlen(s), name, sizeof name);
                err = add_decl(name, pending, first, sizeof first);
                after_decl = true;
            }
        } else if (strncmp(s, "NIPC_EXTERN ", 12) == 0 && strchr(s, '(') != NULL) {
            ident_before(s, strchr(s, '('), name, sizeof name);
            err = add_decl(name, pending, first, sizeof first);
            after_decl = true;
        } else if (strncmp(s, "typedef ", 8) == 0) {
            if (strchr(s, '{') != NULL && (depth = braces(s)) > 0)
                continue;
            const char *fn = strstr(s, "(*");
            if (fn != NULL) {
                const char *e = fn + 2;
                while (ident_char(*e))
                    e++;
                ident_before(fn, e, name, sizeof name);
            } else {
                ident_before(s, strchr(s, ';') ? strchr(s, ';') : s + strlen(s), name, sizeof name);
            }
            err = add_decl(name, pending, first, sizeof first);
            after_decl = true;
        }
    }
    fclose(f);
    return err;
}

/* Appends one line of a reason, without the comment's " *" and indentation. */
static void append_why(code_t *c, const char *text)
{
    size_t len = strlen(c->why);
    snprintf(c->why + len, sizeof c->why - len, "%s%s", len > 0 ? " " : "", text);
}

/* The "- NAME: reason" list of errno.h's comment, continuation lines indented further. */
static int read_reasons(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return fail("cannot read %s", path);
    char line[MAX_LINE];
    code_t *cur = NULL;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        const char *s = line;
        while (*s == ' ')
            s++;
        if (strncmp(s, "*", 1) != 0 || strncmp(s, "*/", 2) == 0) {
            cur = NULL;
            continue;
        }
        s++;
        size_t indent = strspn(s, " ");
        s += indent;
        if (strncmp(s, "- ", 2) == 0) {
            const char *colon = strchr(s, ':');
            cur = NULL;
            for (size_t i = 0; colon != NULL && i < NCODES; i++) {
                const char *key = codes[i].key;
                if (key != NULL && (size_t)(colon - s - 2) == strlen(key) &&
                    strncmp(s + 2, key, strlen(key)) == 0)
                    cur = &codes[i];
            }
            if (cur != NULL)
                append_why(cur, colon + 2);
        } else if (cur != NULL && indent >= 3 && *s != '\0') {
            append_why(cur, s);
        } else {
            /* Prose outside the reasons: the libuv codes it names are nipc's too (a
             * protocol error is UV_EPROTO); the reasons name codes nipc does not use. */
            cur = NULL;
            bool named[NCODES] = {false};
            if (scan_codes(s, named) != 0) {
                fclose(f);
                return 1;
            }
            for (size_t i = 0; i < NCODES; i++)
                if (named[i] && codes[i].key == NULL)
                    codes[i].named = codes[i].in_errno = true;
        }
    }
    fclose(f);
    for (size_t i = 0; i < NCODES; i++) {
        code_t *c = &codes[i];
        size_t len = strlen(c->why);
        while (len > 0 &&
               (c->why[len - 1] == ';' || c->why[len - 1] == '.' || c->why[len - 1] == ' '))
            c->why[--len] = '\0';
        if (c->key != NULL && len == 0)
            return fail("include/nipc/errno.h gives no reason (\"- %s: ...\") for its code",
                        c->key);
    }
    return 0;
}

static void print_uses(FILE *out, const code_t *c)
{
    bool first = true;
    for (size_t d = 0; d < ndecls; d++) {
        if (!c->used[d])
            continue;
        fprintf(out, "%s`%s`", first ? "" : ", ", decls[d]);
        first = false;
    }
    if (c->in_errno) {
        fprintf(out, "%s`nipc/errno.h`", first ? "" : ", ");
        first = false;
    }
    if (first)
        fputs("-", out);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const code_t *)a)->name, ((const code_t *)b)->name);
}

static int write_page(FILE *out)
{
    size_t nnipc = 0;
    while (nnipc < NCODES && codes[nnipc].key != NULL)
        nnipc++;
    for (size_t i = 0; i < NCODES; i++) {
        const char *name = nipc_err_name(codes[i].value);
        const char *want = codes[i].key != NULL ? codes[i].name : codes[i].name + 3;
        if (strcmp(name, want) != 0)
            return fail("nipc_err_name() does not answer %s with its table name", codes[i].name);
    }
    qsort(codes + nnipc, NCODES - nnipc, sizeof codes[0], by_name);

    fputs("# Error codes\n\n"
          "<!-- Generated by test/docs/gen_errors.c; do not edit. Regenerate with\n"
          "     `cmake --build build --target errors_md`; ctest docs_errors checks it. -->\n\n"
          "Every nipc function returns 0 or a negative code, and `error` and `drop` events "
          "carry one\nin `status`. libuv's codes (`UV_E*`) pass through unchanged; nipc's own "
          "(`NIPC_E*`) sit in\na range below libuv's, so the two never collide. "
          "`nipc_strerror()` gives the message and\n`nipc_err_name()` the name of any of "
          "them (for a code neither knows: `\"unknown error\"`\nand `\"UNKNOWN\"`); the "
          "tables below are their answers. \"Named at\" lists the declarations of\n"
          "[`include/nipc.h`](../include/nipc.h) whose contracts name the code (a function, "
          "its `_new`\nand `f` variants, a struct whose keys or fields do); others return "
          "it as \"the codes of\"\none of them, and [api/](api/README.md) says when each "
          "function returns what.\n\n"
          "## nipc's own codes\n\n"
          "From the one table of [`include/nipc/errno.h`](../include/nipc/errno.h) "
          "(`NIPC_ERRNO_MAP`),\nwith the reason each exists. Their values are the same on "
          "every platform, and an offset\nis never reused.\n\n"
          "| code | value | message | why it exists | named at |\n"
          "| --- | --- | --- | --- | --- |\n",
          out);
    for (size_t i = 0; i < nnipc; i++) {
        const code_t *c = &codes[i];
        fprintf(out, "| `%s` | %d | %s | %s | ", c->name, c->value, nipc_strerror(c->value),
                c->why);
        print_uses(out, c);
        fputs(" |\n", out);
    }
    fputs("\n## libuv's codes that nipc returns\n\n"
          "The libuv codes that nipc's contracts name, and those that `nipc/errno.h` says "
          "nipc uses\nin place of a code of its own. Their values are the system's `errno` "
          "values, negated,\nand differ between platforms: compare with the `UV_E*` constants, "
          "never with numbers.\nOther codes of the system's pass through as the system "
          "reported them, in the returns and\n`error` events of a bind, connect, read or "
          "write that failed (`UV_EADDRNOTAVAIL`,\n`UV_EHOSTUNREACH`, `UV_EPIPE`, ...).\n\n"
          "| code | name | message | named at |\n"
          "| --- | --- | --- | --- |\n",
          out);
    for (size_t i = nnipc; i < NCODES; i++) {
        const code_t *c = &codes[i];
        if (!c->named)
            continue;
        fprintf(out, "| `%s` | %s | %s | ", c->name, nipc_err_name(c->value),
                nipc_strerror(c->value));
        print_uses(out, c);
        fputs(" |\n", out);
    }
    return ferror(out) ? fail("%s", "cannot write the page") : 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (bigger == NULL)
                free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

/* The first line where the two texts differ, counted from 1. */
static size_t first_difference(const char *a, size_t na, const char *b, size_t nb)
{
    size_t line = 1;
    for (size_t i = 0; i < na && i < nb && a[i] == b[i]; i++)
        line += a[i] == '\n';
    return line;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 ||
        (argc == 3 && strcmp(argv[2], "--write") != 0 && strcmp(argv[2], "--check") != 0)) {
        fprintf(stderr, "usage: gen_errors SOURCE_DIR [--write | --check]\n");
        return 2;
    }
    const char *root = argv[1], *mode = argc == 3 ? argv[2] : "";
    char header[4096], errno_h[4096], page[4096];
    snprintf(header, sizeof header, "%s/include/nipc.h", root);
    snprintf(errno_h, sizeof errno_h, "%s/include/nipc/errno.h", root);
    snprintf(page, sizeof page, "%s/docs/errors.md", root);
    if (read_header(header) != 0 || read_reasons(errno_h) != 0)
        return 1;

    if (strcmp(mode, "") == 0)
        return write_page(stdout);
    if (strcmp(mode, "--write") == 0) {
        FILE *out = fopen(page, "w");
        if (out == NULL)
            return fail("cannot write %s", page);
        int err = write_page(out);
        return fclose(out) != 0 || err ? 1 : 0;
    }

    char *made = NULL;
    size_t nmade = 0, nold = 0;
    FILE *mem = open_memstream(&made, &nmade);
    if (mem == NULL || write_page(mem) != 0 || fclose(mem) != 0)
        return fail("%s", "cannot make the page in memory");
    char *old = slurp(page, &nold);
    int differs = old == NULL || nold != nmade || memcmp(old, made, nmade) != 0;
    if (differs) {
        if (old == NULL)
            fprintf(stderr, "gen_errors: %s is missing\n", page);
        else
            fprintf(stderr, "gen_errors: %s differs from the error tables at line %zu\n", page,
                    first_difference(old, nold, made, nmade));
        fprintf(stderr, "gen_errors: regenerate it with `cmake --build build --target "
                        "errors_md` and commit it\n");
    }
    free(old);
    free(made);
    return differs;
}
