/* torch_legacy.c - the torch < 1.6 container (torch.save(..., _use_new_zipfile_serialization=False)),
   as torch/serialization.py _legacy_save writes it: five things back to back,
     pickle  MAGIC_NUMBER (0x1950a86a20f9469cfc6c)
     pickle  PROTOCOL_VERSION (1001)
     pickle  sys_info {'protocol_version', 'little_endian', 'type_sizes'}
     pickle  the object, storages as persistent ids ('storage', type, key, location, numel, view)
     pickle  the sorted list of storage keys
   then per key: int64 element count, then the raw little-endian elements. The old tar container
   (torch < 0.1.10) is not read. */
#include <stdlib.h>
#include <string.h>

#include "ckpt_internal.h"
#include "core/status.h"

#define LEGACY_PROTOCOL_VERSION 1001

typedef struct legacy_storage {
    const char *key;        /* owned by the keys pickle */
    ckpt_dtype dtype;
    const uint8_t *data;
    uint64_t nbytes;
} legacy_storage;

typedef struct legacy_table {
    legacy_storage *s;      /* sorted by key */
    size_t n;
} legacy_table;

static int storage_cmp(const void *a, const void *b) {
    return strcmp(((const legacy_storage *)a)->key, ((const legacy_storage *)b)->key);
}

static legacy_storage *table_find(const legacy_table *t, const char *key) {
    legacy_storage probe = {.key = key};
    return bsearch(&probe, t->s, t->n, sizeof *t->s, storage_cmp);
}

/* ckpt_storage_fn: the root storage of the key, narrowed to the view if the id names one. */
static segc_status legacy_storage_fn(void *user, const segc_pk_storage *s, const uint8_t **data, uint64_t *nbytes) {
    const legacy_storage *ls = table_find(user, s->key);
    if (!ls) return segc_fail(SEGC_ERR_FORMAT, "storage '%.100s' is not in the storage list", s->key);
    if (ls->dtype != s->dtype) return segc_fail(SEGC_ERR_FORMAT, "storage '%.100s' is used with two dtypes", s->key);
    const uint64_t esize = (uint64_t)ckpt_dtype_size(s->dtype);
    *data = ls->data;
    *nbytes = ls->nbytes;
    if (!s->has_view) return SEGC_OK;
    if ((uint64_t)s->view_offset > ls->nbytes / esize || (uint64_t)s->view_numel > ls->nbytes / esize - (uint64_t)s->view_offset)
        return segc_fail(SEGC_ERR_FORMAT, "view of storage '%.100s' reaches past its end", s->key);
    *data += (uint64_t)s->view_offset * esize;
    *nbytes = (uint64_t)s->view_numel * esize;
    return SEGC_OK;
}

/* Reads one pickle at *pos and advances past it. */
static segc_status next_pickle(const ckpt *c, size_t *pos, segc_pickle **p, const char *what) {
    size_t used;
    segc_status st = segc_pickle_load(c->data + *pos, c->size - *pos, p, &used);
    if (st != SEGC_OK) return segc_fail_context(st, "legacy torch file, %s pickle at offset %zu", what, *pos);
    *pos += used;
    return SEGC_OK;
}

/* The value of key `name` in a dict value, or NULL. */
static const segc_pk_value *dict_get(const segc_pk_value *d, const char *name) {
    if (d->kind != SEGC_PK_DICT) return NULL;
    for (size_t k = 0; k < d->n; k++)
        if (d->items[2 * k]->kind == SEGC_PK_STR && strcmp(d->items[2 * k]->s, name) == 0) return d->items[2 * k + 1];
    return NULL;
}

/* Protocol version and sys_info: refuses other versions and big-endian writers. */
static segc_status check_header(const ckpt *c, size_t *pos) {
    segc_pickle *p;
    segc_status st = next_pickle(c, pos, &p, "protocol version");
    if (st != SEGC_OK) return st;
    const segc_pk_value *v = segc_pickle_root(p);
    int ok = v->kind == SEGC_PK_INT && v->i == LEGACY_PROTOCOL_VERSION;
    segc_pickle_free(p);
    if (!ok) return segc_fail(SEGC_ERR_UNSUPPORTED, "legacy torch file: protocol version is not %d", LEGACY_PROTOCOL_VERSION);
    st = next_pickle(c, pos, &p, "sys_info");
    if (st != SEGC_OK) return st;
    const segc_pk_value *le = dict_get(segc_pickle_root(p), "little_endian");
    int little = le && le->kind == SEGC_PK_BOOL && le->i;
    segc_pickle_free(p);
    if (!little) return segc_fail(SEGC_ERR_UNSUPPORTED, "legacy torch file is not little-endian");
    return SEGC_OK;
}

/* Builds the key -> bytes table from the key list and the storage records after it. The dtype
   of each key comes from the persistent ids of the main pickle. */
static segc_status read_storages(const ckpt *c, size_t pos, const segc_pickle *main_p, const segc_pk_value *keys,
                                 legacy_table *t) {
    if (keys->kind != SEGC_PK_LIST) return segc_fail(SEGC_ERR_FORMAT, "legacy torch file: storage keys are not a list");
    t->s = calloc(keys->n ? keys->n : 1, sizeof *t->s);
    if (!t->s) return segc_fail(SEGC_ERR_NOMEM, "out of memory");
    /* the ids, sorted by key, to find each key's dtype and declared element count */
    size_t nid = segc_pickle_storage_count(main_p);
    legacy_storage *ids = calloc(nid ? nid : 1, sizeof *ids);
    if (!ids) return segc_fail(SEGC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < nid; i++) {
        const segc_pk_storage *s = segc_pickle_storage(main_p, i);
        ids[i].key = s->key;
        ids[i].dtype = s->dtype;
        ids[i].nbytes = (uint64_t)s->numel;   /* element count, for the check below */
    }
    qsort(ids, nid, sizeof *ids, storage_cmp);
    legacy_table idt = {ids, nid};
    segc_status st = SEGC_OK;
    for (size_t k = 0; k < keys->n && st == SEGC_OK; k++) {
        const segc_pk_value *key = keys->items[k];
        const legacy_storage *id = key->kind == SEGC_PK_STR ? table_find(&idt, key->s) : NULL;
        if (!id) { st = segc_fail(SEGC_ERR_FORMAT, "legacy torch file: storage key %zu is not used by any tensor", k); break; }
        if (c->size - pos < 8) { st = segc_fail(SEGC_ERR_FORMAT, "legacy torch file: truncated at storage '%.100s'", id->key); break; }
        uint64_t numel = 0;
        for (int b = 7; b >= 0; b--) numel = (numel << 8) | c->data[pos + (size_t)b];
        pos += 8;
        const uint64_t esize = (uint64_t)ckpt_dtype_size(id->dtype);
        if (numel != id->nbytes || numel > (c->size - pos) / esize) {
            st = segc_fail(SEGC_ERR_FORMAT, "legacy torch file: storage '%.100s' has %llu elements (id says %llu, %zu bytes left)",
                           id->key, (unsigned long long)numel, (unsigned long long)id->nbytes, c->size - pos);
            break;
        }
        t->s[t->n++] = (legacy_storage){id->key, id->dtype, c->data + pos, numel * esize};
        pos += (size_t)(numel * esize);
    }
    free(ids);
    if (st != SEGC_OK) return st;
    qsort(t->s, t->n, sizeof *t->s, storage_cmp);
    for (size_t k = 1; k < t->n; k++)
        if (strcmp(t->s[k - 1].key, t->s[k].key) == 0)
            return segc_fail(SEGC_ERR_FORMAT, "legacy torch file: storage '%.100s' is listed twice", t->s[k].key);
    return SEGC_OK;
}

segc_status ckpt_read_torch_legacy(ckpt *c) {
    size_t pos = 0;
    segc_pickle *magic = NULL, *main_p = NULL, *keys_p = NULL;
    legacy_table t = {NULL, 0};
    segc_status st = next_pickle(c, &pos, &magic, "magic");   /* its bytes were matched by checkpoint.c */
    if (st == SEGC_OK) st = check_header(c, &pos);
    if (st == SEGC_OK) st = next_pickle(c, &pos, &main_p, "main");
    if (st == SEGC_OK) st = next_pickle(c, &pos, &keys_p, "storage keys");
    /* the key strings are referenced by t, so keys_p lives until the tensors are registered */
    if (st == SEGC_OK) st = read_storages(c, pos, main_p, segc_pickle_root(keys_p), &t);
    if (st == SEGC_OK) st = ckpt_add_pickle_tensors(c, segc_pickle_root(main_p), legacy_storage_fn, &t);
    free(t.s);
    segc_pickle_free(magic);
    segc_pickle_free(main_p);
    segc_pickle_free(keys_p);
    return st;
}
