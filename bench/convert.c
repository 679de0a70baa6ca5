/* convert.c (bench_convert) - how close conversion is to just reading the checkpoint: for the largest
   checkpoint in ../shared/weights (or the file given as argv[1]), times reading all of its bytes into a
   buffer and a full segc_convert_file (f32 output, detected architecture or --arch raw), each cold
   (page cache dropped for the file with posix_fadvise first; how much was actually resident is measured
   with mincore and printed) and warm. Each is run RUNS times (argv[2], default 5) and the median is
   printed, as wall time and as CPU time (user + system, all threads of the process), since the machine
   is shared and wall times are noisy. Goal (issue 4): conversion < 3x read. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert.h"
#include "core/timer.h"
#include "io/segc_file.h"

#define MAX_RUNS 25

/* CPU seconds (user + system) used by the whole process so far. */
static double cpu_s(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) + (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1e-6;
}

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

/* CPU seconds (user + system) used by the calling thread so far. */
static double thread_cpu_s(void) {
    struct rusage r;
    getrusage(RUSAGE_THREAD, &r);
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) + (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1e-6;
}

/* One timed run: wall seconds and CPU seconds of the process; split into the calling thread until the
   source hash was needed (open: opening and checking the checkpoint), the hash thread beside it, then
   the calling thread while writing (fill, checksum) and the writer's write(2) thread beside it; and
   the wall time the run would take on an idle machine, estimated from those:
   max(open, hash) + max(write, io). */
typedef struct sample { double wall, cpu, open, hash, write, io, idle_est; } sample;
/* Reads the whole file into buf with read(2) in 8 MB blocks; wall < 0 on error. */
static sample time_read(const char *path, char *buf, size_t size) {
    sample s = {-1, -1, -1, -1, -1, -1, -1};
    double t0 = segc_time_ms(), c0 = cpu_s(), m0 = thread_cpu_s();
    int fd = open(path, O_RDONLY);
    if (fd < 0) return s;
    size_t done = 0;
    while (done < size) {
        size_t want = size - done < ((size_t)8 << 20) ? size - done : (size_t)8 << 20;
        ssize_t got = read(fd, buf + done, want);
        if (got <= 0) break;
        done += (size_t)got;
    }
    close(fd);
    double w = (segc_time_ms() - t0) / 1000.0, c = cpu_s() - c0;
    if (done == size) s = (sample){w, c, thread_cpu_s() - m0, 0, 0, 0, c};
    return s;
}

/* Phase boundaries seen through the progress callback (called on the converting thread): the first
   call comes once the checkpoint is open and checked and the source hash is in. */
typedef struct phases { double first_ms, first_cpu, first_cpu_all; } phases;
static void on_progress(void *user, uint64_t done, uint64_t total) {
    phases *p = user;
    (void)done;
    (void)total;
    if (p->first_ms == 0) {
        p->first_ms = segc_time_ms();
        p->first_cpu = thread_cpu_s();
        p->first_cpu_all = cpu_s();
    }
}

/* A full conversion to `dtype` (detected arch, falling back to raw); wall < 0 on error. */
static sample time_convert(const char *in, const char *out, segc_dtype dtype, const char **arch_used, int verbose) {
    segc_convert_options o;
    segc_convert_options_default(&o);
    o.dtype = dtype;
    phases ph = {0};
    o.progress = on_progress;
    o.progress_user = &ph;
    double t0 = segc_time_ms(), c0 = cpu_s(), m0 = thread_cpu_s();
    segc_status st = segc_convert_file(in, out, &o);
    if (st) {
        o.arch = "raw";
        memset(&ph, 0, sizeof ph);
        t0 = segc_time_ms();
        c0 = cpu_s();
        m0 = thread_cpu_s();
        st = segc_convert_file(in, out, &o);
    }
    double t1 = segc_time_ms();
    *arch_used = o.arch ? o.arch : "detected";
    if (st || ph.first_ms == 0) {
        fprintf(stderr, "bench_convert: %s\n", st ? segc_last_error() : "no progress reported");
        return (sample){-1, -1, -1, -1, -1, -1, -1};
    }
    sample s = {(t1 - t0) / 1000.0, cpu_s() - c0, ph.first_cpu - m0, 0, thread_cpu_s() - ph.first_cpu, 0, 0};
    s.hash = ph.first_cpu_all - c0 - s.open;
    s.io = s.cpu - s.open - s.hash - s.write;
    s.idle_est = (s.open > s.hash ? s.open : s.hash) + (s.write > s.io ? s.write : s.io);
    if (verbose)
        printf("    wall: open, checks and waiting for the source hash %.3f s, writing %.3f s\n", (ph.first_ms - t0) / 1000.0,
               (t1 - ph.first_ms) / 1000.0);
    return s;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of the n values at stride (in doubles) from first. */
static double median_of(const double *first, int n, int stride) {
    double v[MAX_RUNS];
    for (int i = 0; i < n; i++) v[i] = first[i * stride];
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median of each field (separately) of n samples; n >= 1. */
static sample median(const sample *s, int n) {
    int stride = (int)(sizeof *s / sizeof(double));
    return (sample){median_of(&s->wall, n, stride), median_of(&s->cpu, n, stride), median_of(&s->open, n, stride),
                    median_of(&s->hash, n, stride), median_of(&s->write, n, stride), median_of(&s->io, n, stride),
                    median_of(&s->idle_est, n, stride)};
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

/* Prints the times of a conversion and its ratios to the read times. */
static void report(const char *label, sample conv, sample read) {
    printf("%-30s wall %.3f s  cpu %.3f s = open %.3f | hash %.3f, then write %.3f | io %.3f\n", label, conv.wall,
           conv.cpu, conv.open, conv.hash, conv.write, conv.io);
    printf("%-30s ratio to read: wall %.2fx, cpu %.2fx, idle-machine estimate %.3f s = %.2fx the read's cpu (goal < 3x)\n",
           "", conv.wall / read.wall, conv.cpu / read.cpu, conv.idle_est, conv.idle_est / read.cpu);
}

int main(int argc, char **argv) {
    char in[2048];
    if (argc > 1 && strcmp(argv[1], "-")) snprintf(in, sizeof in, "%s", argv[1]);
    else {
        const char *shared = getenv("SEGC_SHARED") ? getenv("SEGC_SHARED") : "../shared";
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/weights", shared);
        if (!largest_in(dir, in, sizeof in)) {
            fprintf(stderr, "bench_convert: no checkpoint in %s (set SEGC_SHARED or pass a file)\n", dir);
            return 1;
        }
    }
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (runs < 1 || runs > MAX_RUNS) runs = 5;
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
    printf("checkpoint: %s (%.1f MB), median of %d runs\n", in, (double)size / 1e6, runs);

    sample rc[MAX_RUNS], cc[MAX_RUNS], rw[MAX_RUNS], cw[MAX_RUNS];
    double res_read = 0, res_conv = 0;
    for (int r = 0; r < runs; r++) {
        drop_cache(in);
        res_read += resident_fraction(in) / runs;
        rc[r] = time_read(in, buf, size);
        drop_cache(in);
        res_conv += resident_fraction(in) / runs;
        cc[r] = time_convert(in, out, SEGC_F32, &arch, r == 0);
        if (rc[r].wall < 0 || cc[r].wall < 0) return 1;
    }
    sample read_cold = median(rc, runs), conv_cold = median(cc, runs);
    printf("cold read:    wall %.3f s  cpu %.3f s  (%.0f MB/s; %.0f%%/%.0f%% of the file cached before read/convert)\n",
           read_cold.wall, read_cold.cpu, (double)size / 1e6 / read_cold.wall, res_read * 100, res_conv * 100);
    report("cold convert (f32):", conv_cold, read_cold);

    for (int r = 0; r < runs; r++) {
        rw[r] = time_read(in, buf, size);
        cw[r] = time_convert(in, out, SEGC_F32, &arch, r == 0);
        if (rw[r].wall < 0 || cw[r].wall < 0) return 1;
    }
    sample read_warm = median(rw, runs), conv_warm = median(cw, runs);
    struct stat ob;
    double out_mb = stat(out, &ob) ? 0 : (double)ob.st_size / 1e6;
    printf("warm read:    wall %.3f s  cpu %.3f s  (%.0f MB/s; %.0f%% cached)\n", read_warm.wall, read_warm.cpu,
           (double)size / 1e6 / read_warm.wall, resident_fraction(in) * 100);
    printf("arch %s, writes %.1f MB, includes SHA-256 of the input\n", arch, out_mb);
    report("warm convert (f32):", conv_warm, read_warm);
    /* a 16-bit source stored in its own dtype: the same bytes out as in (no widening) */
    segc_file *f;
    const char *src = "";
    if (segc_file_open(out, &f) == SEGC_OK) {
        segc_file_get_str(f, "source.dtype", &src);
        segc_dtype same = !strcmp(src, "f16") ? SEGC_F16 : !strcmp(src, "bf16") ? SEGC_BF16 : SEGC_F32;
        segc_file_close(f);
        if (same != SEGC_F32) {
            sample s[MAX_RUNS];
            for (int r = 0; r < runs; r++)
                if ((s[r] = time_convert(in, out, same, &arch, 0)).wall < 0) return 1;
            char label[64];
            snprintf(label, sizeof label, "warm convert (%s, as stored):", segc_dtype_name(same));
            report(label, median(s, runs), read_warm);
        }
    }
    unlink(out);
    free(buf);
    return 0;
}
