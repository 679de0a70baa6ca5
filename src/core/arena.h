/* arena.h - per-session bump allocator with marks.
   A forward pass takes all its activations and scratch from one arena; marks release temporaries
   (e.g. an im2col buffer) in LIFO order, and segc_arena_reset() frees everything at once. When a pass
   outgrew the first chunk, reset merges the chunks into one of the combined size, so from the second
   inference on the arena does no system allocation at all. All blocks are 64-byte aligned. */
#ifndef SEGC_CORE_ARENA_H
#define SEGC_CORE_ARENA_H

#include <stddef.h>

#include "segc.h"

#define SEGC_ARENA_ALIGN 64
#define SEGC_ARENA_MAX_CHUNKS 48

typedef struct segc_arena_chunk {
    unsigned char *base;
    size_t capacity;
    size_t used;
} segc_arena_chunk;

typedef struct segc_arena {
    segc_arena_chunk chunks[SEGC_ARENA_MAX_CHUNKS];
    int nchunks;          /* chunks allocated so far */
    int current;          /* chunk new allocations come from */
    size_t in_use;        /* bytes handed out (with alignment padding) */
    size_t peak;          /* high-water mark of in_use since creation */
    size_t system_allocs; /* number of malloc calls made, for tests of the no-malloc steady state */
} segc_arena;

typedef struct segc_arena_mark {
    int chunk;
    size_t used;
    size_t in_use;
} segc_arena_mark;

/* Initializes an arena whose first chunk has `initial_bytes` (0 picks 16 MiB, allocated lazily). */
void segc_arena_init(segc_arena *a, size_t initial_bytes);
/* Frees every chunk. The arena can be initialized again afterwards. */
void segc_arena_free(segc_arena *a);

/* Returns `bytes` of 64-byte-aligned memory, or NULL with segc_last_error() set. */
void *segc_arena_alloc(segc_arena *a, size_t bytes);
/* Like segc_arena_alloc for count * size bytes, failing cleanly on overflow. */
void *segc_arena_alloc_array(segc_arena *a, size_t count, size_t size);

segc_arena_mark segc_arena_get_mark(const segc_arena *a);
/* Releases everything allocated since `mark` (which must come from this arena, not yet released). */
void segc_arena_release(segc_arena *a, segc_arena_mark mark);
/* Releases everything; merges chunks so the next pass of the same size needs one chunk only. */
segc_status segc_arena_reset(segc_arena *a);

#endif
