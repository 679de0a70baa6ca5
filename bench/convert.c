/* convert.c (bench_convert) - how close conversion is to just reading the checkpoint: for the largest
   checkpoint in ../shared/weights (or the file given as argv[1]), times reading all of its bytes into a
   buffer and a full segc_convert_file (f32 output, detected architecture or --arch raw), each cold
   (page cache dropped for the file with posix_fadvise first; how much was actually resident is measured
   with mincore and printed) and warm (best of 3). Goal: conversion < 3x read. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert.h"
#include "core/timer.h"
#include "io/segc_file.h"

/* Fraction of the file's pages in the page cache right now. */
static double resident_fraction(const char *path) {
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) || sb.st_size == 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return -1;
    long page = sysconf(_SC_PAGESIZE);
    size_t pages = ((size_t)sb.st_size + (size_t)page - 1) / (size_t)page, in = 0;
    unsigned char *vec = malloc(pages);
    if (vec && mincore(m, (size_t)sb.st_size, vec) == 0)
        for (size_t i = 0; i < pages; i++) in += vec[i] & 1;
    free(vec);
    munmap(m, (size_t)sb.st_size);
    return (double)in / (double)pages;
}

/* Asks the kernel to drop the file's clean cached pages (works without root for files we can open). */
static void drop_cache(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
}

/* Seconds to read the whole file into buf with read(2) in 8 MB blocks; -1 on error. */
static double time_read(const char *path, char *buf, size_t size) {
    double t0 = segc_time_ms();
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < size) {
        size_t want = size - done < ((size_t)8 << 20) ? size - done : (size_t)8 << 20;
        ssize_t got = read(fd, buf + done, want);
        if (got <= 0) break;
        done += (size_t)got;
    }
    close(fd);
    return done == size ? (segc_time_ms() - t0) / 1000.0 : -1;
}

/* Phase boundaries seen through the progress callback: the first call comes once the checkpoint is
   open and checked (hashing starts), done reaches the input size when hashing ends. */
typedef struct phases { double t0, first, hashed; uint64_t in_size; } phases;
static void on_progress(void *user, uint64_t done, uint64_t total) {
    phases *p = user;
    double now = segc_time_ms();
    if (p->first == 0) p->first = now;
    if (p->hashed == 0 && done >= p->in_size) p->hashed = now;
}

/* Seconds for a full conversion to `dtype` (detected arch, falling back to raw); -1 on error. */
static double time_convert(const char *in, const char *out, segc_dtype dtype, const char **arch_used) {
    segc_convert_options o;
    segc_convert_options_default(&o);
    o.dtype = dtype;
    struct stat sb;
    phases ph = {0};
    ph.in_size = stat(in, &sb) ? 0 : (uint64_t)sb.st_size;
    o.progress = on_progress;
    o.progress_user = &ph;
    double t0 = segc_time_ms();
    segc_status st = segc_convert_file(in, out, &o);
    if (st) {
        o.arch = "raw";
        t0 = segc_time_ms();
        st = segc_convert_file(in, out, &o);
    }
    double t1 = segc_time_ms(), t = (t1 - t0) / 1000.0;
    *arch_used = o.arch ? o.arch : "detected";
    if (!st && ph.first > 0 && ph.hashed > 0)
        printf("    phases: open+checks %.3f s, SHA-256 %.3f s, convert+write %.3f s\n", (ph.first - t0) / 1000.0,
               (ph.hashed - ph.first) / 1000.0, (t1 - ph.hashed) / 1000.0);
    if (st) {
        fprintf(stderr, "bench_convert: %s\n", segc_last_error());
        return -1;
    }
    return t;
}

/* The largest regular file in dir (written into best). */
static int largest_in(const char *dir, char *best, size_t cap) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    off_t top = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        char p[2048];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &sb) || !S_ISREG(sb.st_mode) || strstr(e->d_name, ".md")) continue;
        if (sb.st_size > top) {
            top = sb.st_size;
            snprintf(best, cap, "%s", p);
        }
    }
    closedir(d);
    return top > 0;
}

int main(int argc, char **argv) {
    char in[2048];
    if (argc > 1) snprintf(in, sizeof in, "%s", argv[1]);
    else {
        const char *shared = getenv("SEGC_SHARED") ? getenv("SEGC_SHARED") : "../shared";
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/weights", shared);
        if (!largest_in(dir, in, sizeof in)) {
            fprintf(stderr, "bench_convert: no checkpoint in %s (set SEGC_SHARED or pass a file)\n", dir);
            return 1;
        }
    }
    struct stat sb;
    if (stat(in, &sb)) {
        fprintf(stderr, "bench_convert: %s: cannot stat\n", in);
        return 1;
    }
    char out[] = "/tmp/bench_convert_XXXXXX";
    int ofd = mkstemp(out);
    if (ofd < 0) return 1;
    close(ofd);
    size_t size = (size_t)sb.st_size;
    char *buf = malloc(size);
    if (!buf) return 1;
    const char *arch = "";
    printf("checkpoint: %s (%.1f MB)\n", in, (double)size / 1e6);

    drop_cache(in);
    double res = resident_fraction(in);
    double read_cold = time_read(in, buf, size);
    printf("cold read:    %.3f s  (%.0f MB/s; %.0f%% of the file was in the page cache before)\n", read_cold,
           (double)size / 1e6 / read_cold, res * 100);
    drop_cache(in);
    res = resident_fraction(in);
    double conv_cold = time_convert(in, out, SEGC_F32, &arch);
    printf("cold convert: %.3f s  (%.0f%% cached before; arch %s)  ratio %.2fx\n", conv_cold, res * 100, arch,
           conv_cold / read_cold);

    double read_warm = 1e30, conv_warm = 1e30;
    for (int r = 0; r < 3; r++) {
        double t = time_read(in, buf, size);
        if (t >= 0 && t < read_warm) read_warm = t;
        t = time_convert(in, out, SEGC_F32, &arch);
        if (t >= 0 && t < conv_warm) conv_warm = t;
    }
    struct stat ob;
    double out_mb = stat(out, &ob) ? 0 : (double)ob.st_size / 1e6;
    printf("warm read:    %.3f s  (%.0f MB/s; %.0f%% cached)\n", read_warm, (double)size / 1e6 / read_warm,
           resident_fraction(in) * 100);
    printf("warm convert: %.3f s  (writes %.1f MB; includes SHA-256 of the input)  ratio %.2fx (goal < 3x)\n",
           conv_warm, out_mb, conv_warm / read_warm);
    /* a 16-bit source stored in its own dtype: the same bytes out as in (no widening) */
    segc_file *f;
    const char *src = "";
    if (segc_file_open(out, &f) == SEGC_OK) {
        segc_file_get_str(f, "source.dtype", &src);
        segc_dtype same = !strcmp(src, "f16") ? SEGC_F16 : !strcmp(src, "bf16") ? SEGC_BF16 : SEGC_F32;
        segc_file_close(f);
        if (same != SEGC_F32) {
            double best = 1e30;
            for (int r = 0; r < 3; r++) {
                double t = time_convert(in, out, same, &arch);
                if (t >= 0 && t < best) best = t;
            }
            printf("warm convert --dtype %s (as stored): %.3f s  ratio %.2fx\n", segc_dtype_name(same), best,
                   best / read_warm);
        }
    }
    unlink(out);
    free(buf);
    return 0;
}
