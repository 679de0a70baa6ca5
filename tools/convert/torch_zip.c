/* torch_zip.c - the torch.save (>= 1.6) zip container, as torch/csrc/jit/serialization's
   PyTorchStreamReader lays it out: "<archive>/data.pkl" (the pickle), "<archive>/data/<key>" (one
   stored entry per storage), "<archive>/byteorder" (torch >= 2.1; only "little" is accepted) and
   "<archive>/version" or "<archive>/.data/version". The archive directory is the first entry's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_internal.h"
#include "core/status.h"

#define TORCH_ZIP_MAX_PREFIX 1024

typedef struct zip_storages {
    segc_zip *zip;
    const char *prefix;   /* "<archive>/" */
} zip_storages;

/* Reads a whole entry by name; SEGC_ERR_NOT_FOUND if absent. */
static segc_status read_named(segc_zip *z, const char *name, const uint8_t **data, uint64_t *size) {
    int i = segc_zip_find(z, name);
    if (i < 0) return segc_fail(SEGC_ERR_NOT_FOUND, "no entry '%s'", name);
    return segc_zip_read(z, i, data, size);
}

/* ckpt_storage_fn: storage key -> "<archive>/data/<key>", which must hold numel elements. */
static segc_status zip_storage(void *user, const segc_pk_storage *s, const uint8_t **data, uint64_t *nbytes) {
    const zip_storages *zs = user;
    char name[TORCH_ZIP_MAX_PREFIX + 256];
    if (strlen(s->key) > 200) return segc_fail(SEGC_ERR_FORMAT, "storage key is too long");
    snprintf(name, sizeof name, "%sdata/%s", zs->prefix, s->key);
    uint64_t size;
    segc_status st = read_named(zs->zip, name, data, &size);
    if (st != SEGC_OK) return segc_fail(SEGC_ERR_FORMAT, "storage '%s' is missing or unreadable", name);
    uint64_t esize = (uint64_t)ckpt_dtype_size(s->dtype);
    if ((uint64_t)s->numel > size / esize)
        return segc_fail(SEGC_ERR_FORMAT, "storage '%s' holds %llu bytes, not %lld elements of %s", name,
                         (unsigned long long)size, (long long)s->numel, ckpt_dtype_name(s->dtype));
    *nbytes = (uint64_t)s->numel * esize;
    return SEGC_OK;
}

/* Refuses a big-endian archive (torch >= 2.1 records the byte order; older files are little). */
static segc_status check_byteorder(segc_zip *z, const char *prefix) {
    char name[TORCH_ZIP_MAX_PREFIX + 16];
    snprintf(name, sizeof name, "%sbyteorder", prefix);
    const uint8_t *d;
    uint64_t n;
    segc_status st = read_named(z, name, &d, &n);
    if (st == SEGC_ERR_NOT_FOUND) return SEGC_OK;
    if (st != SEGC_OK) return st;
    if (n == 6 && memcmp(d, "little", 6) == 0) return SEGC_OK;
    if (n == 3 && memcmp(d, "big", 3) == 0)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "big-endian torch checkpoints are not supported");
    return segc_fail(SEGC_ERR_FORMAT, "'%s' is neither 'little' nor 'big'", name);
}

segc_status ckpt_read_torch_zip(ckpt *c) {
    segc_status st = segc_zip_open(c->data, c->size, &c->zip);
    if (st != SEGC_OK) return st;
    if (segc_zip_count(c->zip) == 0) return segc_fail(SEGC_ERR_FORMAT, "torch zip: the archive is empty");
    /* the archive directory: everything up to the first '/' of the first entry */
    char prefix[TORCH_ZIP_MAX_PREFIX];
    const char *first = segc_zip_name(c->zip, 0), *slash = strchr(first, '/');
    if (!slash || (size_t)(slash - first) + 2 > sizeof prefix)
        return segc_fail(SEGC_ERR_FORMAT, "torch zip: first entry '%.200s' is not inside an archive directory", first);
    memcpy(prefix, first, (size_t)(slash - first) + 1);
    prefix[slash - first + 1] = '\0';
    st = check_byteorder(c->zip, prefix);
    if (st != SEGC_OK) return st;
    char name[TORCH_ZIP_MAX_PREFIX + 16];
    snprintf(name, sizeof name, "%sdata.pkl", prefix);
    const uint8_t *pkl;
    uint64_t pkl_size;
    st = read_named(c->zip, name, &pkl, &pkl_size);
    if (st == SEGC_ERR_NOT_FOUND) return segc_fail(SEGC_ERR_FORMAT, "torch zip: no '%s' (not a torch.save file?)", name);
    if (st != SEGC_OK) return st;
    segc_pickle *p;
    st = segc_pickle_load(pkl, (size_t)pkl_size, &p, NULL);
    if (st != SEGC_OK) return segc_fail_context(st, "%s", name);
    zip_storages zs = {c->zip, prefix};
    st = ckpt_add_pickle_tensors(c, segc_pickle_root(p), zip_storage, &zs);
    segc_pickle_free(p);
    return st;
}
