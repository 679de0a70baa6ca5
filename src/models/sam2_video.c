/* sam2_video.c - SAM2VideoPredictor (sam2/sam2_video_predictor.py) over SAM2Base (sam2/modeling/sam2_base.py):
   the inference state (objects, per-frame outputs, pending prompt outputs), frame features with a one-frame
   cache (_get_image_feature), the track step (_prepare_memory_conditioned_features, _forward_sam_heads,
   _use_mask_as_output, _encode_new_memory), propagate_in_video_preflight / propagate_in_video, prompts,
   reset_state. Modules: sam2_memory.c (memory encoder / attention), sam2_video_frames.c (frames), and the
   image predictor's trunk, neck, prompt encoder and mask decoder (sam2_*.c).
   Dims: D = 256 hidden, E = 64 feature side, P = E*E, S4 = 256 low-res mask side, S = 1024 model input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "models/sam2_video_frames.h"
#include "models/sam2_video_internal.h"
#include "ops/conv.h"
#include "ops/resize.h"

#define LOW_RES_CLAMP 32.0f   /* add_new_points_or_box: torch.clamp(prev_sam_mask_logits, -32.0, 32.0) */
#define HOLE_FILL_VALUE 0.1f  /* fill_holes_in_mask_scores */

/* One frame's output for one object (the "compact_current_out" of the official predictor). */
typedef struct sam2v_out {
    int is_cond;
    float score;          /* object_score_logits */
    float *ptr;           /* obj_ptr [D] */
    float *pred;          /* pred_masks [S4 * S4] (after hole filling) or NULL once dropped */
    uint16_t *mem;        /* maskmem_features bf16 [Md * P], NULL until encoded or once dropped */
} sam2v_out;

typedef struct sam2v_obj {
    int id;
    sam2v_out **out;      /* [num_frames] output_dict (cond and non-cond) */
    sam2v_out **temp;     /* [num_frames] temp_output_dict (prompts not yet propagated) */
    uint8_t *tracked;     /* [num_frames] 0, 1 forward, 2 reverse (frames_tracked_per_obj) */
} sam2v_obj;

struct segc_sam2_video {
    const sam2v_model *m;
    int num_frames, video_h, video_w, streaming;
    char *dir;
    char **names;
    segc_sam2_frame_fn fn;
    void *user;
    int num_obj;
    sam2v_obj obj[SEGC_SAM2_VIDEO_MAX_OBJECTS];
    int cached;           /* frame whose features are below, -1 none */
    float *raw;           /* [D, P] backbone_fpn[2] (stride 16) */
    float *embed;         /* [D, P] raw + no_mem_embed (the init-frame image embedding) */
    float *hr0, *hr1;     /* conv_s0 / conv_s1 features [D/8, 4E, 4E], [D/4, 2E, 2E] */
};

segc_status segc_sam2_video_load(const segc_file *f, void **model) {
    if (!f || !model) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2_video_load: NULL argument");
    *model = NULL;
    sam2v_model *m = calloc(1, sizeof *m);
    if (!m) return segc_fail(SEGC_ERR_NOMEM, "sam2_video_load: out of memory");
    void *sam = NULL;
    segc_status st = segc_sam2_load(f, &sam);
    m->sam = sam;
    segc_params_init(&m->params, f);
    sam2v_config *c = &m->cfg;
    c->mem_heads = 1;
    c->max_obj_ptrs = 16;
    c->sigmoid_scale = 20.0f;
    c->sigmoid_bias = -10.0f;
    c->binarize_mask_from_pts = 1;
    c->fill_hole_area = 8;
    c->multimask_min_pt_num = 0;
    c->multimask_max_pt_num = 1;
    c->multimask_for_tracking = 1;
    if (st == SEGC_OK && !m->sam->cfg.pred_obj_scores)
        st = segc_fail(SEGC_ERR_UNSUPPORTED, "sam2 video: checkpoints without object-score heads");
    if (st == SEGC_OK) st = sam2v_memory_load(m);
    if (st != SEGC_OK) {
        segc_sam2_video_free(m);
        return st;
    }
    *model = m;
    return SEGC_OK;
}

void segc_sam2_video_free(void *model) {
    sam2v_model *m = model;
    if (!m) return;
    segc_params_free(&m->params);
    segc_sam2_free(m->sam);
    free(m);
}

/* ---- state ---- */

static void out_free(sam2v_out *o) {
    if (!o) return;
    free(o->ptr);
    free(o->pred);
    free(o->mem);
    free(o);
}

static sam2v_out *out_new(const sam2v_model *m) {
    sam2v_out *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->ptr = malloc((size_t)m->sam->cfg.d_model * sizeof(float));
    const int64_t S4 = 4LL * m->feat_h;
    o->pred = malloc((size_t)(S4 * S4) * sizeof(float));
    if (!o->ptr || !o->pred) {
        out_free(o);
        return NULL;
    }
    return o;
}

static void obj_clear(segc_sam2_video *s, sam2v_obj *ob) {
    for (int f = 0; f < s->num_frames; f++) {
        if (ob->out) out_free(ob->out[f]);
        if (ob->temp) out_free(ob->temp[f]);
    }
    free(ob->out);
    free(ob->temp);
    free(ob->tracked);
    memset(ob, 0, sizeof *ob);
}

void segc_sam2_video_reset(segc_sam2_video *s) {
    if (!s) return;
    for (int i = 0; i < s->num_obj; i++) obj_clear(s, &s->obj[i]);
    s->num_obj = 0;
}

void segc_sam2_video_free_state(segc_sam2_video *s) {
    if (!s) return;
    segc_sam2_video_reset(s);
    if (s->names)
        for (int i = 0; i < s->num_frames; i++) free(s->names[i]);
    free(s->names);
    free(s->dir);
    free(s->raw);
    free(s->embed);
    free(s->hr0);
    free(s->hr1);
    free(s);
}

int segc_sam2_video_num_frames(const segc_sam2_video *s) { return s ? s->num_frames : 0; }

const char *segc_sam2_video_frame_name(const segc_sam2_video *s, int index) {
    return s && s->names && index >= 0 && index < s->num_frames ? s->names[index] : NULL;
}

void segc_sam2_video_size(const segc_sam2_video *s, int *height, int *width) {
    *height = s ? s->video_h : 0;
    *width = s ? s->video_w : 0;
}

/* Decodes frame `index` (directory or callback) and checks its size against the video's. */
static segc_status read_frame(const segc_sam2_video *s, int index, segc_image *img) {
    segc_status st;
    memset(img, 0, sizeof *img);
    if (s->fn) {
        st = s->fn(s->user, index, img);
    } else {
        char path[4096];
        int n = snprintf(path, sizeof path, "%s/%s", s->dir, s->names[index]);
        if (n < 0 || (size_t)n >= sizeof path) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: frame path too long");
        st = segc_image_load(path, img);
        if (st != SEGC_OK) return segc_fail_context(st, "sam2 video: frame %s", s->names[index]);
    }
    if (st != SEGC_OK) return st;
    if (!img->rgb || img->width < 1 || img->height < 1) {
        segc_image_free(img);
        return segc_fail(SEGC_ERR_FORMAT, "sam2 video: frame %d is empty", index);
    }
    if (s->video_w && (img->width != s->video_w || img->height != s->video_h)) {
        const int w = img->width, h = img->height;
        segc_image_free(img);
        return segc_fail(SEGC_ERR_SHAPE, "sam2 video: frame %d (%s) is %dx%d but the video is %dx%d (mixed frame sizes)",
                         index, s->names ? s->names[index] : "", w, h, s->video_w, s->video_h);
    }
    return SEGC_OK;
}

static segc_status state_new(const void *model, int num_frames, int streaming, segc_sam2_video **out) {
    const sam2v_model *m = model;
    *out = NULL;
    segc_sam2_video *s = calloc(1, sizeof *s);
    if (!s) return segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
    s->m = m;
    s->num_frames = num_frames;
    s->streaming = streaming;
    s->cached = -1;
    const int64_t D = m->sam->cfg.d_model, P = (int64_t)m->feat_h * m->feat_w;
    s->raw = malloc((size_t)(D * P) * sizeof(float));
    s->embed = malloc((size_t)(D * P) * sizeof(float));
    s->hr0 = malloc((size_t)(D / 8 * 16 * P) * sizeof(float));
    s->hr1 = malloc((size_t)(D / 4 * 4 * P) * sizeof(float));
    if (!s->raw || !s->embed || !s->hr0 || !s->hr1) {
        segc_sam2_video_free_state(s);
        return segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
    }
    *out = s;
    return SEGC_OK;
}

/* Reads frame 0 for the video size (init_state's first frame load). */
static segc_status state_size(segc_sam2_video *s) {
    segc_image img;
    segc_status st = read_frame(s, 0, &img);
    if (st != SEGC_OK) return st;
    s->video_w = img.width;
    s->video_h = img.height;
    segc_image_free(&img);
    return SEGC_OK;
}

segc_status segc_sam2_video_init_dir(const void *model, const char *dir, int streaming, segc_sam2_video **state) {
    if (!model || !dir || !state) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: NULL argument");
    *state = NULL;
    char **names = NULL;
    int n = 0;
    segc_status st = sam2v_list_frames(dir, &names, &n);
    if (st != SEGC_OK) return st;
    segc_sam2_video *s = NULL;
    if ((st = state_new(model, n, streaming, &s)) != SEGC_OK) {
        for (int i = 0; i < n; i++) free(names[i]);
        free(names);
        return st;
    }
    s->names = names;
    s->dir = strdup(dir);
    if (!s->dir) st = segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
    if (st == SEGC_OK) st = state_size(s);
    if (st != SEGC_OK) {
        segc_sam2_video_free_state(s);
        return st;
    }
    *state = s;
    return SEGC_OK;
}

segc_status segc_sam2_video_init_fn(const void *model, int num_frames, segc_sam2_frame_fn fn, void *user,
                                    int streaming, segc_sam2_video **state) {
    if (!model || !fn || !state) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: NULL argument");
    *state = NULL;
    if (num_frames < 1) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: %d frames", num_frames);
    segc_sam2_video *s = NULL;
    segc_status st = state_new(model, num_frames, streaming, &s);
    if (st != SEGC_OK) return st;
    s->fn = fn;
    s->user = user;
    if ((st = state_size(s)) != SEGC_OK) {
        segc_sam2_video_free_state(s);
        return st;
    }
    *state = s;
    return SEGC_OK;
}

/* ---- per-frame computation ---- */

/* _get_image_feature: the trunk + neck on frame f, cached for the most recent frame. */
static segc_status get_features(segc_sam2_video *s, segc_ctx *ctx, int f) {
    if (s->cached == f) return SEGC_OK;
    const sam2_model *sm = s->m->sam;
    const int64_t D = sm->cfg.d_model, E = s->m->feat_h, P = E * E;
    s->cached = -1;
    segc_image img;
    segc_status st = read_frame(s, f, &img);
    if (st != SEGC_OK) return st;
    segc_arena_mark mark = segc_arena_get_mark(ctx->arena);
    segc_tensor x, feats[SAM2_NUM_STAGES];
    int hw[SAM2_NUM_STAGES][2];
    segc_sam2_embedding emb = {.image_embed = segc_tensor_f32(s->embed, 4, 1, D, E, E),
                               .high_res = {segc_tensor_f32(s->hr0, 4, 1, D / 8, 4 * E, 4 * E),
                                            segc_tensor_f32(s->hr1, 4, 1, D / 4, 2 * E, 2 * E)},
                               .orig_h = img.height, .orig_w = img.width};
    st = sam2v_frame_preprocess(sm, ctx->arena, &img, &x);
    segc_image_free(&img);
    if (st == SEGC_OK && (st = segc_tap(ctx, "input", &x)) == SEGC_OK &&
        (st = sam2_hiera_forward(sm, ctx, &x, feats, hw)) == SEGC_OK)
        st = sam2_neck_forward(sm, ctx, feats, hw, &emb);
    segc_arena_release(ctx->arena, mark);
    if (st != SEGC_OK) return st;
    /* the neck added no_mem_embed (directly_add_no_mem_embed); the raw level is needed too */
    const float *nm = sm->no_mem_embed.data;
    for (int64_t c = 0; c < D; c++) {
        const float add = sm->cfg.directly_add_no_mem_embed ? nm[c] : 0.0f;
        for (int64_t i = 0; i < P; i++) s->raw[c * P + i] = s->embed[c * P + i] - add;
    }
    if (!sm->cfg.directly_add_no_mem_embed) memcpy(s->embed, s->raw, (size_t)(D * P) * sizeof(float));
    s->cached = f;
    return SEGC_OK;
}

/* MaskDecoder._get_stability_scores for one mask. */
static float stability(const float *x, int64_t n, float delta) {
    int64_t inter = 0, uni = 0;
    for (int64_t i = 0; i < n; i++) {
        inter += x[i] > delta;
        uni += x[i] > -delta;
    }
    return uni > 0 ? (float)inter / (float)uni : 1.0f;
}

/* _forward_sam_heads on the image embedding `pix` [D, P] (plus the cached high-res features):
   low_res [S4 * S4] (best mask, NO_OBJ_SCORE when the object score <= 0), score, obj_ptr [D]. */
static segc_status sam_heads(const segc_sam2_video *s, segc_ctx *ctx, const float *pix, const segc_sam2_prompts *pr,
                             int multimask, float *low_res, float *score, float *ptr) {
    const sam2v_model *m = s->m;
    const sam2_model *sm = m->sam;
    const int64_t D = sm->cfg.d_model, E = m->feat_h, S4 = 4 * E, n = S4 * S4;
    segc_sam2_embedding emb = {.image_embed = segc_tensor_f32((float *)pix, 4, 1, D, E, E),
                               .high_res = {segc_tensor_f32(s->hr0, 4, 1, D / 8, 4 * E, 4 * E),
                                            segc_tensor_f32(s->hr1, 4, 1, D / 4, 2 * E, 2 * E)},
                               .orig_h = s->video_h, .orig_w = s->video_w};
    segc_arena_mark mark = segc_arena_get_mark(ctx->arena);
    segc_tensor sparse, dense, all, tokens;
    float iou[SAM2_NUM_MASK_TOKENS];
    segc_status st;
    if ((st = sam2_prompt_forward(sm, ctx, &emb, pr, &sparse, &dense)) ||
        (st = sam2_decoder_forward(sm, ctx, &emb, &sparse, &dense, &all, iou, score, &tokens)))
        goto done;
    const float *masks = all.data, *tok = tokens.data;
    int best = 1;   /* argmax over the multimask outputs 1..3 (first maximum) */
    for (int k = 2; k < SAM2_NUM_MASK_TOKENS; k++)
        if (iou[k] > iou[best]) best = k;
    int k_mask = 0, k_tok = 0;
    if (multimask) {
        k_mask = best;
        k_tok = sm->cfg.use_multimask_token_for_obj_ptr ? best : 0;
    } else if (sm->cfg.dynamic_multimask && stability(masks, n, sm->cfg.stability_delta) < sm->cfg.stability_thresh) {
        k_mask = best;   /* _dynamic_multimask_via_stability; the pointer token stays token 0 */
    }
    const int appearing = *score > 0.0f;
    if (appearing) memcpy(low_res, masks + k_mask * n, (size_t)n * sizeof(float));
    else
        for (int64_t i = 0; i < n; i++) low_res[i] = SAM2V_NO_OBJ_SCORE;
    if ((st = sam2v_obj_ptr(m, ctx->arena, tok + k_tok * D, ptr)) != SEGC_OK) goto done;
    if (!appearing) memcpy(ptr, m->no_obj_ptr.data, (size_t)D * sizeof(float));   /* fixed_no_obj_ptr */
done:
    segc_arena_release(ctx->arena, mark);
    return st;
}

/* fill_holes_in_mask_scores: background components (logit <= 0, 8-connected) of area <= max_area -> 0.1. */
static segc_status fill_holes(segc_arena *arena, float *mask, int64_t H, int64_t W, int max_area) {
    if (max_area <= 0) return SEGC_OK;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    int32_t *label = segc_arena_alloc_array(arena, (size_t)(H * W), sizeof(int32_t));
    int32_t *stack = segc_arena_alloc_array(arena, (size_t)(H * W), sizeof(int32_t));
    if (!label || !stack) return segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
    memset(label, 0, (size_t)(H * W) * sizeof(int32_t));
    for (int64_t start = 0; start < H * W; start++) {
        if (mask[start] > 0.0f || label[start]) continue;
        int64_t top = 0, count = 0, head = 0;
        stack[top++] = (int32_t)start;
        label[start] = 1;
        while (head < top) {   /* breadth-first: stack[0..top) keeps the component's pixels */
            const int64_t p = stack[head++], y = p / W, x = p % W;
            count++;
            for (int64_t dy = -1; dy <= 1; dy++)
                for (int64_t dx = -1; dx <= 1; dx++) {
                    const int64_t yy = y + dy, xx = x + dx;
                    if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                    const int64_t q = yy * W + xx;
                    if (label[q] || mask[q] > 0.0f) continue;
                    label[q] = 1;
                    stack[top++] = (int32_t)q;
                }
        }
        if (count <= max_area)
            for (int64_t i = 0; i < top; i++) mask[stack[i]] = HOLE_FILL_VALUE;
    }
    segc_arena_release(arena, mark);
    return SEGC_OK;
}

/* _encode_new_memory on the low-res logits: upscale to S x S (bilinear), binarize (clicked frames) or
   sigmoid, * scale + bias, MemoryEncoder with the no-object embedding -> o->mem (bf16). */
static segc_status encode_memory(segc_sam2_video *s, segc_ctx *ctx, int f, const float *low_res, float score,
                                 int from_pts, sam2v_out *o) {
    const sam2v_model *m = s->m;
    const int64_t S = m->sam->cfg.image_size, S4 = 4LL * m->feat_h, Md = m->cfg.mem_dim;
    const int64_t P = (int64_t)m->feat_h * m->feat_w;
    segc_status st = get_features(s, ctx, f);
    if (st != SEGC_OK) return st;
    if (!o->mem && !(o->mem = malloc((size_t)(Md * P) * sizeof(uint16_t))))
        return segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
    segc_arena_mark mark = segc_arena_get_mark(ctx->arena);
    segc_tensor lr = segc_tensor_f32((float *)low_res, 4, 1, 1, S4, S4), hi;
    segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
    if ((st = segc_resize_new(ctx->arena, &lr, &rp, S, S, &hi)) == SEGC_OK) {
        float *h = hi.data;
        const int bin = m->cfg.binarize_mask_from_pts && from_pts;
        const float sc = m->cfg.sigmoid_scale, bi = m->cfg.sigmoid_bias;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < S * S; i++) {
            const float p = bin ? (h[i] > 0.0f ? 1.0f : 0.0f) : 1.0f / (1.0f + expf(-h[i]));
            h[i] = p * sc + bi;
        }
        st = sam2v_memory_encode(m, ctx, s->raw, &hi, score > 0.0f, o->mem);
    }
    segc_arena_release(ctx->arena, mark);
    return st;
}

/* Output of object `ob` at frame t that memory may use: committed, with memory features. */
static const sam2v_out *committed(const sam2v_obj *ob, int t, int want_cond) {
    const sam2v_out *o = ob->out[t];
    return o && o->is_cond == want_cond ? o : NULL;
}

/* _prepare_memory_conditioned_features for a non-initial frame: pix [D, P] (NCHW). */
static segc_status condition_on_memory(segc_sam2_video *s, segc_ctx *ctx, const sam2v_obj *ob, int f, int reverse,
                                       float *pix) {
    const sam2v_model *m = s->m;
    const sam2v_config *c = &m->cfg;
    const int64_t D = m->sam->cfg.d_model, P = (int64_t)m->feat_h * m->feat_w, nm = c->num_maskmem;
    sam2v_memory_frame frames[SAM2V_MAX_MASKMEM + 64];
    int nf = 0, ncond = 0;
    int64_t cap = 64;
    for (int t = 0; t < s->num_frames && nf < cap; t++) {   /* every conditioning frame, t_pos 0 */
        const sam2v_out *o = committed(ob, t, 1);
        if (!o) continue;
        ncond++;
        if (o->mem) frames[nf++] = (sam2v_memory_frame){o->mem, (int)(nm - 1)};
    }
    if (ncond == 0) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: object %d has no prompted frame", ob->id);
    for (int t_pos = 1; t_pos < nm; t_pos++) {
        const int t_rel = (int)nm - t_pos, t = reverse ? f + t_rel : f - t_rel;
        if (t < 0 || t >= s->num_frames) continue;
        const sam2v_out *o = committed(ob, t, 0);
        if (o && o->mem) frames[nf++] = (sam2v_memory_frame){o->mem, (int)(nm - t_pos - 1)};
    }
    /* object pointers: conditioning frames in the past, then up to max_ptrs - 1 recent frames */
    const int max_ptrs = s->num_frames < c->max_obj_ptrs ? s->num_frames : c->max_obj_ptrs;
    segc_arena_mark mark = segc_arena_get_mark(ctx->arena);
    float *ptrs = segc_arena_alloc_array(ctx->arena, (size_t)(ncond + max_ptrs) * D, sizeof(float));
    float *pos = segc_arena_alloc_array(ctx->arena, (size_t)(ncond + max_ptrs), sizeof(float));
    float *tok = segc_arena_alloc_array(ctx->arena, (size_t)(P * D), sizeof(float));
    float *res = segc_arena_alloc_array(ctx->arena, (size_t)(P * D), sizeof(float));
    if (!ptrs || !pos || !tok || !res) return segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
    int np = 0;
    const float t_diff_max = (float)(max_ptrs - 1 > 0 ? max_ptrs - 1 : 1);
    for (int t = 0; t < s->num_frames; t++) {
        const sam2v_out *o = committed(ob, t, 1);
        if (!o || (reverse ? t < f : t > f)) continue;
        const int d = c->use_signed_tpos ? (f - t) * (reverse ? -1 : 1) : abs(f - t);
        memcpy(ptrs + (int64_t)np * D, o->ptr, (size_t)D * sizeof(float));
        pos[np++] = (float)d / t_diff_max;
    }
    for (int t_diff = 1; t_diff < max_ptrs; t_diff++) {
        const int t = reverse ? f + t_diff : f - t_diff;
        if (t < 0 || t >= s->num_frames) break;
        const sam2v_out *o = committed(ob, t, 0);
        if (!o) continue;
        memcpy(ptrs + (int64_t)np * D, o->ptr, (size_t)D * sizeof(float));
        pos[np++] = (float)t_diff / t_diff_max;
    }
    segc_chw_to_tokens(s->raw, D, P, tok);
    segc_status st = sam2v_memory_attend(m, ctx, tok, frames, nf, ptrs, pos, np, res);
    if (st == SEGC_OK) segc_tokens_to_chw(res, P, D, NULL, pix);
    segc_arena_release(ctx->arena, mark);
    return st;
}

/* track_step for object `ob` on frame f with points (pr, may be NULL) and an optional mask prompt for the
   decoder (prev logits); fills o (score, ptr, pred) and, with run_mem, its memory. */
static segc_status track(segc_sam2_video *s, segc_ctx *ctx, const sam2v_obj *ob, int f, int is_init,
                         const segc_sam2_prompts *pr, int reverse, int run_mem, sam2v_out *o) {
    const sam2v_model *m = s->m;
    const int64_t D = m->sam->cfg.d_model, P = (int64_t)m->feat_h * m->feat_w, S4 = 4LL * m->feat_h;
    segc_status st = get_features(s, ctx, f);
    if (st != SEGC_OK) return st;
    segc_arena_mark mark = segc_arena_get_mark(ctx->arena);
    float *pix = segc_arena_alloc_array(ctx->arena, (size_t)(D * P), sizeof(float));
    float *low = segc_arena_alloc_array(ctx->arena, (size_t)(S4 * S4), sizeof(float));
    if (!pix || !low) return segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
    if (is_init) memcpy(pix, s->embed, (size_t)(D * P) * sizeof(float));
    else st = condition_on_memory(s, ctx, ob, f, reverse, pix);
    const segc_sam2_point pad = {0.0f, 0.0f, -1};
    segc_sam2_prompts none = {.num_points = 1, .points = &pad};
    const int npts = pr ? pr->num_points + (pr->has_box ? 2 : 0) : 0;
    const int multimask = (is_init || m->cfg.multimask_for_tracking) && m->cfg.multimask_min_pt_num <= npts &&
                          npts <= m->cfg.multimask_max_pt_num;   /* _use_multimask */
    if (st == SEGC_OK) st = sam_heads(s, ctx, pix, pr ? pr : &none, multimask, low, &o->score, o->ptr);
    if (st == SEGC_OK) {
        memcpy(o->pred, low, (size_t)(S4 * S4) * sizeof(float));
        st = fill_holes(ctx->arena, o->pred, S4, S4, m->cfg.fill_hole_area);
    }
    if (st == SEGC_OK && run_mem) st = encode_memory(s, ctx, f, low, o->score, pr != NULL, o);
    segc_arena_release(ctx->arena, mark);
    return st;
}

/* _obj_id_to_idx: the object slot of a client id, added when new. */
static segc_status obj_slot(segc_sam2_video *s, int obj_id, sam2v_obj **out) {
    for (int i = 0; i < s->num_obj; i++)
        if (s->obj[i].id == obj_id) {
            *out = &s->obj[i];
            return SEGC_OK;
        }
    if (s->num_obj >= SEGC_SAM2_VIDEO_MAX_OBJECTS)
        return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: more than %d objects", SEGC_SAM2_VIDEO_MAX_OBJECTS);
    sam2v_obj *ob = &s->obj[s->num_obj];
    ob->out = calloc((size_t)s->num_frames, sizeof *ob->out);
    ob->temp = calloc((size_t)s->num_frames, sizeof *ob->temp);
    ob->tracked = calloc((size_t)s->num_frames, 1);
    if (!ob->out || !ob->temp || !ob->tracked) {
        obj_clear(s, ob);
        return segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
    }
    ob->id = obj_id;
    s->num_obj++;
    *out = ob;
    return SEGC_OK;
}

/* _use_mask_as_output: the mask prompt m01 [S * S] (0 / 1 at the model resolution) is the output: logits
   +-10 downscaled (bilinear, antialias) to the low-res mask, a pointer from the decoder on the raw features
   with the mask (mask_downsample'd) as dense prompt, object score +-10 from whether the mask is empty. */
static segc_status mask_as_output(segc_sam2_video *s, segc_ctx *ctx, int f, const float *m01, sam2v_out *o) {
    const sam2v_model *m = s->m;
    const int64_t S = m->sam->cfg.image_size, S4 = 4LL * m->feat_h;
    segc_status st = get_features(s, ctx, f);
    if (st != SEGC_OK) return st;
    segc_arena_mark mark = segc_arena_get_mark(ctx->arena);
    segc_tensor hi, lo, md, lr_dummy;
    int appearing = 0;
    if ((st = segc_tensor_new_f32(ctx->arena, &hi, 4, 1, 1, S, S)) ||
        (st = segc_tensor_new_f32(ctx->arena, &lo, 4, 1, 1, S4, S4)) ||
        (st = segc_tensor_new_f32(ctx->arena, &lr_dummy, 2, S4, S4, 0, 0)))
        goto done;
    float *h = hi.data;
    for (int64_t i = 0; i < S * S; i++) {
        h[i] = m01[i] * 20.0f - 10.0f;
        appearing |= m01[i] > 0.0f;
    }
    segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
    rp.antialias = 1;
    if ((st = segc_resize(ctx->arena, &hi, &rp, &lo))) goto done;
    memcpy(o->pred, lo.data, (size_t)(S4 * S4) * sizeof(float));
    segc_tensor mask_t = segc_tensor_f32((float *)m01, 4, 1, 1, S, S);
    const segc_conv2d_params c4 = segc_conv2d_params_make(4, 0, 1, 1);
    if ((st = segc_conv2d_new(ctx->arena, &mask_t, &m->mask_ds_w, &m->mask_ds_b, &c4, &md))) goto done;
    const segc_sam2_point pad = {0.0f, 0.0f, -1};
    segc_sam2_prompts pr = {.num_points = 1, .points = &pad, .mask_input = &md};
    float inner_score;
    if ((st = sam_heads(s, ctx, s->raw, &pr, 0, lr_dummy.data, &inner_score, o->ptr))) goto done;
    o->score = appearing ? 10.0f : -10.0f;
    if (!appearing) memcpy(o->ptr, m->no_obj_ptr.data, (size_t)m->sam->cfg.d_model * sizeof(float));
    st = fill_holes(ctx->arena, o->pred, S4, S4, m->cfg.fill_hole_area);
done:
    segc_arena_release(ctx->arena, mark);
    return st;
}

/* Shared tail of the prompt calls: runs the frame without memory encoding into a pending output. */
static segc_status add_input(segc_sam2_video *s, segc_ctx *ctx, int frame, int obj_id, const segc_sam2_point *points,
                             int num_points, const float *box, const float *mask1024, float *out_low_res) {
    if (!s || !ctx || !ctx->arena) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: NULL argument");
    if (frame < 0 || frame >= s->num_frames)
        return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: prompt on frame %d but the video has frames 0..%d", frame,
                         s->num_frames - 1);
    sam2v_obj *ob = NULL;
    segc_status st = obj_slot(s, obj_id, &ob);
    if (st != SEGC_OK) return st;
    const int is_init = !ob->tracked[frame], reverse = ob->tracked[frame] == 2;
    const int64_t S4 = 4LL * s->m->feat_h;
    sam2v_out *o = out_new(s->m);
    if (!o) return segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
    o->is_cond = is_init;   /* add_all_frames_to_correct_as_cond = False */
    segc_arena_mark mark = segc_arena_get_mark(ctx->arena);
    if (mask1024) {
        st = mask_as_output(s, ctx, frame, mask1024, o);
    } else {
        /* previous logits on this frame (pending first, then committed) go to the decoder, clamped */
        const sam2v_out *prev = ob->temp[frame] ? ob->temp[frame] : ob->out[frame];
        segc_tensor prev_t;
        segc_sam2_prompts pr = {.num_points = num_points, .points = points, .has_box = box != NULL};
        if (box) memcpy(pr.box, box, sizeof pr.box);
        if (prev && prev->pred && (st = segc_tensor_new_f32(ctx->arena, &prev_t, 3, 1, S4, S4, 0)) == SEGC_OK) {
            float *d = prev_t.data;
            for (int64_t i = 0; i < S4 * S4; i++)
                d[i] = fminf(fmaxf(prev->pred[i], -LOW_RES_CLAMP), LOW_RES_CLAMP);
            pr.mask_input = &prev_t;
        }
        if (st == SEGC_OK) st = track(s, ctx, ob, frame, is_init, &pr, reverse, 0, o);
    }
    segc_arena_release(ctx->arena, mark);
    if (st != SEGC_OK) {
        out_free(o);
        return st;
    }
    out_free(ob->temp[frame]);
    ob->temp[frame] = o;
    if (out_low_res) memcpy(out_low_res, o->pred, (size_t)(S4 * S4) * sizeof(float));
    return SEGC_OK;
}

segc_status segc_sam2_video_add_prompt(segc_sam2_video *s, segc_ctx *ctx, int frame, int obj_id,
                                       const segc_sam2_point *points, int num_points, const float *box,
                                       float *out_low_res) {
    if (num_points < 0 || (num_points > 0 && !points) || (num_points == 0 && !box))
        return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: give points and/or a box");
    if (num_points + (box ? 2 : 0) > SEGC_SAM2_MAX_POINTS)
        return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: more than %d points", SEGC_SAM2_MAX_POINTS);
    for (int i = 0; i < num_points; i++)
        if (points[i].label != 0 && points[i].label != 1)
            return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: point %d has label %d (1 positive, 0 negative)", i,
                             points[i].label);
    return add_input(s, ctx, frame, obj_id, points, num_points, box, NULL, out_low_res);
}

segc_status segc_sam2_video_add_mask(segc_sam2_video *s, segc_ctx *ctx, int frame, int obj_id, const uint8_t *mask,
                                     float *out_low_res) {
    if (!s || !ctx || !ctx->arena || !mask) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: NULL argument");
    const int64_t S = s->m->sam->cfg.image_size, H = s->video_h, W = s->video_w;
    segc_arena_mark mark = segc_arena_get_mark(ctx->arena);
    segc_tensor orig, m01;
    segc_status st;
    if ((st = segc_tensor_new_f32(ctx->arena, &orig, 4, 1, 1, H, W)) ||
        (st = segc_tensor_new_f32(ctx->arena, &m01, 4, 1, 1, S, S)))
        goto done;
    float *od = orig.data, *md = m01.data;
    for (int64_t i = 0; i < H * W; i++) od[i] = mask[i] ? 1.0f : 0.0f;
    if (H == S && W == S) {
        memcpy(md, od, (size_t)(S * S) * sizeof(float));
    } else {   /* interpolate(bilinear, antialias) to S x S, then >= 0.5 */
        segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
        rp.antialias = 1;
        if ((st = segc_resize(ctx->arena, &orig, &rp, &m01))) goto done;
        for (int64_t i = 0; i < S * S; i++) md[i] = md[i] >= 0.5f ? 1.0f : 0.0f;
    }
    st = add_input(s, ctx, frame, obj_id, NULL, 0, NULL, md, out_low_res);
done:
    segc_arena_release(ctx->arena, mark);
    return st;
}

/* propagate_in_video_preflight: memory for every pending output (clicked frames: binarized masks), then
   pending outputs join the output dict; every object needs a conditioning frame. */
static segc_status preflight(segc_sam2_video *s, segc_ctx *ctx) {
    if (s->num_obj == 0) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: no prompts: add points, a box or a mask first");
    for (int i = 0; i < s->num_obj; i++) {
        sam2v_obj *ob = &s->obj[i];
        for (int f = 0; f < s->num_frames; f++) {
            sam2v_out *o = ob->temp[f];
            if (!o) continue;
            if (!o->mem) {
                segc_status st = encode_memory(s, ctx, f, o->pred, o->score, 1, o);
                if (st != SEGC_OK) return st;
            }
            ob->temp[f] = NULL;
            if (!o->is_cond && ob->out[f] && ob->out[f]->is_cond) {   /* the cond output wins (official pop) */
                out_free(o);
                continue;
            }
            out_free(ob->out[f]);
            ob->out[f] = o;
        }
        int has_cond = 0;
        for (int f = 0; f < s->num_frames && !has_cond; f++) has_cond = ob->out[f] && ob->out[f]->is_cond;
        if (!has_cond)
            return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: object %d has no prompt on any frame", ob->id);
    }
    return SEGC_OK;
}

/* Streaming: after frame f, drop what no later frame of this pass can attend to. */
static void drop_old(segc_sam2_video *s, int f, int dir) {
    const int nm = s->m->cfg.num_maskmem, np = s->m->cfg.max_obj_ptrs;
    for (int i = 0; i < s->num_obj; i++) {
        sam2v_obj *ob = &s->obj[i];
        int t = f - dir;
        if (t >= 0 && t < s->num_frames && ob->out[t] && !ob->out[t]->is_cond) {
            free(ob->out[t]->pred);
            ob->out[t]->pred = NULL;
        }
        t = f - dir * (nm - 1);
        if (t >= 0 && t < s->num_frames && ob->out[t] && !ob->out[t]->is_cond) {
            free(ob->out[t]->mem);
            ob->out[t]->mem = NULL;
        }
        t = f - dir * np;
        if (t >= 0 && t < s->num_frames && ob->out[t] && !ob->out[t]->is_cond) {
            out_free(ob->out[t]);
            ob->out[t] = NULL;
        }
    }
}

segc_status segc_sam2_video_propagate(segc_sam2_video *s, segc_ctx *ctx, int start, int max_frames, int reverse,
                                      segc_sam2_video_cb cb, void *user) {
    if (!s || !ctx || !ctx->arena) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: NULL argument");
    segc_status st = preflight(s, ctx);
    if (st != SEGC_OK) return st;
    if (start < 0) {   /* the earliest frame with a prompt */
        start = s->num_frames;
        for (int i = 0; i < s->num_obj; i++)
            for (int f = 0; f < start; f++)
                if (s->obj[i].out[f] && s->obj[i].out[f]->is_cond) start = f;
    }
    if (start >= s->num_frames)
        return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: start frame %d of %d frames", start, s->num_frames);
    if (max_frames < 0) max_frames = s->num_frames;
    int end, step = reverse ? -1 : 1, count;
    if (reverse) {
        end = start - max_frames > 0 ? start - max_frames : 0;
        count = start > 0 ? start - end + 1 : 0;   /* official: no reverse tracking from frame 0 */
    } else {
        end = start + max_frames < s->num_frames - 1 ? start + max_frames : s->num_frames - 1;
        count = end - start + 1;
    }
    int ids[SEGC_SAM2_VIDEO_MAX_OBJECTS];
    float scores[SEGC_SAM2_VIDEO_MAX_OBJECTS];
    const float *preds[SEGC_SAM2_VIDEO_MAX_OBJECTS];
    for (int k = 0, f = start; k < count; k++, f += step) {
        for (int i = 0; i < s->num_obj; i++) {
            sam2v_obj *ob = &s->obj[i];
            if (!(ob->out[f] && ob->out[f]->is_cond)) {
                sam2v_out *o = out_new(s->m);
                if (!o) return segc_fail(SEGC_ERR_NOMEM, "sam2 video: out of memory");
                if ((st = track(s, ctx, ob, f, 0, NULL, reverse, 1, o)) != SEGC_OK) {
                    out_free(o);
                    return segc_fail_context(st, "sam2 video: frame %d, object %d", f, ob->id);
                }
                out_free(ob->out[f]);
                ob->out[f] = o;
            }
            ob->tracked[f] = reverse ? 2 : 1;
            ids[i] = ob->id;
            scores[i] = ob->out[f]->score;
            preds[i] = ob->out[f]->pred;
        }
        segc_sam2_video_frame fr = {f, s->num_obj, ids, scores, preds, s->video_h, s->video_w};
        if (cb && (st = cb(user, &fr)) != SEGC_OK) return st;
        if (s->streaming) drop_old(s, f, step);
    }
    return SEGC_OK;
}

segc_status segc_sam2_video_upscale(const segc_sam2_video *s, segc_arena *arena, const float *low_res, uint8_t *mask) {
    if (!s || !arena || !low_res || !mask) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2 video: NULL argument");
    const int64_t S4 = 4LL * s->m->feat_h, H = s->video_h, W = s->video_w;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    segc_tensor lr = segc_tensor_f32((float *)low_res, 4, 1, 1, S4, S4), up;
    segc_resize_params rp = segc_resize_params_make(SEGC_RESIZE_BILINEAR, 0);
    segc_status st = segc_resize_new(arena, &lr, &rp, H, W, &up);
    if (st == SEGC_OK) {
        const float *u = up.data;
        for (int64_t i = 0; i < H * W; i++) mask[i] = u[i] > 0.0f;
    }
    segc_arena_release(arena, mark);
    return st;
}
