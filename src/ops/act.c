/* act.c - elementwise activations (see act.h). One loop per activation with the switch hoisted out
   of it, over blocks of ACT_BLOCK elements: the exp-based activations (sigmoid, SiLU, both GELUs) call
   the vectorized segc_exp_array (ops/softmax.h) on a stack buffer, so no loop calls libm per element.
   GELU's erf is Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7, the formula PyTorch's own vectorized
   CPU erf uses), evaluated as erfc(|z|) so the negative side keeps its small values. OpenMP over
   chunks for large arrays. The reference evaluates libm's formulas in double, element by element. */
#include "ops/act.h"

#include <math.h>

#include "core/status.h"
#include "ops/softmax.h"

#if defined(__GNUC__) && !defined(__clang__)
/* Lets GCC if-convert the float compares of the clamps and selects below, so the loops vectorize.
   segc never reads floating-point exception flags, so no result changes. */
#pragma GCC optimize("no-trapping-math")
#endif

/* Below this many elements a parallel region costs more than it saves. */
#define ACT_PARALLEL_MIN 32768
/* Elements per OpenMP work item: large enough to amortize scheduling, small enough to balance. */
#define ACT_CHUNK 16384
/* Elements per block of the exp-based activations (two float buffers of this size on the stack). */
#define ACT_BLOCK 256

/* sqrt(2 / pi) and the cubic coefficient of PyTorch's tanh GELU (aten/src/ATen/native/cpu/Activation.cpp). */
#define GELU_TANH_K0 0.7978845608028654
#define GELU_TANH_K1 0.044715
/* Abramowitz & Stegun 7.1.26: erfc(z) ~ t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) e^(-z^2), t = 1/(1 + p z), z >= 0. */
#define ERF_P 0.3275911f
#define ERF_A1 0.254829592f
#define ERF_A2 (-0.284496736f)
#define ERF_A3 1.421413741f
#define ERF_A4 (-1.453152027f)
#define ERF_A5 1.061405429f

const char *segc_act_name(segc_act act) {
    switch (act) {
    case SEGC_ACT_NONE: return "none";
    case SEGC_ACT_RELU: return "relu";
    case SEGC_ACT_RELU6: return "relu6";
    case SEGC_ACT_GELU: return "gelu";
    case SEGC_ACT_GELU_TANH: return "gelu_tanh";
    case SEGC_ACT_SILU: return "silu";
    case SEGC_ACT_SIGMOID: return "sigmoid";
    case SEGC_ACT_HARDSWISH: return "hardswish";
    }
    return "?";
}

/* x[0..n) = act(x) for n <= ACT_BLOCK; no branches inside the loops. */
static void act_block(segc_act act, float *x, size_t n) {
    float t[ACT_BLOCK], r[ACT_BLOCK];
    switch (act) {
    case SEGC_ACT_NONE:
        break;
    case SEGC_ACT_RELU:
        for (size_t i = 0; i < n; i++) x[i] = x[i] < 0.0f ? 0.0f : x[i];   /* NaN stays NaN */
        break;
    case SEGC_ACT_RELU6:
        for (size_t i = 0; i < n; i++) {
            float v = x[i] < 0.0f ? 0.0f : x[i];
            x[i] = v > 6.0f ? 6.0f : v;
        }
        break;
    case SEGC_ACT_GELU:
        /* 0.5 x (1 + erf(z)), z = x / sqrt 2, with erf(z) = sign(z) (1 - erfc(|z|)) */
        for (size_t i = 0; i < n; i++) {
            float az = fabsf(x[i]) * (float)M_SQRT1_2;
            float k = 1.0f / (1.0f + ERF_P * az);
            r[i] = k * (ERF_A1 + k * (ERF_A2 + k * (ERF_A3 + k * (ERF_A4 + k * ERF_A5))));
            t[i] = -az * az;
        }
        segc_exp_array(t, t, n);
        for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + copysignf(1.0f - r[i] * t[i], x[i]));
        break;
    case SEGC_ACT_GELU_TANH:
        /* 0.5 x (1 + tanh(u)) = x sigmoid(2 u) = x / (1 + e^(-2u)) */
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            t[i] = -2.0f * (float)GELU_TANH_K0 * (v + (float)GELU_TANH_K1 * v * v * v);
        }
        segc_exp_array(t, t, n);
        for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + t[i]);
        break;
    case SEGC_ACT_SILU:
    case SEGC_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) t[i] = -x[i];
        segc_exp_array(t, t, n);
        if (act == SEGC_ACT_SILU)
            for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + t[i]);
        else
            for (size_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + t[i]);
        break;
    case SEGC_ACT_HARDSWISH:
        for (size_t i = 0; i < n; i++) {
            float v = x[i] + 3.0f;
            v = v < 0.0f ? 0.0f : v;
            v = v > 6.0f ? 6.0f : v;
            x[i] = x[i] * v / 6.0f;
        }
        break;
    }
}

/* x[0..n) = act(x), block by block. */
static void act_chunk(segc_act act, float *x, size_t n) {
    for (size_t s = 0; s < n; s += ACT_BLOCK) act_block(act, x + s, n - s < ACT_BLOCK ? n - s : ACT_BLOCK);
}

void segc_act_apply(segc_act act, float *x, size_t n) {
    if (act == SEGC_ACT_NONE || n == 0) return;
    if (n < ACT_PARALLEL_MIN) {
        act_chunk(act, x, n);
        return;
    }
    long long chunks = (long long)((n + ACT_CHUNK - 1) / ACT_CHUNK);
    #pragma omp parallel for schedule(static)
    for (long long c = 0; c < chunks; c++) {
        size_t start = (size_t)c * ACT_CHUNK;
        size_t len = n - start < ACT_CHUNK ? n - start : ACT_CHUNK;
        act_chunk(act, x + start, len);
    }
}

segc_status segc_act_tensor(segc_act act, segc_tensor *x) {
    if (x->dtype != SEGC_F32)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "act %s: dtype %s (float32 only)", segc_act_name(act),
                         segc_dtype_name(x->dtype));
    if (!segc_tensor_is_contiguous(x))
        return segc_fail(SEGC_ERR_INVALID_ARG, "act %s: tensor is not contiguous", segc_act_name(act));
    if ((unsigned)act > (unsigned)SEGC_ACT_HARDSWISH)
        return segc_fail(SEGC_ERR_INVALID_ARG, "act: unknown activation %d", (int)act);
    segc_act_apply(act, x->data, (size_t)segc_tensor_numel(x));
    return SEGC_OK;
}

/* One element in double, straight from the PyTorch documentation's formulas. */
static double act_scalar_reference(segc_act act, double v) {
    switch (act) {
    case SEGC_ACT_NONE: return v;
    case SEGC_ACT_RELU: return v < 0.0 ? 0.0 : v;
    case SEGC_ACT_RELU6: return v < 0.0 ? 0.0 : (v > 6.0 ? 6.0 : v);
    case SEGC_ACT_GELU: return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    case SEGC_ACT_GELU_TANH: return 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + GELU_TANH_K1 * v * v * v)));
    case SEGC_ACT_SILU: return v / (1.0 + exp(-v));
    case SEGC_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
    case SEGC_ACT_HARDSWISH: {
        double r = v + 3.0;
        r = r < 0.0 ? 0.0 : (r > 6.0 ? 6.0 : r);
        return v * r / 6.0;
    }
    }
    return v;
}

void segc_act_apply_reference(segc_act act, float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (float)act_scalar_reference(act, x[i]);
}
