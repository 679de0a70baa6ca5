/* registry.c - the table of architectures this build runs (see registry.h). */
#include "models/registry.h"

#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "models/deeplab.h"
#include "models/hrnet.h"
#include "models/maskrcnn.h"
#include "models/sam2.h"

/* Mask R-CNN with torchvision's default settings. */
static segc_status maskrcnn_instance(const void *model, segc_ctx *ctx, const segc_image *img, segc_detections *out) {
    return segc_maskrcnn_detect(model, ctx, img, NULL, out);
}

static const segc_arch_entry entries[] = {
    {.arch = "deeplabv3plus", .task = SEGC_MODEL_SEMANTIC, .load = segc_deeplab_load, .free = segc_deeplab_free,
     .semantic = segc_deeplab_semantic},
    {.arch = "hrnet", .task = SEGC_MODEL_SEMANTIC, .load = segc_hrnet_load, .free = segc_hrnet_free,
     .semantic = segc_hrnet_semantic},
    {.arch = "maskrcnn", .task = SEGC_MODEL_INSTANCE, .load = segc_maskrcnn_load, .free = segc_maskrcnn_free,
     .instance = maskrcnn_instance},
    {.arch = "sam2", .task = SEGC_MODEL_PROMPTABLE, .load = segc_sam2_load, .free = segc_sam2_free},
    {.arch = NULL},
};
#define NENTRIES ((int)(sizeof entries / sizeof entries[0]) - 1)

const segc_arch_entry *segc_arch_find(const char *arch) {
    char names[256] = "";
    size_t pos = 0;
    for (int i = 0; i < NENTRIES; i++) {
        if (!strcmp(entries[i].arch, arch)) return &entries[i];
        pos += (size_t)snprintf(names + pos, sizeof names - pos, "%s%s", i ? ", " : "", entries[i].arch);
        if (pos >= sizeof names) pos = sizeof names - 1;
    }
    segc_fail(SEGC_ERR_UNSUPPORTED, "architecture '%s' is not supported by this build (supported: %s)", arch,
              NENTRIES ? names : "none yet");
    return NULL;
}

segc_status segc_arch_open(const char *path, segc_file **file, const segc_arch_entry **entry, void **model) {
    *file = NULL;
    *model = NULL;
    segc_status st = segc_file_open(path, file);
    if (st) return st;
    const char *arch = NULL;
    st = segc_file_get_str(*file, "arch", &arch);
    if (st) {
        segc_file_close(*file);
        *file = NULL;
        return segc_fail(SEGC_ERR_FORMAT, "%s: no 'arch' metadata (was it written by segc-convert?)", path);
    }
    *entry = segc_arch_find(arch);
    if (!*entry) {
        segc_file_close(*file);
        *file = NULL;
        return SEGC_ERR_UNSUPPORTED;
    }
    st = (*entry)->load(*file, model);
    if (st) {
        segc_fail_context(st, "%s", path);
        segc_file_close(*file);
        *file = NULL;
    }
    return st;
}
