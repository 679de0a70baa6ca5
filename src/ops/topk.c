/* topk.c - top-k by a size-k min-heap held in the caller's index array (see topk.h).
   "Better" is the total order: larger value first, NaN above every number, lower index on ties.
   The heap root is the worst of the current k; each later element replaces it only if better
   (an equal value never is: its index is higher). A final heap sort orders the k best-first. */
#include "ops/topk.h"

#include <math.h>
#include <stdlib.h>

#include "core/status.h"

/* (x[a], a) ranks above (x[b], b). */
static int better(const float *x, int64_t a, int64_t b) {
    float va = x[a], vb = x[b];
    if (isnan(va) || isnan(vb)) {
        if (isnan(va) && isnan(vb)) return a < b;
        return isnan(va);
    }
    return va > vb || (va == vb && a < b);
}

/* Restores the min-heap (worst at the root) below position i of h[0..n). */
static void sift_down(const float *x, int64_t *h, int64_t n, int64_t i) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(x, h[w], h[l])) w = l;
        if (r < n && better(x, h[w], h[r])) w = r;
        if (w == i) return;
        int64_t t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static segc_status check_topk(const float *x, int64_t n, int64_t k, const int64_t *indices) {
    if (n < 0 || k < 0 || k > n)
        return segc_fail(SEGC_ERR_INVALID_ARG, "topk: k = %lld of n = %lld", (long long)k, (long long)n);
    if ((!x && n > 0) || (!indices && k > 0)) return segc_fail(SEGC_ERR_INVALID_ARG, "topk: NULL input or indices");
    return SEGC_OK;
}

segc_status segc_topk(const float *x, int64_t n, int64_t k, float *values, int64_t *indices) {
    segc_status st = check_topk(x, n, k, indices);
    if (st || k == 0) return st;
    int64_t *h = indices;
    for (int64_t i = 0; i < k; i++) h[i] = i;
    for (int64_t i = k / 2 - 1; i >= 0; i--) sift_down(x, h, k, i);
    for (int64_t i = k; i < n; i++) {
        if (better(x, i, h[0])) {
            h[0] = i;
            sift_down(x, h, k, 0);
        }
    }
    /* heap sort: move the worst to the end, repeatedly, so h ends best-first */
    for (int64_t m = k - 1; m > 0; m--) {
        int64_t t = h[0];
        h[0] = h[m];
        h[m] = t;
        sift_down(x, h, m, 0);
    }
    if (values)
        for (int64_t i = 0; i < k; i++) values[i] = x[h[i]];
    return SEGC_OK;
}

segc_status segc_topk_tensor(const segc_tensor *x, int64_t k, float *values, int64_t *indices) {
    if (x->dtype != SEGC_F32 || !segc_tensor_is_contiguous(x))
        return segc_fail(SEGC_ERR_UNSUPPORTED, "topk: input must be contiguous float32, got %s",
                         segc_dtype_name(x->dtype));
    return segc_topk(x->data, segc_tensor_numel(x), k, values, indices);
}

/* Insertion of each element into a fully sorted array of all n indices, then the first k. */
segc_status segc_topk_reference(const float *x, int64_t n, int64_t k, float *values, int64_t *indices) {
    segc_status st = check_topk(x, n, k, indices);
    if (st || k == 0) return st;
    int64_t *all = malloc(sizeof(int64_t) * (size_t)n);
    if (!all) return segc_fail(SEGC_ERR_NOMEM, "topk_reference: %lld indices", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        int64_t j = i;
        while (j > 0 && better(x, i, all[j - 1])) {
            all[j] = all[j - 1];
            j--;
        }
        all[j] = i;
    }
    for (int64_t i = 0; i < k; i++) {
        indices[i] = all[i];
        if (values) values[i] = x[all[i]];
    }
    free(all);
    return SEGC_OK;
}
