/* api.c - the public model API of include/segc.h on top of the registry and the model headers.
   A segc_model handle owns: the mapped .segc file, the loaded model (registry entry), one arena for
   every call's activations and results, and for SAM 2 the current image embedding (kept at the
   bottom of the arena, predictions above a mark). Not here: the models themselves, file parsing,
   image decoding (io/image.c), anything that prints. */
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/ctx.h"
#include "core/status.h"
#include "core/threads.h"
#include "io/image.h"
#include "io/segc_file.h"
#include "models/registry.h"
#include "models/sam2.h"
#include "ops/softmax.h"
#include "segc.h"

struct segc_model {
    segc_file *file;
    const segc_arch_entry *entry;
    void *model;
    segc_arena arena;                 /* activations and results of the latest call */
    const char *arch, *variant;       /* point into the file's metadata */
    int num_classes;
    const char *const *class_names;   /* num_names entries in the file's metadata, or NULL */
    int num_names;
    /* SAM 2: the embedding of the last set_image lives in the arena below `image_mark` */
    int has_image;
    segc_sam2_embedding embedding;
    segc_arena_mark image_mark;
};

static const char *task_call(segc_model_task task) {
    switch (task) {
    case SEGC_MODEL_SEMANTIC: return "segc_model_segment";
    case SEGC_MODEL_INSTANCE: return "segc_model_detect";
    default: return "segc_model_set_image and segc_model_predict";
    }
}

/* Fails unless m is a model of `task`; `fn` names the public function for the message. */
static segc_status check_task(const segc_model *m, segc_model_task task, const char *fn) {
    if (!m) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (m->entry->task != task)
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: a %s model does not do this; use %s", fn, m->arch,
                         task_call(m->entry->task));
    return SEGC_OK;
}

/* Wraps caller pixels (RGB u8 [h, w, 3]) without copying, after checking the size limits of io/image.h. */
static segc_status wrap_image(const char *fn, const uint8_t *rgb, int width, int height, segc_image *img) {
    if (!rgb) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: pixels are NULL", fn);
    if (width < 1 || height < 1 || width > SEGC_IMAGE_MAX_SIDE || height > SEGC_IMAGE_MAX_SIDE ||
        (int64_t)width * height > SEGC_IMAGE_MAX_PIXELS)
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: image of %dx%d is outside the supported size (1..%d per side, %lld pixels)",
                         fn, width, height, SEGC_IMAGE_MAX_SIDE, (long long)SEGC_IMAGE_MAX_PIXELS);
    img->width = width;
    img->height = height;
    img->rgb = (uint8_t *)rgb;   /* the models only read it */
    return SEGC_OK;
}

/* A contiguous version of t (t itself when it already is), from the handle's arena. */
static segc_status contiguous(segc_model *m, const segc_tensor *t, segc_tensor *out) {
    if (segc_tensor_is_contiguous(t)) {
        *out = *t;
        return SEGC_OK;
    }
    return segc_tensor_contiguous(&m->arena, t, out);
}

segc_status segc_rgb_load(const char *path, uint8_t **rgb, int *width, int *height) {
    if (!path || !rgb || !width || !height) return segc_fail(SEGC_ERR_INVALID_ARG, "segc_rgb_load: NULL argument");
    *rgb = NULL;
    *width = *height = 0;
    segc_image img;
    segc_status st = segc_image_load(path, &img);
    if (st) return st;
    *rgb = img.rgb;   /* malloc'd by segc_image_load */
    *width = img.width;
    *height = img.height;
    return SEGC_OK;
}

void segc_rgb_free(uint8_t *rgb) { free(rgb); }

segc_status segc_model_open(const char *path, segc_model **out) {
    if (!out) return segc_fail(SEGC_ERR_INVALID_ARG, "segc_model_open: out is NULL");
    *out = NULL;
    if (!path) return segc_fail(SEGC_ERR_INVALID_ARG, "segc_model_open: path is NULL");
    segc_threads_init();
    if (segc_threads_env_error()) return segc_fail(SEGC_ERR_INVALID_ARG, "%s", segc_threads_env_error());
    segc_model *m = calloc(1, sizeof *m);
    if (!m) return segc_fail(SEGC_ERR_NOMEM, "segc_model_open: out of memory");
    segc_status st = segc_arch_open(path, &m->file, &m->entry, &m->model);
    if (st) {
        free(m);
        return st;
    }
    segc_arena_init(&m->arena, 0);
    m->arch = m->entry->arch;
    m->variant = "";
    segc_file_get_str(m->file, "variant", &m->variant);
    const segc_kv *names = segc_file_kv_find(m->file, "class_names");
    if (names && names->type == SEGC_KV_STRING_ARRAY && names->count <= 65536) {
        m->class_names = names->strs;
        m->num_names = (int)names->count;
    }
    int64_t k = 0;
    if (m->entry->task != SEGC_MODEL_PROMPTABLE && segc_file_get_int(m->file, "num_classes", &k) == SEGC_OK && k > 0 &&
        k <= 65536)
        m->num_classes = (int)k;
    else if (m->entry->task != SEGC_MODEL_PROMPTABLE)
        m->num_classes = m->num_names;
    segc_clear_error();
    *out = m;
    return SEGC_OK;
}

void segc_model_close(segc_model *m) {
    if (!m) return;
    segc_arena_free(&m->arena);
    m->entry->free(m->model);
    segc_file_close(m->file);
    free(m);
}

const char *segc_model_arch(const segc_model *m) { return m ? m->arch : ""; }
const char *segc_model_variant(const segc_model *m) { return m ? m->variant : ""; }
segc_model_task segc_model_get_task(const segc_model *m) { return m ? (segc_model_task)m->entry->task : SEGC_MODEL_SEMANTIC; }
int segc_model_num_classes(const segc_model *m) { return m ? m->num_classes : 0; }
size_t segc_model_memory_bytes(const segc_model *m) { return m ? m->arena.in_use : 0; }

const char *segc_model_class_name(const segc_model *m, int i) {
    if (!m || !m->class_names || i < 0 || i >= m->num_names) return NULL;
    return m->class_names[i];
}

/* Starts a call that replaces every earlier result of the handle. */
static segc_status begin_call(segc_model *m) {
    m->has_image = 0;
    return segc_arena_reset(&m->arena);
}

segc_status segc_model_segment(segc_model *m, const uint8_t *rgb, int width, int height, int want_logits,
                               segc_semantic_result *out) {
    const char *fn = "segc_model_segment";
    segc_image img;
    segc_status st = check_task(m, SEGC_MODEL_SEMANTIC, fn);
    if (st || (st = wrap_image(fn, rgb, width, height, &img))) return st;
    if (!out) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if ((st = begin_call(m))) return st;
    segc_ctx ctx = segc_ctx_plain(&m->arena);
    segc_tensor logits, labels;
    if ((st = m->entry->semantic(m->model, &ctx, &img, &logits))) return st;
    int64_t k = logits.shape[1];
    if (logits.ndim != 4 || logits.shape[0] != 1 || logits.shape[2] != height || logits.shape[3] != width)
        return segc_fail(SEGC_ERR_INTERNAL, "%s: %s returned logits of an unexpected shape", fn, m->arch);
    if (k > 256) return segc_fail(SEGC_ERR_UNSUPPORTED, "%s: %lld classes do not fit 8-bit labels", fn, (long long)k);
    int64_t shape[2] = {height, width};
    if ((st = contiguous(m, &logits, &logits)) || (st = segc_tensor_new(&m->arena, SEGC_U8, 2, shape, &labels)) ||
        (st = segc_argmax_channels(&logits, &labels)))
        return st;
    out->width = width;
    out->height = height;
    out->num_classes = (int)k;
    out->labels = labels.data;
    out->logits = want_logits ? logits.data : NULL;
    return SEGC_OK;
}

segc_status segc_model_detect(segc_model *m, const uint8_t *rgb, int width, int height, segc_instance_result *out) {
    const char *fn = "segc_model_detect";
    segc_image img;
    segc_status st = check_task(m, SEGC_MODEL_INSTANCE, fn);
    if (st || (st = wrap_image(fn, rgb, width, height, &img))) return st;
    if (!out) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if ((st = begin_call(m))) return st;
    segc_ctx ctx = segc_ctx_plain(&m->arena);
    segc_detections d;
    if ((st = m->entry->instance(m->model, &ctx, &img, &d))) return st;
    if (d.count > 0 && !d.masks) return segc_fail(SEGC_ERR_INTERNAL, "%s: %s returned no masks", fn, m->arch);
    const char **names = segc_arena_alloc_array(&m->arena, (size_t)(d.count > 0 ? d.count : 1), sizeof *names);
    if (!names) return SEGC_ERR_NOMEM;
    for (int i = 0; i < d.count; i++) {
        const char *name = segc_model_class_name(m, d.labels[i]);
        names[i] = name ? name : "";
    }
    out->count = d.count;
    out->width = width;
    out->height = height;
    out->boxes = d.boxes;
    out->scores = d.scores;
    out->labels = d.labels;
    out->names = names;
    out->masks = d.masks;
    return SEGC_OK;
}

segc_status segc_model_set_image(segc_model *m, const uint8_t *rgb, int width, int height) {
    const char *fn = "segc_model_set_image";
    segc_image img;
    segc_status st = check_task(m, SEGC_MODEL_PROMPTABLE, fn);
    if (st || (st = wrap_image(fn, rgb, width, height, &img))) return st;
    if ((st = begin_call(m))) return st;
    segc_ctx ctx = segc_ctx_plain(&m->arena);
    if ((st = segc_sam2_encode(m->model, &ctx, &img, &m->embedding))) return st;
    m->image_mark = segc_arena_get_mark(&m->arena);
    m->has_image = 1;
    return SEGC_OK;
}

/* Checks a public prompt and turns it into the model's prompt struct (points copied into pts). */
static segc_status convert_prompt(const segc_prompt *p, segc_sam2_point *pts, segc_tensor *mask,
                                  segc_sam2_prompts *out) {
    const char *fn = "segc_model_predict";
    if (p->num_points < 0 || p->num_points > SEGC_PROMPT_MAX_POINTS)
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: %d points (0..%d allowed)", fn, p->num_points, SEGC_PROMPT_MAX_POINTS);
    if (p->num_points > 0 && (!p->points || !p->point_labels))
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: %d points but points or point_labels is NULL", fn, p->num_points);
    if (p->num_points == 0 && !p->box && !p->mask_input)
        return segc_fail(SEGC_ERR_INVALID_ARG, "%s: the prompt has no points, box or mask input", fn);
    for (int i = 0; i < p->num_points; i++) {
        if (p->point_labels[i] != 0 && p->point_labels[i] != 1)
            return segc_fail(SEGC_ERR_INVALID_ARG, "%s: point %d has label %d (1 foreground, 0 background)", fn, i,
                             p->point_labels[i]);
        pts[i] = (segc_sam2_point){p->points[2 * i], p->points[2 * i + 1], p->point_labels[i]};
    }
    memset(out, 0, sizeof *out);
    out->num_points = p->num_points;
    out->points = p->num_points ? pts : NULL;
    if (p->box) {
        out->has_box = 1;
        memcpy(out->box, p->box, sizeof out->box);
    }
    if (p->mask_input) {
        int64_t shape[3] = {1, SEGC_LOW_RES_SIZE, SEGC_LOW_RES_SIZE};
        *mask = segc_tensor_wrap(SEGC_F32, 3, shape, (void *)p->mask_input);   /* read only */
        out->mask_input = mask;
    }
    return SEGC_OK;
}

segc_status segc_model_predict(segc_model *m, const segc_prompt *prompt, segc_prompt_result *out) {
    const char *fn = "segc_model_predict";
    segc_status st = check_task(m, SEGC_MODEL_PROMPTABLE, fn);
    if (st) return st;
    if (!prompt || !out) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: prompt or out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!m->has_image) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: no image: call segc_model_set_image first", fn);
    segc_sam2_point pts[SEGC_PROMPT_MAX_POINTS];
    segc_tensor mask;
    segc_sam2_prompts sp;
    if ((st = convert_prompt(prompt, pts, &mask, &sp))) return st;
    segc_arena_release(&m->arena, m->image_mark);   /* drops the previous prediction */
    segc_ctx ctx = segc_ctx_plain(&m->arena);
    segc_sam2_outputs o;
    segc_tensor masks, low;
    if ((st = segc_sam2_predict(m->model, &ctx, &m->embedding, &sp, prompt->multimask ? 1 : 0, 0, &o)))
        return st;
    if ((st = contiguous(m, &o.masks, &masks)) || (st = contiguous(m, &o.low_res_logits, &low))) return st;
    out->num_masks = o.num_masks;
    out->width = m->embedding.orig_w;
    out->height = m->embedding.orig_h;
    out->masks = masks.data;
    for (int k = 0; k < o.num_masks && k < 3; k++) out->iou[k] = o.iou[k];
    out->object_score = o.object_score_logit;
    out->low_res_logits = low.data;
    return SEGC_OK;
}
