/* sam2_internal.h - the SAM 2 model struct shared by sam2*.c: config (hyper-parameters from the .segc
   "sam2.*" metadata), weights per module (field names mirror the checkpoint), and the stage functions.
   Layout conventions: the trunk and neck work channels-last (tokens [H*W, C]); maps handed to the
   decoder and to callers are NCHW. One image; the decoder takes one or many prompt sets. */
#ifndef SEGC_MODELS_SAM2_INTERNAL_H
#define SEGC_MODELS_SAM2_INTERNAL_H

#include "models/sam2.h"
#include "nn/params.h"
#include "nn/transformer.h"

#define SAM2_MAX_BLOCKS 64
#define SAM2_NUM_STAGES 4
#define SAM2_MAX_GLOBAL 8
#define SAM2_MAX_DEC_DEPTH 4
#define SAM2_NUM_MASK_TOKENS 4   /* num_multimask_outputs (3) + 1 */
#define SAM2_LN_EPS 1e-6f        /* Hiera's norm_layer=partial(nn.LayerNorm, eps=1e-6) and LayerNorm2d */
#define SAM2_DEC_LN_EPS 1e-5f    /* nn.LayerNorm default in the two-way transformer */

typedef struct sam2_config {
    /* trunk (Hiera) */
    int embed_dim, num_heads;
    int stages[SAM2_NUM_STAGES];
    int window_spec[SAM2_NUM_STAGES];
    int global_att_blocks[SAM2_MAX_GLOBAL], num_global;
    int q_pool;                     /* number of stage transitions with q pooling (3) */
    int bkg_h, bkg_w;               /* window_pos_embed_bkg_spatial_size (from pos_embed's shape) */
    /* neck */
    int d_model;                    /* 256 */
    int scalp;                      /* 1: drop the lowest-resolution level */
    int top_down[SAM2_NUM_STAGES];  /* fpn_top_down_levels as flags per level */
    /* heads */
    int image_size;                 /* 1024 */
    int backbone_stride;            /* 16 */
    int mask_in_chans;              /* 16 */
    int dec_depth, dec_heads, dec_mlp_dim, dec_downsample;
    int iou_head_depth, iou_sigmoid;
    int pred_obj_scores, pred_obj_scores_mlp;
    int use_high_res, directly_add_no_mem_embed, use_multimask_token_for_obj_ptr;
    int dynamic_multimask;
    float stability_delta, stability_thresh;
    float mean[3], std[3];          /* on the 0-1 scale */
} sam2_config;

typedef struct sam2_hiera_block {
    int dim, dim_out, num_heads, window_size, q_stride;   /* q_stride 0: no pooling */
    segc_tensor norm1_w, norm1_b, qkv_w, qkv_b, attn_proj_w, attn_proj_b, norm2_w, norm2_b;
    segc_tensor proj_w, proj_b;     /* only when dim != dim_out */
    segc_mlp mlp;
} sam2_hiera_block;

/* sam_mask_decoder.transformer.layers.{l} (TwoWayAttentionBlock) */
typedef struct sam2_twoway_layer {
    segc_proj_attention self_attn, cross_t2i, cross_i2t;   /* cross_attn_token_to_image / image_to_token */
    segc_tensor norm_w[4], norm_b[4];                      /* norm1..norm4 */
    segc_mlp mlp;
} sam2_twoway_layer;

typedef struct sam2_model {
    sam2_config cfg;
    segc_params params;
    char variant[64];                      /* .segc "variant" and "source.sha256" (empty if absent): */
    char source_sha256[65];                /* the identity stamped on embeddings */
    /* image_encoder.trunk */
    segc_tensor patch_w, patch_b;          /* [C0, 3, 7, 7], [C0] */
    segc_tensor pos_embed_hwc;             /* [Hp, Wp, C0]: interpolated bkg + tiled window embed, at load */
    int num_blocks;
    sam2_hiera_block blocks[SAM2_MAX_BLOCKS];
    int stage_end[SAM2_NUM_STAGES];
    /* image_encoder.neck: convs.{i} (1x1) as [d_model, C] linears, i = 0 is the deepest level */
    segc_tensor neck_w[SAM2_NUM_STAGES], neck_b[SAM2_NUM_STAGES];
    segc_tensor no_mem_embed;              /* [256] */
    /* sam_mask_decoder.conv_s0 / conv_s1 as linears [32, 256], [64, 256] */
    segc_tensor conv_s0_w, conv_s0_b, conv_s1_w, conv_s1_b;
    /* sam_prompt_encoder */
    segc_tensor pe_gauss;                  /* [2, 128] */
    segc_tensor point_embed[4], not_a_point, no_mask_embed;   /* [256] each */
    segc_tensor md_w[3], md_b[3], md_ln_w[2], md_ln_b[2];     /* mask_downscaling.{0,3,6}, {1,4} */
    segc_tensor dense_pe;                  /* [64*64, 256] tokens of get_dense_pe(), at load */
    /* sam_mask_decoder */
    segc_tensor iou_token, mask_tokens, obj_score_token;      /* [1,256], [4,256], [1,256] */
    sam2_twoway_layer layers[SAM2_MAX_DEC_DEPTH];
    segc_proj_attention final_attn;
    segc_tensor norm_final_w, norm_final_b;
    segc_tensor up0_w, up0_b, up_ln_w, up_ln_b, up3_w, up3_b;  /* output_upscaling.{0,1,3} */
    segc_mlp hyper[SAM2_NUM_MASK_TOKENS];
    segc_mlp iou_head, obj_head;
} sam2_model;

/* sam2_hiera.c: weights and the trunk. feats[i] are channels-last [H_i*W_i, C_i], stage i+1. */
segc_status sam2_hiera_load(sam2_model *m);
segc_status sam2_hiera_forward(const sam2_model *m, segc_ctx *ctx, const segc_tensor *img, segc_tensor feats[4],
                               int hw[4][2]);

/* sam2_neck.c: FPN neck + no_mem_embed + conv_s0/conv_s1 into the embedding (NCHW). */
segc_status sam2_neck_load(sam2_model *m);
segc_status sam2_neck_forward(const sam2_model *m, segc_ctx *ctx, const segc_tensor feats[4], const int hw[4][2],
                              segc_sam2_embedding *emb);

/* sam2_preprocess.c: u8 RGB -> [1, 3, S, S] (ToTensor, Resize antialias, Normalize). */
segc_status sam2_preprocess(const sam2_model *m, segc_arena *arena, const segc_image *img, segc_tensor *out);

/* sam2_prompt.c */
segc_status sam2_prompt_load(sam2_model *m);
/* sparse: [N, 256] from `arena` (N may be 0); dense: [1, 256, 64, 64] or NULL data when no mask
   (then dense_vec is no_mask_embed). */
segc_status sam2_prompt_forward(const sam2_model *m, segc_ctx *ctx, const segc_sam2_embedding *emb,
                                const segc_sam2_prompts *pr, segc_tensor *sparse, segc_tensor *dense);
/* Checks one prompt set (counts, finite coordinates, labels, mask-input shape) before any work. */
segc_status sam2_prompt_check(const sam2_model *m, const segc_sam2_prompts *pr);
/* Random Fourier features of points already in [0,1]^2: out[n, :] = [sin(2 pi c G), cos(2 pi c G)]. */
void sam2_pe_encode(const sam2_model *m, const float *xy01, int64_t n, float *out);

/* sam2_decoder.c */
segc_status sam2_decoder_load(sam2_model *m);
/* all_masks [4, 256, 256], iou [4], obj score [1], mask_tokens_out [4, 256] (before selection). */
segc_status sam2_decoder_forward(const sam2_model *m, segc_ctx *ctx, const segc_sam2_embedding *emb,
                                 const segc_tensor *sparse, const segc_tensor *dense, segc_tensor *all_masks,
                                 float *iou, float *obj_score, segc_tensor *mask_tokens_out);
/* B prompt sets on one embedding in one pass (block 0's token side over all sets at once when none has a
   mask input, then set by set; see sam2_decoder.c): sparse[b] [N_b, 256],
   dense NULL or dense[b] (NULL data: no mask input) -> all_masks [B, 4, 256, 256], iou [B * 4],
   obj_score [B], mask_tokens_out [B, 4, 256]. Taps only when B == 1. */
segc_status sam2_decoder_forward_batch(const sam2_model *m, segc_ctx *ctx, const segc_sam2_embedding *emb, int B,
                                       const segc_tensor *sparse, const segc_tensor *dense, segc_tensor *all_masks,
                                       float *iou, float *obj_score, segc_tensor *mask_tokens_out);

#endif
