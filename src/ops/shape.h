/* shape.h - copies that move data between layouts: concat, permute (NCHW <-> NHWC and any other
   order), 2-D padding, repeat along a dim, and the flatten / unflatten pair transformer code uses
   ([N,C,H,W] <-> [N,H*W,C]). Views that copy nothing (split, chunk, expand) are here too; narrow,
   reshape and permute views are in core/tensor.h. Any dtype unless a function says float32.
   Inputs may have any strides; outputs are contiguous (their shapes are checked exactly). */
#ifndef SEGC_OPS_SHAPE_H
#define SEGC_OPS_SHAPE_H

#include "core/arena.h"
#include "core/tensor.h"

/* out = torch.cat(inputs[0..count), dim): all inputs have out's dtype and ndim and equal sizes
   outside `dim`; dim may be negative (counted from the end). Empty inputs are allowed. */
segc_status segc_concat(const segc_tensor *const *inputs, int count, int dim, segc_tensor *out);
segc_status segc_concat_new(segc_arena *arena, const segc_tensor *const *inputs, int count, int dim,
                            segc_tensor *out);
/* Views: parts[i] is x narrowed along dim to sizes[i] consecutive entries; the sizes must add up to
   x.shape[dim] (torch.split with a list of sizes). */
segc_status segc_split(const segc_tensor *x, int dim, const int64_t *sizes, int count, segc_tensor *parts);
/* Views: `chunks` equal parts along dim (x.shape[dim] must be divisible by chunks; e.g. qkv.chunk(3)). */
segc_status segc_chunk(const segc_tensor *x, int dim, int chunks, segc_tensor *parts);

/* out (contiguous) = x.permute(perm) copied; out.shape[i] == x.shape[perm[i]]. Blocked transpose
   for the NCHW <-> NHWC cases, a strided copy otherwise. */
segc_status segc_permute_copy(const segc_tensor *x, const int *perm, segc_tensor *out);
segc_status segc_permute_new(segc_arena *arena, const segc_tensor *x, const int *perm, segc_tensor *out);
/* Plain index loop, the test oracle for permute_copy. */
segc_status segc_permute_copy_reference(const segc_tensor *x, const int *perm, segc_tensor *out);
/* x[N,C,H,W] -> out[N,H,W,C] and back. */
segc_status segc_nchw_to_nhwc(const segc_tensor *x, segc_tensor *out);
segc_status segc_nhwc_to_nchw(const segc_tensor *x, segc_tensor *out);
/* x[N,C,H,W] -> out[N,H*W,C] (x.flatten(2).permute(0, 2, 1)). */
segc_status segc_flatten_hw(const segc_tensor *x, segc_tensor *out);
/* x[N,H*W,C] -> out[N,C,H,W] (x.permute(0, 2, 1).view(N, C, H, W)); H and W come from out. */
segc_status segc_unflatten_hw(const segc_tensor *x, segc_tensor *out);

/* F.pad(x, (left, right, top, bottom), value=v) on the last two dims of x[..., H, W] (ndim >= 2):
   out[..., H + top + bottom, W + left + right]. Pads must be >= 0. float32 only. */
segc_status segc_pad2d(const segc_tensor *x, int left, int right, int top, int bottom, float value,
                       segc_tensor *out);
segc_status segc_pad2d_new(segc_arena *arena, const segc_tensor *x, int left, int right, int top, int bottom,
                           float value, segc_tensor *out);

/* out = x repeated `times` times along dim (torch x.repeat with 1 everywhere else: tiles, not
   repeat_interleave): out.shape[dim] = times * x.shape[dim]. */
segc_status segc_repeat(const segc_tensor *x, int dim, int64_t times, segc_tensor *out);
/* View: a size-1 dim stretched to `size` with stride 0 (x.expand). Copy it with segc_tensor_copy or
   pass it to an op that takes strided inputs. */
segc_status segc_expand(const segc_tensor *x, int dim, int64_t size, segc_tensor *out);

#endif
