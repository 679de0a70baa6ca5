/* npy.c - a small, strict .npy reader and writer (see npy.h). The header dict is parsed for exactly
   the three keys NumPy writes; anything else is a clear error. */
#include "io/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"
#include "core/status.h"

#define NPY_MAX_HEADER (1 << 20)

/* Finds `'key':` in the header dict and returns a pointer to the value after the colon. */
static const char *header_value(const char *h, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

typedef struct npy_kind { const char *descr; segc_dtype dtype; size_t file_size; } npy_kind;

static const npy_kind kinds[] = {
    {"<f4", SEGC_F32, 4}, {"<f2", SEGC_F16, 2}, {"|u1", SEGC_U8, 1}, {"<u1", SEGC_U8, 1},
    {"|b1", SEGC_U8, 1},  {"<i4", SEGC_I32, 4}, {"<f8", SEGC_F32, 8}, {"<i8", SEGC_I32, 8},
};

static segc_status parse_header(const char *h, const char *path, const npy_kind **kind, segc_npy *out) {
    const char *d = header_value(h, "descr");
    const char *fo = header_value(h, "fortran_order");
    const char *sh = header_value(h, "shape");
    if (!d || !fo || !sh) return segc_fail(SEGC_ERR_FORMAT, "%s: npy header lacks descr/fortran_order/shape", path);
    if (strncmp(fo, "False", 5) != 0) return segc_fail(SEGC_ERR_UNSUPPORTED, "%s: Fortran-order arrays are not supported", path);
    *kind = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].descr);
        if (d[0] == '\'' && strncmp(d + 1, kinds[i].descr, n) == 0 && d[1 + n] == '\'') *kind = &kinds[i];
    }
    if (!*kind) return segc_fail(SEGC_ERR_UNSUPPORTED, "%s: npy dtype %.8s is not supported", path, d);
    if (*sh != '(') return segc_fail(SEGC_ERR_FORMAT, "%s: npy shape is not a tuple", path);
    sh++;
    out->ndim = 0;
    while (*sh && *sh != ')') {
        while (*sh == ' ' || *sh == ',') sh++;
        if (*sh == ')') break;
        char *end = NULL;
        long long v = strtoll(sh, &end, 10);
        if (end == sh || v < 0 || v > ((long long)1 << 40)) return segc_fail(SEGC_ERR_FORMAT, "%s: bad npy shape", path);
        if (out->ndim >= SEGC_MAX_DIMS) return segc_fail(SEGC_ERR_UNSUPPORTED, "%s: more than %d dims", path, SEGC_MAX_DIMS);
        out->shape[out->ndim++] = v;
        sh = end;
    }
    if (*sh != ')') return segc_fail(SEGC_ERR_FORMAT, "%s: unterminated npy shape", path);
    return SEGC_OK;
}

int64_t segc_npy_numel(const segc_npy *a) {
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    return n;
}

/* Converts `n` raw elements of a wide file type (f8, i8) to the in-memory type, in place order. */
static void narrow_wide(const npy_kind *k, const unsigned char *raw, void *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (k->dtype == SEGC_F32) {
            double v;
            memcpy(&v, raw + 8 * i, 8);
            ((float *)dst)[i] = (float)v;
        } else {
            long long v;
            memcpy(&v, raw + 8 * i, 8);
            ((int32_t *)dst)[i] = (int32_t)v;
        }
    }
}

segc_status segc_npy_read(const char *path, segc_npy *out) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) return segc_fail(SEGC_ERR_IO, "%s: cannot open", path);
    unsigned char pre[10];
    segc_status st = SEGC_OK;
    char *header = NULL;
    unsigned char *raw = NULL;
    if (fread(pre, 1, 8, fp) != 8 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        st = segc_fail(SEGC_ERR_FORMAT, "%s: not a .npy file", path);
        goto done;
    }
    uint32_t hlen;
    if (pre[6] == 1) {
        if (fread(pre + 8, 1, 2, fp) != 2) { st = segc_fail(SEGC_ERR_FORMAT, "%s: truncated npy header", path); goto done; }
        hlen = (uint32_t)pre[8] | ((uint32_t)pre[9] << 8);
    } else if (pre[6] == 2 || pre[6] == 3) {
        unsigned char l4[4];
        if (fread(l4, 1, 4, fp) != 4) { st = segc_fail(SEGC_ERR_FORMAT, "%s: truncated npy header", path); goto done; }
        hlen = (uint32_t)l4[0] | ((uint32_t)l4[1] << 8) | ((uint32_t)l4[2] << 16) | ((uint32_t)l4[3] << 24);
    } else {
        st = segc_fail(SEGC_ERR_UNSUPPORTED, "%s: npy format version %d", path, pre[6]);
        goto done;
    }
    if (hlen > NPY_MAX_HEADER) { st = segc_fail(SEGC_ERR_FORMAT, "%s: npy header of %u bytes", path, hlen); goto done; }
    header = malloc(hlen + 1);
    if (!header) { st = segc_fail(SEGC_ERR_NOMEM, "%s: npy header", path); goto done; }
    if (fread(header, 1, hlen, fp) != hlen) { st = segc_fail(SEGC_ERR_FORMAT, "%s: truncated npy header", path); goto done; }
    header[hlen] = '\0';
    const npy_kind *kind = NULL;
    st = parse_header(header, path, &kind, out);
    if (st) goto done;
    int64_t n = segc_npy_numel(out);
    size_t mem_size = segc_dtype_size(kind->dtype);
    out->dtype = kind->dtype;
    out->data = malloc(n ? (size_t)n * mem_size : 1);
    if (!out->data) { st = segc_fail(SEGC_ERR_NOMEM, "%s: %lld elements", path, (long long)n); goto done; }
    if (kind->file_size == mem_size) {
        if (fread(out->data, mem_size, (size_t)n, fp) != (size_t)n) { st = segc_fail(SEGC_ERR_FORMAT, "%s: truncated npy data", path); goto done; }
    } else {
        raw = malloc(n ? (size_t)n * kind->file_size : 1);
        if (!raw) { st = segc_fail(SEGC_ERR_NOMEM, "%s", path); goto done; }
        if (fread(raw, kind->file_size, (size_t)n, fp) != (size_t)n) { st = segc_fail(SEGC_ERR_FORMAT, "%s: truncated npy data", path); goto done; }
        narrow_wide(kind, raw, out->data, n);
    }
done:
    free(header);
    free(raw);
    fclose(fp);
    if (st) segc_npy_free(out);
    return st;
}

void segc_npy_free(segc_npy *a) {
    free(a->data);
    memset(a, 0, sizeof *a);
}

segc_tensor segc_npy_tensor(const segc_npy *a) { return segc_tensor_wrap(a->dtype, a->ndim, a->shape, a->data); }

segc_status segc_npy_write(const char *path, const segc_tensor *t) {
    const char *descr;
    segc_dtype file_dtype = t->dtype;
    switch (t->dtype) {
    case SEGC_F32: descr = "<f4"; break;
    case SEGC_F16: descr = "<f2"; break;
    case SEGC_BF16: descr = "<f4"; file_dtype = SEGC_F32; break;
    case SEGC_I32: descr = "<i4"; break;
    case SEGC_U8: descr = "|u1"; break;
    default: return segc_fail(SEGC_ERR_UNSUPPORTED, "npy write: dtype");
    }
    char dict[256];
    int pos = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->ndim; i++)
        pos += snprintf(dict + pos, sizeof dict - (size_t)pos, t->ndim == 1 ? "%lld," : (i ? ", %lld" : "%lld"),
                        (long long)t->shape[i]);
    pos += snprintf(dict + pos, sizeof dict - (size_t)pos, "), }");
    /* pad with spaces so that magic(6)+ver(2)+len(2)+header is a multiple of 64, ending in '\n' */
    int total = 10 + pos + 1;
    int padded = (total + 63) / 64 * 64;
    int hlen = padded - 10;
    char header[512];
    memcpy(header, dict, (size_t)pos);
    memset(header + pos, ' ', (size_t)(hlen - pos - 1));
    header[hlen - 1] = '\n';

    FILE *fp = fopen(path, "wb");
    if (!fp) return segc_fail(SEGC_ERR_IO, "%s: cannot create", path);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    int ok = fwrite(pre, 1, 10, fp) == 10 && fwrite(header, 1, (size_t)hlen, fp) == (size_t)hlen;
    /* elements in row-major order, honoring strides */
    int64_t n = segc_tensor_numel(t);
    size_t es = segc_dtype_size(t->dtype);
    int64_t idx[SEGC_MAX_DIMS] = {0};
    for (int64_t k = 0; k < n && ok; k++) {
        int64_t off = 0;
        for (int i = 0; i < t->ndim; i++) off += idx[i] * t->stride[i];
        const unsigned char *src = (const unsigned char *)t->data + off * (int64_t)es;
        if (file_dtype != t->dtype) {
            uint16_t h;
            memcpy(&h, src, 2);
            float f = segc_bf16_to_f32(h);
            ok = fwrite(&f, 4, 1, fp) == 1;
        } else {
            ok = fwrite(src, es, 1, fp) == 1;
        }
        for (int i = t->ndim - 1; i >= 0; i--) {
            if (++idx[i] < t->shape[i]) break;
            idx[i] = 0;
        }
    }
    if (fclose(fp) != 0) ok = 0;
    if (!ok) return segc_fail(SEGC_ERR_IO, "%s: write failed", path);
    return SEGC_OK;
}
