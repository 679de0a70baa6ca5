/* fuzz_ckpt.c - libFuzzer harness for ckpt_open on a whole file (zip, legacy torch or safetensors,
   detected from the first bytes) through ckpt_open_memory. Every accepted tensor (up to a size cap:
   stride-0 tensors may legally be large) is looked up by name, converted to float and copied raw.
   Build with -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION so zip CRC-32 checks do not stop the
   mutations. Seed corpus: tests/data/ckpt/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "checkpoint.h"
#include "ckpt_internal.h"

#define FUZZ_MAX_NUMEL (1 << 18)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ckpt *c;
    if (ckpt_open_memory(data, size, &c) != SEGC_OK) return 0;
    for (int i = 0; i < ckpt_count(c); i++) {
        const ckpt_tensor *t = ckpt_at(c, i);
        if (ckpt_find(c, t->name) != t) __builtin_trap();   /* names are unique and indexed */
        int64_t n = ckpt_numel(t);
        if (n > FUZZ_MAX_NUMEL) continue;
        float *x = malloc(sizeof(float) * (size_t)(n + 1));
        double *raw = malloc(sizeof(double) * (size_t)(n + 1));
        if (x && raw) {
            ckpt_tensor_to_f32(t, x);
            ckpt_tensor_copy_raw(t, raw);
        }
        free(x);
        free(raw);
    }
    ckpt_close(c);
    return 0;
}
