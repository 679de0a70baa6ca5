#!/usr/bin/python3
"""make_small_checkpoints.py - tiny checkpoints for tests/test_ckpt.c (python3 + torch 1.13).

Writes into tests/data/ckpt/:
  zip_mixed.pt         torch.save (zip): every dtype, nested dict/list, OrderedDict, a transposed
                       (non-contiguous) view, two tensors sharing one storage, 0-d and empty tensors
  zip_deflate.pt       the same archive with every entry deflated (allowed by the zip reader)
  zip64_mixed.pt       the same archive with zip64 extra fields, zip64 end record and locator
  zip_param.pt         nn.Parameter values (_rebuild_parameter) and a non-weight argparse.Namespace
  legacy_mixed.pt      the same object as zip_mixed, _use_new_zipfile_serialization=False
  legacy_p4.pt         the same with pickle protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL)
  st_mixed.safetensors the same tensors (contiguous copies) in safetensors, written by hand
  expected.txt         per file: tensor count, then per tensor: name dtype ndim dims... : values
  bad_*.pt             hostile zip checkpoints (each must be refused with a clear error)
  shared_checks.txt    with ../shared present: per shared checkpoint its tensor count and, for
                       5 tensors, name dtype shape sum and the first 4 values (torch.load)

Run from the repository root: /usr/bin/python3 tests/gen/make_small_checkpoints.py
"""
import argparse
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data', 'ckpt')
SHARED = os.environ.get('SEGC_SHARED', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'shared'))

DTYPE_NAMES = {torch.float32: 'f32', torch.float16: 'f16', torch.bfloat16: 'bf16', torch.float64: 'f64',
               torch.int64: 'i64', torch.int32: 'i32', torch.int16: 'i16', torch.int8: 'i8', torch.uint8: 'u8',
               torch.bool: 'bool'}
ST_NAMES = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.float64: 'F64',
            torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8', torch.uint8: 'U8',
            torch.bool: 'BOOL'}


def mixed_object():
    g = torch.Generator().manual_seed(7)
    r = lambda *s: torch.randn(*s, generator=g)
    model = collections.OrderedDict()
    model['conv.weight'] = r(2, 3, 1, 2)
    model['half'] = r(5).half()
    model['bf'] = r(3, 2).bfloat16()
    model['double'] = r(4).double() * 1e3
    model['long'] = torch.tensor([-3, 0, 1 << 40, 7], dtype=torch.int64)
    model['int'] = torch.tensor([-(1 << 20), 5], dtype=torch.int32)
    model['short'] = torch.tensor([-300, 300], dtype=torch.int16)
    model['char'] = torch.tensor([-128, 127], dtype=torch.int8)
    model['byte'] = torch.tensor([0, 255, 9], dtype=torch.uint8)
    model['mask'] = torch.tensor([True, False, True])
    model['scalar'] = torch.tensor(2.5)
    model['empty'] = torch.zeros(0, 3)
    base = r(4, 6)
    shared = r(10)
    return {
        'model': model,
        'view_t': base.t(),                 # non-contiguous: stride (1, 6)
        'view_slice': base[1:3, ::2],       # storage offset 6, stride (6, 2)
        'view_half': r(3, 4).half().t(),    # 16-bit views take the strided path
        'view_bf': r(2, 5).bfloat16()[:, 1::2],
        'shared_a': shared[:4],
        'shared_b': shared[3:10].view(7),   # same storage, offset 3
        'nested': {'list': [r(2), r(1, 1)], 'tuple': (r(3),), 'count': 3, 'name': 'x', 'lr': 0.5, 'none': None},
        'optimizer': {'state': {0: {'step': 4, 'exp_avg': r(2)}}, 'param_groups': [{'params': [0], 'lr': 1e-3}]},
    }


def flatten(obj, prefix, out):
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, (prefix + '.' if prefix else '') + str(k), out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, (prefix + '.' if prefix else '') + str(i), out)
    return out


def expected_lines(fname, tensors):
    lines = ['file %s %d' % (fname, len(tensors))]
    for name, t in tensors.items():
        vals = t.detach().reshape(-1).to(torch.float64).tolist() if t.dtype != torch.float64 else \
            t.detach().reshape(-1).to(torch.float32).to(torch.float64).tolist()
        lines.append('t %s %s %d %s : %s' % (name, DTYPE_NAMES[t.dtype], t.dim(), ' '.join(map(str, t.shape)),
                                             ' '.join('%.9g' % v for v in vals)))
    return lines


def write_safetensors(path, tensors):
    header, blobs, off = {'__metadata__': {'format': 'pt', 'note': 'hand-written "escape" \u00e9'}}, [], 0
    for name, t in tensors.items():
        raw = t.detach().clone().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {'dtype': ST_NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def zip64_copy(src, dst):
    """Re-writes an archive with every size and offset in zip64 fields (as torch does past 4 GiB)."""
    out, central = bytearray(), bytearray()
    with zipfile.ZipFile(src) as zi:
        infos = zi.infolist()
        for info in infos:
            data, name = zi.read(info.filename), info.filename.encode()
            off = len(out)
            out += struct.pack('<IHHHHHIIIHH', 0x04034b50, 45, 0, 0, 0, 0x21, info.CRC, 0xFFFFFFFF, 0xFFFFFFFF,
                               len(name), 20) + name + struct.pack('<HHQQ', 1, 16, len(data), len(data)) + data
            central += struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 45, 45, 0, 0, 0, 0x21, info.CRC, 0xFFFFFFFF,
                                   0xFFFFFFFF, len(name), 28, 0, 0, 0, 0, 0xFFFFFFFF) + name + \
                struct.pack('<HHQQQ', 1, 24, len(data), len(data), off)
    cd_off, z64_off = len(out), len(out) + len(central)
    out += central
    out += struct.pack('<IQHHIIQQQQ', 0x06064b50, 44, 45, 45, 0, 0, len(infos), len(infos), len(central), cd_off)
    out += struct.pack('<IIQI', 0x07064b50, 0, z64_off, 1)
    out += struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(dst, 'wb') as f:
        f.write(out)
    with zipfile.ZipFile(dst) as zc:   # Python's reader agrees
        assert zc.testzip() is None


def deflate_copy(src, dst):
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as zo:
        for info in zi.infolist():
            zo.writestr(info.filename, zi.read(info.filename))


# ---- hostile files: a torch-like zip around a hand-made data.pkl ----

class FakeStorage:
    def __init__(self, key, numel, stype='FloatStorage'):
        self.key, self.numel, self.stype = key, numel, stype


class FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class EvilReduce:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


def fake_pickle(obj):
    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=2)
    p.persistent_id = lambda o: ('storage', getattr(torch, o.stype), o.key, 'cpu', o.numel) \
        if isinstance(o, FakeStorage) else None
    p.dump(obj)
    return buf.getvalue()


def write_zip(path, pkl, storages):
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as z:
        z.writestr('archive/data.pkl', pkl)
        for key, data in storages.items():
            z.writestr('archive/data/' + key, data)
        z.writestr('archive/version', '3\n')


def hostile_files():
    s = FakeStorage('0', 6)
    data = {'0': struct.pack('<6f', *range(6))}
    nested = b'\x80\x02' + b']' * 200 + b'a' * 199 + b'.'                # a list nested 200 deep
    marks = b'\x80\x02' + b'(' * 5000 + b'.'                            # MARK bomb
    return {
        'bad_global.pt': (fake_pickle({'w': EvilReduce()}), data),
        'bad_opcode.pt': (b'\x80\x02}\xff.', data),
        'bad_nested.pt': (nested, data),
        'bad_marks.pt': (marks, data),
        'bad_shape.pt': (fake_pickle({'w': FakeTensor(s, 0, (1 << 40, 1 << 40), (1 << 40, 1))}), data),
        'bad_offset.pt': (fake_pickle({'w': FakeTensor(s, 5, (2,), (1,))}), data),
        'bad_stride.pt': (fake_pickle({'w': FakeTensor(s, 5, (2,), (-1,))}), data),
        'bad_numel.pt': (fake_pickle({'w': FakeTensor(FakeStorage('0', 100), 0, (2,), (1,))}), data),
        'bad_missing.pt': (fake_pickle({'w': FakeTensor(FakeStorage('9', 6), 0, (2,), (1,))}), data),
        'bad_dup.pt': (fake_pickle({'a': {'b': FakeTensor(s, 0, (1,), (1,))}, 'a.b': FakeTensor(s, 1, (1,), (1,))}), data),
    }


def shared_checks():
    wdir = os.path.join(SHARED, 'weights')
    if not os.path.isdir(wdir):
        print('no %s: shared_checks.txt not written' % wdir)
        return None
    lines = []
    for fname in sorted(os.listdir(wdir)):
        if not fname.endswith(('.pt', '.pth')):
            continue
        tensors = flatten(torch.load(os.path.join(wdir, fname), map_location='cpu'), '', collections.OrderedDict())
        names = list(tensors)
        pick = [names[0], names[1], names[len(names) // 2], names[-2], names[-1]]
        lines.append('file %s %d' % (fname, len(tensors)))
        for n in pick:
            t = tensors[n]
            first = t.reshape(-1)[:4].to(torch.float64).tolist()
            lines.append('s %s %s %d %s : %.9g : %s' % (n, DTYPE_NAMES[t.dtype], t.dim(), ' '.join(map(str, t.shape)),
                                                       t.to(torch.float64).sum().item(),
                                                       ' '.join('%.9g' % v for v in first)))
    return lines


def main():
    os.makedirs(OUT, exist_ok=True)
    obj = mixed_object()
    tensors = flatten(obj, '', collections.OrderedDict())
    lines = []
    torch.save(obj, os.path.join(OUT, 'zip_mixed.pt'))
    lines += expected_lines('zip_mixed.pt', tensors)
    deflate_copy(os.path.join(OUT, 'zip_mixed.pt'), os.path.join(OUT, 'zip_deflate.pt'))
    lines += expected_lines('zip_deflate.pt', tensors)
    zip64_copy(os.path.join(OUT, 'zip_mixed.pt'), os.path.join(OUT, 'zip64_mixed.pt'))
    lines += expected_lines('zip64_mixed.pt', tensors)
    torch.save(obj, os.path.join(OUT, 'legacy_mixed.pt'), _use_new_zipfile_serialization=False)
    lines += expected_lines('legacy_mixed.pt', tensors)
    torch.save(obj, os.path.join(OUT, 'legacy_p4.pt'), _use_new_zipfile_serialization=False, pickle_protocol=4)
    lines += expected_lines('legacy_p4.pt', tensors)
    write_safetensors(os.path.join(OUT, 'st_mixed.safetensors'), tensors)
    lines += expected_lines('st_mixed.safetensors', tensors)
    g = torch.Generator().manual_seed(8)
    params = {'p': torch.nn.Parameter(torch.randn(2, 2, generator=g)),
              'q': torch.nn.Parameter(torch.randn(3, generator=g).half(), requires_grad=False),
              'args': argparse.Namespace(lr=0.1, name='run')}
    torch.save(params, os.path.join(OUT, 'zip_param.pt'))
    lines += expected_lines('zip_param.pt', flatten(params, '', collections.OrderedDict()))
    with open(os.path.join(OUT, 'expected.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    for name, (pkl, storages) in hostile_files().items():
        write_zip(os.path.join(OUT, name), pkl, storages)
    checks = shared_checks()
    if checks:
        with open(os.path.join(OUT, 'shared_checks.txt'), 'w') as f:
            f.write('\n'.join(checks) + '\n')
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print('wrote %s (%d bytes)' % (OUT, total))


if __name__ == '__main__':
    sys.exit(main())
