/* test_nn_transformer.c - nn/transformer.c (MLP, SAM's projected attention one set or many prompt sets at
   once, token/channel layout changes) against plain loops and against each other. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/status.h"
#include "nn/transformer.h"
#include "test_util.h"

/* y[m, o] = sum_i x[m, i] w[o, i] + b[o] in double. */
static void linear_ref(const float *x, const float *w, const float *b, int64_t M, int64_t I, int64_t O, float *y) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t o = 0; o < O; o++) {
            double s = b[o];
            for (int64_t i = 0; i < I; i++) s += (double)x[m * I + i] * w[o * I + i];
            y[m * O + o] = (float)s;
        }
}

START_TEST(test_mlp_matches_plain_loops) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(5);
    for (int it = 0; it < 6; it++) {
        const int64_t M = test_rng_int(&r, 1, 37), I = test_rng_int(&r, 1, 29), Hd = test_rng_int(&r, 1, 41),
                      O = test_rng_int(&r, 1, 9);
        const int layers = test_rng_int(&r, 1, 3), sig = it & 1;
        segc_mlp mlp = {.num_layers = layers, .act = SEGC_ACT_RELU, .sigmoid_output = sig};
        for (int l = 0; l < layers; l++) {
            const int64_t in = l == 0 ? I : Hd, out = l == layers - 1 ? O : Hd;
            segc_tensor_new_f32(&a, &mlp.w[l], 2, out, in, 0, 0);
            segc_tensor_new_f32(&a, &mlp.b[l], 1, out, 0, 0, 0);
            test_fill_uniform(&r, mlp.w[l].data, (size_t)(out * in), -0.5f, 0.5f);
            test_fill_uniform(&r, mlp.b[l].data, (size_t)out, -0.5f, 0.5f);
        }
        segc_tensor x, y;
        segc_tensor_new_f32(&a, &x, 2, M, I, 0, 0);
        segc_tensor_new_f32(&a, &y, 2, M, O, 0, 0);
        test_fill_uniform(&r, x.data, (size_t)(M * I), -1, 1);
        ck_assert_msg(segc_mlp_forward(&a, &mlp, &x, &y) == SEGC_OK, "%s", segc_last_error());
        float *cur = malloc(sizeof(float) * (size_t)(M * (I > Hd ? I : Hd)));
        float *nxt = malloc(sizeof(float) * (size_t)(M * (Hd > O ? Hd : O)));
        memcpy(cur, x.data, sizeof(float) * (size_t)(M * I));
        int64_t in = I;
        for (int l = 0; l < layers; l++) {
            const int64_t out = mlp.w[l].shape[0];
            linear_ref(cur, mlp.w[l].data, mlp.b[l].data, M, in, out, nxt);
            for (int64_t i = 0; i < M * out; i++)
                nxt[i] = l < layers - 1 ? (nxt[i] > 0 ? nxt[i] : 0) : sig ? 1.0f / (1.0f + expf(-nxt[i])) : nxt[i];
            float *t = cur;
            cur = nxt;
            nxt = t;
            in = out;
        }
        test_assert_close(y.data, cur, (size_t)(M * O), 1e-5, 1e-4, "mlp");
        free(cur);
        free(nxt);
        segc_arena_reset(&a);
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_proj_attention_matches_plain_loops) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(6);
    for (int it = 0; it < 5; it++) {
        const int heads = test_rng_int(&r, 1, 3);
        const int64_t C = 4 * test_rng_int(&r, 1, 5), Dint = heads * test_rng_int(&r, 1, 5),
                      Ckv = test_rng_int(&r, 1, 13), Lq = test_rng_int(&r, 1, 19), Lk = test_rng_int(&r, 1, 23);
        segc_proj_attention at = {.num_heads = heads, .embed_dim = C, .kv_in_dim = Ckv, .internal_dim = Dint};
        segc_tensor *ws[4] = {&at.q_w, &at.k_w, &at.v_w, &at.out_w}, *bs[4] = {&at.q_b, &at.k_b, &at.v_b, &at.out_b};
        const int64_t outs[4] = {Dint, Dint, Dint, C}, ins[4] = {C, Ckv, Ckv, Dint};
        for (int k = 0; k < 4; k++) {
            segc_tensor_new_f32(&a, ws[k], 2, outs[k], ins[k], 0, 0);
            segc_tensor_new_f32(&a, bs[k], 1, outs[k], 0, 0, 0);
            test_fill_uniform(&r, ws[k]->data, (size_t)(outs[k] * ins[k]), -0.5f, 0.5f);
            test_fill_uniform(&r, bs[k]->data, (size_t)outs[k], -0.5f, 0.5f);
        }
        segc_tensor q, k, v, out;
        segc_tensor_new_f32(&a, &q, 2, Lq, C, 0, 0);
        segc_tensor_new_f32(&a, &k, 2, Lk, Ckv, 0, 0);
        segc_tensor_new_f32(&a, &v, 2, Lk, Ckv, 0, 0);
        segc_tensor_new_f32(&a, &out, 2, Lq, C, 0, 0);
        test_fill_uniform(&r, q.data, (size_t)(Lq * C), -1, 1);
        test_fill_uniform(&r, k.data, (size_t)(Lk * Ckv), -1, 1);
        test_fill_uniform(&r, v.data, (size_t)(Lk * Ckv), -1, 1);
        ck_assert_msg(segc_proj_attention_forward(&a, &at, &q, &k, &v, &out) == SEGC_OK, "%s", segc_last_error());
        /* plain: project, per head softmax(q k^T / sqrt(d)) v, out_proj */
        const int64_t d = Dint / heads;
        float *qp = malloc(sizeof(float) * (size_t)(Lq * Dint)), *kp = malloc(sizeof(float) * (size_t)(Lk * Dint)),
              *vp = malloc(sizeof(float) * (size_t)(Lk * Dint)), *o = malloc(sizeof(float) * (size_t)(Lq * Dint)),
              *want = malloc(sizeof(float) * (size_t)(Lq * C));
        double *sc = malloc(sizeof(double) * (size_t)Lk);
        linear_ref(q.data, at.q_w.data, at.q_b.data, Lq, C, Dint, qp);
        linear_ref(k.data, at.k_w.data, at.k_b.data, Lk, Ckv, Dint, kp);
        linear_ref(v.data, at.v_w.data, at.v_b.data, Lk, Ckv, Dint, vp);
        for (int h = 0; h < heads; h++)
            for (int64_t i = 0; i < Lq; i++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < Lk; j++) {
                    double s = 0;
                    for (int64_t e = 0; e < d; e++) s += (double)qp[i * Dint + h * d + e] * kp[j * Dint + h * d + e];
                    sc[j] = s / sqrt((double)d);
                    mx = fmax(mx, sc[j]);
                }
                for (int64_t j = 0; j < Lk; j++) sum += sc[j] = exp(sc[j] - mx);
                for (int64_t e = 0; e < d; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j < Lk; j++) acc += sc[j] / sum * vp[j * Dint + h * d + e];
                    o[i * Dint + h * d + e] = (float)acc;
                }
            }
        linear_ref(o, at.out_w.data, at.out_b.data, Lq, Dint, C, want);
        test_assert_close(out.data, want, (size_t)(Lq * C), 1e-4, 1e-4, "projected attention");
        free(qp), free(kp), free(vp), free(o), free(want), free(sc);
        segc_arena_reset(&a);
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_layout_transposes_match_index_formula) {
    test_rng r = test_rng_new(7);
    for (int it = 0; it < 6; it++) {
        const int64_t P = test_rng_int(&r, 1, 77), C = test_rng_int(&r, 1, 45);
        float *tok = malloc(sizeof(float) * (size_t)(P * C)), *chw = malloc(sizeof(float) * (size_t)(P * C)),
              *back = malloc(sizeof(float) * (size_t)(P * C)), *add = malloc(sizeof(float) * (size_t)C);
        test_fill_uniform(&r, tok, (size_t)(P * C), -1, 1);
        test_fill_uniform(&r, add, (size_t)C, -1, 1);
        segc_tokens_to_chw(tok, P, C, add, chw);
        for (int64_t p = 0; p < P; p++)
            for (int64_t c = 0; c < C; c++) ck_assert_float_eq(chw[c * P + p], tok[p * C + c] + add[c]);
        segc_tokens_to_chw(tok, P, C, NULL, chw);
        segc_chw_to_tokens(chw, C, P, back);
        ck_assert_int_eq(memcmp(back, tok, sizeof(float) * (size_t)(P * C)), 0);
        free(tok), free(chw), free(back), free(add);
    }
}
END_TEST

/* Random weights for an attention with the given dims, from `a`. */
static void random_attention(segc_arena *a, test_rng *r, int heads, int64_t C, int64_t Dint, int64_t Ckv,
                             segc_proj_attention *at) {
    *at = (segc_proj_attention){.num_heads = heads, .embed_dim = C, .kv_in_dim = Ckv, .internal_dim = Dint};
    segc_tensor *ws[4] = {&at->q_w, &at->k_w, &at->v_w, &at->out_w}, *bs[4] = {&at->q_b, &at->k_b, &at->v_b, &at->out_b};
    const int64_t outs[4] = {Dint, Dint, Dint, C}, ins[4] = {C, Ckv, Ckv, Dint};
    for (int k = 0; k < 4; k++) {
        segc_tensor_new_f32(a, ws[k], 2, outs[k], ins[k], 0, 0);
        segc_tensor_new_f32(a, bs[k], 1, outs[k], 0, 0, 0);
        test_fill_uniform(r, ws[k]->data, (size_t)(outs[k] * ins[k]), -0.5f, 0.5f);
        test_fill_uniform(r, bs[k]->data, (size_t)outs[k], -0.5f, 0.5f);
    }
}

/* Many sets in one call equal one call per set, for the shape families that make each form win:
   few queries and many keys (folded W_k), many queries and few keys (folded W_q, W_o), many sets on
   shared keys (plain, keys projected once), and self-attention on short sets; odd sizes throughout. */
START_TEST(test_proj_attention_sets_match_one_call_per_set) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(11);
    for (int it = 0; it < 16; it++) {
        const int family = it % 4, heads = test_rng_int(&r, 1, 4), dh = test_rng_int(&r, 4, 9);
        const int64_t Dint = (int64_t)heads * dh, C = test_rng_int(&r, 3, 21),
                      Ckv = family == 3 ? C : test_rng_int(&r, 3, 19);
        const int nsets = family == 2 ? test_rng_int(&r, 9, 14) : test_rng_int(&r, 1, 5);
        segc_proj_attention at;
        random_attention(&a, &r, heads, C, Dint, Ckv, &at);
        int64_t q_off[16] = {0}, k_off[16] = {0};
        const int64_t shared_lk = test_rng_int(&r, 90, 170);
        for (int s = 0; s < nsets; s++) {
            int64_t lq, lk;
            if (family == 0) lq = test_rng_int(&r, 1, 3), lk = test_rng_int(&r, 90, 170);
            else if (family == 1) lq = test_rng_int(&r, 90, 170), lk = test_rng_int(&r, 1, 3);
            else if (family == 2) lq = test_rng_int(&r, 1, 3), lk = shared_lk;
            else lq = lk = test_rng_int(&r, 1, 9);
            q_off[s + 1] = q_off[s] + lq;
            k_off[s + 1] = k_off[s] + lk;
        }
        const int shared = family == 2;
        const int64_t Lq = q_off[nsets], Lk = shared ? shared_lk : k_off[nsets];
        segc_tensor q, k, v, out, one;
        segc_tensor_new_f32(&a, &q, 2, Lq, C, 0, 0);
        segc_tensor_new_f32(&a, &out, 2, Lq, C, 0, 0);
        segc_tensor_new_f32(&a, &k, 2, Lk, Ckv, 0, 0);
        segc_tensor_new_f32(&a, &v, 2, Lk, Ckv, 0, 0);
        test_fill_uniform(&r, q.data, (size_t)(Lq * C), -1, 1);
        test_fill_uniform(&r, k.data, (size_t)(Lk * Ckv), -1, 1);
        test_fill_uniform(&r, v.data, (size_t)(Lk * Ckv), -1, 1);
        if (family == 3) k = v = q;   /* self-attention: q, k and v are the same rows */
        ck_assert_msg(segc_proj_attention_forward_sets(&a, &at, nsets, &q, q_off, &k, &v, shared ? NULL : k_off, &out) ==
                          SEGC_OK, "%s", segc_last_error());
        for (int s = 0; s < nsets; s++) {
            const int64_t lq = q_off[s + 1] - q_off[s], k0 = shared ? 0 : k_off[s], lk = shared ? Lk : k_off[s + 1] - k0;
            segc_tensor qs = segc_tensor_f32((float *)q.data + q_off[s] * C, 2, lq, C, 0, 0),
                        ks = segc_tensor_f32((float *)k.data + k0 * Ckv, 2, lk, Ckv, 0, 0),
                        vs = segc_tensor_f32((float *)v.data + k0 * Ckv, 2, lk, Ckv, 0, 0);
            segc_tensor_new_f32(&a, &one, 2, lq, C, 0, 0);
            ck_assert_int_eq(segc_proj_attention_forward(&a, &at, &qs, &ks, &vs, &one), SEGC_OK);
            test_assert_close((float *)out.data + q_off[s] * C, one.data, (size_t)(lq * C), 2e-5, 2e-5, "attention sets");
        }
        segc_arena_reset(&a);
    }
    segc_arena_free(&a);
}
END_TEST

START_TEST(test_proj_attention_sets_reject_bad_ranges) {
    segc_arena a;
    segc_arena_init(&a, 0);
    test_rng r = test_rng_new(12);
    segc_proj_attention at;
    random_attention(&a, &r, 2, 8, 8, 8, &at);
    segc_tensor q, out;
    segc_tensor_new_f32(&a, &q, 2, 5, 8, 0, 0);
    segc_tensor_new_f32(&a, &out, 2, 5, 8, 0, 0);
    test_fill_uniform(&r, q.data, 40, -1, 1);
    const int64_t past_end[3] = {0, 3, 6}, backwards[3] = {0, 4, 3}, no_keys[3] = {0, 0, 5}, fine[3] = {0, 2, 5};
    ck_assert_int_eq(segc_proj_attention_forward_sets(&a, &at, 2, &q, past_end, &q, &q, fine, &out), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_proj_attention_forward_sets(&a, &at, 2, &q, fine, &q, &q, backwards, &out), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_proj_attention_forward_sets(&a, &at, 2, &q, fine, &q, &q, no_keys, &out), SEGC_ERR_INVALID_ARG);
    ck_assert_int_eq(segc_proj_attention_forward_sets(&a, &at, 0, &q, fine, &q, &q, fine, &out), SEGC_ERR_INVALID_ARG);
    segc_tensor narrow = segc_tensor_f32(q.data, 2, 10, 4, 0, 0);
    ck_assert_int_eq(segc_proj_attention_forward_sets(&a, &at, 2, &q, fine, &narrow, &narrow, NULL, &out), SEGC_ERR_SHAPE);
    ck_assert_int_eq(segc_proj_attention_forward_sets(&a, &at, 2, &q, fine, &q, &q, fine, &out), SEGC_OK);
    segc_arena_free(&a);
}
END_TEST

static Suite *transformer_suite(void) {
    Suite *s = suite_create("nn_transformer");
    TCase *tc = tcase_create("transformer");
    tcase_add_test(tc, test_mlp_matches_plain_loops);
    tcase_add_test(tc, test_proj_attention_matches_plain_loops);
    tcase_add_test(tc, test_proj_attention_sets_match_one_call_per_set);
    tcase_add_test(tc, test_proj_attention_sets_reject_bad_ranges);
    tcase_add_test(tc, test_layout_transposes_match_index_formula);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(transformer_suite()); }
