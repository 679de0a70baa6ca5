/* test_util.c - see test_util.h. */
#include "test_util.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>

test_rng test_rng_new(uint64_t seed) {
    test_rng r = {seed * 0x9E3779B97F4A7C15ull + 1};
    return r;
}

static uint64_t rng_next(test_rng *r) {
    uint64_t x = r->s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r->s = x;
    return x;
}

float test_rng_uniform(test_rng *r, float lo, float hi) {
    double u = (double)(rng_next(r) >> 11) / 9007199254740992.0;
    return lo + (float)(u * (hi - lo));
}

int test_rng_int(test_rng *r, int lo, int hi) { return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1)); }

void test_fill_uniform(test_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = test_rng_uniform(r, lo, hi);
}

double test_max_abs_diff(const float *a, const float *b, size_t n, size_t *where) {
    double worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > worst || isnan(d)) {
            worst = isnan(d) ? INFINITY : d;
            wi = i;
        }
    }
    if (where) *where = wi;
    return worst;
}

double test_max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i]));
    return m;
}

void test_assert_close(const float *got, const float *want, size_t n, double atol, double rtol, const char *what) {
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        double tol = atol + rtol * fabs(w);
        if (!(fabs(g - w) <= tol)) {
            ck_abort_msg("%s: element %zu of %zu: got %.9g, want %.9g (|diff| %.3g > tol %.3g)", what, i, n, g, w,
                         fabs(g - w), tol);
        }
    }
}

const char *test_shared_dir(void) {
    static char path[4096];
    const char *env = getenv("SEGC_SHARED");
    const char *dir = env && *env ? env : SEGC_DEFAULT_SHARED;
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return NULL;
    snprintf(path, sizeof path, "%s", dir);
    return path;
}

const char *test_data_dir(void) { return SEGC_TEST_DATA; }

segc_tensor test_rand_tensor(segc_arena *a, test_rng *r, int ndim, const int64_t *shape, float lo, float hi) {
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_new(a, SEGC_F32, ndim, shape, &t), SEGC_OK);
    test_fill_uniform(r, t.data, (size_t)segc_tensor_numel(&t), lo, hi);
    return t;
}

segc_tensor test_new_like_nan(segc_arena *a, const segc_tensor *x) {
    segc_tensor t;
    ck_assert_int_eq(segc_tensor_new(a, SEGC_F32, x->ndim, x->shape, &t), SEGC_OK);
    segc_tensor_fill_f32(&t, NAN);
    return t;
}

void test_read_fixture(const char *area, const char *name, segc_npy *out) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s.npy", test_data_dir(), area, name);
    ck_assert_msg(segc_npy_read(path, out) == SEGC_OK, "%s", segc_last_error());
}

const char *test_tmp_dir(void) {
    static char path[256];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/segc-test-XXXXXX");
        if (!mkdtemp(path)) snprintf(path, sizeof path, "/tmp");
    }
    return path;
}

void test_skip(const char *reason) { printf("SKIP: %s\n", reason); }

/* nftw callback: removes one entry of the scratch directory (files before their directory). */
static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Runs every test of the suite. The scratch directory is made here, before Check forks a child per test,
   so all tests of the suite share it, and it is removed with everything in it once the suite is done. */
int test_run_suite(Suite *s) {
    const char *tmp = test_tmp_dir();
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (strcmp(tmp, "/tmp") != 0) nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
