/* safetensors.c - the safetensors container (huggingface/safetensors, format described in its
   README): u64 little-endian header length N, N bytes of JSON
     {"__metadata__": {...}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
   then the data; offsets are relative to the first byte after the header. The JSON is parsed here
   (strings, integers, nested values to skip); "__metadata__" is ignored. */
#include <stdlib.h>
#include <string.h>

#include "ckpt_internal.h"
#include "core/status.h"

#define ST_MAX_HEADER (100u << 20)   /* safetensors' own limit */
#define ST_MAX_DEPTH 32              /* nesting of values that are skipped */
#define ST_MAX_STRING 4096

typedef struct json {
    const char *p, *end;
    const char *begin;   /* for offsets in messages */
} json;

/* SEGC_ERR_FORMAT naming the byte of the header where parsing stopped. */
static segc_status json_fail(const json *j, const char *what) {
    return segc_fail(SEGC_ERR_FORMAT, "safetensors header: %s at byte %zu", what, (size_t)(j->p - j->begin));
}

/* Skips JSON whitespace. */
static void skip_ws(json *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

/* Consumes character ch (after whitespace). */
static int accept(json *j, char ch) {
    skip_ws(j);
    if (j->p < j->end && *j->p == ch) { j->p++; return 1; }
    return 0;
}

/* Four hex digits (the XXXX of a JSON backslash-u escape) into *out; 0 if any is not hex. */
static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char ch = p[k];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
        if (d < 0) return 0;
        v = v * 16 + (unsigned)d;
    }
    *out = v;
    return 1;
}

/* Appends code point cp as UTF-8; returns bytes written (0 if it does not fit). */
static size_t put_utf8(char *dst, size_t room, unsigned cp) {
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (n > room) return 0;
    if (n == 1) { dst[0] = (char)cp; return 1; }
    for (size_t k = n - 1; k > 0; k--) { dst[k] = (char)(0x80 | (cp & 0x3F)); cp >>= 6; }
    dst[0] = (char)((n == 2 ? 0xC0 : n == 3 ? 0xE0 : 0xF0) | cp);
    return n;
}

/* Parses a JSON string into out (NUL-terminated, at most ST_MAX_STRING bytes; no NUL inside). */
static segc_status parse_string(json *j, char *out) {
    if (!accept(j, '"')) return json_fail(j, "expected a string");
    size_t n = 0;
    while (j->p < j->end && *j->p != '"') {
        unsigned cp = (unsigned char)*j->p++;
        if (cp < 0x20) return json_fail(j, "control character in a string");
        if (cp == '\\') {
            if (j->p >= j->end) break;
            char e = *j->p++;
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e && simple) {
                cp = (unsigned char)"\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            } else if (e == 'u' && j->end - j->p >= 4 && hex4(j->p, &cp)) {
                j->p += 4;
                unsigned lo;
                if (cp >= 0xD800 && cp < 0xDC00 && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' &&
                    hex4(j->p + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    j->p += 6;
                }
                if (cp == 0) return json_fail(j, "NUL in a string");
            } else {
                return json_fail(j, "bad escape in a string");
            }
        }
        size_t w = put_utf8(out + n, ST_MAX_STRING - n, cp);
        if (w == 0) return json_fail(j, "string too long");
        n += w;
    }
    if (j->p >= j->end) return json_fail(j, "unterminated string");
    j->p++;
    out[n] = '\0';
    return SEGC_OK;
}

/* Parses a non-negative integer that fits in int64. */
static segc_status parse_uint(json *j, int64_t *out) {
    skip_ws(j);
    if (j->p >= j->end || *j->p < '0' || *j->p > '9') return json_fail(j, "expected a non-negative integer");
    int64_t v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (v > (INT64_MAX - (*j->p - '0')) / 10) return json_fail(j, "integer too large");
        v = v * 10 + (*j->p++ - '0');
    }
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E')) return json_fail(j, "expected an integer");
    *out = v;
    return SEGC_OK;
}

/* Skips any JSON value (metadata, unknown fields), at most ST_MAX_DEPTH deep. */
static segc_status skip_value(json *j, int depth) {
    if (depth > ST_MAX_DEPTH) return json_fail(j, "nested too deeply");
    skip_ws(j);
    if (j->p >= j->end) return json_fail(j, "unexpected end");
    char *tmp = NULL;
    segc_status st = SEGC_OK;
    switch (*j->p) {
    case '"':
        tmp = malloc(ST_MAX_STRING + 1);
        if (!tmp) return segc_fail(SEGC_ERR_NOMEM, "out of memory");
        st = parse_string(j, tmp);
        free(tmp);
        return st;
    case '{':
    case '[': {
        char close = *j->p == '{' ? '}' : ']';
        int is_obj = close == '}';
        j->p++;
        if (accept(j, close)) return SEGC_OK;
        do {
            if (is_obj) {
                if ((st = skip_value(j, depth + 1)) != SEGC_OK) return st;   /* the key */
                if (!accept(j, ':')) return json_fail(j, "expected ':'");
            }
            if ((st = skip_value(j, depth + 1)) != SEGC_OK) return st;
        } while (accept(j, ','));
        return accept(j, close) ? SEGC_OK : json_fail(j, "expected ',' or a closing bracket");
    }
    default: {
        /* numbers, true, false, null: a run of literal characters */
        const char *start = j->p;
        while (j->p < j->end && strchr("0123456789+-.eEtrufalsn", *j->p) && *j->p) j->p++;
        return j->p > start ? SEGC_OK : json_fail(j, "unexpected character");
    }
    }
}

/* Parses [a, b, ...] of non-negative integers into dst (at most max items). */
static segc_status parse_int_array(json *j, int64_t *dst, int max, int *n) {
    *n = 0;
    if (!accept(j, '[')) return json_fail(j, "expected '['");
    if (accept(j, ']')) return SEGC_OK;
    do {
        if (*n == max) return json_fail(j, "too many dimensions");
        segc_status st = parse_uint(j, &dst[(*n)++]);
        if (st != SEGC_OK) return st;
    } while (accept(j, ','));
    return accept(j, ']') ? SEGC_OK : json_fail(j, "expected ']'");
}

/* safetensors dtype names (F32, BF16, ...) to ckpt_dtype; 0 for the ones ckpt has no type for. */
static int dtype_from_name(const char *s, ckpt_dtype *d) {
    static const struct { const char *name; ckpt_dtype d; } names[] = {
        {"F32", CKPT_F32}, {"F16", CKPT_F16}, {"BF16", CKPT_BF16}, {"F64", CKPT_F64}, {"I64", CKPT_I64},
        {"I32", CKPT_I32}, {"I16", CKPT_I16}, {"I8", CKPT_I8}, {"U8", CKPT_U8}, {"BOOL", CKPT_BOOL}};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strcmp(s, names[k].name) == 0) { *d = names[k].d; return 1; }
    return 0;
}

/* One tensor entry {"dtype": .., "shape": [..], "data_offsets": [b, e]}; registers it. */
static segc_status parse_tensor(ckpt *c, json *j, const char *name, const uint8_t *data, uint64_t data_size,
                                char *buf) {
    if (!accept(j, '{')) return json_fail(j, "a tensor entry is not an object");
    int have = 0, ndim = 0, noff = 0;
    ckpt_dtype dtype = CKPT_F32;
    int64_t shape[CKPT_MAX_DIMS], off[2];
    segc_status st = SEGC_OK;
    if (!accept(j, '}')) {
        do {
            if ((st = parse_string(j, buf)) != SEGC_OK) return st;
            if (!accept(j, ':')) return json_fail(j, "expected ':'");
            if (strcmp(buf, "dtype") == 0) {
                if ((st = parse_string(j, buf)) != SEGC_OK) return st;
                if (!dtype_from_name(buf, &dtype))
                    return segc_fail(SEGC_ERR_UNSUPPORTED, "safetensors: tensor '%.200s' has dtype %.20s", name, buf);
                have |= 1;
            } else if (strcmp(buf, "shape") == 0) {
                if ((st = parse_int_array(j, shape, CKPT_MAX_DIMS, &ndim)) != SEGC_OK) return st;
                have |= 2;
            } else if (strcmp(buf, "data_offsets") == 0) {
                if ((st = parse_int_array(j, off, 2, &noff)) != SEGC_OK) return st;
                if (noff != 2) return json_fail(j, "data_offsets needs two integers");
                have |= 4;
            } else if ((st = skip_value(j, 1)) != SEGC_OK) {
                return st;
            }
        } while (accept(j, ','));
        if (!accept(j, '}')) return json_fail(j, "expected ',' or '}'");
    }
    if (have != 7) return segc_fail(SEGC_ERR_FORMAT, "safetensors: tensor '%.200s' lacks dtype, shape or data_offsets", name);
    if (off[0] > off[1] || (uint64_t)off[1] > data_size)
        return segc_fail(SEGC_ERR_FORMAT, "safetensors: tensor '%.200s' data_offsets [%lld, %lld] are outside the %llu data bytes",
                         name, (long long)off[0], (long long)off[1], (unsigned long long)data_size);
    int64_t stride[CKPT_MAX_DIMS], numel = 1, nbytes;
    for (int k = ndim - 1; k >= 0; k--) {
        stride[k] = numel;
        if (__builtin_mul_overflow(numel, shape[k], &numel))
            return segc_fail(SEGC_ERR_FORMAT, "safetensors: tensor '%.200s' is too large", name);
    }
    if (__builtin_mul_overflow(numel, (int64_t)ckpt_dtype_size(dtype), &nbytes) || nbytes != off[1] - off[0])
        return segc_fail(SEGC_ERR_FORMAT, "safetensors: tensor '%.200s' has %lld bytes for %lld elements of %s", name,
                         (long long)(off[1] - off[0]), (long long)numel, ckpt_dtype_name(dtype));
    return ckpt_add_tensor(c, name, dtype, ndim, shape, stride, 0, data + off[0], (uint64_t)nbytes);
}

segc_status ckpt_read_safetensors(ckpt *c) {
    if (c->size < 8) return segc_fail(SEGC_ERR_FORMAT, "safetensors: file too small");
    uint64_t n = 0;
    for (int b = 7; b >= 0; b--) n = (n << 8) | c->data[b];
    if (n > ST_MAX_HEADER || n > c->size - 8)
        return segc_fail(SEGC_ERR_FORMAT, "safetensors: header length %llu does not fit the %zu-byte file",
                         (unsigned long long)n, c->size);
    json j = {(const char *)c->data + 8, (const char *)c->data + 8 + n, (const char *)c->data + 8};
    const uint8_t *data = c->data + 8 + n;
    const uint64_t data_size = c->size - 8 - n;
    char *name = malloc(2 * (ST_MAX_STRING + 1));
    if (!name) return segc_fail(SEGC_ERR_NOMEM, "out of memory");
    char *buf = name + ST_MAX_STRING + 1;
    segc_status st = accept(&j, '{') ? SEGC_OK : json_fail(&j, "the header is not a JSON object");
    if (st == SEGC_OK && !accept(&j, '}')) {
        do {
            if ((st = parse_string(&j, name)) != SEGC_OK) break;
            if (!accept(&j, ':')) { st = json_fail(&j, "expected ':'"); break; }
            st = strcmp(name, "__metadata__") == 0 ? skip_value(&j, 1) : parse_tensor(c, &j, name, data, data_size, buf);
        } while (st == SEGC_OK && accept(&j, ','));
        if (st == SEGC_OK && !accept(&j, '}')) st = json_fail(&j, "expected ',' or '}'");
    }
    skip_ws(&j);
    if (st == SEGC_OK && j.p != j.end) st = json_fail(&j, "trailing bytes after the header object");
    free(name);
    return st;
}
