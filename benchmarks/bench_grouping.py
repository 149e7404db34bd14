"""Tokens evaluated for RM-Bench chat pairs, shuffled: input order vs grouped evaluation.

All 9 pairs of each prompt (3 chosen x 3 rejected styles; 1,161 pairs), shuffled. Token counts
come from the real tokenizer and the real prompts of the judge (they do not depend on the model's
size, so SmolLM2 gives the same counts a 4B judge with the same template would), for:

  input order   one sequence, longest-common-prefix reuse with the previous item (before this work)
  grouped W     items reordered within windows of W lines by (prompt, first response) (streams.grouping)
  K sequences   K cached sequences kept alive (a small prefix tree), each item continuing the one
                with the longest common prefix, least recently used replaced (the alternative design)

Target: grouped <= 0.7x input order. With --real N, the first N shuffled pairs are also scored for
real (Judge.score_many, --no-explain) in input order and grouped, and the tokens the engine
reports as evaluated (prompt_tokens - reused_tokens) are printed next to the simulation.

    python benchmarks/bench_grouping.py
    python benchmarks/bench_grouping.py --model PATH.gguf --real 45
"""

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rmbench  # noqa: E402


def all_pairs() -> list[dict]:
    import json

    out = []
    for line in rmbench.DATA.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        for i, chosen in enumerate(item["chosen"]):
            for j, rejected in enumerate(item["rejected"]):
                out.append({"id": f"{item['id']}-{i}{j}", "task": "pairwise", "prompt": item["prompt"],
                            "response_a": chosen, "response_b": rejected})
    return out


def lcp(a, b) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def evaluated_in_order(prompts) -> int:
    total, last = 0, []
    for tokens in prompts:
        total += len(tokens) - min(lcp(tokens, last), len(tokens) - 1)
        last = tokens
    return total


def evaluated_k_sequences(prompts, k: int) -> int:
    total, seqs = 0, []  # most recently used last
    for tokens in prompts:
        best = max(range(len(seqs)), key=lambda i: lcp(tokens, seqs[i]), default=None)
        common = lcp(tokens, seqs[best]) if best is not None else 0
        total += len(tokens) - min(common, len(tokens) - 1)
        if best is not None and common == len(seqs[best]):
            seqs.pop(best)  # the item extends that sequence
        else:
            if best is not None:
                seqs.append(seqs.pop(best))  # forked from it (seq_cp): it was used just now
            if len(seqs) >= k:
                seqs.pop(0)
        seqs.append(tokens)
    return total


def grouped_order(items, window: int) -> list[int]:
    from edgejudge.streams import grouping

    out = []
    for start in range(0, len(items), window):
        chunk = items[start:start + window]
        out += [start + i for i in grouping.order([grouping.key_of_value(x) for x in chunk])]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m", help="model id or GGUF path (default smollm2-135m)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", type=int, default=0, metavar="N", help="also score the first N shuffled pairs")
    args = parser.parse_args()

    from edgejudge import Judge
    from edgejudge.formats import JudgeOptions
    from edgejudge.items import make_item

    items = all_pairs()
    random.Random(args.seed).shuffle(items)
    options = JudgeOptions(explain=False)
    with Judge.load(args.model, tune=False, prefix_cache=False) as judge:
        prompts = [judge.model.prompt_tokens(judge.format.plan(make_item(x), options).segments) for x in items]
        base = evaluated_in_order(prompts)
        print(f"{len(items)} pairs, {sum(map(len, prompts))} prompt tokens in all, model {judge.resolved.id}")
        print(f"{'design':<22}{'tokens evaluated':>18}{'x input order':>15}")
        print(f"{'input order (LCP)':<22}{base:>18}{1.0:>15.3f}")
        for window in (64, 256, 1024, len(items)):
            n = evaluated_in_order([prompts[i] for i in grouped_order(items, window)])
            print(f"{f'grouped W={window}':<22}{n:>18}{n / base:>15.3f}")
        for k in (2, 4, 8, 32):
            n = evaluated_k_sequences(prompts, k)
            print(f"{f'{k} sequences (LRU)':<22}{n:>18}{n / base:>15.3f}")
        if args.real:
            subset = items[: args.real]
            for window in (1, 1024):
                started = time.perf_counter()
                records = list(judge.score_many(subset, options, window=window))
                seconds = time.perf_counter() - started
                evaluated = sum(r["timings"]["prompt_tokens"] - r["timings"]["reused_tokens"] for r in records)
                simulated = evaluated_in_order([prompts[i] for i in grouped_order(subset, window)])
                assert [r["id"] for r in records] == [x["id"] for x in subset]
                print(f"real, {args.real} pairs, window {window}: {evaluated} tokens evaluated (simulated "
                      f"{simulated}), {seconds:.1f} s, {evaluated / seconds:.0f} tokens/s")


if __name__ == "__main__":
    main()
