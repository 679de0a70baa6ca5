/* registry.h - architecture name -> model functions, so tools handle every model the same way.
   Each architecture registers load/free and the forward of its task; tools look the entry up by the
   "arch" metadata of the .segc file. */
#ifndef SEGC_MODELS_REGISTRY_H
#define SEGC_MODELS_REGISTRY_H

#include "core/ctx.h"
#include "io/image.h"
#include "io/segc_file.h"
#include "models/detections.h"


typedef struct segc_arch_entry {
    const char *arch;                       /* value of the "arch" metadata key */
    segc_model_task task;
    segc_status (*load)(const segc_file *f, void **model);
    void (*free)(void *model);
    /* SEGC_MODEL_SEMANTIC: logits [1, K, H, W] at the image's size, allocated from ctx->arena. */
    segc_status (*semantic)(const void *model, segc_ctx *ctx, const segc_image *img, segc_tensor *logits);
    /* SEGC_MODEL_INSTANCE: detections with pasted masks at the image's size, arrays from ctx->arena. */
    segc_status (*instance)(const void *model, segc_ctx *ctx, const segc_image *img, segc_detections *out);
} segc_arch_entry;

/* The entry for an arch name, or NULL (with segc_last_error() naming the supported ones). */
const segc_arch_entry *segc_arch_find(const char *arch);

/* Opens a .segc file and loads its model: the common first step of every tool. */
segc_status segc_arch_open(const char *path, segc_file **file, const segc_arch_entry **entry, void **model);

#endif
