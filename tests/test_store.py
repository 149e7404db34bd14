"""The model store: pull (through huggingface_hub, from a loopback Hub), offline mode, convert on
pull, import, verify, rm, names that try to escape the store, and atomicity under kill -9."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import VALID_KVS, VALID_TENSORS, gguf_bytes, tiny_llama
from hub import Hub

from edgejudge.cli import cli
from edgejudge.errors import DownloadError, ModelFileError, ModelNotFound, UsageError
from edgejudge.store import disk, inventory, pull, registry, resolve

EXTRA_MODELS = """
[models.tiny-gguf]
name = "tiny (published GGUF)"
repo = "test/tiny"
architecture = "qwen3"
family = "mr3"
tasks = ["pairwise", "arena"]
pre_tokenizer = "qwen2"
context_length = 4096
license = "apache-2.0"
default_quant = "Q4_K_M"

[models.tiny-gguf.files.Q4_K_M]
filename = "tiny-Q4_K_M.gguf"
source = "hf:test/tiny-GGUF"
sha256 = "{sha}"

[models.tiny-bad-sha]
name = "tiny (wrong checksum)"
repo = "test/tiny"
architecture = "qwen3"
family = "mr3"
tasks = ["pairwise"]
pre_tokenizer = "qwen2"
context_length = 4096
license = "apache-2.0"
default_quant = "Q4_K_M"

[models.tiny-bad-sha.files.Q4_K_M]
filename = "tiny-Q4_K_M.gguf"
source = "hf:test/tiny-GGUF"
sha256 = "{wrong}"

[models.tiny-convert]
name = "tiny (safetensors only)"
repo = "test/tiny-qwen3"
architecture = "qwen3"
family = "mr3"
tasks = ["pairwise"]
pre_tokenizer = "qwen2"
context_length = 4096
license = "apache-2.0"
default_quant = "Q4_K_M"
think_budget = 8

[models.tiny-convert.files]
BF16 = {{ filename = "tiny-convert-BF16.gguf", source = "convert" }}
Q4_K_M = {{ filename = "tiny-convert-Q4_K_M.gguf", source = "convert" }}
"""


@pytest.fixture
def hub_env(tmp_path, monkeypatch, checkpoints, qwen3_gguf):
    gguf = qwen3_gguf["q4_k_m"].read_bytes()
    hub = Hub()
    hub.add("test/tiny-GGUF", {"tiny-Q4_K_M.gguf": gguf, "README.md": b"# tiny"})
    hub.add("test/tiny-qwen3", {p.name: p.read_bytes() for p in checkpoints["qwen3"].iterdir()})
    endpoint = hub.start()
    registry_file = tmp_path / "models.toml"
    registry_file.write_text(resources.files("edgejudge.store").joinpath("models.toml").read_text() +
                             EXTRA_MODELS.format(sha=hashlib.sha256(gguf).hexdigest(), wrong="0" * 64))
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("EDGEJUDGE_HOME", str(tmp_path / "store"))
    monkeypatch.setenv("EDGEJUDGE_REGISTRY", str(registry_file))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield hub
    hub.stop()


@pytest.fixture
def no_network(monkeypatch):
    """Any outgoing connection attempt is recorded and refused."""
    attempts = []
    real_connect = socket.socket.connect

    def connect(self, address):
        attempts.append(address)
        raise OSError(f"network blocked by the test: {address}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempts
    monkeypatch.setattr(socket.socket, "connect", real_connect)


def test_pull_a_published_gguf(hub_env):
    path = pull.pull("tiny-gguf")
    assert path.is_file() and path.parent == disk.home() / "models" / "tiny-gguf" / "Q4_K_M"
    manifest = inventory.read_manifest("tiny-gguf")["files"]["Q4_K_M"]
    assert manifest["source"].startswith("hf:test/tiny-GGUF/tiny-Q4_K_M.gguf@")
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (Path(os.environ["HF_HOME"]) / "hub" / "models--test--tiny-GGUF").is_dir()  # the standard cache
    resolved = resolve.resolve("tiny-gguf:q4_k_m")
    assert resolved.path == path and resolved.family == "mr3"
    requests = len(hub_env.requests)
    assert pull.pull("tiny-gguf") == path and len(hub_env.requests) == requests  # already in the store


def test_offline_pull_makes_no_connection(hub_env, no_network):
    with pytest.raises(DownloadError, match="offline mode is on"):
        pull.pull("tiny-gguf", offline=True)
    assert no_network == []


def test_offline_pull_from_the_cache(hub_env, monkeypatch):
    first = pull.pull("tiny-gguf")
    inventory.remove("tiny-gguf")
    assert not first.exists()
    attempts = []

    def connect(self, address):
        attempts.append(address)
        raise OSError("network blocked")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = pull.pull("tiny-gguf")
    assert again.is_file() and attempts == []


def test_convert_on_pull(hub_env):
    path = pull.pull("tiny-convert:Q4_K_M")
    from edgejudge.store import gguf_file

    info = gguf_file.read(path)
    assert info.quant == "Q4_K_M" and info.get("edgejudge.family") == "mr3"
    assert info.get("edgejudge.source.repo") == "test/tiny-qwen3"
    entry = inventory.read_manifest("tiny-convert")["files"]["Q4_K_M"]
    assert entry["source"].startswith("converted from hf:test/tiny-qwen3@")
    assert list((disk.home() / "work").iterdir()) == []  # the BF16 intermediate is gone
    from edgejudge import Judge

    with Judge.load("tiny-convert") as judge:
        result = judge.pairwise("2+2?", "4", "5", think_budget=4, max_explain_tokens=4)
        assert result.verdict in ("A", "B") and result.model["id"] == "tiny-convert"


def test_pull_checks_the_sha256(hub_env):
    with pytest.raises(ModelFileError, match="sha256"):
        pull.pull("tiny-bad-sha")
    assert inventory.read_manifest("tiny-bad-sha")["files"] == {}
    assert not any((disk.home() / "models" / "tiny-bad-sha" / "Q4_K_M").glob("*.gguf"))


def test_pull_of_unknown_or_pypi_models(hub_env):
    with pytest.raises(ModelNotFound):
        pull.pull("no-such-model")
    assert pull.pull("smollm2-135m").name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_two_concurrent_pulls_of_one_model(hub_env):
    results, errors = [], []

    def work():
        try:
            results.append(pull.pull("tiny-gguf"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results[0] == results[1]
    assert list(inventory.read_manifest("tiny-gguf")["files"]) == ["Q4_K_M"]
    assert [p.name for p in results[0].parent.iterdir()] == ["tiny-Q4_K_M.gguf"]
    resolve.resolve("tiny-gguf")


@pytest.mark.parametrize("ref", ["../evil:Q4_K_M", "a/b:Q4_K_M", "..:Q4", "ok:../Q4", "ok:Q4/x", "UPPER:Q4", ".hidden:Q4"])
def test_names_that_would_escape_the_store_are_refused(hub_env, qwen3_gguf, ref):
    result = CliRunner().invoke(cli, ["import", str(qwen3_gguf["q4_k_m"]), "--as", ref])
    assert result.exit_code == 2, result.output
    assert not (disk.home() / "models").exists() or all(
        p.parent == disk.home() / "models" for p in (disk.home() / "models").iterdir())


def test_rm_and_pull_refuse_traversal(hub_env):
    for ref in ("../x", "x/../../y"):
        with pytest.raises(UsageError):
            inventory.remove(ref)
        with pytest.raises(UsageError):
            pull.pull(ref)


def test_import_verify_rm(hub_env, qwen3_gguf, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["import", str(qwen3_gguf["q4_k_m"]), "--as", "my-judge:Q4_K_M"])
    assert result.exit_code == 0, result.output
    resolved = resolve.resolve("my-judge")
    assert resolved.family == "mr3" and resolved.quant == "Q4_K_M"
    assert "my-judge" in runner.invoke(cli, ["models"]).output
    assert runner.invoke(cli, ["path", "my-judge"]).stdout == f"{resolved.path}\n"
    assert runner.invoke(cli, ["verify", "my-judge"]).exit_code == 0
    with open(resolved.path, "ab") as handle:
        handle.write(b"tampered")
    result = runner.invoke(cli, ["verify", "my-judge"])
    assert result.exit_code == 4 and "BAD" in result.output
    with pytest.raises(ModelFileError, match="changed since it was imported"):
        resolve.resolve("my-judge")
    assert runner.invoke(cli, ["rm", "my-judge"]).exit_code == 0
    with pytest.raises(ModelNotFound):
        resolve.resolve("my-judge")
    assert runner.invoke(cli, ["rm", "my-judge"]).exit_code == 3
    assert runner.invoke(cli, ["path", "my-judge"]).exit_code == 3


def test_import_refuses_corrupt_files_and_wrong_checksums(hub_env, tmp_path, qwen3_gguf):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(gguf_bytes(VALID_KVS, ())[:40])
    result = CliRunner().invoke(cli, ["import", str(broken), "--as", "x:Q8_0"])
    assert result.exit_code == 4
    other = tmp_path / "other.gguf"  # the right model and quant, other bytes
    other.write_bytes(qwen3_gguf["q4_k_m"].read_bytes() + b"\0" * 32)
    result = CliRunner().invoke(cli, ["import", str(other), "--as", "tiny-gguf:Q4_K_M"])
    assert result.exit_code == 4 and "sha256" in result.output
    assert inventory.read_manifest("tiny-gguf")["files"] == {}


def test_a_kill_during_import_leaves_the_store_consistent(hub_env, tmp_path):
    # A 2 GiB GGUF whose tensor data is a sparse hole: cheap to make, slow enough to copy.
    big = tmp_path / "big.gguf"
    size = 2 << 30
    kvs, tensors = tiny_llama(n_embd=size // 216)  # 216 bytes of F32 weights per unit of width
    header = gguf_bytes(kvs, tensors, data=False)
    big.write_bytes(header)
    with open(big, "r+b") as handle:
        handle.truncate(len(header) + tensors[-1][3] + tensors[-1][4])
    proc = subprocess.Popen([sys.executable, "-m", "edgejudge", "import", str(big), "--as", "big:F32"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    target = disk.home() / "models" / "big" / "F32"
    deadline = time.time() + 60
    while time.time() < deadline and not any(target.glob(".*.part")):
        time.sleep(0.01)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (target / "big.gguf").exists()
    assert inventory.read_manifest("big")["files"] == {}
    with pytest.raises(ModelNotFound):
        resolve.resolve("big")
    small = tmp_path / "small.gguf"
    small.write_bytes(gguf_bytes(VALID_KVS, VALID_TENSORS))
    inventory.install(small, "big", "F32", source="test")
    assert [p.name for p in target.iterdir()] == ["small.gguf"]  # the killed copy's leftovers are gone
    assert json.loads((disk.home() / "models" / "big" / "manifest.json").read_text())["files"]["F32"]["file"] == "small.gguf"


def test_models_table_marks_installed_quants(hub_env):
    pull.pull("tiny-gguf")
    output = CliRunner().invoke(cli, ["models"]).output
    line = next(line for line in output.splitlines() if line.startswith("tiny-gguf"))
    assert "Q4_K_M*" in line
    rows = [json.loads(line) for line in CliRunner().invoke(cli, ["models", "--json"]).stdout.splitlines()]
    assert {r["id"] for r in rows} >= set(registry.load().models)


def test_pull_says_what_it_downloads_and_converts_before_it_starts(hub_env):
    said = []
    path = pull.pull("tiny-convert:Q4_K_M", log=said.append)
    assert path.is_file()
    first = said[0]
    assert first.startswith("tiny-convert:Q4_K_M: no GGUF is published") and "test/tiny-qwen3" in first
    assert "the BF16 conversion, deleted at the end" in first and "the Q4_K_M file" in first and "minutes" in first
    assert any(line.startswith("disk: at least") and "free" in line for line in said[1:3])  # no sizes known
    assert said.index(first) < next(i for i, line in enumerate(said) if "converted to BF16" in line)
    said.clear()
    pull.pull("tiny-gguf", log=said.append)
    assert said[0].startswith("tiny-gguf:Q4_K_M: downloading the published GGUF test/tiny-GGUF/tiny-Q4_K_M.gguf")


def test_pull_refuses_to_start_without_the_disk_it_needs(hub_env, monkeypatch):
    from edgejudge.store import space

    monkeypatch.setattr(space, "free_bytes", lambda path: 10 * 2**20)
    result = CliRunner().invoke(cli, ["pull", "tiny-convert:Q4_K_M"])
    assert result.exit_code == 16, result.output
    assert "not enough free disk" in result.output and "has 10 MiB free" in result.output
    assert "HF_HOME" in result.output and "EDGEJUDGE_HOME" in result.output
    assert hub_env.requests == []  # refused before any download


@pytest.mark.parametrize("how", ["closed port", "no network"])
def test_pull_without_a_connection_says_so_plainly(hub_env, monkeypatch, how):
    if how == "closed port":
        with socket.socket() as s:  # a port that was just free: nothing listens there
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    else:
        monkeypatch.setattr(socket.socket, "connect", lambda self, address: (_ for _ in ()).throw(
            OSError(f"network blocked by the test: {address}")))
    with pytest.raises(DownloadError) as caught:
        pull.pull("tiny-gguf")
    assert caught.value.message.startswith("cannot reach the Hugging Face Hub")
    assert "Got:" not in caught.value.message and "edgejudge export" in caught.value.hint


def test_what_a_4b_pull_needs_on_disk(tmp_path, monkeypatch):
    from edgejudge.errors import DiskSpaceError
    from edgejudge.store import sizing, space

    spec = registry.load().get("mr3-qwen3-4b")
    cache = tmp_path / "hf" / "hub"
    blobs = cache / "models--rubricreward--mR3-Qwen3-4B-en-prompt-en-thinking" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / "part.incomplete").write_bytes(b"x" * 4096)  # an interrupted download resumes, not repeats
    wanted, size, held = space.needs(spec, "Q4_K_M", spec.files["Q4_K_M"], cache, tmp_path / "store")
    assert size == sizing.download_bytes(spec)[0] > 7 * 2**30 and held == 4096
    download, bf16, q4 = wanted
    assert download.bytes == size - 4096 and bf16.bytes == spec.shape.parameters * 2
    assert q4.bytes == sizing.file_bytes(spec, "Q4_K_M")[0] and 2 * 2**30 < q4.bytes < 3 * 2**30
    [(where, total, free, unknown)] = space.check(wanted)  # one disk here: the three add up
    assert not unknown
    assert total == download.bytes + bf16.bytes + q4.bytes + space.MARGIN and free is not None
    monkeypatch.setattr(space, "free_bytes", lambda path: 3 * 2**30)
    with pytest.raises(DiskSpaceError) as caught:
        space.check(wanted)
    assert "has 3.0 GiB free" in caught.value.message and caught.value.exit_code == 16
