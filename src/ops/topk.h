/* topk.h - the k largest values of a float vector (torch.topk(x, k), largest=True, sorted=True), with
   their indices. Ties go to the lower index first; NaN counts as larger than every number (as torch).
   A size-k min-heap kept in the output arrays: O(n log k) time, no scratch memory, so RPN's
   pre-NMS top-1000 of ~200k anchors costs a pass over the scores, not a sort of them. */
#ifndef SEGC_OPS_TOPK_H
#define SEGC_OPS_TOPK_H

#include <stdint.h>

#include "core/tensor.h"

/* values[0..k) and indices[0..k) (int64) receive the top k of x[0..n), sorted descending.
   0 <= k <= n, else SEGC_ERR_INVALID_ARG. values may be NULL if only the indices are wanted. */
segc_status segc_topk(const float *x, int64_t n, int64_t k, float *values, int64_t *indices);
/* Same on a contiguous float32 tensor of any shape, taken as a flat vector. */
segc_status segc_topk_tensor(const segc_tensor *x, int64_t k, float *values, int64_t *indices);
/* Full stable sort of (value, index) pairs, the test oracle; needs n entries of scratch from malloc. */
segc_status segc_topk_reference(const float *x, int64_t n, int64_t k, float *values, int64_t *indices);

#endif
