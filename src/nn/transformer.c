/* transformer.c - LayerNorm on rows, MLP and SAM's projected attention, one set or many prompt sets at once
   (see transformer.h). */
#include "nn/transformer.h"

#include <math.h>
#include <string.h>

#include "core/status.h"
#include "ops/attention.h"
#include "ops/gemm.h"
#include "ops/norm.h"
#include "ops/softmax.h"

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

/* ---- attention over many prompt sets (segc_proj_attention_forward_sets) --------------------------
   Dims: H heads, Di internal dim, dh = Di / H, C embed dim (q and out), Ckv k/v input dim; lq, lk
   rows of one set. */

typedef enum { SETS_PLAIN, SETS_FEW_QUERIES, SETS_FEW_KEYS } sets_form;

static int64_t set_rows(const int64_t *off, int s, int64_t all) { return off ? off[s + 1] - off[s] : all; }
static int64_t set_start(const int64_t *off, int s) { return off ? off[s] : 0; }

/* Multiply-add counts of the three forms (see the loops below); ties go to the plain form. */
static sets_form pick_form(const segc_proj_attention *a, int nsets, const int64_t *q_off, int64_t Lq,
                           const int64_t *k_off, int64_t Lk) {
    const double H = a->num_heads, Di = (double)a->internal_dim, dh = Di / H, C = (double)a->embed_dim,
                 Ckv = (double)a->kv_in_dim;
    double plain = (double)Lq * C * Di * 2 + (double)Lk * Ckv * Di * 2;
    double few_q = (double)Lq * C * Di * 2, few_k = (double)Lk * Ckv * Di * 2;
    for (int s = 0; s < nsets; s++) {
        const double lq = (double)set_rows(q_off, s, 0), lk = (double)set_rows(k_off, s, Lk);
        plain += 2 * lq * lk * Di;
        few_q += 2 * H * lq * Ckv * dh + 2 * H * lq * lk * Ckv;
        few_k += H * lk * dh * 2 * C + 2 * lq * H * lk * C;
    }
    if (few_q < plain && few_q <= few_k) return SETS_FEW_QUERIES;
    if (few_k < plain) return SETS_FEW_KEYS;
    return SETS_PLAIN;
}

/* x[rows, n] += b[n] on every row. */
static void add_row_vector(float *x, int64_t rows, int64_t n, const float *b) {
#pragma omp parallel for schedule(static) if (rows * n > 65536)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n; j++) x[r * n + j] += b[j];
}

/* Plain form: project all rows, SDPA per set on head views, out_proj over all rows. */
static segc_status sets_plain(segc_arena *arena, const segc_proj_attention *a, int nsets, const segc_tensor *q,
                              const int64_t *q_off, const segc_tensor *k, const segc_tensor *v, const int64_t *k_off,
                              segc_tensor *out) {
    const int64_t Lq = q->shape[0], Lk = k->shape[0], Di = a->internal_dim;
    segc_tensor qp, kp, vp, merged;
    segc_status st;
    if ((st = segc_tensor_new_f32(arena, &qp, 2, Lq, Di, 0, 0)) || (st = segc_tensor_new_f32(arena, &kp, 2, Lk, Di, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &vp, 2, Lk, Di, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &merged, 2, Lq, Di, 0, 0)) || (st = segc_linear(q, &a->q_w, &a->q_b, &qp)) ||
        (st = segc_linear(k, &a->k_w, &a->k_b, &kp)) || (st = segc_linear(v, &a->v_w, &a->v_b, &vp)))
        return st;
    for (int s = 0; s < nsets && st == SEGC_OK; s++) {
        const int64_t q0 = q_off[s], lq = q_off[s + 1] - q0, k0 = set_start(k_off, s), lk = set_rows(k_off, s, Lk);
        if (lq == 0) continue;
        segc_tensor qs = segc_tensor_f32((float *)qp.data + q0 * Di, 3, 1, lq, Di, 0),
                    ks = segc_tensor_f32((float *)kp.data + k0 * Di, 3, 1, lk, Di, 0),
                    vs = segc_tensor_f32((float *)vp.data + k0 * Di, 3, 1, lk, Di, 0),
                    os = segc_tensor_f32((float *)merged.data + q0 * Di, 3, 1, lq, Di, 0), qh, kh, vh, oh;
        if ((st = segc_attention_heads_view(&qs, a->num_heads, &qh)) ||
            (st = segc_attention_heads_view(&ks, a->num_heads, &kh)) ||
            (st = segc_attention_heads_view(&vs, a->num_heads, &vh)) ||
            (st = segc_attention_heads_view(&os, a->num_heads, &oh)))
            break;
        st = segc_attention(arena, &qh, &kh, &vh, NULL, 0.0f, &oh);
    }
    return st == SEGC_OK ? segc_linear(&merged, &a->out_w, &a->out_b, out) : st;
}

/* Few queries per set, many keys: per head qa_h = scale q_h W_k,h [lq, Ckv] (the key bias adds the same
   q_h.b_k to every score of a row: softmax drops it), scores = qa k^T [H lq, lk], z = softmax v
   [H lq, Ckv], merged_h = z_h W_v,h^T + b_v (softmax rows sum to 1), out = out_proj(merged). */
static segc_status sets_few_queries(segc_arena *arena, const segc_proj_attention *a, int nsets, const segc_tensor *q,
                                    const int64_t *q_off, const segc_tensor *k, const segc_tensor *v,
                                    const int64_t *k_off, segc_tensor *out) {
    const int64_t Lq = q->shape[0], Lk = k->shape[0], Di = a->internal_dim, H = a->num_heads, dh = Di / H,
                  Ckv = a->kv_in_dim;
    const float scale = (float)(1.0 / sqrt((double)dh));
    segc_tensor qp, merged;
    segc_status st;
    if ((st = segc_tensor_new_f32(arena, &qp, 2, Lq, Di, 0, 0)) ||
        (st = segc_tensor_new_f32(arena, &merged, 2, Lq, Di, 0, 0)) || (st = segc_linear(q, &a->q_w, &a->q_b, &qp)))
        return st;
    const float *kw = a->k_w.data, *vw = a->v_w.data, *kd = k->data, *vd = v->data;
    for (int s = 0; s < nsets; s++) {
        const int64_t q0 = q_off[s], lq = q_off[s + 1] - q0, k0 = set_start(k_off, s), lk = set_rows(k_off, s, Lk);
        if (lq == 0) continue;
        segc_arena_mark mark = segc_arena_get_mark(arena);
        float *qa = segc_arena_alloc_array(arena, (size_t)(H * lq * Ckv), sizeof(float));
        float *sc = segc_arena_alloc_array(arena, (size_t)(H * lq * lk), sizeof(float));
        float *z = segc_arena_alloc_array(arena, (size_t)(H * lq * Ckv), sizeof(float));
        if (!qa || !sc || !z) return segc_fail(SEGC_ERR_NOMEM, "attention: out of memory");
        float *qs = (float *)qp.data + q0 * Di, *ms = (float *)merged.data + q0 * Di;
        for (int64_t h = 0; h < H; h++)
            segc_sgemm(0, 0, (int)lq, (int)Ckv, (int)dh, scale, qs + h * dh, (int)Di, kw + h * dh * Ckv, (int)Ckv, 0.0f,
                       qa + h * lq * Ckv, (int)Ckv);
        segc_sgemm(0, 1, (int)(H * lq), (int)lk, (int)Ckv, 1.0f, qa, (int)Ckv, kd + k0 * Ckv, (int)Ckv, 0.0f, sc, (int)lk);
        segc_softmax_rows(sc, H * lq, lk);
        segc_sgemm(0, 0, (int)(H * lq), (int)Ckv, (int)lk, 1.0f, sc, (int)lk, vd + k0 * Ckv, (int)Ckv, 0.0f, z, (int)Ckv);
        for (int64_t h = 0; h < H; h++)
            segc_sgemm(0, 1, (int)lq, (int)dh, (int)Ckv, 1.0f, z + h * lq * Ckv, (int)Ckv, vw + h * dh * Ckv, (int)Ckv,
                       0.0f, ms + h * dh, (int)Di);
        add_row_vector(ms, lq, Di, a->v_b.data);
        segc_arena_release(arena, mark);
    }
    return segc_linear(&merged, &a->out_w, &a->out_b, out);
}

/* Few keys per set, many queries: per head ka_h = scale k_h W_q,h [lk, C] and its bias term
   cb_h = scale k_h.b_q,h [lk], vb_h = v_h W_o,h^T [lk, C]; scores = q ka^T + cb [lq, H lk] (softmax per
   head segment), out = scores vb + b_o. */
static segc_status sets_few_keys(segc_arena *arena, const segc_proj_attention *a, int nsets, const segc_tensor *q,
                                 const int64_t *q_off, const segc_tensor *k, const segc_tensor *v,
                                 const int64_t *k_off, segc_tensor *out) {
    const int64_t Lk = k->shape[0], Di = a->internal_dim, H = a->num_heads, dh = Di / H, C = a->embed_dim;
    const float scale = (float)(1.0 / sqrt((double)dh));
    segc_tensor kp, vp;
    segc_status st;
    if ((st = segc_tensor_new_f32(arena, &kp, 2, Lk, Di, 0, 0)) || (st = segc_tensor_new_f32(arena, &vp, 2, Lk, Di, 0, 0)) ||
        (st = segc_linear(k, &a->k_w, &a->k_b, &kp)) || (st = segc_linear(v, &a->v_w, &a->v_b, &vp)))
        return st;
    const float *qw = a->q_w.data, *qb = a->q_b.data, *ow = a->out_w.data, *qd = q->data;
    for (int s = 0; s < nsets; s++) {
        const int64_t q0 = q_off[s], lq = q_off[s + 1] - q0, k0 = set_start(k_off, s), lk = set_rows(k_off, s, Lk);
        if (lq == 0) continue;
        float *os = (float *)out->data + q0 * C;
        segc_arena_mark mark = segc_arena_get_mark(arena);
        float *ka = segc_arena_alloc_array(arena, (size_t)(H * lk * C), sizeof(float));
        float *cb = segc_arena_alloc_array(arena, (size_t)(H * lk), sizeof(float));
        float *vb = segc_arena_alloc_array(arena, (size_t)(H * lk * C), sizeof(float));
        float *sc = segc_arena_alloc_array(arena, (size_t)(lq * H * lk), sizeof(float));
        if (!ka || !cb || !vb || !sc) return segc_fail(SEGC_ERR_NOMEM, "attention: out of memory");
        const float *ks = (const float *)kp.data + k0 * Di, *vs = (const float *)vp.data + k0 * Di;
        for (int64_t h = 0; h < H; h++) {
            segc_sgemm(0, 0, (int)lk, (int)C, (int)dh, scale, ks + h * dh, (int)Di, qw + h * dh * C, (int)C, 0.0f,
                       ka + h * lk * C, (int)C);
            segc_sgemm(0, 1, (int)lk, (int)C, (int)dh, 1.0f, vs + h * dh, (int)Di, ow + h * dh, (int)Di, 0.0f,
                       vb + h * lk * C, (int)C);
            for (int64_t t = 0; t < lk; t++) {
                double acc = 0;
                for (int64_t e = 0; e < dh; e++) acc += (double)ks[t * Di + h * dh + e] * qb[h * dh + e];
                cb[h * lk + t] = (float)(acc * scale);
            }
        }
        segc_sgemm(0, 1, (int)lq, (int)(H * lk), (int)C, 1.0f, qd + q0 * C, (int)C, ka, (int)C, 0.0f, sc, (int)(H * lk));
        add_row_vector(sc, lq, H * lk, cb);
        segc_softmax_rows(sc, lq * H, lk);
        segc_sgemm(0, 0, (int)lq, (int)C, (int)(H * lk), 1.0f, sc, (int)(H * lk), vb, (int)C, 0.0f, os, (int)C);
        add_row_vector(os, lq, C, a->out_b.data);
        segc_arena_release(arena, mark);
    }
    return SEGC_OK;
}

segc_status segc_proj_attention_forward_sets(segc_arena *arena, const segc_proj_attention *a, int nsets,
                                             const segc_tensor *q, const int64_t *q_off, const segc_tensor *k,
                                             const segc_tensor *v, const int64_t *k_off, segc_tensor *out) {
    if (!arena || !a || !q || !q_off || !k || !v || !out || nsets < 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "attention sets: NULL argument or no set");
    const int64_t Lq = q->ndim == 2 ? q->shape[0] : -1, Lk = k->ndim == 2 ? k->shape[0] : -1;
    if (q->ndim != 2 || k->ndim != 2 || v->ndim != 2 || out->ndim != 2 || v->shape[0] != Lk || out->shape[0] != Lq ||
        q->shape[1] != a->embed_dim || k->shape[1] != a->kv_in_dim || v->shape[1] != a->kv_in_dim ||
        out->shape[1] != a->embed_dim || q->dtype != SEGC_F32 || k->dtype != SEGC_F32 || v->dtype != SEGC_F32 ||
        !segc_tensor_is_contiguous(q) || !segc_tensor_is_contiguous(k) || !segc_tensor_is_contiguous(v) ||
        !segc_tensor_is_contiguous(out))
        return segc_fail(SEGC_ERR_SHAPE, "attention sets: q/k/v/out must be contiguous float32 [L, %lld] / [L, %lld]",
                         (long long)a->embed_dim, (long long)a->kv_in_dim);
    for (int s = 0; s < nsets; s++) {
        if (q_off[s] < 0 || q_off[s + 1] < q_off[s] || q_off[s + 1] > Lq ||
            (k_off && (k_off[s] < 0 || k_off[s + 1] < k_off[s] || k_off[s + 1] > Lk)))
            return segc_fail(SEGC_ERR_INVALID_ARG, "attention sets: row ranges of set %d out of order or bounds", s);
        if (set_rows(k_off, s, Lk) == 0 && q_off[s + 1] > q_off[s])
            return segc_fail(SEGC_ERR_INVALID_ARG, "attention sets: set %d has queries but no keys", s);
    }
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_status st;
    switch (pick_form(a, nsets, q_off, Lq, k_off, Lk)) {
    case SETS_FEW_QUERIES: st = sets_few_queries(arena, a, nsets, q, q_off, k, v, k_off, out); break;
    case SETS_FEW_KEYS: st = sets_few_keys(arena, a, nsets, q, q_off, k, v, k_off, out); break;
    default: st = sets_plain(arena, a, nsets, q, q_off, k, v, k_off, out); break;
    }
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
