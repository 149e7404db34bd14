"""Tuned settings against the best setting tried: prompt and decode rates per candidate.

Runs the full tuning search (`edgejudge tune`) on MODEL in a temporary store and prints each
candidate's prompt and decode rates (best of --reps, as tuning counts them), the setting edgejudge
would use without tuning (repacking on where safe, flash attention auto, all usable threads), and
for each workload the chosen setting's rates against the best rates seen. Targets: the chosen
prompt rate within 1.1x of the best (no_think) and the chosen decode rate within 1.1x (think).

    python benchmarks/bench_tune.py --model ~/.cache/edgejudge-twins/qwen3-4b/qwen3-4b-Q4_K_M.gguf
"""

import argparse
import os
import sys
import tempfile
from dataclasses import replace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--decode-tokens", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("EDGEJUDGE_HOME", tempfile.mkdtemp(prefix="edgejudge-bench-"))
    from edgejudge.backends.llama import tuning

    plan = replace(tuning.FULL, prompt_tokens=args.prompt_tokens, decode_tokens=args.decode_tokens, reps=args.reps)
    record = tuning.tune_model(args.model, plan)
    print(tuning.format_text(record))
    best_prompt = max(f["prompt_tps"] for f in record["figures"])
    best_decode = max(f["decode_tps"] for f in record["figures"])
    for workload, chosen in record["choice"].items():
        figure = next(f for f in record["figures"] if f["settings"] == chosen)
        print(f"{workload}: chosen prompt {figure['prompt_tps']:.1f} t/s ({best_prompt / figure['prompt_tps']:.2f}x "
              f"below the best {best_prompt:.1f}), decode {figure['decode_tps']:.1f} t/s "
              f"({best_decode / figure['decode_tps']:.2f}x below the best {best_decode:.1f})")
    print(f"measured in {record['seconds']} s; all reps: see the JSON record in {tuning.tuning_file()}", file=sys.stderr)


if __name__ == "__main__":
    main()
