/* classes.c - official class name lists (VOC, Cityscapes, COCO) and the --classes file reader.
   VOC and COCO are torchvision's lists (torchvision.models._meta._VOC_CATEGORIES / _COCO_CATEGORIES,
   COCO with its 91 category-id slots, "N/A" for unused ids); Cityscapes is the 19 train ids of
   cityscapesScripts' labels.py in trainId order. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "classes.h"
#include "core/status.h"

static const char *const voc[] = {
    "__background__", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
};

static const char *const cityscapes[] = {
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
};

static const char *const coco[] = {
    "__background__", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "N/A", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "N/A", "backpack", "umbrella", "N/A", "N/A",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat",
    "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "N/A", "wine glass", "cup", "fork",
    "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza",
    "donut", "cake", "chair", "couch", "potted plant", "bed", "N/A", "dining table", "N/A", "N/A", "toilet",
    "N/A", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "N/A", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
};

const char *const *convert_classes_official(const char *dataset, int *count) {
    *count = 0;
    if (!dataset) return NULL;
    if (!strcmp(dataset, "voc")) {
        *count = (int)(sizeof voc / sizeof voc[0]);
        return voc;
    }
    if (!strcmp(dataset, "cityscapes")) {
        *count = (int)(sizeof cityscapes / sizeof cityscapes[0]);
        return cityscapes;
    }
    if (!strcmp(dataset, "coco")) {
        *count = (int)(sizeof coco / sizeof coco[0]);
        return coco;
    }
    return NULL;
}

void convert_classes_free(char **names, int count) {
    if (!names) return;
    for (int i = 0; i < count; i++) free(names[i]);
    free(names);
}

/* Appends a copy of s[0..n) to the growing list. */
static segc_status push_name(char ***names, int *count, int *cap, const char *s, size_t n) {
    if (*count == *cap) {
        int c = *cap ? *cap * 2 : 64;
        char **p = realloc(*names, (size_t)c * sizeof *p);
        if (!p) return segc_fail(SEGC_ERR_NOMEM, "no memory for class names");
        *names = p;
        *cap = c;
    }
    char *d = malloc(n + 1);
    if (!d) return segc_fail(SEGC_ERR_NOMEM, "no memory for class names");
    memcpy(d, s, n);
    d[n] = 0;
    (*names)[(*count)++] = d;
    return SEGC_OK;
}

#define CLASSES_MAX_LINE 1024        /* bytes per line */
#define CLASSES_MAX_COUNT 100000     /* names per file */

segc_status convert_classes_read(const char *path, char ***names, int *count) {
    *names = NULL;
    *count = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return segc_fail(SEGC_ERR_IO, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t linecap = 0;
    ssize_t got;
    int cap = 0, lineno = 0;
    segc_status st = SEGC_OK;
    while (!st && (got = getline(&line, &linecap, fp)) >= 0) {
        lineno++;
        size_t n = (size_t)got;
        if (n > CLASSES_MAX_LINE) {
            st = segc_fail(SEGC_ERR_FORMAT, "%s:%d: line longer than %d bytes", path, lineno, CLASSES_MAX_LINE);
            break;
        }
        if (strlen(line) != n) {
            st = segc_fail(SEGC_ERR_FORMAT, "%s:%d: NUL byte in a class name", path, lineno);
            break;
        }
        const char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        n = strlen(s);
        while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
        if (!n || s[0] == '#') continue;
        for (size_t i = 0; i < n && !st; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                st = segc_fail(SEGC_ERR_FORMAT, "%s:%d: control character in a class name", path, lineno);
        if (!st && *count == CLASSES_MAX_COUNT)
            st = segc_fail(SEGC_ERR_FORMAT, "%s: more than %d class names", path, CLASSES_MAX_COUNT);
        if (!st) st = push_name(names, count, &cap, s, n);
    }
    if (!st && ferror(fp)) st = segc_fail(SEGC_ERR_IO, "%s: read error", path);
    if (!st && !*count) st = segc_fail(SEGC_ERR_FORMAT, "%s: no class names", path);
    free(line);
    fclose(fp);
    if (st) {
        convert_classes_free(*names, *count);
        *names = NULL;
        *count = 0;
    }
    return st;
}

segc_status convert_write_classes(segc_file_writer *w, const segc_convert_options *o, const char *default_dataset,
                                  int64_t num_classes) {
    const char *dataset = o->dataset ? o->dataset : default_dataset;
    if (o->classes_path) {
        char **names;
        int n;
        segc_status st = convert_classes_read(o->classes_path, &names, &n);
        if (st) return st;
        if (n != num_classes)
            st = segc_fail(SEGC_ERR_SHAPE, "%s has %d class names, the model has %lld classes", o->classes_path, n,
                           (long long)num_classes);
        if (!st) st = segc_file_writer_add_str(w, "dataset", dataset ? dataset : "custom");
        if (!st) st = segc_file_writer_add_strs(w, "class_names", (const char *const *)names, n);
        convert_classes_free(names, n);
        return st;
    }
    int n;
    const char *const *names = convert_classes_official(dataset, &n);
    if (!names)
        return segc_fail(SEGC_ERR_INVALID_ARG, "unknown dataset '%s' (known: voc, cityscapes, coco; or pass --classes)",
                         dataset ? dataset : "(none)");
    if (n != num_classes)
        return segc_fail(SEGC_ERR_SHAPE, "dataset %s has %d classes, the model has %lld (pass --classes FILE)", dataset,
                         n, (long long)num_classes);
    segc_status st = segc_file_writer_add_str(w, "dataset", dataset);
    if (!st) st = segc_file_writer_add_strs(w, "class_names", names, n);
    return st;
}
