/* sam2_amg_regions.c - small connected regions of masks, two ways: remove_small_regions of
   sam2/utils/amg.py (cv2.connectedComponentsWithStats(mask, 8) on a full-size binary mask; holes filled /
   islands removed by area), and the hole/sprinkle filling of SAM2Transforms.postprocess_masks on low-res
   logits (sam2/utils/misc.py get_connected_components, 8-connectivity, the CUDA kernel's areas).
   Components are numbered 1.. in raster order of their first pixel (OpenCV's block-based scan may number
   them otherwise; that only matters when "keep the largest" of all-small islands meets two islands of
   exactly the same area).
   Fast path: two-pass union-find. Reference: breadth-first flood fill. */
#include <stdint.h>
#include <string.h>

#include "core/status.h"
#include "models/sam2_amg.h"

/* Root of a union-find tree, halving the path on the way. */
static int32_t uf_find(int32_t *parent, int32_t x) {
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

static void uf_union(int32_t *parent, int32_t a, int32_t b) {
    a = uf_find(parent, a), b = uf_find(parent, b);
    if (a < b) parent[b] = a;
    else if (b < a) parent[a] = b;
}

/* labels[h*w]: 0 for background, 1..*n for the 8-connected components of fg (nonzero). */
static segc_status label_union_find(segc_arena *a, const uint8_t *fg, int w, int h, int32_t *labels, int32_t *n) {
    const int64_t N = (int64_t)w * h;
    int32_t *parent = segc_arena_alloc_array(a, (size_t)N + 1, sizeof(int32_t));
    if (!parent) return SEGC_ERR_NOMEM;
    int32_t next = 1;
    parent[0] = 0;
    /* pass 1: provisional labels from the already visited neighbours (W, NW, N, NE) */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const int64_t i = (int64_t)y * w + x;
            if (!fg[i]) {
                labels[i] = 0;
                continue;
            }
            int32_t l = 0;
            const int nb[4][2] = {{-1, 0}, {-1, -1}, {0, -1}, {1, -1}};
            for (int k = 0; k < 4; k++) {
                const int xx = x + nb[k][0], yy = y + nb[k][1];
                if (xx < 0 || xx >= w || yy < 0) continue;
                const int32_t m = labels[(int64_t)yy * w + xx];
                if (!m) continue;
                if (!l) l = m;
                else if (m != l) uf_union(parent, l, m);
            }
            if (!l) {
                l = next++;
                parent[l] = l;
            }
            labels[i] = l;
        }
    /* pass 2: final numbers in raster order of each component's first pixel */
    int32_t *final = segc_arena_alloc_array(a, (size_t)next, sizeof(int32_t));
    if (!final) return SEGC_ERR_NOMEM;
    memset(final, 0, (size_t)next * sizeof(int32_t));
    int32_t count = 0;
    for (int64_t i = 0; i < N; i++) {
        if (!labels[i]) continue;
        const int32_t root = uf_find(parent, labels[i]);
        if (!final[root]) final[root] = ++count;
        labels[i] = final[root];
    }
    *n = count;
    return SEGC_OK;
}

/* Same labels by flood fill from each unlabelled pixel in raster order. */
static segc_status label_flood(segc_arena *a, const uint8_t *fg, int w, int h, int32_t *labels, int32_t *n) {
    const int64_t N = (int64_t)w * h;
    int64_t *queue = segc_arena_alloc_array(a, (size_t)(N > 0 ? N : 1), sizeof(int64_t));
    if (!queue) return SEGC_ERR_NOMEM;
    memset(labels, 0, (size_t)N * sizeof(int32_t));
    int32_t count = 0;
    for (int64_t s = 0; s < N; s++) {
        if (!fg[s] || labels[s]) continue;
        labels[s] = ++count;
        int64_t head = 0, tail = 0;
        queue[tail++] = s;
        while (head < tail) {
            const int64_t i = queue[head++];
            const int x = (int)(i % w), y = (int)(i / w);
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    const int xx = x + dx, yy = y + dy;
                    if (xx < 0 || xx >= w || yy < 0 || yy >= h) continue;
                    const int64_t j = (int64_t)yy * w + xx;
                    if (fg[j] && !labels[j]) {
                        labels[j] = count;
                        queue[tail++] = j;
                    }
                }
        }
    }
    *n = count;
    return SEGC_OK;
}

typedef segc_status (*labeler_fn)(segc_arena *, const uint8_t *, int, int, int32_t *, int32_t *);

/* The rule of remove_small_regions on top of a labeling. */
static segc_status remove_small(labeler_fn label, segc_arena *a, uint8_t *mask, int w, int h, double area_thresh,
                                int mode, int *changed) {
    if (!a || !mask || !changed || w < 0 || h < 0 || (mode != SEGC_AMG_HOLES && mode != SEGC_AMG_ISLANDS))
        return segc_fail(SEGC_ERR_INVALID_ARG, "remove_small_regions: bad arguments");
    *changed = 0;
    const int64_t N = (int64_t)w * h;
    if (N == 0) return SEGC_OK;
    if (N >= INT32_MAX) return segc_fail(SEGC_ERR_INVALID_ARG, "remove_small_regions: mask too large");
    segc_arena_mark mark = segc_arena_get_mark(a);
    segc_status st = SEGC_OK;
    const int holes = mode == SEGC_AMG_HOLES;
    uint8_t *work = segc_arena_alloc(a, (size_t)N);   /* correct_holes ^ mask */
    int32_t *labels = segc_arena_alloc_array(a, (size_t)N, sizeof(int32_t));
    if (!work || !labels) {
        st = SEGC_ERR_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < N; i++) work[i] = (uint8_t)(holes ^ (mask[i] != 0));
    int32_t n = 0;
    if ((st = label(a, work, w, h, labels, &n)) != SEGC_OK) goto done;
    int64_t *sizes = segc_arena_alloc_array(a, (size_t)n + 1, sizeof(int64_t));
    uint8_t *fill = segc_arena_alloc(a, (size_t)n + 1);   /* fill_labels as a set */
    if (!sizes || !fill) {
        st = SEGC_ERR_NOMEM;
        goto done;
    }
    memset(sizes, 0, ((size_t)n + 1) * sizeof(int64_t));
    for (int64_t i = 0; i < N; i++) sizes[labels[i]]++;
    int nsmall = 0, largest = 1;
    for (int32_t l = 1; l <= n; l++) {
        nsmall += sizes[l] < area_thresh;
        if (sizes[l] > sizes[largest]) largest = l;   /* np.argmax: first maximum */
    }
    if (nsmall == 0) goto done;
    int nfill = 0;
    for (int32_t l = 0; l <= n; l++) {
        const int small = l == 0 || sizes[l] < area_thresh;   /* [0] + small_regions */
        fill[l] = (uint8_t)(holes ? small : !small);
        nfill += fill[l];
    }
    if (!holes && nfill == 0) fill[largest] = 1;   /* every region is below threshold: keep the largest */
    for (int64_t i = 0; i < N; i++) mask[i] = fill[labels[i]];
    *changed = 1;
done:
    segc_arena_release(a, mark);
    return st;
}

segc_status segc_amg_remove_small_regions(segc_arena *scratch, uint8_t *mask, int w, int h, double area_thresh,
                                          int mode, int *changed) {
    return remove_small(label_union_find, scratch, mask, w, h, area_thresh, mode, changed);
}

segc_status segc_amg_remove_small_regions_reference(segc_arena *scratch, uint8_t *mask, int w, int h,
                                                    double area_thresh, int mode, int *changed) {
    return remove_small(label_flood, scratch, mask, w, h, area_thresh, mode, changed);
}

/* SAM2Transforms.postprocess_masks on one low-res mask: both component sets come from the original mask. */
static segc_status fill_small(labeler_fn label, segc_arena *a, const float *logits, int w, int h, float thr,
                              double max_hole_area, double max_sprinkle_area, float *delta, int *changed) {
    if (!a || !logits || !delta || !changed || w < 0 || h < 0)
        return segc_fail(SEGC_ERR_INVALID_ARG, "fill_holes_and_sprinkles: bad arguments");
    *changed = 0;
    const int64_t N = (int64_t)w * h;
    memset(delta, 0, (size_t)N * sizeof(float));
    if (N == 0) return SEGC_OK;
    if (N >= INT32_MAX) return segc_fail(SEGC_ERR_INVALID_ARG, "fill_holes_and_sprinkles: mask too large");
    segc_arena_mark mark = segc_arena_get_mark(a);
    segc_status st = SEGC_OK;
    uint8_t *work = segc_arena_alloc(a, (size_t)N);
    int32_t *labels = segc_arena_alloc_array(a, (size_t)N, sizeof(int32_t));
    if (!work || !labels) {
        st = SEGC_ERR_NOMEM;
        goto done;
    }
    for (int holes = 1; holes >= 0; holes--) {
        const double max_area = holes ? max_hole_area : max_sprinkle_area;
        if (!(max_area > 0)) continue;
        /* holes: components of logits <= thr get thr + 10; sprinkles: of logits > thr get thr - 10 */
        for (int64_t i = 0; i < N; i++) work[i] = holes ? logits[i] <= thr : logits[i] > thr;
        int32_t n = 0;
        segc_arena_mark inner = segc_arena_get_mark(a);
        if ((st = label(a, work, w, h, labels, &n)) != SEGC_OK) goto done;
        int64_t *sizes = segc_arena_alloc_array(a, (size_t)n + 1, sizeof(int64_t));
        if (!sizes) {
            st = SEGC_ERR_NOMEM;
            goto done;
        }
        memset(sizes, 0, ((size_t)n + 1) * sizeof(int64_t));
        for (int64_t i = 0; i < N; i++) sizes[labels[i]]++;
        const float target = holes ? thr + 10.0f : thr - 10.0f;
        for (int64_t i = 0; i < N; i++)
            if (labels[i] > 0 && sizes[labels[i]] <= max_area) {
                delta[i] = target - logits[i];
                *changed = 1;
            }
        segc_arena_release(a, inner);
    }
done:
    segc_arena_release(a, mark);
    return st;
}

segc_status segc_amg_fill_holes_and_sprinkles(segc_arena *scratch, const float *logits, int w, int h, float thr,
                                              double max_hole_area, double max_sprinkle_area, float *delta,
                                              int *changed) {
    return fill_small(label_union_find, scratch, logits, w, h, thr, max_hole_area, max_sprinkle_area, delta, changed);
}

segc_status segc_amg_fill_holes_and_sprinkles_reference(segc_arena *scratch, const float *logits, int w, int h,
                                                        float thr, double max_hole_area, double max_sprinkle_area,
                                                        float *delta, int *changed) {
    return fill_small(label_flood, scratch, logits, w, h, thr, max_hole_area, max_sprinkle_area, delta, changed);
}
