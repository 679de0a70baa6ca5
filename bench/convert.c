/* convert.c (bench_convert) - how close conversion is to just reading the checkpoint (issue 4: convert
   < 3x read). For the largest checkpoint in ../shared/weights (or the file given as argv[1]) it times
   reading all of its bytes into a buffer with read(2), and a full segc_convert_file (f32 output,
   detected architecture or --arch raw) into a new file (the previous output is deleted, untimed, before
   each run: replacing an existing file also costs the kernel's freeing of its cached pages). Both run
   cold (the file's cached pages dropped with posix_fadvise first; how much was still resident is
   measured with mincore and printed) and warm, RUNS times each (argv[2], default 5), and the medians are
   printed as wall time and as CPU time (user + system, all threads), since the machine is shared and
   wall times are noisy. Also printed: the CPU time of SHA-256 over the input alone, the floor of any
   conversion that records "source.sha256", and an idle-machine estimate of the wall time on 2 cores. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "convert.h"
#include "core/timer.h"
#include "io/segc_file.h"
#include "io/sha256.h"

#define MAX_RUNS 25

/* CPU seconds (user + system) of the whole process. */
static double cpu_s(void) { return bench_cpu_ms() / 1000.0; }

/* CPU seconds (user + system) of the calling thread. */
static double thread_cpu_s(void) {
    struct rusage r;
    getrusage(RUSAGE_THREAD, &r);
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

/* One timed run: wall and CPU seconds (all threads). For a conversion, the CPU is split into the
   calling thread until the writer starts (open: opening and checking the checkpoint), the calling
   thread while writing (fill, f16 -> f32, data checksum), and the other threads (the source SHA-256
   and the writer's pwrite thread); idle_est is the wall time 2 idle cores would need at best:
   max(calling thread, SHA-256 alone, all CPU / 2). */
typedef struct sample { double wall, cpu, open, write, others, idle_est; } sample;

/* Reads the whole file into buf with read(2) in 8 MB blocks; wall < 0 on error. */
static sample time_read(const char *path, char *buf, size_t size) {
    sample s = {-1, -1, -1, -1, -1, -1};
    double t0 = segc_time_ms(), c0 = cpu_s();
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
    if (done == size) s = (sample){w, c, c, 0, 0, w};
    return s;
}

/* CPU seconds of SHA-256 over the file's bytes (mapped, warm), on the calling thread. */
static double time_sha256(const char *path, size_t size) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return -1;
    uint8_t digest[32];
    segc_sha256(m, size, digest);   /* faults the pages in */
    double c0 = thread_cpu_s();
    segc_sha256(m, size, digest);
    double c = thread_cpu_s() - c0;
    munmap(m, size);
    return c;
}

/* The first progress call comes when the writer starts: the checkpoint is open and checked. */
typedef struct phases { double first_cpu; } phases;
static void on_progress(void *user, uint64_t done, uint64_t total) {
    phases *p = user;
    (void)done;
    (void)total;
    if (p->first_cpu == 0) p->first_cpu = thread_cpu_s();
}

/* A full conversion to `dtype` (detected arch, falling back to raw) into a new file `out`; wall < 0 on
   error. sha_cpu is the CPU time of SHA-256 alone (for the idle estimate). */
static sample time_convert(const char *in, const char *out, segc_dtype dtype, double sha_cpu, const char **arch_used) {
    segc_convert_options o;
    segc_convert_options_default(&o);
    o.dtype = dtype;
    for (int attempt = 0; attempt < 2; attempt++) {
        phases ph = {0};
        o.progress = on_progress;
        o.progress_user = &ph;
        unlink(out);
        double t0 = segc_time_ms(), c0 = cpu_s(), m0 = thread_cpu_s();
        segc_status st = segc_convert_file(in, out, &o);
        double t1 = segc_time_ms(), c1 = cpu_s(), m1 = thread_cpu_s();
        if (st && attempt == 0) {
            o.arch = "raw";
            continue;
        }
        *arch_used = o.arch ? o.arch : "detected";
        if (st || ph.first_cpu == 0) {
            fprintf(stderr, "bench_convert: %s\n", st ? segc_last_error() : "no progress reported");
            break;
        }
        sample s = {(t1 - t0) / 1000.0, c1 - c0, ph.first_cpu - m0, m1 - ph.first_cpu, 0, 0};
        s.others = s.cpu - s.open - s.write;
        s.idle_est = s.open + s.write;
        if (sha_cpu > s.idle_est) s.idle_est = sha_cpu;
        if (s.cpu / 2 > s.idle_est) s.idle_est = s.cpu / 2;
        return s;
    }
    return (sample){-1, -1, -1, -1, -1, -1};
}

/* Median of each field (separately) of n samples; n >= 1. */
static sample median(const sample *s, int n) {
    enum { FIELDS = sizeof(sample) / sizeof(double) };
    double out[FIELDS], v[MAX_RUNS];
    for (int f = 0; f < FIELDS; f++) {
        for (int i = 0; i < n; i++) memcpy(&v[i], (const char *)&s[i] + f * sizeof(double), sizeof(double));
        out[f] = bench_median(v, n);
    }
    sample m;
    memcpy(&m, out, sizeof m);
    return m;
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

/* Prints the medians of a read and of a conversion, and their ratios. */
static void report(const char *label, sample conv, sample read) {
    printf("%-30s wall %.3f s  cpu %.3f s = open %.3f + write %.3f (calling thread) + %.3f (sha256, io threads)\n",
           label, conv.wall, conv.cpu, conv.open, conv.write, conv.others);
    printf("%-30s ratio to read: wall %.2fx, cpu %.2fx; idle 2-core estimate %.3f s = %.2fx the read's wall "
           "(goal < 3x)\n", "", conv.wall / read.wall, conv.cpu / read.cpu, conv.idle_est, conv.idle_est / read.wall);
}

static const char usage[] =
    "usage: bench_convert [CHECKPOINT|-] [RUNS]\n"
    "Times reading a checkpoint's bytes and converting it to .segc, cold and warm, RUNS times each\n"
    "(default 5); '-' or nothing: the largest checkpoint in $SEGC_SHARED/weights.\n";

int main(int argc, char **argv) {
    if (bench_help(argc, argv, usage)) return 0;
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
    char dir[] = "/tmp/bench_convert_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char out[64];
    snprintf(out, sizeof out, "%s/out.segc", dir);
    size_t size = (size_t)sb.st_size;
    char *buf = malloc(size);
    if (!buf) return 1;
    const char *arch = "";
    printf("checkpoint: %s (%.1f MB), median of %d runs\n", in, (double)size / 1e6, runs);

    sample rc[MAX_RUNS], cc[MAX_RUNS], rw[MAX_RUNS], cw[MAX_RUNS];
    double res_read = 0, res_conv = 0, sha = time_sha256(in, size);
    for (int r = 0; r < runs; r++) {
        drop_cache(in);
        res_read += resident_fraction(in) / runs;
        rc[r] = time_read(in, buf, size);
        drop_cache(in);
        res_conv += resident_fraction(in) / runs;
        cc[r] = time_convert(in, out, SEGC_F32, sha, &arch);
        if (rc[r].wall < 0 || cc[r].wall < 0) return 1;
    }
    sample read_cold = median(rc, runs);
    printf("SHA-256 of the input alone: cpu %.3f s (%.0f MB/s, SHA-NI %s)\n", sha, (double)size / 1e6 / sha,
           segc_sha256_hw_available() ? "on" : "off");
    printf("cold read:    wall %.3f s  cpu %.3f s  (%.0f MB/s; %.0f%%/%.0f%% of the file cached before read/convert)\n",
           read_cold.wall, read_cold.cpu, (double)size / 1e6 / read_cold.wall, res_read * 100, res_conv * 100);
    report("cold convert (f32):", median(cc, runs), read_cold);

    for (int r = 0; r < runs; r++) {
        rw[r] = time_read(in, buf, size);
        cw[r] = time_convert(in, out, SEGC_F32, sha, &arch);
        if (rw[r].wall < 0 || cw[r].wall < 0) return 1;
    }
    sample read_warm = median(rw, runs);
    struct stat ob;
    double out_mb = stat(out, &ob) ? 0 : (double)ob.st_size / 1e6;
    printf("warm read:    wall %.3f s  cpu %.3f s  (%.0f MB/s; %.0f%% cached)\n", read_warm.wall, read_warm.cpu,
           (double)size / 1e6 / read_warm.wall, resident_fraction(in) * 100);
    printf("arch %s, writes %.1f MB, includes SHA-256 of the input\n", arch, out_mb);
    report("warm convert (f32):", median(cw, runs), read_warm);
    /* a 16-bit source stored in its own dtype: the same bytes out as in (no widening) */
    segc_file *f;
    const char *src = "";
    segc_dtype same = SEGC_F32;
    if (segc_file_open(out, &f) == SEGC_OK) {
        segc_file_get_str(f, "source.dtype", &src);
        same = !strcmp(src, "f16") ? SEGC_F16 : !strcmp(src, "bf16") ? SEGC_BF16 : SEGC_F32;
        segc_file_close(f);
    }
    if (same != SEGC_F32) {
        sample s[MAX_RUNS];
        for (int r = 0; r < runs; r++)
            if ((s[r] = time_convert(in, out, same, sha, &arch)).wall < 0) return 1;
        char label[64];
        snprintf(label, sizeof label, "warm convert (%s, as stored):", segc_dtype_name(same));
        report(label, median(s, runs), read_warm);
    }
    unlink(out);
    rmdir(dir);
    free(buf);
    return 0;
}
