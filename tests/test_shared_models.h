/* test_shared_models.h - converting ../shared/weights checkpoints for the suites that run whole models
   (linked into the converter suites only: it needs convert_lib). */
#ifndef SEGC_TEST_SHARED_MODELS_H
#define SEGC_TEST_SHARED_MODELS_H

#include <stddef.h>

/* Converts <shared>/weights/<weights> into <dir>/<name> and writes that path into out; leaves out empty
   if ../shared or the checkpoint is absent, or the conversion fails (the reason goes to stderr). */
void test_convert_shared(const char *weights, const char *dir, const char *name, char *out, size_t size);

#endif
