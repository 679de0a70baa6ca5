/* kernels.c - kernel benchmark: the conv / attention shapes the models run, each timed as the median
   of several runs after a warm-up and put next to numbers measured in the same run: the sgemm peak
   (2048^3) for compute-bound kernels and the memcpy bandwidth for memory-bound ones (depthwise).
   Usage: kernels [--quick] [--cpu]   (threads: SEGC_THREADS, default all cores). --cpu times with the
   process CPU clock divided by the thread count: on a machine shared with other jobs it estimates the
   undisturbed time (run it with OMP_WAIT_POLICY=passive so idle threads do not spin). Not a test. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/tensor.h"
#include "core/timer.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/deform_attn.h"
#include "ops/gemm.h"
#include "segc.h"

/* One timed kernel: run(ctx) returns 0 on success. */
typedef int (*bench_fn)(void *ctx);

static int runs_per_case = 5;

/* Process CPU time over the thread count, in ms (the --cpu clock). */
static double cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (t.tv_sec * 1e3 + t.tv_nsec * 1e-6) / segc_get_threads();
}

/* The clock every measurement uses: wall time unless --cpu. */
static double (*now_ms)(void) = segc_time_ms;

/* Sorts a few doubles and returns the median. */
static double median(double *t, int n) {
    for (int i = 1; i < n; i++)   /* insertion sort: n is tiny */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double s = t[j];
            t[j] = t[j - 1], t[j - 1] = s;
        }
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Wall times of one kernel: median and fastest of the timed runs (ms). */
typedef struct timing { double median, best; } timing;

/* Times runs_per_case calls of fn after one warm-up call (median < 0 on failure). When `pace` is
   given, a call of it follows every timed call and its times go to *pace_t: the machine is shared, so
   each kernel is compared with a ceiling measured under the same load, median with median and best
   with best (the best runs are the ones least disturbed by other processes). */
static timing time_ms(bench_fn fn, void *ctx, bench_fn pace, void *pace_ctx, timing *pace_t) {
    double t[16], u[16];
    timing fail = {-1.0, -1.0};
    if (fn(ctx)) return fail;
    int n = runs_per_case < 16 ? runs_per_case : 16;
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        if (fn(ctx)) return fail;
        t[i] = now_ms() - t0;
        if (pace) {
            t0 = now_ms();
            pace(pace_ctx);
            u[i] = now_ms() - t0;
        }
    }
    if (pace) *pace_t = (timing){median(u, n), u[0]};   /* median() sorts */
    return (timing){median(t, n), t[0]};
}

static void fill_random(float *x, size_t n, unsigned seed) {
    unsigned s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
}

/* A random contiguous float32 tensor from the arena; exits on allocation failure (bench only). */
static segc_tensor rand_tensor(segc_arena *a, int ndim, const int64_t *shape, unsigned seed) {
    segc_tensor t;
    if (segc_tensor_new(a, SEGC_F32, ndim, shape, &t) != SEGC_OK) {
        fprintf(stderr, "kernels: %s\n", segc_last_error());
        exit(1);
    }
    fill_random(t.data, (size_t)segc_tensor_numel(&t), seed);
    return t;
}

/* ---- sgemm and memcpy: the two ceilings -------------------------------------------------------- */

typedef struct gemm_ctx { int n; float *a, *b, *c; } gemm_ctx;

static int run_gemm(void *p) {
    gemm_ctx *g = p;
    segc_sgemm(0, 0, g->n, g->n, g->n, 1.0f, g->a, g->n, g->b, g->n, 0.0f, g->c, g->n);
    return 0;
}

/* The same product straight through OpenBLAS, to show what segc_sgemm's packed kernel gains. */
static int run_cblas(void *p) {
    gemm_ctx *g = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->n, g->n, g->n, 1.0f, g->a, g->n, g->b, g->n, 0.0f,
                g->c, g->n);
    return 0;
}

typedef struct copy_ctx { size_t bytes; float *src, *dst; } copy_ctx;

/* memcpy split over the threads in 1 MiB pieces: the bandwidth ceiling for a kernel on as many threads. */
static int run_copy(void *p) {
    copy_ctx *c = p;
    const size_t piece = (size_t)1 << 20;
    long long n = (long long)((c->bytes + piece - 1) / piece);
    #pragma omp parallel for schedule(static)
    for (long long i = 0; i < n; i++) {
        size_t off = (size_t)i * piece, len = c->bytes - off < piece ? c->bytes - off : piece;
        memcpy((char *)c->dst + off, (const char *)c->src + off, len);
    }
    return 0;
}

/* ---- convolution -------------------------------------------------------------------------------- */

typedef struct conv_ctx {
    segc_arena *arena;
    segc_tensor x, w, b, out;
    segc_conv2d_params p;
    int transposed, stride, pad;
} conv_ctx;

static int run_conv(void *p) {
    conv_ctx *c = p;
    segc_status st = c->transposed ? segc_conv_transpose2d(c->arena, &c->x, &c->w, &c->b, c->stride, c->pad, &c->out)
                                   : segc_conv2d(c->arena, &c->x, &c->w, &c->b, &c->p, &c->out);
    if (st) fprintf(stderr, "kernels: %s\n", segc_last_error());
    return st != SEGC_OK;
}

/* The ceilings, run between the timed calls of every kernel (see median_ms). */
static gemm_ctx pace_gemm;
static copy_ctx pace_copy;

/* Times fn and prints one table row: ms (median, best), GFLOP/s and % of the sgemm rate measured
   alongside (median vs median, best vs best); for memory-bound kernels (gbytes > 0) GB/s and % of the
   memcpy rate measured alongside instead. */
static void measure_row(const char *name, bench_fn fn, void *ctx, double gflop, double gbytes) {
    timing pace = {0, 0}, t = gbytes > 0 ? time_ms(fn, ctx, run_copy, &pace_copy, &pace)
                                       : time_ms(fn, ctx, run_gemm, &pace_gemm, &pace);
    if (t.median < 0) {
        printf("%-40s  failed\n", name);
        return;
    }
    printf("%-40s %8.2f %8.2f %8.1f", name, t.median, t.best, gflop / (t.median * 1e-3));
    if (gbytes > 0) {
        double copy = 2.0 * pace_copy.bytes * 1e-9;   /* GB moved by one memcpy: read + write */
        printf(" %7s %7s %7.1f %6.1f%% %6.1f%%\n", "", "", gbytes / (t.median * 1e-3),
               100.0 * (gbytes / t.median) / (copy / pace.median), 100.0 * (gbytes / t.best) / (copy / pace.best));
    } else {
        double n = pace_gemm.n, gemm = 2.0 * n * n * n * 1e-9;
        printf(" %6.1f%% %6.1f%%\n", 100.0 * (gflop / t.median) / (gemm / pace.median),
               100.0 * (gflop / t.best) / (gemm / pace.best));
    }
}

/* Times conv2d of x[1,C,H,W] with a [K, C/groups, k, k] kernel; depthwise rows also get bytes moved. */
static void bench_conv(segc_arena *a, const char *name, int64_t C, int64_t H, int64_t W, int64_t K, int k,
                       int stride, int pad, int dilation, int groups) {
    conv_ctx c = {.arena = a, .p = segc_conv2d_params_make(stride, pad, dilation, groups)};
    c.p.act = SEGC_ACT_RELU;
    const int64_t xs[4] = {1, C, H, W}, ws[4] = {K, C / groups, k, k}, bs[1] = {K};
    c.x = rand_tensor(a, 4, xs, 1), c.w = rand_tensor(a, 4, ws, 2), c.b = rand_tensor(a, 1, bs, 3);
    if (segc_conv2d_new(a, &c.x, &c.w, &c.b, &c.p, &c.out) != SEGC_OK) {
        printf("%-44s  failed: %s\n", name, segc_last_error());
        return;
    }
    int64_t P = c.out.shape[2], Q = c.out.shape[3];
    double gflop = 2.0 * K * P * Q * (C / groups) * k * k * 1e-9;
    double gbytes = groups == C ? (double)(C * H * W + K * P * Q) * 4 * 1e-9 : 0;
    measure_row(name, run_conv, &c, gflop, gbytes);
    segc_arena_reset(a);
}

static void bench_conv_transpose(segc_arena *a, const char *name, int64_t C, int64_t H, int64_t W, int64_t K, int k,
                                 int stride, int pad) {
    conv_ctx c = {.arena = a, .transposed = 1, .stride = stride, .pad = pad};
    const int64_t xs[4] = {1, C, H, W}, ws[4] = {C, K, k, k}, bs[1] = {K};
    const int64_t os[4] = {1, K, (H - 1) * stride - 2 * pad + k, (W - 1) * stride - 2 * pad + k};
    c.x = rand_tensor(a, 4, xs, 1), c.w = rand_tensor(a, 4, ws, 2), c.b = rand_tensor(a, 1, bs, 3);
    c.out = rand_tensor(a, 4, os, 4);
    measure_row(name, run_conv, &c, 2.0 * C * H * W * K * k * k * 1e-9, 0);
    segc_arena_reset(a);
}

/* ---- attention ---------------------------------------------------------------------------------- */

typedef struct attn_ctx { segc_arena *arena; segc_tensor q, k, v, out; } attn_ctx;

static int run_attn(void *p) {
    attn_ctx *c = p;
    segc_status st = segc_attention(c->arena, &c->q, &c->k, &c->v, NULL, 0.0f, &c->out);
    if (st) fprintf(stderr, "kernels: %s\n", segc_last_error());
    return st != SEGC_OK;
}

/* B windows (or images) x H heads x L tokens x D dims, self-attention. */
static void bench_attention(segc_arena *a, const char *name, int64_t B, int64_t H, int64_t L, int64_t D) {
    attn_ctx c = {.arena = a};
    const int64_t s[4] = {B, H, L, D};
    c.q = rand_tensor(a, 4, s, 1), c.k = rand_tensor(a, 4, s, 2), c.v = rand_tensor(a, 4, s, 3);
    c.out = rand_tensor(a, 4, s, 4);
    measure_row(name, run_attn, &c, 4.0 * B * H * L * L * D * 1e-9, 0);
    segc_arena_reset(a);
}

typedef struct deform_ctx {
    segc_tensor value, loc, weights, out;
    int64_t shapes[8];
    int levels;
} deform_ctx;

static int run_deform(void *p) {
    deform_ctx *c = p;
    segc_status st = segc_ms_deform_attn(&c->value, c->shapes, NULL, c->levels, &c->loc, &c->weights, &c->out);
    if (st) fprintf(stderr, "kernels: %s\n", segc_last_error());
    return st != SEGC_OK;
}

/* Mask2Former pixel decoder: 256 dims, 8 heads, 4 levels (64^2 .. 8^2), 4 points, one query per token.
   FLOPs counted as 4 corners x (mul + add) + the weight, per point and channel (~10 per sample). */
static void bench_deform(segc_arena *a) {
    deform_ctx c = {.shapes = {64, 64, 32, 32, 16, 16, 8, 8}, .levels = 4};
    const int64_t M = 8, D = 32, L = 4, P = 4, S = 64 * 64 + 32 * 32 + 16 * 16 + 8 * 8;
    const int64_t vs[4] = {1, S, M, D}, ls[6] = {1, S, M, L, P, 2}, ws[5] = {1, S, M, L, P}, os[3] = {1, S, M * D};
    c.value = rand_tensor(a, 4, vs, 1), c.loc = rand_tensor(a, 6, ls, 2), c.weights = rand_tensor(a, 5, ws, 3);
    c.out = rand_tensor(a, 3, os, 4);
    float *loc = c.loc.data;   /* locations in [0, 1] */
    for (int64_t i = 0; i < segc_tensor_numel(&c.loc); i++) loc[i] += 0.5f;
    measure_row("ms_deform_attn 5440q 256d 8h 4lvl 4pt", run_deform, &c, 10.0 * S * M * L * P * D * 1e-9, 0);
    segc_arena_reset(a);
}

static const char usage[] =
    "usage: kernels [--quick] [--cpu]\n"
    "Times each layer kernel against its reference loop and OpenBLAS; threads from SEGC_THREADS.\n"
    "--quick: 3 runs per case (default 7); --cpu: CPU time instead of wall time.\n";

int main(int argc, char **argv) {
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--cpu")) {
            now_ms = cpu_ms;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    runs_per_case = quick ? 3 : 7;
    segc_arena a;
    segc_arena_init(&a, (size_t)256 << 20);

    /* the ceilings: their buffers live outside the arena, which is reset after every kernel */
    gemm_ctx g = {.n = 2048};
    float *gbuf = malloc(sizeof(float) * 3 * (size_t)g.n * g.n);
    copy_ctx *cp = &pace_copy;
    cp->bytes = (size_t)64 << 20;
    float *cbuf = malloc(2 * cp->bytes);
    if (!gbuf || !cbuf) {
        fprintf(stderr, "kernels: out of memory\n");
        return 1;
    }
    fill_random(gbuf, 3 * (size_t)g.n * g.n, 1);
    fill_random(cbuf, 2 * cp->bytes / sizeof(float), 2);
    g.a = gbuf, g.b = gbuf + (size_t)g.n * g.n, g.c = gbuf + 2 * (size_t)g.n * g.n;
    cp->src = cbuf, cp->dst = cbuf + cp->bytes / sizeof(float);
    pace_gemm = g;
    pace_gemm.n = 1024;
    timing gt = time_ms(run_gemm, &g, NULL, NULL, NULL), ct = time_ms(run_copy, cp, NULL, NULL, NULL);
    timing bt = time_ms(run_cblas, &g, NULL, NULL, NULL);
    double gflop = 2.0 * g.n * g.n * g.n * 1e-9, gb = 2.0 * cp->bytes * 1e-9;
    printf("sgemm %d^3: %.1f GFLOP/s (best %.1f) on %d threads; BLAS: %s\n", g.n, gflop / (gt.median * 1e-3),
           gflop / (gt.best * 1e-3), segc_get_threads(), segc_blas_info());
    printf("  OpenBLAS cblas_sgemm on the same product: %.1f GFLOP/s (best %.1f): segc / OpenBLAS %.2fx\n",
           gflop / (bt.median * 1e-3), gflop / (bt.best * 1e-3), bt.median / gt.median);
    printf("memcpy 64 MiB: %.1f GB/s (best %.1f; read + write)\n", gb / (ct.median * 1e-3), gb / (ct.best * 1e-3));
    double load[1];
    if (getloadavg(load, 1) == 1 && load[0] > segc_get_threads())
        printf("NOTE: load average %.1f on %d threads: other processes share the cores, expect noise%s\n", load[0],
               segc_get_threads(), getenv("OMP_WAIT_POLICY") ? "" : " (OMP_WAIT_POLICY=passive helps a lot)");
    if (now_ms == cpu_ms) printf("times: process CPU time / %d threads (--cpu)\n", segc_get_threads());
    printf("%d runs per kernel after a warm-up; %%sgemm (%%memcpy) compares with a %d^3 sgemm (the memcpy) run\n"
           "between the runs of that kernel: med = median vs median, min = best vs best.\n\n",
           runs_per_case, pace_gemm.n);

    printf("%-40s %8s %8s %8s %7s %7s %7s %7s %7s\n", "kernel", "ms med", "ms min", "GFLOP/s", "%sg med",
           "%sg min", "GB/s", "%mc med", "%mc min");
    bench_conv(&a, "conv 3x3 256->256 @128x128", 256, 128, 128, 256, 3, 1, 1, 1, 1);
    bench_conv(&a, "conv 1x1 96->256 @256x256", 96, 256, 256, 256, 1, 1, 0, 1, 1);
    bench_conv(&a, "conv 3x3 d12 320->256 @33x33 (ASPP)", 320, 33, 33, 256, 3, 1, 12, 12, 1);
    bench_conv(&a, "conv 3x3 d6 320->256 @33x33", 320, 33, 33, 256, 3, 1, 6, 6, 1);
    bench_conv(&a, "conv 3x3 s2 64->128 @128x128", 64, 128, 128, 128, 3, 2, 1, 1, 1);
    bench_conv(&a, "conv 7x7 s2 3->64 @512x512 (stem)", 3, 512, 512, 64, 7, 2, 3, 1, 1);
    bench_conv(&a, "depthwise 3x3 96ch @256x256", 96, 256, 256, 96, 3, 1, 1, 1, 96);
    bench_conv(&a, "depthwise 3x3 s2 96ch @256x256", 96, 256, 256, 96, 3, 2, 1, 1, 96);
    bench_conv_transpose(&a, "conv_transpose k2s2 256->64 @64x64", 256, 64, 64, 64, 2, 2, 0);
    bench_attention(&a, "attention 1x4096 tok 96d 1h (Hiera global)", 1, 1, 4096, 96);
    bench_attention(&a, "attention 64 win x 8x8 tok 96d 1h (Hiera)", 64, 1, 64, 96);
    bench_deform(&a);
    segc_arena_free(&a);
    free(gbuf);
    free(cbuf);
    return 0;
}
