"""edgejudge on platforms without POSIX (Windows): every module imports and the CLI's --help,
prompt and parse run with the POSIX-only modules unavailable and the POSIX-only functions and
signals gone (tests/windowslike.py), the closest this Linux machine comes to another platform."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgejudge.backends.llama import hardware

TESTS = Path(__file__).resolve().parent
WINDOWSLIKE = TESTS / "windowslike.py"

IMPORT_ALL = """
import importlib, json, pkgutil
import edgejudge
failed = {}
names = []
for module in pkgutil.walk_packages(edgejudge.__path__, "edgejudge."):
    if module.name.endswith("__main__"):
        continue  # importing it runs the CLI
    names.append(module.name)
    try:
        importlib.import_module(module.name)
    except Exception as exc:
        failed[module.name] = repr(exc)
print(json.dumps({"imported": names, "failed": failed}))
"""

HELP_OF_EVERY_COMMAND = """
import json
from click.testing import CliRunner
from edgejudge.cli import cli
runner = CliRunner()
helps = {}
for name in cli.commands:
    result = runner.invoke(cli, [name, "--help"])
    helps[name] = [result.exit_code, result.output]
print(json.dumps(helps))
"""


def windowslike(*args, stdin: bytes | None = None):
    return subprocess.run([sys.executable, str(WINDOWSLIKE), *args], capture_output=True, input=stdin,
                          timeout=300, check=False)


def test_the_simulation_takes_posix_away():
    probe = ("import os, signal\n"
             "try:\n    import fcntl\nexcept ImportError:\n    fcntl = None\n"
             "print(fcntl is None, hasattr(os, 'sched_getaffinity'), hasattr(signal, 'SIGKILL'))")
    proc = windowslike("-c", probe)
    assert proc.stdout.split() == [b"True", b"False", b"False"], proc.stderr.decode()


def test_every_module_imports_without_posix():
    proc = windowslike("-c", IMPORT_ALL)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    report = json.loads(proc.stdout)
    assert report["failed"] == {}
    assert {"edgejudge.store.inventory", "edgejudge.cli.app", "edgejudge.backends.llama.runtime"} <= set(
        report["imported"])


def test_help_prompt_and_parse_without_posix(tmp_path):
    top = windowslike("-m", "edgejudge", "--help")
    assert top.returncode == 0 and b"Commands:" in top.stdout, top.stderr.decode()
    proc = windowslike("-c", HELP_OF_EVERY_COMMAND)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    helps = json.loads(proc.stdout)
    assert len(helps) >= 15 and all(code == 0 and "Usage:" in text for code, text in helps.values()), helps
    proc = windowslike("-m", "edgejudge", "prompt", "-m", "mr3-qwen3-4b", "--prompt", "PROMPT",
                       "--response-a", "RESPONSE_A", "--response-b", "RESPONSE_B")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == (TESTS / "data" / "golden" / "mr3-pairwise-general.txt").read_bytes()
    demo = json.loads((TESTS / "data" / "rm-r1-demo-output.json").read_text())
    proc = windowslike("-m", "edgejudge", "parse", "--family", "rmr1", "-", stdin=demo["completion"].encode())
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["verdict"] == "A"


@pytest.mark.model
def test_a_judgment_without_posix(smollm2_path):
    proc = windowslike("-m", "edgejudge", "judge", "--prompt", "2+2?", "--response-a", "4", "--response-b", "5",
                       "--no-explain")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    record = json.loads(proc.stdout)
    assert record["verdict"] in ("A", "B") and record["provenance"]["runtime"]["threads"] >= 1


def test_threads_without_an_affinity_call(monkeypatch):
    import os

    monkeypatch.delattr(os, "sched_getaffinity")
    assert hardware.affinity_cpus() == (os.cpu_count() or 1)
    assert "no affinity call" in hardware.affinity_words()
