"""The GGUF validator: every corruption is a clear ModelFileError, never a crash or a hang."""

import pytest
from conftest import VALID_KVS, VALID_TENSORS, gguf_bytes

from edgejudge.errors import ModelFileError
from edgejudge.store import gguf_file


def write(tmp_path, data, name="model.gguf"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_valid_synthetic_file(tmp_path, valid_gguf_bytes):
    info = gguf_file.read(write(tmp_path, valid_gguf_bytes))
    assert info.architecture == "llama"
    assert [t.name for t in info.tensors][:2] == ["token_embd.weight", "output_norm.weight"]
    assert info.metadata["tokenizer.ggml.tokens"] == ["a", "b", "c"]


@pytest.mark.model
def test_real_smollm2_header(smollm2_path):
    info = gguf_file.read(smollm2_path)
    assert info.architecture == "llama" and info.quant == "Q4_1"
    assert info.context_length == 8192
    assert info.array_lengths["tokenizer.ggml.tokens"] == 49152
    assert len(info.tensors) == 272
    assert "<|im_start|>" in info.get("tokenizer.chat_template")


def kv(*extra):
    return VALID_KVS + tuple(extra)


CORRUPT = {
    "empty file": b"",
    "bad magic": b"GGML" + gguf_bytes(VALID_KVS, VALID_TENSORS)[4:],
    "version 1": gguf_bytes(VALID_KVS, VALID_TENSORS, version=1),
    "version 99": gguf_bytes(VALID_KVS, VALID_TENSORS, version=99),
    "absurd tensor count": gguf_bytes(VALID_KVS, VALID_TENSORS, n_tensors=2**60),
    "absurd kv count": gguf_bytes(VALID_KVS, VALID_TENSORS, n_kv=2**62),
    "more kvs claimed than present": gguf_bytes(VALID_KVS, VALID_TENSORS, n_kv=len(VALID_KVS) + 1),
    "absurd string length": gguf_bytes(((b"general.architecture", 8, "llama"),), VALID_TENSORS).replace(
        (5).to_bytes(8, "little") + b"llama", (2**62).to_bytes(8, "little") + b"llama"),
    "absurd array length": gguf_bytes(kv(("tokenizer.ggml.scores", 9, (6, [0.0]))), VALID_TENSORS).replace(
        (6).to_bytes(4, "little") + (1).to_bytes(8, "little"), (6).to_bytes(4, "little") + (2**61).to_bytes(8, "little")),
    "unknown value type": gguf_bytes(kv(("general.weird", 4, 1)), VALID_TENSORS).replace(
        b"general.weird" + (4).to_bytes(4, "little"), b"general.weird" + (77).to_bytes(4, "little")),
    "duplicate key": gguf_bytes(kv(("general.name", 8, "again")), VALID_TENSORS),
    "offset past the end": gguf_bytes(VALID_KVS, (("token_embd.weight", (4, 8), 0, 4096, 128),), data_pad=0)[:-4096],
    "truncated data": gguf_bytes(VALID_KVS, VALID_TENSORS)[:-1],
    "unknown tensor type": gguf_bytes(VALID_KVS, (("token_embd.weight", (4, 8), 250, 0, 128),)),
    "too many dimensions": gguf_bytes(VALID_KVS, (("token_embd.weight", (1, 1, 1, 1, 4), 0, 0, 16),)),
    "zero dimension": gguf_bytes(VALID_KVS, (("token_embd.weight", (4, 0), 0, 0, 0),)),
    "misaligned offset": gguf_bytes(VALID_KVS, (("token_embd.weight", (4,), 0, 4, 16),)),
    "duplicate tensor": gguf_bytes(VALID_KVS, (("a.weight", (4,), 0, 0, 16), ("a.weight", (4,), 0, 32, 16))),
    "long tensor name": gguf_bytes(VALID_KVS, (("t" * 80, (4,), 0, 0, 16),)),
    "no architecture": gguf_bytes(VALID_KVS[1:], VALID_TENSORS),
    "unknown architecture": gguf_bytes((("general.architecture", 8, "frobnicator"),), VALID_TENSORS),
    "adapter not model": gguf_bytes(kv(("general.type", 8, "adapter")), VALID_TENSORS),
    "no tensors": gguf_bytes(VALID_KVS, ()),
    "non-utf8 key": gguf_bytes(kv((b"\xff\xfe", 4, 1)), VALID_TENSORS),
    "quant block mismatch": gguf_bytes(VALID_KVS, (("token_embd.weight", (30,), 2, 0, 18),)),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_files_are_refused_with_a_clear_error(tmp_path, name):
    path = write(tmp_path, CORRUPT[name])
    with pytest.raises(ModelFileError) as info:
        gguf_file.read(path)
    assert str(path) in info.value.message
    assert info.value.hint


@pytest.mark.parametrize("cut", [3, 8, 20, 40, 90, 200])
def test_truncation_at_any_point_is_refused(tmp_path, valid_gguf_bytes, cut):
    with pytest.raises(ModelFileError):
        gguf_file.read(write(tmp_path, valid_gguf_bytes[:cut]))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        gguf_file.read(tmp_path / "absent.gguf")
    with pytest.raises(ModelFileError, match="directory"):
        gguf_file.read(tmp_path)
