"""Trust figures on RM-Bench pairs: agreement, calibration (held-out), abstention at a target error,
and the cost model of `--escalate think`.

Gold labels: RM-Bench's chosen response always wins, so each pair is judged twice, chosen in A
(gold A) and chosen in B (gold B). Calibration figures are held out: 5 folds for ECE; for
`--target-error`, the pairs are split in half (both orders of a pair on the same side), the
calibration and its threshold come from one half, coverage and accuracy are measured on the other.

    python benchmarks/bench_trust.py [--pairs 100] [--model smollm2-135m] [--code PATH]
                                     [--twin PATH.gguf --twin-items 6 --budget 64 --share 0.3]
    python benchmarks/bench_trust.py --pairs 0 --twin PATH.gguf     # the cascade figures alone

With ``--twin`` (a GGUF with a reasoning format, e.g. a random-weight Qwen3-4B twin), it also
measures the wall time and think tokens of judging without thinking, with thinking, and of the
cascade at the escalation share its threshold gives.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from rmbench import pairs


def gold_items(limit: int | None, code: Path | None) -> list[dict]:
    chosen = pairs()
    if code is not None:
        for line in code.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            for i, (c, r) in enumerate(zip(item["chosen"], item["rejected"])):
                chosen.append({"id": f"code-{item['id']}-{i}", "prompt": item["prompt"], "chosen": c, "rejected": r})
    if limit:
        chosen = chosen[:limit]
    out = []
    for n, pair in enumerate(chosen):
        base = {"prompt": pair["prompt"], "pair": n}
        out.append({**base, "id": f"{pair['id']}-A", "response_a": pair["chosen"], "response_b": pair["rejected"],
                    "label": "A"})
        out.append({**base, "id": f"{pair['id']}-B", "response_a": pair["rejected"], "response_b": pair["chosen"],
                    "label": "B"})
    return out


def fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def target_error_figures(probs, gold, pair_of, alphas, delta=0.1):
    from edgejudge.trust import abstain, calibration, metrics

    rng = np.random.default_rng(0)
    pair_ids = sorted(set(pair_of))
    calibration_pairs = set(rng.permutation(pair_ids)[: len(pair_ids) // 2].tolist())
    cal = [i for i, p in enumerate(pair_of) if p in calibration_pairs]
    test = [i for i, p in enumerate(pair_of) if p not in calibration_pairs]
    fitted = calibration.fit([probs[i] for i in cal], [gold[i] for i in cal])
    held = calibration.cross_validate([probs[i] for i in cal], [gold[i] for i in cal],
                                      groups=[pair_of[i] for i in cal])["probabilities"]
    cal_conf = [metrics.confidence(p) for p in held]
    cal_correct = [max(p, key=p.get) == gold[i] for p, i in zip(held, cal)]
    test_probs = [calibration.apply(probs[i], fitted) for i in test]
    rows = []
    for alpha in alphas:
        threshold = abstain.target_threshold(cal_conf, cal_correct, alpha, delta, [pair_of[i] for i in cal])
        kept = [] if threshold is None else [j for j, p in enumerate(test_probs) if metrics.confidence(p) >= threshold]
        right = sum(max(test_probs[j], key=test_probs[j].get) == gold[test[j]] for j in kept)
        rows.append((alpha, threshold, len(kept) / len(test), right / len(kept) if kept else None, len(test)))
    return fitted, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--code", type=Path, default=None, help="RM-Bench code pairs (JSONL), added to the chat pairs")
    parser.add_argument("--twin", default=None, help="a thinking judge GGUF for the cascade cost figures")
    parser.add_argument("--twin-items", type=int, default=6)
    parser.add_argument("--budget", type=int, default=64)
    parser.add_argument("--share", type=float, default=0.3, help="escalation share for the cost model")
    parser.add_argument("--records", type=Path, default=None,
                        help="keep the raw verdict records here as they are made; a rerun reuses them")
    args = parser.parse_args()

    from edgejudge.formats import JudgeOptions
    from edgejudge.trust import calibration, evaluate

    if args.pairs == 0:
        twin_cost(args)
        return
    golds = gold_items(args.pairs, args.code)
    options = JudgeOptions(explain=False)
    records = judged(args, golds, options)
    seconds = sum(r["timings"].get("total_s", 0.0) for r in records if r.get("timings"))  # engine time
    result = evaluate.report(evaluate.join(golds, records))
    ok = [(g, r) for g, r in zip(golds, records) if r["status"] == "ok"]
    probs = [r["probabilities"] for _, r in ok]
    gold = [g["label"] for g, _ in ok]
    checked = calibration.cross_validate(probs, gold, folds=5, groups=[g["pair"] for g, _ in ok])
    fitted = calibration.fit(probs, gold)
    print(f"{args.model} on {len(golds)} RM-Bench items ({args.pairs} pairs x 2 orders), --no-explain, "
          f"{seconds:.0f} s of engine time ({len(golds) / seconds:.2f} items/s)")
    interval = result["intervals"]["accuracy"]
    print(f"accuracy {fmt(result['accuracy'])} [{fmt(interval[0])}, {fmt(interval[1])}], kappa {fmt(result['kappa'])}, "
          f"Brier {fmt(result['brier'])}, verdicts A: {result['confusion']['matrix'][0][0] + result['confusion']['matrix'][1][0]}"
          f" of {result['answered']}")
    print(f"ECE raw {fmt(checked['raw']['ece'])} -> calibrated {fmt(checked['calibrated']['ece'])} (5 held-out folds); "
          f"held-out accuracy {fmt(checked['raw']['accuracy'])} -> {fmt(checked['calibrated']['accuracy'])}; "
          f"NLL {fmt(checked['raw']['nll'])} -> {fmt(checked['calibrated']['nll'])}")
    print(f"fit on all: T = {fitted.temperature:.3f}, biases {fitted.biases}")
    _, rows = target_error_figures(probs, gold, [g["pair"] for g, _ in ok], (0.2, 0.3))
    for alpha, threshold, coverage, accuracy, n in rows:
        print(f"--target-error {alpha} (delta 0.1): threshold {fmt(threshold)}, coverage {coverage:.3f} "
              f"of {n} held-out items, accuracy on answered {fmt(accuracy)}")
    if args.twin:
        twin_cost(args)


def judged(args, golds, options) -> list[dict]:
    """Raw records for the gold items, made here or reused from --records (same model, in order)."""
    from edgejudge import Judge

    done = []
    if args.records and args.records.exists():
        done = [json.loads(line) for line in args.records.read_text().splitlines() if line.strip()]
    todo = [{k: v for k, v in g.items() if k not in ("label", "pair")} for g in golds[len(done):]]
    if todo:
        with Judge.load(args.model, calibration=False) as judge, \
                open(args.records or "/dev/null", "a", encoding="utf-8") as keep:
            for record in judge.score_many(todo, options):
                done.append(record)
                keep.write(json.dumps(record) + "\n")
                keep.flush()
    return done[: len(golds)]


def twin_cost(args) -> None:
    """Wall time and think tokens: no thinking, always thinking, and the measured cascade.

    The twin's weights are random, so its confidence means nothing: the cascade's threshold is set
    at the quantile of the quick read's confidences that escalates ``--share`` of the items, and
    what is measured is the mechanics and the cost, not the accuracy."""
    import math

    from edgejudge import Judge
    from edgejudge.formats import JudgeOptions
    from edgejudge.trust import abstain
    from edgejudge.trust.cascade import TrustedJudge

    # short pairs: the prompt is a small share of the cost, the thinking is what is measured
    items = [{"prompt": f"What is {i} + {i}?", "response_a": str(2 * i), "response_b": str(2 * i + 1)}
             for i in range(1, args.twin_items + 1)]
    options = JudgeOptions(explain=False, think_budget=args.budget)
    with Judge.load(args.twin, calibration=False) as judge:
        judge.judge(items[0], JudgeOptions(explain=False, think=False))  # warm-up
        figures, made = {}, {}
        for name, think in (("no-think", False), ("think", True)):
            start = time.perf_counter()
            made[name] = [judge.judge(it, options, think=think) for it in items]
            figures[name] = (time.perf_counter() - start, sum(v.think_tokens for v in made[name]))
        conf = sorted(max(v.probabilities.values()) for v in made["no-think"])
        escalate = math.ceil(args.share * len(items))
        threshold = conf[escalate] if escalate < len(conf) else 1.0 + 1e-9
        cascade = TrustedJudge(judge, policy=abstain.Policy(abstain_below=min(threshold, 1.0)), escalate="think")
        start = time.perf_counter()
        records = [cascade.judge(it, options).to_dict() for it in items]
        figures["cascade"] = (time.perf_counter() - start, sum(r["think_tokens"] for r in records))
    n = len(items)
    escalated = sum(len(r["stages"]) > 1 for r in records)
    print(f"twin {args.twin} (random weights: no real confidence), {n} short pairs, think budget {args.budget}")
    for name in ("no-think", "think", "cascade"):
        seconds, tokens = figures[name]
        print(f"  {name:8s}: {seconds / n:7.2f} s/item, {tokens / n:5.1f} think tokens/item")
    quick_s, think_s = figures["no-think"][0], figures["think"][0]
    model_s = quick_s + escalated / n * think_s
    print(f"  cascade escalated {escalated} of {n} ({escalated / n:.0%}); measured {figures['cascade'][0] / think_s:.2f}x "
          f"the time of always thinking; cost model quick + share x think = {model_s / think_s:.2f}x")


if __name__ == "__main__":
    main()
