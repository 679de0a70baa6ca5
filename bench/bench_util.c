/* bench_util.c - see bench_util.h. */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "convert.h"

double bench_cpu_ms(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-3;
}

double bench_median(double *t, int n) {
    for (int i = 1; i < n; i++)   /* insertion sort: n is small */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double s = t[j];
            t[j] = t[j - 1], t[j - 1] = s;
        }
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

long bench_peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

int bench_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

int bench_convert_in_child(const char *prog, const char *in, const char *out) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (segc_convert_file(in, out, NULL)) {
            fprintf(stderr, "%s: convert %s: %s\n", prog, in, segc_last_error());
            _exit(1);
        }
        _exit(0);
    }
    int status = 1;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int bench_in_child(int (*fn)(void *), void *arg) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return fn(arg);
    if (pid == 0) {
        int rc = fn(arg);
        fflush(NULL);
        _exit(rc);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) return 1;
    return WEXITSTATUS(status);
}

void bench_sam2_trunk_json(const segc_file *f, char *buf, size_t size) {
    int64_t ed = 0, nh = 0, st[4] = {0}, ws[4] = {0}, gb[3] = {0}, bkg[2] = {0};
    segc_file_get_int(f, "sam2.embed_dim", &ed);
    segc_file_get_int(f, "sam2.num_heads", &nh);
    segc_file_get_ints(f, "sam2.stages", st, 4);
    segc_file_get_ints(f, "sam2.window_spec", ws, 4);
    segc_file_get_ints(f, "sam2.global_att_blocks", gb, 3);
    segc_file_get_ints(f, "sam2.window_pos_embed_bkg_spatial_size", bkg, 2);
    snprintf(buf, size,
             "{\"embed_dim\": %lld, \"num_heads\": %lld, \"stages\": [%lld, %lld, %lld, %lld], "
             "\"window_spec\": [%lld, %lld, %lld, %lld], \"global_att_blocks\": [%lld, %lld, %lld], "
             "\"bkg\": [%lld, %lld]}",
             (long long)ed, (long long)nh, (long long)st[0], (long long)st[1], (long long)st[2], (long long)st[3],
             (long long)ws[0], (long long)ws[1], (long long)ws[2], (long long)ws[3], (long long)gb[0],
             (long long)gb[1], (long long)gb[2], (long long)bkg[0], (long long)bkg[1]);
}

const char bench_sam2_py_prelude[] =
    "import os, sys, types\n"
    "sys.path.insert(0, os.environ['SEGC_SAM2_SRC'])\n"
    "def _stub(name, **attrs):\n"
    "    m = types.ModuleType(name); m.__dict__.update(attrs); sys.modules[name] = m\n"
    "try: import tqdm\n"
    "except ImportError: _stub('tqdm', tqdm=lambda x, *a, **k: x)\n"
    "try: import iopath\n"
    "except ImportError:  # hieradet.py imports g_pathmgr only to load pretrained trunks\n"
    "    _stub('iopath'); _stub('iopath.common'); _stub('iopath.common.file_io', g_pathmgr=None)\n"
    "try: import hydra\n"
    "except ImportError:\n"
    "    _stub('hydra', initialize_config_module=lambda *a, **k: None); _stub('hydra.core')\n"
    "    _stub('hydra.core.global_hydra', GlobalHydra=types.SimpleNamespace(\n"
    "        instance=lambda: types.SimpleNamespace(is_initialized=lambda: True)))\n"
    "import numpy as np, torch, torch.nn.functional as F\n"
    "if not hasattr(F, 'scaled_dot_product_attention'):\n"
    "    F.scaled_dot_product_attention = lambda q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False: "
    "(q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5).softmax(-1) @ v\n";

int bench_help(int argc, char **argv, const char *usage) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 1;
        }
    return 0;
}
