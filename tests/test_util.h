/* test_util.h - helpers shared by the Check suites: seeded random data, tolerant comparisons that
   report where they failed, and the location of ../shared (SEGC_SHARED) and tests/data. */
#ifndef SEGC_TEST_UTIL_H
#define SEGC_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"
#include "io/npy.h"

/* Deterministic xorshift generator so a failing case can be re-run. */
typedef struct test_rng { uint64_t s; } test_rng;
test_rng test_rng_new(uint64_t seed);
float test_rng_uniform(test_rng *r, float lo, float hi);
int test_rng_int(test_rng *r, int lo, int hi);   /* inclusive range */
void test_fill_uniform(test_rng *r, float *x, size_t n, float lo, float hi);

/* A new float32 tensor of this shape from the arena, filled uniformly in [lo, hi). */
segc_tensor test_rand_tensor(segc_arena *a, test_rng *r, int ndim, const int64_t *shape, float lo, float hi);
/* A new float32 tensor shaped like x, filled with NaN (so an op that skips an element is caught). */
segc_tensor test_new_like_nan(segc_arena *a, const segc_tensor *x);
/* Reads the committed fixture tests/data/<area>/<name>.npy; fails the test if it cannot. */
void test_read_fixture(const char *area, const char *name, segc_npy *out);

/* Max |a-b| over n elements; writes the index of the worst element to *where (if not NULL). */
double test_max_abs_diff(const float *a, const float *b, size_t n, size_t *where);
double test_max_abs(const float *a, size_t n);

/* Fails the current Check test (with the worst index, both values and `what`) unless
   |a-b| <= atol + rtol*|b| for every element. */
void test_assert_close(const float *got, const float *want, size_t n, double atol, double rtol, const char *what);

/* ../shared (or $SEGC_SHARED) if it exists, else NULL; tests that need it skip with a message. */
const char *test_shared_dir(void);
/* Directory of committed fixtures (tests/data), from the build's SEGC_TEST_DATA define. */
const char *test_data_dir(void);
/* Directory for scratch files of this test run (a fresh mkdtemp under the build dir or /tmp). */
const char *test_tmp_dir(void);

/* Runs a suite with Check's normal output and returns the process exit code (0 if all passed). */
struct Suite;
int test_run_suite(struct Suite *s);

/* Prints "SKIP: <reason>" once; Check has no skip status, so a skipped test passes and says so. */
void test_skip(const char *reason);

#endif
