"""What the machine offers: CPU features, usable cores, and the decisions derived from them.

Pure Python (no llama_cpp import) so that ``edgejudge doctor`` and the runtime share one answer
and the logic is testable with made-up inputs.
"""

from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass
from pathlib import Path

AMX_FLAGS = ("amx_tile", "amx_int8", "amx_bf16", "amx_fp16", "amx_complex")

# Flags worth showing in `doctor`: the ones llama.cpp's CPU kernels dispatch on.
NOTABLE_FLAGS = (
    "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx_vnni", *AMX_FLAGS, "asimd", "sve", "i8mm", "dotprod",
)


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU feature flags the kernel reports (Linux x86 ``flags``, Arm ``Features``)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_model(cpuinfo: str | None = None) -> str:
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return platform.processor() or platform.machine()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware"):
            return value.strip()
    return platform.processor() or platform.machine()


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by the cgroup quota (v2 ``cpu.max`` or v1 CFS files); None when unlimited."""
    try:
        quota, _, period = (root / "cpu.max").read_text().strip().partition(" ")
        if quota != "max":
            return int(quota) / int(period or "100000")
        return None
    except (OSError, ValueError):
        pass
    for v1 in (root / "cpu", root / "cpu,cpuacct", root):
        try:
            quota_us = int((v1 / "cpu.cfs_quota_us").read_text())
            period_us = int((v1 / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        if quota_us > 0 and period_us > 0:
            return quota_us / period_us
        return None
    return None


def affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        # macOS and Windows have no affinity call; cpu_count is what the process may use there.
        return os.cpu_count() or 1


def affinity_words() -> str:
    """How ``affinity_cpus`` counted, for ``doctor``."""
    return "CPUs in the affinity mask" if hasattr(os, "sched_getaffinity") else "CPUs (no affinity call on this platform)"


def usable_threads(affinity: int | None = None, quota: float | None = -1.0) -> int:
    """Threads for llama.cpp: the CPUs this process may run on, capped by the cgroup quota.

    ``os.cpu_count()`` reports the host's CPUs; in a container limited to 2 CPUs, 24 threads
    run many times slower than 2, because the threads wait on each other at every barrier.
    """
    n = affinity if affinity is not None else affinity_cpus()
    if quota == -1.0:
        quota = cgroup_cpu_limit()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


@dataclass(frozen=True)
class ExtraBuftsDecision:
    """Whether llama.cpp may repack weights into extra buffer types, and why."""

    enabled: bool
    reason: str
    source: str  # "auto" or "override"


def decide_extra_bufts(flags: frozenset[str], build_features: str, override: bool | None) -> ExtraBuftsDecision:
    """Choose ``use_extra_bufts`` for llama.cpp's model params.

    llama.cpp repacks weights into "extra buffer types" for faster CPU kernels. On CPUs that
    advertise AMX, the AMX repacking path of the llama.cpp build we pin crashes the process with
    a general protection fault on the first decode of a Q4_1/Q8_0 model (seen on Xeon servers and
    on VMs that pass the AMX flags through). Turning the extra buffers off costs nothing
    measurable there (308 vs 304 tok/s prompt on SmolLM2), so a CPU with AMX flags gets the safe
    setting unless the user overrides it. Elsewhere the repacking (e.g. AVX2 Q4_0 8x8) stays on.
    """
    if override is not None:
        state = "on" if override else "off"
        return ExtraBuftsDecision(override, f"extra buffer types forced {state} by the user", "override")
    amx = sorted(f for f in flags if f in AMX_FLAGS)
    if not amx:
        return ExtraBuftsDecision(True, "CPU has no AMX: weight repacking is safe", "auto")
    compiled = "AMX" in build_features.upper() or not build_features
    if not compiled:
        return ExtraBuftsDecision(
            True, f"CPU advertises {', '.join(amx)} but this llama.cpp build has no AMX kernels", "auto"
        )
    return ExtraBuftsDecision(
        False,
        f"CPU advertises {', '.join(amx)}: llama.cpp's AMX weight repacking crashes here, so extra "
        "buffer types are off (override with EDGEJUDGE_EXTRA_BUFTS=1 or --extra-bufts)",
        "auto",
    )


def env_flag(name: str) -> bool | None:
    """A tri-state boolean environment variable: unset → None."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    value = value.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    from edgejudge.errors import UsageError

    raise UsageError(f"{name}={value!r} is not a boolean", hint=f"set {name}=1 or {name}=0")


def physical_cores(cpus: set[int] | None = None, root: Path = Path("/sys/devices/system/cpu")) -> int | None:
    """Physical cores among the CPUs this process may use (SMT siblings counted once); None
    where the topology is not readable (macOS, Windows)."""
    if cpus is None:
        try:
            cpus = set(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            return None
    cores = set()
    for cpu in cpus:
        topology = root / f"cpu{cpu}" / "topology"
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(), (topology / "core_id").read_text().strip()))
        except OSError:
            return None
    return len(cores) or None
