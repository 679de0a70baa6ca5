/* nms.c - greedy non-maximum suppression, batched by class, and box helpers (see nms.h).
   Fast path: one stable merge sort by score, a second stable sort of that order by class (so each
   class is a contiguous run, still by decreasing score), the boxes gathered into structure-of-arrays
   in that order, then for each kept box a branch-free, vectorizable pass over the rest of its run.
   The IoU uses torchvision's operations in float (nms_kernel.cpp), so results match bit for bit.
   The reference repeatedly picks the best unvisited box with a linear scan: O(N^2), no sorting. */
#include "ops/nms.h"

#include <math.h>
#include <string.h>

#include "core/status.h"

/* boxes [N,4] and scores [N]: contiguous float32; class_ids (if any) non-NULL when N > 0. */
static segc_status check_boxes(const char *op, const segc_tensor *boxes, const segc_tensor *scores, int64_t *n) {
    char a[96];
    if (boxes->dtype != SEGC_F32 || boxes->ndim != 2 || boxes->shape[1] != 4 || !segc_tensor_is_contiguous(boxes))
        return segc_fail(SEGC_ERR_SHAPE, "%s: boxes %s %s must be contiguous float32 [N,4]", op,
                         segc_dtype_name(boxes->dtype), segc_tensor_shape_str(boxes, a, sizeof a));
    *n = boxes->shape[0];
    if (!scores) return SEGC_OK;
    if (scores->dtype != SEGC_F32 || scores->ndim != 1 || scores->shape[0] != *n || !segc_tensor_is_contiguous(scores))
        return segc_fail(SEGC_ERR_SHAPE, "%s: scores %s %s must be contiguous float32 [%lld]", op,
                         segc_dtype_name(scores->dtype), segc_tensor_shape_str(scores, a, sizeof a), (long long)*n);
    return SEGC_OK;
}

/* IoU exactly as torchvision computes it: float ops in this order, std::max / std::min semantics. */
static inline float iou_tv(float ix1, float iy1, float ix2, float iy2, float iarea, float x1, float y1, float x2,
                           float y2, float area) {
    float xx1 = ix1 < x1 ? x1 : ix1, yy1 = iy1 < y1 ? y1 : iy1;
    float xx2 = x2 < ix2 ? x2 : ix2, yy2 = y2 < iy2 ? y2 : iy2;
    float w = xx2 - xx1, h = yy2 - yy1;
    w = 0.0f < w ? w : 0.0f;
    h = 0.0f < h ? h : 0.0f;
    float inter = w * h;
    return inter / (iarea + area - inter);
}

float segc_box_iou(const float *a, const float *b) {
    float aa = (a[2] - a[0]) * (a[3] - a[1]), ab = (b[2] - b[0]) * (b[3] - b[1]);
    float v = iou_tv(a[0], a[1], a[2], a[3], aa, b[0], b[1], b[2], b[3], ab);
    return v == v ? v : 0.0f;
}

/* a goes before b in decreasing-score order (NaN first as torch.sort); ties are left to stability. */
static int score_before(const float *s, int64_t a, int64_t b) {
    if (isnan(s[a])) return !isnan(s[b]);
    return s[a] > s[b];
}

/* The sort key: by score (scores != NULL) or by class id ascending. */
typedef struct sort_key { const float *scores; const int32_t *ids; } sort_key;

static int key_before(const sort_key *k, int64_t a, int64_t b) {
    return k->scores ? score_before(k->scores, a, b) : k->ids[a] < k->ids[b];
}

/* Stable bottom-up merge sort of v[0..n) by key(v[i]); tmp holds n entries. */
static void merge_sort(int64_t *v, int64_t *tmp, int64_t n, const sort_key *key, const int64_t *map) {
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                /* take from the right only when it is strictly before the left: stable */
                int64_t ki = map ? map[v[i]] : v[i], kj = map ? map[v[j]] : v[j];
                tmp[o++] = key_before(key, kj, ki) ? v[j++] : v[i++];
            }
            while (i < mid) tmp[o++] = v[i++];
            while (j < hi) tmp[o++] = v[j++];
        }
        memcpy(v, tmp, (size_t)n * sizeof *v);
    }
}

/* The shared fast path; class_ids NULL means a single class. */
static segc_status nms_fast(const char *op, segc_arena *scratch, const segc_tensor *boxes, const segc_tensor *scores,
                            const int32_t *class_ids, double thr, int64_t *keep, int64_t *count) {
    int64_t n = 0;
    segc_status st = check_boxes(op, boxes, scores, &n);
    if (st) return st;
    if (!keep || !count) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: keep and count are required", op);
    *count = 0;
    if (n == 0) return SEGC_OK;
    segc_arena_mark mark = segc_arena_get_mark(scratch);
    int64_t *order = segc_arena_alloc_array(scratch, (size_t)n * 3, sizeof(int64_t));
    float *soa = segc_arena_alloc_array(scratch, (size_t)n * 5, sizeof(float));
    unsigned char *dead = segc_arena_alloc_array(scratch, (size_t)n * 2, 1);
    if (!order || !soa || !dead) {
        segc_arena_release(scratch, mark);
        return segc_fail(SEGC_ERR_NOMEM, "%s: no scratch for %lld boxes", op, (long long)n);
    }
    int64_t *tmp = order + n, *run = order + 2 * n;   /* run[p] = rank (position in `order`) */
    unsigned char *kept_rank = dead + n;
    const float *b = boxes->data;
    sort_key by_score = {scores->data, NULL}, by_class = {NULL, class_ids};
    for (int64_t i = 0; i < n; i++) order[i] = i, run[i] = i;
    merge_sort(order, tmp, n, &by_score, NULL);
    if (class_ids) merge_sort(run, tmp, n, &by_class, order);
    float *x1 = soa, *y1 = soa + n, *x2 = soa + 2 * n, *y2 = soa + 3 * n, *area = soa + 4 * n;
    for (int64_t p = 0; p < n; p++) {
        const float *bx = b + 4 * order[run[p]];
        x1[p] = bx[0], y1[p] = bx[1], x2[p] = bx[2], y2[p] = bx[3];
        area[p] = (bx[2] - bx[0]) * (bx[3] - bx[1]);
        dead[p] = 0;
        kept_rank[p] = 0;
    }
    for (int64_t s = 0; s < n;) {
        int64_t e = s + 1;   /* [s, e) is one class run */
        while (class_ids && e < n && class_ids[order[run[e]]] == class_ids[order[run[s]]]) e++;
        if (!class_ids) e = n;
        for (int64_t p = s; p < e; p++) {
            if (dead[p]) continue;
            kept_rank[run[p]] = 1;
            float ix1 = x1[p], iy1 = y1[p], ix2 = x2[p], iy2 = y2[p], ia = area[p];
            for (int64_t q = p + 1; q < e; q++) {
                float ovr = iou_tv(ix1, iy1, ix2, iy2, ia, x1[q], y1[q], x2[q], y2[q], area[q]);
                dead[q] |= (double)ovr > thr;
            }
        }
        s = e;
    }
    for (int64_t r = 0; r < n; r++)
        if (kept_rank[r]) keep[(*count)++] = order[r];
    segc_arena_release(scratch, mark);
    return SEGC_OK;
}

segc_status segc_nms(segc_arena *scratch, const segc_tensor *boxes, const segc_tensor *scores, double iou_threshold,
                     int64_t *keep, int64_t *count) {
    return nms_fast("nms", scratch, boxes, scores, NULL, iou_threshold, keep, count);
}

segc_status segc_batched_nms(segc_arena *scratch, const segc_tensor *boxes, const segc_tensor *scores,
                             const int32_t *class_ids, double iou_threshold, int64_t *keep, int64_t *count) {
    if (!class_ids && boxes->ndim == 2 && boxes->shape[0] > 0)
        return segc_fail(SEGC_ERR_INVALID_ARG, "batched_nms: class_ids is NULL");
    return nms_fast("batched_nms", scratch, boxes, scores, class_ids, iou_threshold, keep, count);
}

/* Greedy NMS as the definition reads: while an unvisited box is left, take the best one (highest
   score, NaN first, lowest index on ties), keep it unless suppressed, and suppress every later box
   of its class whose IoU with it exceeds the threshold. */
static segc_status nms_plain(const char *op, segc_arena *scratch, const segc_tensor *boxes, const segc_tensor *scores,
                             const int32_t *class_ids, double thr, int64_t *keep, int64_t *count) {
    int64_t n = 0;
    segc_status st = check_boxes(op, boxes, scores, &n);
    if (st) return st;
    if (!keep || !count) return segc_fail(SEGC_ERR_INVALID_ARG, "%s: keep and count are required", op);
    *count = 0;
    if (n == 0) return SEGC_OK;
    segc_arena_mark mark = segc_arena_get_mark(scratch);
    unsigned char *visited = segc_arena_alloc_array(scratch, (size_t)n, 2);
    if (!visited) return segc_fail(SEGC_ERR_NOMEM, "%s: no scratch for %lld boxes", op, (long long)n);
    unsigned char *suppressed = visited + n;
    memset(visited, 0, (size_t)n * 2);
    const float *b = boxes->data, *s = scores->data;
    for (int64_t step = 0; step < n; step++) {
        int64_t best = -1;
        for (int64_t i = 0; i < n; i++)
            if (!visited[i] && (best < 0 || score_before(s, i, best))) best = i;
        visited[best] = 1;
        if (suppressed[best]) continue;
        keep[(*count)++] = best;
        for (int64_t j = 0; j < n; j++) {
            if (visited[j] || (class_ids && class_ids[j] != class_ids[best])) continue;
            if ((double)segc_box_iou(b + 4 * best, b + 4 * j) > thr) suppressed[j] = 1;
        }
    }
    segc_arena_release(scratch, mark);
    return SEGC_OK;
}

segc_status segc_nms_reference(segc_arena *scratch, const segc_tensor *boxes, const segc_tensor *scores,
                               double iou_threshold, int64_t *keep, int64_t *count) {
    return nms_plain("nms", scratch, boxes, scores, NULL, iou_threshold, keep, count);
}

segc_status segc_batched_nms_reference(segc_arena *scratch, const segc_tensor *boxes, const segc_tensor *scores,
                                       const int32_t *class_ids, double iou_threshold, int64_t *keep,
                                       int64_t *count) {
    if (!class_ids && boxes->ndim == 2 && boxes->shape[0] > 0)
        return segc_fail(SEGC_ERR_INVALID_ARG, "batched_nms: class_ids is NULL");
    return nms_plain("batched_nms", scratch, boxes, scores, class_ids, iou_threshold, keep, count);
}

segc_status segc_remove_small_boxes(const segc_tensor *boxes, float min_size, int64_t *keep, int64_t *count) {
    int64_t n = 0;
    segc_status st = check_boxes("remove_small_boxes", boxes, NULL, &n);
    if (st) return st;
    if (!keep || !count) return segc_fail(SEGC_ERR_INVALID_ARG, "remove_small_boxes: keep and count are required");
    const float *b = boxes->data;
    *count = 0;
    for (int64_t i = 0; i < n; i++)
        if (b[4 * i + 2] - b[4 * i] >= min_size && b[4 * i + 3] - b[4 * i + 1] >= min_size) keep[(*count)++] = i;
    return SEGC_OK;
}

segc_status segc_clip_boxes_to_image(segc_tensor *boxes, int64_t height, int64_t width) {
    int64_t n = 0;
    segc_status st = check_boxes("clip_boxes_to_image", boxes, NULL, &n);
    if (st) return st;
    if (height < 0 || width < 0)
        return segc_fail(SEGC_ERR_INVALID_ARG, "clip_boxes_to_image: size %lldx%lld", (long long)height,
                         (long long)width);
    float *b = boxes->data, lim[2] = {(float)width, (float)height};
    for (int64_t i = 0; i < 4 * n; i++) {
        float hi = lim[i & 1];   /* x at even positions, y at odd */
        b[i] = b[i] < 0.0f ? 0.0f : (b[i] > hi ? hi : b[i]);
    }
    return SEGC_OK;
}
