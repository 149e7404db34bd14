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


def with_kv(key, vtype, value):
    """VALID_KVS with ``key`` set (replaced, or added)."""
    return tuple(kv for kv in VALID_KVS if kv[0] != key) + ((key, vtype, value),)


def retyped(name, ggml_type):
    """VALID_TENSORS with the tensor ``name`` given another type (F16 or I8: fewer bytes per value)."""
    per_value = {0: 4, 1: 2, 24: 1}[ggml_type]
    return tuple((n, dims, ggml_type, offset, nbytes // 4 * per_value) if n == name
                 else (n, dims, t, offset, nbytes) for n, dims, t, offset, nbytes in VALID_TENSORS)


# Files whose every byte is in place but whose contents llama.cpp asserts on (see gguf_semantics):
# the key or tensor at fault must be named.
SEMANTIC = {
    "block_count 0": (with_kv("llama.block_count", 4, 0), VALID_TENSORS, "llama.block_count = 0"),
    "block_count 513": (with_kv("llama.block_count", 4, 513), VALID_TENSORS, "llama.block_count = 513"),
    "block_count as a float": (with_kv("llama.block_count", 6, 1.0), VALID_TENSORS, "llama.block_count has GGUF type 6"),
    "expert_count over 1024": (with_kv("llama.expert_count", 4, 1025), VALID_TENSORS, "llama.expert_count = 1025"),
    "expert_count without used": (with_kv("llama.expert_count", 4, 8), VALID_TENSORS, "expert_used_count is 0"),
    "expert_used over expert_count": (with_kv("llama.expert_used_count", 4, 1), VALID_TENSORS,
                                      "expert_used_count = 1 is more than"),
    "unknown rope scaling": (with_kv("llama.rope.scaling.type", 8, "warp"), VALID_TENSORS, "rope.scaling.type"),
    "head_count_kv 0": (with_kv("llama.attention.head_count_kv", 4, 0), VALID_TENSORS, "head_count_kv"),
    "per-layer array of the wrong length": (with_kv("llama.feed_forward_length", 9, (4, [8, 8])), VALID_TENSORS,
                                            "holds 2 values for 1 layers"),
    "duplicate token": (with_kv("tokenizer.ggml.tokens", 9, (8, ["a", "b", "a"])), VALID_TENSORS,
                        "tokens 0 and 2 are the same string"),
    "empty token colliding with its stand-in": (with_kv("tokenizer.ggml.tokens", 9, (8, ["a", "", "[EMPTY_1]"])),
                                                VALID_TENSORS, "tokens 1 and 2"),
    "no tokenizer model": (tuple(kv for kv in VALID_KVS if kv[0] != "tokenizer.ggml.model"), VALID_TENSORS,
                           "tokenizer.ggml.model is missing"),
    "token types too few": (with_kv("tokenizer.ggml.token_type", 9, (5, [1, 1])), VALID_TENSORS,
                            "holds 2 values for 3 tokens"),
    "token type out of range": (with_kv("tokenizer.ggml.token_type", 9, (5, [1, 7, 1])), VALID_TENSORS,
                                "token_type[1] = 7"),
    "bos id out of range": (with_kv("tokenizer.ggml.bos_token_id", 4, 3), VALID_TENSORS, "bos_token_id = 3"),
    "norm as F16": (VALID_KVS, retyped("blk.0.ffn_norm.weight", 1), "'blk.0.ffn_norm.weight' has type F16"),
    "weight as I8": (VALID_KVS, retyped("blk.0.attn_v.weight", 24), "'blk.0.attn_v.weight' has type I8"),
    "vocabulary and embedding disagree": (with_kv("tokenizer.ggml.tokens", 9, (8, ["a", "b", "c", "d"])),
                                          VALID_TENSORS, "'token_embd.weight' has shape [8, 3]"),
}


@pytest.mark.parametrize("name", sorted(SEMANTIC))
def test_contents_llama_cpp_asserts_on_are_refused_naming_the_key(tmp_path, name):
    kvs, tensors, words = SEMANTIC[name]
    path = write(tmp_path, gguf_bytes(kvs, tensors))
    with pytest.raises(ModelFileError) as info:
        gguf_file.read(path)
    assert str(path) in info.value.message and info.value.hint
    assert words in info.value.message
