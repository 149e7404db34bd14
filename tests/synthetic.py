"""Synthetic Hugging Face checkpoints of the judges' two architectures, made from nothing.

A checkpoint here is what a user downloads: ``config.json``, safetensors shards (with
``model.safetensors.index.json`` when sharded), a byte-level BPE ``tokenizer.json`` trained on a
few sentences, ``tokenizer_config.json`` carrying the real chat template, and
``generation_config.json``. Weights are random (or constant, for the large ones), in bf16.
Used by the conversion tests, the store's convert-on-pull test and the conversion benchmark.
"""

from __future__ import annotations

import collections
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TEMPLATES = Path(__file__).resolve().parent / "data" / "templates"
# The template carried by a real DeepSeek-R1-Distill-Qwen GGUF header (the tokenizer_config one).
DEEPSEEK_TEMPLATE = "deepseek-ai-DeepSeek-R1-Distill-Qwen-7B.gguf-header.jinja"
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")
CORPUS = """You are an impartial judge. Compare the two responses and decide which one is better.
The response is correct and helpful. Assistant A gives the better answer; Assistant B is wrong.
{"explanation": "The first answer is right.", "score": "Assistant A"} <answer>[[A]]</answer> [[B]]
Winner: Response A. Winner: Response B. The capital of France is Paris. 1 2 3 4 5 6 7 true false
Please act as an impartial judge and evaluate the quality of the responses provided by two AI Chatbots.
"""

QWEN3_SPECIALS = [("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
                  ("<think>", False), ("</think>", False)]
DEEPSEEK_SPECIALS = [("<｜end▁of▁sentence｜>", True), ("<｜begin▁of▁sentence｜>", True), ("<｜User｜>", False),
                     ("<｜Assistant｜>", False), ("<think>", False), ("</think>", False)]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable character map (byte-level BPE)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, map(chr, chars)))


def train_bpe(corpus: str, n_merges: int) -> tuple[dict[str, int], list[str]]:
    """A byte-level BPE vocabulary and merges trained on ``corpus`` (deterministic)."""
    table = bytes_to_unicode()
    words = collections.Counter(re.findall(r" ?\w+| ?[^\w\s]+|\s+", corpus))
    split = {w: [table[b] for b in w.encode()] for w in words}
    vocab = {table[b]: i for i, b in enumerate(sorted(table))}
    merges: list[str] = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for word, count in words.items():
            parts = split[word]
            for a, b in zip(parts, parts[1:]):
                pairs[(a, b)] += count
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(f"{a} {b}")
        vocab[a + b] = len(vocab)
        for word, parts in split.items():
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == a and parts[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            split[word] = merged
    return vocab, merges


@dataclass(frozen=True)
class Spec:
    architecture: str = "qwen3"  # or "qwen2" (DeepSeek-R1-Distill-Qwen layout, like RM-R1)
    hidden: int = 256
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    head_dim: int | None = 64
    ffn: int = 512
    vocab_size: int = 512
    n_merges: int = 180
    tied: bool = True
    shards: int = 1
    constant: bool = False  # constant weights: fast to write at real sizes
    seed: int = 0
    real_vocab: bool = False  # the judges' real tokenizer (tests/realvocab.py) instead of a trained one
    scale: float = 0.08  # standard deviation of the random weights
    # A sequence classifier (Qwen3ForSequenceClassification, a scalar reward model): score.weight of
    # score_labels rows (0: a causal LM), score_width wide (None: the hidden size), and a bias if asked.
    score_labels: int = 0
    score_width: int | None = None
    score_bias: bool = False


QWEN3_4B_TWO_LAYERS = Spec(hidden=2560, layers=2, heads=32, kv_heads=8, head_dim=128, ffn=9728,
                           vocab_size=151936, constant=True)
QWEN3_06B = Spec(hidden=1024, layers=28, heads=16, kv_heads=8, head_dim=128, ffn=3072, vocab_size=151936,
                 shards=2)


def tensor_shapes(spec: Spec) -> dict[str, tuple[int, ...]]:
    head_dim = spec.head_dim or spec.hidden // spec.heads
    q, kv = spec.heads * head_dim, spec.kv_heads * head_dim
    shapes = {"model.embed_tokens.weight": (spec.vocab_size, spec.hidden)}
    for i in range(spec.layers):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (spec.hidden,),
            p + "self_attn.q_proj.weight": (q, spec.hidden),
            p + "self_attn.k_proj.weight": (kv, spec.hidden),
            p + "self_attn.v_proj.weight": (kv, spec.hidden),
            p + "self_attn.o_proj.weight": (spec.hidden, q),
            p + "post_attention_layernorm.weight": (spec.hidden,),
            p + "mlp.gate_proj.weight": (spec.ffn, spec.hidden),
            p + "mlp.up_proj.weight": (spec.ffn, spec.hidden),
            p + "mlp.down_proj.weight": (spec.hidden, spec.ffn),
        })
        if spec.architecture == "qwen3":
            shapes[p + "self_attn.q_norm.weight"] = (head_dim,)
            shapes[p + "self_attn.k_norm.weight"] = (head_dim,)
        else:
            shapes[p + "self_attn.q_proj.bias"] = (q,)
            shapes[p + "self_attn.k_proj.bias"] = (kv,)
            shapes[p + "self_attn.v_proj.bias"] = (kv,)
    shapes["model.norm.weight"] = (spec.hidden,)
    if spec.score_labels:  # a classifier has no LM head, tied or not
        shapes["score.weight"] = (spec.score_labels, spec.score_width or spec.hidden)
        if spec.score_bias:
            shapes["score.bias"] = (spec.score_labels,)
    elif not spec.tied:
        shapes["lm_head.weight"] = (spec.vocab_size, spec.hidden)
    return shapes


def _bf16(values: np.ndarray) -> np.ndarray:
    bits = values.astype(np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def _write_safetensors(path: Path, shapes: dict[str, tuple[int, ...]], spec: Spec, rng) -> None:
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = math.prod(shape) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as handle:
        handle.write(len(blob).to_bytes(8, "little") + blob)
        for name, shape in shapes.items():
            n = math.prod(shape)
            norm = name.endswith("norm.weight")
            for start in range(0, n, 1 << 24):
                count = min(1 << 24, n - start)
                if spec.constant:
                    values = np.full(count, 1.0 if norm else 0.01, dtype=np.float32)
                else:
                    values = 1.0 + rng.normal(0, 0.05, count) if norm else rng.normal(0, spec.scale, count)
                handle.write(_bf16(values).tobytes())


def _bos_template(bos: str, bos_id: int) -> dict:
    """DeepSeek-R1-Distill's post-processor: prepend BOS."""
    special = {"SpecialToken": {"id": bos, "type_id": 0}}
    return {"type": "TemplateProcessing",
            "single": [special, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [special, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": bos, "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}}


def _tokenizer(spec: Spec) -> tuple[dict, dict[str, int]]:
    specials = QWEN3_SPECIALS if spec.architecture == "qwen3" else DEEPSEEK_SPECIALS
    budget = spec.vocab_size - 256 - len(specials) - 8  # leave a few ids unused, as real vocabs do
    vocab, merges = train_bpe(CORPUS, min(spec.n_merges, budget))
    first_added = len(vocab)
    added = [{"id": first_added + i, "content": text, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": special} for i, (text, special) in enumerate(specials)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    data = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated", "invert": False},
            byte_level]},
        "post_processor": byte_level if spec.architecture == "qwen3" else _bos_template(specials[1][0], first_added + 1),
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }
    return data, {entry["content"]: entry["id"] for entry in added}


def _tokenizer_files(spec: Spec) -> tuple[dict, dict, int, int]:
    """tokenizer.json, tokenizer_config.json, and the BOS and EOS ids for config.json."""
    if spec.real_vocab:
        import realvocab

        vocab = realvocab.for_architecture(spec.architecture)
        if spec.vocab_size != len(vocab.tokens):
            raise ValueError(f"the real {spec.architecture} vocabulary has {len(vocab.tokens)} rows, "
                             f"not {spec.vocab_size}")
        tokenizer, tok_config = realvocab.hf_tokenizer(vocab)
        return tokenizer, tok_config, vocab.bos, vocab.eos
    tokenizer, ids = _tokenizer(spec)
    decoder = {str(e["id"]): {k: e[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
               for e in tokenizer["added_tokens"]}
    if spec.architecture == "qwen3":
        template = (TEMPLATES / "Qwen-Qwen3-0.6B.jinja").read_text(encoding="utf-8")
        tok_config = {"add_bos_token": False, "add_prefix_space": False, "bos_token": None,
                      "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "chat_template": template}
        bos, eos = ids["<|endoftext|>"], ids["<|im_end|>"]
    else:
        template = (TEMPLATES / DEEPSEEK_TEMPLATE).read_text(encoding="utf-8")
        tok_config = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<｜begin▁of▁sentence｜>",
                      "eos_token": "<｜end▁of▁sentence｜>", "pad_token": "<｜end▁of▁sentence｜>", "unk_token": None,
                      "chat_template": template, "tokenizer_class": "LlamaTokenizerFast", "legacy": True}
        bos, eos = ids["<｜begin▁of▁sentence｜>"], ids["<｜end▁of▁sentence｜>"]
    tok_config.setdefault("tokenizer_class", "Qwen2Tokenizer")
    tok_config.setdefault("unk_token", None)
    tok_config.update({"added_tokens_decoder": decoder, "model_max_length": 4096, "clean_up_tokenization_spaces": False})
    return tokenizer, tok_config, bos, eos


def tokenizer_id(tokenizer: dict, token: str) -> int | None:
    """The id of ``token`` in a tokenizer.json's added tokens or vocabulary."""
    for entry in tokenizer["added_tokens"]:
        if entry["content"] == token:
            return entry["id"]
    return tokenizer["model"]["vocab"].get(token)


def make_checkpoint(path: Path, spec: Spec = Spec()) -> Path:
    """Write a synthetic checkpoint folder at ``path`` and return it."""
    path.mkdir(parents=True, exist_ok=True)
    tokenizer, tok_config, bos, eos = _tokenizer_files(spec)
    (path / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    (path / "tokenizer_config.json").write_text(json.dumps(tok_config, ensure_ascii=False, indent=1), encoding="utf-8")
    hf_arch, model_type = ("Qwen3ForCausalLM", "qwen3") if spec.architecture == "qwen3" else ("Qwen2ForCausalLM", "qwen2")
    if spec.score_labels:
        hf_arch = hf_arch.replace("ForCausalLM", "ForSequenceClassification")
    config = {
        "architectures": [hf_arch], "model_type": model_type, "vocab_size": spec.vocab_size,
        "hidden_size": spec.hidden, "intermediate_size": spec.ffn, "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads, "num_key_value_heads": spec.kv_heads,
        "max_position_embeddings": 4096, "rope_theta": 1000000.0, "rms_norm_eps": 1e-06,
        "tie_word_embeddings": spec.tied, "torch_dtype": "bfloat16", "bos_token_id": bos, "eos_token_id": eos,
        "hidden_act": "silu", "attention_dropout": 0.0, "use_cache": True,
    }
    if spec.score_labels:
        config["id2label"] = {str(i): f"LABEL_{i}" for i in range(spec.score_labels)}
        config["label2id"] = {f"LABEL_{i}": i for i in range(spec.score_labels)}
        config["pad_token_id"] = tok_config.get("pad_token") and tokenizer_id(tokenizer, tok_config["pad_token"])
    if spec.head_dim is not None and spec.architecture == "qwen3":
        config["head_dim"] = spec.head_dim
        config["attention_bias"] = False
    (path / "config.json").write_text(json.dumps(config, indent=1))
    (path / "generation_config.json").write_text(json.dumps({"bos_token_id": bos, "eos_token_id": eos,
                                                             "do_sample": True, "temperature": 0.6}))
    shapes = tensor_shapes(spec)
    rng = np.random.default_rng(spec.seed)
    names = list(shapes)
    if spec.shards == 1:
        _write_safetensors(path / "model.safetensors", shapes, spec, rng)
        return path
    per = -(-len(names) // spec.shards)
    weight_map = {}
    for k in range(spec.shards):
        part = names[k * per:(k + 1) * per]
        filename = f"model-{k + 1:05d}-of-{spec.shards:05d}.safetensors"
        _write_safetensors(path / filename, {n: shapes[n] for n in part}, spec, rng)
        weight_map.update(dict.fromkeys(part, filename))
    (path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}, indent=1))
    return path
