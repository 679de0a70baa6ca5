/* attention.h - scaled-dot-product attention (multi-head, fused, blocked over query rows), the
   head layout helpers models need around it, and SAM 2 Hiera's window partition / unpartition.
   Dims: B batch, H heads, Lq query tokens, Lk key/value tokens, D q/k head dim, Dv value head dim.
   Not here: the q/k/v/out projections (ops/gemm.h segc_linear) and RoPE (ops/rope.h). */
#ifndef SEGC_OPS_ATTENTION_H
#define SEGC_OPS_ATTENTION_H

#include "core/arena.h"
#include "core/tensor.h"

/* out[B,H,Lq,Dv] = softmax(q k^T * scale + mask) v, with q[B,H,Lq,D], k[B,H,Lk,D], v[B,H,Lk,Dv]
   (PyTorch F.scaled_dot_product_attention without dropout).
   - scale <= 0 picks 1/sqrt(D).
   - mask is NULL or an additive float32 mask, either [Lq,Lk] (broadcast over B and H) or 4-D
     [B or 1, H or 1, Lq, Lk]; -INFINITY entries exclude a key. A row whose every score is -inf
     yields zeros (PyTorch would give NaN).
   - q, k, v, mask and out may be strided views (e.g. a permuted [B,L,H,D] projection, see
     segc_attention_heads_view) as long as their last dim is contiguous (stride 1).
   The [Lq,Lk] score matrix is never materialized whole: rows are processed in blocks with one
   scratch block per thread from `scratch` (released before return); parallel over (B, H, block).
   Deterministic for a given thread count (in fact independent of it). */
segc_status segc_attention(segc_arena *scratch, const segc_tensor *q, const segc_tensor *k, const segc_tensor *v,
                           const segc_tensor *mask, float scale, segc_tensor *out);
/* Same, allocating a contiguous out[B,H,Lq,Dv] from `arena` (also used for scratch). */
segc_status segc_attention_new(segc_arena *arena, const segc_tensor *q, const segc_tensor *k, const segc_tensor *v,
                               const segc_tensor *mask, float scale, segc_tensor *out);
/* Plain loops in double precision (full score row per query), the test oracle. Same arguments and
   strides rules as segc_attention; the scratch for one score row comes from `scratch`. */
segc_status segc_attention_reference(segc_arena *scratch, const segc_tensor *q, const segc_tensor *k,
                                     const segc_tensor *v, const segc_tensor *mask, float scale, segc_tensor *out);

/* Head layout helpers. */

/* A no-copy view [B,H,L,D] of x[B,L,H*D] (contiguous): what `x.view(B,L,H,D).transpose(1,2)` gives.
   segc_attention accepts it directly (and can write its output into such a view). */
segc_status segc_attention_heads_view(const segc_tensor *x, int heads, segc_tensor *out);
/* Copies x[B,L,H*D] into contiguous out[B,H,L,D] (SAM's Attention._separate_heads). */
segc_status segc_attention_split_heads(const segc_tensor *x, int heads, segc_tensor *out);
/* Copies a fused projection qkv[B,L,3*H*D] (laid out [B,L,3,H,D] as Hiera's
   `qkv(x).reshape(B, L, 3, heads, -1)`) into contiguous q, k, v [B,H,L,D]. */
segc_status segc_attention_split_qkv(const segc_tensor *qkv, int heads, segc_tensor *q, segc_tensor *k,
                                     segc_tensor *v);
/* Copies x[B,H,L,D] (any strides, contiguous last dim) into contiguous out[B,L,H*D] (SAM's _recombine_heads). */
segc_status segc_attention_merge_heads(const segc_tensor *x, segc_tensor *out);

/* Windows, as sam2/modeling/backbones/utils.py (channels-last tensors). */

/* Number of windows per image side for a side of `size` and window `ws`: ceil(size / ws). */
int64_t segc_window_count(int64_t size, int ws);
/* x[B,Hs,Ws,C] -> windows[B*nH*nW, ws, ws, C], padding bottom/right with zeros up to multiples of ws
   (nH = ceil(Hs/ws), nW = ceil(Ws/ws)); windows are ordered (b, row of windows, column of windows). */
segc_status segc_window_partition(const segc_tensor *x, int ws, segc_tensor *windows);
segc_status segc_window_partition_new(segc_arena *arena, const segc_tensor *x, int ws, segc_tensor *windows);
/* The inverse: windows[B*nH*nW, ws, ws, C] -> x[B,Hs,Ws,C] with the padding cropped; B, Hs, Ws come
   from the shape of `x` (window_unpartition(windows, ws, pad_hw, (Hs, Ws)) in the reference). */
segc_status segc_window_unpartition(const segc_tensor *windows, int ws, segc_tensor *x);
segc_status segc_window_unpartition_new(segc_arena *arena, const segc_tensor *windows, int ws, int64_t batch,
                                        int64_t height, int64_t width, segc_tensor *x);

#endif
