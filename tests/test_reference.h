/* test_reference.h - comparing a forward pass with ../shared/reference/<model>/<case>/: the reference
   files are full arrays (NAME.npy) or a strided sample (NAME.sample.npy, e.g. x[..., ::16, ::4, ::4])
   plus whole-tensor statistics (NAME.stats.json: mean, std, min, max, abs_sum). Failures name the file,
   the element and both values. Used by the model suites (tests/test_model_*.c). */
#ifndef SEGC_TEST_REFERENCE_H
#define SEGC_TEST_REFERENCE_H

#include <stdint.h>

#include "core/tensor.h"
#include "io/npy.h"

/* "<shared>/reference/<model>/<case_name>" if it exists, else NULL (the caller skips). */
const char *ref_case_dir(const char *model, const char *case_name, char *buf, size_t size);

/* Loads <dir>/<file>; fails the test (ck_abort) if it cannot be read. */
void ref_load(const char *dir, const char *file, segc_npy *out);

/* Compares a whole tensor with <dir>/<name>.npy: |got - want| <= atol + rtol * max|want|. */
void ref_check_full(const char *dir, const char *name, const segc_tensor *got, double atol, double rtol_of_max);

/* Compares got (any float32 tensor) with <dir>/<name>.sample.npy taken with the given per-dim steps
   (step[d] >= 1; ndim of got), tolerance atol + rtol_of_max * max|sample|, and with
   <dir>/<name>.stats.json (each statistic within stats_rtol relative, plus a small absolute floor
   of stats_rtol * std for the mean). */
void ref_check_sampled(const char *dir, const char *name, const segc_tensor *got, const int64_t *step, double atol,
                       double rtol_of_max, double stats_rtol);

/* A number from a small flat JSON object ("key": value); NAN if absent. */
double ref_json_number(const char *path, const char *key);

#endif
