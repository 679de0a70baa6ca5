/* bench_util.h - what every benchmark program needs: process CPU time (steadier than wall time on a
   shared machine), medians, peak RSS, and converting a checkpoint in a child process (so the
   converter's memory never counts in the measured process). */
#ifndef SEGC_BENCH_UTIL_H
#define SEGC_BENCH_UTIL_H

#include <stddef.h>

#include "io/segc_file.h"

/* User + system CPU time of this process, all threads, in ms. */
double bench_cpu_ms(void);
/* Sorts t[0..n) in place and returns its median (n >= 1). */
double bench_median(double *t, int n);
/* Peak resident set size of this process in KiB. */
long bench_peak_rss_kb(void);
/* True (after printing `usage` to stdout) when an argument is -h or --help: every bench answers --help. */
int bench_help(int argc, char **argv, const char *usage);
/* True if s ends with suffix. */
int bench_ends_with(const char *s, const char *suffix);
/* Converts `in` (a checkpoint) to `out` (.segc) in a forked child; 0 on success, the error printed
   with `prog` as prefix otherwise. */
int bench_convert_in_child(const char *prog, const char *in, const char *out);
/* Runs fn(arg) in a forked child (its own address space, so its peak RSS is its own); its exit status
   (1 if it did not exit normally). */
int bench_in_child(int (*fn)(void *), void *arg);

/* The SAM 2 Hiera trunk hyper-parameters of a .segc file's metadata as JSON for a PyTorch script:
   {"embed_dim", "num_heads", "stages", "window_spec", "global_att_blocks", "bkg"}. */
void bench_sam2_trunk_json(const segc_file *f, char *buf, size_t size);

/* Python lines that make facebookresearch/sam2 importable under /usr/bin/python3 with torch 1.13: the
   checkout in $SEGC_SAM2_SRC on sys.path, hydra / iopath / tqdm stubbed when absent (imported, never
   used for inference), F.scaled_dot_product_attention as plain softmax(q k^T / sqrt(d)) v when torch has
   none. Leaves `np`, `torch`, `F` imported. */
extern const char bench_sam2_py_prelude[];

#endif
