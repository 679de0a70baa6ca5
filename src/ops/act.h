/* act.h - elementwise activations, in place on contiguous float32 tensors (or raw arrays).
   GELU comes in PyTorch's two forms: exact (0.5 x (1 + erf(x / sqrt 2))) and tanh approximation. */
#ifndef SEGC_OPS_ACT_H
#define SEGC_OPS_ACT_H

#include <stddef.h>

#include "core/tensor.h"

typedef enum segc_act {
    SEGC_ACT_NONE = 0,
    SEGC_ACT_RELU,
    SEGC_ACT_RELU6,
    SEGC_ACT_GELU,        /* exact, erf form (torch.nn.GELU() default) */
    SEGC_ACT_GELU_TANH,   /* approximate='tanh' */
    SEGC_ACT_SILU,
    SEGC_ACT_SIGMOID,
    SEGC_ACT_HARDSWISH
} segc_act;

const char *segc_act_name(segc_act act);

/* x[i] = act(x[i]) for n elements; parallel over chunks. */
void segc_act_apply(segc_act act, float *x, size_t n);
/* Same on a contiguous float32 tensor. */
segc_status segc_act_tensor(segc_act act, segc_tensor *x);
/* The obvious scalar loop, used as the test oracle. */
void segc_act_apply_reference(segc_act act, float *x, size_t n);

#endif
