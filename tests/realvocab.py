"""The judges' real tokenizers, for tests and benchmarks, from the extract in ``data/real-vocab/``.

``data/real-vocab/deepseek-r1-distill-qwen-7b.json.xz`` is the key/value section of a real
DeepSeek-R1-Distill-Qwen-7B GGUF header (see ``data/extract_real_vocab.py``): RM-R1's tokenizer
exactly as llama.cpp's converter wrote it. Qwen3 (mR3, RubricRM, the refiner) shares its
byte-level BPE, ids 0–151,642 and all merges; only the added tokens differ. So:

* :func:`deepseek` is the header's tokenizer as it is (152,064 ids, ``deepseek-r1-qwen``);
* :func:`qwen3` is the same BPE with Qwen3's 26 added tokens at 151,643–151,668 and padding up to
  Qwen3's 151,936 embedding rows, typed as llama.cpp's converter types them: CONTROL when
  ``special`` in Qwen3's tokenizer_config or when they look special (``<|...|>``), else
  USER_DEFINED (``<think>``, ``</think>``, the tool-call tags).

From either, :func:`write_vocab_gguf` makes a vocab-only GGUF that llama.cpp tokenizes with
(``llama_cpp.Llama(model_path=..., vocab_only=True)``), and :func:`write_hf_tokenizer` a Hugging
Face ``tokenizer.json`` / ``tokenizer_config.json`` pair for synthetic checkpoints to convert.
"""

from __future__ import annotations

import functools
import json
import lzma
from dataclasses import dataclass, field, replace
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
EXTRACT = DATA / "real-vocab" / "deepseek-r1-distill-qwen-7b.json.xz"
QWEN3_TEMPLATE = DATA / "templates" / "Qwen-Qwen3-0.6B.jinja"

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6  # gguf.TokenType
N_BPE = 151643  # ids 0..151642: the byte-level BPE vocabulary Qwen2.5, DeepSeek-R1-Distill and Qwen3 share

# Qwen3's added tokens, in id order from 151643, with the "special" flag of Qwen3's
# tokenizer_config.json (the fim/repo/file tokens are not special there, but look special).
QWEN3_ADDED = (
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
    ("<|object_ref_start|>", True), ("<|object_ref_end|>", True), ("<|box_start|>", True), ("<|box_end|>", True),
    ("<|quad_start|>", True), ("<|quad_end|>", True), ("<|vision_start|>", True), ("<|vision_end|>", True),
    ("<|vision_pad|>", True), ("<|image_pad|>", True), ("<|video_pad|>", True),
    ("<tool_call>", False), ("</tool_call>", False),
    ("<|fim_prefix|>", False), ("<|fim_middle|>", False), ("<|fim_suffix|>", False), ("<|fim_pad|>", False),
    ("<|repo_name|>", False), ("<|file_sep|>", False),
    ("<tool_response>", False), ("</tool_response>", False), ("<think>", False), ("</think>", False),
)
QWEN3_VOCAB_SIZE = 151936

# DeepSeek-R1-Distill-Qwen's tokenizer_config "special" flags. Only the types in the GGUF header
# are facts here; these flags are the ones that give those types under the converter's rules.
DEEPSEEK_SPECIAL = {"<｜end▁of▁sentence｜>", "<｜begin▁of▁sentence｜>", "<|quad_start|>", "<|quad_end|>",
                    "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"}

QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")

# The real models' hyperparameters, for vocab-only files (llama.cpp reads them even then).
QWEN3_4B_HPARAMS = {"block_count": 36, "context_length": 40960, "embedding_length": 2560,
                    "feed_forward_length": 9728, "attention.head_count": 32, "attention.head_count_kv": 8,
                    "rope.freq_base": 1000000.0, "attention.layer_norm_rms_epsilon": 1e-06,
                    "attention.key_length": 128, "attention.value_length": 128}


def read_kv(path: Path) -> dict:
    """The key/value section of any GGUF file, read by the extract script's header reader
    (much faster than ``gguf.GGUFReader`` on 150k-token vocabularies)."""
    import sys

    if str(DATA) not in sys.path:
        sys.path.insert(0, str(DATA))
    from extract_real_vocab import HeaderReader

    with open(path, "rb") as handle:
        return HeaderReader(handle).kv_section()[1]["values"]


@functools.cache
def extract() -> dict:
    """The header extract: ``source`` (where it came from), ``values`` and ``types`` of every key."""
    return json.loads(lzma.decompress(EXTRACT.read_bytes()))


@dataclass(frozen=True)
class Vocab:
    name: str
    architecture: str
    pre: str
    tokens: tuple[str, ...]
    types: tuple[int, ...]
    merges: tuple[str, ...]
    bos: int
    eos: int
    pad: int
    add_bos: bool
    add_eos: bool
    template: str
    special: frozenset[str]  # the added tokens marked special in tokenizer_config.json
    hparams: dict = field(default_factory=dict, compare=False)

    @functools.cached_property
    def ids(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.tokens)}

    def id(self, token: str) -> int:
        """The id of a token given as its vocabulary string (byte-level: ``Ġ`` is a space)."""
        return self.ids[token]

    @property
    def added(self) -> range:
        """Ids of the added tokens (CONTROL / USER_DEFINED), after the shared BPE."""
        last = max(i for i, t in enumerate(self.types) if t in (CONTROL, USER_DEFINED))
        return range(N_BPE, last + 1)

    def of_type(self, token_type: int) -> list[int]:
        return [i for i, t in enumerate(self.types) if t == token_type]


@functools.cache
def deepseek() -> Vocab:
    """RM-R1's tokenizer: the header's, unchanged."""
    values = extract()["values"]
    arch = values["general.architecture"]
    return Vocab(
        name="deepseek-r1-distill-qwen", architecture=arch, pre=values["tokenizer.ggml.pre"],
        tokens=tuple(values["tokenizer.ggml.tokens"]), types=tuple(values["tokenizer.ggml.token_type"]),
        merges=tuple(values["tokenizer.ggml.merges"]),
        bos=values["tokenizer.ggml.bos_token_id"], eos=values["tokenizer.ggml.eos_token_id"],
        pad=values["tokenizer.ggml.padding_token_id"],
        add_bos=values["tokenizer.ggml.add_bos_token"], add_eos=values["tokenizer.ggml.add_eos_token"],
        template=values["tokenizer.chat_template"], special=frozenset(DEEPSEEK_SPECIAL),
        hparams={k[len(arch) + 1:]: v for k, v in values.items() if k.startswith(arch + ".")},
    )


def _looks_special(token: str) -> bool:
    return (token.startswith("<|") and token.endswith("|>")) or (token.startswith("<｜") and token.endswith("｜>"))


@functools.cache
def qwen3() -> Vocab:
    """Qwen3's tokenizer: the shared BPE, Qwen3's added tokens, padding to 151,936 rows."""
    base = deepseek()
    tokens = list(base.tokens[:N_BPE])
    types = list(base.types[:N_BPE])
    for token, special in QWEN3_ADDED:
        tokens.append(token)
        types.append(CONTROL if special or _looks_special(token) else USER_DEFINED)
    for i in range(len(tokens), QWEN3_VOCAB_SIZE):
        tokens.append(f"[PAD{i}]")
        types.append(UNUSED)
    ids = {t: i for i, t in enumerate(tokens)}
    return Vocab(
        name="qwen3", architecture="qwen3", pre="qwen2", tokens=tuple(tokens), types=tuple(types),
        merges=base.merges, bos=ids["<|endoftext|>"], eos=ids["<|im_end|>"], pad=ids["<|endoftext|>"],
        add_bos=False, add_eos=False, template=QWEN3_TEMPLATE.read_text(encoding="utf-8"),
        special=frozenset(t for t, s in QWEN3_ADDED if s), hparams=dict(QWEN3_4B_HPARAMS),
    )


def for_architecture(architecture: str) -> Vocab:
    return {"qwen3": qwen3, "qwen2": deepseek}[architecture]()


def without_added(vocab: Vocab) -> Vocab:
    """The same BPE with every added token turned into padding: what plain text tokenizes to
    when no special token can match (the reference for user data kept inert)."""
    tokens, types = list(vocab.tokens), list(vocab.types)
    for i in vocab.added:
        tokens[i], types[i] = f"[PAD{i}]", UNUSED
    return replace(vocab, name=vocab.name + "-plain", tokens=tuple(tokens), types=tuple(types), special=frozenset())


def write_vocab_gguf(vocab: Vocab, path: Path) -> Path:
    """A GGUF with the tokenizer and hyperparameters but no tensors, for ``vocab_only`` loads."""
    import gguf

    writer = gguf.GGUFWriter(path, vocab.architecture)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(f"{vocab.name} vocabulary")
    for key, value in vocab.hparams.items():
        full = f"{vocab.architecture}.{key}"
        if isinstance(value, float):
            writer.add_float32(full, value)
        else:
            writer.add_uint32(full, value)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(list(vocab.tokens))
    writer.add_token_types(list(vocab.types))
    writer.add_token_merges(list(vocab.merges))
    writer.add_bos_token_id(vocab.bos)
    writer.add_eos_token_id(vocab.eos)
    writer.add_pad_token_id(vocab.pad)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(vocab.add_eos)
    writer.add_chat_template(vocab.template)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _bos_post_processor(bos: str, bos_id: int) -> dict:
    """DeepSeek-R1-Distill's post-processor: BOS before each sequence."""
    token = {"SpecialToken": {"id": bos, "type_id": 0}}
    return {"type": "TemplateProcessing",
            "single": [token, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [token, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": bos, "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}}


def hf_tokenizer(vocab: Vocab) -> tuple[dict, dict]:
    """``tokenizer.json`` and ``tokenizer_config.json`` contents that convert back to ``vocab``."""
    added = [{"id": i, "content": vocab.tokens[i], "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": vocab.tokens[i] in vocab.special} for i in vocab.added]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    post = _bos_post_processor(vocab.tokens[vocab.bos], vocab.bos) if vocab.add_bos else byte_level
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated", "invert": False},
            byte_level]},
        "post_processor": post,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {vocab.tokens[i]: i for i in range(N_BPE)}, "merges": list(vocab.merges)},
    }
    decoder = {str(e["id"]): {k: e[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
               for e in added}
    config = {
        "add_bos_token": vocab.add_bos, "add_eos_token": vocab.add_eos, "added_tokens_decoder": decoder,
        "bos_token": vocab.tokens[vocab.bos] if vocab.add_bos else None, "eos_token": vocab.tokens[vocab.eos],
        "pad_token": vocab.tokens[vocab.pad], "unk_token": None, "chat_template": vocab.template,
        "clean_up_tokenization_spaces": False, "model_max_length": 131072,
        "tokenizer_class": "LlamaTokenizerFast" if vocab.add_bos else "Qwen2Tokenizer",
    }
    return tokenizer, config


def write_hf_tokenizer(vocab: Vocab, folder: Path) -> None:
    tokenizer, config = hf_tokenizer(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
