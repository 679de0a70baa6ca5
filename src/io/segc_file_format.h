/* segc_file_format.h - the byte layout of a .segc file (version 2), shared by the reader and the writer.
   Internal: code outside src/io uses segc_file.h. docs/segc-format.md is the prose version.

     offset  size  field
     0       4     magic "SEGC"
     4       4     u32 version (2)
     8       4     u32 flags (0; readers reject other values)
     12      4     u32 header_size (128)
     16      8     u64 file_size
     24      8     u64 kv_count        32 8  u64 kv_offset (= 128)       40 8  u64 kv_size
     48      8     u64 tensor_count    56 8  u64 tensor_offset (= kv_offset + kv_size)   64 8  u64 tensor_size
     72      8     u64 data_offset (= tensor_offset + tensor_size rounded up to 64)
     80      8     u64 data_size (= file_size - 8 - data_offset)
     88      8     u64 index_checksum: XXH64 (seed 0) of bytes [kv_offset, data_offset)
     96      8     u64 header_checksum: XXH64 (seed 0) of bytes [0, 96)
     104     24    zero
   followed by the metadata, the tensor table, zero padding, the data, and the u64 XXH64 of the data
   section [data_offset, file_size - 8). All integers little-endian. The three checksums are
   independent, so a writer can stream the data first and write the header and index last. */
#ifndef SEGC_IO_SEGC_FILE_FORMAT_H
#define SEGC_IO_SEGC_FILE_FORMAT_H

#include <stdint.h>
#include <string.h>

#define SEGC_FILE_HEADER_SIZE 128
#define SEGC_FILE_HEADER_SUMMED 96         /* header bytes [0, 96) covered by header_checksum */
#define SEGC_FILE_MAX_KEY 256              /* bytes in a metadata key */
#define SEGC_FILE_MAX_NAME 1024            /* bytes in a tensor name */
#define SEGC_FILE_MAX_KV 65536             /* metadata entries */
#define SEGC_FILE_MAX_TENSORS (1 << 20)    /* tensor entries */
#define SEGC_FILE_MAX_DIM ((uint64_t)1 << 40)

typedef struct segc_file_header {
    char magic[4];
    uint32_t version, flags, header_size;
    uint64_t file_size;
    uint64_t kv_count, kv_offset, kv_size;
    uint64_t tensor_count, tensor_offset, tensor_size;
    uint64_t data_offset, data_size;
    uint64_t index_checksum;
    uint64_t header_checksum;
    int reserved_zero;   /* decode only: 1 if bytes 104..127 are all zero */
} segc_file_header;

static inline uint64_t segc_file_align(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

static inline void segc_file_header_decode(const uint8_t *p, segc_file_header *h) {
    memcpy(h->magic, p, 4);
    memcpy(&h->version, p + 4, 4);
    memcpy(&h->flags, p + 8, 4);
    memcpy(&h->header_size, p + 12, 4);
    uint64_t *fields[] = {&h->file_size,    &h->kv_count,       &h->kv_offset,      &h->kv_size,
                          &h->tensor_count, &h->tensor_offset,  &h->tensor_size,    &h->data_offset,
                          &h->data_size,    &h->index_checksum, &h->header_checksum};
    for (int i = 0; i < 11; i++) memcpy(fields[i], p + 16 + 8 * i, 8);
    h->reserved_zero = 1;
    for (int i = SEGC_FILE_HEADER_SUMMED + 8; i < SEGC_FILE_HEADER_SIZE; i++)
        if (p[i]) h->reserved_zero = 0;
}

static inline void segc_file_header_encode(const segc_file_header *h, uint8_t *p) {
    memset(p, 0, SEGC_FILE_HEADER_SIZE);
    memcpy(p, h->magic, 4);
    memcpy(p + 4, &h->version, 4);
    memcpy(p + 8, &h->flags, 4);
    memcpy(p + 12, &h->header_size, 4);
    const uint64_t fields[] = {h->file_size,    h->kv_count,       h->kv_offset,      h->kv_size,
                               h->tensor_count, h->tensor_offset,  h->tensor_size,    h->data_offset,
                               h->data_size,    h->index_checksum, h->header_checksum};
    for (int i = 0; i < 11; i++) memcpy(p + 16 + 8 * i, &fields[i], 8);
}

#endif
