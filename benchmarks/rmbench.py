"""RM-Bench chat pairs for the benchmarks: (prompt, chosen, rejected) triples, in file order."""

import json
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "rm-bench-chat.jsonl"


def pairs(limit: int | None = None) -> list[dict]:
    out = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        for i, (chosen, rejected) in enumerate(zip(item["chosen"], item["rejected"])):
            out.append({"id": f"{item['id']}-{i}", "prompt": item["prompt"], "chosen": chosen, "rejected": rejected})
    return out[:limit] if limit else out
