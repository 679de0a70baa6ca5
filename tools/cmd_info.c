/* cmd_info.c - `segc info FILE.segc`: what a converted weight file holds (like gguf-dump). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "io/segc_file.h"

static void print_help(void) {
    printf("usage: segc info FILE.segc [--tensors] [--all-metadata] [--verify]\n\n"
           "Shows the architecture, variant, source checkpoint and every metadata key of a .segc file,\n"
           "and a summary of its tensor table (count, values, bytes per dtype). Opening validates the\n"
           "header, metadata and tensor table (offsets, sizes, strings, their checksum).\n\n"
           "  --tensors       list every tensor: name, dtype, shape, bytes\n"
           "  --all-metadata  print long arrays (e.g. class names) in full\n"
           "  --verify        also check the data-section checksum (reads every tensor byte); exit 1 if it fails\n"
           "  --help          this text\n");
}

/* Prints one metadata value; arrays longer than `limit` are abbreviated. */
static void print_kv(const segc_kv *kv, int limit) {
    printf("  %-36s ", kv->key);
    switch (kv->type) {
    case SEGC_KV_STRING: printf("%s\n", kv->str); return;
    case SEGC_KV_INT: printf("%" PRId64 "\n", kv->i); return;
    case SEGC_KV_FLOAT: printf("%.9g\n", kv->f); return;
    default: break;
    }
    printf("[");
    int64_t n = kv->count;
    for (int64_t j = 0; j < n; j++) {
        if (limit > 0 && j == limit && n > limit + 1) {
            printf(", ... (%" PRId64 " in all)", n);
            break;
        }
        if (j) printf(", ");
        if (kv->type == SEGC_KV_INT_ARRAY) {
            int64_t v;
            memcpy(&v, &kv->ints[j], sizeof v);
            printf("%" PRId64, v);
        } else if (kv->type == SEGC_KV_FLOAT_ARRAY) {
            double v;
            memcpy(&v, &kv->floats[j], sizeof v);
            printf("%.9g", v);
        } else {
            printf("'%s'", kv->strs[j]);
        }
    }
    printf("]\n");
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    int list_tensors = 0, all_metadata = 0, verify = 0;
    for (int i = 1; i < argc; i++) {
        int t = cli_threads_option("info", argc, argv, &i);   /* accepted like everywhere (--verify hashes) */
        if (t < 0) return CLI_EXIT_USAGE;
        if (t > 0) continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            print_help();
            return CLI_EXIT_OK;
        } else if (!strcmp(argv[i], "--tensors")) {
            list_tensors = 1;
        } else if (!strcmp(argv[i], "--all-metadata")) {
            all_metadata = 1;
        } else if (!strcmp(argv[i], "--verify")) {
            verify = 1;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("info", "unknown option '%.60s'", argv[i]);
        } else if (path) {
            return cli_usage_error("info", "one file at a time");
        } else {
            path = argv[i];
        }
    }
    if (!path) return cli_usage_error("info", "missing FILE.segc");
    segc_file *f;
    if (segc_file_open(path, &f) != SEGC_OK) return cli_failure("info", path);

    const char *arch = "?", *variant = "?";
    segc_file_get_str(f, "arch", &arch);
    segc_file_get_str(f, "variant", &variant);
    printf("file:     %s (%" PRIu64 " bytes)\n", path, segc_file_size(f));
    printf("arch:     %s\nvariant:  %s\n", arch, variant);
    printf("metadata:\n");
    for (int i = 0; i < segc_file_kv_count(f); i++) print_kv(segc_file_kv_at(f, i), all_metadata ? 0 : 8);

    int n = segc_file_tensor_count(f);
    uint64_t bytes[SEGC_BF16 + 1] = {0};
    int counts[SEGC_BF16 + 1] = {0};
    int64_t params = 0;
    for (int i = 0; i < n; i++) {
        const segc_file_tensor *t = segc_file_tensor_at(f, i);
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= t->shape[d];
        params += numel;
        if (t->dtype <= SEGC_BF16) {
            bytes[t->dtype] += t->nbytes;
            counts[t->dtype]++;
        }
    }
    printf("tensors:  %d (%.2f M values;", n, (double)params / 1e6);
    for (int d = SEGC_F32; d <= SEGC_BF16; d++)
        if (counts[d]) printf(" %d %s %.1f MB;", counts[d], segc_dtype_name((segc_dtype)d), (double)bytes[d] / 1e6);
    printf(")\n");
    if (list_tensors) {
        for (int i = 0; i < n; i++) {
            const segc_file_tensor *t = segc_file_tensor_at(f, i);
            segc_tensor v = segc_tensor_wrap(t->dtype, t->ndim, t->shape, NULL);
            char shape[128];
            printf("  %-64s %-4s %-24s %" PRIu64 "\n", t->name, segc_dtype_name(t->dtype),
                   segc_tensor_shape_str(&v, shape, sizeof shape), t->nbytes);
        }
    }
    int rc = CLI_EXIT_OK;
    if (verify) {
        if (segc_file_verify(f) == SEGC_OK) printf("checksum: ok (data section verified)\n");
        else rc = cli_failure("info", path);
    }
    segc_file_close(f);
    return rc;
}
