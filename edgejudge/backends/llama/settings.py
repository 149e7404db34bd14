"""What a user may set for llama.cpp (flags, ``EDGEJUDGE_*`` variables, the API), checked whole
before anything reaches llama.cpp: a thread count, a batch size or a layer count out of range is a
usage error (exit 2) naming it, never a number handed to C as it is."""

from __future__ import annotations

from dataclasses import dataclass

from edgejudge.backends.llama import hardware, loading
from edgejudge.errors import UsageError

# ggml's GGML_MAX_N_THREADS: llama.cpp cannot run more threads than this in one graph
MAX_THREADS = 512
MAX_GPU_LAYERS = 2**31 - 1  # a C int; -1 means every layer
MAX_BATCH = 2**31 - 1  # a C uint32 in llama.cpp's params; contexts clamp it to their size


@dataclass(frozen=True)
class RuntimeSettings:
    """What a user may set; None means "choose for me"."""

    threads: int | None = None
    gpu_layers: int | None = None
    extra_bufts: bool | None = None
    flash_attn: str | None = None  # None: the tuned choice, else llama.cpp's "auto"
    verbose: bool = False
    n_batch: int | None = None
    n_ubatch: int | None = None
    tune: bool | None = None  # None: tune on first use unless EDGEJUDGE_TUNE=0
    prefix_cache: bool | None = None  # None: on unless EDGEJUDGE_PREFIX_CACHE=0
    load: str | None = None  # how the weights are loaded: auto, mmap or read (None: auto)

    def __post_init__(self):
        for name, lo, hi in (("threads", 1, MAX_THREADS), ("n_batch", 1, MAX_BATCH), ("n_ubatch", 1, MAX_BATCH),
                             ("gpu_layers", -1, MAX_GPU_LAYERS)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi):
                raise UsageError(f"{name} must be an integer from {lo} to {hi:,}, got {value!r}",
                                 hint="threads beyond the CPUs only slow llama.cpp down" if name == "threads" else None)
        if self.flash_attn not in (None, "auto", "on", "off"):
            raise UsageError(f"flash attention must be auto, on or off, got {self.flash_attn!r}")
        if self.load not in (None, *loading.LOAD_MODES):
            raise UsageError(f"the weights' load mode must be {', '.join(loading.LOAD_MODES)}, got {self.load!r}",
                             hint="EDGEJUDGE_LOAD=auto (the default), mmap or read")

    @classmethod
    def from_env(cls, **overrides) -> RuntimeSettings:
        """Settings from ``EDGEJUDGE_*`` variables, with explicit values (not None) on top."""
        from edgejudge.environment import env_choice, env_int

        values: dict = {"threads": env_int("EDGEJUDGE_THREADS", 1, MAX_THREADS),
                        "gpu_layers": env_int("EDGEJUDGE_GPU_LAYERS", -1, MAX_GPU_LAYERS),
                        "n_batch": env_int("EDGEJUDGE_BATCH", 1, MAX_BATCH),
                        "n_ubatch": env_int("EDGEJUDGE_UBATCH", 1, MAX_BATCH)}
        values["extra_bufts"] = hardware.env_flag("EDGEJUDGE_EXTRA_BUFTS")
        values["flash_attn"] = env_choice("EDGEJUDGE_FLASH_ATTN", ("auto", "on", "off"))
        values["verbose"] = bool(hardware.env_flag("EDGEJUDGE_VERBOSE"))
        values["tune"] = hardware.env_flag("EDGEJUDGE_TUNE")
        values["prefix_cache"] = hardware.env_flag("EDGEJUDGE_PREFIX_CACHE")
        values["load"] = env_choice("EDGEJUDGE_LOAD", loading.LOAD_MODES)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
