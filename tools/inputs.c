/* inputs.c - image paths from arguments and directories (see inputs.h). */
#include "inputs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int push(cli_inputs *in, const char *path) {
    if (in->count == in->capacity) {
        int cap = in->capacity ? in->capacity * 2 : 16;
        char **p = realloc(in->paths, (size_t)cap * sizeof *p);
        if (!p) return -1;
        in->paths = p;
        in->capacity = cap;
    }
    in->paths[in->count] = strdup(path);
    if (!in->paths[in->count]) return -1;
    in->count++;
    return 0;
}

static int is_image_name(const char *name) {
    static const char *exts[] = {".png", ".jpg", ".jpeg", ".bmp", ".tga", ".ppm", ".pgm", ".gif", ".psd", ".hdr"};
    const char *dot = strrchr(name, '.');
    if (!dot || name[0] == '.') return 0;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (!strcasecmp(dot, exts[i])) return 1;
    return 0;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int cli_inputs_add(const char *cmd, cli_inputs *in, const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "segc %s: %s: %s\n", cmd, path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        if (push(in, path)) goto nomem;
        return 0;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "segc %s: %s: %s\n", cmd, path, strerror(errno));
        return -1;
    }
    int first = in->count;
    struct dirent *e;
    char full[4096];
    while ((e = readdir(d)) != NULL) {
        if (!is_image_name(e->d_name)) continue;
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        if (push(in, full)) {
            closedir(d);
            goto nomem;
        }
    }
    closedir(d);
    if (in->count == first) {
        fprintf(stderr, "segc %s: directory %s has no image files\n", cmd, path);
        return -1;
    }
    qsort(in->paths + first, (size_t)(in->count - first), sizeof *in->paths, compare_names);
    return 0;
nomem:
    fprintf(stderr, "segc %s: out of memory listing inputs\n", cmd);
    return -1;
}

void cli_inputs_free(cli_inputs *in) {
    for (int i = 0; i < in->count; i++) free(in->paths[i]);
    free(in->paths);
    memset(in, 0, sizeof *in);
}

void cli_path_stem(const char *path, char *buf, int size) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, (size_t)size, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = '\0';
}
