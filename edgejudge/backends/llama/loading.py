"""How a model's weights get into memory: mapped from the file, or read into the process."""

from __future__ import annotations

from pathlib import Path

from edgejudge.store.sizing import machine_memory

LOAD_MODES = ("auto", "mmap", "read")


def weights_load(path: Path, load: str, cpu_repack: bool) -> tuple[bool, str]:
    """Whether the model at ``path`` is read into memory (True) or memory-mapped, and why, given the
    user's ``load`` mode and whether weights are repacked on the CPU.

    With CPU weight repacking, llama.cpp copies each weight out of the mapped file, and the file's
    pages stay mapped beside the copy: a 14B Q4_K_M peaked at 14.7 GiB mapped, 8.8 GiB read, at the
    same speed. Those pages are clean and reclaimable, and mapping loads faster (Qwen3-4B Q4_0:
    a one-shot verdict 1.1 s sooner), so the file is read only where twice its size is over half
    the machine's memory.
    """
    if load != "auto":
        return load == "read", f"set by the user (EDGEJUDGE_LOAD={load})"
    if not cpu_repack:
        return False, "memory-mapped (without repacking the file's pages are the weights)"
    try:
        size = path.stat().st_size
    except OSError:
        return False, "memory-mapped (the file could not be read: llama.cpp says why)"
    total = machine_memory().get("total")
    if total is not None and 2 * size > total // 2:
        return True, (f"read into memory: with weight repacking a mapped file stays resident beside its copy, "
                      f"and twice the file ({2 * size / 2**30:.1f} GiB) is over half of this machine's "
                      f"{total / 2**30:.0f} GiB")
    return False, ("memory-mapped: with weight repacking the mapped pages stay beside the copy, but they "
                   "are reclaimable and mapping loads faster (EDGEJUDGE_LOAD=read keeps them out)")
