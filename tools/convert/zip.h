/* zip.h - a read-only zip archive over bytes in memory (the mapping of a torch.save >= 1.6 file).
   Reads the central directory (with zip64 records and extra fields), checks every offset and size
   against the buffer and each local header against its central entry. Stored entries are served in
   place; deflated ones are inflated with zlib into memory the archive owns. No writing, no
   encryption, no multi-disk archives.

       segc_zip *z;
       if (segc_zip_open(bytes, size, &z) != SEGC_OK) return segc_fail_context(...);
       int i = segc_zip_find(z, "archive/data.pkl");
       const uint8_t *p; uint64_t n;
       segc_zip_read(z, i, &p, &n);        p stays valid until segc_zip_close(z)
*/
#ifndef SEGC_CONVERT_ZIP_H
#define SEGC_CONVERT_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "segc.h"

typedef struct segc_zip segc_zip;

/* Parses the directory of the archive in data[0, size). The bytes must outlive the archive. */
segc_status segc_zip_open(const uint8_t *data, size_t size, segc_zip **out);
void segc_zip_close(segc_zip *z);

int segc_zip_count(const segc_zip *z);
const char *segc_zip_name(const segc_zip *z, int i);
uint64_t segc_zip_size(const segc_zip *z, int i);     /* uncompressed bytes */
/* Index of the entry called `name`, or -1. */
int segc_zip_find(const segc_zip *z, const char *name);

/* The uncompressed contents of entry i: in place for stored entries, else inflated once and kept.
   The CRC-32 is checked on first access. */
segc_status segc_zip_read(segc_zip *z, int i, const uint8_t **data, uint64_t *size);

#endif
