/* convert.c - the converter framework: open a checkpoint, strip its wrapper prefix (keeping only the
   model subtree), pick the architecture hook, write the common metadata, let the hook check tensors and
   describe the model, then stream every kept float tensor into the .segc file in the requested dtype.
   The SHA-256 of the source file ("source.sha256") is computed on a second thread meanwhile: the
   writer puts the data first and asks for the digest only when it writes the metadata, last.
   Implements convert.h and the helpers of arch.h; the hooks live in arch_<model>.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <threads.h>
#include <unistd.h>

#include "arch.h"
#include "ckpt_internal.h"   /* ckpt_open_memory: the mapping is shared with the hash thread */
#include "core/half.h"
#include "core/status.h"
#include "io/sha256.h"

/* ---- helpers for the hooks (arch.h) ---------------------------------------------------------- */

const ckpt_tensor *convert_find(const convert_source *src, const char *name) {
    size_t np = strlen(src->prefix), nn = strlen(name);
    char stack[512];
    char *key = np + nn + 1 <= sizeof stack ? stack : malloc(np + nn + 1);
    if (!key) return NULL;
    memcpy(key, src->prefix, np);
    memcpy(key + np, name, nn + 1);
    const ckpt_tensor *t = ckpt_find(src->ck, key);
    if (key != stack) free(key);
    return t;
}

/* "[a, b, c]" into buf. */
static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

segc_status convert_expect(const convert_source *src, const char *name, int ndim, const int64_t *shape) {
    const ckpt_tensor *t = convert_find(src, name);
    if (!t) return segc_fail(SEGC_ERR_NOT_FOUND, "missing tensor %s%s", src->prefix, name);
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (same) return SEGC_OK;
    char have[160], want[160];
    shape_str(have, sizeof have, t->ndim, t->shape);
    shape_str(want, sizeof want, ndim, shape);
    return segc_fail(SEGC_ERR_SHAPE, "tensor %s%s has shape %s, expected %s", src->prefix, name, have, want);
}

int64_t convert_dim(const convert_source *src, const char *name, int dim) {
    const ckpt_tensor *t = convert_find(src, name);
    if (!t || dim < 0 || dim >= t->ndim) return -1;
    return t->shape[dim];
}

int convert_count_prefix(const convert_source *src, const char *prefix) {
    size_t np = strlen(src->prefix), nq = strlen(prefix);
    int n = 0;
    for (int i = 0; i < ckpt_count(src->ck); i++) {
        const char *k = ckpt_at(src->ck, i)->name;
        if (!strncmp(k, src->prefix, np) && !strncmp(k + np, prefix, nq)) n++;
    }
    return n;
}

/* ---- the architecture table ------------------------------------------------------------------ */

/* --arch raw: every float tensor, no checks, never detected (tests; inspecting unknown checkpoints). */
static segc_status raw_describe(const convert_source *src, const segc_convert_options *o, segc_file_writer *w) {
    return segc_file_writer_add_str(w, "variant", "raw");
}

static const convert_arch convert_arch_raw = {
    .name = "raw",
    .summary = "any checkpoint: every floating-point tensor as is, no checks (never auto-detected)",
    .detect = NULL,
    .describe = raw_describe,
    .keep = NULL,
};

/* The architectures segc-convert knows, tried in this order by detection. */
static const convert_arch *const arch_table[] = {
    &convert_arch_deeplab,
    &convert_arch_hrnet,
    &convert_arch_maskrcnn,
    &convert_arch_sam2,
    &convert_arch_raw,
};

int convert_arch_count(void) { return (int)(sizeof arch_table / sizeof arch_table[0]); }
const convert_arch *convert_arch_at(int i) { return i >= 0 && i < convert_arch_count() ? arch_table[i] : NULL; }

const convert_arch *convert_arch_by_name(const char *name) {
    for (int i = 0; i < convert_arch_count(); i++)
        if (!strcmp(arch_table[i]->name, name)) return arch_table[i];
    return NULL;
}

void segc_convert_options_default(segc_convert_options *o) {
    memset(o, 0, sizeof *o);
    o->dtype = SEGC_F32;
}

/* ---- wrapper stripping ----------------------------------------------------------------------- */

/* Wrappers around a state dict, longest first so "model.module." wins over "model.". */
static const char *const wrappers[] = {
    "model.module.", "model_state_dict.", "model_state.", "state_dict.", "module.", "model.", "net.",
};
/* Top-level siblings of the model subtree that are never weights (training state). */
static const char *const training_state[] = {
    "optimizer", "optimizer_state", "optimizer_state_dict", "optimizer_states", "optim", "scheduler",
    "lr_scheduler", "lr_schedulers", "scheduler_state", "scaler", "grad_scaler", "amp", "callbacks", "meta",
    "loss",   /* HRNet's FullModel: loss.criterion.weight */
};

static int is_float(ckpt_dtype d) { return d == CKPT_F32 || d == CKPT_F16 || d == CKPT_BF16 || d == CKPT_F64; }

/* Nonzero if key (already past `prefix`) belongs to a training-state sibling such as "optimizer_state.". */
static int is_training_state(const char *rest) {
    for (size_t i = 0; i < sizeof training_state / sizeof training_state[0]; i++) {
        size_t n = strlen(training_state[i]);
        if (!strncmp(rest, training_state[i], n) && rest[n] == '.') return 1;
    }
    return 0;
}

/* Finds the wrapper prefix: repeatedly appends the longest wrapper w such that every key under the
   current prefix either starts with prefix+w or is training state, and at least one float tensor is
   under prefix+w. Writes the result (NUL-terminated) into out. */
static void find_prefix(const ckpt *ck, char *out, size_t cap) {
    out[0] = 0;
    for (;;) {
        size_t np = strlen(out);
        const char *pick = NULL;
        for (size_t j = 0; j < sizeof wrappers / sizeof wrappers[0] && !pick; j++) {
            size_t nw = strlen(wrappers[j]);
            if (np + nw + 1 > cap) continue;
            int inside = 0, ok = 1;
            for (int i = 0; i < ckpt_count(ck) && ok; i++) {
                const ckpt_tensor *t = ckpt_at(ck, i);
                if (strncmp(t->name, out, np)) continue;   /* outside: dropped already */
                const char *rest = t->name + np;
                if (!strncmp(rest, wrappers[j], nw)) inside += is_float(t->dtype);
                else if (!is_training_state(rest)) ok = 0;
            }
            if (ok && inside) pick = wrappers[j];
        }
        if (!pick) return;
        memcpy(out + np, pick, strlen(pick) + 1);
    }
}

/* ---- tensor data: strided source -> contiguous destination in the requested dtype --------------- */

#define BLOCK 4096   /* elements converted per step (through a small float buffer) */

typedef struct fill_job {
    const ckpt_tensor *t;
    segc_dtype dst;
    int contiguous;
    const float *f16_table;   /* all 65536 f16 values widened (owned by the conversion) */
    int f16c;                 /* use the F16C instructions for f16 -> f32 */
} fill_job;

/* Element `lin` (row-major index) of t as a pointer into its storage. */
static const uint8_t *element_at(const ckpt_tensor *t, uint64_t lin) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        uint64_t n = (uint64_t)t->shape[d];
        off += (int64_t)(lin % n) * t->stride[d];
        lin /= n;
    }
    return (const uint8_t *)t->data + off * ckpt_dtype_size(t->dtype);
}

/* n f16 values (any alignment) widened through the table of all 65536 values: exact, NaN payloads kept. */
static void widen_f16_table(const float *table, const uint8_t *src, float *dst, size_t n) {
    uint16_t h;
    for (size_t i = 0; i < n; i++) {
        memcpy(&h, src + 2 * i, 2);
        dst[i] = table[h];
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
/* Same result with the F16C instruction, 8 values at a time. vcvtph2ps quiets signalling NaNs, so a
   group of 8 holding any inf/NaN (exponent all ones) goes through the table; the tail too. */
__attribute__((target("avx,f16c")))
static void widen_f16_f16c(const float *table, const uint8_t *src, float *dst, size_t n) {
    const __m128i exp_mask = _mm_set1_epi16(0x7c00);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i));
        if (_mm_movemask_epi8(_mm_cmpeq_epi16(_mm_and_si128(h, exp_mask), exp_mask)))
            widen_f16_table(table, src + 2 * i, dst + i, 8);
        else
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    widen_f16_table(table, src + 2 * i, dst + i, n - i);
}

#endif

/* 1 if widen_f16_f16c can run on this CPU: AVX usable (the builtin also checks that the OS saves the
   YMM registers) and the F16C bit of CPUID leaf 1 (clang 14's builtin does not know "f16c"). */
static int use_f16c(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) && ((c >> 29) & 1);
#else
    return 0;
#endif
}

/* n source elements (any alignment) widened to float: f16/bf16 exactly, f64 rounded to nearest. */
static void widen(const fill_job *j, const uint8_t *src, float *dst, size_t n) {
    uint16_t h;
    double x;
    switch (j->t->dtype) {
    case CKPT_F16:
#if defined(__x86_64__) || defined(__i386__)
        if (j->f16c) {
            widen_f16_f16c(j->f16_table, src, dst, n);
            break;
        }
#endif
        widen_f16_table(j->f16_table, src, dst, n);
        break;
    case CKPT_BF16:
        for (size_t i = 0; i < n; i++) {
            memcpy(&h, src + 2 * i, 2);
            uint32_t u = (uint32_t)h << 16;
            memcpy(&dst[i], &u, 4);
        }
        break;
    case CKPT_F64:
        for (size_t i = 0; i < n; i++) {
            memcpy(&x, src + 8 * i, 8);
            dst[i] = (float)x;
        }
        break;
    default: memcpy(dst, src, n * 4); break;
    }
}

/* Same dtype in and out: raw bytes, so every value (NaN payloads included) is copied exactly. */
static int same_dtype(ckpt_dtype s, segc_dtype d) {
    return (s == CKPT_F32 && d == SEGC_F32) || (s == CKPT_F16 && d == SEGC_F16) || (s == CKPT_BF16 && d == SEGC_BF16);
}

/* n elements from src (source dtype, packed) to out (destination dtype); fbuf holds BLOCK floats. */
static void convert_block(const fill_job *j, const uint8_t *src, uint8_t *out, size_t n, float *fbuf) {
    if (same_dtype(j->t->dtype, j->dst)) {
        memcpy(out, src, n * segc_dtype_size(j->dst));
        return;
    }
    if (j->dst == SEGC_F32) {
        widen(j, src, (float *)(void *)out, n);   /* out is 4-byte aligned: offsets are multiples of 4 */
        return;
    }
    widen(j, src, fbuf, n);
    if (j->dst == SEGC_F16) segc_f32_to_f16_array(fbuf, (uint16_t *)(void *)out, n);
    else segc_f32_to_bf16_array(fbuf, (uint16_t *)(void *)out, n);
}

/* segc_file_fill_fn: bytes [offset, offset+nbytes) of the converted tensor, BLOCK elements at a time;
   a non-contiguous source is gathered element by element first. */
static segc_status fill_tensor(void *user, void *dst, uint64_t offset, uint64_t nbytes) {
    const fill_job *j = user;
    const ckpt_tensor *t = j->t;
    size_t ssize = (size_t)ckpt_dtype_size(t->dtype), dsize = segc_dtype_size(j->dst);
    uint64_t e0 = offset / dsize, n = nbytes / dsize;
    uint8_t *out = dst;
    float fbuf[BLOCK];
    uint8_t gathered[BLOCK * 8];
    for (uint64_t i = 0; i < n; i += BLOCK) {
        size_t k = n - i < BLOCK ? (size_t)(n - i) : BLOCK;
        const uint8_t *src = (const uint8_t *)t->data + (e0 + i) * ssize;
        if (!j->contiguous) {
            for (size_t q = 0; q < k; q++) memcpy(gathered + q * ssize, element_at(t, e0 + i + q), ssize);
            src = gathered;
        }
        convert_block(j, src, out + i * dsize, k, fbuf);
    }
    return SEGC_OK;
}

/* Checks strides against the storage and reports whether the tensor is row-major contiguous. */
static segc_status check_layout(const ckpt_tensor *t, const char *name, int *contiguous) {
    int64_t numel = ckpt_numel(t), expect = 1, last = 0;
    *contiguous = 1;
    if (t->ndim < 0 || t->ndim > SEGC_MAX_DIMS)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "tensor %s: %d dims (at most %d)", name, t->ndim, SEGC_MAX_DIMS);
    int overflow = numel < 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t span;
        if (t->stride[d] < 0 || t->shape[d] < 0)
            return segc_fail(SEGC_ERR_FORMAT, "tensor %s: negative size or stride", name);
        if (t->shape[d] != 1 && t->stride[d] != expect) *contiguous = 0;
        if (t->shape[d] > 0) {
            overflow |= __builtin_mul_overflow(t->shape[d] - 1, t->stride[d], &span);
            overflow |= __builtin_add_overflow(last, span, &last);
        }
        overflow |= __builtin_mul_overflow(expect, t->shape[d], &expect);
    }
    uint64_t need = numel ? ((uint64_t)last + 1) * (uint64_t)ckpt_dtype_size(t->dtype) : 0;
    if (numel && (overflow || !t->data || last > INT64_MAX / 8 || need > t->storage_nbytes))
        return segc_fail(SEGC_ERR_FORMAT, "tensor %s: shape and strides reach past its storage (%llu bytes)", name,
                         (unsigned long long)t->storage_nbytes);
    return SEGC_OK;
}

/* ---- the conversion -------------------------------------------------------------------------- */

static const char *format_name(ckpt_format f) {
    switch (f) {
    case CKPT_FORMAT_ZIP: return "zip";
    case CKPT_FORMAT_LEGACY: return "legacy";
    default: return "safetensors";
    }
}

/* The first few stripped keys, for "not a known architecture" messages. */
static void first_keys(const convert_source *src, char *buf, size_t cap) {
    size_t np = strlen(src->prefix), n = 0;
    int shown = 0;
    buf[0] = 0;
    for (int i = 0; i < ckpt_count(src->ck) && shown < 4 && n + 1 < cap; i++) {
        const char *k = ckpt_at(src->ck, i)->name;
        if (strncmp(k, src->prefix, np)) continue;
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", shown ? ", " : "", k + np);
        shown++;
    }
    if (!shown) snprintf(buf, cap, "(no tensors)");
}

/* Picks the hook: forced by name, or the single one whose detect() says yes. */
static segc_status pick_arch(const convert_source *src, const char *forced, const convert_arch **out) {
    if (forced) {
        if (!(*out = convert_arch_by_name(forced))) {
            char names[256];
            size_t n = 0;
            names[0] = 0;
            for (int i = 0; i < convert_arch_count() && n < sizeof names; i++)
                n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", arch_table[i]->name);
            return segc_fail(SEGC_ERR_UNSUPPORTED, "unknown architecture '%s' (this build knows: %s)", forced, names);
        }
        return SEGC_OK;
    }
    const convert_arch *hit = NULL;
    for (int i = 0; i < convert_arch_count(); i++) {
        if (!arch_table[i]->detect || !arch_table[i]->detect(src)) continue;
        if (hit)
            return segc_fail(SEGC_ERR_UNSUPPORTED, "checkpoint looks like both %s and %s: pass --arch", hit->name,
                             arch_table[i]->name);
        hit = arch_table[i];
    }
    if (!hit) {
        char keys[400];
        first_keys(src, keys, sizeof keys);
        return segc_fail(SEGC_ERR_UNSUPPORTED, "not a known architecture: first keys are %s", keys);
    }
    *out = hit;
    return SEGC_OK;
}

/* Per-conversion state owned by segc_convert_file. */
typedef struct conv {
    const segc_convert_options *o;
    fill_job *jobs;
    float *f16_table;
    int f16c;
} conv;

/* Writer progress (bytes of the output file) -> caller progress. */
static void write_progress(void *user, uint64_t done, uint64_t total) {
    const conv *c = user;
    c->o->progress(c->o->progress_user, done, total);
}

/* ---- the source hash, on a second thread ------------------------------------------------------ */

/* SHA-256 of the input file ("source.sha256"). It is computed on its own thread while the main thread
   opens, checks and converts the checkpoint: the two only meet when the writer asks for the value,
   after the tensor data. Both read the same mapping of the file, so each page is faulted in once, by
   whichever thread is first. */
typedef struct source_hash {
    const uint8_t *data;   /* the whole input file */
    size_t size;
    thrd_t thread;
    int started;           /* the thread runs; else source_hash_finish hashes on the calling thread */
    atomic_int stop;       /* set when the conversion fails before the digest is needed */
    char hex[65];
} source_hash;

/* Thread body: hashes 8 MB per step, checking `stop` between steps. */
static int source_hash_run(void *arg) {
    source_hash *h = arg;
    segc_sha256_ctx s;
    segc_sha256_init(&s);
    const size_t step = (size_t)8 << 20;
    for (size_t at = 0; at < h->size && !atomic_load(&h->stop); at += step)
        segc_sha256_update(&s, h->data + at, h->size - at < step ? h->size - at : step);
    uint8_t digest[32];
    segc_sha256_final(&s, digest);
    segc_sha256_hex(digest, h->hex);
    return 0;
}

/* Starts hashing data[0, size) (which must outlive h) on a new thread; without a thread the work is
   done by source_hash_finish. */
static void source_hash_start(source_hash *h, const uint8_t *data, size_t size) {
    memset(h, 0, sizeof *h);
    h->data = data;
    h->size = size;
    atomic_init(&h->stop, 0);
    h->started = thrd_create(&h->thread, source_hash_run, h) == thrd_success;
}

/* Waits for the digest (or computes it now). */
static void source_hash_finish(source_hash *h) {
    if (h->started) thrd_join(h->thread, NULL);
    else source_hash_run(h);
    h->started = 0;
}

/* segc_file_value_fn for "source.sha256": waits for the digest and hands out its 64 hex digits. */
static segc_status source_hash_value(void *user, char *dst, size_t len) {
    source_hash *h = user;
    source_hash_finish(h);
    memcpy(dst, h->hex, len);
    return SEGC_OK;
}

/* Stops a hash that is no longer needed and waits for the thread to end. */
static void source_hash_cancel(source_hash *h) {
    atomic_store(&h->stop, 1);
    if (h->started) thrd_join(h->thread, NULL);
    h->started = 0;
}

/* Maps the whole input read-only (a regular, non-empty file); SEGC_ERR_IO / SEGC_ERR_FORMAT name it. */
static segc_status map_input(const char *path, const uint8_t **data, size_t *size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return segc_fail(SEGC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    segc_status st = SEGC_OK;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) st = segc_fail(SEGC_ERR_IO, "%s: not a regular file", path);
    else if (sb.st_size == 0) st = segc_fail(SEGC_ERR_FORMAT, "%s: empty file", path);
    void *m = st ? MAP_FAILED : mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (!st && m == MAP_FAILED) st = segc_fail(SEGC_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    close(fd);
    if (st) return st;
    *data = m;
    *size = (size_t)sb.st_size;
    return SEGC_OK;
}

/* Common metadata (arch, source.*, converter.version); source.sha256 is filled in from the hash thread
   when the writer gets to the metadata, after the tensor data. */
static segc_status add_common(segc_file_writer *w, const convert_arch *a, const char *in, const ckpt *ck,
                              const char *prefix, const char *src_dtype, source_hash *hash) {
    const char *base = strrchr(in, '/');
    segc_status st = segc_file_writer_add_str(w, "arch", a->name);
    if (!st) st = segc_file_writer_add_str(w, "source.name", base ? base + 1 : in);
    if (!st) st = segc_file_writer_add_str_deferred(w, "source.sha256", 64, source_hash_value, hash);
    if (!st) st = segc_file_writer_add_str(w, "source.format", format_name(ckpt_get_format(ck)));
    if (!st) st = segc_file_writer_add_str(w, "source.dtype", src_dtype);
    if (!st) st = segc_file_writer_add_str(w, "source.prefix", prefix);
    if (!st) st = segc_file_writer_add_str(w, "converter.version", SEGC_VERSION_STRING);
    return st;
}

/* Adds every kept float tensor of the model subtree; fills c->jobs (one per tensor). */
static segc_status add_tensors(segc_file_writer *w, const convert_arch *a, const convert_source *src, conv *c) {
    size_t np = strlen(src->prefix);
    int n = ckpt_count(src->ck), added = 0;
    c->jobs = calloc((size_t)n + 1, sizeof *c->jobs);
    c->f16_table = malloc(65536 * sizeof *c->f16_table);
    if (!c->jobs || !c->f16_table) return segc_fail(SEGC_ERR_NOMEM, "no memory");
    for (uint32_t h = 0; h < 65536; h++) c->f16_table[h] = segc_f16_to_f32((uint16_t)h);
    for (int i = 0; i < n; i++) {
        const ckpt_tensor *t = ckpt_at(src->ck, i);
        if (strncmp(t->name, src->prefix, np) || !is_float(t->dtype)) continue;   /* outside, or integer */
        const char *name = t->name + np;
        if (a->keep && !a->keep(name)) continue;
        fill_job *j = &c->jobs[i];
        j->t = t;
        j->dst = c->o->dtype;
        j->f16_table = c->f16_table;
        j->f16c = c->f16c;
        segc_status st = check_layout(t, t->name, &j->contiguous);
        if (!st) st = segc_file_writer_add_tensor_fill(w, name, c->o->dtype, t->ndim, t->shape, fill_tensor, j);
        if (st) return st;
        added++;
    }
    if (!added) return segc_fail(SEGC_ERR_FORMAT, "no floating-point tensors to write under '%s'", src->prefix);
    return SEGC_OK;
}

/* "f32", "f16", ... if every float tensor under the prefix has that dtype, else "mixed". */
static const char *source_dtype(const convert_source *src) {
    size_t np = strlen(src->prefix);
    int seen = -1;
    for (int i = 0; i < ckpt_count(src->ck); i++) {
        const ckpt_tensor *t = ckpt_at(src->ck, i);
        if (strncmp(t->name, src->prefix, np) || !is_float(t->dtype)) continue;
        if (seen >= 0 && seen != (int)t->dtype) return "mixed";
        seen = (int)t->dtype;
    }
    return seen < 0 ? "none" : ckpt_dtype_name((ckpt_dtype)seen);
}

/* Nonzero if both paths name the same existing file. */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

segc_status segc_convert_file(const char *in, const char *out, const segc_convert_options *opt) {
    segc_convert_options defaults;
    if (!opt) {
        segc_convert_options_default(&defaults);
        opt = &defaults;
    }
    if (!in || !out) return segc_fail(SEGC_ERR_INVALID_ARG, "segc_convert_file: NULL path");
    if (opt->dtype != SEGC_F32 && opt->dtype != SEGC_F16 && opt->dtype != SEGC_BF16)
        return segc_fail(SEGC_ERR_INVALID_ARG, "convert: dtype must be f32, f16 or bf16");
    if (opt->output_stride != 0 && opt->output_stride != 8 && opt->output_stride != 16)
        return segc_fail(SEGC_ERR_INVALID_ARG, "convert: output stride must be 8 or 16, not %d", opt->output_stride);
    if (same_file(in, out)) return segc_fail(SEGC_ERR_INVALID_ARG, "convert: output %s is the input file", out);
    const uint8_t *map = NULL;
    size_t size = 0;
    segc_status st = map_input(in, &map, &size);
    if (st) return st;

    ckpt *ck = NULL;
    segc_file_writer *w = NULL;
    conv c = {.o = opt, .f16c = use_f16c()};
    char prefix[256] = "";
    convert_source src = {.prefix = prefix};
    const convert_arch *a = NULL;
    source_hash hash;
    source_hash_start(&hash, map, size);
    if ((st = ckpt_open_memory(map, size, &ck))) segc_fail_context(st, "%s", in);
    if (!st) {
        find_prefix(ck, prefix, sizeof prefix);
        src.ck = ck;
        st = pick_arch(&src, opt->arch, &a);
    }
    if (!st) st = segc_file_writer_create(&w);
    if (!st) st = add_common(w, a, in, ck, prefix, source_dtype(&src), &hash);
    if (!st && (st = a->describe(&src, opt, w))) segc_fail_context(st, "%s (as %s)", in, a->name);
    if (!st) st = add_tensors(w, a, &src, &c);
    if (!st) st = segc_file_writer_write(w, out, opt->progress ? write_progress : NULL, &c);
    source_hash_cancel(&hash);   /* after a failure: the digest is not needed (else: already joined) */
    segc_file_writer_free(w);
    free(c.jobs);
    free(c.f16_table);
    ckpt_close(ck);
    munmap((void *)map, size);
    return st;
}
