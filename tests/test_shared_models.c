/* test_shared_models.c - see test_shared_models.h. */
#include "test_shared_models.h"

#include <stdio.h>
#include <unistd.h>

#include "convert.h"
#include "test_util.h"

void test_convert_shared(const char *weights, const char *dir, const char *name, char *out, size_t size) {
    out[0] = '\0';
    const char *shared = test_shared_dir();
    if (!shared) return;
    char in[4096], path[4200];
    snprintf(in, sizeof in, "%s/weights/%s", shared, weights);
    if (access(in, R_OK) != 0) return;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    segc_convert_options o;
    segc_convert_options_default(&o);
    if (segc_convert_file(in, path, &o) != SEGC_OK) {
        fprintf(stderr, "convert %s: %s\n", in, segc_last_error());
        return;
    }
    snprintf(out, size, "%s", path);
}
