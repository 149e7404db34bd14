"""What a new user meets in the first hour: help on every option, commands that explain themselves,
plain JSON error messages, the same numbers in the API and the CLI, doctor's GPU advice."""

import orjson
import pytest
from click.testing import CliRunner

from edgejudge.backends.llama import gpu
from edgejudge.cli import cli
from edgejudge.json_errors import describe
from edgejudge.streams import stream


def test_every_option_of_every_command_has_help():
    import click

    missing = []
    assert len(cli.commands) >= 15
    for name, command in cli.commands.items():
        if not (command.help or "").strip():
            missing.append(f"{name} (the command)")
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{name} {'/'.join(param.opts + param.secondary_opts)}")
    for param in cli.params:
        if isinstance(param, click.Option) and not (param.help or "").strip():
            missing.append(f"edgejudge {'/'.join(param.opts)}")
    assert missing == []


def test_prompt_think_help_says_what_the_flag_does():
    text = CliRunner().invoke(cli, ["prompt", "--help"]).output
    flat = " ".join(text.split())
    assert "with reasoning (--think) or without it (--no-think)" in flat


def test_serve_without_stdio_says_what_it_serves():
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert "stdin/stdout" in result.output and "no network port" in result.output
    assert "llama-server" in result.output  # where to go for HTTP


@pytest.mark.parametrize(("text", "words"), [
    ('{"a": True}', "column 7: True is Python; JSON writes true"),
    ("{'prompt': 'x'}", "column 2: a single quote; JSON strings and keys need double quotes"),
    ('{"a": tru}', "column 7: 'tru' is not a JSON value"),
    ('{"a": 1', "column 8: the text ends before the JSON is complete"),
    ('{"a": 1,}', "column 8: a comma before a closing bracket"),
    ('{"a": 1} x', "column 10: more text after the end of the JSON value"),
    ('{"a" 1}', "column 6: unexpected '1' where a ':' after the key should be"),
    ("{not json", "column 2: unexpected 'n' where a key in double quotes should be"),
])
def test_json_errors_in_plain_words(text, words):
    with pytest.raises(orjson.JSONDecodeError) as caught:
        orjson.loads(text)
    assert describe(caught.value, text).startswith(words)


def test_stream_and_flag_errors_name_the_line_and_column():
    _, error = stream.parse_line(b'{"prompt": "p", "ok": True}', 3)
    assert error["code"] == "bad_json"
    assert error["message"] == "line 3 is not valid JSON, column 23: True is Python; JSON writes true"
    assert "expected" not in error["message"]  # none of orjson's parser words
    result = CliRunner().invoke(cli, ["prompt", "-m", "mr3-qwen3-4b", "--json", "{'prompt': 'p'}"])
    assert result.exit_code == 5 and "--json is not valid JSON, column 2: a single quote" in result.output


@pytest.mark.model
def test_api_and_cli_show_the_same_probabilities(smollm2_judge):
    verdict = smollm2_judge.pairwise("What is 2+2?", "4", "5", explain=False)
    record = verdict.to_dict()
    assert verdict.probabilities == record["probabilities"] and verdict.label_mass == record["label_mass"]
    assert all(len(repr(p).split(".")[1]) <= 6 for p in verdict.probabilities.values())


@pytest.mark.model
def test_both_swap_orders_carry_their_explanation(smollm2_judge):
    verdict = smollm2_judge.pairwise("What is 2+2?", "4", "5", swap=True, explain=True, max_explain_tokens=16)
    first, second = verdict.swap["orders"]
    assert isinstance(first["explanation"], str) and isinstance(second["explanation"], str)
    assert first["explanation"] == verdict.explanation


def test_gpu_advice():
    cpu_only = "CPU : SSE3 = 1 | AVX2 = 1 | "
    assert gpu.offload_advice(True, cpu_only) is None
    linux = gpu.offload_advice(False, cpu_only, "Linux")
    assert 'CMAKE_ARGS="-DGGML_CUDA=on"' in linux and "--no-cache-dir" in linux and "--force-reinstall" in linux
    assert "CMAKE_ARGS" not in gpu.offload_advice(False, cpu_only, "Darwin")  # Metal is on by itself there
    assert "$env:CMAKE_ARGS" in gpu.offload_advice(False, cpu_only, "Windows")
    cuda = "CPU : AVX2 = 1 | CUDA : ARCHS = 900 | USE_GRAPHS = 1 | "
    assert gpu.build_backends(cuda) == ["CUDA"]
    assert "found no GPU device" in gpu.offload_advice(False, cuda, "Linux")
    assert gpu.build_backends("CPU : NEON = 1 | MTL : EMBED_LIBRARY = 1 | ") == ["Metal"]


@pytest.mark.model
def test_doctor_prints_the_registry_file_and_gpu_state(run_cli):
    proc = run_cli("doctor", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    report = orjson.loads(proc.stdout)
    from pathlib import Path

    assert Path(report["registry"]).is_file() and Path(report["registry"]).name == "models.toml"
    assert report["gpu_backends"] == gpu.build_backends(report["llama_cpp_build"])
    assert (report["gpu_advice"] is None) == report["gpu_offload_supported"]
