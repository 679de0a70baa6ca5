/* fuzz_segc_file.c - libFuzzer harness for the .segc reader (format version 2): the input is a whole
   file. Its index, data and header checksums are recomputed first (when the header's section bounds fit
   the input), so the mutations reach the metadata and tensor-table validation instead of stopping at
   the checksums; one input in 16 keeps its checksums as they are, so their checks are fuzzed too. The
   file lives in a memfd opened through /proc/self/fd (no disk I/O). Whatever opens is read completely.
   Build and run: see tests/fuzz/meson.build. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/segc_file.h"
#include "io/segc_file_format.h"

static int mem_fd = -1;
static char mem_path[64];

/* Same arithmetic as segc_file_write.c: index checksum over [kv_offset, data_offset), data checksum over
   [data_offset, n - 8) in the trailer, then the header checksum over [0, 96). */
static void fix_checksums(uint8_t *b, size_t n) {
    if (n < SEGC_FILE_HEADER_SIZE + 8) return;
    uint64_t kv, data, sum;
    memcpy(&kv, b + 32, 8);
    memcpy(&data, b + 72, 8);
    if (kv <= data && data <= n) {
        sum = segc_xxh64(b + kv, (size_t)(data - kv), 0);
        memcpy(b + 88, &sum, 8);
    }
    if (data <= n - 8) {
        sum = segc_xxh64(b + data, (size_t)(n - 8 - data), 0);
        memcpy(b + n - 8, &sum, 8);
    }
    sum = segc_xxh64(b, SEGC_FILE_HEADER_SUMMED, 0);
    memcpy(b + 96, &sum, 8);
}

/* Touches every byte the reader hands out. */
static uint64_t walk(const segc_file *f) {
    uint64_t acc = 0;
    for (int i = 0; i < segc_file_kv_count(f); i++) {
        const segc_kv *kv = segc_file_kv_at(f, i);
        acc += strlen(kv->key);
        if (kv->type == SEGC_KV_STRING) acc += strlen(kv->str);
        if (kv->type == SEGC_KV_STRING_ARRAY)
            for (int64_t j = 0; j < kv->count; j++) acc += strlen(kv->strs[j]);
        if (kv->type == SEGC_KV_FLOAT_ARRAY || kv->type == SEGC_KV_INT_ARRAY) {
            float *tmp = malloc((size_t)kv->count * sizeof(float) + 1);
            if (tmp && segc_file_get_floats(f, kv->key, tmp, kv->count) == SEGC_OK && kv->count) acc += (uint64_t)tmp[0];
            free(tmp);
        }
    }
    for (int i = 0; i < segc_file_tensor_count(f); i++) {
        const segc_file_tensor *t = segc_file_tensor_at(f, i);
        if (segc_file_find(f, t->name) != t) abort();   /* the name index must find every tensor */
        segc_tensor v;
        if (segc_file_tensor_view(f, t->name, &v) != SEGC_OK) abort();
        const uint8_t *d = t->data;
        for (uint64_t k = 0; k < t->nbytes; k++) acc += d[k];
    }
    return acc + (segc_file_verify(f) == SEGC_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (mem_fd < 0) {
        mem_fd = memfd_create("fuzz-segc", MFD_CLOEXEC);
        if (mem_fd < 0) abort();
        snprintf(mem_path, sizeof mem_path, "/proc/self/fd/%d", mem_fd);
    }
    uint8_t *b = malloc(size + 1);
    if (!b) return 0;
    if (size) memcpy(b, data, size);
    if (size < 8 || data[size / 2] % 16) fix_checksums(b, size);
    if (ftruncate(mem_fd, 0) != 0 || (size && pwrite(mem_fd, b, size, 0) != (ssize_t)size)) abort();
    free(b);
    segc_file *f = NULL;
    if (segc_file_open(mem_path, &f) == SEGC_OK) {
        volatile uint64_t sink = walk(f);
        (void)sink;
        segc_file_close(f);
    } else if (f != NULL || segc_last_error()[0] == 0) {
        abort();   /* a failure must leave no file and say why */
    }
    return 0;
}
