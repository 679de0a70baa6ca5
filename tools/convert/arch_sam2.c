/* arch_sam2.c - converter hook for facebookresearch/sam2 checkpoints ({'model': state_dict}; the framework
   strips "model."), SAM 2.0 and 2.1, Hiera tiny / small / base+ / large. The yaml config of each size
   (sam2/configs/sam2{,.1}/sam2{,.1}_hiera_{t,s,b+,l}.yaml) is recovered from key names and shapes; what
   shapes cannot tell (heads, global-attention blocks, window sizes) comes from the table of published
   sizes, matched on (embed_dim, blocks per stage).
   Metadata written (read by src/models/sam2.c):
     variant                       "sam2.1_hiera_tiny", "sam2_hiera_large", ...
     sam2.version                  "2.0" or "2.1" (2.1 has no_obj_embed_spatial and obj_ptr_tpos_proj)
     num_classes                   0 (promptable: no classes); dataset "sa-v"
     input.mean, input.std         float[3], 0-1 scale (pixel / 255 first), RGB (SAM2Transforms)
     sam2.embed_dim, sam2.num_heads, sam2.stages[4], sam2.global_att_blocks[n], sam2.window_spec[4],
     sam2.window_pos_embed_bkg_spatial_size[2], sam2.q_pool          Hiera trunk
     sam2.d_model, sam2.scalp, sam2.fpn_top_down_levels[n]            FpnNeck / ImageEncoder
     sam2.image_size, sam2.backbone_stride, sam2.mask_in_chans         SAM2Base / PromptEncoder
     sam2.decoder.{depth,num_heads,mlp_dim,attention_downsample_rate}  TwoWayTransformer
     sam2.iou_head_depth, sam2.iou_prediction_use_sigmoid, sam2.pred_obj_scores, sam2.pred_obj_scores_mlp,
     sam2.use_high_res_features_in_sam, sam2.directly_add_no_mem_embed, sam2.use_multimask_token_for_obj_ptr,
     sam2.no_obj_embed_spatial, sam2.proj_tpos_enc_in_obj_ptrs          flags (0/1) of the configs
     sam2.dynamic_multimask_via_stability, ..._stability_delta, ..._stability_thresh   build_sam2's
                                   hydra overrides for inference (1, 0.05, 0.98)
   Every tensor is kept (the video predictor will read memory_attention / memory_encoder). */
#include <stdio.h>
#include <string.h>

#include "arch.h"
#include "core/status.h"

#define SAM2_STAGES 4
#define SAM2_MAX_BLOCKS 64
#define SAM2_D_MODEL 256

typedef struct sam2_size {
    const char *name;
    int embed_dim, num_heads;
    int stages[SAM2_STAGES];
    int global_att_blocks[3];
    int window_spec[SAM2_STAGES];
} sam2_size;

/* The four published sizes (identical trunk hyper-parameters in 2.0 and 2.1). */
static const sam2_size sam2_sizes[] = {
    {"tiny", 96, 1, {1, 2, 7, 2}, {5, 7, 9}, {8, 4, 14, 7}},
    {"small", 96, 1, {1, 2, 11, 2}, {7, 10, 13}, {8, 4, 14, 7}},
    {"base_plus", 112, 2, {2, 3, 16, 3}, {12, 16, 20}, {8, 4, 14, 7}},
    {"large", 144, 2, {2, 6, 36, 4}, {23, 33, 43}, {8, 4, 16, 8}},
};

#define TRUNK "image_encoder.trunk."
#define DEC "sam_mask_decoder."
#define PE "sam_prompt_encoder."

static int sam2_detect(const convert_source *s) {
    return convert_find(s, TRUNK "patch_embed.proj.weight") && convert_find(s, TRUNK "pos_embed_window") &&
           convert_find(s, DEC "iou_token.weight") && convert_find(s, PE "no_mask_embed.weight");
}

static segc_status expect1(const convert_source *s, const char *name, int64_t d0) {
    return convert_expect(s, name, 1, &d0);
}

static segc_status expect2(const convert_source *s, const char *name, int64_t d0, int64_t d1) {
    const int64_t sh[2] = {d0, d1};
    return convert_expect(s, name, 2, sh);
}

/* `prefix`.weight [o, i] and .bias [o]. */
static segc_status expect_linear(const convert_source *s, const char *prefix, int64_t o, int64_t i) {
    char name[256];
    snprintf(name, sizeof name, "%s.weight", prefix);
    segc_status st = expect2(s, name, o, i);
    if (st) return st;
    snprintf(name, sizeof name, "%s.bias", prefix);
    return expect1(s, name, o);
}

/* `prefix`.weight [o, i, k, k] and .bias [o]. */
static segc_status expect_conv(const convert_source *s, const char *prefix, int64_t o, int64_t i, int64_t k) {
    char name[256];
    const int64_t sh[4] = {o, i, k, k};
    snprintf(name, sizeof name, "%s.weight", prefix);
    segc_status st = convert_expect(s, name, 4, sh);
    if (st) return st;
    snprintf(name, sizeof name, "%s.bias", prefix);
    return expect1(s, name, o);
}

/* sam2_utils.MLP: `prefix`.layers.{0..n-1} linears in -> hidden ... -> out. */
static segc_status expect_mlp(const convert_source *s, const char *prefix, int n, int64_t in, int64_t hidden,
                              int64_t out) {
    char p[192];
    segc_status st = SEGC_OK;
    for (int i = 0; i < n && !st; i++) {
        snprintf(p, sizeof p, "%s.layers.%d", prefix, i);
        st = expect_linear(s, p, i == n - 1 ? out : hidden, i == 0 ? in : hidden);
    }
    return st;
}

/* Trunk: blocks per stage from the dims, then every block tensor. */
static segc_status read_trunk(const convert_source *s, int *embed_dim, int stages[SAM2_STAGES], int *nblocks) {
    char name[256];
    *embed_dim = (int)convert_dim(s, TRUNK "patch_embed.proj.weight", 0);
    if (*embed_dim < 1) return segc_fail(SEGC_ERR_FORMAT, "sam2: bad patch_embed.proj.weight");
    int n = 0;
    for (; n <= SAM2_MAX_BLOCKS; n++) {
        snprintf(name, sizeof name, TRUNK "blocks.%d.norm1.weight", n);
        if (!convert_find(s, name)) break;
    }
    if (n < SAM2_STAGES || n > SAM2_MAX_BLOCKS) return segc_fail(SEGC_ERR_FORMAT, "sam2: %d Hiera blocks", n);
    memset(stages, 0, sizeof(int) * SAM2_STAGES);
    int stage = 0;
    int64_t dim = *embed_dim;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, TRUNK "blocks.%d.proj.weight", i);
        int64_t dim_out = dim;
        if (convert_find(s, name)) {   /* first block of a new stage: dim doubles */
            if (++stage >= SAM2_STAGES) return segc_fail(SEGC_ERR_FORMAT, "sam2: more than 4 Hiera stages");
            dim_out = 2 * dim;
            if (i == 0) return segc_fail(SEGC_ERR_FORMAT, "sam2: block 0 changes the dim");
            snprintf(name, sizeof name, TRUNK "blocks.%d.proj", i);
            segc_status st = expect_linear(s, name, dim_out, dim);
            if (st) return st;
        }
        stages[stage]++;
        char p[160];
        segc_status st;
        snprintf(p, sizeof p, TRUNK "blocks.%d.norm1.weight", i);
        if ((st = expect1(s, p, dim))) return st;
        snprintf(p, sizeof p, TRUNK "blocks.%d.norm1.bias", i);
        if ((st = expect1(s, p, dim))) return st;
        snprintf(p, sizeof p, TRUNK "blocks.%d.attn.qkv", i);
        if ((st = expect_linear(s, p, 3 * dim_out, dim))) return st;
        snprintf(p, sizeof p, TRUNK "blocks.%d.attn.proj", i);
        if ((st = expect_linear(s, p, dim_out, dim_out))) return st;
        snprintf(p, sizeof p, TRUNK "blocks.%d.norm2.weight", i);
        if ((st = expect1(s, p, dim_out))) return st;
        snprintf(p, sizeof p, TRUNK "blocks.%d.norm2.bias", i);
        if ((st = expect1(s, p, dim_out))) return st;
        snprintf(p, sizeof p, TRUNK "blocks.%d.mlp", i);
        if ((st = expect_mlp(s, p, 2, dim_out, 4 * dim_out, dim_out))) return st;
        dim = dim_out;
    }
    if (stage != SAM2_STAGES - 1) return segc_fail(SEGC_ERR_FORMAT, "sam2: %d Hiera stages, expected 4", stage + 1);
    *nblocks = n;
    return SEGC_OK;
}

/* Prompt encoder and mask decoder tensors; returns the decoder's hyper-parameters found in the shapes. */
static segc_status check_heads(const convert_source *s, int *depth, int64_t *mlp_dim, int64_t *downsample,
                               int *obj_scores, int *obj_mlp) {
    const int64_t D = SAM2_D_MODEL;
    char p[192];
    segc_status st;
    int64_t mic = convert_dim(s, PE "mask_downscaling.3.weight", 0);
    if (mic < 4 || mic % 4) return segc_fail(SEGC_ERR_FORMAT, "sam2: bad mask_downscaling.3.weight");
    if ((st = expect2(s, PE "pe_layer.positional_encoding_gaussian_matrix", 2, D / 2)) ||
        (st = expect2(s, PE "not_a_point_embed.weight", 1, D)) || (st = expect2(s, PE "no_mask_embed.weight", 1, D)) ||
        (st = expect_conv(s, PE "mask_downscaling.0", mic / 4, 1, 2)) ||
        (st = expect1(s, PE "mask_downscaling.1.weight", mic / 4)) ||
        (st = expect1(s, PE "mask_downscaling.1.bias", mic / 4)) ||
        (st = expect_conv(s, PE "mask_downscaling.3", mic, mic / 4, 2)) ||
        (st = expect1(s, PE "mask_downscaling.4.weight", mic)) || (st = expect1(s, PE "mask_downscaling.4.bias", mic)) ||
        (st = expect_conv(s, PE "mask_downscaling.6", D, mic, 1)))
        return st;
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, PE "point_embeddings.%d.weight", i);
        if ((st = expect2(s, p, 1, D))) return st;
    }
    *depth = 0;
    for (; *depth < 8; (*depth)++) {
        snprintf(p, sizeof p, DEC "transformer.layers.%d.norm1.weight", *depth);
        if (!convert_find(s, p)) break;
    }
    *mlp_dim = convert_dim(s, DEC "transformer.layers.0.mlp.layers.0.weight", 0);
    const int64_t internal = convert_dim(s, DEC "transformer.final_attn_token_to_image.q_proj.weight", 0);
    if (*depth < 1 || *depth > 4 || *mlp_dim < 1 || internal < 1 || D % internal)
        return segc_fail(SEGC_ERR_FORMAT, "sam2: unexpected two-way transformer (depth %d)", *depth);
    *downsample = D / internal;
    for (int l = 0; l < *depth; l++) {
        static const char *const attn[3] = {"self_attn", "cross_attn_token_to_image", "cross_attn_image_to_token"};
        for (int a = 0; a < 3; a++) {
            const int64_t in = a == 0 ? D : internal;
            static const char *const proj[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
            for (int k = 0; k < 4; k++) {
                snprintf(p, sizeof p, DEC "transformer.layers.%d.%s.%s", l, attn[a], proj[k]);
                if ((st = k < 3 ? expect_linear(s, p, in, D) : expect_linear(s, p, D, in))) return st;
            }
        }
        for (int n = 1; n <= 4; n++) {
            snprintf(p, sizeof p, DEC "transformer.layers.%d.norm%d.weight", l, n);
            if ((st = expect1(s, p, D))) return st;
            snprintf(p, sizeof p, DEC "transformer.layers.%d.norm%d.bias", l, n);
            if ((st = expect1(s, p, D))) return st;
        }
        snprintf(p, sizeof p, DEC "transformer.layers.%d.mlp", l);
        if ((st = expect_mlp(s, p, 2, D, *mlp_dim, D))) return st;
    }
    static const char *const proj[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof p, DEC "transformer.final_attn_token_to_image.%s", proj[k]);
        if ((st = k < 3 ? expect_linear(s, p, internal, D) : expect_linear(s, p, D, internal))) return st;
    }
    if ((st = expect1(s, DEC "transformer.norm_final_attn.weight", D)) ||
        (st = expect1(s, DEC "transformer.norm_final_attn.bias", D)) || (st = expect2(s, DEC "iou_token.weight", 1, D)) ||
        (st = expect2(s, DEC "mask_tokens.weight", 4, D)))
        return st;
    const int64_t u0[4] = {D, D / 4, 2, 2}, u3[4] = {D / 4, D / 8, 2, 2};
    if ((st = convert_expect(s, DEC "output_upscaling.0.weight", 4, u0)) ||
        (st = expect1(s, DEC "output_upscaling.0.bias", D / 4)) ||
        (st = expect1(s, DEC "output_upscaling.1.weight", D / 4)) ||
        (st = expect1(s, DEC "output_upscaling.1.bias", D / 4)) ||
        (st = convert_expect(s, DEC "output_upscaling.3.weight", 4, u3)) ||
        (st = expect1(s, DEC "output_upscaling.3.bias", D / 8)) || (st = expect_conv(s, DEC "conv_s0", D / 8, D, 1)) ||
        (st = expect_conv(s, DEC "conv_s1", D / 4, D, 1)) ||
        (st = expect_mlp(s, DEC "iou_prediction_head", 3, D, 256, 4)))
        return st;
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, DEC "output_hypernetworks_mlps.%d", i);
        if ((st = expect_mlp(s, p, 3, D, D, D / 8))) return st;
    }
    *obj_scores = convert_find(s, DEC "obj_score_token.weight") != NULL;
    *obj_mlp = convert_find(s, DEC "pred_obj_score_head.layers.0.weight") != NULL;
    if (*obj_scores) {
        if ((st = expect2(s, DEC "obj_score_token.weight", 1, D))) return st;
        st = *obj_mlp ? expect_mlp(s, DEC "pred_obj_score_head", 3, D, D, 1)
                      : expect_linear(s, DEC "pred_obj_score_head", 1, D);
        if (st) return st;
    }
    const int64_t nm[3] = {1, 1, D};
    return convert_expect(s, "no_mem_embed", 3, nm);
}

/* The published size with this embed dim and these blocks per stage, or NULL. */
static const sam2_size *find_size(int embed_dim, const int stages[SAM2_STAGES]) {
    for (size_t i = 0; i < sizeof sam2_sizes / sizeof sam2_sizes[0]; i++)
        if (sam2_sizes[i].embed_dim == embed_dim && !memcmp(sam2_sizes[i].stages, stages, sizeof(int) * SAM2_STAGES))
            return &sam2_sizes[i];
    return NULL;
}

static segc_status add_ints(segc_file_writer *w, const char *key, const int *v, int n) {
    int64_t t[SAM2_STAGES];
    for (int i = 0; i < n; i++) t[i] = v[i];
    return segc_file_writer_add_ints(w, key, t, n);
}

static segc_status sam2_describe(const convert_source *s, const segc_convert_options *o, segc_file_writer *w) {
    (void)o;
    int embed_dim, stages[SAM2_STAGES], nblocks;
    segc_status st = read_trunk(s, &embed_dim, stages, &nblocks);
    if (st) return st;
    const sam2_size *size = find_size(embed_dim, stages);
    if (!size)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "sam2: Hiera with embed dim %d and stages [%d, %d, %d, %d] is not a "
                         "published size (tiny, small, base_plus, large)", embed_dim, stages[0], stages[1],
                         stages[2], stages[3]);
    const int64_t bkg_h = convert_dim(s, TRUNK "pos_embed", 2), bkg_w = convert_dim(s, TRUNK "pos_embed", 3);
    const int64_t pe[4] = {1, embed_dim, bkg_h, bkg_w}, pw[4] = {1, embed_dim, size->window_spec[0],
                                                                 size->window_spec[0]};
    if ((st = convert_expect(s, TRUNK "pos_embed", 4, pe)) ||
        (st = convert_expect(s, TRUNK "pos_embed_window", 4, pw)) ||
        (st = expect_conv(s, TRUNK "patch_embed.proj", embed_dim, 3, 7)))
        return st;
    /* neck: convs.{i} maps stage 4 - i to d_model */
    for (int i = 0; i < SAM2_STAGES; i++) {
        char p[96];
        snprintf(p, sizeof p, "image_encoder.neck.convs.%d.conv", i);
        if ((st = expect_conv(s, p, SAM2_D_MODEL, (int64_t)embed_dim << (SAM2_STAGES - 1 - i), 1))) return st;
    }
    int depth = 0, obj_scores = 0, obj_mlp = 0;
    int64_t mlp_dim = 0, downsample = 0;
    if ((st = check_heads(s, &depth, &mlp_dim, &downsample, &obj_scores, &obj_mlp))) return st;
    const int v21 = convert_find(s, "no_obj_embed_spatial") != NULL;
    const int tpos_proj = convert_find(s, "obj_ptr_tpos_proj.weight") != NULL;
    char variant[64];
    snprintf(variant, sizeof variant, "%s_hiera_%s", v21 ? "sam2.1" : "sam2", size->name);
    static const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
    static const int64_t top_down[2] = {2, 3};
    const int64_t bkg[2] = {bkg_h, bkg_w};
    const int64_t glob[3] = {size->global_att_blocks[0], size->global_att_blocks[1], size->global_att_blocks[2]};
    if ((st = segc_file_writer_add_str(w, "variant", variant)) ||
        (st = segc_file_writer_add_str(w, "sam2.version", v21 ? "2.1" : "2.0")) ||
        (st = segc_file_writer_add_int(w, "num_classes", 0)) || (st = segc_file_writer_add_str(w, "dataset", "sa-v")) ||
        (st = segc_file_writer_add_floats(w, "input.mean", mean, 3)) ||
        (st = segc_file_writer_add_floats(w, "input.std", std, 3)) ||
        (st = segc_file_writer_add_int(w, "sam2.embed_dim", embed_dim)) ||
        (st = segc_file_writer_add_int(w, "sam2.num_heads", size->num_heads)) ||
        (st = add_ints(w, "sam2.stages", stages, SAM2_STAGES)) ||
        (st = segc_file_writer_add_ints(w, "sam2.global_att_blocks", glob, 3)) ||
        (st = add_ints(w, "sam2.window_spec", size->window_spec, SAM2_STAGES)) ||
        (st = segc_file_writer_add_ints(w, "sam2.window_pos_embed_bkg_spatial_size", bkg, 2)) ||
        (st = segc_file_writer_add_int(w, "sam2.q_pool", 3)) ||
        (st = segc_file_writer_add_int(w, "sam2.d_model", SAM2_D_MODEL)) ||
        (st = segc_file_writer_add_int(w, "sam2.scalp", 1)) ||
        (st = segc_file_writer_add_ints(w, "sam2.fpn_top_down_levels", top_down, 2)) ||
        (st = segc_file_writer_add_int(w, "sam2.image_size", 1024)) ||
        (st = segc_file_writer_add_int(w, "sam2.backbone_stride", 16)) ||
        (st = segc_file_writer_add_int(w, "sam2.mask_in_chans", convert_dim(s, PE "mask_downscaling.3.weight", 0))) ||
        (st = segc_file_writer_add_int(w, "sam2.decoder.depth", depth)) ||
        (st = segc_file_writer_add_int(w, "sam2.decoder.num_heads", 8)) ||
        (st = segc_file_writer_add_int(w, "sam2.decoder.mlp_dim", mlp_dim)) ||
        (st = segc_file_writer_add_int(w, "sam2.decoder.attention_downsample_rate", downsample)) ||
        (st = segc_file_writer_add_int(w, "sam2.iou_head_depth", 3)) ||
        (st = segc_file_writer_add_int(w, "sam2.iou_prediction_use_sigmoid", 1)) ||
        (st = segc_file_writer_add_int(w, "sam2.pred_obj_scores", obj_scores)) ||
        (st = segc_file_writer_add_int(w, "sam2.pred_obj_scores_mlp", obj_mlp)) ||
        (st = segc_file_writer_add_int(w, "sam2.use_high_res_features_in_sam", 1)) ||
        (st = segc_file_writer_add_int(w, "sam2.directly_add_no_mem_embed", 1)) ||
        (st = segc_file_writer_add_int(w, "sam2.use_multimask_token_for_obj_ptr", 1)) ||
        (st = segc_file_writer_add_int(w, "sam2.no_obj_embed_spatial", v21)) ||
        (st = segc_file_writer_add_int(w, "sam2.proj_tpos_enc_in_obj_ptrs", tpos_proj)) ||
        (st = segc_file_writer_add_int(w, "sam2.dynamic_multimask_via_stability", 1)) ||
        (st = segc_file_writer_add_float(w, "sam2.dynamic_multimask_stability_delta", 0.05)) ||
        (st = segc_file_writer_add_float(w, "sam2.dynamic_multimask_stability_thresh", 0.98)))
        return st;
    (void)nblocks;
    return SEGC_OK;
}

const convert_arch convert_arch_sam2 = {
    .name = "sam2",
    .summary = "facebookresearch/sam2 SAM 2 / 2.1 checkpoints (Hiera tiny, small, base+, large)",
    .detect = sam2_detect,
    .describe = sam2_describe,
    .keep = NULL,
};
