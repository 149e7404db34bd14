"""--think-until, --min-think and --probe-every through every entry point (flags, a line's options, a
serve request, the remote backend's refusal), and the progress lines: drawn on a terminal, absent
when piped. The judge is the tiny synthetic mR3 GGUF (random weights)."""

import os
import pty
import select
import subprocess
import sys
import time

import orjson
import pytest

from edgejudge.backends.remote import RemoteEngine
from edgejudge.errors import InputError
from edgejudge.formats import JudgeOptions
from edgejudge.items import make_item

PAIR = {"task": "pairwise", "prompt": "Which planet is largest?", "response_a": "Jupiter.", "response_b": "Mars."}
# One llama.cpp thread: on a loaded machine two threads of a tiny model wait on each other.
ONE = ["--threads", "1"]
SETTLE = [*ONE, "--think-budget", "24", "--no-explain", "--probe-every", "4", "--min-think", "4", "--think-until", "0.01"]


def test_judge_flag_stops_reasoning_once_settled(family_ggufs, run_cli):
    done = run_cli("judge", "-m", str(family_ggufs["mr3"]), "--json", orjson.dumps(PAIR).decode(), *SETTLE,
                   "--no-progress")
    assert done.returncode == 0, done.stderr
    record = orjson.loads(done.stdout)
    assert record["think_exit"] == "settled" and record["think_tokens"] == record["probes"][-1]["at"] >= 4
    assert record["provenance"]["anytime"] == {"think_until": 0.01, "min_think": 4, "probe_every": 4}


@pytest.mark.parametrize("flags, wanted", [
    (["--think-until", "abc"], "not a valid float"),
    (["--think-until", "0"], "think_until must be"),
    (["--think-until", "1.5"], "think_until must be"),
    (["--think-until", "nan"], "think_until must be"),
    (["--min-think", "0"], "min_think must be"),
    (["--min-think", "x"], "not a valid integer"),
    (["--probe-every", "-1"], "probe_every must be"),
    (["--probe-every", "0", "--think-until", "0.9"], "needs probes"),
])
def test_bad_flag_values_are_usage_errors(run_cli, flags, wanted):
    done = run_cli("judge", "--json", orjson.dumps(PAIR).decode(), *flags)
    assert done.returncode == 2 and wanted in done.stderr.decode()


def test_score_takes_them_per_line_and_reports_bad_ones(family_ggufs, run_cli, tmp_path):
    source = tmp_path / "in.jsonl"
    lines = [{**PAIR, "id": "settle", "options": {"think_until": 0.01, "min_think": 4, "probe_every": 4,
                                                  "think_budget": 24, "explain": False}},
             {**PAIR, "id": "p", "options": {"think_until": 0}},
             {**PAIR, "id": "n", "options": {"min_think": "many"}},
             {**PAIR, "id": "full", "options": {"think_budget": 6, "explain": False}}]
    source.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    done = run_cli("score", str(source), "-m", str(family_ggufs["mr3"]), *ONE)
    assert done.returncode == 9, done.stderr
    records = {r["id"]: r for r in map(orjson.loads, done.stdout.splitlines())}
    assert records["settle"]["think_exit"] == "settled"
    assert records["p"]["error"]["code"] == records["n"]["error"]["code"] == "bad_options"
    assert "think_until" in records["p"]["error"]["message"] and "min_think" in records["n"]["error"]["message"]
    assert records["full"]["think_exit"] in ("closed", "budget") and records["full"]["probes"][0]["at"] == 0
    assert b"\r" not in done.stderr  # piped: no progress line


def test_serve_takes_them_per_request(family_ggufs):
    requests = [{**PAIR, "id": 1, "options": {"think_until": 0.01, "min_think": 4, "probe_every": 4,
                                              "think_budget": 24, "explain": False}},
                {**PAIR, "id": 2, "options": {"think_until": True}}]
    done = subprocess.run([sys.executable, "-m", "edgejudge", "serve", "--stdio", "-m", str(family_ggufs["mr3"]), *ONE],
                          input=b"".join(orjson.dumps(r) + b"\n" for r in requests), capture_output=True, timeout=300)
    answers = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert answers[0]["think_exit"] == "settled" and answers[0]["status"] == "ok"
    assert answers[1]["status"] == "error" and answers[1]["error"]["code"] == "bad_options"


def test_the_remote_backend_refuses_think_until_before_any_request(family_judges):
    engine = RemoteEngine.__new__(RemoteEngine)  # no server: the refusal comes before any request
    plan = family_judges["mr3"].format.plan(make_item(PAIR), JudgeOptions(think_until=0.9))
    with pytest.raises(InputError) as err:
        engine.run(plan)
    assert err.value.code == "bad_options" and "openai backend" in err.value.message


def on_terminal(args: list[str], timeout: float = 240) -> tuple[int, bytes]:
    """Run ``python -m edgejudge ARGS`` with stdin, stdout and stderr on a pseudo-terminal."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "edgejudge", *args], stdin=slave, stdout=slave, stderr=slave,
                            close_fds=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=30), bytes(out)


def test_judge_draws_its_reasoning_line_on_a_terminal_only(family_ggufs, run_cli):
    args = ["judge", "-m", str(family_ggufs["mr3"]), *ONE, "--json", orjson.dumps(PAIR).decode(),
            "--think-budget", "40", "--no-explain", "--probe-every", "4"]
    code, shown = on_terminal(args)
    assert code == 0, shown[-800:]
    assert b"\rthinking " in shown and b"/40 tokens" in shown and b"leaning " in shown
    piped = run_cli(*args)
    assert piped.returncode == 0 and b"thinking" not in piped.stderr and b"\r" not in piped.stderr
    forced = run_cli(*args, "--progress")  # --progress draws it even when stderr is not a terminal
    assert b"\rthinking " in forced.stderr and orjson.loads(forced.stdout)["think_exit"]


def test_score_draws_items_and_leaning_on_a_terminal_only(family_ggufs, tmp_path, run_cli):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(orjson.dumps({**PAIR, "id": i}) + b"\n" for i in range(3)))
    args = ["score", str(source), "-m", str(family_ggufs["mr3"]), *ONE, "--think-budget", "16", "--no-explain",
            "--probe-every", "4", "-o", str(tmp_path / "out.jsonl")]
    code, shown = on_terminal(args)
    assert code == 0, shown[-800:]
    assert b"/3 items" in shown and b"leaning " in shown and b"ETA" in shown
    piped = run_cli(*args[:-2])
    assert piped.returncode == 0 and b"\r" not in piped.stderr and len(piped.stdout.splitlines()) == 3
    quiet = run_cli(*args[:-2], "--no-progress")
    assert b"\r" not in quiet.stderr


def test_eval_think_reports_the_grid_and_draws_the_curve(family_ggufs, run_cli, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_bytes(b"".join(orjson.dumps({**PAIR, "id": i, "label": "AB"[i % 2]}) + b"\n" for i in range(4)))
    page = tmp_path / "report.html"
    done = run_cli("eval", str(gold), "-m", str(family_ggufs["mr3"]), *ONE, "--think", "--think-budget", "16",
                   "--no-explain", "--probe-every", "4", "--min-think", "4", "--report", str(page))
    assert done.returncode == 0, done.stderr
    result = orjson.loads(done.stdout)["anytime"]
    settings = [row["setting"] for row in result["rows"]]
    assert settings[0] == "token 0" and settings[-1] == "full reasoning" and "P=0.99" in settings
    assert result["n"] == 4 and result["min_think"] == 4
    full = result["rows"][-1]
    assert 0 < full["mean_think_tokens"] <= 16 and result["rows"][0]["mean_think_tokens"] == 0
    assert "<polyline" in page.read_text()
