/* segc_convert.c - the segc-convert command: checkpoint (PyTorch zip/legacy, safetensors) -> .segc.
   Bad arguments: one line on stderr, exit 2. Conversion errors: the reason, exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "convert.h"
#include "core/timer.h"
#include "io/segc_file.h"


/* Prints the usage and the architectures this build knows. */
static void usage(FILE *fp) {
    fprintf(fp,
            "usage: segc-convert IN OUT [options]\n"
            "Converts a PyTorch (.pt/.pth, zip or legacy) or safetensors checkpoint to a .segc weight file.\n"
            "\n"
            "  --arch A           force the architecture (default: detected from the tensor names)\n"
            "  --dtype T          storage type of the weights: f32 (default), f16, bf16\n"
            "  --classes FILE     class names, one per line (default: the dataset's official list)\n"
            "  --dataset D        voc, cityscapes or coco (default: the architecture's own)\n"
            "  --output-stride S  DeepLabV3+: 16 (default) or 8\n"
            "  --quiet            no progress line and no summary\n"
            "  --help, --version\n"
            "\narchitectures:\n");
    for (int i = 0; i < convert_arch_count(); i++) {
        const convert_arch *a = convert_arch_at(i);
        fprintf(fp, "  %-14s %s\n", a->name, a->summary ? a->summary : "");
    }
}

/* Progress on stderr, one line updated in place. */
static void progress(void *user, uint64_t done, uint64_t total) {
    int *last = user;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (pct == *last) return;
    *last = pct;
    fprintf(stderr, "\rconverting: %3d%%", pct);
    fflush(stderr);
}

/* Bad command line: one line, exit 2. */
static int bad_args(const char *fmt, const char *what) {
    fprintf(stderr, "segc-convert: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, " (see --help)\n");
    return 2;
}

/* The one-line summary, read back from the written file (which also validates it). */
static int summary(const char *out, double seconds) {
    segc_file *f;
    if (segc_file_open(out, &f)) {
        fprintf(stderr, "segc-convert: %s\n", segc_last_error());
        return 1;
    }
    const char *arch = "?", *variant = "-";
    segc_file_get_str(f, "arch", &arch);
    segc_file_get_str(f, "variant", &variant);
    printf("%s: arch %s, variant %s, %d tensors, %.1f MB, %.2f s\n", out, arch, variant, segc_file_tensor_count(f),
           (double)segc_file_size(f) / 1e6, seconds);
    segc_file_close(f);
    return 0;
}

int main(int argc, char **argv) {
    segc_convert_options o;
    segc_convert_options_default(&o);
    const char *pos[2] = {NULL, NULL};
    int npos = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            printf("segc-convert %s\n", SEGC_VERSION_STRING);
            return 0;
        }
        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = 1;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            static const char *const with_value[] = {"--arch", "--dtype", "--classes", "--dataset", "--output-stride"};
            int k = -1;
            for (int j = 0; j < 5; j++)
                if (!strcmp(a, with_value[j])) k = j;
            if (k < 0) return bad_args("unknown option %s", a);
            if (i + 1 >= argc) return bad_args("%s needs a value", a);
            const char *v = argv[++i];
            if (k == 0) o.arch = v;
            else if (k == 2) o.classes_path = v;
            else if (k == 3) o.dataset = v;
            else if (k == 1) {
                if (!strcmp(v, "f32")) o.dtype = SEGC_F32;
                else if (!strcmp(v, "f16")) o.dtype = SEGC_F16;
                else if (!strcmp(v, "bf16")) o.dtype = SEGC_BF16;
                else return bad_args("--dtype must be f32, f16 or bf16, not '%s'", v);
            } else {
                if (!strcmp(v, "8")) o.output_stride = 8;
                else if (!strcmp(v, "16")) o.output_stride = 16;
                else return bad_args("--output-stride must be 8 or 16, not '%s'", v);
            }
            continue;
        }
        if (npos == 2) return bad_args("unexpected argument '%s'", a);
        pos[npos++] = a;
    }
    if (npos != 2) return bad_args("%s", "needs IN and OUT");

    int last = -1;
    int show = !quiet && isatty(2);
    if (show) {
        o.progress = progress;
        o.progress_user = &last;
    }
    double t0 = segc_time_ms();
    segc_status st = segc_convert_file(pos[0], pos[1], &o);
    double t1 = segc_time_ms();
    if (show) fprintf(stderr, "\r%20s\r", "");
    if (st) {
        fprintf(stderr, "segc-convert: %s\n", segc_last_error());
        return 1;
    }
    return quiet ? 0 : summary(pos[1], (t1 - t0) / 1000.0);
}
