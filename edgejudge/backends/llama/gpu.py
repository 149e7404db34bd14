"""GPU offload: which GPU backends the llama.cpp build has, and how to get offload when it has none.

Pure Python over llama.cpp's system-info string (``llama_print_system_info``), which names each
compiled backend that reports features (``CUDA : ARCHS = 900 | …``, ``MTL : …``, ``ROCm : …``),
so ``doctor`` and its tests share one answer. The rebuild commands are the ones docs and the README
give; ``--no-cache-dir`` matters: without it pip reinstalls the CPU wheel it built and cached the
first time instead of compiling again.
"""

from __future__ import annotations

import platform

LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"
# llama.cpp's backend registry names, as llama_print_system_info prints them.
GPU_BACKENDS = {"CUDA": "CUDA", "MTL": "Metal", "ROCm": "ROCm (HIP)", "MUSA": "MUSA"}
REBUILD = f"pip install --force-reinstall --no-cache-dir --no-deps --no-binary llama-cpp-python {LLAMA_CPP_PYTHON}"


def build_backends(system_info: str) -> list[str]:
    """The GPU backends compiled into this llama.cpp build, by their common names."""
    return [name for key, name in GPU_BACKENDS.items() if f"{key} :" in system_info]


def rebuild_command(system: str | None = None) -> str:
    """The command that rebuilds llama-cpp-python with this platform's GPU backend."""
    system = system or platform.system()
    if system == "Darwin":
        # 0.3.36's CMakeLists turns Metal on by itself on Apple platforms: a plain rebuild has it.
        return REBUILD
    if system == "Windows":
        return f'$env:CMAKE_ARGS = "-DGGML_CUDA=on"; {REBUILD}'
    return f'CMAKE_ARGS="-DGGML_CUDA=on" {REBUILD}'


def offload_advice(offload: bool, system_info: str, system: str | None = None) -> str | None:
    """What to do to get GPU offload, or None when the build already offloads."""
    if offload:
        return None
    backends = build_backends(system_info)
    if backends:
        which = " and ".join(backends)
        return (f"this llama.cpp build has {which} but found no GPU device: check the driver "
                "(nvidia-smi for CUDA) and CUDA_VISIBLE_DEVICES")
    system = system or platform.system()
    if system == "Darwin":
        return ("this llama-cpp-python build is CPU-only; on macOS the build enables Metal itself, so "
                f"rebuild it (Xcode command-line tools needed): {rebuild_command(system)}")
    return ("this llama-cpp-python build is CPU-only; with an NVIDIA GPU and the CUDA toolkit (nvcc), "
            f"rebuild it with CUDA: {rebuild_command(system)}")
