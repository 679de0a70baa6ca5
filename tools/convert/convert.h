/* convert.h - a checkpoint (PyTorch zip / legacy, safetensors) to a .segc file: detect the
   architecture from key names and shapes, strip wrappers, check every tensor the C model needs,
   record the metadata the model reads, write tensors under the checkpoint's own names.
   Used by segc-convert and by the model tests (which convert ../shared/weights into a temp dir). */
#ifndef SEGC_CONVERT_CONVERT_H
#define SEGC_CONVERT_CONVERT_H

#include <stdint.h>

#include "core/tensor.h"
#include "segc.h"

typedef void (*segc_convert_progress_fn)(void *user, uint64_t done_bytes, uint64_t total_bytes);

typedef struct segc_convert_options {
    const char *arch;          /* NULL: detect ("deeplabv3plus", "hrnet", "maskrcnn", "sam2", "omg_seg") */
    segc_dtype dtype;          /* storage dtype of float tensors: SEGC_F32 (default), SEGC_F16, SEGC_BF16 */
    const char *classes_path;  /* NULL: the dataset's official class names; else one name per line */
    const char *dataset;       /* NULL: the architecture's default (e.g. "voc", "cityscapes", "coco") */
    int output_stride;         /* DeepLabV3+: 16 or 8; 0 picks the default (16) */
    segc_convert_progress_fn progress;  /* NULL: silent */
    void *progress_user;
} segc_convert_options;

/* Fills the defaults listed above. */
void segc_convert_options_default(segc_convert_options *o);

/* Converts `in` to `out`. Errors (unknown architecture, missing or mis-shaped tensors, hostile files)
   come back as a status with segc_last_error() saying exactly what and where; `out` is never left
   half-written. */
segc_status segc_convert_file(const char *in, const char *out, const segc_convert_options *o);

#endif
