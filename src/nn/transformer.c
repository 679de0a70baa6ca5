/* transformer.c - LayerNorm on rows, MLP and SAM's projected attention (see transformer.h). */
#include "nn/transformer.h"

#include <math.h>
#include <string.h>

#include "core/status.h"
#include "ops/attention.h"
#include "ops/gemm.h"
#include "ops/norm.h"

segc_status segc_layer_norm_rows(const float *x, int64_t M, int64_t C, const segc_tensor *w, const segc_tensor *b,
                                 float eps, float *out) {
    segc_tensor xi = segc_tensor_f32((float *)x, 2, M, C, 0, 0), xo = segc_tensor_f32(out, 2, M, C, 0, 0);
    return segc_layer_norm(&xi, w, b, eps, &xo);
}

segc_status segc_linear_act(const segc_tensor *x, const segc_tensor *w, const segc_tensor *b, segc_act act,
                            segc_tensor *y) {
    segc_status st = segc_linear(x, w, b, y);
    if (st != SEGC_OK) return st;
    if (act != SEGC_ACT_NONE) segc_act_apply(act, y->data, (size_t)segc_tensor_numel(y));
    return SEGC_OK;
}

segc_status segc_mlp_load(segc_params *p, const char *prefix, int num_layers, int64_t in_dim, int64_t out_dim,
                          segc_act act, int sigmoid_output, segc_mlp *mlp) {
    if (num_layers < 1 || num_layers > SEGC_MLP_MAX_LAYERS)
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: MLP with %d layers", prefix, num_layers);
    memset(mlp, 0, sizeof *mlp);
    mlp->num_layers = num_layers;
    mlp->act = act;
    mlp->sigmoid_output = sigmoid_output;
    char name[256];
    int64_t prev = in_dim;
    for (int i = 0; i < num_layers; i++) {
        segc_params_name(name, sizeof name, "%s.layers.%d.weight", prefix, i);
        segc_status st = segc_params_get(p, name, 2, NULL, &mlp->w[i]);
        if (st != SEGC_OK) return st;
        const int64_t o = mlp->w[i].shape[0];
        if (mlp->w[i].shape[1] != prev || (i == num_layers - 1 && o != out_dim))
            return segc_fail(SEGC_ERR_SHAPE, "%s: layer %d is [%lld, %lld], expected input %lld%s", prefix, i,
                             (long long)o, (long long)mlp->w[i].shape[1], (long long)prev,
                             i == num_layers - 1 ? " and the output dim" : "");
        const int64_t bs[1] = {o};
        segc_params_name(name, sizeof name, "%s.layers.%d.bias", prefix, i);
        st = segc_params_get(p, name, 1, bs, &mlp->b[i]);
        if (st != SEGC_OK) return st;
        prev = o;
    }
    return SEGC_OK;
}

/* x: [M, in] -> y: [M, out]; hidden [M, hidden] buffers from the arena. */
segc_status segc_mlp_forward(segc_arena *arena, const segc_mlp *mlp, const segc_tensor *x, segc_tensor *y) {
    segc_arena_mark mark = segc_arena_get_mark(arena);
    const int64_t M = segc_tensor_numel(x) / x->shape[x->ndim - 1];
    segc_tensor cur = *x;
    segc_status st = SEGC_OK;
    for (int i = 0; i < mlp->num_layers && st == SEGC_OK; i++) {
        const int last = i == mlp->num_layers - 1;
        segc_tensor out;
        if (last) {
            out = *y;
        } else {
            st = segc_tensor_new_f32(arena, &out, 2, M, mlp->w[i].shape[0], 0, 0);
            if (st != SEGC_OK) break;
        }
        segc_tensor in2;
        const int64_t s2[2] = {M, cur.shape[cur.ndim - 1]};
        st = segc_tensor_reshape(&cur, 2, s2, &in2);
        if (st != SEGC_OK) break;
        segc_tensor out2;
        const int64_t o2[2] = {M, mlp->w[i].shape[0]};
        st = segc_tensor_reshape(&out, 2, o2, &out2);
        if (st != SEGC_OK) break;
        st = segc_linear_act(&in2, &mlp->w[i], &mlp->b[i], last ? SEGC_ACT_NONE : mlp->act, &out2);
        cur = out;
    }
    if (st == SEGC_OK && mlp->sigmoid_output)
        segc_act_apply(SEGC_ACT_SIGMOID, y->data, (size_t)segc_tensor_numel(y));
    segc_arena_release(arena, mark);
    return st;
}

static segc_status load_linear(segc_params *p, const char *prefix, const char *what, int64_t out_dim,
                               int64_t in_dim, segc_tensor *w, segc_tensor *b) {
    char name[256];
    segc_params_name(name, sizeof name, "%s.%s.weight", prefix, what);
    segc_status st = segc_params_get(p, name, 2, NULL, w);
    if (st != SEGC_OK) return st;
    if ((out_dim > 0 && w->shape[0] != out_dim) || (in_dim > 0 && w->shape[1] != in_dim))
        return segc_fail(SEGC_ERR_SHAPE, "%s is [%lld, %lld], expected [%lld, %lld] (0: any)", name,
                         (long long)w->shape[0], (long long)w->shape[1], (long long)out_dim, (long long)in_dim);
    const int64_t bs[1] = {w->shape[0]};
    segc_params_name(name, sizeof name, "%s.%s.bias", prefix, what);
    return segc_params_get(p, name, 1, bs, b);
}

segc_status segc_proj_attention_load(segc_params *p, const char *prefix, int num_heads, int64_t embed_dim,
                                     segc_proj_attention *a) {
    memset(a, 0, sizeof *a);
    a->num_heads = num_heads;
    a->embed_dim = embed_dim;
    segc_status st = load_linear(p, prefix, "q_proj", 0, 0, &a->q_w, &a->q_b);
    if (st != SEGC_OK) return st;
    a->internal_dim = a->q_w.shape[0];
    if (a->q_w.shape[1] != embed_dim || num_heads < 1 || a->internal_dim % num_heads != 0)
        return segc_fail(SEGC_ERR_SHAPE, "%s: q_proj [%lld, %lld] does not fit dim %lld with %d heads", prefix,
                         (long long)a->q_w.shape[0], (long long)a->q_w.shape[1], (long long)embed_dim, num_heads);
    if ((st = load_linear(p, prefix, "k_proj", a->internal_dim, 0, &a->k_w, &a->k_b)) != SEGC_OK) return st;
    a->kv_in_dim = a->k_w.shape[1];
    if ((st = load_linear(p, prefix, "v_proj", a->internal_dim, a->kv_in_dim, &a->v_w, &a->v_b)) != SEGC_OK)
        return st;
    return load_linear(p, prefix, "out_proj", embed_dim, a->internal_dim, &a->out_w, &a->out_b);
}

/* q: [Lq, C], k/v: [Lk, Ckv] -> out: [Lq, C]. */
segc_status segc_proj_attention_forward(segc_arena *arena, const segc_proj_attention *a, const segc_tensor *q,
                                        const segc_tensor *k, const segc_tensor *v, segc_tensor *out) {
    const int64_t Lq = q->shape[0], Lk = k->shape[0], D = a->internal_dim;
    if (q->ndim != 2 || k->ndim != 2 || v->ndim != 2 || v->shape[0] != Lk || out->ndim != 2 ||
        out->shape[0] != Lq || q->shape[1] != a->embed_dim || k->shape[1] != a->kv_in_dim ||
        v->shape[1] != a->kv_in_dim || out->shape[1] != a->embed_dim)
        return segc_fail(SEGC_ERR_SHAPE, "attention: q/k/v/out shapes do not fit embed %lld kv %lld",
                         (long long)a->embed_dim, (long long)a->kv_in_dim);
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor qp, kp, vp, merged;
    segc_status st;
    if ((st = segc_tensor_new_f32(arena, &qp, 3, 1, Lq, D, 0)) != SEGC_OK) goto done;
    if ((st = segc_tensor_new_f32(arena, &kp, 3, 1, Lk, D, 0)) != SEGC_OK) goto done;
    if ((st = segc_tensor_new_f32(arena, &vp, 3, 1, Lk, D, 0)) != SEGC_OK) goto done;
    if ((st = segc_tensor_new_f32(arena, &merged, 3, 1, Lq, D, 0)) != SEGC_OK) goto done;
    segc_tensor q2 = segc_tensor_f32(qp.data, 2, Lq, D, 0, 0), k2 = segc_tensor_f32(kp.data, 2, Lk, D, 0, 0),
                v2 = segc_tensor_f32(vp.data, 2, Lk, D, 0, 0);
    if ((st = segc_linear(q, &a->q_w, &a->q_b, &q2)) != SEGC_OK) goto done;
    if ((st = segc_linear(k, &a->k_w, &a->k_b, &k2)) != SEGC_OK) goto done;
    if ((st = segc_linear(v, &a->v_w, &a->v_b, &v2)) != SEGC_OK) goto done;
    segc_tensor qh, kh, vh, oh;
    if ((st = segc_attention_heads_view(&qp, a->num_heads, &qh)) != SEGC_OK) goto done;
    if ((st = segc_attention_heads_view(&kp, a->num_heads, &kh)) != SEGC_OK) goto done;
    if ((st = segc_attention_heads_view(&vp, a->num_heads, &vh)) != SEGC_OK) goto done;
    if ((st = segc_attention_heads_view(&merged, a->num_heads, &oh)) != SEGC_OK) goto done;
    if ((st = segc_attention(arena, &qh, &kh, &vh, NULL, 0.0f, &oh)) != SEGC_OK) goto done;
    segc_tensor m2 = segc_tensor_f32(merged.data, 2, Lq, D, 0, 0);
    st = segc_linear(&m2, &a->out_w, &a->out_b, out);
done:
    segc_arena_release(arena, mark);
    return st;
}

#define LAYOUT_TILE 32

/* src [P, C] -> dst [C, P], plus add[c]. */
void segc_tokens_to_chw(const float *src, int64_t P, int64_t C, const float *add, float *dst) {
#pragma omp parallel for schedule(static)
    for (int64_t p0 = 0; p0 < P; p0 += LAYOUT_TILE)
        for (int64_t c0 = 0; c0 < C; c0 += LAYOUT_TILE) {
            const int64_t p1 = p0 + LAYOUT_TILE < P ? p0 + LAYOUT_TILE : P;
            const int64_t c1 = c0 + LAYOUT_TILE < C ? c0 + LAYOUT_TILE : C;
            for (int64_t c = c0; c < c1; c++) {
                const float a = add ? add[c] : 0.0f;
                for (int64_t p = p0; p < p1; p++) dst[c * P + p] = src[p * C + c] + a;
            }
        }
}

/* src [C, P] -> dst [P, C]. */
void segc_chw_to_tokens(const float *src, int64_t C, int64_t P, float *dst) {
#pragma omp parallel for schedule(static)
    for (int64_t p0 = 0; p0 < P; p0 += LAYOUT_TILE)
        for (int64_t c0 = 0; c0 < C; c0 += LAYOUT_TILE) {
            const int64_t p1 = p0 + LAYOUT_TILE < P ? p0 + LAYOUT_TILE : P;
            const int64_t c1 = c0 + LAYOUT_TILE < C ? c0 + LAYOUT_TILE : C;
            for (int64_t p = p0; p < p1; p++)
                for (int64_t c = c0; c < c1; c++) dst[p * C + c] = src[c * P + p];
        }
}
