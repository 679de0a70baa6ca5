/* sam2.h - SAM 2 / 2.1 image predictor (facebookresearch/sam2, SAM2ImagePredictor), every Hiera size.
   Usage:
       void *m; segc_sam2_load(file, &m);
       segc_sam2_embedding e; segc_sam2_encode(m, ctx, &img, &e);      // once per image
       segc_sam2_prompts p = {...}; segc_sam2_outputs o;
       segc_sam2_predict(m, ctx, &e, &p, 1, 0, &o);                      // as often as wanted
       segc_sam2_predict_batch(m, ctx, &e, B, sets, 1, 0, outs);         // B prompt sets in one pass
   The embedding and outputs live in ctx->arena: keep the arena (do not reset or release past them)
   while they are used; predict() releases its own temporaries, so many prompt sets can follow one
   encode. Taps (module paths of the checkpoint): image_encoder.trunk.stage{1..4} [1,C,H,W],
   image_encoder.neck.level{0..2} [1,256,H,W] (backbone_fpn after scalp, before conv_s0/s1),
   sam_mask_decoder.conv_s0 / conv_s1 (high-res features), image_embed (+ no_mem_embed),
   sam_prompt_encoder.sparse [1,N,256], sam_prompt_encoder.dense [1,256,64,64].
   Not here: the video predictor (memory attention / encoder, object pointers): next issue. */
#ifndef SEGC_MODELS_SAM2_H
#define SEGC_MODELS_SAM2_H

#include <stdint.h>

#include "core/ctx.h"
#include "core/tensor.h"
#include "io/image.h"
#include "io/segc_file.h"

#define SEGC_SAM2_MAX_POINTS 64
#define SEGC_SAM2_MAX_BATCH 4096   /* prompt sets per segc_sam2_predict_batch call */

/* What one image gives the prompt decoder (SAM2ImagePredictor._features + orig_hw). */
typedef struct segc_sam2_embedding {
    segc_tensor image_embed;      /* [1, 256, 64, 64]: backbone_fpn[2] + no_mem_embed */
    segc_tensor high_res[2];      /* [1, 32, 256, 256] conv_s0(fpn[0]), [1, 64, 128, 128] conv_s1(fpn[1]) */
    int orig_h, orig_w;           /* size of the encoded image, for coordinates and output masks */
    /* The model that computed it (encode / embedding_load fill these): predict refuses an embedding of
       another model. Empty strings: unknown, not checked (an embedding built by hand). */
    char model_variant[64];       /* .segc "variant", e.g. "sam2.1_hiera_tiny" */
    char model_sha256[65];        /* .segc "source.sha256" of the converted checkpoint (hex) */
} segc_sam2_embedding;

typedef struct segc_sam2_point {
    float x, y;    /* pixels of the original image */
    int label;     /* 1 foreground, 0 background (2/3 box corners, -1 padding: accepted too) */
} segc_sam2_point;

typedef struct segc_sam2_prompts {
    int num_points;
    const segc_sam2_point *points;    /* num_points entries (may be NULL when 0) */
    int has_box;
    float box[4];                     /* x0, y0, x1, y1 in pixels */
    const segc_tensor *mask_input;    /* NULL or [1, 256, 256] (or [1,1,256,256]) low-res logits */
} segc_sam2_prompts;

typedef struct segc_sam2_outputs {
    int num_masks;                 /* K: 3 with multimask, else 1 */
    segc_tensor masks;             /* u8 [K, H, W] at the original size: logits > 0 */
    segc_tensor mask_logits;       /* f32 [K, H, W] upscaled logits (only if want_logits, else data NULL) */
    segc_tensor low_res_logits;    /* f32 [K, 256, 256] clamped to [-32, 32] */
    float iou[3];                  /* predicted IoU per mask */
    float object_score_logit;      /* object score head (10 when the model has none) */
    segc_tensor sam_tokens;        /* f32 [K', 256] output tokens for object pointers (video) */
} segc_sam2_outputs;

segc_status segc_sam2_load(const segc_file *f, void **model);
void segc_sam2_free(void *model);

/* Runs preprocessing, image encoder and neck on `img`; fills `emb` from ctx->arena. */
segc_status segc_sam2_encode(const void *model, segc_ctx *ctx, const segc_image *img, segc_sam2_embedding *emb);

/* Prompt encoder + mask decoder + upscaling as SAM2ImagePredictor.predict(multimask_output, return_logits
   when want_logits). Fails with SEGC_ERR_INVALID_ARG for no prompt at all, NaN/inf coordinates, bad
   labels, a mask input of the wrong shape. Outputs come from ctx->arena. */
segc_status segc_sam2_predict(const void *model, segc_ctx *ctx, const segc_sam2_embedding *emb,
                              const segc_sam2_prompts *prompts, int multimask, int want_logits,
                              segc_sam2_outputs *out);

/* B prompt sets on one embedding, as SAM2ImagePredictor._predict with batched prompts [B, N, 2] (what
   SAM2AutomaticMaskGenerator does with points_per_batch): out[b] equals segc_sam2_predict(&prompts[b])
   up to float rounding (~1e-6 relative), but the decoder runs the sets together: when no set has a mask
   input, the first block's token side is one GEMM per linear over the tokens of all sets and projects the
   image once (chunks of 16 sets); the rest is per set. Saves ~10% of the decoder's work per set.
   Sets may differ in their number of points, box and mask input. All sets are checked before any work
   (the message names the bad set). out[0..B) come from ctx->arena like predict's outputs: with
   want_logits each set keeps [K, H, W] floats, so size B to the memory (the automatic mask generator:
   points_per_batch sets of one point, multimask, want_logits; then release to a mark per batch). */
segc_status segc_sam2_predict_batch(const void *model, segc_ctx *ctx, const segc_sam2_embedding *emb, int B,
                                    const segc_sam2_prompts *prompts, int multimask, int want_logits,
                                    segc_sam2_outputs *out);

/* Embedding files: the image embedding, both high-res feature maps, the original size and the model's
   identity (variant, source sha256) of one encoded image as a small .segc file (arch "sam2_embedding",
   float32, ~16 MB at 1024), so a prompt session can skip the encoder. load() reads it into `arena` (the
   file is closed before it returns) and fails with SEGC_ERR_FORMAT / SEGC_ERR_SHAPE and a message for
   another kind of file or bad shapes; predict() then refuses it if it came from another model.
   In sam2_embedding.c. */
segc_status segc_sam2_embedding_save(const char *path, const segc_sam2_embedding *emb);
segc_status segc_sam2_embedding_load(const char *path, segc_arena *arena, segc_sam2_embedding *emb);

#endif
