"""Read and validate a GGUF file's header before llama.cpp is allowed to open it.

llama.cpp trusts a GGUF more than it should: a truncated file, an absurd tensor count or a string
length past the end of the file can crash the process inside C code. Every file is checked here
first, with bounds on every count and length, against the type tables of the ``gguf`` package:
magic, version, metadata, tensor infos, every tensor's offset and size inside the file, and a known
architecture. Then what llama.cpp asserts on (``gguf_semantics``: hyper-parameter ranges, the
tensors the architecture implies, the vocabulary), since a failed assertion aborts the process.
Any problem is a :class:`ModelFileError` that names the file and what is wrong.

Why not ``gguf.GGUFReader``: it materialises every metadata string as a numpy array (3.5 s for
SmolLM2's 98k tokenizer strings, longer for Qwen's), and its loops trust the counts in the file.
This reader skips what it does not need and bounds every count by the bytes that remain.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from edgejudge.errors import ModelFileError, UsageError
from edgejudge.files import open_regular
from edgejudge.store import gguf_semantics

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
MAX_DIMS = 4
MAX_NAME = 64  # GGML_MAX_NAME in ggml.h, including the terminating NUL
MAX_NESTING = 2
KEEP_ARRAY = 64  # arrays up to this length are kept in ``metadata``; longer ones only counted
# Arrays edgejudge reads back whole: a reward model's score head (one float per hidden unit).
KEEP_LONG = {"edgejudge.score_head.weight": 1 << 16}

# GGUFValueType → struct code; 8 (string) and 9 (array) are handled apart.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dims: tuple[int, ...]
    ggml_type: int
    offset: int
    n_bytes: int


@dataclass(frozen=True)
class GGUFInfo:
    """A validated GGUF header."""

    path: Path
    size: int
    version: int
    metadata: dict[str, object]
    array_lengths: dict[str, int]
    tensors: tuple[TensorInfo, ...]
    data_offset: int
    alignment: int = 32
    quant: str = field(default="")

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def get(self, key: str, default=None):
        return self.metadata.get(key, default)

    @property
    def vocab_size(self) -> int | None:
        """Tokens in the vocabulary (the length of ``tokenizer.ggml.tokens``), if it has one."""
        if "tokenizer.ggml.tokens" in self.array_lengths:
            return self.array_lengths["tokenizer.ggml.tokens"]
        tokens = self.metadata.get("tokenizer.ggml.tokens")
        return len(tokens) if isinstance(tokens, list) else None

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None


class _Reader:
    def __init__(self, buf, path: Path):
        self.buf = buf
        self.size = len(buf)
        self.pos = 0
        self.path = path
        self.types: dict[str, int] = {}  # key → GGUF value type, for the semantic checks
        self.arrays: dict[str, tuple[int, int, int]] = {}  # key → (item type, length, first item's byte)

    def fail(self, problem: str) -> ModelFileError:
        return ModelFileError(
            f"{self.path} is not a valid GGUF file: {problem}",
            hint="the file is truncated or corrupt: download or convert it again "
            "(edgejudge verify checks registered models)",
        )

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise self.fail(f"{what} at byte {self.pos} runs past the end of the file ({self.size} bytes)")

    def unpack(self, code: str, what: str):
        n = struct.calcsize("<" + code)
        self.need(n, what)
        value = struct.unpack_from("<" + code, self.buf, self.pos)[0]
        self.pos += n
        return value

    def string(self, what: str, *, decode: bool = True):
        length = self.unpack("Q", f"the length of {what}")
        self.need(length, f"{what} ({length} bytes)")
        start = self.pos
        self.pos += length
        if not decode:
            return None
        try:
            return self.buf[start : self.pos].decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} at byte {start} is not UTF-8") from None

    def skip_strings(self, count: int, key: str) -> None:
        # The hot loop for tokenizer vocabularies (150k+ strings): no per-item method calls.
        buf, pos, size, unpack_from = self.buf, self.pos, self.size, struct.unpack_from
        for i in range(count):
            if pos + 8 > size:
                self.pos = pos
                raise self.fail(f"{key}[{i}] runs past the end of the file")
            pos += 8 + unpack_from("<Q", buf, pos)[0]
        if pos > size:
            raise self.fail(f"{key} runs past the end of the file")
        self.pos = pos

    def value(self, vtype: int, key: str, depth: int = 0, keep: bool = True):
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype], f"the value of {key}")
        if vtype == 8:
            return self.string(f"the value of {key}", decode=keep)
        if vtype == 9:
            if depth >= MAX_NESTING:
                raise self.fail(f"{key} nests arrays deeper than {MAX_NESTING}")
            item_type = self.unpack("I", f"the item type of {key}")
            length = self.unpack("Q", f"the length of {key}")
            if item_type not in _SCALARS and item_type not in (8, 9):
                raise self.fail(f"{key} is an array of unknown type {item_type}")
            if depth == 0:
                self.arrays[key] = (item_type, length, self.pos)
            smallest = struct.calcsize("<" + _SCALARS[item_type]) if item_type in _SCALARS else 8
            if length * smallest > self.size - self.pos:
                raise self.fail(f"{key} claims {length} items, more than the file can hold")
            kept = length <= KEEP_ARRAY or (depth == 0 and item_type in _SCALARS and length <= KEEP_LONG.get(key, 0))
            if item_type in _SCALARS and not kept:
                self.need(length * smallest, f"the items of {key}")
                self.pos += length * smallest
                return _ArrayLength(length)
            if item_type == 8 and not kept:
                self.skip_strings(length, key)
                return _ArrayLength(length)
            items = [self.value(item_type, f"{key}[{i}]", depth + 1, keep=kept) for i in range(length)]
            return items if kept else _ArrayLength(length)
        raise self.fail(f"{key} has unknown value type {vtype}")


class _ArrayLength(int):
    """Stands for an array too long to keep: only its length is known."""


def read(path: str | Path) -> GGUFInfo:
    """Validate the GGUF at ``path`` and return its header; raise :class:`ModelFileError` if bad."""
    from gguf.constants import (
        GGML_QUANT_SIZES,
        MODEL_ARCH_NAMES,
        GGMLQuantizationType,
        LlamaFileType,
    )

    path = Path(path)
    try:
        with open_regular(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < 24:
                raise ModelFileError(f"{path} is not a GGUF file: only {size} bytes",
                                     hint="the file is truncated or not a model; download or convert it again")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse(_Reader(buf, path), GGML_QUANT_SIZES, GGMLQuantizationType,
                              set(MODEL_ARCH_NAMES.values()), LlamaFileType)
    except FileNotFoundError:
        raise ModelFileError(f"{path} does not exist", hint="check the path") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path} is a directory, not a GGUF file",
                             hint="to convert a checkpoint folder use edgejudge convert") from None
    except PermissionError:
        raise ModelFileError(f"{path} cannot be read (permission denied)", hint="check the file's permissions") from None
    except OSError as exc:  # a name too long, a loop of links, an I/O error
        raise ModelFileError(f"{path} cannot be read: {exc.strerror or exc}", hint="check the path") from None
    except ValueError:  # a NUL byte in the path
        raise UsageError(f"{str(path)[:80]!r} is not a valid path (it holds a NUL byte)", hint="check the path") from None


def _parse(r: _Reader, quant_sizes, quant_type, architectures, file_types) -> GGUFInfo:
    magic = r.buf[0:4]
    if magic != MAGIC:
        raise r.fail(f"bad magic {magic!r} (expected b'GGUF'); this is not a GGUF model")
    r.pos = 4
    version = r.unpack("I", "the version")
    if version not in SUPPORTED_VERSIONS:
        raise r.fail(f"GGUF version {version} is not supported (versions {SUPPORTED_VERSIONS} are)")
    n_tensors = r.unpack("Q", "the tensor count")
    n_kv = r.unpack("Q", "the metadata count")
    if n_kv * 13 > r.size - r.pos:
        raise r.fail(f"it claims {n_kv} metadata entries, more than the file can hold")
    if n_tensors * 29 > r.size - r.pos:
        raise r.fail(f"it claims {n_tensors} tensors, more than the file can hold")
    metadata: dict[str, object] = {}
    lengths: dict[str, int] = {}
    for i in range(n_kv):
        key = r.string(f"metadata key #{i}")
        if key in metadata or key in lengths:
            raise r.fail(f"metadata key {key!r} appears twice")
        vtype = r.unpack("I", f"the type of {key}")
        r.types[key] = vtype
        value = r.value(vtype, key)
        if isinstance(value, _ArrayLength):
            lengths[key] = int(value)
        else:
            metadata[key] = value
    alignment = metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise r.fail(f"general.alignment {alignment!r} is not a power of two")
    infos = []
    names = set()
    for i in range(n_tensors):
        name = r.string(f"the name of tensor #{i}")
        if len(name.encode()) >= MAX_NAME:
            raise r.fail(f"tensor name {name[:80]!r} is longer than {MAX_NAME - 1} bytes")
        if name in names:
            raise r.fail(f"tensor {name!r} appears twice")
        names.add(name)
        n_dims = r.unpack("I", f"the dimension count of {name}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise r.fail(f"tensor {name!r} has {n_dims} dimensions (1 to {MAX_DIMS} allowed)")
        dims = tuple(r.unpack("Q", f"a dimension of {name}") for _ in range(n_dims))
        ggml_type = r.unpack("I", f"the type of {name}")
        offset = r.unpack("Q", f"the offset of {name}")
        try:
            block, type_size = quant_sizes[quant_type(ggml_type)]
        except (ValueError, KeyError):
            raise r.fail(f"tensor {name!r} has unknown type {ggml_type}") from None
        n_elements = 1
        for d in dims:
            if d == 0 or d >= 1 << 62:
                raise r.fail(f"tensor {name!r} has a bad dimension {d}")
            n_elements *= d
        if n_elements >= 1 << 62 or dims[0] % block:
            raise r.fail(f"tensor {name!r} has a shape {dims} that does not fit its type")
        if offset % alignment:
            raise r.fail(f"tensor {name!r} starts at offset {offset}, not a multiple of {alignment}")
        infos.append(TensorInfo(name, dims, ggml_type, offset, n_elements // block * type_size))
    data_offset = -(-r.pos // alignment) * alignment
    data_size = r.size - data_offset
    for t in infos:
        if t.offset + t.n_bytes > data_size:
            raise r.fail(
                f"tensor {t.name!r} ({t.n_bytes} bytes at offset {t.offset}) ends past the end of the "
                f"file: the file is truncated ({r.size} bytes)"
            )
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str):
        raise r.fail("general.architecture is missing")
    if arch not in architectures:
        raise r.fail(f"architecture {arch!r} is not one llama.cpp knows")
    model_type = metadata.get("general.type", "model")
    if model_type != "model":
        raise r.fail(f"general.type is {model_type!r}: this is not a language model (an adapter or projector?)")
    if not infos:
        raise r.fail("it holds no tensors (a vocabulary-only file?)")
    quant = ""
    file_type = metadata.get("general.file_type")
    if isinstance(file_type, int):
        try:
            quant = file_types(file_type).name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            quant = ""
    info = GGUFInfo(r.path, r.size, version, metadata, lengths, tuple(infos), data_offset, alignment, quant)
    gguf_semantics.check(info, r)
    return info
