/* test_convert.c - the converter framework: tiny checkpoints (zip, legacy, safetensors) converted with
   --arch raw to f32/f16/bf16 and checked bit for bit against PyTorch (tests/gen/fixtures_convert.py);
   wrapper stripping, metadata, detection and forcing errors, the arch.h helpers, class lists; and the
   four shared checkpoints converted with detection and checked tensor by tensor against checksums
   made with PyTorch (tests/gen/checkpoint_checksums.py), plus missing / mis-shaped tensors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "arch.h"
#include "checkpoint.h"
#include "classes.h"
#include "convert.h"
#include "core/half.h"
#include "core/status.h"
#include "io/segc_file.h"
#include "test_util.h"


static const char *data_path(const char *name) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/convert/%s", test_data_dir(), name);
    return buf[k];
}

static const char *tmp_path(const char *name) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", test_tmp_dir(), name);
    return buf[k];
}

static segc_status convert(const char *in, const char *out, const char *arch, segc_dtype dtype) {
    segc_convert_options o;
    segc_convert_options_default(&o);
    o.arch = arch;
    o.dtype = dtype;
    return segc_convert_file(in, out, &o);
}

static const char *meta_str(const segc_file *f, const char *key) {
    const char *s = NULL;
    ck_assert_msg(segc_file_get_str(f, key, &s) == SEGC_OK, "%s", segc_last_error());
    return s;
}

/* ---- tiny_expected.txt ---- */

#define MAX_EXPECTED 32
typedef struct expected_tensor {
    char name[64];
    int ndim;
    int64_t shape[8];
    int64_t numel;
    uint32_t *bits[3];   /* per output dtype (f32, f16, bf16): bit patterns */
} expected_tensor;

typedef struct expected {
    expected_tensor t[MAX_EXPECTED];
    int n;
    char sha[3][65];     /* tiny.pth, tiny_legacy.pth, tiny.safetensors */
} expected;

static int dtype_index(const char *s) { return !strcmp(s, "f32") ? 0 : !strcmp(s, "f16") ? 1 : 2; }

/* Parses the fixture's lines: "sha256 FILE HEX", "shape NAME NDIM D...", "value NAME DTYPE HEX...". */
static void load_expected(expected *e) {
    memset(e, 0, sizeof *e);
    FILE *fp = fopen(data_path("tiny_expected.txt"), "r");
    ck_assert_msg(fp != NULL, "missing tests/data/convert/tiny_expected.txt (run tests/gen/fixtures_convert.py)");
    static char line[1 << 16];
    while (fgets(line, sizeof line, fp)) {
        char *save = NULL, *kind = strtok_r(line, " \n", &save), *name = strtok_r(NULL, " \n", &save);
        if (!kind || !name) continue;
        if (!strcmp(kind, "sha256")) {
            int k = !strcmp(name, "tiny.pth") ? 0 : !strcmp(name, "tiny_legacy.pth") ? 1 : 2;
            snprintf(e->sha[k], sizeof e->sha[k], "%s", strtok_r(NULL, " \n", &save));
        } else if (!strcmp(kind, "shape")) {
            ck_assert_int_lt(e->n, MAX_EXPECTED);
            expected_tensor *t = &e->t[e->n++];
            snprintf(t->name, sizeof t->name, "%s", name);
            t->ndim = atoi(strtok_r(NULL, " \n", &save));
            t->numel = 1;
            for (int d = 0; d < t->ndim; d++) t->numel *= t->shape[d] = atoll(strtok_r(NULL, " \n", &save));
        } else {
            expected_tensor *t = &e->t[e->n - 1];
            ck_assert_str_eq(t->name, name);
            int di = dtype_index(strtok_r(NULL, " \n", &save));
            t->bits[di] = calloc((size_t)t->numel + 1, sizeof(uint32_t));
            for (int64_t i = 0; i < t->numel; i++) {
                char *h = strtok_r(NULL, " \n", &save);
                ck_assert_ptr_nonnull(h);
                t->bits[di][i] = (uint32_t)strtoul(h, NULL, 16);
            }
        }
    }
    fclose(fp);
    ck_assert_int_gt(e->n, 5);
}

static void free_expected(expected *e) {
    for (int i = 0; i < e->n; i++)
        for (int d = 0; d < 3; d++) free(e->t[i].bits[d]);
}

/* Both NaN, or the same bits. */
static int same_value(uint32_t got, uint32_t want, int di) {
    if (di == 0) {
        float a, b;
        memcpy(&a, &got, 4);
        memcpy(&b, &want, 4);
        if (isnan(a) && isnan(b)) return 1;
    } else {
        float a = di == 1 ? segc_f16_to_f32((uint16_t)got) : segc_bf16_to_f32((uint16_t)got);
        float b = di == 1 ? segc_f16_to_f32((uint16_t)want) : segc_bf16_to_f32((uint16_t)want);
        if (isnan(a) && isnan(b)) return 1;
    }
    return got == want;
}

/* Progress must rise monotonically and end at its total. */
typedef struct progress_log { uint64_t last, total; int calls; } progress_log;
static void log_progress(void *user, uint64_t done, uint64_t total) {
    progress_log *p = user;
    ck_assert_uint_ge(done, p->last);
    ck_assert_uint_le(done, total);
    p->last = done;
    p->total = total;
    p->calls++;
}

START_TEST(test_raw_tiny_every_container_and_dtype) {
    expected e;
    load_expected(&e);
    const char *files[] = {"tiny.pth", "tiny_legacy.pth", "tiny.safetensors"};
    const char *formats[] = {"zip", "legacy", "safetensors"};
    const char *prefixes[] = {"model_state.", "state_dict.module.", "model."};
    const segc_dtype dts[] = {SEGC_F32, SEGC_F16, SEGC_BF16};
    for (int fi = 0; fi < 3; fi++)
        for (int di = 0; di < 3; di++) {
            const char *out = tmp_path("tiny.segc");
            segc_convert_options o;
            segc_convert_options_default(&o);
            o.arch = "raw";
            o.dtype = dts[di];
            progress_log pl = {0};
            o.progress = log_progress;
            o.progress_user = &pl;
            segc_status st = segc_convert_file(data_path(files[fi]), out, &o);
            ck_assert_msg(st == SEGC_OK, "%s -> %s: %s", files[fi], segc_dtype_name(dts[di]), segc_last_error());
            ck_assert_int_gt(pl.calls, 1);
            ck_assert_uint_eq(pl.last, pl.total);
            segc_file *f;
            ck_assert_int_eq(segc_file_open(out, &f), SEGC_OK);
            ck_assert_int_eq(segc_file_verify(f), SEGC_OK);
            ck_assert_str_eq(meta_str(f, "arch"), "raw");
            ck_assert_str_eq(meta_str(f, "source.name"), files[fi]);
            ck_assert_str_eq(meta_str(f, "source.format"), formats[fi]);
            ck_assert_str_eq(meta_str(f, "source.prefix"), prefixes[fi]);
            ck_assert_str_eq(meta_str(f, "source.dtype"), "mixed");
            ck_assert_str_eq(meta_str(f, "source.sha256"), e.sha[fi]);
            ck_assert_str_eq(meta_str(f, "converter.version"), SEGC_VERSION_STRING);
            /* exactly the float tensors of the model subtree: no optimizer state, no integer buffers */
            ck_assert_int_eq(segc_file_tensor_count(f), e.n);
            for (int i = 0; i < e.n; i++) {
                const expected_tensor *x = &e.t[i];
                const segc_file_tensor *t = segc_file_find(f, x->name);
                ck_assert_msg(t != NULL, "%s: no tensor %s", files[fi], x->name);
                ck_assert_int_eq(t->dtype, dts[di]);
                ck_assert_int_eq(t->ndim, x->ndim);
                for (int d = 0; d < x->ndim; d++) ck_assert_int_eq(t->shape[d], x->shape[d]);
                for (int64_t k = 0; k < x->numel; k++) {
                    uint32_t got = 0;
                    memcpy(&got, (const uint8_t *)t->data + k * (int64_t)segc_dtype_size(t->dtype),
                           segc_dtype_size(t->dtype));
                    ck_assert_msg(same_value(got, x->bits[di][k], di), "%s %s %s[%lld]: got %08x, torch %08x",
                                  files[fi], segc_dtype_name(dts[di]), x->name, (long long)k, got, x->bits[di][k]);
                }
            }
            segc_file_close(f);
        }
    free_expected(&e);
}
END_TEST

START_TEST(test_detection_and_forcing_errors) {
    const char *in = data_path("tiny.pth"), *out = tmp_path("err.segc");
    unlink(out);
    ck_assert_int_eq(convert(in, out, NULL, SEGC_F32), SEGC_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(segc_last_error(), "not a known architecture: first keys are conv.weight") != NULL, "%s",
                  segc_last_error());
    ck_assert_int_eq(convert(in, out, "resnet", SEGC_F32), SEGC_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "unknown architecture 'resnet'"));
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "raw"));
    const char *archs[] = {"deeplabv3plus", "hrnet", "maskrcnn", "sam2"};
    for (int i = 0; i < 4; i++) {
        if (!convert_arch_by_name(archs[i])) continue;
        ck_assert_int_ne(convert(in, out, archs[i], SEGC_F32), SEGC_OK);
        ck_assert_msg(strstr(segc_last_error(), "tiny.pth") != NULL, "forced %s: %s", archs[i], segc_last_error());
    }
    ck_assert_int_eq(convert(in, out, "raw", SEGC_I32), SEGC_ERR_INVALID_ARG);
    segc_convert_options o;
    segc_convert_options_default(&o);
    o.output_stride = 4;
    ck_assert_int_eq(segc_convert_file(in, out, &o), SEGC_ERR_INVALID_ARG);
    ck_assert_int_ne(convert(tmp_path("no-such.pth"), out, "raw", SEGC_F32), SEGC_OK);
    ck_assert_int_ne(access(out, F_OK), 0);   /* nothing written by any failure */
    ck_assert_int_eq(convert(in, in, "raw", SEGC_F32), SEGC_ERR_INVALID_ARG);
    /* not a checkpoint at all */
    ck_assert_int_ne(convert(data_path("tiny_expected.txt"), out, "raw", SEGC_F32), SEGC_OK);
    ck_assert_str_ne(segc_last_error(), "");
}
END_TEST

START_TEST(test_arch_helpers) {
    ckpt *ck;
    ck_assert_int_eq(ckpt_open(data_path("tiny.pth"), &ck), SEGC_OK);
    convert_source src = {.ck = ck, .prefix = "model_state."};
    ck_assert_ptr_nonnull(convert_find(&src, "conv.weight"));
    ck_assert_ptr_null(convert_find(&src, "model_state.conv.weight"));
    ck_assert_ptr_null(convert_find(&src, "momentum_buffer"));
    const int64_t good[] = {2, 3, 3, 3}, bad[] = {2, 3, 3};
    ck_assert_int_eq(convert_expect(&src, "conv.weight", 4, good), SEGC_OK);
    ck_assert_int_eq(convert_expect(&src, "conv.weight", 3, bad), SEGC_ERR_SHAPE);
    ck_assert_str_eq(segc_last_error(), "tensor model_state.conv.weight has shape [2, 3, 3, 3], expected [2, 3, 3]");
    ck_assert_int_eq(convert_expect(&src, "conv.bias", 1, bad), SEGC_ERR_NOT_FOUND);
    ck_assert_str_eq(segc_last_error(), "missing tensor model_state.conv.bias");
    ck_assert_int_eq(convert_dim(&src, "t.transposed", 0), 4);
    ck_assert_int_eq(convert_dim(&src, "t.transposed", 1), 6);
    ck_assert_int_eq(convert_dim(&src, "t.transposed", 2), -1);
    ck_assert_int_eq(convert_dim(&src, "nope", 0), -1);
    ck_assert_int_eq(convert_count_prefix(&src, "bn."), 2);
    ck_assert_int_eq(convert_count_prefix(&src, ""), 13);
    ck_assert_int_eq(convert_count_prefix(&src, "state."), 0);
    ckpt_close(ck);
}
END_TEST

static void write_text(const char *path, const char *text, size_t n) {
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(text, 1, n, fp), n);
    fclose(fp);
}

START_TEST(test_class_lists) {
    int n;
    const char *const *v = convert_classes_official("voc", &n);
    ck_assert_int_eq(n, 21);
    ck_assert_str_eq(v[20], "tvmonitor");
    v = convert_classes_official("cityscapes", &n);
    ck_assert_int_eq(n, 19);
    ck_assert_str_eq(v[18], "bicycle");
    v = convert_classes_official("coco", &n);
    ck_assert_int_eq(n, 91);
    ck_assert_str_eq(v[0], "__background__");
    ck_assert_str_eq(v[12], "N/A");
    ck_assert_str_eq(v[90], "toothbrush");
    ck_assert_ptr_null(convert_classes_official("imagenet", &n));
    ck_assert_int_eq(n, 0);

    const char *p = tmp_path("classes.txt");
    const char text[] = "# my classes\r\n  sky \r\n\r\nroad\n\tcar body\t\nlast";
    write_text(p, text, sizeof text - 1);
    char **names;
    ck_assert_int_eq(convert_classes_read(p, &names, &n), SEGC_OK);
    ck_assert_int_eq(n, 4);
    ck_assert_str_eq(names[0], "sky");
    ck_assert_str_eq(names[1], "road");
    ck_assert_str_eq(names[2], "car body");
    ck_assert_str_eq(names[3], "last");
    convert_classes_free(names, n);
    write_text(p, "a\nb\0c\n", 6);
    ck_assert_int_eq(convert_classes_read(p, &names, &n), SEGC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), ":2: NUL"));
    write_text(p, "a\nb\x01c\n", 6);
    ck_assert_int_eq(convert_classes_read(p, &names, &n), SEGC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), ":2: control"));
    write_text(p, "# only a comment\n\n", 18);
    ck_assert_int_eq(convert_classes_read(p, &names, &n), SEGC_ERR_FORMAT);
    ck_assert_int_eq(convert_classes_read(tmp_path("absent.txt"), &names, &n), SEGC_ERR_IO);

    /* convert_write_classes: the file's count must match, the dataset must be known */
    segc_file_writer *w;
    ck_assert_int_eq(segc_file_writer_create(&w), SEGC_OK);
    segc_convert_options o;
    segc_convert_options_default(&o);
    ck_assert_int_eq(convert_write_classes(w, &o, "voc", 19), SEGC_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(segc_last_error(), "21"));
    o.dataset = "kitti";
    ck_assert_int_eq(convert_write_classes(w, &o, "voc", 21), SEGC_ERR_INVALID_ARG);
    o.dataset = NULL;
    write_text(p, "x\ny\n", 4);
    o.classes_path = p;
    ck_assert_int_eq(convert_write_classes(w, &o, "voc", 3), SEGC_ERR_SHAPE);
    ck_assert_int_eq(convert_write_classes(w, &o, "voc", 2), SEGC_OK);
    const char *out = tmp_path("classes.segc");
    ck_assert_int_eq(segc_file_writer_write(w, out, NULL, NULL), SEGC_OK);
    segc_file_writer_free(w);
    segc_file *f;
    ck_assert_int_eq(segc_file_open(out, &f), SEGC_OK);
    const segc_kv *kv = segc_file_kv_find(f, "class_names");
    ck_assert_ptr_nonnull(kv);
    ck_assert_int_eq(kv->count, 2);
    ck_assert_str_eq(kv->strs[1], "y");
    ck_assert_str_eq(meta_str(f, "dataset"), "voc");
    segc_file_close(f);
}
END_TEST

/* ---- the shared checkpoints ---- */

typedef struct shared_case { const char *file, *arch, *sha256, *prefix, *dtype; } shared_case;
static const shared_case shared_cases[] = {
    {"deeplabv3plus_mobilenet_voc_os16_random.pth", "deeplabv3plus",
     "95276d7a8e88e85453e3e1931a01ee752fe63ba3656e50db3d46d7d959155175", "model_state.", "f32"},
    {"hrnet_w18_small_v2_cityscapes_random.pth", "hrnet",
     "a4ce944b73a490e04d8369fa7b7bda1d0a10587a4bd0b018fc3b4ca7bf0bed4b", "model.", "f32"},
    {"maskrcnn_resnet50_fpn_random_fp16.pth", "maskrcnn",
     "2f66432484eaf96235bb6667b4d4d204aaeeca9846c46e2154c5872fcaf49e80", "", "f16"},
    {"sam2.1_hiera_tiny_random_bf16.pt", "sam2", "25225b29dd0e633d8302381e025ab8228c5f57f4080742e8b1b497d7091d81ae",
     "model.", "bf16"},
};

/* One line of shared_checksums.txt.gz. */
typedef struct checksum {
    char name[160];
    int64_t count;
    double sum, sumsq, wsum;
    char first[12], last[12];
} checksum;

/* Reads the checksums of `file` (its "file" line and the tensor lines after it); returns how many. */
static int load_checksums(const char *file, checksum **out, int *nfloat) {
    gzFile gz = gzopen(data_path("shared_checksums.txt.gz"), "rb");
    ck_assert_msg(gz != NULL, "missing tests/data/convert/shared_checksums.txt.gz");
    char line[512], fname[256], prefix[64];
    int n = 0, cap = 0, in = 0;
    *out = NULL;
    while (gzgets(gz, line, sizeof line)) {
        int nf;
        if (sscanf(line, "file %255s %63s %d", fname, prefix, &nf) == 3) {
            in = !strcmp(fname, file);
            if (in) *nfloat = nf;
            continue;
        }
        if (!in) continue;
        if (n == cap) *out = realloc(*out, (size_t)(cap = cap ? cap * 2 : 512) * sizeof **out);
        checksum *c = &(*out)[n];
        long long count;
        ck_assert_int_eq(sscanf(line, "%159s %lld %lf %lf %lf %11s %11s", c->name, &count, &c->sum, &c->sumsq, &c->wsum,
                                c->first, c->last), 7);
        c->count = count;
        n++;
    }
    gzclose(gz);
    ck_assert_int_gt(n, 0);
    return n;
}

/* Checks one stored tensor (any float dtype) against its PyTorch checksum. */
static void check_tensor(const segc_file_tensor *t, const checksum *c, const char *file) {
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) numel *= t->shape[d];
    ck_assert_msg(numel == c->count, "%s: %s has %lld elements, checkpoint %lld", file, t->name, (long long)numel,
                  (long long)c->count);
    double sum = 0, sumsq = 0, wsum = 0;
    float first = 0, last = 0;
    for (int64_t i = 0; i < numel; i++) {
        float v;
        if (t->dtype == SEGC_F32) memcpy(&v, (const float *)t->data + i, 4);
        else {
            uint16_t h;
            memcpy(&h, (const uint16_t *)t->data + i, 2);
            v = t->dtype == SEGC_F16 ? segc_f16_to_f32(h) : segc_bf16_to_f32(h);
        }
        if (i == 0) first = v;
        last = v;
        sum += v;
        sumsq += (double)v * v;
        wsum += (double)v * (double)(i % 7 + 1);
    }
    char hf[12], hl[12];
    uint32_t b;
    memcpy(&b, &first, 4);
    snprintf(hf, sizeof hf, "%08x", b);
    memcpy(&b, &last, 4);
    snprintf(hl, sizeof hl, "%08x", b);
    if (numel) {
        ck_assert_msg(!strcmp(hf, c->first) && !strcmp(hl, c->last), "%s: %s first/last %s/%s, checkpoint %s/%s",
                      file, t->name, hf, hl, c->first, c->last);
    }
    double tol = 1e-9 * 7 * sqrt((double)numel * c->sumsq) + 1e-30;   /* >= 1e-9 * sum_i |v_i| w_i */
    ck_assert_msg(fabs(sum - c->sum) <= tol && fabs(wsum - c->wsum) <= tol &&
                      fabs(sumsq - c->sumsq) <= 1e-9 * c->sumsq + 1e-30,
                  "%s: %s sums %.10g/%.10g/%.10g, checkpoint %.10g/%.10g/%.10g", file, t->name, sum, sumsq, wsum,
                  c->sum, c->sumsq, c->wsum);
}

/* Converts one shared checkpoint with detection and checks every stored tensor. */
static void check_shared(const shared_case *sc, segc_dtype dtype) {
    const char *shared = test_shared_dir();
    char in[1024], msg[256];
    snprintf(in, sizeof in, "%s/weights/%s", shared, sc->file);
    const char *out = tmp_path("shared.segc");
    segc_status st = convert(in, out, NULL, dtype);
    ck_assert_msg(st == SEGC_OK, "%s: %s", sc->file, segc_last_error());
    segc_file *f;
    ck_assert_int_eq(segc_file_open(out, &f), SEGC_OK);
    ck_assert_str_eq(meta_str(f, "arch"), sc->arch);
    ck_assert_str_eq(meta_str(f, "source.sha256"), sc->sha256);
    ck_assert_str_eq(meta_str(f, "source.name"), sc->file);
    ck_assert_str_eq(meta_str(f, "source.prefix"), sc->prefix);
    ck_assert_str_eq(meta_str(f, "source.dtype"), sc->dtype);
    ck_assert_str_eq(meta_str(f, "source.format"), "zip");
    checksum *cs;
    int nfloat = 0, ncs = load_checksums(sc->file, &cs, &nfloat);
    ck_assert_int_eq(ncs, nfloat);
    int nt = segc_file_tensor_count(f);
    ck_assert_int_gt(nt, 0);
    ck_assert_int_le(nt, ncs);
    for (int i = 0; i < nt; i++) {
        const segc_file_tensor *t = segc_file_tensor_at(f, i);
        ck_assert_int_eq(t->dtype, dtype);
        const checksum *c = NULL;
        for (int k = 0; k < ncs && !c; k++)
            if (!strcmp(cs[k].name, t->name)) c = &cs[k];
        ck_assert_msg(c != NULL, "%s: stored tensor %s is not a model tensor of the checkpoint", sc->file, t->name);
        check_tensor(t, c, sc->file);
    }
    snprintf(msg, sizeof msg, "%s as %s (%s): %d of %d float tensors kept, all match PyTorch", sc->file, sc->arch,
             segc_dtype_name(dtype), nt, ncs);
    fprintf(stderr, "%s\n", msg);
    free(cs);
    segc_file_close(f);
    unlink(out);
}

START_TEST(test_shared_checkpoints_match_pytorch) {
    if (!test_shared_dir()) {
        test_skip("../shared not found: shared checkpoint conversion not tested");
        return;
    }
    for (int i = 0; i < 4; i++) {
        const shared_case *sc = &shared_cases[i];
        if (!convert_arch_by_name(sc->arch)) {
            char why[160];
            snprintf(why, sizeof why, "converter hook '%s' not compiled in yet: %s not tested", sc->arch, sc->file);
            test_skip(why);
            continue;
        }
        check_shared(sc, SEGC_F32);
    }
    /* the 16-bit outputs from same-dtype sources are exact too */
    if (convert_arch_by_name("maskrcnn")) check_shared(&shared_cases[2], SEGC_F16);
    if (convert_arch_by_name("sam2")) check_shared(&shared_cases[3], SEGC_BF16);
}
END_TEST

/* Forcing each hook onto the other architectures' checkpoints fails with a reason naming the file. */
START_TEST(test_wrong_arch_forced_on_shared) {
    const char *shared = test_shared_dir();
    if (!shared) {
        test_skip("../shared not found: wrong-arch forcing on real checkpoints not tested");
        return;
    }
    const char *out = tmp_path("wrong.segc");
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            if (i == j || !convert_arch_by_name(shared_cases[j].arch)) continue;
            char in[1024];
            snprintf(in, sizeof in, "%s/weights/%s", shared, shared_cases[i].file);
            ck_assert_msg(convert(in, out, shared_cases[j].arch, SEGC_F32) != SEGC_OK, "%s converted as %s",
                          shared_cases[i].file, shared_cases[j].arch);
            ck_assert_msg(strstr(segc_last_error(), shared_cases[i].file) != NULL, "%s as %s: %s",
                          shared_cases[i].file, shared_cases[j].arch, segc_last_error());
            ck_assert_int_ne(access(out, F_OK), 0);
        }
}
END_TEST

/* --classes, --dataset and --output-stride reach the hook (DeepLabV3+, the smallest shared checkpoint). */
START_TEST(test_options_reach_the_hook) {
    const char *shared = test_shared_dir();
    if (!shared || !convert_arch_by_name("deeplabv3plus")) {
        test_skip("../shared or the deeplabv3plus hook missing: converter options not tested");
        return;
    }
    char in[1024], text[21 * 16];
    snprintf(in, sizeof in, "%s/weights/%s", shared, shared_cases[0].file);
    size_t n = 0;
    for (int i = 0; i < 21; i++) n += (size_t)snprintf(text + n, sizeof text - n, "class %d\n", i);
    const char *cls = tmp_path("voc21.txt"), *out = tmp_path("options.segc");
    write_text(cls, text, n);
    segc_convert_options o;
    segc_convert_options_default(&o);
    o.classes_path = cls;
    o.output_stride = 8;
    o.dtype = SEGC_F16;
    ck_assert_msg(segc_convert_file(in, out, &o) == SEGC_OK, "%s", segc_last_error());
    segc_file *f;
    ck_assert_int_eq(segc_file_open(out, &f), SEGC_OK);
    const segc_kv *kv = segc_file_kv_find(f, "class_names");
    ck_assert_ptr_nonnull(kv);
    ck_assert_int_eq(kv->count, 21);
    ck_assert_str_eq(kv->strs[20], "class 20");
    int64_t os = 0;
    ck_assert_int_eq(segc_file_get_int(f, "deeplab.output_stride", &os), SEGC_OK);
    ck_assert_int_eq(os, 8);
    ck_assert_int_eq(segc_file_tensor_at(f, 0)->dtype, SEGC_F16);
    segc_file_close(f);
    /* Cityscapes has 19 classes, the checkpoint 21: a clear error, no file */
    unlink(out);
    o.classes_path = NULL;
    o.dataset = "cityscapes";
    ck_assert_int_eq(segc_convert_file(in, out, &o), SEGC_ERR_SHAPE);
    ck_assert_msg(strstr(segc_last_error(), "19") && strstr(segc_last_error(), "21"), "%s", segc_last_error());
    ck_assert_int_ne(access(out, F_OK), 0);
}
END_TEST

/* ---- missing / mis-shaped tensors: a shared checkpoint rewritten as safetensors with one change ---- */

static const char *st_dtype(ckpt_dtype d) {
    switch (d) {
    case CKPT_F32: return "F32";
    case CKPT_F16: return "F16";
    case CKPT_BF16: return "BF16";
    default: return "F64";
    }
}

/* Writes the float tensors of ck to a safetensors file, leaving out `drop` and flattening `flatten`
   (same data, shape [numel]). */
static void write_safetensors(const ckpt *ck, const char *path, const char *drop, const char *flatten) {
    size_t cap = 1 << 20, n = 0;
    char *hdr = malloc(cap);
    n += (size_t)snprintf(hdr, cap, "{");
    uint64_t at = 0;
    for (int i = 0; i < ckpt_count(ck); i++) {
        const ckpt_tensor *t = ckpt_at(ck, i);
        int d = t->dtype;
        if ((d != CKPT_F32 && d != CKPT_F16 && d != CKPT_BF16 && d != CKPT_F64) || (drop && !strcmp(t->name, drop)))
            continue;
        uint64_t nb = (uint64_t)ckpt_numel(t) * (uint64_t)ckpt_dtype_size(t->dtype);
        if (cap - n < 1024) hdr = realloc(hdr, cap *= 2);
        n += (size_t)snprintf(hdr + n, cap - n, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", n > 1 ? "," : "", t->name,
                              st_dtype(t->dtype));
        if (flatten && !strcmp(t->name, flatten)) n += (size_t)snprintf(hdr + n, cap - n, "%lld", (long long)ckpt_numel(t));
        else
            for (int k = 0; k < t->ndim; k++)
                n += (size_t)snprintf(hdr + n, cap - n, k ? ",%lld" : "%lld", (long long)t->shape[k]);
        n += (size_t)snprintf(hdr + n, cap - n, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)at,
                              (unsigned long long)(at + nb));
        at += nb;
    }
    n += (size_t)snprintf(hdr + n, cap - n, "}");
    while (n % 8) hdr[n++] = ' ';
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    uint64_t hlen = n;
    fwrite(&hlen, 8, 1, fp);
    fwrite(hdr, 1, n, fp);
    for (int i = 0; i < ckpt_count(ck); i++) {
        const ckpt_tensor *t = ckpt_at(ck, i);
        int d = t->dtype;
        if ((d != CKPT_F32 && d != CKPT_F16 && d != CKPT_BF16 && d != CKPT_F64) || (drop && !strcmp(t->name, drop)))
            continue;
        size_t nb = (size_t)ckpt_numel(t) * (size_t)ckpt_dtype_size(t->dtype);
        void *buf = malloc(nb + 1);
        ck_assert_int_eq(ckpt_tensor_copy_raw(t, buf), SEGC_OK);
        ck_assert_uint_eq(fwrite(buf, 1, nb, fp), nb);
        free(buf);
    }
    fclose(fp);
    free(hdr);
}

START_TEST(test_missing_and_misshaped_tensors) {
    const char *shared = test_shared_dir();
    if (!shared) {
        test_skip("../shared not found: missing-tensor errors not tested");
        return;
    }
    /* the small checkpoints: enough to see each hook name the tensor it needs */
    for (int i = 0; i < 2; i++) {
        const shared_case *sc = &shared_cases[i];
        if (!convert_arch_by_name(sc->arch)) continue;
        char in[1024];
        snprintf(in, sizeof in, "%s/weights/%s", shared, sc->file);
        ckpt *ck;
        ck_assert_int_eq(ckpt_open(in, &ck), SEGC_OK);
        /* the middle conv weight: every model needs it, and it decides no variant */
        const char *convs[2048];
        int nconv = 0;
        for (int k = 0; k < ckpt_count(ck) && nconv < 2048; k++)
            if (ckpt_at(ck, k)->ndim == 4 && strstr(ckpt_at(ck, k)->name, ".weight")) convs[nconv++] = ckpt_at(ck, k)->name;
        const char *victim = nconv ? convs[nconv / 2] : NULL;
        ck_assert_ptr_nonnull(victim);
        const char *stripped = victim + strlen(sc->prefix);   /* hooks may name it without the wrapper */
        const char *path = tmp_path("broken.safetensors"), *out = tmp_path("broken.segc");
        write_safetensors(ck, path, NULL, NULL);   /* unchanged: converts (the container does not matter) */
        ck_assert_msg(convert(path, out, NULL, SEGC_F32) == SEGC_OK, "%s", segc_last_error());
        write_safetensors(ck, path, victim, NULL);
        ck_assert_int_ne(convert(path, out, sc->arch, SEGC_F32), SEGC_OK);
        ck_assert_msg(strstr(segc_last_error(), stripped) != NULL, "%s without %s: %s", sc->arch, victim,
                      segc_last_error());
        write_safetensors(ck, path, NULL, victim);
        ck_assert_int_ne(convert(path, out, sc->arch, SEGC_F32), SEGC_OK);
        ck_assert_msg(strstr(segc_last_error(), stripped) != NULL, "%s with %s flattened: %s", sc->arch, victim,
                      segc_last_error());
        ckpt_close(ck);
        unlink(path);
        unlink(out);
    }
}
END_TEST

/* Exit status of `segc-convert ARGS` (stdout and stderr to /dev/null), or -1 when it is not built. */
static int run_cli(const char *args) {
    const char *build = getenv("SEGC_BUILD_DIR");
    char exe[1024], cmd[8192];
    if (!build) return -1;
    snprintf(exe, sizeof exe, "%s/tools/convert/segc-convert", build);
    if (access(exe, X_OK)) return -1;
    snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null 2>&1", exe, args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -2;
}

START_TEST(test_cli_exit_codes) {
    if (run_cli("--version") < 0) {
        test_skip("segc-convert not built (SEGC_BUILD_DIR unset): CLI exit codes not tested");
        return;
    }
    char args[3072];
    const char *in = data_path("tiny.pth"), *out = tmp_path("cli.segc");
    ck_assert_int_eq(run_cli("--help"), 0);
    ck_assert_int_eq(run_cli(""), 2);
    snprintf(args, sizeof args, "'%s'", in);
    ck_assert_int_eq(run_cli(args), 2);                              /* OUT missing */
    snprintf(args, sizeof args, "'%s' '%s' --dtype f8", in, out);
    ck_assert_int_eq(run_cli(args), 2);
    snprintf(args, sizeof args, "'%s' '%s' --output-stride 4", in, out);
    ck_assert_int_eq(run_cli(args), 2);
    snprintf(args, sizeof args, "'%s' '%s' --frobnicate", in, out);
    ck_assert_int_eq(run_cli(args), 2);
    snprintf(args, sizeof args, "'%s' '%s' --arch", in, out);
    ck_assert_int_eq(run_cli(args), 2);
    snprintf(args, sizeof args, "'%s' '%s'", in, out);
    ck_assert_int_eq(run_cli(args), 1);                              /* not a known architecture */
    ck_assert_int_ne(access(out, F_OK), 0);
    snprintf(args, sizeof args, "'%s' '%s' --arch raw --dtype bf16 --quiet", in, out);
    ck_assert_int_eq(run_cli(args), 0);
    segc_file *f;
    ck_assert_int_eq(segc_file_open(out, &f), SEGC_OK);
    ck_assert_int_eq(segc_file_tensor_at(f, 0)->dtype, SEGC_BF16);
    segc_file_close(f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("convert");
    TCase *tc = tcase_create("convert");
    tcase_add_test(tc, test_raw_tiny_every_container_and_dtype);
    tcase_add_test(tc, test_detection_and_forcing_errors);
    tcase_add_test(tc, test_arch_helpers);
    tcase_add_test(tc, test_class_lists);
    tcase_add_test(tc, test_shared_checkpoints_match_pytorch);
    tcase_add_test(tc, test_wrong_arch_forced_on_shared);
    tcase_add_test(tc, test_options_reach_the_hook);
    tcase_add_test(tc, test_missing_and_misshaped_tensors);
    tcase_add_test(tc, test_cli_exit_codes);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
