/* arena.c - the bump allocator behind every forward pass (see arena.h). */
#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>

#include "core/status.h"

#define DEFAULT_FIRST_CHUNK ((size_t)16 << 20)

static size_t align_up(size_t x) { return (x + (SEGC_ARENA_ALIGN - 1)) & ~(size_t)(SEGC_ARENA_ALIGN - 1); }

void segc_arena_init(segc_arena *a, size_t initial_bytes) {
    *a = (segc_arena){0};
    a->chunks[0].capacity = initial_bytes ? align_up(initial_bytes) : DEFAULT_FIRST_CHUNK;
}

void segc_arena_free(segc_arena *a) {
    for (int i = 0; i < a->nchunks; i++) free(a->chunks[i].base);
    *a = (segc_arena){0};
}

/* Allocates the storage of chunk i (its capacity is already set). */
static int chunk_allocate(segc_arena *a, int i) {
    void *p = NULL;
    if (posix_memalign(&p, SEGC_ARENA_ALIGN, a->chunks[i].capacity) != 0) return 0;
    a->chunks[i].base = p;
    a->chunks[i].used = 0;
    a->system_allocs++;
    return 1;
}

void *segc_arena_alloc(segc_arena *a, size_t bytes) {
    if (bytes > SIZE_MAX / 2) {
        segc_fail(SEGC_ERR_NOMEM, "arena: request of %zu bytes is too large", bytes);
        return NULL;
    }
    size_t need = align_up(bytes ? bytes : 1);
    for (;;) {
        segc_arena_chunk *c = &a->chunks[a->current];
        if (a->current >= a->nchunks) {
            /* this chunk has a capacity but no storage yet (lazy first chunk or a fresh one) */
            if (c->capacity < need) c->capacity = need;
            if (!chunk_allocate(a, a->current)) {
                c->capacity = 0;
                segc_fail(SEGC_ERR_NOMEM, "arena: cannot allocate %zu bytes", need);
                return NULL;
            }
            a->nchunks = a->current + 1;
        }
        if (c->capacity - c->used >= need) {
            void *p = c->base + c->used;
            c->used += need;
            a->in_use += need;
            if (a->in_use > a->peak) a->peak = a->in_use;
            return p;
        }
        /* move on to the next chunk; make a new one if none is left */
        if (a->current + 1 >= SEGC_ARENA_MAX_CHUNKS) {
            segc_fail(SEGC_ERR_NOMEM, "arena: too many chunks (request of %zu bytes)", bytes);
            return NULL;
        }
        a->current++;
        segc_arena_chunk *next = &a->chunks[a->current];
        next->used = 0;
        if (a->current >= a->nchunks) {
            size_t grow = c->capacity * 2;
            next->capacity = grow > need ? grow : need;
        }
    }
}

void *segc_arena_alloc_array(segc_arena *a, size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) {
        segc_fail(SEGC_ERR_NOMEM, "arena: %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    return segc_arena_alloc(a, count * size);
}

segc_arena_mark segc_arena_get_mark(const segc_arena *a) {
    segc_arena_mark m = {a->current, a->chunks[a->current].used, a->in_use};
    return m;
}

void segc_arena_release(segc_arena *a, segc_arena_mark mark) {
    for (int i = mark.chunk + 1; i <= a->current && i < a->nchunks; i++) a->chunks[i].used = 0;
    a->current = mark.chunk;
    a->chunks[mark.chunk].used = mark.used;
    a->in_use = mark.in_use;
}

segc_status segc_arena_reset(segc_arena *a) {
    if (a->nchunks > 1) {
        size_t total = 0;
        for (int i = 0; i < a->nchunks; i++) {
            total += a->chunks[i].capacity;
            free(a->chunks[i].base);
            a->chunks[i] = (segc_arena_chunk){0};
        }
        a->nchunks = 0;
        a->chunks[0].capacity = total;
        if (chunk_allocate(a, 0)) a->nchunks = 1;  /* else allocated lazily by the next request */
    }
    a->current = 0;
    a->chunks[0].used = 0;
    a->in_use = 0;
    return SEGC_OK;
}
