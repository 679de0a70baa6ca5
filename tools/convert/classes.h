/* classes.h - class name lists for the converters: the official lists of the datasets the checkpoints
   are trained on (VOC 21, Cityscapes 19 train ids, COCO as torchvision's 91 slots with "N/A" gaps),
   and a user's --classes file (one name per line). */
#ifndef SEGC_CONVERT_CLASSES_H
#define SEGC_CONVERT_CLASSES_H

#include "convert.h"
#include "io/segc_file.h"

/* The official list of `dataset` ("voc", "cityscapes", "coco"); NULL (and *count = 0) if unknown. */
const char *const *convert_classes_official(const char *dataset, int *count);

/* Reads one class name per line (UTF-8; "\r\n" accepted; surrounding spaces trimmed; empty lines and
   lines starting with '#' skipped). Caller frees with convert_classes_free. */
segc_status convert_classes_read(const char *path, char ***names, int *count);
void convert_classes_free(char **names, int count);

/* Writes "dataset" and "class_names" for a model with num_classes outputs: the --classes file if
   o->classes_path is set, else the official list of o->dataset (or default_dataset when NULL).
   The count must equal num_classes; the error says both numbers and where the names came from. */
segc_status convert_write_classes(segc_file_writer *w, const segc_convert_options *o, const char *default_dataset,
                                  int64_t num_classes);

#endif
