/* forward.c - a task-agnostic forward pass (see forward.h). */
#include "forward.h"

#include <sys/resource.h>

#include "core/status.h"
#include "models/sam2.h"

segc_status cli_forward(const segc_arch_entry *entry, const void *model, segc_ctx *ctx, const segc_image *img) {
    switch (entry->task) {
    case SEGC_MODEL_SEMANTIC: {
        segc_tensor logits;
        return entry->semantic(model, ctx, img, &logits);
    }
    case SEGC_MODEL_INSTANCE: {
        segc_detections d;
        return entry->instance(model, ctx, img, &d);
    }
    case SEGC_MODEL_PROMPTABLE: {   /* the image encoder, then one decode of a centre click */
        segc_sam2_embedding emb;
        segc_status st = segc_sam2_encode(model, ctx, img, &emb);
        if (st) return st;
        segc_sam2_point centre = {0.5f * (float)img->width, 0.5f * (float)img->height, 1};
        segc_sam2_prompts prompts = {.num_points = 1, .points = &centre};
        segc_sam2_outputs out;
        return segc_sam2_predict(model, ctx, &emb, &prompts, 1, 0, &out);
    }
    default:
        return segc_fail(SEGC_ERR_UNSUPPORTED, "%s: this command does not support the model's task yet", entry->arch);
    }
}

double cli_peak_rss_mib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)ru.ru_maxrss / 1024.0;
}
