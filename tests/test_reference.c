/* test_reference.c - see test_reference.h. */
#include "test_reference.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_util.h"

const char *ref_case_dir(const char *model, const char *case_name, char *buf, size_t size) {
    const char *shared = test_shared_dir();
    if (!shared) return NULL;
    snprintf(buf, size, "%s/reference/%s/%s", shared, model, case_name);
    struct stat sb;
    return stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode) ? buf : NULL;
}

void ref_load(const char *dir, const char *file, segc_npy *out) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    segc_status st = segc_npy_read(path, out);
    ck_assert_msg(st == SEGC_OK, "cannot read %s: %s", path, segc_last_error());
}

double ref_json_number(const char *path, const char *key) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NAN;
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = 0;
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    const char *at = strstr(text, pattern);
    if (!at) return NAN;
    at = strchr(at + strlen(pattern), ':');
    return at ? strtod(at + 1, NULL) : NAN;
}

/* Float value of element i (row-major over `shape`) of a float32 tensor with any strides. */
static double element(const segc_tensor *t, const int64_t *idx) {
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
    return ((const float *)t->data)[off];
}

/* Compares got[idx * step] with want (contiguous float32) element by element. */
static void compare(const char *what, const segc_tensor *got, const int64_t *step, const segc_npy *want,
                    double atol, double rtol_of_max) {
    ck_assert_msg(want->dtype == SEGC_F32, "%s: reference is not float32", what);
    ck_assert_msg(want->ndim == got->ndim, "%s: reference has %d dims, got %d", what, want->ndim, got->ndim);
    int64_t n = 1;
    for (int d = 0; d < got->ndim; d++) {
        int64_t expect = (got->shape[d] + step[d] - 1) / step[d];
        ck_assert_msg(want->shape[d] == expect, "%s: dim %d is %lld in the reference, %lld here (shape %lld / step %lld)",
                      what, d, (long long)want->shape[d], (long long)expect, (long long)got->shape[d], (long long)step[d]);
        n *= want->shape[d];
    }
    const float *w = want->data;
    double maxabs = 0;
    for (int64_t i = 0; i < n; i++) maxabs = fmax(maxabs, fabs(w[i]));
    double tol = atol + rtol_of_max * maxabs, worst = 0;
    int64_t worst_i = -1;
    int64_t idx[SEGC_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, src[SEGC_MAX_DIMS];
        for (int d = got->ndim - 1; d >= 0; d--) {
            idx[d] = rem % want->shape[d];
            rem /= want->shape[d];
            src[d] = idx[d] * step[d];
        }
        double g = element(got, src), diff = fabs(g - w[i]);
        if (!(diff <= worst)) {
            worst = diff;
            worst_i = i;
        }
    }
    if (worst_i >= 0 && !(worst <= tol)) {
        ck_abort_msg("%s: worst element %lld of %lld differs by %.4g (tolerance %.4g; max|ref| %.4g; ref %.6g)", what,
                     (long long)worst_i, (long long)n, worst, tol, maxabs, (double)w[worst_i]);
    }
    printf("  %-40s max|diff| %.3g (tol %.3g, max|ref| %.3g)\n", what, worst, tol, maxabs);
}

void ref_check_full(const char *dir, const char *name, const segc_tensor *got, double atol, double rtol_of_max) {
    char file[512];
    snprintf(file, sizeof file, "%s.npy", name);
    segc_npy want;
    ref_load(dir, file, &want);
    int64_t step[SEGC_MAX_DIMS] = {1, 1, 1, 1, 1, 1};
    compare(name, got, step, &want, atol, rtol_of_max);
    segc_npy_free(&want);
}

/* mean, std (unbiased, as torch.std), min, max, abs_sum of a float32 tensor with any strides. */
static void tensor_stats(const segc_tensor *t, double *mean, double *std, double *mn, double *mx, double *abs_sum) {
    int64_t n = segc_tensor_numel(t), idx[SEGC_MAX_DIMS] = {0};
    double s = 0, s2 = 0, a = 0, lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i;
        for (int d = t->ndim - 1; d >= 0; d--) {
            idx[d] = rem % t->shape[d];
            rem /= t->shape[d];
        }
        double v = element(t, idx);
        s += v;
        s2 += v * v;
        a += fabs(v);
        lo = fmin(lo, v);
        hi = fmax(hi, v);
    }
    *mean = s / (double)n;
    double var = s2 / (double)n - *mean * *mean;
    *std = sqrt(var > 0 ? var * (double)n / (double)(n > 1 ? n - 1 : 1) : 0);
    *mn = lo;
    *mx = hi;
    *abs_sum = a;
}

void ref_check_sampled(const char *dir, const char *name, const segc_tensor *got, const int64_t *step, double atol,
                       double rtol_of_max, double stats_rtol) {
    char file[512], path[4096];
    snprintf(file, sizeof file, "%s.sample.npy", name);
    segc_npy want;
    ref_load(dir, file, &want);
    compare(name, got, step, &want, atol, rtol_of_max);
    segc_npy_free(&want);

    snprintf(path, sizeof path, "%s/%s.stats.json", dir, name);
    double mean, std, mn, mx, abs_sum;
    tensor_stats(got, &mean, &std, &mn, &mx, &abs_sum);
    const char *keys[5] = {"mean", "std", "min", "max", "abs_sum"};
    double have[5] = {mean, std, mn, mx, abs_sum};
    double ref_std = ref_json_number(path, "std");
    for (int k = 0; k < 5; k++) {
        double want_v = ref_json_number(path, keys[k]);
        ck_assert_msg(!isnan(want_v), "%s: no '%s' in %s", name, keys[k], path);
        double tol = stats_rtol * fabs(want_v) + (k == 0 ? stats_rtol * fabs(ref_std) : 0);
        ck_assert_msg(fabs(have[k] - want_v) <= tol, "%s: %s is %.7g, reference %.7g (tolerance %.3g)", name, keys[k],
                      have[k], want_v, tol);
    }
}
