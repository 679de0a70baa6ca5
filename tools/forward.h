/* forward.h - one forward pass of whatever task a model has, for the commands that only need the
   pass itself (dump, profile, bench) and not its task-specific outputs. */
#ifndef SEGC_TOOLS_FORWARD_H
#define SEGC_TOOLS_FORWARD_H

#include "models/registry.h"

/* Semantic: logits; instance: detections with pasted masks; promptable (SAM 2): the image encoder,
   then one mask decode with a single foreground point at the image centre (multimask), so the
   prompt encoder and decoder taps and stages show up too. Everything comes from ctx->arena. */
segc_status cli_forward(const segc_arch_entry *entry, const void *model, segc_ctx *ctx, const segc_image *img);

/* Peak resident set size of this process so far, in MiB (from getrusage). */
double cli_peak_rss_mib(void);

#endif
