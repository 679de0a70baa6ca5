/* bench_util.h - what every benchmark program needs: process CPU time (steadier than wall time on a
   shared machine), medians, peak RSS, and converting a checkpoint in a child process (so the
   converter's memory never counts in the measured process). */
#ifndef SEGC_BENCH_UTIL_H
#define SEGC_BENCH_UTIL_H

/* User + system CPU time of this process, all threads, in ms. */
double bench_cpu_ms(void);
/* Sorts t[0..n) in place and returns its median (n >= 1). */
double bench_median(double *t, int n);
/* Peak resident set size of this process in KiB. */
long bench_peak_rss_kb(void);
/* True if s ends with suffix. */
int bench_ends_with(const char *s, const char *suffix);
/* Converts `in` (a checkpoint) to `out` (.segc) in a forked child; 0 on success, the error printed
   with `prog` as prefix otherwise. */
int bench_convert_in_child(const char *prog, const char *in, const char *out);

#endif
