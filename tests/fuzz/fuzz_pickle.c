/* fuzz_pickle.c - libFuzzer harness for the data-only pickle VM (tools/convert/pickle.c): the input
   is one pickle. Whatever loads is flattened into a tensor table exactly as the torch readers do,
   with every storage served from one 4 KiB buffer, so shapes, strides and offsets are validated
   and the accepted tensors are converted to float. Seed corpus: the data.pkl entries of
   tests/data/ckpt/ *.pt and legacy_mixed.pt. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "checkpoint.h"
#include "ckpt_internal.h"
#include "pickle.h"

#define FUZZ_STORAGE_BYTES 4096
#define FUZZ_MAX_NUMEL (1 << 16)

static uint8_t storage_bytes[FUZZ_STORAGE_BYTES];

/* ckpt_storage_fn: every storage is the same small buffer (bounded by its declared size). */
static segc_status any_storage(void *user, const segc_pk_storage *s, const uint8_t **data, uint64_t *nbytes) {
    (void)user;
    uint64_t want = (uint64_t)s->numel * (uint64_t)ckpt_dtype_size(s->dtype);
    *data = storage_bytes;
    *nbytes = want < FUZZ_STORAGE_BYTES ? want : FUZZ_STORAGE_BYTES;
    return SEGC_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    segc_pickle *p;
    if (segc_pickle_load(data, size, &p, NULL) != SEGC_OK) return 0;
    for (size_t i = 0; i < segc_pickle_storage_count(p); i++) (void)segc_pickle_storage(p, i)->key[0];
    ckpt *c = calloc(1, sizeof *c);
    if (c && ckpt_add_pickle_tensors(c, segc_pickle_root(p), any_storage, NULL) == SEGC_OK) {
        for (int i = 0; i < ckpt_count(c); i++) {
            const ckpt_tensor *t = ckpt_at(c, i);
            if (ckpt_numel(t) > FUZZ_MAX_NUMEL) continue;
            float *x = malloc(sizeof(float) * (size_t)(ckpt_numel(t) + 1));
            if (x) ckpt_tensor_to_f32(t, x);
            free(x);
        }
    }
    ckpt_close(c);
    segc_pickle_free(p);
    return 0;
}
