/* rope.h - SAM 2's 2-D axial rotary position encoding (sam2/modeling/position_encoding.py:
   compute_axial_cis, apply_rotary_enc; sam2/modeling/sam/transformer.py RoPEAttention).
   The complex freqs_cis of the reference are stored as float32 pairs: cis[N, D/2, 2] = (cos, sin)
   with N = end_x * end_y tokens (row-major over y then x, as init_t_xy) and D the head dim.
   Channel pair j of a token is rotated by cis[n, j]; pairs 0..D/4-1 carry x frequencies, pairs
   D/4..D/2-1 carry y frequencies (torch.cat([freqs_cis_x, freqs_cis_y], dim=-1)). */
#ifndef SEGC_OPS_ROPE_H
#define SEGC_OPS_ROPE_H

#include "core/arena.h"
#include "core/tensor.h"

#define SEGC_ROPE_THETA_DEFAULT 10000.0f

/* Fills cis[end_x*end_y, dim/2, 2] (contiguous float32) with compute_axial_cis(dim, end_x, end_y,
   theta): freqs = 1 / theta^(arange(0, dim, 4)[:dim/4] / dim); token n has t_x = n % end_x,
   t_y = n / end_x; angle = t * freq. dim must be a positive multiple of 4. */
segc_status segc_rope_axial_cis(int dim, int end_x, int end_y, float theta, segc_tensor *cis);
segc_status segc_rope_axial_cis_new(segc_arena *arena, int dim, int end_x, int end_y, float theta,
                                    segc_tensor *cis);

/* Rotates x[B,H,L,D] in place: for tokens l < num_rotate, pair j = (x[2j], x[2j+1]) is multiplied as
   a complex number by cis[l % N, j] (N = cis rows; l % N is repeat_freqs_k). Tokens >= num_rotate
   are left alone (num_k_exclude_rope). num_rotate must be a multiple of N (N itself when no repeat).
   x may be a strided view with a contiguous last dim. */
segc_status segc_rope_apply(segc_tensor *x, const segc_tensor *cis, int64_t num_rotate);

/* RoPEAttention's rotation of q[B,H,Lq,D] and k[B,H,Lk,D] in place (as apply_rotary_enc on q and
   k[:, :, :Lk - num_k_exclude_rope]): q needs Lq == N; the rotated keys need Lk' == N, or with
   repeat_freqs_k a multiple of N (several memory frames). k may be NULL (q only). */
segc_status segc_rope_apply_qk(segc_tensor *q, segc_tensor *k, const segc_tensor *cis, int repeat_freqs_k,
                               int64_t num_k_exclude_rope);

/* The oracle: the same rotation written with C99 complex numbers, angles recomputed per element from
   the formula (no cis table), in double. end_x * end_y must equal the rotation period N. */
segc_status segc_rope_apply_reference(segc_tensor *x, int end_x, int end_y, float theta, int64_t num_rotate);

#endif
