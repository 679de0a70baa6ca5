/* arch.h - per-architecture converter hooks. convert.c (the framework) opens the checkpoint, finds and
   strips the wrapper prefix ("module.", "model.", "model_state.", "state_dict.", "model." ...), picks the
   architecture (options->arch or the first hook whose detect() says yes), writes the common metadata
   (arch, source.*, converter.version), calls describe(), then writes every kept tensor under its
   stripped name in the requested dtype. Each model owns its hook file: arch_<model>.c. */
#ifndef SEGC_CONVERT_ARCH_H
#define SEGC_CONVERT_ARCH_H

#include <stdint.h>

#include "checkpoint.h"
#include "convert.h"
#include "io/segc_file.h"

/* The checkpoint seen through its stripped prefix. */
typedef struct convert_source {
    const ckpt *ck;
    const char *prefix;   /* stripped from every key, e.g. "model_state." or "" */
} convert_source;

/* Tensor `name` (without the prefix), or NULL if absent. */
const ckpt_tensor *convert_find(const convert_source *src, const char *name);
/* Checks that `name` exists with exactly this shape; the error names the tensor and both shapes
   ("missing tensor X" / "tensor X has shape [..], expected [..]"). */
segc_status convert_expect(const convert_source *src, const char *name, int ndim, const int64_t *shape);
/* Dim `dim` of tensor `name`, or -1 if the tensor is absent or has fewer dims. */
int64_t convert_dim(const convert_source *src, const char *name, int dim);
/* Number of tensors whose stripped name starts with `prefix`. */
int convert_count_prefix(const convert_source *src, const char *prefix);

typedef struct convert_arch {
    const char *name;      /* value of the "arch" metadata key: "deeplabv3plus", "hrnet", "maskrcnn", "sam2" */
    const char *summary;   /* one line for --help: what checkpoints it takes */
    /* Nonzero if the keys and shapes look like this architecture. */
    int (*detect)(const convert_source *src);
    /* Checks every tensor the C model needs (the error says precisely what is missing or mis-shaped) and
       adds the architecture's metadata: "variant", "num_classes", "class_names", "dataset",
       "input.mean", "input.std" (float arrays, 0-255 or 0-1 scale: say which in the key doc), and its
       own "<arch>.*" keys. */
    segc_status (*describe)(const convert_source *src, const segc_convert_options *o, segc_file_writer *w);
    /* Nonzero to write the tensor `name` (stripped). NULL keeps every floating-point tensor. */
    int (*keep)(const char *name);
} convert_arch;

/* The hooks compiled into this build, for --help and --arch (convert.c). */
int convert_arch_count(void);
const convert_arch *convert_arch_at(int i);
const convert_arch *convert_arch_by_name(const char *name);   /* NULL if unknown */

extern const convert_arch convert_arch_deeplab;   /* arch_deeplab.c */
extern const convert_arch convert_arch_hrnet;     /* arch_hrnet.c */
extern const convert_arch convert_arch_maskrcnn;  /* arch_maskrcnn.c */
extern const convert_arch convert_arch_sam2;      /* arch_sam2.c */

#endif
