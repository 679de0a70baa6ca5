/* cmd_run.c - `segc run`: segment images with any model of this build.
   Semantic models (DeepLabV3+, HRNet) write per image:  labels.png (8-bit class indices at the
   input resolution), overlay.png (the image blended with the dataset palette) and, with
   --save-logits, logits.npy (float32 [C, H, W]). Instance models (Mask R-CNN) write detections.json
   (COCO results with RLE masks) and overlay.png (run_instance.h). One image writes into OUTDIR;
   several images (or a directory) write into OUTDIR/<image name>/. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/status.h"
#include "core/timer.h"
#include "inputs.h"
#include "io/npy.h"
#include "io/output.h"
#include "models/hrnet.h"
#include "models/registry.h"
#include "ops/softmax.h"
#include "run_instance.h"
#include "run_prompt.h"

static void print_help(void) {
    printf("usage: segc run -m MODEL.segc -i IMAGE|DIR [-i ...] -o OUTDIR [options]\n"
           "       segc run -m SAM2.segc --embedding EMB.segc -o OUTDIR PROMPTS\n\n"
           "Segments each image with the model and writes the results into OUTDIR (one image) or\n"
           "OUTDIR/<image name>/ (several images or a directory).\n\n"
           "  -m, --model FILE     converted weights (.segc, see segc-convert)\n"
           "  -i, --input PATH     an image (PNG, JPEG, BMP, ...) or a directory of images; repeatable\n"
           "  -o, --output DIR     output directory (created if missing)\n"
           "  --save-logits        semantic models: also write logits.npy (float32 [C,H,W])\n"
           "  -p, --point X,Y[,L]  SAM 2: a point prompt in pixels, label L 1 (default) or 0; repeatable\n"
           "  -b, --box X0,Y0,X1,Y1  SAM 2: a box prompt in pixels\n"
           "  --mask-input F.npy   SAM 2: low-res mask logits [1,256,256] from a previous low_res_logits.npy\n"
           "  --multimask          SAM 2: three masks instead of one\n"
           "  --prompts F.jsonl    SAM 2: many prompt sets on one encoded image, one JSON object per line\n"
           "                       {\"points\": [[x,y,label],...], \"box\": [x0,y0,x1,y1], \"multimask\": true,\n"
           "                       \"mask_input\": \"f.npy\"}; set n writes into OUTDIR/prompt_<n>/\n"
           "  --save-embedding     SAM 2: also write the image's encoder output as embedding.segc\n"
           "  --embedding F.segc   SAM 2: prompt a saved embedding instead of encoding an image (no -i)\n"
           "  --flip               HRNet: average with the mirrored image (the authors' FLIP_TEST)\n"
           "  --scales S,S,...     HRNet: multi-scale inference at these scales (e.g. 0.75,1,1.25), summed as\n"
           "                       the authors' multi_scale_inference; with --flip/--scales, logits.npy holds\n"
           "                       those summed exp-scores, not logits\n"
           "  --alpha A            overlay opacity of the class colours, 0..1 (default 0.5)\n"
           "  --score-threshold S  instance models: draw detections scoring >= S (default 0.5);\n"
           "                       detections.json always lists every detection\n"
           "  -t, --threads N      threads (default: SEGC_THREADS or all cores)\n"
           "  -h, --help           this text\n\n"
           "Outputs: semantic models (DeepLabV3+, HRNet): labels.png (class index per pixel), overlay.png,\n"
           "logits.npy. Instance models (Mask R-CNN): detections.json (COCO results format: bbox [x,y,w,h],\n"
           "score, category_id, category_name, segmentation as COCO RLE with compressed counts), overlay.png.\n"
           "Promptable models (SAM 2): mask_K.png (255 inside), scores.json (iou, object_score_logit),\n"
           "low_res_logits.npy (float32 [K,256,256]).\n");
}

typedef struct run_options {
    const char *model_path;
    const char *out_dir;
    cli_inputs inputs;
    int save_logits;
    double alpha;
    double score_threshold;
    run_prompt_set prompt;      /* SAM 2 prompts from -p / -b / --mask-input / --multimask */
    const char *prompts_file;   /* --prompts */
    int save_embedding;         /* --save-embedding */
    int hrnet_flip;             /* --flip */
    int hrnet_scale_count;      /* --scales: 0 = single scale */
    double hrnet_scales[SEGC_HRNET_MAX_SCALES];
    const char *embedding_path; /* --embedding */
    run_prompt_set *sets;       /* the prompt sets read from it (owned) */
    int num_sets;
} run_options;

/* Parses "--scales 0.75,1,1.25" (each in (0, 4], at most SEGC_HRNET_MAX_SCALES); 0 on success. */
static int parse_scales(const char *v, run_options *o) {
    const char *p = v;
    o->hrnet_scale_count = 0;
    while (*p) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || !(x > 0 && x <= 4) || (*end && *end != ','))
            return cli_usage_error("run", "--scales '%.60s': expected numbers in (0, 4] separated by commas", v);
        if (o->hrnet_scale_count == SEGC_HRNET_MAX_SCALES)
            return cli_usage_error("run", "--scales: at most %d scales", SEGC_HRNET_MAX_SCALES);
        o->hrnet_scales[o->hrnet_scale_count++] = x;
        p = *end ? end + 1 : end;
    }
    return o->hrnet_scale_count ? 0 : cli_usage_error("run", "--scales: no scale given");
}

/* Parses the arguments; returns CLI_EXIT_OK to go on, anything else to exit with. */
static int parse_args(int argc, char **argv, run_options *o, int *want_help) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        int t = cli_threads_option("run", argc, argv, &i);
        if (t < 0) return CLI_EXIT_USAGE;
        if (t > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            *want_help = 1;
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(v = cli_value("run", argc, argv, &i))) return CLI_EXIT_USAGE;
            o->model_path = v;
        } else if (!strcmp(a, "-i") || !strcmp(a, "--input")) {
            if (!(v = cli_value("run", argc, argv, &i))) return CLI_EXIT_USAGE;
            if (cli_inputs_add("run", &o->inputs, v)) return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(v = cli_value("run", argc, argv, &i))) return CLI_EXIT_USAGE;
            o->out_dir = v;
        } else if (!strcmp(a, "--save-logits")) {
            o->save_logits = 1;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--point")) {
            if (!(v = cli_value("run", argc, argv, &i)) || run_prompt_add_point("run", v, &o->prompt)) return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "-b") || !strcmp(a, "--box")) {
            if (!(v = cli_value("run", argc, argv, &i)) || run_prompt_set_box("run", v, &o->prompt)) return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--mask-input")) {
            if (!(v = cli_value("run", argc, argv, &i))) return CLI_EXIT_USAGE;
            if (strlen(v) >= sizeof o->prompt.mask_input) return cli_usage_error("run", "--mask-input path too long");
            snprintf(o->prompt.mask_input, sizeof o->prompt.mask_input, "%s", v);
        } else if (!strcmp(a, "--multimask")) {
            o->prompt.multimask = 1;
        } else if (!strcmp(a, "--prompts")) {
            if (!(v = cli_value("run", argc, argv, &i))) return CLI_EXIT_USAGE;
            o->prompts_file = v;
        } else if (!strcmp(a, "--flip")) {
            o->hrnet_flip = 1;
        } else if (!strcmp(a, "--scales")) {
            if (!(v = cli_value("run", argc, argv, &i)) || parse_scales(v, o)) return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--save-embedding")) {
            o->save_embedding = 1;
        } else if (!strcmp(a, "--embedding")) {
            if (!(v = cli_value("run", argc, argv, &i))) return CLI_EXIT_USAGE;
            o->embedding_path = v;
        } else if (!strcmp(a, "--score-threshold")) {
            if (!(v = cli_value("run", argc, argv, &i))) return CLI_EXIT_USAGE;
            if (!cli_parse_float("run", "--score-threshold", v, 0.0, 1.0, &o->score_threshold)) return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--alpha")) {
            if (!(v = cli_value("run", argc, argv, &i))) return CLI_EXIT_USAGE;
            if (!cli_parse_float("run", "--alpha", v, 0.0, 1.0, &o->alpha)) return CLI_EXIT_USAGE;
        } else {
            return cli_usage_error("run", "unknown argument '%.60s'", a);
        }
    }
    if (!o->model_path) return cli_usage_error("run", "missing -m MODEL.segc");
    if (o->inputs.count == 0 && !o->embedding_path) return cli_usage_error("run", "missing -i IMAGE");
    if (o->inputs.count && o->embedding_path) return cli_usage_error("run", "give -i IMAGE or --embedding FILE, not both");
    if (!o->out_dir) return cli_usage_error("run", "missing -o OUTDIR");
    if (!o->out_dir[0]) return cli_usage_error("run", "-o OUTDIR is empty");
    return CLI_EXIT_OK;
}

/* Writes labels.png, overlay.png and (optionally) logits.npy of one semantic prediction into dir. */
static segc_status write_semantic(const run_options *o, const segc_file *file, const char *dir,
                                  const segc_image *img, const segc_tensor *logits, segc_arena *arena) {
    char path[4200];
    int64_t classes = logits->shape[1];
    if (classes > 256) return segc_fail(SEGC_ERR_UNSUPPORTED, "%lld classes do not fit an 8-bit label PNG", (long long)classes);
    int64_t shape[2] = {img->height, img->width};
    segc_tensor labels;
    segc_status st = segc_tensor_new(arena, SEGC_U8, 2, shape, &labels);
    if (st || (st = segc_argmax_channels(logits, &labels))) return st;
    snprintf(path, sizeof path, "%s/labels.png", dir);
    if ((st = segc_write_label_png(path, labels.data, img->width, img->height))) return st;
    const char *dataset = NULL;
    segc_file_get_str(file, "dataset", &dataset);
    segc_palette_kind pal = segc_palette_for((int)classes, dataset);
    snprintf(path, sizeof path, "%s/overlay.png", dir);
    if ((st = segc_write_overlay_png(path, img, labels.data, pal, (float)o->alpha, -1))) return st;
    if (o->save_logits) {
        segc_tensor chw;
        int64_t s3[3] = {classes, img->height, img->width};
        if ((st = segc_tensor_reshape(logits, 3, s3, &chw))) return st;
        snprintf(path, sizeof path, "%s/logits.npy", dir);
        if ((st = segc_npy_write(path, &chw))) return st;
    }
    return SEGC_OK;
}

/* Writes detections.json and overlay.png of one instance prediction into dir. */
static segc_status write_instance(const run_options *o, const segc_file *file, const char *dir, const segc_image *img,
                                  const segc_detections *d) {
    char path[4200];
    const segc_kv *kv = segc_file_kv_find(file, "class_names");
    const char *const *names = kv && kv->type == SEGC_KV_STRING_ARRAY ? kv->strs : NULL;
    int num_names = names ? (int)kv->count : 0;
    snprintf(path, sizeof path, "%s/detections.json", dir);
    segc_status st = run_write_detections_json(path, d, names, num_names);
    if (st) return st;
    snprintf(path, sizeof path, "%s/overlay.png", dir);
    return run_write_instance_overlay(path, img, d, (float)o->score_threshold, (float)o->alpha);
}

/* Reads every prompt set of a JSONL file (one JSON object per line, blank lines skipped) into a new
   array, so that a bad line is reported before any image is encoded. */
static segc_status read_prompt_sets(const char *path, run_prompt_set **sets, int *count) {
    *sets = NULL;
    *count = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return segc_fail(SEGC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    static char line[65536];
    segc_status st = SEGC_OK;
    int cap = 0;
    for (int lineno = 1; !st && fgets(line, sizeof line, fp); lineno++) {
        if (!strchr(line, '\n') && !feof(fp)) {
            st = segc_fail(SEGC_ERR_INVALID_ARG, "%s:%d: line longer than %zu bytes", path, lineno, sizeof line - 2);
            break;
        }
        if (!strchr(line, '{')) continue;   /* blank lines */
        if (*count == cap) {
            cap = cap ? 2 * cap : 16;
            run_prompt_set *grown = realloc(*sets, (size_t)cap * sizeof *grown);
            if (!grown) {
                st = segc_fail(SEGC_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            *sets = grown;
        }
        if ((st = run_prompt_parse_json(line, &(*sets)[*count]))) st = segc_fail_context(st, "%s:%d", path, lineno);
        else (*count)++;
    }
    fclose(fp);
    if (!st && *count == 0) st = segc_fail(SEGC_ERR_INVALID_ARG, "%s holds no prompt set", path);
    if (st) {
        free(*sets);
        *sets = NULL;
        *count = 0;
    }
    return st;
}

/* Fails unless every --mask-input file named by the prompt sets can be opened (checked before encoding). */
static segc_status check_mask_inputs(const run_prompt_set *sets, int count) {
    for (int i = 0; i < count; i++)
        if (sets[i].mask_input[0] && access(sets[i].mask_input, R_OK) != 0)
            return segc_fail(SEGC_ERR_IO, "mask input %s: %s", sets[i].mask_input, strerror(errno));
    return SEGC_OK;
}

/* Encodes the image once (or loads --embedding when img is NULL), optionally saves the embedding, then
   predicts the command-line prompt set or every set of --prompts. */
static segc_status run_promptable(const run_options *o, const void *model, segc_ctx *ctx, const segc_image *img,
                                  const char *dir) {
    segc_sam2_embedding emb;
    segc_status st = img ? segc_sam2_encode(model, ctx, img, &emb)
                         : segc_sam2_embedding_load(o->embedding_path, ctx->arena, &emb);
    if (st) return st;
    if (o->save_embedding) {
        char path[4200];
        snprintf(path, sizeof path, "%s/embedding.segc", dir);
        if ((st = segc_sam2_embedding_save(path, &emb))) return st;
    }
    if (!o->prompts_file) return run_prompt_predict(model, ctx, &emb, &o->prompt, dir);
    char sub[4200];
    for (int n = 0; n < o->num_sets && !st; n++) {
        snprintf(sub, sizeof sub, "%s/prompt_%d", dir, n);
        if (!(st = cli_make_dirs(sub))) st = run_prompt_predict(model, ctx, &emb, &o->sets[n], sub);
    }
    return st;
}

/* Loads one image, runs the model and writes its outputs into dir (created if `make_dir`). */
static segc_status process_image(const run_options *o, const segc_arch_entry *entry, const void *model,
                                 const segc_file *file, segc_ctx *ctx, const char *in, const char *dir, int make_dir) {
    segc_status st;
    if (make_dir && (st = cli_make_dirs(dir))) return st;
    segc_image img;
    st = segc_image_load(in, &img);
    if (st) return st;
    if (entry->task == SEGC_MODEL_SEMANTIC) {
        segc_tensor logits;
        if (o->hrnet_flip || o->hrnet_scale_count) {   /* HRNet's flip / multi-scale inference */
            segc_hrnet_inference_settings hs;
            segc_hrnet_inference_settings_default(model, &hs);
            hs.flip = o->hrnet_flip;
            if (o->hrnet_scale_count) {
                hs.count = o->hrnet_scale_count;
                memcpy(hs.scales, o->hrnet_scales, sizeof(double) * (size_t)hs.count);
            }
            st = segc_hrnet_semantic_ex(model, ctx, &img, &hs, &logits);
        } else {
            st = entry->semantic(model, ctx, &img, &logits);
        }
        if (!st) st = write_semantic(o, file, dir, &img, &logits, ctx->arena);
    } else if (entry->task == SEGC_MODEL_INSTANCE) {
        segc_detections d;
        st = entry->instance(model, ctx, &img, &d);
        if (!st) st = write_instance(o, file, dir, &img, &d);
    } else {
        st = run_promptable(o, model, ctx, &img, dir);
    }
    segc_image_free(&img);
    return st;
}

/* Options that only some tasks take: a usage error (exit 2) names the mismatch. */
static int check_options_for_task(const run_options *o, const segc_arch_entry *entry) {
    int has_prompt = o->prompt.num_points || o->prompt.has_box || o->prompt.mask_input[0] || o->prompts_file;
    if (entry->task == SEGC_MODEL_PROMPTABLE && !has_prompt)
        return cli_usage_error("run", "%s needs a prompt: -p X,Y, -b X0,Y0,X1,Y1, --mask-input or --prompts", entry->arch);
    if (entry->task != SEGC_MODEL_PROMPTABLE && (has_prompt || o->prompt.multimask))
        return cli_usage_error("run", "-p, -b, --mask-input, --multimask and --prompts are for promptable models (SAM 2), "
                               "not %s", entry->arch);
    if ((o->hrnet_flip || o->hrnet_scale_count) && strcmp(entry->arch, "hrnet"))
        return cli_usage_error("run", "--flip and --scales are for HRNet, not %s", entry->arch);
    if (entry->task != SEGC_MODEL_SEMANTIC && o->save_logits)
        return cli_usage_error("run", "--save-logits is for semantic models (DeepLabV3+, HRNet), not %s", entry->arch);
    if (entry->task != SEGC_MODEL_PROMPTABLE && (o->save_embedding || o->embedding_path))
        return cli_usage_error("run", "--save-embedding and --embedding are for SAM 2, not %s", entry->arch);
    if (o->prompts_file && (o->prompt.num_points || o->prompt.has_box || o->prompt.mask_input[0] || o->prompt.multimask))
        return cli_usage_error("run", "give prompts with --prompts or with -p/-b/--mask-input/--multimask, not both");
    return CLI_EXIT_OK;
}

/* Output directory of input k: OUTDIR for one image, else OUTDIR/<stem>, with "_<k>" added when an
   earlier input has the same stem (a.png and a.jpg, or two directories with the same file name). */
static void output_dir(const run_options *o, int k, char *dir, size_t size) {
    char stem[1024], other[1024];
    if (o->inputs.count == 1) {
        snprintf(dir, size, "%s", o->out_dir);
        return;
    }
    cli_path_stem(o->inputs.paths[k], stem, sizeof stem);
    int clash = 0;
    for (int j = 0; j < k && !clash; j++) {
        cli_path_stem(o->inputs.paths[j], other, sizeof other);
        clash = !strcmp(stem, other);
    }
    if (clash) snprintf(dir, size, "%s/%s_%d", o->out_dir, stem, k);
    else snprintf(dir, size, "%s/%s", o->out_dir, stem);
}

/* Runs the model over every input; returns the number of inputs that failed (each one reported). */
static int run_all(const run_options *o, const segc_arch_entry *entry, const void *model, const segc_file *file) {
    segc_arena arena;
    segc_arena_init(&arena, 0);
    int failures = 0;
    double t0 = segc_time_ms();
    if (o->embedding_path) {   /* SAM 2 on a saved embedding: one pass, no image */
        segc_ctx ctx = segc_ctx_plain(&arena);
        if (run_promptable(o, model, &ctx, NULL, o->out_dir)) {
            cli_failure("run", o->embedding_path);
            failures++;
        }
    }
    for (int k = 0; k < o->inputs.count; k++) {
        const char *in = o->inputs.paths[k];
        char dir[4096], stem[1024];
        output_dir(o, k, dir, sizeof dir);
        segc_arena_reset(&arena);
        segc_ctx ctx = segc_ctx_plain(&arena);
        if (process_image(o, entry, model, file, &ctx, in, dir, o->inputs.count > 1)) {
            cli_failure("run", in);
            failures++;
        }
        cli_path_stem(in, stem, sizeof stem);
        if (o->inputs.count > 1) cli_progress(k + 1, o->inputs.count, stem, segc_time_ms() - t0);
    }
    segc_arena_free(&arena);
    return failures;
}

int cmd_run(int argc, char **argv) {
    run_options o = {0};
    o.alpha = 0.5;
    o.score_threshold = 0.5;
    int want_help = 0;
    int rc = parse_args(argc, argv, &o, &want_help);
    if (rc != CLI_EXIT_OK || want_help) {
        if (want_help) print_help();
        cli_inputs_free(&o.inputs);
        return rc;
    }
    segc_file *file = NULL;
    const segc_arch_entry *entry = NULL;
    void *model = NULL;
    if (o.prompts_file && read_prompt_sets(o.prompts_file, &o.sets, &o.num_sets)) rc = cli_failure("run", NULL);
    else if (check_mask_inputs(o.prompts_file ? o.sets : &o.prompt, o.prompts_file ? o.num_sets : 1))
        rc = cli_failure("run", NULL);
    else if (cli_mkdirs("run", o.out_dir)) rc = CLI_EXIT_FAIL;
    else if (segc_arch_open(o.model_path, &file, &entry, &model)) rc = cli_failure("run", o.model_path);
    else rc = check_options_for_task(&o, entry);
    if (rc == CLI_EXIT_OK) {
        int failures = run_all(&o, entry, model, file);
        if (failures && o.inputs.count > 1) fprintf(stderr, "segc run: %d of %d images failed\n", failures, o.inputs.count);
        rc = failures ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    }
    if (model) entry->free(model);
    segc_file_close(file);
    cli_inputs_free(&o.inputs);
    free(o.sets);
    return rc;
}
