/* SPDX-License-Identifier: MIT */
/*
 * The pure core: byte buffers, the frame splitter, the message codec, config copies, the
 * handler table, errors and log rendering. Nothing here performs I/O or calls uv_*, so all
 * of it is unit-tested and fuzzed without a socket.
 */
#ifndef NIPC_CORE_H
#define NIPC_CORE_H

#include "nipc.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* ---- alloc.c: every allocation of the library goes through here ------------------------ */

void *nipc__malloc(size_t n);
void *nipc__calloc(size_t count, size_t size); /* overflow-checked */
void *nipc__realloc(void *p, size_t n);
void nipc__free(void *p);
char *nipc__strdup(const char *s); /* NULL stays NULL */
char *nipc__strndup(const char *s, size_t n);
/* Tests only: makes the n-th allocation from now fail (0 turns it off). */
void nipc__test_fail_alloc_after(unsigned long n);
/* Tests only: the same for `count` allocations in a row from the n-th on (a longer
 * shortage of memory). */
void nipc__test_fail_allocs(unsigned long n, unsigned long count);
/* Tests only: whether that allocation came, and failed, since the countdown was last set. */
bool nipc__test_alloc_failed(void);
/* Tests only: the allocations counted down so far in this process (a sweep's profile),
 * counted from the first call of any of these hooks: until then nothing is counted. */
unsigned long nipc__test_allocs(void);
/*
 * Tests only: counts one allocation down as nipc's own allocator does, and says whether it
 * is the one that must fail. A test's allocator for a third-party library (OpenSSL's, set
 * with CRYPTO_set_mem_functions) calls it so that its allocations share the countdown.
 */
bool nipc__test_alloc_should_fail(void);
/*
 * Tests only: while counting is on, nipc__live_blocks() is the number of blocks allocated
 * through here (jansson's included) and not yet freed, counted from when it was turned on.
 * A test compares it before and after a hostile peer: memory returns to its level.
 */
void nipc__test_count_blocks(bool on);
long nipc__test_live_blocks(void);

/* ---- buf.c: a growable byte buffer with a consumed prefix ------------------------------ */

/*
 * A large string queued where it is instead of copied (a `_new` emit's: nipc__msg_encode_new):
 * its bytes go before byte `at` of the buffer's own bytes (an offset like off and len), and a
 * reference to it is held until it is written or dropped. p and n are what is left of it to
 * write. The string holds nothing to escape and no delimiter, so a frame's end is always in
 * the buffer's own bytes.
 */
typedef struct nipc_span {
    size_t at;
    json_t *str;
    const char *p;
    size_t n;
} nipc_span_t;

/* A buffer's spans, v[head, n) still queued, in order of `at`; bytes is the sum of their n. */
typedef struct nipc_spans {
    size_t head;
    size_t n;
    size_t cap;
    size_t bytes;
    nipc_span_t v[];
} nipc_spans_t;

/*
 * Bytes live in data[off, len); data[0, off) is already consumed and is dropped by
 * nipc__buf_compact(). cap is the allocated size. An output queue may also hold spans (NULL
 * until its first): the strings referred to between its bytes, which buf.c alone adds and
 * releases (nipc__buf_reset, nipc__buf_free and nipc__buf_drop release their references).
 */
typedef struct nipc_buf {
    char *data;
    size_t off;
    size_t len;
    size_t cap;
    nipc_spans_t *spans;
} nipc_buf_t;

void nipc__buf_init(nipc_buf_t *b);
void nipc__buf_free(nipc_buf_t *b);
void nipc__buf_reset(nipc_buf_t *b); /* empties, keeps the memory */
/*
 * Makes room for `extra` more bytes after len. Offsets stay valid: bytes never move within
 * the buffer (only nipc__buf_compact() moves them). 0 or UV_ENOMEM.
 */
int nipc__buf_reserve(nipc_buf_t *b, size_t extra);
int nipc__buf_append_slow(nipc_buf_t *b, const void *p, size_t n);
/* Appends n bytes; inline when they fit, as they do for nearly every small append. */
static inline int nipc__buf_append(nipc_buf_t *b, const void *p, size_t n)
{
    if (n <= b->cap - b->len && n > 0) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
    }
    return nipc__buf_append_slow(b, p, n);
}
/* Moves the unconsumed bytes to the front. */
void nipc__buf_compact(nipc_buf_t *b);
/* The buffer's own unconsumed bytes (its spans' not counted). */
static inline size_t nipc__buf_size(const nipc_buf_t *b)
{
    return b->len - b->off;
}
/* Everything queued: its own bytes and its spans'. */
static inline size_t nipc__buf_queued(const nipc_buf_t *b)
{
    return b->len - b->off + (b->spans != NULL ? b->spans->bytes : 0);
}
/* Whether it holds a span still queued. */
static inline bool nipc__buf_has_spans(const nipc_buf_t *b)
{
    return b->spans != NULL && b->spans->head < b->spans->n;
}
/* Queues the string str (n bytes at p, its text) at the end, by reference, with a reference
 * of its own: 0 or UV_ENOMEM. */
int nipc__buf_refer(nipc_buf_t *b, json_t *str, const char *p, size_t n);
/* Cuts the buffer back to `mark` bytes of its own, releasing the spans after them. */
void nipc__buf_truncate(nipc_buf_t *b, size_t mark);
/* Consumes the first n queued bytes (written), its own and its spans' in their order; spans
 * written whole are released. */
void nipc__buf_drop(nipc_buf_t *b, size_t n);
/* Appends everything queued in src; with `refer` its spans are referred to again (a reference
 * each), otherwise copied. 0, or UV_ENOMEM with b as it was. */
int nipc__buf_append_queue(nipc_buf_t *b, const nipc_buf_t *src, bool refer);
static inline void nipc__buf_swap(nipc_buf_t *a, nipc_buf_t *b)
{
    nipc_buf_t t = *a;
    *a = *b;
    *b = t;
}

/* ---- frame.c: the delimiter scanner ---------------------------------------------------- */

/*
 * Splits a byte stream on a delimiter of any length (W8, W9, W15). The scanner remembers
 * how far it has looked, so bytes are examined once however the stream is split (no
 * rescan), and a delimiter split across two reads is still found.
 */
typedef struct nipc_frame {
    const char *delim;
    size_t dlen;
    size_t scanned; /* bytes after the current frame start already known to hold no delimiter */
} nipc_frame_t;

void nipc__frame_init(nipc_frame_t *f, const char *delim, size_t dlen);

/*
 * Looks for the end of the frame that starts at p[0] in the n available bytes. Returns true
 * and sets *frame_len (delimiter excluded) when a delimiter is found; the caller then
 * consumes frame_len + dlen bytes. Returns false when more bytes are needed; the next call
 * must pass the same start with at least as many bytes.
 */
bool nipc__frame_next(nipc_frame_t *f, const char *p, size_t n, size_t *frame_len);

/* Bytes of the pending frame examined so far (the size check uses it). */
static inline size_t nipc__frame_pending(const nipc_frame_t *f)
{
    return f->scanned;
}

/* ---- json_write.c, message.c, envelope.c: the JSON envelope ---------------------------- */

/* json_write.c: the writer. */

/*
 * Appends the frame {"type":<type>,"data":<data>}<delim> to `out`, byte-identical to
 * node-ipc's JSON.stringify (W1-W6b). data NULL is sent as {} (W3); with `legacy`, null,
 * "" and objects with a truthy _maxListeners are also sent as {} (W4). It never writes a
 * frame a nipc receiver would refuse. On error the bytes of `out` are left as they were.
 * Returns 0, NIPC_EDELIM (the frame's text contains the delimiter, which would split it at
 * the receiver), UV_ENOMEM, or UV_EINVAL for:
 *  - type NULL, or a name that crashes legacy receivers (W13);
 *  - the type, a string or an object key of data that is not valid UTF-8 (jansson builds
 *    such strings with json_stringn_nocheck and json_object_setn_nocheck);
 *  - an object key holding NUL (json_object_setn makes one; jansson's parser refuses it);
 *  - data nested past what jansson's parser takes in a frame: 2047 levels, data the first.
 */
int nipc__msg_encode_ref(nipc_buf_t *out, const char *type, const json_t *data, bool legacy,
                         const char *delim, size_t dlen, bool refer);
static inline int nipc__msg_encode(nipc_buf_t *out, const char *type, const json_t *data,
                                   bool legacy, const char *delim, size_t dlen)
{
    return nipc__msg_encode_ref(out, type, data, legacy, delim, dlen, false);
}
/*
 * A string of data at least this long, with nothing to escape, is not copied by
 * nipc__msg_encode_new(): the frame refers to it (a span of `out`) until it is written.
 */
#define NIPC__SPAN_MIN ((size_t)64 * 1024)
/*
 * nipc__msg_encode() for data whose reference the caller handed over (a `_new` emit): the
 * same bytes, but each string of data of NIPC__SPAN_MIN bytes or more that needs no escape is
 * queued by reference (nipc__buf_refer), when the delimiter starts with a control byte (the
 * default "\f"): no such delimiter can occur in a string that needs no escape.
 * nipc__msg_encode_ref() is either, as `refer` says.
 */
static inline int nipc__msg_encode_new(nipc_buf_t *out, const char *type, const json_t *data,
                                       bool legacy, const char *delim, size_t dlen)
{
    return nipc__msg_encode_ref(out, type, data, legacy, delim, dlen, true);
}
/* JavaScript truthiness of a JSON value (what W4 tests _maxListeners with). */
bool nipc__js_truthy(const json_t *v);
/* A name of an Object.prototype member, which a legacy v10 receiver crashes on (W13): never
 * sent. */
bool nipc__type_crashes_legacy(const char *type);

/*
 * Appends one JSON value in JavaScript's JSON.stringify form. Refuses (UV_EINVAL, `out` as
 * it was) what nipc__msg_encode refuses in data, here with 2048 levels of nesting allowed.
 */
int nipc__json_write(nipc_buf_t *out, const json_t *v);
/*
 * number.c: a double as JavaScript's Number.prototype.toString writes it ("null" for NaN and
 * the infinities, as JSON.stringify does, and "0" for -0), at most 25 bytes. Like snprintf,
 * it writes at most cap - 1 of them and a NUL (when cap > 0), and returns the full length.
 */
size_t nipc__js_number(char *dst, size_t cap, double d);
/* 10^k for k in [0, 19], every power of ten a uint64_t holds. */
extern const uint64_t nipc__pow10_u64[20];
/* An integer's decimal digits at dst (at most 20 bytes, no NUL); returns how many. */
size_t nipc__js_integer(char *dst, long long v);
/* The double nearest w * 10^q, ties to even, with w below 10^19 (a decimal of at most 19
 * significant digits), as a correctly rounded strtod reads it. false when it overflows. */
bool nipc__decimal_to_double(uint64_t w, int q, bool negative, double *out);

/*
 * message.c: the decoder, which tries the fast envelope parser (envelope.c) first and falls
 * back on its general path (jansson's parser).
 *
 * The result of decoding one frame. On success type points into `decoded` (which owns it)
 * and data is borrowed from it (NULL when the frame has no data key). On failure err is the
 * code and `decoded` is node-ipc's error payload {message, err, response}.
 */
typedef struct nipc_msg {
    const char *type;
    json_t *data;
    json_t *decoded;
    size_t type_len; /* bytes */
    int err;
    unsigned hints;    /* NIPC_HINT_*: what data may hold */
    char type_buf[64]; /* the fast path's copy of a short type */
} nipc_msg_t;

/*
 * What a decoded frame's data may hold, so that the checks that cost a lookup are made only
 * when they can succeed: a hint that is off is certain, one that is on a maybe.
 *  - NIPC_HINT_REQUEST: a request's envelope, {"$req":...} (request.c). The fast path tells
 *    by its first bytes (by the tree when the first key starts with '$' or an escape).
 *  - NIPC_HINT_ID: an "id" member that may name a server's socket (S9), in data or, with
 *    NIPC_HINT_REQUEST, in a request's payload. The fast path tells by data's own keys.
 * The general path and a caller's codec say maybe to both for an object.
 */
#define NIPC_HINT_REQUEST 1u
#define NIPC_HINT_ID 2u
#define NIPC_HINT_ALL (NIPC_HINT_REQUEST | NIPC_HINT_ID)

/*
 * Decodes one frame (without its delimiter). Never fails hard: any input gives either a
 * message or an error payload (W11, W13). Release with nipc__msg_clear().
 */
void nipc__msg_decode(nipc_msg_t *m, const char *p, size_t n, bool allow_reserved);
void nipc__msg_clear(nipc_msg_t *m);

/*
 * The same, reusing *shape (the previous event's data tree, or NULL) when the frame has its
 * shape and nobody else holds any of it; then m->data is *shape and m->decoded is NULL.
 * After the handlers, nipc__msg_done() keeps the tree in *shape for the next frame when
 * nobody else holds it, and clears the message. The owner of *shape decrefs it at the end.
 */
void nipc__msg_decode_into(nipc_msg_t *m, const char *p, size_t n, bool allow_reserved,
                           json_t **shape);
void nipc__msg_done(nipc_msg_t *m, json_t **shape);

/*
 * Turns a decoded message into the refusal `code` (a nipc__type_check() error) of its frame
 * p[0, n): err is the code and `decoded` node-ipc's payload for a bad frame, as the decoder
 * gives for one. Release it with nipc__msg_done() or nipc__msg_clear() as before.
 */
void nipc__msg_refuse(nipc_msg_t *m, int code, const char *p, size_t n);

/*
 * For tests only: decodes as nipc__msg_decode() does, but with the general path alone
 * (jansson's parser), never the fast path nor a reused tree. It is the reference the fast
 * path must agree with on every input, which the differential test compares against.
 */
void nipc__msg_decode_general(nipc_msg_t *m, const char *p, size_t n, bool allow_reserved);

/* True for names the library publishes itself (connect, error, ...; W14). */
bool nipc__event_reserved(const char *type);

/* ---- names.c: the rules an event type follows both ways -------------------------------- */

typedef struct nipc_name_slot nipc_name_slot_t;

/*
 * A fixed set of names, built once: a lookup hashes the name once and nearly always compares
 * one slot. The names are borrowed and must outlive the set.
 */
typedef struct nipc_nameset {
    nipc_name_slot_t *slots; /* mask + 1 of them, at most half used; NULL when empty */
    size_t mask;
    size_t count; /* distinct names */
} nipc_nameset_t;

/* The set of the NULL-terminated `names` (NULL: the empty set). 0 or UV_ENOMEM (then the
 * set is empty). */
int nipc__nameset_build(nipc_nameset_t *s, const char *const *names);
void nipc__nameset_free(nipc_nameset_t *s);
bool nipc__nameset_has(const nipc_nameset_t *s, const char *name, size_t len);

/* The length of UTF-8 text as JavaScript's String.length counts it: UTF-16 code units. */
size_t nipc__js_length(const char *s, size_t n);

/* max_event_name and allowed_events, as nipc__type_check() applies them. */
typedef struct nipc_type_rules {
    size_t max_len;         /* in UTF-16 code units, as node-ipc 14 counts; 0: no limit */
    nipc_nameset_t allowed; /* empty: every type is allowed */
} nipc_type_rules_t;

/* The rules of `cfg`, whose allowed_events must outlive them. 0 or UV_ENOMEM. */
int nipc__type_rules_init(nipc_type_rules_t *r, const nipc_config_t *cfg);
void nipc__type_rules_free(nipc_type_rules_t *r);

/*
 * 0, NIPC_ENAMELEN or NIPC_ENOTALLOWED for the type of `len` bytes, sent or received. Runs
 * for every frame: with no allowed_events and a type of at most max_len bytes (units never
 * outnumber bytes), it costs two comparisons.
 */
static inline int nipc__type_check(const nipc_type_rules_t *r, const char *type, size_t len)
{
    if (len > r->max_len && r->max_len != 0 && nipc__js_length(type, len) > r->max_len)
        return NIPC_ENAMELEN;
    if (r->allowed.count != 0 && !nipc__nameset_has(&r->allowed, type, len))
        return NIPC_ENOTALLOWED;
    return 0;
}

/* A frame p[0, n) decoded into m whose type breaks the rules becomes their refusal. */
static inline void nipc__msg_admit(nipc_msg_t *m, const nipc_type_rules_t *r, const char *p,
                                   size_t n)
{
    int err = m->err == 0 ? nipc__type_check(r, m->type, m->type_len) : 0;
    if (err != 0)
        nipc__msg_refuse(m, err, p, n);
}

/* ---- encoding.c: Node's Buffer encodings (R2) ---------------------------------------- */

/*
 * The encodings of node-ipc's `encoding` option. C text is UTF-8 and stands for the
 * JavaScript string Node decodes from it (Buffer.from(bytes).toString('utf8'): each
 * ill-formed subsequence becomes U+FFFD), so these functions give exactly the bytes Node
 * gives for that string. Pure and stateless.
 */
typedef enum nipc_encoding {
    NIPC__ENC_UTF8,
    NIPC__ENC_ASCII,
    NIPC__ENC_LATIN1,
    NIPC__ENC_HEX,
    NIPC__ENC_BASE64,
    NIPC__ENC_BASE64URL,
    NIPC__ENC_UTF16LE
} nipc_encoding_t;

/*
 * The encoding of a name Buffer.isEncoding accepts, case-insensitively: utf8 utf-8 ascii
 * latin1 binary hex base64 base64url utf16le utf-16le ucs2 ucs-2. 0, or UV_EINVAL (*out
 * untouched) for any other name, NULL and "" included.
 */
int nipc__encoding_parse(const char *name, nipc_encoding_t *out);

/* Node's canonical name ("utf8", "latin1", "utf16le", ...); NULL for a value outside the enum. */
const char *nipc__encoding_name(nipc_encoding_t e);

/*
 * Buffer.from(text, enc) for the UTF-8 text s[0, n): appends the bytes to `out`, the bytes
 * node-ipc's raw-mode emit writes. utf8 passes valid text through; ascii, as in Node, is
 * latin1 (each UTF-16 unit's low byte); hex stops at the first pair that is not two hex
 * digits; base64 and base64url both skip what is not in either alphabet and stop at '='.
 * 0, or UV_ENOMEM with `out` as it was. s may be NULL when n is 0.
 */
int nipc__encoding_from_text(nipc_encoding_t e, const char *s, size_t n, nipc_buf_t *out);

/*
 * buf.toString(enc) for the bytes p[0, n), appended to `out` as UTF-8 text: utf8 with each
 * ill-formed subsequence as EF BF BD, ascii with bit 7 cleared, hex in lower case, base64
 * padded, base64url unpadded, utf16le with an odd last byte dropped and each lone surrogate
 * (which UTF-8 cannot hold) as EF BF BD, as Buffer.from(string, 'utf8') writes it. 0, or
 * UV_ENOMEM with `out` as it was. p may be NULL when n is 0.
 */
int nipc__encoding_to_text(nipc_encoding_t e, const char *p, size_t n, nipc_buf_t *out);

/* ---- config.c -------------------------------------------------------------------------- */

/* Deep copy of every string of `src` into `dst`, allowed_events included. 0 or UV_ENOMEM (dst
 * then holds nothing). */
int nipc__config_copy(nipc_config_t *dst, const nipc_config_t *src);
void nipc__config_free(nipc_config_t *cfg);
/* assured (nipc_config_t): whether a network server (or client) of this config has what the
 * mode requires: mutual TLS. Unix sockets need nothing more. */
bool nipc__config_assured_net(const nipc_config_t *cfg, bool server);
/* 0, or UV_EINVAL / UV_ENOTSUP with a reason in *why. */
int nipc__config_check(const nipc_config_t *cfg, const char **why);
/*
 * socket_root + appspace + id, the default path (S1, C1). Returns a new string, or NULL
 * with *err set to UV_ENAMETOOLONG (past `max` bytes) or UV_ENOMEM.
 */
char *nipc__config_path(const nipc_config_t *cfg, const char *id, size_t max, int *err);

/* ---- event.c: handler tables ----------------------------------------------------------- */

typedef struct nipc_handler nipc_handler_t;

/*
 * Handlers by event type, in registration order. Handlers may add or remove handlers (even
 * themselves) while an event is being published: removal only marks the entry, and the
 * table is compacted when the outermost publish returns. Besides the list of all, each
 * handler is on one chain, in the same order: the wildcards' (NIPC_EVENTS_CHAINS - 1), or
 * the chain its type's hash picks, so a publish walks only the handlers that may match.
 */
#define NIPC_EVENTS_CHAINS 9
typedef struct nipc_events {
    nipc_handler_t *head;
    nipc_handler_t *tail;
    nipc_handler_t *chain_head[NIPC_EVENTS_CHAINS];
    nipc_handler_t *chain_tail[NIPC_EVENTS_CHAINS];
    unsigned depth; /* publishes in progress */
    bool has_dead;  /* marked entries wait for compaction */
} nipc_events_t;

void nipc__events_init(nipc_events_t *t);
void nipc__events_free(nipc_events_t *t);
int nipc__events_on(nipc_events_t *t, const char *type, nipc_event_cb cb, void *arg, bool once);
int nipc__events_off(nipc_events_t *t, const char *type, nipc_event_cb cb, void *arg);
/* Runs wildcard handlers, then handlers of ev->type (S17). */
void nipc__events_publish(nipc_events_t *t, const nipc_event_t *ev);
bool nipc__events_has(const nipc_events_t *t, const char *type);

/* ---- log.c ----------------------------------------------------------------------------- */

/*
 * Renders a JSON value for a log line the way util.inspect would show it: `depth` levels of
 * nesting, deeper ones as [Object] / [Array], with ANSI colours when `color`.
 */
int nipc__log_render(nipc_buf_t *out, const json_t *v, int depth, bool color);
/* v as one argument of ipc.log(): a string as its text, a number or a boolean as String()
 * writes it, anything else (NULL: undefined) as nipc__log_render(). 0 or UV_ENOMEM. */
int nipc__log_arg(nipc_buf_t *out, const json_t *v, int depth, bool color);

#endif /* NIPC_CORE_H */
