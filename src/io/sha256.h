/* sha256.h - SHA-256 (FIPS 180-4), streaming, for recording which checkpoint a .segc file came from.
   Uses the x86 SHA extensions when the CPU has them (checked at run time), else portable C.
   Not a general crypto library: no HMAC, no constant-time promises beyond what SHA-256 itself gives. */
#ifndef SEGC_IO_SHA256_H
#define SEGC_IO_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "segc.h"

typedef struct segc_sha256_ctx {
    uint32_t h[8];        /* chaining state */
    uint64_t nbytes;      /* message length so far */
    uint8_t buf[64];      /* partial block */
    size_t nbuf;
} segc_sha256_ctx;

void segc_sha256_init(segc_sha256_ctx *s);
void segc_sha256_update(segc_sha256_ctx *s, const void *data, size_t n);
/* Pads, writes the 32-byte digest; s must be initialized again before reuse. */
void segc_sha256_final(segc_sha256_ctx *s, uint8_t digest[32]);

/* One-shot digest of a buffer. */
void segc_sha256(const void *data, size_t n, uint8_t digest[32]);
/* Lower-case hex of a digest into hex (65 bytes with the NUL). */
void segc_sha256_hex(const uint8_t digest[32], char hex[65]);
/* Hex digest of a whole file, read in large blocks. SEGC_ERR_IO names the file. */
segc_status segc_sha256_file(const char *path, char hex[65]);

/* 1 if the hardware path is in use (for benchmarks and tests); force_portable != 0 turns it off
   (so tests can compare both paths), and returns the previous setting of the hardware path. */
int segc_sha256_hw_available(void);
int segc_sha256_force_portable(int force_portable);

#endif
