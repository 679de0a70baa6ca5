/* segc.h - the public C API of segc, a pure-C CPU runtime for image segmentation models.

   Usage:
       segc_model *m;
       if (segc_model_open("hrnet.segc", &m) != SEGC_OK) { puts(segc_last_error()); return 1; }
       segc_semantic_result r;                               // DeepLabV3+, HRNet
       if (segc_model_segment(m, rgb, w, h, 0, &r) == SEGC_OK) use(r.labels);  // [h*w] class ids
       segc_model_close(m);                                  // frees r too
   Mask R-CNN: segc_model_detect(). SAM 2: segc_model_set_image() once, then segc_model_predict()
   for as many prompt sets as wanted. Images are 8-bit RGB, row-major, h x w x 3 (segc_rgb_load).
   Results point into memory owned by the model handle, valid until the next call on that handle
   (or its close). A handle is not for concurrent calls: open one handle per thread.

   Every function returns a segc_status; SEGC_OK is 0. On failure a one-line human-readable reason
   is kept per thread and returned by segc_last_error(). Nothing in the library prints.
   This header is the whole public API; everything under src/ is internal. */
#ifndef SEGC_H
#define SEGC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SEGC_VERSION_MAJOR 0
#define SEGC_VERSION_MINOR 1
#define SEGC_VERSION_PATCH 0
#define SEGC_VERSION_STRING "0.1.0"

/* ---- status codes ---------------------------------------------------------------------------- */
typedef enum segc_status {
    SEGC_OK = 0,
    SEGC_ERR_INVALID_ARG = 1,  /* a caller passed a bad value (NULL, negative size, unknown name) */
    SEGC_ERR_SHAPE = 2,        /* tensor shapes do not fit the operation */
    SEGC_ERR_NOMEM = 3,        /* an allocation failed or a size would overflow */
    SEGC_ERR_IO = 4,           /* a file could not be opened, read or written */
    SEGC_ERR_FORMAT = 5,       /* a file is malformed, truncated or hostile */
    SEGC_ERR_UNSUPPORTED = 6,  /* valid input this build cannot handle (dtype, architecture, op) */
    SEGC_ERR_NOT_FOUND = 7,    /* a named tensor, key or file is missing */
    SEGC_ERR_INTERNAL = 8      /* a bug in segc: please report */
} segc_status;

/* A static English name of a status code ("invalid argument", ...). */
const char *segc_status_string(segc_status status);

/* The reason for the last failure on this thread, e.g. "conv2d: input has 3 channels, weight expects 64".
   Valid until the next failing call on the same thread. Empty string if none. */
const char *segc_last_error(void);

/* ---- version and threads --------------------------------------------------------------------- */
const char *segc_version(void);

/* Number of threads used by segc's loops and by OpenBLAS (one OpenMP pool). n <= 0 means "all cores".
   The initial value comes from SEGC_THREADS if set, else the number of cores. */
segc_status segc_set_threads(int n);
int segc_get_threads(void);

/* One line describing the BLAS actually loaded at run time, e.g. "OpenBLAS 0.3.21 (OpenMP, Haswell)". */
const char *segc_blas_info(void);

/* ---- weight files (.segc) -------------------------------------------------------------------- */
typedef struct segc_file segc_file;   /* an mmap'd, validated .segc file; read-only, shareable */

/* Opens and validates a .segc file (every offset, size and string is checked). */
segc_status segc_file_open(const char *path, segc_file **out);
void segc_file_close(segc_file *f);

/* ---- images ---------------------------------------------------------------------------------- */
/* Decodes PNG/JPEG/BMP/TGA/... into RGB u8 [height * width * 3] (<= 16384 per side, 64 Mpixels). */
segc_status segc_rgb_load(const char *path, uint8_t **rgb, int *width, int *height);
void segc_rgb_free(uint8_t *rgb);

/* ---- models ---------------------------------------------------------------------------------- */
typedef struct segc_model segc_model;   /* loaded weights + working memory (arena) + SAM 2 image state */

typedef enum segc_model_task {
    SEGC_MODEL_SEMANTIC = 0,    /* image -> class per pixel: segc_model_segment (DeepLabV3+, HRNet) */
    SEGC_MODEL_INSTANCE = 1,    /* image -> boxes, classes, masks: segc_model_detect (Mask R-CNN) */
    SEGC_MODEL_PROMPTABLE = 2   /* image + prompts -> masks: segc_model_set_image/predict (SAM 2) */
} segc_model_task;

/* Opens a .segc file written by segc-convert and loads its model (the file stays mapped). */
segc_status segc_model_open(const char *path, segc_model **out);
/* Frees the model, its working memory and every result handed out. NULL is fine. */
void segc_model_close(segc_model *m);

/* Queries on a NULL handle return "", 0, NULL or SEGC_MODEL_SEMANTIC. */
const char *segc_model_arch(const segc_model *m);      /* "deeplabv3plus", "hrnet", "maskrcnn", "sam2" */
const char *segc_model_variant(const segc_model *m);   /* e.g. "w18_small_v2"; "" if not recorded */
segc_model_task segc_model_get_task(const segc_model *m);
/* Number of classes (semantic: K of the logits; instance: with index 0 "__background__"); 0 for SAM 2. */
int segc_model_num_classes(const segc_model *m);
/* Name of class i, or NULL when out of range or the file has no class names. */
const char *segc_model_class_name(const segc_model *m, int i);
/* Bytes of working memory the handle holds now (its arena), e.g. to watch the peak per image size. */
size_t segc_model_memory_bytes(const segc_model *m);

/* ---- semantic segmentation ------------------------------------------------------------------- */
typedef struct segc_semantic_result {
    int width, height, num_classes;
    const uint8_t *labels;   /* [height * width]: argmax class per pixel */
    const float *logits;     /* [num_classes * height * width] at the image size; NULL unless asked */
} segc_semantic_result;

/* Segments one image; logits are kept only when want_logits. Needs <= 256 classes. */
segc_status segc_model_segment(segc_model *m, const uint8_t *rgb, int width, int height, int want_logits,
                               segc_semantic_result *out);

/* ---- instance segmentation ------------------------------------------------------------------- */
typedef struct segc_instance_result {
    int count;                  /* detections, best score first */
    int width, height;          /* image size = mask size */
    const float *boxes;         /* [count * 4]: x0, y0, x1, y1 in pixels */
    const float *scores;        /* [count] */
    const int32_t *labels;      /* [count]: class index (segc_model_class_name) */
    const char *const *names;   /* [count]: class name of each detection ("" when unknown) */
    const uint8_t *masks;       /* [count * height * width]: 1 inside the instance, 0 outside */
} segc_instance_result;

/* Detects instances with the model's default settings (Mask R-CNN: torchvision's defaults, score >= 0.05,
   at most 100 detections). */
segc_status segc_model_detect(segc_model *m, const uint8_t *rgb, int width, int height, segc_instance_result *out);

/* ---- promptable segmentation (SAM 2) --------------------------------------------------------- */
#define SEGC_PROMPT_MAX_POINTS 64
#define SEGC_LOW_RES_SIZE 256    /* side of the low-resolution logits (mask_input and low_res_logits) */

typedef struct segc_prompt {
    int num_points;             /* 0 .. SEGC_PROMPT_MAX_POINTS */
    const float *points;        /* [num_points * 2]: x, y in pixels of the image given to set_image */
    const int *point_labels;    /* [num_points]: 1 foreground, 0 background */
    const float *box;           /* NULL or [4]: x0, y0, x1, y1 in pixels */
    const float *mask_input;    /* NULL or [256 * 256]: low_res_logits of an earlier prediction */
    int multimask;              /* 1: three candidate masks, 0: one */
} segc_prompt;

typedef struct segc_prompt_result {
    int num_masks;               /* 3 with multimask, else 1 */
    int width, height;           /* image size */
    const uint8_t *masks;        /* [num_masks * height * width]: 1 inside */
    float iou[3];                /* predicted IoU of each mask */
    float object_score;          /* object-score logit: > 0 means an object is there */
    const float *low_res_logits; /* [num_masks * 256 * 256], clamped to [-32, 32] */
} segc_prompt_result;

/* Runs the image encoder once; the embedding is kept by the handle until the next set_image. */
segc_status segc_model_set_image(segc_model *m, const uint8_t *rgb, int width, int height);
/* Decodes one prompt set on the current image (needs points, a box or a mask input). Results are
   valid until the next predict or set_image on this handle. */
segc_status segc_model_predict(segc_model *m, const segc_prompt *prompt, segc_prompt_result *out);

#ifdef __cplusplus
}
#endif
#endif /* SEGC_H */
