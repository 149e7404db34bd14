"""The documented route to a real judge on a machine without internet (docs/offline.md), rehearsed:
pull (convert) on a connected machine, export it, carry the file (or the whole store), import it on
a machine whose sockets are blocked, verify it, judge with it."""

import json
import shutil
import socket
from importlib import resources

import pytest
from click.testing import CliRunner
from hub import Hub

from edgejudge.cli import cli
from edgejudge.errors import ModelFileError, UsageError
from edgejudge.store import carry, inventory, resolve

TINY = """
[models.tiny-judge]
name = "tiny judge (safetensors only)"
repo = "test/tiny-qwen3"
architecture = "qwen3"
family = "mr3"
tasks = ["pairwise"]
pre_tokenizer = "qwen2"
context_length = 4096
license = "apache-2.0"
default_quant = "Q4_K_M"
think_budget = 8

[models.tiny-judge.files]
Q4_K_M = { filename = "tiny-judge-Q4_K_M.gguf", source = "convert" }
"""


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def connected(tmp_path, monkeypatch, checkpoints):
    """A machine with a connection: a loopback Hub serving the synthetic checkpoint."""
    hub = Hub()
    hub.add("test/tiny-qwen3", {p.name: p.read_bytes() for p in checkpoints["qwen3"].iterdir()})
    registry_file = tmp_path / "models.toml"
    registry_file.write_text(resources.files("edgejudge.store").joinpath("models.toml").read_text() + TINY)
    monkeypatch.setenv("HF_ENDPOINT", hub.start())
    monkeypatch.setenv("HF_HOME", str(tmp_path / "connected-hf"))
    monkeypatch.setenv("EDGEJUDGE_HOME", str(tmp_path / "connected-store"))
    monkeypatch.setenv("EDGEJUDGE_REGISTRY", str(registry_file))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield tmp_path
    hub.stop()


def go_offline(monkeypatch, home, *, registry=None):
    """Become the other machine: its own store and Hugging Face cache, no Hub, sockets refused."""
    attempts = []

    def connect(self, address):
        attempts.append(address)
        raise OSError(f"network blocked by the test: {address}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setenv("EDGEJUDGE_HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home.parent / "offline-hf"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    if registry is None:
        monkeypatch.delenv("EDGEJUDGE_REGISTRY", raising=False)
    return attempts


def judge_once(ref):
    from edgejudge import Judge

    with Judge.load(ref) as judge:
        return judge.pairwise("2+2?", "4", "5", think=False, explain=False)


def test_pull_export_carry_import_verify_judge(connected, monkeypatch):
    assert invoke("pull", "tiny-judge").exit_code == 0
    carried = connected / "usb" / "tiny-judge.gguf"
    carried.parent.mkdir()  # the stick is mounted: export creates no folder (tests/test_outputs.py)
    result = invoke("export", "tiny-judge", "-o", str(carried))
    assert result.exit_code == 0, result.output
    manifest = json.loads(carry.sidecar_path(carried).read_text())
    assert manifest["id"] == "tiny-judge" and manifest["quant"] == "Q4_K_M" and manifest["family"] == "mr3"
    assert manifest["source"].startswith("converted from hf:test/tiny-qwen3@")
    assert manifest["size"] == carried.stat().st_size

    # The offline machine knows the judge (same edgejudge, same registry): no --as needed.
    attempts = go_offline(monkeypatch, connected / "offline-store", registry=True)
    result = invoke("import", str(carried))
    assert result.exit_code == 0, result.output
    installed = resolve.resolve("tiny-judge")
    assert installed.sha256 == manifest["sha256"] and installed.quant == "Q4_K_M"
    assert inventory.read_manifest("tiny-judge")["files"]["Q4_K_M"]["source"].endswith(manifest["source"])
    verify = invoke("verify", "tiny-judge")
    assert verify.exit_code == 0 and verify.output.startswith("ok ")
    assert judge_once("tiny-judge").verdict in ("A", "B")
    assert attempts == []


def test_an_unregistered_judge_keeps_its_name_and_family(connected, monkeypatch):
    assert invoke("pull", "tiny-judge").exit_code == 0
    carried = connected / "tiny.gguf"
    assert invoke("export", "tiny-judge", "-o", str(carried)).exit_code == 0
    attempts = go_offline(monkeypatch, connected / "offline-store")  # its registry has no tiny-judge
    assert invoke("import", str(carried)).exit_code == 0
    verdict = judge_once("tiny-judge")
    assert verdict.model["id"] == "tiny-judge" and verdict.model["family"] == "mr3"
    assert attempts == []


def test_carry_the_whole_store(connected, monkeypatch):
    assert invoke("pull", "tiny-judge").exit_code == 0
    copy = connected / "copied-store"
    shutil.copytree(connected / "connected-store", copy)
    attempts = go_offline(monkeypatch, copy, registry=True)
    assert invoke("verify").exit_code == 0
    assert judge_once("tiny-judge").verdict in ("A", "B")
    assert attempts == []


def test_a_tampered_or_unnamed_file_is_refused(connected, monkeypatch, tmp_path):
    assert invoke("pull", "tiny-judge").exit_code == 0
    carried = tmp_path / "t.gguf"
    carry.export_model("tiny-judge", carried)
    bare = tmp_path / "bare.gguf"
    shutil.copy(carried, bare)
    go_offline(monkeypatch, tmp_path / "offline-store", registry=True)
    with pytest.raises(UsageError, match="--as ID:QUANT"):
        carry.import_file(bare)
    with open(carried, "r+b") as handle:
        handle.seek(-1, 2)
        handle.write(b"\x7f")
    result = invoke("import", str(carried))
    assert result.exit_code == 4 and "sha256" in result.output
    assert inventory.read_manifest("tiny-judge")["files"] == {}
    carry.sidecar_path(bare).write_text("{not json")
    with pytest.raises(ModelFileError, match="not a readable export manifest"):
        carry.import_file(bare)


def test_export_refuses_paths_and_names_without_gguf(connected, tmp_path):
    assert invoke("export", "smollm2-135m", "-o", str(tmp_path / "x.bin")).exit_code == 2
    assert invoke("export", str(tmp_path / "a.gguf"), "-o", str(tmp_path / "b.gguf")).exit_code == 2
    assert invoke("export", "tiny-judge", "-o", str(tmp_path / "c.gguf")).exit_code == 3  # not pulled
