"""llama.cpp's raw speed on a GGUF: prompt evaluation (pp) and token generation (tg) rates.

What llama.cpp alone does with the model, through llama-cpp-python's low-level API, no edgejudge
in the loop: the ceiling any judge on that model can reach. Measured like llama-bench: pp is N
random tokens decoded in batches of n_batch from an empty cache; tg is M tokens decoded one at a
time from an empty cache; each after a warm-up, repeated, mean ± standard deviation. With
--depth D (llama-bench's -d) both start after D tokens already in the cache, as a judge's item is
evaluated behind its prompt's head: attention then reads D more positions per token.

The table's "cpu share" is the CPU time the process got over wall time x threads (the lowest of
the runs), and "load" the 1-minute load average: on a machine shared with other work, a share well
under 1 means the rates are understated. Every configuration runs in its own child process (a
crash, such as the AMX weight-repacking fault of some builds, is reported as such and the others
still run).

    python benchmarks/bench_llama_raw.py MODEL.gguf                    # repacking off and on
    python benchmarks/bench_llama_raw.py MODEL.gguf --repack off --pp 256 --tg 32 --threads 2
    python benchmarks/bench_llama_raw.py A.gguf B.gguf --flash-attn off,on --batch 512:512,256:128 --json
    python benchmarks/bench_llama_raw.py MODEL.gguf --repack off --depth 0,512,1024 --kv f16,q8_0

Options with a comma list make a grid; --json prints one JSON object per configuration instead of
the table.
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

FLASH = {"auto": -1, "off": 0, "on": 1}
KV_TYPES = {"f32": 0, "f16": 1, "q8_0": 8, "bf16": 30}  # ggml_type values of the KV cache's K and V


def usable_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# -- one configuration (child process) ------------------------------------------------------------


def run_one(config: dict) -> dict:
    import llama_cpp as L
    import numpy as np

    errors: list[str] = []

    @L.llama_log_callback
    def on_log(level, text, _):  # keep llama.cpp quiet, but keep what explains a failure
        if level >= 3:
            errors.append(text.decode("utf-8", "replace").strip())

    L.llama_log_set(on_log, ctypes.c_void_p(0))
    L.llama_backend_init()
    mparams = L.llama_model_default_params()
    mparams.n_gpu_layers = 0
    mparams.use_extra_bufts = config["repack"]
    started = time.perf_counter()
    model = L.llama_model_load_from_file(os.fsencode(config["model"]), mparams)
    if not model:
        raise RuntimeError(f"could not load {config['model']}: {' | '.join(errors[-3:])}")
    load_s = time.perf_counter() - started
    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)
    cparams = L.llama_context_default_params()
    depth = config.get("depth", 0)
    shapes = config.get("shapes") or []  # [depth, tokens] pairs: a workload's evaluations, replayed
    longest = max([depth + max(config["pp"], config["tg"])] + [d + n for d, n in shapes])
    cparams.n_ctx = longest + 16
    cparams.n_batch = config["n_batch"]
    cparams.n_ubatch = config["n_ubatch"]
    cparams.n_seq_max = 1
    cparams.n_threads = cparams.n_threads_batch = config["threads"]
    cparams.flash_attn_type = FLASH[config["flash_attn"]]
    cparams.type_k = cparams.type_v = KV_TYPES[config.get("kv", "f16")]
    ctx = L.llama_init_from_model(model, cparams)
    if not ctx:
        raise RuntimeError(f"could not create a context: {' | '.join(errors[-3:])}")
    batch = L.llama_batch_init(config["n_batch"], 0, 1)
    memory = L.llama_get_memory(ctx)
    rng = np.random.default_rng(config["seed"])
    # Ordinary text tokens only (the first 90% of ids hold no added or padding tokens).
    tokens = rng.integers(0, int(n_vocab * 0.9), size=longest).tolist()

    def decode(chunk: list[int], start: int) -> None:
        for i, token in enumerate(chunk):
            batch.token[i] = token
            batch.pos[i] = start + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = 0
        batch.logits[len(chunk) - 1] = 1
        batch.n_tokens = len(chunk)
        rc = L.llama_decode(ctx, batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}: {' | '.join(errors[-3:])}")
        L.llama_synchronize(ctx)

    shares: dict[str, list[float]] = {"pp": [], "tg": [], "shapes": []}

    def timed(kind: str, work, at: int = depth) -> float:
        # The CPU time the process got over wall time x threads: near 1 when the machine was ours,
        # lower when other processes took turns on the cores (the rate is then understated).
        L.llama_memory_clear(memory, True)
        for s in range(0, at, config["n_batch"]):  # the cache before the timed part, untimed
            decode(tokens[s:min(s + config["n_batch"], at)], s)
        cpu0, t0 = time.process_time(), time.perf_counter()
        work()
        wall = time.perf_counter() - t0
        shares[kind].append((time.process_time() - cpu0) / (wall * config["threads"]))
        return wall

    def prompt(n: int) -> float:
        return timed("pp", lambda: [decode(tokens[depth + s:depth + min(s + config["n_batch"], n)], depth + s)
                                    for s in range(0, n, config["n_batch"])])

    def evaluate_at(at: int, n: int) -> float:
        return timed("shapes", lambda: [decode(tokens[at + s:at + min(s + config["n_batch"], n)], at + s)
                                        for s in range(0, n, config["n_batch"])], at)

    def generate(n: int) -> float:
        return timed("tg", lambda: [decode([tokens[depth + i]], depth + i) for i in range(n)])

    load_before = os.getloadavg()[0]
    prompt(min(config["n_batch"], 32))  # warm-up: first-touch of the weights, repacking, graph reuse
    generate(2)
    for values in shares.values():
        values.clear()
    pp = [config["pp"] / prompt(config["pp"]) for _ in range(config["reps"])] if config["pp"] else []
    tg = [config["tg"] / generate(config["tg"]) for _ in range(config["reps"])] if config["tg"] else []
    replayed = [sum(n for _, n in shapes) / sum(evaluate_at(d, n) for d, n in shapes)
                for _ in range(config["reps"])] if shapes else []
    size = L.llama_model_size(model)
    desc = ctypes.create_string_buffer(256)
    L.llama_model_desc(model, desc, len(desc))
    L.llama_batch_free(batch)
    L.llama_free(ctx)
    L.llama_model_free(model)
    return {**config, "desc": desc.value.decode(), "size_bytes": size, "load_s": round(load_s, 2),
            "pp_tps": pp, "tg_tps": tg, "shapes_tps": replayed, "pp_cpu_share": shares["pp"], "tg_cpu_share": shares["tg"],
            "loadavg": [load_before, os.getloadavg()[0]], "llama_cpp": L.llama_version().decode() if hasattr(L, "llama_version") else "",
            "system_info": L.llama_print_system_info().decode().strip()}


# -- the grid (parent) ------------------------------------------------------------------------------


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):7.2f} ± {sd:5.2f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", type=Path, help="GGUF files")
    parser.add_argument("--pp", type=int, default=512, help="prompt tokens (default 512; 0 skips)")
    parser.add_argument("--tg", type=int, default=64, help="generated tokens (default 64; 0 skips)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each (default 3)")
    parser.add_argument("--threads", default=str(usable_threads()), help="thread counts, comma list (default: usable CPUs)")
    parser.add_argument("--repack", default="off,on",
                        help="weight repacking (llama.cpp's extra buffer types, use_extra_bufts): off, on or off,on")
    parser.add_argument("--flash-attn", default="auto", help="auto, on, off, or a comma list (default auto)")
    parser.add_argument("--batch", default="512:512", help="n_batch:n_ubatch pairs, comma list (default 512:512)")
    parser.add_argument("--depth", default="0", help="tokens already in the cache before pp/tg, comma list (default 0)")
    parser.add_argument("--kv", default="f16", help="KV cache type: f16, q8_0 or a comma list (q8_0 V needs flash attention)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per configuration")
    parser.add_argument("--json", action="store_true", help="one JSON object per configuration")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_one(json.loads(args.child))))
        return 0
    if not args.models:
        parser.error("give at least one GGUF file")
    repacks = [{"on": True, "off": False}[v.strip()] for v in args.repack.split(",")]
    flashes = [v.strip() for v in args.flash_attn.split(",")]
    if any(f not in FLASH for f in flashes):
        parser.error("--flash-attn takes auto, on, off")
    batches = [tuple(int(x) for x in pair.split(":")) for pair in args.batch.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    depths = [int(d) for d in args.depth.split(",")]
    kvs = [v.strip() for v in args.kv.split(",")]
    if any(k not in KV_TYPES for k in kvs):
        parser.error(f"--kv takes {', '.join(KV_TYPES)}")
    if not args.json:
        print(f"# {cpu_name()}, {usable_threads()} usable CPUs; pp {args.pp} / tg {args.tg} tokens, "
              f"{args.reps} reps, tok/s mean ± sd; {time.strftime('%Y-%m-%d')}")
        print(f"{'model':<34} {'size GiB':>8} {'thr':>3} {'batch':>9} {'fa':>4} {'repack':>6} {'kv':>5} {'depth':>5} "
              f"{'pp tok/s':>15} {'tg tok/s':>15} {'cpu share':>9} {'load':>5}")
    failures = 0
    for model, repack, fa, (n_batch, n_ubatch), n_threads, kv, depth in itertools.product(
            args.models, repacks, flashes, batches, threads, kvs, depths):
        config = {"model": str(model), "repack": repack, "flash_attn": fa, "n_batch": n_batch, "n_ubatch": n_ubatch,
                  "threads": n_threads, "pp": args.pp, "tg": args.tg, "reps": args.reps, "seed": args.seed,
                  "kv": kv, "depth": depth}
        try:
            child = subprocess.run([sys.executable, __file__, "--child", json.dumps(config)], capture_output=True,
                                   text=True, timeout=args.timeout)
            if child.returncode != 0:
                reason = (f"killed by signal {-child.returncode}" if child.returncode < 0
                          else child.stderr.strip().splitlines()[-1] if child.stderr.strip() else f"exit {child.returncode}")
                result = {**config, "error": reason}
            else:
                result = json.loads(child.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            result = {**config, "error": f"timed out after {args.timeout:.0f} s"}
        failures += "error" in result
        if args.json:
            print(json.dumps(result), flush=True)
            continue
        name = model.name if len(model.name) <= 34 else "…" + model.name[-33:]
        size = f"{result['size_bytes'] / 2**30:8.2f}" if "size_bytes" in result else f"{'?':>8}"
        head = (f"{name:<34} {size} {n_threads:>3} {f'{n_batch}:{n_ubatch}':>9} {fa:>4} "
                f"{'on' if repack else 'off':>6} {kv:>5} {depth:>5}")
        if "error" in result:
            print(f"{head} FAILED: {result['error']}", flush=True)
        else:
            share = min(result["pp_cpu_share"] + result["tg_cpu_share"], default=0.0)
            print(f"{head} {mean_sd(result['pp_tps']):>15} {mean_sd(result['tg_tps']):>15} {share:9.2f} "
                  f"{max(result['loadavg']):5.1f}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
