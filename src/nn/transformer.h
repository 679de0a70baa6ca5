/* transformer.h - token-major transformer pieces shared by SAM 2's Hiera trunk, mask decoder (and later
   its memory attention): LayerNorm on token rows, the multi-layer MLP
   (sam2_utils.MLP) and SAM's projected multi-head Attention (sam/transformer.py Attention).
   Dims: M tokens (rows), C channels. Tokens are row-major [M, C] float32, contiguous.
   Not here: windowing and RoPE (ops/attention.h, ops/rope.h), model-specific blocks. */
#ifndef SEGC_NN_TRANSFORMER_H
#define SEGC_NN_TRANSFORMER_H

#include "core/arena.h"
#include "core/tensor.h"
#include "nn/params.h"
#include "ops/act.h"

#define SEGC_MLP_MAX_LAYERS 4

/* LayerNorm over the last dim of raw rows x[M, C] -> out[M, C] (may alias): a view over ops/norm.h
   segc_layer_norm for code that works on token buffers. */
segc_status segc_layer_norm_rows(const float *x, int64_t M, int64_t C, const segc_tensor *w, const segc_tensor *b,
                                 float eps, float *out);

/* sam2_utils.MLP: num_layers Linear layers, `act` between them, optional sigmoid at the end. */
typedef struct segc_mlp {
    int num_layers;
    segc_tensor w[SEGC_MLP_MAX_LAYERS];   /* [out, in] */
    segc_tensor b[SEGC_MLP_MAX_LAYERS];   /* [out] */
    segc_act act;
    int sigmoid_output;
} segc_mlp;

/* Loads `prefix`.layers.{i}.weight/bias for i < num_layers and checks that the dims chain from in_dim
   to out_dim (hidden dims from the file). */
segc_status segc_mlp_load(segc_params *p, const char *prefix, int num_layers, int64_t in_dim, int64_t out_dim,
                          segc_act act, int sigmoid_output, segc_mlp *mlp);
/* y[M, out_dim] = mlp(x[M, in_dim]); hidden activations from `arena` (released before return). */
segc_status segc_mlp_forward(segc_arena *arena, const segc_mlp *mlp, const segc_tensor *x, segc_tensor *y);

/* SAM's Attention: q/k/v projections to internal_dim = C / downsample_rate, heads, SDPA, out_proj. */
typedef struct segc_proj_attention {
    int num_heads;
    int64_t embed_dim, kv_in_dim, internal_dim;
    segc_tensor q_w, q_b, k_w, k_b, v_w, v_b, out_w, out_b;
} segc_proj_attention;

/* Loads `prefix`.{q,k,v,out}_proj.{weight,bias}; internal_dim and kv_in_dim come from the shapes. */
segc_status segc_proj_attention_load(segc_params *p, const char *prefix, int num_heads, int64_t embed_dim,
                                     segc_proj_attention *a);
/* out[Lq, C] = out_proj(SDPA(q_proj(q), k_proj(k), v_proj(v))) with q[Lq, C], k, v [Lk, kv_in_dim]
   (batch 1). Projections and scores come from `arena` (released before return). */
segc_status segc_proj_attention_forward(segc_arena *arena, const segc_proj_attention *a, const segc_tensor *q,
                                        const segc_tensor *k, const segc_tensor *v, segc_tensor *out);

/* Many attentions with the same weights in one call (SAM's batched prompt sets). Set s reads q rows
   [q_off[s], q_off[s+1]) and k/v rows [k_off[s], k_off[s+1]) and writes out rows [q_off[s], q_off[s+1]);
   k_off NULL: every set reads all k/v rows (keys shared by the sets, projected once). q[Lq, C],
   k/v [Lk, Ckv], out[Lq, C]. Picks the form with the fewest multiply-adds: the plain one (projections
   of all rows as one GEMM each), or, when one side has few rows and the other many, the "folded" form
   that never projects the long side: per head the short side is mapped into the long side's input
   space (W_k,h^T q_h for few queries, W_q,h^T k_h and W_o,h v_h for few keys), which halves the work of
   SAM's token<->image attentions. Same result as segc_proj_attention_forward per set up to float
   rounding (that function is the reference). Scratch from `arena` (released before return). */
segc_status segc_proj_attention_forward_sets(segc_arena *arena, const segc_proj_attention *a, int nsets,
                                             const segc_tensor *q, const int64_t *q_off, const segc_tensor *k,
                                             const segc_tensor *v, const int64_t *k_off, segc_tensor *out);

/* Layout changes between token-major maps [P, C] (P = H*W) and channel-major [C, P] (NCHW, batch 1),
   tiled for the cache. `add` (may be NULL) is a per-channel [C] vector added on the way. */
void segc_tokens_to_chw(const float *src, int64_t P, int64_t C, const float *add, float *dst);
void segc_chw_to_tokens(const float *src, int64_t C, int64_t P, float *dst);

/* y[M, out] = act(x[M, in] W^T + b) through segc_linear, then the activation in place. */
segc_status segc_linear_act(const segc_tensor *x, const segc_tensor *w, const segc_tensor *b, segc_act act,
                            segc_tensor *y);

#endif
