/* pickle.c - data-only pickle VM for torch checkpoints (see pickle.h). The opcodes are those of
   CPython's Lib/pickle.py (protocols 2-5) that torch.save and numpy scalars emit; the torch
   reductions mirror torch/_utils.py (_rebuild_tensor_v2, _rebuild_parameter) and the persistent ids
   written by torch/serialization.py (_save and _legacy_save). Text-protocol opcodes (0 and 1) and
   out-of-band buffers are refused. All values live in one pool freed with the pickle. */
#include "pickle.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#define PK_MAX_STACK (1 << 20)       /* values on the stack at once */
#define PK_MAX_MARKS 4096            /* open MARKs (nesting of tuples/lists/dicts being built) */
#define PK_MIN_MEMO 4096             /* memo indices allowed in any pickle ... */
#define PK_POOL_PER_BYTE 256         /* ... pool bytes per pickle byte before "allocation limit" */
#define PK_POOL_MIN (16u << 20)
#define PK_BLOCK (64u << 10)

/* The globals a checkpoint may name. Everything else is refused. */
enum pk_global {
    G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_REBUILD_PARAMETER_WITH_STATE,
    G_STORAGE, G_DEVICE, G_SET,
    G_IGNORABLE   /* instances become opaque SEGC_PK_OBJECT values; never called */
};

typedef struct pk_global_def { const char *name; enum pk_global id; ckpt_dtype dtype; } pk_global_def;

static const pk_global_def PK_GLOBALS[] = {
    {"collections.OrderedDict", G_ORDERED_DICT, CKPT_U8},
    {"torch._utils._rebuild_tensor_v2", G_REBUILD_TENSOR_V2, CKPT_U8},
    {"torch._utils._rebuild_parameter", G_REBUILD_PARAMETER, CKPT_U8},
    {"torch._utils._rebuild_parameter_with_state", G_REBUILD_PARAMETER_WITH_STATE, CKPT_U8},
    {"torch.FloatStorage", G_STORAGE, CKPT_F32},
    {"torch.HalfStorage", G_STORAGE, CKPT_F16},
    {"torch.BFloat16Storage", G_STORAGE, CKPT_BF16},
    {"torch.DoubleStorage", G_STORAGE, CKPT_F64},
    {"torch.LongStorage", G_STORAGE, CKPT_I64},
    {"torch.IntStorage", G_STORAGE, CKPT_I32},
    {"torch.ShortStorage", G_STORAGE, CKPT_I16},
    {"torch.CharStorage", G_STORAGE, CKPT_I8},
    {"torch.ByteStorage", G_STORAGE, CKPT_U8},
    {"torch.BoolStorage", G_STORAGE, CKPT_BOOL},
    {"torch.UntypedStorage", G_STORAGE, CKPT_U8},
    {"torch.storage.UntypedStorage", G_STORAGE, CKPT_U8},
    {"torch.device", G_DEVICE, CKPT_U8},
    {"builtins.set", G_SET, CKPT_U8},
    {"builtins.frozenset", G_SET, CKPT_U8},
    {"__builtin__.set", G_SET, CKPT_U8},
    /* Ignorable: non-weight entries of real checkpoints (DeepLab's best_score is a numpy.float64,
       some training scripts save their argparse.Namespace). Their instances are opaque. */
    {"numpy.core.multiarray.scalar", G_IGNORABLE, CKPT_U8},
    {"numpy.core.multiarray._reconstruct", G_IGNORABLE, CKPT_U8},
    {"numpy._core.multiarray.scalar", G_IGNORABLE, CKPT_U8},        /* numpy >= 2 */
    {"numpy._core.multiarray._reconstruct", G_IGNORABLE, CKPT_U8},
    {"numpy.ndarray", G_IGNORABLE, CKPT_U8},
    {"numpy.dtype", G_IGNORABLE, CKPT_U8},
    {"_codecs.encode", G_IGNORABLE, CKPT_U8},
    {"argparse.Namespace", G_IGNORABLE, CKPT_U8},
};

typedef struct pk_block { struct pk_block *next; size_t used, size; max_align_t data[]; } pk_block;

struct segc_pickle {
    pk_block *blocks;
    size_t pool_bytes, pool_limit;
    const segc_pk_value *root;
    segc_pk_value *storages;   /* a LIST value holding every STORAGE made by BINPERSID */
};

/* The running machine: input, stack, marks and memo (freed when the load ends). */
typedef struct pk_vm {
    segc_pickle *p;
    const uint8_t *d;
    size_t size, pos, op_pos;
    segc_pk_value **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t nmarks, marks_cap;
    segc_pk_value **memo;
    size_t memo_cap, memo_limit, memo_next;
} pk_vm;

/* SEGC_ERR_FORMAT naming the opcode and its offset. */
static segc_status vm_fail(const pk_vm *vm, const char *what) {
    return segc_fail(SEGC_ERR_FORMAT, "pickle: opcode 0x%02x at offset %zu: %s", vm->d[vm->op_pos], vm->op_pos,
                     what);
}

/* Zeroed memory from the pool, or NULL past the allocation limit. */
static void *pool_alloc(segc_pickle *p, size_t n) {
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (n > p->pool_limit || p->pool_bytes > p->pool_limit - n) return NULL;
    pk_block *b = p->blocks;
    if (!b || b->size - b->used < n) {
        size_t size = n > PK_BLOCK ? n : PK_BLOCK;
        b = malloc(sizeof *b + size);
        if (!b) return NULL;
        b->next = p->blocks;
        b->used = 0;
        b->size = size;
        p->blocks = b;
    }
    void *r = (char *)b->data + b->used;
    b->used += n;
    p->pool_bytes += n;
    memset(r, 0, n);
    return r;
}

/* A zeroed value of the given kind from the pool. */
static segc_status new_value(pk_vm *vm, segc_pk_kind kind, segc_pk_value **out) {
    *out = pool_alloc(vm->p, sizeof **out);
    if (!*out) return segc_fail(SEGC_ERR_NOMEM, "pickle: allocation limit reached at offset %zu", vm->op_pos);
    (*out)->kind = kind;
    return SEGC_OK;
}

/* A value holding a NUL-terminated copy of n bytes. */
static segc_status new_string(pk_vm *vm, segc_pk_kind kind, const uint8_t *s, size_t n, segc_pk_value **out) {
    segc_status st = new_value(vm, kind, out);
    if (st != SEGC_OK) return st;
    char *copy = n < SIZE_MAX ? pool_alloc(vm->p, n + 1) : NULL;
    if (!copy) return segc_fail(SEGC_ERR_NOMEM, "pickle: allocation limit reached at offset %zu", vm->op_pos);
    memcpy(copy, s, n);
    (*out)->s = copy;
    (*out)->len = n;
    return SEGC_OK;
}

/* Appends one item to a tuple/list (or half of a dict pair), growing its array in the pool. */
static segc_status add_item(pk_vm *vm, segc_pk_value *c, segc_pk_value *item) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4;
        segc_pk_value **items = cap < SIZE_MAX / sizeof *items ? pool_alloc(vm->p, cap * sizeof *items) : NULL;
        if (!items) return segc_fail(SEGC_ERR_NOMEM, "pickle: allocation limit reached at offset %zu", vm->op_pos);
        if (c->n) memcpy(items, c->items, c->n * sizeof *items);
        c->items = items;
        c->cap = cap;
    }
    c->items[c->n++] = item;
    return SEGC_OK;
}

/* Pushes v, growing the stack up to PK_MAX_STACK. */
static segc_status push(pk_vm *vm, segc_pk_value *v) {
    if (vm->sp == vm->stack_cap) {
        if (vm->stack_cap >= PK_MAX_STACK) return vm_fail(vm, "stack too deep");
        size_t cap = vm->stack_cap ? vm->stack_cap * 2 : 64;
        segc_pk_value **s = realloc(vm->stack, cap * sizeof *s);
        if (!s) return segc_fail(SEGC_ERR_NOMEM, "pickle: out of memory");
        vm->stack = s;
        vm->stack_cap = cap;
    }
    vm->stack[vm->sp++] = v;
    return SEGC_OK;
}

/* Pops one value, refusing to cross the innermost MARK. */
static segc_status pop(pk_vm *vm, segc_pk_value **out) {
    size_t floor = vm->nmarks ? vm->marks[vm->nmarks - 1] : 0;
    if (vm->sp <= floor) return vm_fail(vm, "stack underflow");
    *out = vm->stack[--vm->sp];
    return SEGC_OK;
}

/* The top value (not popped), above the innermost MARK. */
static segc_status top(pk_vm *vm, segc_pk_value **out) {
    size_t floor = vm->nmarks ? vm->marks[vm->nmarks - 1] : 0;
    if (vm->sp <= floor) return vm_fail(vm, "stack underflow");
    *out = vm->stack[vm->sp - 1];
    return SEGC_OK;
}

/* Pops the innermost MARK: the values above it are stack[*first, vm->sp). */
static segc_status pop_mark(pk_vm *vm, size_t *first) {
    if (vm->nmarks == 0) return vm_fail(vm, "no MARK on the stack");
    *first = vm->marks[--vm->nmarks];
    return SEGC_OK;
}

/* Reads n bytes of operand at the cursor. */
static segc_status take(pk_vm *vm, size_t n, const uint8_t **out) {
    if (n > vm->size - vm->pos) return vm_fail(vm, "truncated operand");
    *out = vm->d + vm->pos;
    vm->pos += n;
    return SEGC_OK;
}

/* n (<= 8) little-endian bytes as an unsigned integer. */
static uint64_t le_uint(const uint8_t *b, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

/* LONG1/LONG4 payload: little-endian two's complement of n bytes. Too big for int64 -> OBJECT. */
static segc_status push_long(pk_vm *vm, const uint8_t *b, uint64_t n) {
    segc_pk_value *v;
    int negative = n > 0 && (b[n - 1] & 0x80);
    int fits = 1;
    for (uint64_t k = 8; k < n; k++) fits &= b[k] == (negative ? 0xFF : 0x00);
    if (n > 8 && fits) fits = ((b[7] & 0x80) != 0) == negative;
    if (!fits) {
        segc_status st = new_string(vm, SEGC_PK_OBJECT, (const uint8_t *)"builtins.int", 12, &v);
        return st != SEGC_OK ? st : push(vm, v);
    }
    uint64_t u = le_uint(b, n < 8 ? (int)n : 8);
    if (negative && n < 8) u |= ~(uint64_t)0 << (8 * n);
    segc_status st = new_value(vm, SEGC_PK_INT, &v);
    if (st != SEGC_OK) return st;
    v->i = (int64_t)u;
    return push(vm, v);
}

/* Resolves "module.name" against the allow-list; refuses anything else. */
static segc_status push_global(pk_vm *vm, const char *module, size_t mlen, const char *name, size_t nlen) {
    char full[256];
    if (mlen + nlen + 2 > sizeof full) return vm_fail(vm, "global name too long");
    memcpy(full, module, mlen);
    full[mlen] = '.';
    memcpy(full + mlen + 1, name, nlen);
    full[mlen + 1 + nlen] = '\0';
    if (strlen(full) != mlen + 1 + nlen) return vm_fail(vm, "global name contains a NUL byte");
    for (size_t k = 0; k < sizeof PK_GLOBALS / sizeof PK_GLOBALS[0]; k++) {
        if (strcmp(full, PK_GLOBALS[k].name) != 0) continue;
        segc_pk_value *v;
        segc_status st = new_string(vm, SEGC_PK_GLOBAL, (const uint8_t *)full, strlen(full), &v);
        if (st != SEGC_OK) return st;
        v->i = (int64_t)k;
        return push(vm, v);
    }
    return segc_fail(SEGC_ERR_FORMAT, "pickle global %s is not allowed (offset %zu)", full, vm->op_pos);
}

/* The allow-list entry of a GLOBAL value, or NULL for any other value. */
static const pk_global_def *global_of(const segc_pk_value *v) {
    return v->kind == SEGC_PK_GLOBAL ? &PK_GLOBALS[v->i] : NULL;
}

/* Reads an int tuple (sizes or strides) into dst; at most CKPT_MAX_DIMS items. */
static segc_status int_tuple(pk_vm *vm, const segc_pk_value *t, int64_t *dst, int *n, const char *what) {
    if (t->kind != SEGC_PK_TUPLE && t->kind != SEGC_PK_LIST) return vm_fail(vm, what);
    if (t->n > CKPT_MAX_DIMS) return vm_fail(vm, "tensor has more than 8 dimensions");
    for (size_t k = 0; k < t->n; k++) {
        if (t->items[k]->kind != SEGC_PK_INT) return vm_fail(vm, what);
        dst[k] = t->items[k]->i;
    }
    *n = (int)t->n;
    return SEGC_OK;
}

/* torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks, ...) */
static segc_status rebuild_tensor(pk_vm *vm, const segc_pk_value *args, segc_pk_value **out) {
    if (args->n < 4 || args->items[0]->kind != SEGC_PK_STORAGE || args->items[1]->kind != SEGC_PK_INT)
        return vm_fail(vm, "_rebuild_tensor_v2 needs (storage, offset, size, stride, ...)");
    segc_pk_tensor *t = pool_alloc(vm->p, sizeof *t);
    if (!t) return segc_fail(SEGC_ERR_NOMEM, "pickle: allocation limit reached at offset %zu", vm->op_pos);
    t->storage = args->items[0];
    t->offset = args->items[1]->i;
    int nstride;
    segc_status st = int_tuple(vm, args->items[2], t->shape, &t->ndim, "_rebuild_tensor_v2: bad size");
    if (st == SEGC_OK) st = int_tuple(vm, args->items[3], t->stride, &nstride, "_rebuild_tensor_v2: bad stride");
    if (st != SEGC_OK) return st;
    if (nstride != t->ndim) return vm_fail(vm, "_rebuild_tensor_v2: size and stride lengths differ");
    st = new_value(vm, SEGC_PK_TENSOR, out);
    if (st == SEGC_OK) (*out)->tensor = t;
    return st;
}

/* Applies an allow-listed callable (REDUCE) or class (NEWOBJ) to its argument tuple. */
static segc_status apply_global(pk_vm *vm, const segc_pk_value *fn, const segc_pk_value *args, segc_pk_value **out) {
    const pk_global_def *g = global_of(fn);
    if (!g) return vm_fail(vm, "REDUCE/NEWOBJ of something that is not an allowed global");
    if (args->kind != SEGC_PK_TUPLE) return vm_fail(vm, "REDUCE/NEWOBJ arguments are not a tuple");
    segc_status st;
    switch (g->id) {
    case G_ORDERED_DICT:
        st = new_value(vm, SEGC_PK_DICT, out);
        if (st != SEGC_OK || args->n == 0) return st;
        if (args->n != 1 || (args->items[0]->kind != SEGC_PK_LIST && args->items[0]->kind != SEGC_PK_TUPLE))
            return vm_fail(vm, "OrderedDict arguments are not a list of pairs");
        for (size_t k = 0; k < args->items[0]->n && st == SEGC_OK; k++) {
            const segc_pk_value *pair = args->items[0]->items[k];
            if ((pair->kind != SEGC_PK_LIST && pair->kind != SEGC_PK_TUPLE) || pair->n != 2)
                return vm_fail(vm, "OrderedDict arguments are not a list of pairs");
            st = add_item(vm, *out, pair->items[0]);
            if (st == SEGC_OK) st = add_item(vm, *out, pair->items[1]);
        }
        (*out)->n /= 2;   /* dict n counts pairs */
        return st;
    case G_REBUILD_TENSOR_V2:
        return rebuild_tensor(vm, args, out);
    case G_REBUILD_PARAMETER:
    case G_REBUILD_PARAMETER_WITH_STATE:
        if (args->n < 1 || args->items[0]->kind != SEGC_PK_TENSOR)
            return vm_fail(vm, "_rebuild_parameter needs a tensor");
        *out = args->items[0];
        return SEGC_OK;
    case G_DEVICE:
        if (args->n < 1 || args->items[0]->kind != SEGC_PK_STR) return vm_fail(vm, "torch.device needs a string");
        *out = args->items[0];
        return SEGC_OK;
    case G_SET:
        if (args->n == 0) return new_value(vm, SEGC_PK_LIST, out);
        if (args->n != 1 || (args->items[0]->kind != SEGC_PK_LIST && args->items[0]->kind != SEGC_PK_TUPLE))
            return vm_fail(vm, "set arguments are not a list");
        st = new_value(vm, SEGC_PK_LIST, out);
        for (size_t k = 0; st == SEGC_OK && k < args->items[0]->n; k++) st = add_item(vm, *out, args->items[0]->items[k]);
        return st;
    case G_IGNORABLE:
        st = new_value(vm, SEGC_PK_OBJECT, out);
        if (st == SEGC_OK) (*out)->s = fn->s;
        return st;
    case G_STORAGE:
        break;
    }
    return vm_fail(vm, "storage classes cannot be called");
}

/* BINPERSID: torch's ('storage', storage_type, key, location, numel[, view_metadata]). */
static segc_status persistent_load(pk_vm *vm, const segc_pk_value *pid, segc_pk_value **out) {
    if (pid->kind == SEGC_PK_TUPLE && pid->n > 0 && pid->items[0]->kind == SEGC_PK_STR &&
        strcmp(pid->items[0]->s, "module") == 0)
        return segc_fail(SEGC_ERR_UNSUPPORTED, "pickle: a whole nn.Module was saved; save its state_dict() instead");
    if (pid->kind != SEGC_PK_TUPLE || pid->n < 5 || pid->items[0]->kind != SEGC_PK_STR ||
        strcmp(pid->items[0]->s, "storage") != 0)
        return vm_fail(vm, "persistent id is not a ('storage', ...) tuple");
    const pk_global_def *g = global_of(pid->items[1]);
    if (!g || g->id != G_STORAGE) return vm_fail(vm, "persistent id does not name a storage class");
    if (pid->items[2]->kind != SEGC_PK_STR || pid->items[4]->kind != SEGC_PK_INT || pid->items[4]->i < 0)
        return vm_fail(vm, "persistent id needs a string key and a non-negative element count");
    segc_pk_storage *s = pool_alloc(vm->p, sizeof *s);
    if (!s) return segc_fail(SEGC_ERR_NOMEM, "pickle: allocation limit reached at offset %zu", vm->op_pos);
    s->dtype = g->dtype;
    s->key = pid->items[2]->s;
    s->numel = pid->items[4]->i;
    if (pid->n >= 6 && pid->items[5]->kind != SEGC_PK_NONE) {
        const segc_pk_value *vmeta = pid->items[5];
        if (vmeta->kind != SEGC_PK_TUPLE || vmeta->n != 3 || vmeta->items[1]->kind != SEGC_PK_INT ||
            vmeta->items[2]->kind != SEGC_PK_INT || vmeta->items[1]->i < 0 || vmeta->items[2]->i < 0)
            return vm_fail(vm, "persistent id has a malformed view (key, offset, size)");
        s->has_view = 1;
        s->view_offset = vmeta->items[1]->i;
        s->view_numel = vmeta->items[2]->i;
    }
    segc_status st = new_value(vm, SEGC_PK_STORAGE, out);
    if (st != SEGC_OK) return st;
    (*out)->storage = s;
    return add_item(vm, vm->p->storages, *out);
}

/* Builds a tuple/list/dict from the values above the innermost MARK and pushes it. */
static segc_status collect_marked(pk_vm *vm, segc_pk_kind kind) {
    size_t first = 0;
    segc_status st = pop_mark(vm, &first);
    if (st != SEGC_OK) return st;
    if (kind == SEGC_PK_DICT && (vm->sp - first) % 2) return vm_fail(vm, "DICT with an odd number of items");
    segc_pk_value *v;
    st = new_value(vm, kind, &v);
    for (size_t k = first; st == SEGC_OK && k < vm->sp; k++) st = add_item(vm, v, vm->stack[k]);
    if (st != SEGC_OK) return st;
    if (kind == SEGC_PK_DICT) v->n /= 2;
    vm->sp = first;
    return push(vm, v);
}

/* Pops k values into a new tuple (TUPLE1/2/3). */
static segc_status collect_tuple(pk_vm *vm, size_t k) {
    size_t floor = vm->nmarks ? vm->marks[vm->nmarks - 1] : 0;
    if (vm->sp - floor < k) return vm_fail(vm, "stack underflow");
    segc_pk_value *v;
    segc_status st = new_value(vm, SEGC_PK_TUPLE, &v);
    for (size_t j = vm->sp - k; st == SEGC_OK && j < vm->sp; j++) st = add_item(vm, v, vm->stack[j]);
    if (st != SEGC_OK) return st;
    vm->sp -= k;
    return push(vm, v);
}

/* Adds stack[first, sp) to the container below them (APPEND(S), SETITEM(S), ADDITEMS). */
static segc_status add_to_container(pk_vm *vm, size_t first, int pairs) {
    if (first == 0 || vm->sp < first) return vm_fail(vm, "stack underflow");
    segc_pk_value *c = vm->stack[first - 1];
    size_t floor = vm->nmarks ? vm->marks[vm->nmarks - 1] : 0;
    if (first - 1 < floor) return vm_fail(vm, "stack underflow");
    if (pairs && c->kind != SEGC_PK_DICT) return vm_fail(vm, "SETITEM on something that is not a dict");
    if (!pairs && c->kind != SEGC_PK_LIST) return vm_fail(vm, "APPEND on something that is not a list");
    if (pairs && (vm->sp - first) % 2) return vm_fail(vm, "SETITEMS with an odd number of items");
    segc_status st = SEGC_OK;
    if (pairs) c->n *= 2;
    for (size_t k = first; st == SEGC_OK && k < vm->sp; k++) st = add_item(vm, c, vm->stack[k]);
    if (pairs) c->n /= 2;
    vm->sp = first;
    return st;
}

/* BINPUT/LONG_BINPUT/MEMOIZE: memo[idx] = top of stack (indices bounded by memo_limit). */
static segc_status memo_put(pk_vm *vm, uint64_t idx) {
    segc_pk_value *v = NULL;
    segc_status st = top(vm, &v);
    if (st != SEGC_OK) return st;
    if (idx >= vm->memo_limit) return vm_fail(vm, "memo index too large");
    if (idx >= vm->memo_cap) {
        size_t cap = vm->memo_cap ? vm->memo_cap : 256;
        while (cap <= idx) cap *= 2;
        segc_pk_value **m = realloc(vm->memo, cap * sizeof *m);
        if (!m) return segc_fail(SEGC_ERR_NOMEM, "pickle: out of memory");
        memset(m + vm->memo_cap, 0, (cap - vm->memo_cap) * sizeof *m);
        vm->memo = m;
        vm->memo_cap = cap;
    }
    vm->memo[idx] = v;
    return SEGC_OK;
}

/* BINGET/LONG_BINGET: pushes memo[idx], which must have been stored. */
static segc_status memo_get(pk_vm *vm, uint64_t idx) {
    if (idx >= vm->memo_cap || !vm->memo[idx]) return vm_fail(vm, "memo index was never stored");
    return push(vm, vm->memo[idx]);
}

/* Executes the opcode at vm->pos; sets *stop at STOP. */
static segc_status step(pk_vm *vm, int *stop) {
    vm->op_pos = vm->pos;
    uint8_t op = vm->d[vm->pos++];
    const uint8_t *b = NULL;
    segc_pk_value *v = NULL, *a = NULL, *c = NULL;
    segc_status st = SEGC_OK;
    size_t first = 0;
    uint64_t n;
    switch (op) {
    case 0x80:  /* PROTO */
        if ((st = take(vm, 1, &b)) != SEGC_OK) return st;
        if (b[0] < 2 || b[0] > 5) return vm_fail(vm, "unsupported protocol (2-5 only)");
        return SEGC_OK;
    case 0x95:  /* FRAME: a length hint, the opcodes follow inline */
        return take(vm, 8, &b);
    case '.':   /* STOP */
        if ((st = pop(vm, &v)) != SEGC_OK) return st;
        vm->p->root = v;
        *stop = 1;
        return SEGC_OK;
    case '(':   /* MARK */
        if (vm->nmarks == PK_MAX_MARKS) return vm_fail(vm, "MARKs nested too deeply");
        if (vm->nmarks == vm->marks_cap) {
            size_t cap = vm->marks_cap ? vm->marks_cap * 2 : 64;
            size_t *m = realloc(vm->marks, cap * sizeof *m);
            if (!m) return segc_fail(SEGC_ERR_NOMEM, "pickle: out of memory");
            vm->marks = m;
            vm->marks_cap = cap;
        }
        vm->marks[vm->nmarks++] = vm->sp;
        return SEGC_OK;
    case '0':   /* POP */
        return pop(vm, &v);
    case '1':   /* POP_MARK */
        if ((st = pop_mark(vm, &first)) != SEGC_OK) return st;
        vm->sp = first;
        return SEGC_OK;
    case '2':   /* DUP */
        if ((st = top(vm, &v)) != SEGC_OK) return st;
        return push(vm, v);
    case '}': if ((st = new_value(vm, SEGC_PK_DICT, &v)) != SEGC_OK) return st; return push(vm, v);
    case ']': if ((st = new_value(vm, SEGC_PK_LIST, &v)) != SEGC_OK) return st; return push(vm, v);
    case ')': if ((st = new_value(vm, SEGC_PK_TUPLE, &v)) != SEGC_OK) return st; return push(vm, v);
    case 0x8f: if ((st = new_value(vm, SEGC_PK_LIST, &v)) != SEGC_OK) return st; return push(vm, v);  /* EMPTY_SET */
    case 'N': if ((st = new_value(vm, SEGC_PK_NONE, &v)) != SEGC_OK) return st; return push(vm, v);
    case 0x88:  /* NEWTRUE */
    case 0x89:  /* NEWFALSE */
        if ((st = new_value(vm, SEGC_PK_BOOL, &v)) != SEGC_OK) return st;
        v->i = op == 0x88;
        return push(vm, v);
    case 0x85: return collect_tuple(vm, 1);
    case 0x86: return collect_tuple(vm, 2);
    case 0x87: return collect_tuple(vm, 3);
    case 't': return collect_marked(vm, SEGC_PK_TUPLE);
    case 'l': return collect_marked(vm, SEGC_PK_LIST);
    case 'd': return collect_marked(vm, SEGC_PK_DICT);
    case 0x91: return collect_marked(vm, SEGC_PK_LIST);   /* FROZENSET */
    case 'a':   /* APPEND */
        if (vm->sp == 0) return vm_fail(vm, "stack underflow");
        return add_to_container(vm, vm->sp - 1, 0);
    case 's':   /* SETITEM */
        if (vm->sp < 2) return vm_fail(vm, "stack underflow");
        return add_to_container(vm, vm->sp - 2, 1);
    case 'e':   /* APPENDS */
    case 0x90:  /* ADDITEMS (sets are lists here) */
    case 'u':   /* SETITEMS */
        if ((st = pop_mark(vm, &first)) != SEGC_OK) return st;
        return add_to_container(vm, first, op == 'u');
    case 'J':   /* BININT */
    case 'K':   /* BININT1 */
    case 'M':   /* BININT2 */
        n = op == 'J' ? 4 : op == 'K' ? 1 : 2;
        if ((st = take(vm, n, &b)) != SEGC_OK) return st;
        if ((st = new_value(vm, SEGC_PK_INT, &v)) != SEGC_OK) return st;
        v->i = op == 'J' ? (int64_t)(int32_t)(uint32_t)le_uint(b, 4) : (int64_t)le_uint(b, (int)n);
        return push(vm, v);
    case 0x8a:  /* LONG1 */
        if ((st = take(vm, 1, &b)) != SEGC_OK) return st;
        n = b[0];
        if ((st = take(vm, n, &b)) != SEGC_OK) return st;
        return push_long(vm, b, n);
    case 0x8b: { /* LONG4 */
        if ((st = take(vm, 4, &b)) != SEGC_OK) return st;
        int32_t len = (int32_t)(uint32_t)le_uint(b, 4);
        if (len < 0) return vm_fail(vm, "negative LONG4 length");
        if ((st = take(vm, (size_t)len, &b)) != SEGC_OK) return st;
        return push_long(vm, b, (uint64_t)len);
    }
    case 'G': { /* BINFLOAT: big-endian IEEE double */
        if ((st = take(vm, 8, &b)) != SEGC_OK) return st;
        uint64_t u = 0;
        for (int k = 0; k < 8; k++) u = (u << 8) | b[k];
        if ((st = new_value(vm, SEGC_PK_FLOAT, &v)) != SEGC_OK) return st;
        memcpy(&v->f, &u, 8);
        return push(vm, v);
    }
    case 0x8c: case 'X': case 0x8d:   /* SHORT_BINUNICODE, BINUNICODE, BINUNICODE8 */
    case 'U': case 'T':               /* SHORT_BINSTRING, BINSTRING (Python 2 str) */
    case 'C': case 'B': case 0x8e: {  /* SHORT_BINBYTES, BINBYTES, BINBYTES8 */
        int w = (op == 0x8c || op == 'U' || op == 'C') ? 1 : (op == 0x8d || op == 0x8e) ? 8 : 4;
        if ((st = take(vm, (size_t)w, &b)) != SEGC_OK) return st;
        n = le_uint(b, w);
        if (op == 'T' && (int32_t)n < 0) return vm_fail(vm, "negative BINSTRING length");
        if (n > vm->size - vm->pos) return vm_fail(vm, "string runs past the end of the pickle");
        if ((st = take(vm, (size_t)n, &b)) != SEGC_OK) return st;
        int bytes = op == 'C' || op == 'B' || op == 0x8e;
        if ((st = new_string(vm, bytes ? SEGC_PK_BYTES : SEGC_PK_STR, b, (size_t)n, &v)) != SEGC_OK) return st;
        return push(vm, v);
    }
    case 'q':   /* BINPUT */
        if ((st = take(vm, 1, &b)) != SEGC_OK) return st;
        return memo_put(vm, b[0]);
    case 'r':   /* LONG_BINPUT */
        if ((st = take(vm, 4, &b)) != SEGC_OK) return st;
        return memo_put(vm, le_uint(b, 4));
    case 0x94:  /* MEMOIZE */
        if ((st = memo_put(vm, vm->memo_next)) != SEGC_OK) return st;
        vm->memo_next++;
        return SEGC_OK;
    case 'h':   /* BINGET */
        if ((st = take(vm, 1, &b)) != SEGC_OK) return st;
        return memo_get(vm, b[0]);
    case 'j':   /* LONG_BINGET */
        if ((st = take(vm, 4, &b)) != SEGC_OK) return st;
        return memo_get(vm, le_uint(b, 4));
    case 'c': { /* GLOBAL "module\nname\n" */
        const uint8_t *m = vm->d + vm->pos, *end = vm->d + vm->size;
        const uint8_t *nl1 = memchr(m, '\n', (size_t)(end - m));
        const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
        if (!nl2) return vm_fail(vm, "truncated GLOBAL");
        vm->pos = (size_t)(nl2 + 1 - vm->d);
        return push_global(vm, (const char *)m, (size_t)(nl1 - m), (const char *)nl1 + 1, (size_t)(nl2 - nl1 - 1));
    }
    case 0x93:  /* STACK_GLOBAL */
        if ((st = pop(vm, &a)) != SEGC_OK || (st = pop(vm, &c)) != SEGC_OK) return st;
        if (a->kind != SEGC_PK_STR || c->kind != SEGC_PK_STR) return vm_fail(vm, "STACK_GLOBAL needs two strings");
        return push_global(vm, c->s, c->len, a->s, a->len);
    case 'R':   /* REDUCE */
    case 0x81:  /* NEWOBJ */
        if ((st = pop(vm, &a)) != SEGC_OK || (st = pop(vm, &c)) != SEGC_OK) return st;
        if ((st = apply_global(vm, c, a, &v)) != SEGC_OK) return st;
        return push(vm, v);
    case 0x92:  /* NEWOBJ_EX: cls, args, kwargs */
        if ((st = pop(vm, &v)) != SEGC_OK || (st = pop(vm, &a)) != SEGC_OK || (st = pop(vm, &c)) != SEGC_OK)
            return st;
        if ((st = apply_global(vm, c, a, &v)) != SEGC_OK) return st;
        return push(vm, v);
    case 'b':   /* BUILD: state is ignored for opaque objects, tensors and dicts */
        if ((st = pop(vm, &a)) != SEGC_OK || (st = top(vm, &c)) != SEGC_OK) return st;
        if (c->kind != SEGC_PK_OBJECT && c->kind != SEGC_PK_TENSOR && c->kind != SEGC_PK_DICT)
            return vm_fail(vm, "BUILD on a value that has no state");
        return SEGC_OK;
    case 'Q':   /* BINPERSID */
        if ((st = pop(vm, &a)) != SEGC_OK) return st;
        if ((st = persistent_load(vm, a, &v)) != SEGC_OK) return st;
        return push(vm, v);
    default:
        return vm_fail(vm, "unknown or unsupported opcode");
    }
}

segc_status segc_pickle_load(const uint8_t *data, size_t size, segc_pickle **out, size_t *used) {
    *out = NULL;
    segc_pickle *p = calloc(1, sizeof *p);
    if (!p) return segc_fail(SEGC_ERR_NOMEM, "pickle: out of memory");
    p->pool_limit = size < (SIZE_MAX - PK_POOL_MIN) / PK_POOL_PER_BYTE ? size * PK_POOL_PER_BYTE + PK_POOL_MIN
                                                                        : SIZE_MAX;
    pk_vm vm = {.p = p, .d = data, .size = size};
    vm.memo_limit = size > PK_MIN_MEMO ? size : PK_MIN_MEMO;
    segc_status st = new_value(&vm, SEGC_PK_LIST, &p->storages);
    int stop = 0;
    while (st == SEGC_OK && !stop) {
        if (vm.pos >= size) {
            st = segc_fail(SEGC_ERR_FORMAT, "pickle: ends at offset %zu without STOP", vm.pos);
            break;
        }
        st = step(&vm, &stop);
    }
    free(vm.stack);
    free(vm.marks);
    free(vm.memo);
    if (st != SEGC_OK) {
        segc_pickle_free(p);
        return st;
    }
    if (used) *used = vm.pos;
    *out = p;
    return SEGC_OK;
}

const segc_pk_value *segc_pickle_root(const segc_pickle *p) { return p->root; }
size_t segc_pickle_storage_count(const segc_pickle *p) { return p->storages->n; }
const segc_pk_storage *segc_pickle_storage(const segc_pickle *p, size_t i) { return p->storages->items[i]->storage; }

void segc_pickle_free(segc_pickle *p) {
    if (!p) return;
    for (pk_block *b = p->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(p);
}
