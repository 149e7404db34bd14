"""Rewrite a (small) GGUF with edited metadata or tensors: the hostile-model tests' mutations.

``rewrite(src, dst, kv={...}, tensors=fn)`` copies ``src`` through ``gguf.GGUFReader`` and
``gguf.GGUFWriter``. ``kv`` maps a key to ``(value, GGUFValueType)`` (or ``(value, ARRAY, item
type)``) to set it, or to ``None`` to delete it; ``tensors(name, data, qtype)`` returns the
``(data, qtype)`` to write, or ``None`` to drop the tensor. Data is the raw bytes as numpy (uint8
for quantized types, float32/float16 arrays for F32/F16).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_kvs(reader) -> dict:
    import gguf

    kvs = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            kvs[key] = (list(field.contents()), vtype, field.types[-1])
        else:
            kvs[key] = (field.contents(), vtype)
    return kvs


def rewrite(src: Path, dst: Path, *, kv: dict | None = None, tensors=None, arch: str | None = None,
            extra: tuple = ()) -> Path:
    """Copy ``src`` to ``dst`` with the edits (see the module docstring); ``arch`` renames the
    architecture and its ``<arch>.*`` keys; ``extra`` adds (name, float32 array) tensors."""
    import gguf

    reader = gguf.GGUFReader(src)
    kvs = read_kvs(reader)
    for key, value in (kv or {}).items():
        if value is None:
            kvs.pop(key, None)
        else:
            kvs[key] = value
    old_arch = kvs["general.architecture"][0]
    if arch and arch != old_arch:
        kvs = {(arch + key[len(old_arch):] if key.startswith(old_arch + ".") else key): value
               for key, value in kvs.items()}
    arch = arch or old_arch
    writer = gguf.GGUFWriter(dst, arch=arch)
    kvs.pop("general.architecture", None)
    for key, value in kvs.items():
        if value[1] == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, value[0], value[1], sub_type=value[2])
        else:
            writer.add_key_value(key, value[0], value[1])
    for t in reader.tensors:
        data, qtype = np.array(t.data), gguf.GGMLQuantizationType(t.tensor_type)
        if tensors is not None:
            edited = tensors(t.name, data, qtype)
            if edited is None:
                continue
            data, qtype = edited
        shape = tuple(int(d) for d in reversed(t.shape))  # the reader gives GGUF (ne) order
        if qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            writer.add_tensor(t.name, data.reshape(shape), raw_dtype=qtype)
        else:
            writer.add_tensor(t.name, data.view(np.uint8), raw_shape=shape, raw_dtype=qtype)
    for name, data in extra:
        writer.add_tensor(name, np.asarray(data, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst
