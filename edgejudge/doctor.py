"""``edgejudge doctor``: what this machine is, and what edgejudge chooses to do on it."""

from __future__ import annotations

import platform
import sys

from edgejudge.backends.llama import gpu, hardware, loading, prefix_cache, runtime, tuning
from edgejudge.errors import EdgejudgeError
from edgejudge.store import disk, registry, resolve
from edgejudge.version import __version__


def collect(settings: runtime.RuntimeSettings, model_ref: str | None) -> dict:
    info = runtime.resolve(settings)
    reg = registry.load()
    report = {
        "edgejudge": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": hardware.cpu_model(),
        "cpu_flags": list(info.cpu_flags),
        "llama_cpp_python": info.llama_cpp_python,
        "llama_cpp": info.llama_cpp,
        "llama_cpp_build": info.system_info,
        "threads": info.threads,
        "threads_reason": info.threads_reason,
        "gpu_offload_supported": info.gpu_offload,
        "gpu_backends": gpu.build_backends(info.system_info),
        "gpu_advice": gpu.offload_advice(info.gpu_offload, info.system_info),
        "gpu_layers": info.gpu_layers,
        "flash_attn": info.flash_attn,
        "extra_bufts": info.extra_bufts,
        "extra_bufts_reason": info.extra_bufts_reason,
        "store": str(disk.home()),
        "registry": registry.location(),
        "default_model": reg.default_model,
    }
    ref = model_ref or reg.default_model
    try:
        resolved = resolve.resolve(ref)
        model: dict = {"ref": ref, "installed": True, "path": str(resolved.path), **resolved.describe()}
        if resolved.spec is not None:
            found = resolve.copies(resolved.spec, resolved.quant)
            if len(found) > 1:  # one id, one file: say which copy is not used
                model["other_copies"] = [str(p) for p in found.values() if p != resolved.path]
        report["model"] = model
        report["weights_read"], report["weights_load_reason"] = loading.weights_load(resolved.path, info.load, info.cpu_repack)
        key = tuning.key_for(resolved.gguf, info)
        record = tuning.lookup(key, max_batch=resolved.gguf.context_length)
        report["tuning"] = {"key": key, **(tuning.describe(record) or {"mode": None})}
    except EdgejudgeError as exc:
        report["model"] = {"ref": ref, "installed": False, "problem": str(exc)}
        report["tuning"] = None
    cached = prefix_cache.entries()
    report["prefix_cache"] = {"dir": str(prefix_cache.directory()), "files": len(cached),
                              "bytes": sum(e.size for e in cached) + prefix_cache.temp_bytes(),
                              "cap_bytes": prefix_cache.cap_bytes()}
    return report


def _tuning_line(report: dict) -> str:
    tuned = report.get("tuning")
    if tuned is None:
        return "no model to tune"
    key = tuned["key"]
    if tuned["mode"] is None:
        return (f"not measured yet for {key['architecture']} {key['quant']} on this CPU "
                "(measured on first use, or run `edgejudge tune -m MODEL`)")
    parts = []
    for workload, chosen in tuned["choice"].items():
        figure: dict = next((f for f in tuned["figures"]
                       if all(f.get(k) == v for k, v in chosen.items())), {})
        parts.append(f"{workload}: repacking {'on' if chosen['extra_bufts'] else 'off'}, flash {chosen.get('flash_attn', 'auto')}, "
                     f"{chosen['threads']} threads, batch {chosen['n_batch']}/{chosen['n_ubatch']} "
                     f"({figure.get('prompt_tps', '?')} prompt t/s, {figure.get('decode_tps', '?')} decode t/s)")
    return f"{tuned['mode']} measurement, {len(tuned['figures'])} candidates; " + "; ".join(parts)


def format_text(report: dict) -> str:
    model = report["model"]
    if model["installed"]:
        model_line = f"{model['id']}:{model['quant']} at {model['path']}"
    else:
        model_line = "not usable: " + model["problem"].replace("\n", " ")
    rows = [
        ("edgejudge", report["edgejudge"]),
        ("python", f"{report['python']} on {report['platform']}"),
        ("cpu", f"{report['cpu']} ({report['machine']})"),
        ("cpu features", " ".join(report["cpu_flags"]) or "none detected"),
        ("llama-cpp-python", f"{report['llama_cpp_python']} (llama.cpp {report['llama_cpp']})"),
        ("llama.cpp build", report["llama_cpp_build"]),
        ("threads", f"{report['threads']} ({report['threads_reason']})"),
        ("gpu offload", ("supported" if report["gpu_offload_supported"] else "none")
         + f", gpu layers {report['gpu_layers']}"),
        *([("gpu advice", report["gpu_advice"] + " (docs/runtime.md: GPU builds)")] if report["gpu_advice"] else []),
        ("flash attention", report["flash_attn"]),
        ("weight repacking", ("on" if report["extra_bufts"] else "off") + f" ({report['extra_bufts_reason']})"),
        *([("weights", report["weights_load_reason"])] if "weights_load_reason" in report else []),
        ("tuned settings", _tuning_line(report)),
        ("prefix cache", (f"{report['prefix_cache']['files']} files, {report['prefix_cache']['bytes'] / 2**20:.1f} MB "
                          f"of {report['prefix_cache']['cap_bytes'] / 2**20:.0f} MB in {report['prefix_cache']['dir']}")),
        ("model store", report["store"]),
        ("registry", report["registry"]),
        (f"model {model['ref']}", model_line),
        *([("other copies", f"{', '.join(model['other_copies'])} (not used: the store's copy wins; "
                            f"edgejudge rm {model['id']}:{model['quant']} goes back to the other)")]
          if model.get("other_copies") else []),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
