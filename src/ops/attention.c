/* attention.c - fused scaled-dot-product attention, head layout helpers, Hiera windows (see attention.h).
   Dims as in the header: B batch, H heads, Lq/Lk query/key tokens, D q/k head dim, Dv value head dim.
   The fast path computes a block of query rows at a time: S = scale q_blk k^T with sgemm into a
   per-thread scratch [rows, Lk], softmax on each row in place, then out_blk = S v with sgemm and a
   final 1/sum per row. It deliberately does not do an online (flash) softmax over key blocks: with
   Lk up to ~30000 a [rows, Lk] block is a few MiB per thread, and two large sgemm calls per block run
   much nearer peak than many small ones. When one head has enough query rows to keep every thread busy
   (global attention, SAM 2's memory cross-attention), its keys and values are packed once for the
   packed matrix kernel (gemm_packed.c) and every block of rows multiplies against the packed copies;
   heads are then taken one after another. Otherwise (many small heads: windows, decoders) each thread
   takes whole blocks of any head through segc_sgemm. */
#include "ops/attention.h"

#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "core/status.h"
#include "ops/gemm.h"

/* Target size of one thread's score block in floats (4 MiB), and the row range a block may take:
   fewer rows make the sgemm calls inefficient, more only cost memory. */
#define ATTN_SCORE_BUDGET_FLOATS ((int64_t)1 << 20)
#define ATTN_MIN_ROWS 32
#define ATTN_MAX_ROWS 256
/* The per-head packed path (AVX-512 builds, where the packed kernel beats OpenBLAS): a larger score
   block per thread, since the packed keys are read once per block of rows. */
#ifdef __AVX512F__
#define ATTN_PACKED 1
#else
#define ATTN_PACKED 0
#endif
#define ATTN_PACKED_SCORE_FLOATS ((int64_t)1 << 22)

/* Everything the kernels need about one call, validated once. */
typedef struct attn_args {
    int64_t B, H, Lq, Lk, D, Dv;
    float scale;
    const float *q, *k, *v, *mask;
    float *out;
    int64_t qs[3], ks[3], vs[3], os[3];   /* strides of dims 0..2 (the last dim has stride 1) */
    int64_t ms[3];                        /* mask strides for b, h, row (0 where broadcast) */
} attn_args;

/* Checks that t is a float32 tensor of `ndim` dims with a contiguous last dim. */
static segc_status check_rows(const segc_tensor *t, int ndim, const char *op, const char *name) {
    char buf[96];
    if (!t || !t->data) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: %s is NULL", op, name);
    if (t->dtype != SEGC_F32)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "%s: %s has dtype %s, want f32", op, name, segc_dtype_name(t->dtype));
    if (t->ndim != ndim)
        return segc_fail(SEGC_ERR_SHAPE, "%s: %s is %s, want %d dims", op, name,
                         segc_tensor_shape_str(t, buf, sizeof buf), ndim);
    if (t->shape[ndim - 1] > 1 && t->stride[ndim - 1] != 1)
        return segc_fail(SEGC_ERR_SHAPE, "%s: %s needs a contiguous last dim (stride %lld)", op, name,
                         (long long)t->stride[ndim - 1]);
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] < 0 || t->stride[i] < 0)
            return segc_fail(SEGC_ERR_SHAPE, "%s: %s has a negative size or stride", op, name);
    return SEGC_OK;
}

/* Validates q[B,H,Lq,D], k[B,H,Lk,D], v[B,H,Lk,Dv], the optional mask and out[B,H,Lq,Dv]. */
static segc_status attn_prepare(const segc_tensor *q, const segc_tensor *k, const segc_tensor *v,
                                const segc_tensor *mask, float scale, const segc_tensor *out, attn_args *a) {
    static const char *op = "attention";
    char b1[96], b2[96], b3[96];
    segc_status st;
    if ((st = check_rows(q, 4, op, "q")) || (st = check_rows(k, 4, op, "k")) || (st = check_rows(v, 4, op, "v")) ||
        (st = check_rows(out, 4, op, "out")))
        return st;
    memset(a, 0, sizeof *a);
    a->B = q->shape[0], a->H = q->shape[1], a->Lq = q->shape[2], a->D = q->shape[3];
    a->Lk = k->shape[2], a->Dv = v->shape[3];
    if (k->shape[0] != a->B || k->shape[1] != a->H || k->shape[3] != a->D || v->shape[0] != a->B ||
        v->shape[1] != a->H || v->shape[2] != a->Lk)
        return segc_fail(SEGC_ERR_SHAPE, "attention: q %s, k %s, v %s do not fit [B,H,Lq,D], [B,H,Lk,D], [B,H,Lk,Dv]",
                         segc_tensor_shape_str(q, b1, sizeof b1), segc_tensor_shape_str(k, b2, sizeof b2),
                         segc_tensor_shape_str(v, b3, sizeof b3));
    const int64_t want_out[4] = {a->B, a->H, a->Lq, a->Dv};
    if (!segc_tensor_has_shape(out, 4, want_out))
        return segc_fail(SEGC_ERR_SHAPE, "attention: out is %s, want [%lld, %lld, %lld, %lld]",
                         segc_tensor_shape_str(out, b1, sizeof b1), (long long)a->B, (long long)a->H,
                         (long long)a->Lq, (long long)a->Dv);
    if (a->D < 1 || a->Dv < 1 || a->Lk < 1)
        return segc_fail(SEGC_ERR_SHAPE, "attention: empty head dim or key sequence (D %lld, Dv %lld, Lk %lld)",
                         (long long)a->D, (long long)a->Dv, (long long)a->Lk);
    /* cblas takes int sizes and leading dimensions */
    if (a->Lk > INT_MAX / ATTN_MAX_ROWS || a->D > INT_MAX || a->Dv > INT_MAX || q->stride[2] > INT_MAX ||
        k->stride[2] > INT_MAX || v->stride[2] > INT_MAX || out->stride[2] > INT_MAX)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "attention: sizes or strides beyond int range");
    for (int i = 0; i < 3; i++) {
        a->qs[i] = q->stride[i], a->ks[i] = k->stride[i], a->vs[i] = v->stride[i], a->os[i] = out->stride[i];
    }
    if (mask) {
        if ((st = check_rows(mask, mask->ndim == 2 ? 2 : 4, op, "mask"))) return st;
        int nd = mask->ndim;
        int ok = mask->shape[nd - 2] == a->Lq && mask->shape[nd - 1] == a->Lk;
        if (nd == 4)
            ok = ok && (mask->shape[0] == a->B || mask->shape[0] == 1) && (mask->shape[1] == a->H || mask->shape[1] == 1);
        if (!ok)
            return segc_fail(SEGC_ERR_SHAPE, "attention: mask is %s, want [%lld, %lld] or [B|1, H|1, %lld, %lld]",
                             segc_tensor_shape_str(mask, b1, sizeof b1), (long long)a->Lq, (long long)a->Lk,
                             (long long)a->Lq, (long long)a->Lk);
        a->mask = mask->data;
        a->ms[2] = mask->stride[nd - 2];
        if (nd == 4) {
            a->ms[0] = mask->shape[0] == 1 ? 0 : mask->stride[0];
            a->ms[1] = mask->shape[1] == 1 ? 0 : mask->stride[1];
        }
    }
    a->scale = scale > 0 ? scale : (float)(1.0 / sqrt((double)a->D));
    a->q = q->data, a->k = k->data, a->v = v->data, a->out = out->data;
    return SEGC_OK;
}

/* e^x for x <= 0 (a softmax argument after the row max is subtracted), written so the compiler can
   vectorize it (libm's expf cannot be): x = n ln2 + r with |r| <= ln2/2, e^r by Cephes' degree-6
   polynomial (relative error ~1e-7), 2^n assembled in the exponent bits. Below -87 (and for -inf)
   the result is 0; NaN propagates. */
static inline float exp_nonpositive(float x) {
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;  /* ln 2 split for exact n ln2_hi */
    const float round_shift = 12582912.0f;                          /* 1.5 * 2^23: x + it rounds x */
    float xc = x > -87.0f ? x : -87.0f;
    float n = (xc * log2e + round_shift) - round_shift;
    float r = (xc - n * ln2_hi) - n * ln2_lo;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) * (1 << 23);
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    float y = p * two_n;
    return x >= -87.0f ? y : (x < -87.0f ? 0.0f : x);
}

/* Softmax of one score row s[Lk] in place (after adding the mask row, if any), left unnormalized:
   returns 1/sum, or 0 after zeroing the row when every score is -inf. */
static float softmax_row_unnormalized(float *s, const float *mask, int64_t Lk) {
    if (mask)
        for (int64_t j = 0; j < Lk; j++) s[j] += mask[j];
    /* 8 running maxima and sums keep the loops vectorizable and the result independent of threads */
    float m8[8], s8[8];
    for (int t = 0; t < 8; t++) m8[t] = -INFINITY, s8[t] = 0.0f;
    int64_t j8 = Lk & ~(int64_t)7;
    for (int64_t j = 0; j < j8; j += 8)
        for (int t = 0; t < 8; t++) m8[t] = s[j + t] > m8[t] ? s[j + t] : m8[t];
    float m = -INFINITY;
    for (int t = 0; t < 8; t++) m = m8[t] > m ? m8[t] : m;
    for (int64_t j = j8; j < Lk; j++) m = s[j] > m ? s[j] : m;
    if (m == -INFINITY) {
        memset(s, 0, (size_t)Lk * sizeof *s);
        return 0.0f;
    }
    for (int64_t j = 0; j < Lk; j++) s[j] = exp_nonpositive(s[j] - m);
    for (int64_t j = 0; j < j8; j += 8)
        for (int t = 0; t < 8; t++) s8[t] += s[j + t];
    float sum = 0.0f;
    for (int t = 0; t < 8; t++) sum += s8[t];
    for (int64_t j = j8; j < Lk; j++) sum += s[j];
    return 1.0f / sum;
}

/* Query rows [i0, i0 + rows) of head (b, h): s[rows, Lk] = scale q k^T (+ mask), softmax,
   out[rows, Dv] = s v / sum. `s` is this thread's scratch; pk / pv are the head's keys (as the
   [D, Lk] right operand) and values ([Lk, Dv]) packed by segc_gemm_pack_b, or NULL to use k and v. */
static void attn_block(const attn_args *a, int64_t b, int64_t h, int64_t i0, int rows, float *s, const float *pk,
                       const float *pv) {
    const float *qp = a->q + b * a->qs[0] + h * a->qs[1] + i0 * a->qs[2];
    const float *kp = a->k + b * a->ks[0] + h * a->ks[1];
    const float *vp = a->v + b * a->vs[0] + h * a->vs[1];
    float *op = a->out + b * a->os[0] + h * a->os[1] + i0 * a->os[2];
    int Lk = (int)a->Lk, D = (int)a->D, Dv = (int)a->Dv;
    float inv_sum[ATTN_MAX_ROWS];

    if (pk) segc_gemm_packed(0, rows, Lk, D, a->scale, qp, (int)a->qs[2], pk, 0.0f, s, Lk);
    else segc_sgemm(0, 1, rows, Lk, D, a->scale, qp, (int)a->qs[2], kp, (int)a->ks[2], 0.0f, s, Lk);
    for (int r = 0; r < rows; r++) {
        const float *mrow = a->mask ? a->mask + b * a->ms[0] + h * a->ms[1] + (i0 + r) * a->ms[2] : NULL;
        inv_sum[r] = softmax_row_unnormalized(s + (int64_t)r * Lk, mrow, Lk);
    }
    if (pv) segc_gemm_packed(0, rows, Dv, Lk, 1.0f, s, Lk, pv, 0.0f, op, (int)a->os[2]);
    else segc_sgemm(0, 0, rows, Dv, Lk, 1.0f, s, Lk, vp, (int)a->vs[2], 0.0f, op, (int)a->os[2]);
    for (int r = 0; r < rows; r++) {
        float *orow = op + r * a->os[2];
        for (int e = 0; e < Dv; e++) orow[e] *= inv_sum[r];
    }
}

/* The per-head packed path: for each head, keys and values packed once (over the pool), then the
   head's blocks of `rows` query rows shared out to the threads. */
static segc_status attention_packed_heads(segc_arena *scratch, const attn_args *a, int64_t rows, int nthreads) {
    const int Lk = (int)a->Lk, D = (int)a->D, Dv = (int)a->Dv;
    const int64_t nblk = (a->Lq + rows - 1) / rows;
    segc_arena_mark mark = segc_arena_get_mark(scratch);
    float *pk = segc_arena_alloc_array(scratch, segc_gemm_packed_b_floats(D, Lk), sizeof(float));
    float *pv = pk ? segc_arena_alloc_array(scratch, segc_gemm_packed_b_floats(Lk, Dv), sizeof(float)) : NULL;
    float *buf = pv ? segc_arena_alloc_array(scratch, (size_t)nthreads * (size_t)rows * (size_t)Lk, sizeof(float))
                    : NULL;
    if (!buf) {
        segc_arena_release(scratch, mark);
        return segc_fail_context(SEGC_ERR_NOMEM, "attention: packed keys, values and scores");
    }
    for (int64_t bh = 0; bh < a->B * a->H; bh++) {
        const int64_t b = bh / a->H, h = bh % a->H;
        segc_gemm_pack_b(1, D, Lk, a->k + b * a->ks[0] + h * a->ks[1], (int)a->ks[2], pk);
        segc_gemm_pack_b(0, Lk, Dv, a->v + b * a->vs[0] + h * a->vs[1], (int)a->vs[2], pv);
#pragma omp parallel num_threads(nthreads)
        {
            float *s = buf + (size_t)omp_get_thread_num() * (size_t)rows * (size_t)Lk;
#pragma omp for schedule(dynamic, 1)
            for (int64_t t = 0; t < nblk; t++) {
                int64_t i0 = t * rows;
                attn_block(a, b, h, i0, (int)(a->Lq - i0 < rows ? a->Lq - i0 : rows), s, pk, pv);
            }
        }
    }
    segc_arena_release(scratch, mark);
    return SEGC_OK;
}

segc_status segc_attention(segc_arena *scratch, const segc_tensor *q, const segc_tensor *k, const segc_tensor *v,
                           const segc_tensor *mask, float scale, segc_tensor *out) {
    attn_args a;
    segc_status st = attn_prepare(q, k, v, mask, scale, out, &a);
    if (st) return st;
    if (!scratch) return segc_fail(SEGC_ERR_INVALID_ARG, "attention: scratch arena is NULL");
    if (a.B == 0 || a.H == 0 || a.Lq == 0) return SEGC_OK;

    int nthreads = omp_get_max_threads();
    int64_t rows = ATTN_PACKED_SCORE_FLOATS / a.Lk;
    rows = rows < ATTN_MIN_ROWS ? ATTN_MIN_ROWS : (rows > ATTN_MAX_ROWS ? ATTN_MAX_ROWS : rows);
    /* the choice does not depend on the thread count, so neither does the result */
    if (ATTN_PACKED && !omp_in_parallel() && a.Lq >= 4 * rows && a.D >= 16 && a.Dv >= 16)
        return attention_packed_heads(scratch, &a, rows, nthreads);
    rows = ATTN_SCORE_BUDGET_FLOATS / a.Lk;
    rows = rows < ATTN_MIN_ROWS ? ATTN_MIN_ROWS : (rows > ATTN_MAX_ROWS ? ATTN_MAX_ROWS : rows);
    if (rows > a.Lq) rows = a.Lq;
    int64_t nblk = (a.Lq + rows - 1) / rows;
    int64_t tasks = a.B * a.H * nblk;
    /* Fewer tasks than threads (a decoder's few queries): run them one by one and let OpenBLAS
       spread each sgemm over the pool instead. */
    int parallel = tasks >= nthreads && nthreads > 1;
    int nbuf = parallel ? nthreads : 1;

    segc_arena_mark mark = segc_arena_get_mark(scratch);
    float *buf = segc_arena_alloc_array(scratch, (size_t)nbuf * (size_t)rows * (size_t)a.Lk, sizeof(float));
    if (!buf) {
        segc_arena_release(scratch, mark);
        return segc_fail_context(SEGC_ERR_NOMEM, "attention: score scratch");
    }
    if (parallel) {
#pragma omp parallel num_threads(nthreads)
        {
            float *s = buf + (size_t)omp_get_thread_num() * (size_t)rows * (size_t)a.Lk;
#pragma omp for schedule(static)
            for (int64_t t = 0; t < tasks; t++) {
                int64_t bh = t / nblk, i0 = (t % nblk) * rows;
                int n = (int)(a.Lq - i0 < rows ? a.Lq - i0 : rows);
                attn_block(&a, bh / a.H, bh % a.H, i0, n, s, NULL, NULL);
            }
        }
    } else {
        for (int64_t t = 0; t < tasks; t++) {
            int64_t bh = t / nblk, i0 = (t % nblk) * rows;
            int n = (int)(a.Lq - i0 < rows ? a.Lq - i0 : rows);
            attn_block(&a, bh / a.H, bh % a.H, i0, n, buf, NULL, NULL);
        }
    }
    segc_arena_release(scratch, mark);
    return SEGC_OK;
}

segc_status segc_attention_new(segc_arena *arena, const segc_tensor *q, const segc_tensor *k, const segc_tensor *v,
                               const segc_tensor *mask, float scale, segc_tensor *out) {
    segc_status st;
    if ((st = check_rows(q, 4, "attention", "q")) || (st = check_rows(v, 4, "attention", "v"))) return st;
    if (!arena) return segc_fail(SEGC_ERR_INVALID_ARG, "attention: arena is NULL");
    const int64_t shape[4] = {q->shape[0], q->shape[1], q->shape[2], v->shape[3]};
    if ((st = segc_tensor_new(arena, SEGC_F32, 4, shape, out))) return segc_fail_context(st, "attention: out");
    return segc_attention(arena, q, k, v, mask, scale, out);
}

/* out[b,h,i,:] = sum_j softmax_j(scale q[b,h,i,:].k[b,h,j,:] + mask[i,j]) v[b,h,j,:], in double. */
segc_status segc_attention_reference(segc_arena *scratch, const segc_tensor *q, const segc_tensor *k,
                                     const segc_tensor *v, const segc_tensor *mask, float scale, segc_tensor *out) {
    attn_args a;
    segc_status st = attn_prepare(q, k, v, mask, scale, out, &a);
    if (st) return st;
    if (!scratch) return segc_fail(SEGC_ERR_INVALID_ARG, "attention: scratch arena is NULL");
    segc_arena_mark mark = segc_arena_get_mark(scratch);
    double *p = segc_arena_alloc_array(scratch, (size_t)a.Lk, sizeof(double));
    if (!p) {
        segc_arena_release(scratch, mark);
        return segc_fail_context(SEGC_ERR_NOMEM, "attention_reference");
    }
    for (int64_t b = 0; b < a.B; b++)
        for (int64_t h = 0; h < a.H; h++)
            for (int64_t i = 0; i < a.Lq; i++) {
                const float *qi = a.q + b * a.qs[0] + h * a.qs[1] + i * a.qs[2];
                double m = -INFINITY;
                for (int64_t j = 0; j < a.Lk; j++) {
                    const float *kj = a.k + b * a.ks[0] + h * a.ks[1] + j * a.ks[2];
                    double dot = 0;
                    for (int64_t d = 0; d < a.D; d++) dot += (double)qi[d] * kj[d];
                    p[j] = dot * a.scale;
                    if (a.mask) p[j] += a.mask[b * a.ms[0] + h * a.ms[1] + i * a.ms[2] + j];
                    if (p[j] > m) m = p[j];
                }
                double sum = 0;
                for (int64_t j = 0; j < a.Lk; j++) {
                    p[j] = m == -INFINITY ? 0.0 : exp(p[j] - m);
                    sum += p[j];
                }
                float *oi = a.out + b * a.os[0] + h * a.os[1] + i * a.os[2];
                for (int64_t e = 0; e < a.Dv; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j < a.Lk; j++) acc += p[j] * a.v[b * a.vs[0] + h * a.vs[1] + j * a.vs[2] + e];
                    oi[e] = sum > 0 ? (float)(acc / sum) : 0.0f;
                }
            }
    segc_arena_release(scratch, mark);
    return SEGC_OK;
}

/* ---- head layout ---- */

/* Checks x[B,L,C] with a contiguous last dim and C divisible by parts * heads; returns D. */
static segc_status check_heads_input(const segc_tensor *x, int heads, int parts, const char *op, int64_t *D) {
    segc_status st = check_rows(x, 3, op, "x");
    if (st) return st;
    if (heads < 1) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: heads %d < 1", op, heads);
    if (x->shape[2] % ((int64_t)heads * parts))
        return segc_fail(SEGC_ERR_SHAPE, "%s: channels %lld not divisible by %d x %d heads", op,
                         (long long)x->shape[2], parts, heads);
    *D = x->shape[2] / ((int64_t)heads * parts);
    return SEGC_OK;
}

segc_status segc_attention_heads_view(const segc_tensor *x, int heads, segc_tensor *out) {
    int64_t D = 0;
    segc_status st = check_heads_input(x, heads, 1, "attention_heads_view", &D);
    if (st) return st;
    segc_tensor t = *x;
    t.ndim = 4;
    t.shape[0] = x->shape[0], t.shape[1] = heads, t.shape[2] = x->shape[1], t.shape[3] = D;
    t.stride[0] = x->stride[0], t.stride[1] = D, t.stride[2] = x->stride[1], t.stride[3] = 1;
    *out = t;
    return SEGC_OK;
}

/* dst[b,h,l,:] = src(part)[b,l,h,:] for contiguous dst[B,H,L,D]; src row (b,l) starts at
   x + b*s0 + l*s1 + part*H*D. */
static void gather_heads(const segc_tensor *x, int heads, int64_t D, int part, float *dst) {
    int64_t B = x->shape[0], L = x->shape[1];
    const float *src = x->data;
#pragma omp parallel for schedule(static)
    for (int64_t bl = 0; bl < B * L; bl++) {
        int64_t b = bl / L, l = bl % L;
        const float *row = src + b * x->stride[0] + l * x->stride[1] + (int64_t)part * heads * D;
        for (int h = 0; h < heads; h++)
            memcpy(dst + ((b * heads + h) * L + l) * D, row + h * D, (size_t)D * sizeof(float));
    }
}

/* Checks that `out` is a contiguous float32 tensor of the given 4-D shape. */
static segc_status check_out4(const segc_tensor *out, const int64_t *shape, const char *op, const char *name) {
    char b1[96];
    if (!out || !out->data) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: %s is NULL", op, name);
    if (out->dtype != SEGC_F32 || !segc_tensor_has_shape(out, 4, shape) || !segc_tensor_is_contiguous(out))
        return segc_fail(SEGC_ERR_SHAPE, "%s: %s is %s %s, want contiguous f32 [%lld, %lld, %lld, %lld]", op, name,
                         segc_dtype_name(out->dtype), segc_tensor_shape_str(out, b1, sizeof b1), (long long)shape[0],
                         (long long)shape[1], (long long)shape[2], (long long)shape[3]);
    return SEGC_OK;
}

segc_status segc_attention_split_heads(const segc_tensor *x, int heads, segc_tensor *out) {
    int64_t D = 0;
    segc_status st = check_heads_input(x, heads, 1, "attention_split_heads", &D);
    if (st) return st;
    const int64_t shape[4] = {x->shape[0], heads, x->shape[1], D};
    if ((st = check_out4(out, shape, "attention_split_heads", "out"))) return st;
    gather_heads(x, heads, D, 0, out->data);
    return SEGC_OK;
}

segc_status segc_attention_split_qkv(const segc_tensor *qkv, int heads, segc_tensor *q, segc_tensor *k,
                                     segc_tensor *v) {
    static const char *op = "attention_split_qkv";
    int64_t D = 0;
    segc_status st = check_heads_input(qkv, heads, 3, op, &D);
    if (st) return st;
    const int64_t shape[4] = {qkv->shape[0], heads, qkv->shape[1], D};
    if ((st = check_out4(q, shape, op, "q")) || (st = check_out4(k, shape, op, "k")) ||
        (st = check_out4(v, shape, op, "v")))
        return st;
    gather_heads(qkv, heads, D, 0, q->data);
    gather_heads(qkv, heads, D, 1, k->data);
    gather_heads(qkv, heads, D, 2, v->data);
    return SEGC_OK;
}

segc_status segc_attention_merge_heads(const segc_tensor *x, segc_tensor *out) {
    static const char *op = "attention_merge_heads";
    char b1[96];
    segc_status st = check_rows(x, 4, op, "x");
    if (st) return st;
    int64_t B = x->shape[0], H = x->shape[1], L = x->shape[2], D = x->shape[3];
    const int64_t shape[3] = {B, L, H * D};
    if (!out || !out->data || out->dtype != SEGC_F32 || !segc_tensor_has_shape(out, 3, shape) ||
        !segc_tensor_is_contiguous(out))
        return segc_fail(SEGC_ERR_SHAPE, "%s: out is %s, want contiguous f32 [%lld, %lld, %lld]", op,
                         out ? segc_tensor_shape_str(out, b1, sizeof b1) : "NULL", (long long)B, (long long)L,
                         (long long)(H * D));
    const float *src = x->data;
    float *dst = out->data;
#pragma omp parallel for schedule(static)
    for (int64_t bl = 0; bl < B * L; bl++) {
        int64_t b = bl / L, l = bl % L;
        for (int64_t h = 0; h < H; h++)
            memcpy(dst + bl * H * D + h * D, src + b * x->stride[0] + h * x->stride[1] + l * x->stride[2],
                   (size_t)D * sizeof(float));
    }
    return SEGC_OK;
}

/* ---- Hiera windows (sam2/modeling/backbones/utils.py) ---- */

int64_t segc_window_count(int64_t size, int ws) { return ws > 0 ? (size + ws - 1) / ws : 0; }

/* Validates x[B,Hs,Ws,C] (contiguous last dim) and a window size; fills the window counts. */
static segc_status check_window_image(const segc_tensor *x, int ws, const char *op, int64_t *nh, int64_t *nw) {
    segc_status st = check_rows(x, 4, op, "x");
    if (st) return st;
    if (ws < 1) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: window size %d < 1", op, ws);
    *nh = segc_window_count(x->shape[1], ws);
    *nw = segc_window_count(x->shape[2], ws);
    return SEGC_OK;
}

/* windows[(b*nH + wy)*nW + wx, r, c, :] = x[b, wy*ws + r, wx*ws + c, :] or 0 in the padding. */
segc_status segc_window_partition(const segc_tensor *x, int ws, segc_tensor *windows) {
    static const char *op = "window_partition";
    int64_t nh = 0, nw = 0;
    segc_status st = check_window_image(x, ws, op, &nh, &nw);
    if (st) return st;
    int64_t B = x->shape[0], Hs = x->shape[1], Ws = x->shape[2], C = x->shape[3];
    const int64_t shape[4] = {B * nh * nw, ws, ws, C};
    if ((st = check_out4(windows, shape, op, "windows"))) return st;
    const float *src = x->data;
    float *dst = windows->data;
    int64_t nrows = B * nh * nw * ws;  /* one window row of ws pixels at a time */
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < nrows; t++) {
        int64_t w = t / ws, r = t % ws;
        int64_t b = w / (nh * nw), wy = (w / nw) % nh, wx = w % nw;
        int64_t y = wy * ws + r;
        float *drow = dst + t * ws * C;
        for (int64_t c = 0; c < ws; c++) {
            int64_t xx = wx * ws + c;
            if (y < Hs && xx < Ws)
                memcpy(drow + c * C, src + b * x->stride[0] + y * x->stride[1] + xx * x->stride[2],
                       (size_t)C * sizeof(float));
            else
                memset(drow + c * C, 0, (size_t)C * sizeof(float));
        }
    }
    return SEGC_OK;
}

segc_status segc_window_partition_new(segc_arena *arena, const segc_tensor *x, int ws, segc_tensor *windows) {
    int64_t nh = 0, nw = 0;
    segc_status st = check_window_image(x, ws, "window_partition", &nh, &nw);
    if (st) return st;
    if (!arena) return segc_fail(SEGC_ERR_INVALID_ARG, "window_partition: arena is NULL");
    const int64_t shape[4] = {x->shape[0] * nh * nw, ws, ws, x->shape[3]};
    if ((st = segc_tensor_new(arena, SEGC_F32, 4, shape, windows)))
        return segc_fail_context(st, "window_partition: windows");
    return segc_window_partition(x, ws, windows);
}

/* x[b, y, xx, :] = windows[(b*nH + y/ws)*nW + xx/ws, y%ws, xx%ws, :]; the padding is dropped. */
segc_status segc_window_unpartition(const segc_tensor *windows, int ws, segc_tensor *x) {
    static const char *op = "window_unpartition";
    int64_t nh = 0, nw = 0;
    segc_status st = check_window_image(x, ws, op, &nh, &nw);
    if (st) return st;
    int64_t B = x->shape[0], Hs = x->shape[1], Ws = x->shape[2], C = x->shape[3];
    const int64_t shape[4] = {B * nh * nw, ws, ws, C};
    if ((st = check_out4(windows, shape, op, "windows"))) return st;
    const float *src = windows->data;
    float *dst = x->data;
#pragma omp parallel for schedule(static)
    for (int64_t by = 0; by < B * Hs; by++) {
        int64_t b = by / Hs, y = by % Hs;
        for (int64_t xx = 0; xx < Ws; xx++) {
            int64_t w = (b * nh + y / ws) * nw + xx / ws;
            memcpy(dst + b * x->stride[0] + y * x->stride[1] + xx * x->stride[2],
                   src + ((w * ws + y % ws) * ws + xx % ws) * C, (size_t)C * sizeof(float));
        }
    }
    return SEGC_OK;
}

segc_status segc_window_unpartition_new(segc_arena *arena, const segc_tensor *windows, int ws, int64_t batch,
                                        int64_t height, int64_t width, segc_tensor *x) {
    segc_status st = check_rows(windows, 4, "window_unpartition", "windows");
    if (st) return st;
    if (!arena) return segc_fail(SEGC_ERR_INVALID_ARG, "window_unpartition: arena is NULL");
    const int64_t shape[4] = {batch, height, width, windows->shape[3]};
    if ((st = segc_tensor_new(arena, SEGC_F32, 4, shape, x))) return segc_fail_context(st, "window_unpartition: x");
    return segc_window_unpartition(windows, ws, x);
}
