/* fuzz_zip.c - libFuzzer harness for the zip reader (tools/convert/zip.c): the input is a whole
   archive in memory; every entry that opens is read (stored in place, deflated inflated) and its
   first and last bytes touched. Build with -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION so CRC-32
   checks do not stop the mutations. Seed corpus: tests/data/ckpt/ *.pt. */
#include <stddef.h>
#include <stdint.h>

#include "zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    segc_zip *z;
    if (segc_zip_open(data, size, &z) != SEGC_OK) return 0;
    volatile uint8_t sink = 0;
    for (int i = 0; i < segc_zip_count(z); i++) {
        const uint8_t *p;
        uint64_t n;
        if (segc_zip_find(z, segc_zip_name(z, i)) != i) __builtin_trap();   /* names are unique */
        if (segc_zip_read(z, i, &p, &n) != SEGC_OK || n == 0) continue;
        sink ^= p[0] ^ p[n - 1];
    }
    (void)sink;
    segc_zip_close(z);
    return 0;
}
