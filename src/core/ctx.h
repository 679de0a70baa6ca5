/* ctx.h - what a forward pass carries: the arena its activations come from, and the taps.
   A tap is a named intermediate ("backbone.low_level", "image_encoder.trunk.blocks.3") that a forward
   function offers with segc_tap(); if the name matches one of the requested glob patterns the
   callback sees it (segc dump writes it as .npy). With a profile attached, each tap also closes a
   timed stage: the time since the previous tap is charged to this name (segc profile). */
#ifndef SEGC_CORE_CTX_H
#define SEGC_CORE_CTX_H

#include "core/arena.h"
#include "core/tensor.h"

typedef segc_status (*segc_tap_fn)(void *user, const char *name, const segc_tensor *t);

#define SEGC_PROFILE_MAX 1024
#define SEGC_TAP_NAME_MAX 128

typedef struct segc_profile_entry {
    char name[SEGC_TAP_NAME_MAX];
    double total_ms;
    long calls;
} segc_profile_entry;

typedef struct segc_profile {
    segc_profile_entry entries[SEGC_PROFILE_MAX];
    int count;
    double last_ms;  /* time of the previous tap (or of segc_profile_start) */
} segc_profile;

typedef struct segc_ctx {
    segc_arena *arena;
    segc_tap_fn tap;                   /* NULL: no taps wanted */
    void *tap_user;
    const char *const *tap_patterns;   /* fnmatch globs; NULL or count 0 with a tap set: every name */
    int tap_pattern_count;
    segc_profile *profile;             /* NULL: no profiling */
} segc_ctx;

/* A context with only an arena. */
segc_ctx segc_ctx_plain(segc_arena *arena);

/* True if a tap of this name would reach the callback (lets a model skip building a tap tensor). */
int segc_tap_wanted(const segc_ctx *ctx, const char *name);
/* Offers a named intermediate; returns the callback's status (a failing writer stops the pass). */
segc_status segc_tap(segc_ctx *ctx, const char *name, const segc_tensor *t);
/* Same with a printf-style name: segc_tapf(ctx, &t, "stage%d_branch%d", s, b). */
segc_status segc_tapf(segc_ctx *ctx, const segc_tensor *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Starts (or restarts) the profile clock. */
void segc_profile_start(segc_profile *p);

#endif
