/* ctx.c - taps and the stage profiler (see ctx.h). */
#include "core/ctx.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/timer.h"

segc_ctx segc_ctx_plain(segc_arena *arena) {
    segc_ctx c = {0};
    c.arena = arena;
    return c;
}

int segc_tap_wanted(const segc_ctx *ctx, const char *name) {
    if (!ctx->tap) return 0;
    if (!ctx->tap_patterns || ctx->tap_pattern_count == 0) return 1;
    for (int i = 0; i < ctx->tap_pattern_count; i++)
        if (fnmatch(ctx->tap_patterns[i], name, 0) == 0) return 1;
    return 0;
}

static void profile_charge(segc_profile *p, const char *name) {
    double now = segc_time_ms();
    double dt = now - p->last_ms;
    p->last_ms = now;
    for (int i = 0; i < p->count; i++) {
        if (strcmp(p->entries[i].name, name) == 0) {
            p->entries[i].total_ms += dt;
            p->entries[i].calls++;
            return;
        }
    }
    if (p->count < SEGC_PROFILE_MAX) {
        segc_profile_entry *e = &p->entries[p->count++];
        snprintf(e->name, sizeof e->name, "%s", name);
        e->total_ms = dt;
        e->calls = 1;
    }
}

segc_status segc_tap(segc_ctx *ctx, const char *name, const segc_tensor *t) {
    if (ctx->profile) profile_charge(ctx->profile, name);
    if (!segc_tap_wanted(ctx, name)) return SEGC_OK;
    segc_status st = ctx->tap(ctx->tap_user, name, t);
    if (ctx->profile) ctx->profile->last_ms = segc_time_ms();  /* do not charge the writer's time */
    return st;
}

segc_status segc_tapf(segc_ctx *ctx, const segc_tensor *t, const char *fmt, ...) {
    if (!ctx->tap && !ctx->profile) return SEGC_OK;
    char name[SEGC_TAP_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return segc_tap(ctx, name, t);
}

void segc_profile_start(segc_profile *p) { p->last_ms = segc_time_ms(); }
