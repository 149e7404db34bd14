"""llama.cpp, owned: the one place that loads llama-cpp-python and decides every setting.

Defaults are chosen for a judge, not for a chat demo:

* weight repacking ("extra buffer types") is off on CPUs that advertise AMX, where the AMX
  repacking path of the pinned llama.cpp crashes the process (see ``hardware.decide_extra_bufts``);
* threads come from the CPU affinity mask and the cgroup quota, not ``os.cpu_count()``;
* every layer is offloaded where the build supports GPU offload (CUDA, Metal), none otherwise;
  flash attention is left to llama.cpp's "auto", which enables it where the backend supports it;
* where the user sets nothing, a measured choice (``tuning``: repacking, threads, batch sizes,
  flash attention, timed on this machine for this quant type) fills the gaps;
* llama.cpp's log lines go through a callback: never to stdout, to stderr only with ``verbose``,
  and the last ones are kept to explain a failure.

``llama_cpp`` is imported lazily, on the first model load, so the CLI starts fast.
"""

from __future__ import annotations

import collections
import ctypes
import hashlib
import logging
import os
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgejudge.backends.llama import hardware, loading
from edgejudge.backends.llama.inert import InertData
from edgejudge.backends.llama.settings import (  # noqa: F401 - callers use them through here
    MAX_BATCH,
    MAX_GPU_LAYERS,
    MAX_THREADS,
    RuntimeSettings,
)
from edgejudge.errors import ModelFileError, RuntimeFailure

log = logging.getLogger("edgejudge")
_lock = threading.Lock()
_llama = None  # the llama_cpp module, once imported
_log_tail: collections.deque[str] = collections.deque(maxlen=40)
_log_state: dict[str, Any] = {"verbose": False, "callback": None, "partial": ""}

@dataclass(frozen=True)
class RuntimeInfo:
    """What was chosen, and why: shown by ``doctor`` and recorded with every verdict."""

    llama_cpp_python: str
    llama_cpp: str
    system_info: str
    threads: int
    threads_reason: str
    gpu_offload: bool
    gpu_layers: int
    extra_bufts: bool
    extra_bufts_reason: str
    flash_attn: str
    cpu_flags: tuple[str, ...] = field(default=())
    n_batch: int = 512
    n_ubatch: int = 512
    tuned: dict | None = None  # the tuning record's choice and figures, when one was applied
    load: str = "auto"  # the user's load mode; what it means for a file: weights_load()

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def numerics_key(self) -> str:
        """The settings that change a verdict's probabilities, as one short string (docs/speed.md:
        "Tuning and probabilities"): the llama.cpp build, weight repacking as applied, flash
        attention, GPU layers. Threads and batch sizes are left out: measured, they change no
        probability. Two runs with one key give the same numbers for the same model file."""
        build = hashlib.sha256(self.system_info.encode()).hexdigest()[:8]
        return (f"llama.cpp {self.llama_cpp}/{build} repack {'on' if self.cpu_repack else 'off'} "
                f"flash {self.flash_attn} gpu_layers {self.gpu_layers if self.gpu_offload else 0}")

    @property
    def cpu_repack(self) -> bool:
        """Weights are repacked for the CPU (repacking on, and the layers not offloaded to a GPU)."""
        return self.extra_bufts and not (self.gpu_offload and self.gpu_layers != 0)


def llama():
    """The ``llama_cpp`` module, imported once, with our log callback and the backend initialised."""
    global _llama
    if _llama is not None:
        return _llama
    with _lock:
        if _llama is None:
            import llama_cpp

            callback = llama_cpp.llama_log_callback(_on_log)
            _log_state["callback"] = callback  # ctypes callbacks must outlive their registration
            llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
            llama_cpp.llama_backend_init()
            _llama = llama_cpp
    return _llama


def _on_log(level: int, text: bytes, _user_data) -> None:
    # Runs on llama.cpp's threads: no exceptions may escape into C.
    try:
        message = text.decode("utf-8", errors="replace")
        line = _log_state["partial"] + message
        if not line.endswith("\n"):
            _log_state["partial"] = line
            return
        _log_state["partial"] = ""
        if level >= 3 or "error" in line.lower() or "failed" in line.lower():
            _log_tail.append(line.rstrip())
        if _log_state["verbose"]:
            sys.stderr.write(line)
    except Exception:  # noqa: BLE001 - see above
        pass


def set_verbose(verbose: bool) -> None:
    _log_state["verbose"] = verbose


def recent_errors(n: int = 5) -> str:
    """The last warning/error lines llama.cpp logged, to explain a failure."""
    return " | ".join(list(_log_tail)[-n:])


def resolve(settings: RuntimeSettings, tuned: dict | None = None) -> RuntimeInfo:
    """Decide every llama.cpp setting for this machine (imports llama_cpp).

    ``tuned`` is a measured choice (``tuning.choose``): it fills what the user left unset, never
    what they set, and it cannot switch weight repacking on where the hardware rule turned it off.
    """
    lib = llama()
    set_verbose(settings.verbose)
    system_info = lib.llama_print_system_info().decode("utf-8", errors="replace").strip()
    flags = hardware.cpu_flags()
    choice = (tuned or {}).get("settings", {})
    if settings.threads is not None:
        threads, threads_reason = settings.threads, "set by the user"
    elif choice.get("threads"):
        threads, threads_reason = int(choice["threads"]), "measured fastest by edgejudge tune"
    else:
        threads = hardware.usable_threads()
        quota = hardware.cgroup_cpu_limit()
        threads_reason = f"{hardware.affinity_cpus()} {hardware.affinity_words()}" + (
            f", cgroup quota {quota:g} CPUs" if quota is not None else ", no cgroup quota"
        )
    offload = bool(lib.llama_supports_gpu_offload())
    gpu_layers = settings.gpu_layers if settings.gpu_layers is not None else (-1 if offload else 0)
    bufts = hardware.decide_extra_bufts(flags, system_info, settings.extra_bufts)
    if not bufts.enabled and bufts.source == "auto":
        log.info("weight repacking is off: %s", bufts.reason)
    elif bufts.source == "auto" and "extra_bufts" in choice:
        state = "on" if choice["extra_bufts"] else "off"
        bufts = hardware.ExtraBuftsDecision(bool(choice["extra_bufts"]),
                                            f"weight repacking {state}: measured faster by edgejudge tune", "tuned")
    flash = settings.flash_attn or choice.get("flash_attn") or "auto"
    load = settings.load or "auto"
    n_batch = settings.n_batch or int(choice.get("n_batch") or 512)
    return RuntimeInfo(
        llama_cpp_python=getattr(lib, "__version__", "unknown"),
        llama_cpp=lib.llama_version().decode(),
        system_info=system_info,
        threads=threads,
        threads_reason=threads_reason,
        gpu_offload=offload,
        gpu_layers=gpu_layers,
        extra_bufts=bufts.enabled,
        extra_bufts_reason=bufts.reason,
        flash_attn=flash,
        cpu_flags=tuple(sorted(f for f in flags if f in hardware.NOTABLE_FLAGS)),
        n_batch=n_batch,
        n_ubatch=min(n_batch, settings.n_ubatch or int(choice.get("n_ubatch") or n_batch)),
        tuned=tuned,
        load=load,
    )


class LoadedModel(InertData):
    """A GGUF model loaded into llama.cpp, with its vocabulary and tokenizer."""

    def __init__(self, path: Path, info: RuntimeInfo):
        lib = llama()
        self.path = Path(path)
        self.info = info
        params = lib.llama_model_default_params()
        params.n_gpu_layers = info.gpu_layers
        params.use_extra_bufts = info.extra_bufts
        self.weights_read, self.weights_reason = loading.weights_load(self.path, info.load, info.cpu_repack)
        if self.weights_read:
            if hasattr(params, "load_mode"):
                params.load_mode = 0  # LLAMA_LOAD_MODE_NONE: read the file, map nothing
            else:  # llama-cpp-python builds before load_mode
                params.use_mmap = False
        _log_tail.clear()
        self._ptr = lib.llama_model_load_from_file(os.fsencode(self.path), params)
        if not self._ptr:
            raise ModelFileError(
                f"llama.cpp could not load {self.path}: {recent_errors() or 'no reason given'}",
                hint="check that the file is a complete GGUF of a supported architecture "
                "(edgejudge verify checks registered models)",
            )
        self._lib = lib
        self.vocab = lib.llama_model_get_vocab(self._ptr)
        self.n_vocab = lib.llama_vocab_n_tokens(self.vocab)
        self.n_ctx_train = lib.llama_model_n_ctx_train(self._ptr)
        self.bos = lib.llama_vocab_bos(self.vocab)
        self.eos = lib.llama_vocab_eos(self.vocab)
        self.add_bos = bool(lib.llama_vocab_get_add_bos(self.vocab))
        self._pieces: dict[int, bytes] = {}
        self._controls = None

    @property
    def ptr(self):
        if not self._ptr:
            raise RuntimeFailure("the model was closed", hint="load it again")
        return self._ptr

    def meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(1 << 16)
        n = self._lib.llama_model_meta_val_str(self.ptr, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", errors="replace") if n >= 0 else None

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        """Tokens of ``text``, parsing special tokens (``<|im_start|>``) and adding no BOS."""
        data = text.encode("utf-8")
        cap = len(data) + 16
        buf = (self._lib.llama_token * cap)()
        n = self._lib.llama_tokenize(self.vocab, data, len(data), buf, cap, False, special)
        if n < 0:
            cap = -n
            buf = (self._lib.llama_token * cap)()
            n = self._lib.llama_tokenize(self.vocab, data, len(data), buf, cap, False, special)
        if n < 0:
            raise RuntimeFailure(f"llama.cpp could not tokenize a text of {len(data)} bytes")
        return list(buf[:n])

    def is_eog(self, token: int) -> bool:
        """True for tokens that end a generation (EOS, EOT, ``<|im_end|>`` …)."""
        return bool(self._lib.llama_vocab_is_eog(self.vocab, token))

    def piece(self, token: int) -> bytes:
        cached = self._pieces.get(token)
        if cached is None:
            buf = ctypes.create_string_buffer(256)
            n = self._lib.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, True)
            cached = buf.raw[: max(n, 0)]
            self._pieces[token] = cached
        return cached

    def detokenize(self, tokens: list[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", errors="replace")

    def close(self) -> None:
        if self._ptr:
            self._lib.llama_model_free(self._ptr)
            self._ptr = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
