/* sam2_video_internal.h - the SAM 2 video model shared by sam2_video.c (tracker state, frames, the
   per-frame track step) and sam2_memory.c (memory encoder, memory attention, positional encodings).
   The image predictor model (sam2_internal.h) supplies the trunk, neck, prompt encoder and mask decoder;
   this struct adds the weights only the video predictor reads (SAM2Base: memory_encoder.*,
   memory_attention.*, maskmem_tpos_enc, no_mem_pos_enc, no_obj_ptr, no_obj_embed_spatial, obj_ptr_proj,
   obj_ptr_tpos_proj, mask_downsample), taken with a second segc_params on the same file.
   Layout: memory-attention activations are tokens [P, C] (P = 64*64); memory features are stored
   [mem_dim, P] in bfloat16 as the official predictor stores them (maskmem_features.to(torch.bfloat16)). */
#ifndef SEGC_MODELS_SAM2_VIDEO_INTERNAL_H
#define SEGC_MODELS_SAM2_VIDEO_INTERNAL_H

#include "models/sam2_internal.h"
#include "models/sam2_video.h"

#define SAM2V_MAX_MEM_LAYERS 8
#define SAM2V_MAX_DS 6            /* mask downsampler stages (4 for total stride 16, stride 2) */
#define SAM2V_MAX_FUSER 4
#define SAM2V_MAX_MASKMEM 16
#define SAM2V_NO_OBJ_SCORE (-1024.0f)   /* sam2_base.NO_OBJ_SCORE */
#define SAM2V_MEM_LN_EPS 1e-5f          /* nn.LayerNorm default in MemoryAttention(Layer) */

/* Hyper-parameters of SAM2Base / SAM2VideoPredictor that the video path uses (sam2.1_hiera_*.yaml and
   build_sam2_video_predictor's overrides; 2.0 vs 2.1 from the tensors present). */
typedef struct sam2v_config {
    int num_maskmem;                 /* 7 (from maskmem_tpos_enc) */
    int mem_dim;                     /* 64 (memory_encoder.out_proj) */
    int num_mem_layers;              /* 4 */
    int mem_heads;                   /* 1 */
    int max_obj_ptrs;                /* max_obj_ptrs_in_encoder = 16 */
    int add_tpos_enc_to_obj_ptrs;    /* 2.1: 1 */
    int proj_tpos_enc_in_obj_ptrs;   /* 2.1: 1 */
    int use_signed_tpos;             /* 2.1: 1 */
    int no_obj_embed_spatial;        /* 2.1: 1 */
    int num_ds;                      /* mask downsampler conv stages before the final 1x1 */
    int num_fuser;                   /* 2 CXBlocks */
    float sigmoid_scale, sigmoid_bias;    /* 20, -10 */
    int binarize_mask_from_pts;      /* 1 (build_sam2_video_predictor) */
    int fill_hole_area;              /* 8 (build_sam2_video_predictor) */
    int multimask_min_pt_num, multimask_max_pt_num;   /* 0, 1 */
    int multimask_for_tracking;      /* 1 */
} sam2v_config;

/* memory_encoder.fuser.layers.{i} (CXBlock) */
typedef struct sam2v_cxblock {
    segc_tensor dw_w, dw_b, norm_w, norm_b, pw1_w, pw1_b, pw2_w, pw2_b, gamma;
} sam2v_cxblock;

/* memory_attention.layers.{l} (MemoryAttentionLayer with RoPEAttention self / cross attention) */
typedef struct sam2v_mem_layer {
    segc_proj_attention self_attn, cross_attn;
    segc_tensor lin1_w, lin1_b, lin2_w, lin2_b;
    segc_tensor norm_w[3], norm_b[3];
} sam2v_mem_layer;

typedef struct sam2v_model {
    sam2_model *sam;                 /* owned: the image predictor model */
    segc_params params;              /* the video-only weights */
    sam2v_config cfg;
    /* memory_encoder */
    segc_tensor ds_w[SAM2V_MAX_DS + 1], ds_b[SAM2V_MAX_DS + 1];   /* convs; [num_ds] is the final 1x1 */
    segc_tensor ds_ln_w[SAM2V_MAX_DS], ds_ln_b[SAM2V_MAX_DS];
    segc_tensor pix_proj_w, pix_proj_b;   /* [256, 256] linear */
    sam2v_cxblock fuser[SAM2V_MAX_FUSER];
    segc_tensor out_proj_w, out_proj_b;   /* [mem_dim, 256] linear */
    /* SAM2Base parameters */
    segc_tensor maskmem_tpos_enc;         /* [num_maskmem, mem_dim] */
    segc_tensor no_obj_embed_spatial;     /* [mem_dim] (2.1) */
    segc_tensor no_obj_ptr;               /* [256] */
    segc_tensor mask_ds_w, mask_ds_b;     /* mask_downsample: [1, 1, 4, 4], [1] */
    segc_mlp obj_ptr_proj;
    segc_tensor tpos_proj_w, tpos_proj_b; /* obj_ptr_tpos_proj [mem_dim, 256] (2.1) */
    /* memory_attention */
    sam2v_mem_layer layers[SAM2V_MAX_MEM_LAYERS];
    segc_tensor norm_w, norm_b;
    /* constants computed at load */
    segc_tensor rope_cis;                 /* [P, head_dim/2, 2] */
    segc_tensor vision_pos;               /* [P, 256] tokens: the neck's sine PE at stride 16 */
    segc_tensor maskmem_pos;              /* [P, mem_dim] tokens: the memory encoder's sine PE */
    int feat_h, feat_w;                   /* 64, 64 */
} sam2v_model;

/* One memory frame handed to the memory attention: features [mem_dim, P] bf16 and its t_pos. */
typedef struct sam2v_memory_frame {
    const uint16_t *feat;
    int tpos_index;                       /* index into maskmem_tpos_enc: num_maskmem - t_pos - 1 */
} sam2v_memory_frame;

/* sam2_memory.c */
segc_status sam2v_memory_load(sam2v_model *m);
/* Sine PE of PositionEmbeddingSine(num_pos_feats = C, normalize, scale 2 pi) on an H x W map, as tokens
   out[H*W, C]. */
void sam2v_sine_pe_tokens(int64_t H, int64_t W, int64_t C, float *out);
/* get_1d_sine_pe(pos, dim): out[dim] = [sin(pos / t_j), cos(pos / t_j)], t_j = 10000^(2 floor(j/2) / (dim/2)). */
void sam2v_sine_pe_1d(float pos, int64_t dim, float *out);
/* MemoryEncoder + no-object embedding: pix_feat [256, P] (raw stride-16 features, NCHW), mask_for_mem
   [1, 1, S, S] (already sigmoid / binarized and scaled) -> out [mem_dim, P] bf16. */
segc_status sam2v_memory_encode(const sam2v_model *m, segc_ctx *ctx, const float *pix_feat,
                                const segc_tensor *mask_for_mem, int obj_appearing, uint16_t *out);
/* MemoryAttention: curr [P, 256] raw features (tokens) -> out [P, 256] tokens conditioned on the memory
   frames and n_ptr object pointers ptrs[n_ptr, 256] with their temporal positions ptr_pos[n_ptr] (already
   divided by t_diff_max; ignored without tpos encoding). */
segc_status sam2v_memory_attend(const sam2v_model *m, segc_ctx *ctx, const float *curr,
                                const sam2v_memory_frame *frames, int n_frames, const float *ptrs,
                                const float *ptr_pos, int n_ptr, float *out);
/* obj_ptr_proj (MLP) on one token [256] -> out [256]. */
segc_status sam2v_obj_ptr(const sam2v_model *m, segc_arena *arena, const float *token, float *out);

#endif
