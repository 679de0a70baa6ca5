/* test_cli.c - the `segc` command-line tool as a user meets it: runs the built binary
   ($SEGC_BUILD_DIR/tools/segc) in a child process with a timeout and checks exit codes (0 ok, 1 runtime
   failure, 2 bad arguments), messages and output files. Bad input of every kind must give a one-line
   error, never a crash. With ../shared present, the shared checkpoints are converted into a temp dir
   and real runs of HRNet, Mask R-CNN and SAM 2 check the files `segc run` writes. */
#define _XOPEN_SOURCE 700   /* nftw */
#include <check.h>
#include <ctype.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "convert.h"
#include "core/status.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/segc_file.h"
#include "test_shared_models.h"
#include "test_util.h"

/* A hung command is killed after this long. Generous: under ASan+UBSan on a loaded 2-core machine the
   instrumented conv kernels make a Mask R-CNN run take minutes (measured: > 120 s in CI). */
#define TIMEOUT_S 900
#define MAX_ARGS 32

static char segc_bin[4096];
static char tmp[4096];          /* fixture files of this run */
static char hrnet_segc[4200], maskrcnn_segc[4200], sam2_segc[4200];   /* "" when not converted */

/* ---- running the binary ---- */

typedef struct run_result {
    int code;           /* exit code; -1 killed by a signal or the timeout */
    int signal;
    char out[65536];    /* stdout (truncated) */
    char err[65536];    /* stderr (truncated) */
    char cmd[1024];     /* the command line, for messages */
} run_result;

static void read_text(const char *path, char *buf, size_t size) {
    buf[0] = '\0';
    FILE *fp = fopen(path, "rb");
    if (!fp) return;
    size_t n = fread(buf, 1, size - 1, fp);
    buf[n] = '\0';
    fclose(fp);
}

/* Runs segc with the NULL-terminated args (after argv[0]) and optional environment additions
   ("NAME=value", NULL-terminated, may be NULL); fails the test on a crash or a timeout. */
static void run_env(run_result *r, const char *const *env, const char *const *args) {
    char out_path[4200], err_path[4200];
    snprintf(out_path, sizeof out_path, "%s/stdout.txt", tmp);
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", tmp);
    char *argv[MAX_ARGS + 2];
    int n = 0;
    argv[n++] = segc_bin;
    for (; args[n - 1] && n <= MAX_ARGS; n++) argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    size_t len = (size_t)snprintf(r->cmd, sizeof r->cmd, "segc");
    for (int i = 1; i < n && len < sizeof r->cmd; i++)
        len += (size_t)snprintf(r->cmd + len, sizeof r->cmd - len, " %s", argv[i]);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(out_path, "wb", stdout) || !freopen(err_path, "wb", stderr)) _exit(127);
        for (int i = 0; env && env[i]; i++) putenv((char *)env[i]);
        execv(segc_bin, argv);
        _exit(127);
    }
    int status = 0;
    struct timespec nap = {0, 20 * 1000 * 1000};
    for (int waited = 0;; waited++) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (waited * 20 > TIMEOUT_S * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            ck_abort_msg("%s: no exit after %d s", r->cmd, TIMEOUT_S);
        }
        nanosleep(&nap, NULL);
    }
    read_text(out_path, r->out, sizeof r->out);
    read_text(err_path, r->err, sizeof r->err);
    r->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    ck_assert_msg(!r->signal, "%s: crashed with signal %d; stderr: %s", r->cmd, r->signal, r->err);
    ck_assert_msg(r->code != 127, "could not run %s", segc_bin);
}

static void run(run_result *r, const char *const *args) { run_env(r, NULL, args); }

/* Exit code and a substring of stderr (or stdout if `in_out`); prints what came back on failure. */
static void expect(const run_result *r, int code, const char *text, int in_out) {
    const char *where = in_out ? r->out : r->err;
    ck_assert_msg(r->code == code, "%s: exit %d, want %d; stderr: %s", r->cmd, r->code, code, r->err);
    if (text) ck_assert_msg(strstr(where, text), "%s: '%s' not in %s: %s", r->cmd, text, in_out ? "stdout" : "stderr", where);
}

/* Usage and runtime errors are one line on stderr. */
static void expect_one_line_error(const run_result *r, int code, const char *text) {
    expect(r, code, text, 0);
    const char *nl = strchr(r->err, '\n');
    ck_assert_msg(nl && nl[1] == '\0', "%s: error is not one line: %s", r->cmd, r->err);
    ck_assert_msg(!strncmp(r->err, "segc", 4), "%s: error does not start with 'segc': %s", r->cmd, r->err);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static int file_exists(const char *dir, const char *name) {
    char path[4400];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0;
}

static void path_in_tmp(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s/%s", tmp, name); }

/* ---- a small JSON checker: is the text one valid JSON value? ---- */

static const char *json_value(const char *s, int depth);

static const char *json_ws(const char *s) {
    while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t') s++;
    return s;
}

static const char *json_string(const char *s) {
    if (*s != '"') return NULL;
    for (s++; *s && *s != '"'; s++) {
        if ((unsigned char)*s < 0x20) return NULL;
        if (*s == '\\' && !*++s) return NULL;
    }
    return *s == '"' ? s + 1 : NULL;
}

static const char *json_number(const char *s) {
    char *end;
    strtod(s, &end);
    return end == s || isalpha((unsigned char)*s) ? NULL : end;
}

/* Parses [v, ...] or {"k": v, ...} starting at s (on the bracket). */
static const char *json_container(const char *s, int depth) {
    char close = *s == '[' ? ']' : '}';
    s = json_ws(s + 1);
    if (*s == close) return s + 1;
    for (;;) {
        if (close == '}') {
            if (!(s = json_string(json_ws(s)))) return NULL;
            s = json_ws(s);
            if (*s++ != ':') return NULL;
        }
        if (!(s = json_value(s, depth + 1))) return NULL;
        s = json_ws(s);
        if (*s == close) return s + 1;
        if (*s++ != ',') return NULL;
    }
}

static const char *json_value(const char *s, int depth) {
    if (depth > 64) return NULL;
    s = json_ws(s);
    if (*s == '[' || *s == '{') return json_container(s, depth);
    if (*s == '"') return json_string(s);
    if (!strncmp(s, "true", 4)) return s + 4;
    if (!strncmp(s, "false", 5)) return s + 5;
    if (!strncmp(s, "null", 4)) return s + 4;
    return json_number(s);
}

static int json_valid(const char *text) {
    const char *end = json_value(text, 0);
    return end && *json_ws(end) == '\0';
}

/* ---- fixtures ---- */

/* A .segc written here (no shared files needed): arch/variant/metadata and one tensor. */
static void write_small_segc(const char *path, const char *arch) {
    segc_file_writer *w;
    ck_assert_int_eq(segc_file_writer_create(&w), SEGC_OK);
    float data[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    const char *names[2] = {"background", "thing"};
    ck_assert_int_eq(segc_file_writer_add_str(w, "arch", arch), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_str(w, "variant", "tiny_test"), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_int(w, "num_classes", 2), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_strs(w, "class_names", names, 2), SEGC_OK);
    ck_assert_int_eq(segc_file_writer_add_tensor(w, "head.weight", SEGC_F32, 2, shape, data), SEGC_OK);
    ck_assert_msg(segc_file_writer_write(w, path, NULL, NULL) == SEGC_OK, "%s", segc_last_error());
    segc_file_writer_free(w);
}

/* Copies the first `bytes` of src to dst (or all of it with bytes < 0), flipping byte `flip` if >= 0. */
static void copy_bytes(const char *src, const char *dst, long bytes, long flip) {
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    ck_assert(in && out);
    int c;
    for (long i = 0; (bytes < 0 || i < bytes) && (c = fgetc(in)) != EOF; i++) fputc(i == flip ? c ^ 0x5a : c, out);
    fclose(in);
    fclose(out);
}

static void write_text(const char *path, const char *text, size_t n) {
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    fwrite(text, 1, n, fp);
    fclose(fp);
}

/* A PNG header (valid signature and IHDR) that claims w x h and has no pixel data. */
static void write_png_header_only(const char *path, uint32_t w, uint32_t h) {
    static const uint8_t head[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    uint8_t ihdr[13] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
                        (uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h, 8, 2, 0, 0, 0};
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    fwrite(head, 1, sizeof head, fp);
    fwrite(ihdr, 1, sizeof ihdr, fp);
    fwrite("\0\0\0\0", 1, 4, fp);   /* CRC (not checked before the size) */
    fclose(fp);
}

static void write_test_png(const char *path, int w, int h) {
    uint8_t *px = malloc((size_t)w * (size_t)h * 3);
    ck_assert_ptr_nonnull(px);
    for (int i = 0; i < w * h * 3; i++) px[i] = (uint8_t)(i * 37 + i / 7);
    ck_assert_int_eq(segc_png_write(path, w, h, 3, px), SEGC_OK);
    free(px);
}

/* Unchecked fixture (parent process, once): binary path, scratch files, converted models. */
static void setup_once(void) {
    const char *build = getenv("SEGC_BUILD_DIR");
    if (build) {
        snprintf(segc_bin, sizeof segc_bin, "%s/tools/segc", build);
    } else {   /* run by hand: this test lives in <build>/tests/ */
        char self[3000];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        self[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) *slash = '\0';
        snprintf(segc_bin, sizeof segc_bin, "%s/../tools/segc", self);
    }
    snprintf(tmp, sizeof tmp, "%s/cli", test_tmp_dir());
    mkdir(tmp, 0777);
    if (access(segc_bin, X_OK) != 0) return;
    test_convert_shared("hrnet_w18_small_v2_cityscapes_random.pth", tmp, "hrnet.segc", hrnet_segc, sizeof hrnet_segc);
    test_convert_shared("maskrcnn_resnet50_fpn_random_fp16.pth", tmp, "maskrcnn.segc", maskrcnn_segc, sizeof maskrcnn_segc);
    test_convert_shared("sam2.1_hiera_tiny_random_bf16.pt", tmp, "sam2.segc", sam2_segc, sizeof sam2_segc);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Unchecked teardown: the converted models are large, so nothing of this run stays in /tmp. */
static void teardown_once(void) {
    if (tmp[0]) nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    rmdir(test_tmp_dir());   /* only if no other file is left in it */
}

/* True (with a SKIP line) when the binary is not built. */
static int no_binary(void) {
    if (access(segc_bin, X_OK) == 0) return 0;
    test_skip("cli: the segc binary is not built (set SEGC_BUILD_DIR)");
    return 1;
}

static int no_model(const char *path, const char *what) {
    if (path[0]) return 0;
    char msg[256];
    snprintf(msg, sizeof msg, "cli: %s not available (../shared or the model missing from this build)", what);
    test_skip(msg);
    return 1;
}

/* ---- arguments ---- */

START_TEST(test_no_args_prints_usage_and_exits_2) {
    if (no_binary()) return;
    run_result *r = malloc(sizeof *r);
    run(r, (const char *const[]){NULL});
    expect(r, 2, "usage: segc", 1);
    free(r);
}
END_TEST

START_TEST(test_help_and_version_exit_0) {
    if (no_binary()) return;
    run_result *r = malloc(sizeof *r);
    run(r, ARGS("--help"));
    expect(r, 0, "commands:", 1);
    run(r, ARGS("-h"));
    expect(r, 0, "usage: segc", 1);
    run(r, ARGS("--version"));
    expect(r, 0, "segc " SEGC_VERSION_STRING, 1);
    ck_assert_ptr_nonnull(strstr(r->out, "threads:"));
    free(r);
}
END_TEST

START_TEST(test_unknown_command_or_option_exits_2) {
    if (no_binary()) return;
    run_result *r = malloc(sizeof *r);
    run(r, ARGS("frobnicate"));
    expect_one_line_error(r, 2, "unknown command 'frobnicate'");
    run(r, ARGS("--frobnicate", "info"));
    expect_one_line_error(r, 2, "unknown option '--frobnicate'");
    free(r);
}
END_TEST

START_TEST(test_every_subcommand_has_help) {
    if (no_binary()) return;
    static const char *cmds[] = {"info", "run", "dump", "profile", "bench", "video", "amg"};
    run_result *r = malloc(sizeof *r);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "usage: segc %s", cmds[i]);
        run(r, ARGS(cmds[i], "--help"));
        expect(r, 0, want, 1);
        run(r, ARGS(cmds[i], "-h"));
        expect(r, 0, want, 1);
    }
    free(r);
}
END_TEST

START_TEST(test_missing_and_unknown_options_exit_2) {
    if (no_binary()) return;
    run_result *r = malloc(sizeof *r);
    run(r, ARGS("run"));
    expect_one_line_error(r, 2, "missing -m");
    run(r, ARGS("run", "-m"));
    expect_one_line_error(r, 2, "option -m needs a value");
    run(r, ARGS("run", "--bogus"));
    expect_one_line_error(r, 2, "unknown argument '--bogus'");
    run(r, ARGS("run", "-m", "x.segc", "-o", tmp));
    expect_one_line_error(r, 2, "missing -i");
    char png[4200];
    path_in_tmp(png, sizeof png, "ok.png");
    write_test_png(png, 8, 8);
    run(r, ARGS("run", "-m", "x.segc", "-i", png, "-o", ""));
    expect_one_line_error(r, 2, "-o OUTDIR is empty");
    run(r, ARGS("info"));
    expect_one_line_error(r, 2, "missing FILE.segc");
    run(r, ARGS("info", "a.segc", "b.segc"));
    expect_one_line_error(r, 2, "one file at a time");
    run(r, ARGS("info", "--bogus"));
    expect_one_line_error(r, 2, "unknown option");
    run(r, ARGS("dump", "-m", "x.segc"));
    expect_one_line_error(r, 2, "missing -i");
    run(r, ARGS("profile", "-m", "x.segc"));
    expect_one_line_error(r, 2, "-i IMAGE or --size");
    run(r, ARGS("bench", "--size", "8x8"));
    expect_one_line_error(r, 2, "missing -m");
    free(r);
}
END_TEST

START_TEST(test_bad_numbers_exit_2) {
    if (no_binary()) return;
    run_result *r = malloc(sizeof *r);
    run(r, ARGS("--threads", "0", "info", "x.segc"));
    expect_one_line_error(r, 2, "--threads must be an integer");
    run(r, ARGS("--threads", "abc", "info", "x.segc"));
    expect_one_line_error(r, 2, "got 'abc'");
    run(r, ARGS("run", "-t", "-3", "-m", "x.segc"));
    expect_one_line_error(r, 2, "--threads must be an integer");
    run(r, ARGS("run", "--alpha", "1.5"));
    expect_one_line_error(r, 2, "--alpha must be a number");
    run(r, ARGS("run", "-p", "3,nan"));
    expect_one_line_error(r, 2, "is not X,Y");
    run(r, ARGS("run", "-b", "1,2,3"));
    expect_one_line_error(r, 2, "is not X0,Y0,X1,Y1");
    run(r, ARGS("bench", "--runs", "0"));
    expect_one_line_error(r, 2, "--runs must be an integer");
    run(r, ARGS("profile", "--size", "0x5"));
    expect_one_line_error(r, 2, "--size must be WxH");
    run(r, ARGS("profile", "--size", "99999x2"));
    expect_one_line_error(r, 2, "--size must be WxH");
    run_env(r, ARGS("SEGC_THREADS=lots"), ARGS("--version"));
    expect_one_line_error(r, 2, "SEGC_THREADS");
    free(r);
}
END_TEST

/* ---- bad files ---- */

START_TEST(test_missing_files) {
    if (no_binary()) return;
    char model[4200], png[4200];
    path_in_tmp(model, sizeof model, "absent.segc");
    path_in_tmp(png, sizeof png, "ok.png");
    write_test_png(png, 8, 8);
    run_result *r = malloc(sizeof *r);
    run(r, ARGS("info", model));
    expect_one_line_error(r, 1, "No such file");
    run(r, ARGS("run", "-m", model, "-i", png, "-o", tmp));
    expect_one_line_error(r, 1, "No such file");
    run(r, ARGS("run", "-m", model, "-i", "/nonexistent/image.png", "-o", tmp));
    expect_one_line_error(r, 2, "No such file");
    free(r);
}
END_TEST

START_TEST(test_truncated_and_random_segc_files_fail_cleanly) {
    if (no_binary()) return;
    char good[4200], cut[4200], noise[4200], png[4200];
    path_in_tmp(good, sizeof good, "small.segc");
    path_in_tmp(cut, sizeof cut, "truncated.segc");
    path_in_tmp(noise, sizeof noise, "random.segc");
    path_in_tmp(png, sizeof png, "ok.png");
    write_small_segc(good, "hrnet");
    write_test_png(png, 8, 8);
    run_result *r = malloc(sizeof *r);
    struct stat sb;
    ck_assert_int_eq(stat(good, &sb), 0);
    const long cuts[] = {0, 3, 40, (long)sb.st_size / 2, (long)sb.st_size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        copy_bytes(good, cut, cuts[i], -1);
        run(r, ARGS("info", cut));
        expect_one_line_error(r, 1, NULL);
        run(r, ARGS("run", "-m", cut, "-i", png, "-o", tmp));
        expect_one_line_error(r, 1, NULL);
    }
    test_rng rng = test_rng_new(7);
    char bytes[5000];
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (char)test_rng_int(&rng, 0, 255);
    write_text(noise, bytes, sizeof bytes);
    run(r, ARGS("info", noise));
    expect_one_line_error(r, 1, "not a .segc file");
    run(r, ARGS("dump", "-m", noise, "-i", png, "-o", tmp));
    expect_one_line_error(r, 1, "not a .segc file");
    run(r, ARGS("run", "-m", png, "-i", png, "-o", tmp));   /* an image given as the model */
    expect_one_line_error(r, 1, "not a .segc file");
    free(r);
}
END_TEST

START_TEST(test_info_shows_metadata_tensors_and_verifies) {
    if (no_binary()) return;
    char good[4200], bad[4200];
    path_in_tmp(good, sizeof good, "info.segc");
    path_in_tmp(bad, sizeof bad, "info_flipped.segc");
    write_small_segc(good, "hrnet");
    run_result *r = malloc(sizeof *r);
    run(r, ARGS("info", good));
    expect(r, 0, "arch:     hrnet", 1);
    ck_assert_ptr_nonnull(strstr(r->out, "variant:  tiny_test"));
    ck_assert_ptr_nonnull(strstr(r->out, "num_classes"));
    ck_assert_ptr_nonnull(strstr(r->out, "'background', 'thing'"));
    ck_assert_ptr_nonnull(strstr(r->out, "tensors:  1"));
    ck_assert_ptr_null(strstr(r->out, "head.weight"));   /* summary only by default */
    run(r, ARGS("info", good, "--tensors", "--verify"));
    expect(r, 0, "head.weight", 1);
    ck_assert_ptr_nonnull(strstr(r->out, "[2, 3]"));
    ck_assert_ptr_nonnull(strstr(r->out, "checksum: ok"));
    /* a flipped byte in the tensor data: the table still opens, --verify must catch it */
    segc_file *f;
    ck_assert_int_eq(segc_file_open(good, &f), SEGC_OK);
    long data_at = (long)segc_file_find(f, "head.weight")->offset;
    segc_file_close(f);
    copy_bytes(good, bad, -1, data_at + 5);
    run(r, ARGS("info", bad));
    expect(r, 0, "arch:", 1);
    run(r, ARGS("info", bad, "--verify"));
    expect(r, 1, "checksum", 0);
    free(r);
}
END_TEST

START_TEST(test_models_this_build_cannot_run) {
    if (no_binary()) return;
    char other[4200], empty[4200], png[4200];
    path_in_tmp(other, sizeof other, "other_arch.segc");
    path_in_tmp(empty, sizeof empty, "no_weights.segc");
    path_in_tmp(png, sizeof png, "ok.png");
    write_small_segc(other, "resnet_classifier");
    write_small_segc(empty, "hrnet");
    write_test_png(png, 8, 8);
    run_result *r = malloc(sizeof *r);
    run(r, ARGS("run", "-m", other, "-i", png, "-o", tmp));
    expect_one_line_error(r, 1, "architecture 'resnet_classifier' is not supported");
    run(r, ARGS("bench", "-m", other, "--size", "8x8"));
    expect_one_line_error(r, 1, "not supported");
    run(r, ARGS("run", "-m", empty, "-i", png, "-o", tmp));   /* an hrnet file without its weights */
    expect_one_line_error(r, 1, NULL);
    free(r);
}
END_TEST

START_TEST(test_directory_without_images_exits_2) {
    if (no_binary()) return;
    char dir[4200], txt[4300];
    path_in_tmp(dir, sizeof dir, "no_images");
    mkdir(dir, 0777);
    snprintf(txt, sizeof txt, "%s/readme.txt", dir);
    write_text(txt, "not an image\n", 13);
    run_result *r = malloc(sizeof *r);
    run(r, ARGS("run", "-m", "x.segc", "-i", dir, "-o", tmp));
    expect_one_line_error(r, 2, "has no image files");
    free(r);
}
END_TEST

/* ---- real runs (need ../shared) ---- */

START_TEST(test_run_rejects_bad_images_and_outdirs) {
    if (no_binary() || no_model(hrnet_segc, "hrnet")) return;
    char corrupt[4200], huge[4200], wide[4200], png[4200], file[4200], sub[4300], out[4200];
    path_in_tmp(corrupt, sizeof corrupt, "corrupt.png");
    path_in_tmp(huge, sizeof huge, "huge.png");
    path_in_tmp(wide, sizeof wide, "wide.png");
    path_in_tmp(png, sizeof png, "ok.png");
    path_in_tmp(file, sizeof file, "plain_file");
    path_in_tmp(out, sizeof out, "out_bad");
    snprintf(sub, sizeof sub, "%s/sub", file);
    write_test_png(png, 8, 8);
    copy_bytes(png, corrupt, 60, -1);   /* a PNG cut inside its data */
    write_png_header_only(huge, 16000, 16000);
    write_png_header_only(wide, 16384, 5000);
    write_text(file, "x", 1);
    run_result *r = malloc(sizeof *r);
    run(r, ARGS("run", "-m", hrnet_segc, "-i", corrupt, "-o", out));
    expect_one_line_error(r, 1, "corrupt.png");
    run(r, ARGS("run", "-m", hrnet_segc, "-i", huge, "-o", out));
    expect_one_line_error(r, 1, "outside the supported size");
    run(r, ARGS("run", "-m", hrnet_segc, "-i", wide, "-o", out));
    expect_one_line_error(r, 1, "outside the supported size");
    run(r, ARGS("run", "-m", hrnet_segc, "-i", png, "-o", file));
    expect_one_line_error(r, 1, "not a directory");
    run(r, ARGS("run", "-m", hrnet_segc, "-i", png, "-o", sub));
    expect_one_line_error(r, 1, "cannot create directory");
    run(r, ARGS("run", "-m", hrnet_segc, "-i", png, "-o", out, "-p", "3,3"));
    expect_one_line_error(r, 2, "promptable");
    run(r, ARGS("dump", "-m", hrnet_segc, "-i", corrupt, "-o", out));
    expect_one_line_error(r, 1, "corrupt.png");
    free(r);
}
END_TEST

START_TEST(test_run_hrnet_writes_labels_and_overlay) {
    if (no_binary() || no_model(hrnet_segc, "hrnet")) return;
    char in[4096], out[4200];
    const char *shared = test_shared_dir();
    snprintf(in, sizeof in, "%s/reference/hrnet/cars_1024x512/input.png", shared);
    path_in_tmp(out, sizeof out, "hrnet_out");
    run_result *r = malloc(sizeof *r);
    run(r, ARGS("run", "-m", hrnet_segc, "-i", in, "-o", out, "-t", "2"));
    expect(r, 0, NULL, 0);
    ck_assert(file_exists(out, "labels.png") && file_exists(out, "overlay.png"));
    char path[4400];
    snprintf(path, sizeof path, "%s/labels.png", out);
    segc_image img;
    ck_assert_int_eq(segc_image_load(path, &img), SEGC_OK);
    ck_assert_int_eq(img.width, 1024);
    ck_assert_int_eq(img.height, 512);
    int max_label = 0;
    for (int i = 0; i < img.width * img.height; i++) max_label = img.rgb[3 * i] > max_label ? img.rgb[3 * i] : max_label;
    ck_assert_int_lt(max_label, 19);
    segc_image_free(&img);
    /* flip + multi-scale inference, and bad --scales */
    run(r, ARGS("run", "-m", hrnet_segc, "-i", in, "-o", out, "--scales", "0.5,x"));
    expect_one_line_error(r, 2, "--scales");
    run(r, ARGS("run", "-m", hrnet_segc, "-i", in, "-o", out, "--flip", "--scales", "0.5"));
    expect(r, 0, NULL, 0);
    ck_assert(file_exists(out, "labels.png"));
    free(r);
}
END_TEST

START_TEST(test_run_several_images_and_dump_profile_bench) {
    if (no_binary() || no_model(hrnet_segc, "hrnet")) return;
    char dir[4200], a[4300], b[4300], out[4200], dump[4200];
    path_in_tmp(dir, sizeof dir, "two_images");
    path_in_tmp(out, sizeof out, "two_out");
    path_in_tmp(dump, sizeof dump, "dump_out");
    mkdir(dir, 0777);
    snprintf(a, sizeof a, "%s/a.png", dir);
    snprintf(b, sizeof b, "%s/b.png", dir);
    write_test_png(a, 40, 24);
    write_test_png(b, 17, 9);
    run_result *r = malloc(sizeof *r);
    run(r, ARGS("run", "-m", hrnet_segc, "-i", dir, "-o", out, "--save-logits"));
    expect(r, 0, "[2/2] b", 0);
    char sub[4300];
    snprintf(sub, sizeof sub, "%s/a", out);
    ck_assert(file_exists(sub, "labels.png") && file_exists(sub, "logits.npy"));
    snprintf(sub, sizeof sub, "%s/b", out);
    ck_assert(file_exists(sub, "overlay.png"));

    run(r, ARGS("dump", "-m", hrnet_segc, "-i", a, "-o", dump, "--tap", "stage4.*", "--tap", "nothing*"));
    expect(r, 0, "pattern 'nothing*' matched no tap", 0);
    ck_assert(file_exists(dump, "stage4.branch0.npy") && file_exists(dump, "stage4.branch3.npy"));
    run(r, ARGS("dump", "-m", hrnet_segc, "-i", a, "-o", dump, "--tap", "nothing*"));
    expect(r, 1, "no tap matched", 0);
    run(r, ARGS("dump", "-m", hrnet_segc, "-i", a, "--list"));
    expect(r, 0, "last_layer", 1);

    run(r, ARGS("profile", "-m", hrnet_segc, "--size", "48x32", "--runs", "1", "--warmup", "0"));
    expect(r, 0, "stage4.branch3", 1);
    ck_assert_ptr_nonnull(strstr(r->out, "total"));
    run(r, ARGS("bench", "-m", hrnet_segc, "-i", b, "--runs", "3", "--warmup", "0"));
    expect(r, 0, "median", 1);
    ck_assert_ptr_nonnull(strstr(r->out, "min"));
    free(r);
}
END_TEST

START_TEST(test_run_maskrcnn_writes_parseable_detections) {
    if (no_binary() || no_model(maskrcnn_segc, "maskrcnn")) return;
    char in[4200], out[4200], json[4400];
    path_in_tmp(in, sizeof in, "maskrcnn_in.png");
    path_in_tmp(out, sizeof out, "maskrcnn_out");
    write_test_png(in, 96, 96);   /* resized to 800x800 inside: the smallest pass Mask R-CNN makes */
    run_result *r = malloc(sizeof *r);
    run(r, ARGS("run", "-m", maskrcnn_segc, "-i", in, "-o", out, "--score-threshold", "0.3"));
    expect(r, 0, NULL, 0);
    ck_assert(file_exists(out, "detections.json") && file_exists(out, "overlay.png"));
    snprintf(json, sizeof json, "%s/detections.json", out);
    static char text[1 << 20];
    read_text(json, text, sizeof text);
    ck_assert_msg(json_valid(text), "detections.json is not valid JSON: %.300s", text);
    ck_assert_msg(text[0] == '[', "detections.json is not a list");
    if (strstr(text, "{")) {
        ck_assert_ptr_nonnull(strstr(text, "\"category_name\""));
        ck_assert_ptr_nonnull(strstr(text, "\"counts\""));
    }
    free(r);
}
END_TEST

/* True if both files exist and hold the same bytes. */
static int same_bytes(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

START_TEST(test_run_sam2_point_prompt_writes_mask_and_scores) {
    if (no_binary() || no_model(sam2_segc, "sam2")) return;
    char in[4096], out[4200], path[4400];
    snprintf(in, sizeof in, "%s/reference/sam2.1_tiny/truck_point/input.png", test_shared_dir());
    path_in_tmp(out, sizeof out, "sam2_out");
    run_result *r = malloc(sizeof *r);
    run(r, ARGS("run", "-m", sam2_segc, "-i", in, "-o", out));   /* no prompt */
    expect_one_line_error(r, 2, "needs a prompt");
    run(r, ARGS("run", "-m", sam2_segc, "-i", in, "-o", out, "-p", "500,375", "--save-logits"));
    expect_one_line_error(r, 2, "--save-logits is for semantic");
    char jsonl[4200];   /* prompt files are checked before anything is encoded */
    path_in_tmp(jsonl, sizeof jsonl, "prompts.jsonl");
    const char *lines = "{\"points\": [[10, 12, 1]]}\n\n{\"box\": [1, 2, 30]}\n";
    write_text(jsonl, lines, strlen(lines));
    run(r, ARGS("run", "-m", sam2_segc, "-i", in, "-o", out, "--prompts", jsonl));
    expect_one_line_error(r, 1, "prompts.jsonl:3: \"box\" must be");
    run(r, ARGS("run", "-m", sam2_segc, "-i", in, "-o", out, "-p", "1,2", "--mask-input", jsonl + 1));
    expect_one_line_error(r, 1, "mask input");
    run(r, ARGS("run", "-m", sam2_segc, "-i", in, "-o", out, "-p", "500,375", "--save-embedding"));
    expect(r, 0, NULL, 0);
    ck_assert(file_exists(out, "mask_0.png") && file_exists(out, "scores.json") && file_exists(out, "low_res_logits.npy"));
    /* the saved embedding, prompted again without the image, gives the same low-res logits */
    char emb[4400], out2[4200], a[4400], b[4400];
    snprintf(emb, sizeof emb, "%s/embedding.segc", out);
    path_in_tmp(out2, sizeof out2, "sam2_out_emb");
    run(r, ARGS("run", "-m", sam2_segc, "--embedding", emb, "-i", in, "-o", out2, "-p", "500,375"));
    expect_one_line_error(r, 2, "not both");
    run(r, ARGS("run", "-m", sam2_segc, "--embedding", emb, "-o", out2, "-p", "500,375"));
    expect(r, 0, NULL, 0);
    snprintf(a, sizeof a, "%s/low_res_logits.npy", out);
    snprintf(b, sizeof b, "%s/low_res_logits.npy", out2);
    ck_assert_msg(same_bytes(a, b), "low_res_logits.npy from --embedding differs from the encoded run");
    snprintf(path, sizeof path, "%s/scores.json", out);
    read_text(path, r->out, sizeof r->out);
    ck_assert_msg(json_valid(r->out) && strstr(r->out, "\"iou\"") && strstr(r->out, "\"object_score_logit\""),
                  "scores.json: %s", r->out);
    snprintf(path, sizeof path, "%s/mask_0.png", out);
    segc_image img;
    ck_assert_int_eq(segc_image_load(path, &img), SEGC_OK);
    ck_assert(img.width == 900 && img.height == 600);
    segc_image_free(&img);
    free(r);
}
END_TEST

static Suite *cli_suite(void) {
    Suite *s = suite_create("cli");
    TCase *args = tcase_create("arguments");
    tcase_add_unchecked_fixture(args, setup_once, teardown_once);
    tcase_set_timeout(args, TIMEOUT_S + 60);   /* a test may run one command up to TIMEOUT_S (model runs under ASan) */
    tcase_add_test(args, test_no_args_prints_usage_and_exits_2);
    tcase_add_test(args, test_help_and_version_exit_0);
    tcase_add_test(args, test_unknown_command_or_option_exits_2);
    tcase_add_test(args, test_every_subcommand_has_help);
    tcase_add_test(args, test_missing_and_unknown_options_exit_2);
    tcase_add_test(args, test_bad_numbers_exit_2);
    tcase_add_test(args, test_missing_files);
    tcase_add_test(args, test_truncated_and_random_segc_files_fail_cleanly);
    tcase_add_test(args, test_info_shows_metadata_tensors_and_verifies);
    tcase_add_test(args, test_models_this_build_cannot_run);
    tcase_add_test(args, test_directory_without_images_exits_2);
    tcase_add_test(args, test_run_rejects_bad_images_and_outdirs);
    tcase_add_test(args, test_run_hrnet_writes_labels_and_overlay);
    tcase_add_test(args, test_run_several_images_and_dump_profile_bench);
    tcase_add_test(args, test_run_maskrcnn_writes_parseable_detections);
    tcase_add_test(args, test_run_sam2_point_prompt_writes_mask_and_scores);
    suite_add_tcase(s, args);
    return s;
}

int main(void) { return test_run_suite(cli_suite()); }
