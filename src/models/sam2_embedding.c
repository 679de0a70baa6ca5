/* sam2_embedding.c - SAM 2 embedding files: what SAM2ImagePredictor.set_image keeps (image embedding,
   high-res features, original size) written as a small .segc file with the identity of the model that
   computed it, and read back, so prompts on a known image skip the encoder.
   File: arch "sam2_embedding", "sam2_embedding.version" 1, "variant" and "sam2_embedding.source_sha256"
   of the model, "sam2_embedding.orig_size" [h, w]; float32 tensors "image_embed" [1, D, E, E],
   "high_res_feats.0" [1, D/8, 4E, 4E], "high_res_feats.1" [1, D/4, 2E, 2E].
   Not here: checking the identity against a model (segc_sam2_predict does). */
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "models/sam2.h"
#include "segc.h"

#define EMB_ARCH "sam2_embedding"
#define EMB_VERSION 1
#define EMB_MAX_SIDE 100000   /* bound on orig_size: larger is a corrupt file */

static const char *const emb_names[3] = {"image_embed", "high_res_feats.0", "high_res_feats.1"};

/* The three maps of `emb` in file order. */
static void emb_maps(const segc_sam2_embedding *emb, const segc_tensor *maps[3]) {
    maps[0] = &emb->image_embed;
    maps[1] = &emb->high_res[0];
    maps[2] = &emb->high_res[1];
}

/* Shapes of the maps for D channels and an E x E embedding. */
static void expected_shapes(int64_t D, int64_t E, int64_t shapes[3][4]) {
    const int64_t want[3][4] = {{1, D, E, E}, {1, D / 8, 4 * E, 4 * E}, {1, D / 4, 2 * E, 2 * E}};
    memcpy(shapes, want, sizeof want);
}

/* Nonzero if the three maps have the shapes of one consistent embedding (D divisible by 8). */
static int maps_consistent(const segc_tensor *maps[3]) {
    const segc_tensor *e = maps[0];
    if (e->ndim != 4 || e->shape[0] != 1 || e->shape[1] < 8 || e->shape[1] % 8 || e->shape[2] < 1 ||
        e->shape[2] != e->shape[3])
        return 0;
    int64_t shapes[3][4];
    expected_shapes(e->shape[1], e->shape[2], shapes);
    for (int i = 0; i < 3; i++)
        if (maps[i]->dtype != SEGC_F32 || !segc_tensor_has_shape(maps[i], 4, shapes[i])) return 0;
    return 1;
}

segc_status segc_sam2_embedding_save(const char *path, const segc_sam2_embedding *emb) {
    if (!path || !emb) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2_embedding_save: NULL argument");
    const segc_tensor *maps[3];
    emb_maps(emb, maps);
    for (int i = 0; i < 3; i++)
        if (!maps[i]->data || !segc_tensor_is_contiguous(maps[i]))
            return segc_fail(SEGC_ERR_INVALID_ARG, "sam2_embedding_save: %s is missing (encode the image first)",
                             emb_names[i]);
    if (!maps_consistent(maps) || emb->orig_h < 1 || emb->orig_w < 1)
        return segc_fail(SEGC_ERR_INVALID_ARG, "sam2_embedding_save: not an embedding from segc_sam2_encode");
    segc_file_writer *w = NULL;
    segc_status st = segc_file_writer_create(&w);
    if (st != SEGC_OK) return st;
    const int64_t size[2] = {emb->orig_h, emb->orig_w};
    if ((st = segc_file_writer_add_str(w, "arch", EMB_ARCH)) ||
        (st = segc_file_writer_add_int(w, "sam2_embedding.version", EMB_VERSION)) ||
        (st = segc_file_writer_add_str(w, "variant", emb->model_variant)) ||
        (st = segc_file_writer_add_str(w, "sam2_embedding.source_sha256", emb->model_sha256)) ||
        (st = segc_file_writer_add_ints(w, "sam2_embedding.orig_size", size, 2)))
        goto done;
    for (int i = 0; i < 3 && st == SEGC_OK; i++)
        st = segc_file_writer_add_tensor(w, emb_names[i], SEGC_F32, 4, maps[i]->shape, maps[i]->data);
    if (st == SEGC_OK) st = segc_file_writer_write(w, path, NULL, NULL);
done:
    segc_file_writer_free(w);
    return st;
}

/* Copies a metadata string of `f` into dst[size]; SEGC_ERR_FORMAT if absent or too long. */
static segc_status copy_str(const segc_file *f, const char *key, char *dst, size_t size) {
    const char *s = NULL;
    segc_status st = segc_file_get_str(f, key, &s);
    if (st != SEGC_OK) return segc_fail(SEGC_ERR_FORMAT, "sam2 embedding file: missing %s", key);
    if (strlen(s) >= size) return segc_fail(SEGC_ERR_FORMAT, "sam2 embedding file: %s is too long", key);
    memcpy(dst, s, strlen(s) + 1);
    return SEGC_OK;
}

/* Reads an open embedding file into arena tensors. */
static segc_status read_file(const segc_file *f, segc_arena *arena, segc_sam2_embedding *emb) {
    const char *arch = NULL;
    if (segc_file_get_str(f, "arch", &arch) != SEGC_OK || strcmp(arch, EMB_ARCH))
        return segc_fail(SEGC_ERR_FORMAT, "%s is not a SAM 2 embedding file (arch %s)", segc_file_path(f),
                         arch ? arch : "missing");
    int64_t version = 0, size[2];
    segc_status st;
    if (segc_file_get_int(f, "sam2_embedding.version", &version) != SEGC_OK || version != EMB_VERSION)
        return segc_fail(SEGC_ERR_FORMAT, "sam2 embedding file: version %lld (this build reads %d)",
                         (long long)version, EMB_VERSION);
    if ((st = segc_file_get_ints(f, "sam2_embedding.orig_size", size, 2)) != SEGC_OK)
        return segc_fail_context(st, "sam2 embedding file");
    if (size[0] < 1 || size[1] < 1 || size[0] > EMB_MAX_SIDE || size[1] > EMB_MAX_SIDE)
        return segc_fail(SEGC_ERR_FORMAT, "sam2 embedding file: bad original size %lldx%lld", (long long)size[1],
                         (long long)size[0]);
    if ((st = copy_str(f, "variant", emb->model_variant, sizeof emb->model_variant)) ||
        (st = copy_str(f, "sam2_embedding.source_sha256", emb->model_sha256, sizeof emb->model_sha256)))
        return st;
    segc_tensor views[3];
    const segc_tensor *maps[3] = {&views[0], &views[1], &views[2]};
    for (int i = 0; i < 3; i++)
        if ((st = segc_file_tensor_view(f, emb_names[i], &views[i])) != SEGC_OK)
            return segc_fail_context(st, "sam2 embedding file");
    if (!maps_consistent(maps))
        return segc_fail(SEGC_ERR_SHAPE, "sam2 embedding file: the maps are not float32 [1,D,E,E], [1,D/8,4E,4E], "
                         "[1,D/4,2E,2E]");
    segc_tensor *dst[3] = {&emb->image_embed, &emb->high_res[0], &emb->high_res[1]};
    for (int i = 0; i < 3; i++) {
        if ((st = segc_tensor_new(arena, SEGC_F32, 4, views[i].shape, dst[i])) != SEGC_OK) return st;
        memcpy(dst[i]->data, views[i].data, (size_t)segc_tensor_numel(&views[i]) * sizeof(float));
    }
    emb->orig_h = (int)size[0];
    emb->orig_w = (int)size[1];
    return SEGC_OK;
}

segc_status segc_sam2_embedding_load(const char *path, segc_arena *arena, segc_sam2_embedding *emb) {
    if (!path || !arena || !emb) return segc_fail(SEGC_ERR_INVALID_ARG, "sam2_embedding_load: NULL argument");
    memset(emb, 0, sizeof *emb);
    segc_file *f = NULL;
    segc_status st = segc_file_open(path, &f);
    if (st != SEGC_OK) return st;
    segc_arena_mark mark = segc_arena_get_mark(arena);
    st = read_file(f, arena, emb);
    segc_file_close(f);
    if (st != SEGC_OK) {
        segc_arena_release(arena, mark);
        memset(emb, 0, sizeof *emb);
    }
    return st;
}
