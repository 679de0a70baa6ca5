/* test_nn_resblock.c - BasicBlock / Bottleneck / layers against plain conv + BN + ReLU loops.
   Random weights are written to a .segc file (the way a model gets them), loaded with BN folding,
   and run; the oracle applies the unfolded BN after a direct convolution. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/status.h"
#include "io/segc_file.h"
#include "nn/params.h"
#include "nn/resblock.h"
#include "test_util.h"

/* ---- random weight file ---- */

#define MAX_TENSORS 128

typedef struct weights {
    segc_file_writer *w;
    float *data[MAX_TENSORS];
    int count;
    test_rng rng;
} weights;

/* Adds a random tensor; returns its data (owned by `ws`) for the oracle. */
static float *add_tensor(weights *ws, const char *name, int ndim, const int64_t *shape, float lo, float hi) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    ck_assert_int_lt(ws->count, MAX_TENSORS);
    float *d = malloc((size_t)n * sizeof *d);
    ck_assert_ptr_nonnull(d);
    test_fill_uniform(&ws->rng, d, (size_t)n, lo, hi);
    ws->data[ws->count++] = d;
    ck_assert_int_eq(segc_file_writer_add_tensor(ws->w, name, SEGC_F32, ndim, shape, d), SEGC_OK);
    return d;
}

/* A conv (no bias) + BN as the oracle sees it. */
typedef struct conv_bn {
    int k, c, r;
    const float *w, *gamma, *beta, *mean, *var;
} conv_bn;

static conv_bn add_conv_bn(weights *ws, const char *prefix, const char *conv, const char *bn, int k, int c, int r) {
    char name[256];
    const int64_t shape[4] = {k, c, r, r}, kk = k;
    conv_bn cb = {k, c, r, NULL, NULL, NULL, NULL, NULL};
    float bound = 1.0f / sqrtf((float)(c * r * r));
    snprintf(name, sizeof name, "%s.%s.weight", prefix, conv);
    cb.w = add_tensor(ws, name, 4, shape, -bound, bound);
    snprintf(name, sizeof name, "%s.%s.weight", prefix, bn);
    cb.gamma = add_tensor(ws, name, 1, &kk, 0.5f, 1.5f);
    snprintf(name, sizeof name, "%s.%s.bias", prefix, bn);
    cb.beta = add_tensor(ws, name, 1, &kk, -0.3f, 0.3f);
    snprintf(name, sizeof name, "%s.%s.running_mean", prefix, bn);
    cb.mean = add_tensor(ws, name, 1, &kk, -0.2f, 0.2f);
    snprintf(name, sizeof name, "%s.%s.running_var", prefix, bn);
    cb.var = add_tensor(ws, name, 1, &kk, 0.5f, 2.0f);
    return cb;
}

/* Oracle block: the unfolded convs of one block. */
typedef struct ref_block {
    segc_resblock_kind kind;
    int in, planes, out, stride, dilation, has_down;
    conv_bn c1, c2, c3, down;
} ref_block;

static ref_block add_block(weights *ws, const char *prefix, segc_resblock_kind kind, int in, int planes, int stride,
                           int dilation, int with_down) {
    ref_block rb = {kind, in, planes, planes * segc_resblock_expansion(kind), stride, dilation, with_down,
                    {0}, {0}, {0}, {0}};
    if (kind == SEGC_RESBLOCK_BASIC) {
        rb.c1 = add_conv_bn(ws, prefix, "conv1", "bn1", planes, in, 3);
        rb.c2 = add_conv_bn(ws, prefix, "conv2", "bn2", planes, planes, 3);
    } else {
        rb.c1 = add_conv_bn(ws, prefix, "conv1", "bn1", planes, in, 1);
        rb.c2 = add_conv_bn(ws, prefix, "conv2", "bn2", planes, planes, 3);
        rb.c3 = add_conv_bn(ws, prefix, "conv3", "bn3", rb.out, planes, 1);
    }
    if (with_down) rb.down = add_conv_bn(ws, prefix, "downsample.0", "downsample.1", rb.out, in, 1);
    return rb;
}

static void weights_begin(weights *ws, uint64_t seed) {
    memset(ws, 0, sizeof *ws);
    ws->rng = test_rng_new(seed);
    ck_assert_int_eq(segc_file_writer_create(&ws->w), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_str(ws->w, "arch", "test_resblock"), SEGC_OK);
}

/* Writes the file and opens it; the caller closes it and calls weights_end. */
static segc_file *weights_open(weights *ws, const char *tag) {
    char path[512];
    snprintf(path, sizeof path, "%s/resblock_%s.segc", test_tmp_dir(), tag);
    ck_assert_int_eq(segc_file_writer_write(ws->w, path, NULL, NULL), SEGC_OK);
    segc_file *f = NULL;
    ck_assert_msg(segc_file_open(path, &f) == SEGC_OK, "%s", segc_last_error());
    return f;
}

static void weights_end(weights *ws) {
    segc_file_writer_free(ws->w);
    for (int i = 0; i < ws->count; i++) free(ws->data[i]);
}

/* ---- the oracle: direct conv, BN, ReLU loops ---- */

/* x: [N, C, H, W] -> y: [N, K, P, Q] = bn(conv(x)), optional ReLU; y malloc'd. pad = dilation for 3x3. */
static float *ref_conv_bn(const conv_bn *cb, const float *x, int n, int h, int w, int stride, int dilation, int relu,
                          int *p_out, int *q_out) {
    int pad = cb->r == 3 ? dilation : 0, dil = cb->r == 3 ? dilation : 1;
    int p = (h + 2 * pad - dil * (cb->r - 1) - 1) / stride + 1, q = (w + 2 * pad - dil * (cb->r - 1) - 1) / stride + 1;
    float *y = malloc(sizeof(float) * (size_t)n * cb->k * p * q);
    ck_assert_ptr_nonnull(y);
    for (int b = 0; b < n; b++)
        for (int k = 0; k < cb->k; k++)
            for (int i = 0; i < p; i++)
                for (int j = 0; j < q; j++) {
                    double acc = 0;
                    for (int c = 0; c < cb->c; c++)
                        for (int r = 0; r < cb->r; r++)
                            for (int s = 0; s < cb->r; s++) {
                                int yy = i * stride - pad + r * dil, xx = j * stride - pad + s * dil;
                                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                                acc += (double)x[((size_t)(b * cb->c + c) * h + yy) * w + xx] *
                                       cb->w[((size_t)(k * cb->c + c) * cb->r + r) * cb->r + s];
                            }
                    double v = (acc - cb->mean[k]) / sqrt(cb->var[k] + 1e-5) * cb->gamma[k] + cb->beta[k];
                    if (relu && v < 0) v = 0;
                    y[((size_t)(b * cb->k + k) * p + i) * q + j] = (float)v;
                }
    *p_out = p;
    *q_out = q;
    return y;
}

/* One block in plain loops; x: [N, in, H, W] -> malloc'd [N, out, P, Q]. */
static float *ref_block_forward(const ref_block *rb, const float *x, int n, int h, int w, int *p_out, int *q_out) {
    int p, q, p2, q2;
    float *main_out;
    if (rb->kind == SEGC_RESBLOCK_BASIC) {
        float *t1 = ref_conv_bn(&rb->c1, x, n, h, w, rb->stride, rb->dilation, 1, &p, &q);
        main_out = ref_conv_bn(&rb->c2, t1, n, p, q, 1, rb->dilation, 0, &p2, &q2);
        free(t1);
    } else {
        float *t1 = ref_conv_bn(&rb->c1, x, n, h, w, 1, 1, 1, &p, &q);
        float *t2 = ref_conv_bn(&rb->c2, t1, n, h, w, rb->stride, rb->dilation, 1, &p, &q);
        main_out = ref_conv_bn(&rb->c3, t2, n, p, q, 1, 1, 0, &p2, &q2);
        free(t1);
        free(t2);
    }
    float *identity = NULL;
    if (rb->has_down) identity = ref_conv_bn(&rb->down, x, n, h, w, rb->stride, 1, 0, &p2, &q2);
    size_t total = (size_t)n * rb->out * p * q;
    for (size_t i = 0; i < total; i++) {
        float v = main_out[i] + (identity ? identity[i] : x[i]);
        main_out[i] = v > 0 ? v : 0;
    }
    free(identity);
    *p_out = p;
    *q_out = q;
    return main_out;
}

/* ---- tests ---- */

typedef struct block_case {
    segc_resblock_kind kind;
    int n, in, planes, h, w, stride, dilation, with_down;
} block_case;

static const block_case block_cases[] = {
    {SEGC_RESBLOCK_BASIC, 1, 8, 8, 9, 11, 1, 1, 0},        /* identity shortcut, odd sizes */
    {SEGC_RESBLOCK_BASIC, 2, 6, 10, 7, 9, 2, 1, 1},        /* strided, downsample */
    {SEGC_RESBLOCK_BASIC, 1, 5, 5, 10, 6, 1, 2, 0},        /* dilated */
    {SEGC_RESBLOCK_BOTTLENECK, 1, 12, 4, 8, 13, 1, 1, 1},  /* in != 4 planes: downsample */
    {SEGC_RESBLOCK_BOTTLENECK, 2, 16, 4, 9, 9, 1, 1, 0},   /* identity shortcut */
    {SEGC_RESBLOCK_BOTTLENECK, 1, 8, 6, 11, 7, 2, 1, 1},   /* stride on conv2 and downsample */
    {SEGC_RESBLOCK_BOTTLENECK, 1, 24, 6, 9, 10, 1, 4, 0},  /* atrous, as DeepLab's layer4 */
};

START_TEST(test_resblock_matches_plain_loops) {
    const block_case *bc = &block_cases[_i];
    weights ws;
    weights_begin(&ws, 100 + (uint64_t)_i);
    ref_block rb = add_block(&ws, "layer.0", bc->kind, bc->in, bc->planes, bc->stride, bc->dilation, bc->with_down);
    size_t xn = (size_t)bc->n * bc->in * bc->h * bc->w;
    float *x = malloc(xn * sizeof *x);
    test_fill_uniform(&ws.rng, x, xn, -1.0f, 1.0f);
    char tag[32];
    snprintf(tag, sizeof tag, "block%d", _i);
    segc_file *f = weights_open(&ws, tag);

    segc_params params;
    segc_params_init(&params, f);
    segc_resblock blk;
    ck_assert_msg(segc_resblock_load(&params, "layer.0", bc->kind, bc->in, bc->planes, bc->stride, bc->dilation,
                                     1e-5f, &blk) == SEGC_OK, "%s", segc_last_error());
    ck_assert_int_eq(blk.has_downsample, bc->with_down);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_tensor xt = segc_tensor_f32(x, 4, bc->n, bc->in, bc->h, bc->w), y;
    ck_assert_msg(segc_resblock_forward(&blk, &arena, &xt, &y) == SEGC_OK, "%s", segc_last_error());
    int p, q;
    float *want = ref_block_forward(&rb, x, bc->n, bc->h, bc->w, &p, &q);
    const int64_t shape[4] = {bc->n, rb.out, p, q};
    ck_assert(segc_tensor_has_shape(&y, 4, shape));
    test_assert_close(y.data, want, (size_t)segc_tensor_numel(&y), 1e-4, 1e-4, "resblock");
    /* only `y` stays allocated: every temporary went back to the arena */
    ck_assert_uint_le(arena.in_use, (size_t)segc_tensor_numel(&y) * sizeof(float) + SEGC_ARENA_ALIGN);

    free(want);
    free(x);
    segc_arena_free(&arena);
    segc_params_free(&params);
    segc_file_close(f);
    weights_end(&ws);
}
END_TEST

/* A 3-block layer (stride 2, downsample on block 0 only), blocks counted from the file. */
START_TEST(test_reslayer_matches_plain_loops) {
    segc_resblock_kind kind = _i ? SEGC_RESBLOCK_BOTTLENECK : SEGC_RESBLOCK_BASIC;
    int in = 6, planes = 4, n = 1, h = 13, w = 10, exp = segc_resblock_expansion(kind);
    weights ws;
    weights_begin(&ws, 7 + (uint64_t)_i);
    ref_block rb[3];
    rb[0] = add_block(&ws, "enc.layer2.0", kind, in, planes, 2, 1, 1);
    rb[1] = add_block(&ws, "enc.layer2.1", kind, planes * exp, planes, 1, 2, 0);
    rb[2] = add_block(&ws, "enc.layer2.2", kind, planes * exp, planes, 1, 2, 0);
    size_t xn = (size_t)n * in * h * w;
    float *x = malloc(xn * sizeof *x);
    test_fill_uniform(&ws.rng, x, xn, -1.0f, 1.0f);
    segc_file *f = weights_open(&ws, _i ? "layer_bottleneck" : "layer_basic");

    segc_params params;
    segc_params_init(&params, f);
    segc_reslayer layer;
    ck_assert_msg(segc_reslayer_load(&params, "enc.layer2", kind, in, planes, 0, 2, 1, 2, 1e-5f, &layer) == SEGC_OK,
                  "%s", segc_last_error());
    ck_assert_int_eq(layer.num_blocks, 3);
    ck_assert_int_eq(segc_reslayer_out_channels(&layer), planes * exp);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    segc_tensor xt = segc_tensor_f32(x, 4, n, in, h, w), y;
    ck_assert_msg(segc_reslayer_forward(&layer, &arena, &xt, &y) == SEGC_OK, "%s", segc_last_error());

    float *cur = x;
    int ch = h, cw = w;
    for (int i = 0; i < 3; i++) {
        int p, q;
        float *next = ref_block_forward(&rb[i], cur, n, ch, cw, &p, &q);
        if (cur != x) free(cur);
        cur = next;
        ch = p;
        cw = q;
    }
    const int64_t shape[4] = {n, planes * exp, ch, cw};
    ck_assert(segc_tensor_has_shape(&y, 4, shape));
    test_assert_close(y.data, cur, (size_t)segc_tensor_numel(&y), 1e-4, 1e-4, "reslayer");

    free(cur);
    free(x);
    segc_arena_free(&arena);
    segc_reslayer_free(&layer);
    segc_params_free(&params);
    segc_file_close(f);
    weights_end(&ws);
}
END_TEST

/* Bad weights and bad inputs give a status and a message, never a crash. */
START_TEST(test_resblock_rejects_bad_weights_and_inputs) {
    weights ws;
    weights_begin(&ws, 3);
    add_block(&ws, "a", SEGC_RESBLOCK_BASIC, 4, 8, 2, 1, 0);       /* needs a downsample it lacks */
    add_block(&ws, "b", SEGC_RESBLOCK_BOTTLENECK, 16, 4, 1, 1, 0);
    segc_file *f = weights_open(&ws, "bad");
    segc_params params;
    segc_params_init(&params, f);
    segc_resblock blk;
    ck_assert_int_eq(segc_resblock_load(&params, "a", SEGC_RESBLOCK_BASIC, 4, 8, 2, 1, 1e-5f, &blk),
                     SEGC_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "downsample"));
    /* wrong planes: shape error naming the tensor */
    ck_assert_int_eq(segc_resblock_load(&params, "b", SEGC_RESBLOCK_BOTTLENECK, 16, 8, 1, 1, 1e-5f, &blk),
                     SEGC_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "b.conv1.weight"));
    ck_assert_int_eq(segc_resblock_load(&params, "c", SEGC_RESBLOCK_BASIC, 4, 8, 1, 1, 1e-5f, &blk),
                     SEGC_ERR_NOT_FOUND);
    ck_assert_int_ne(segc_resblock_load(&params, "b", SEGC_RESBLOCK_BOTTLENECK, 16, 4, 0, 1, 1e-5f, &blk), SEGC_OK);
    segc_reslayer layer;
    ck_assert_int_eq(segc_reslayer_load(&params, "nothing", SEGC_RESBLOCK_BASIC, 4, 4, 0, 1, 1, 1, 1e-5f, &layer),
                     SEGC_ERR_NOT_FOUND);
    ck_assert_ptr_null(layer.blocks);

    ck_assert_int_eq(segc_resblock_load(&params, "b", SEGC_RESBLOCK_BOTTLENECK, 16, 4, 1, 1, 1e-5f, &blk), SEGC_OK);
    segc_arena arena;
    segc_arena_init(&arena, 0);
    float x[1 * 8 * 3 * 3] = {0};
    segc_tensor xt = segc_tensor_f32(x, 4, 1, 8, 3, 3), y;   /* 8 channels, block wants 16 */
    ck_assert_int_eq(segc_resblock_forward(&blk, &arena, &xt, &y), SEGC_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "16"));
    segc_arena_free(&arena);
    segc_params_free(&params);
    segc_file_close(f);
    weights_end(&ws);
}
END_TEST

static Suite *resblock_suite(void) {
    Suite *s = suite_create("nn_resblock");
    TCase *tc = tcase_create("resblock");
    tcase_add_loop_test(tc, test_resblock_matches_plain_loops, 0, (int)(sizeof block_cases / sizeof block_cases[0]));
    tcase_add_loop_test(tc, test_reslayer_matches_plain_loops, 0, 2);
    tcase_add_test(tc, test_resblock_rejects_bad_weights_and_inputs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(resblock_suite()); }
