"""Hostile arguments to the store and to -m: malformed, empty, huge and control-character refs,
FIFOs, devices and directories, files that are not the model they are imported as, tampered files,
links out of the store, broken manifests and unusable EDGEJUDGE_HOME. Each case asserts the exit
code and message, that stdout holds nothing or only whole records, that nothing outside the store
changes, and that nothing is exit 1 (an internal error)."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import VALID_KVS, VALID_TENSORS, gguf_bytes, tensor_table, tiny_llama
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edgejudge.cli import cli
from edgejudge.errors import EdgejudgeError, ModelFileError, UsageError
from edgejudge.store import disk, gguf_file, identity, inventory, registry, resolve

F32_FILE = gguf_bytes(VALID_KVS, VALID_TENSORS)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh store of this test's own, and a folder outside it that must never change."""
    home = tmp_path / "store"
    monkeypatch.setenv("EDGEJUDGE_HOME", str(home))
    monkeypatch.delenv("EDGEJUDGE_MODEL", raising=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_bytes(b"keep me")
    yield home
    assert (outside / "precious.txt").read_bytes() == b"keep me"


def invoke(*args):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code != 1, result.output  # exit 1 is a bug
    assert "internal error" not in result.output
    return result


def assert_records_or_nothing(stdout: str):
    for line in stdout.splitlines():
        json.loads(line)


HOSTILE_REFS = {
    "a second colon": ("smollm2-135m:Q4_1:extra", 2, "not a model reference"),
    "5,000 characters": ("a" * 5000, 2, "5,000 characters"),
    "empty": ("", 2, "empty"),
    "a NUL byte": ("smollm2\0-135m", 2, "NUL"),
    "a newline": ("smollm2-135m\n", 2, "not a model reference"),
    "a newline before the quant": ("x\n:Q4_1", 2, "not a model reference"),
    "upper case": ("SMOLLM2-135M", 2, "lower-case"),
    "an empty quant": ("smollm2-135m:", 2, "not a model reference"),
    "an unknown id": ("no-such-model", 3, "unknown model"),
    "an unknown quant": ("smollm2-135m:Q9_9", 3, "no quant"),
    "a missing file": ("./missing.gguf", 3, "no model file"),
    "a directory": ("/", 4, "directory"),
    "a device": ("/dev/null", 4, "not a regular file"),
    "a name too long": ("/" + "d" * 300 + ".gguf", 3, "no model file"),
}


@pytest.mark.parametrize("command", ["path", "prompt", "judge"])
@pytest.mark.parametrize("case", sorted(HOSTILE_REFS))
def test_hostile_model_refs(store, command, case):
    ref, code, message = HOSTILE_REFS[case]
    args = [command, ref] if command == "path" else [command, "-m", ref, "--prompt", "p", "--response", "r"]
    result = invoke(*args)
    assert result.exit_code == code, result.output
    assert message in result.stderr and "hint:" in result.stderr
    assert result.stdout == ""


NO_FIFOS = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


@NO_FIFOS
def test_a_fifo_as_the_model_or_the_import_is_refused_not_waited_on(store, tmp_path, run_cli):
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    for args in (["path", str(fifo)], ["import", str(fifo), "--as", "x:Q4_1"], ["prompt", "-m", str(fifo),
                                                                                 "--prompt", "p", "--response", "r"]):
        done = run_cli(*args, timeout=60)  # a hang would be a TimeoutExpired here
        assert done.returncode == 4, done.stderr
        assert b"not a regular file" in done.stderr and done.stdout == b""


@pytest.mark.parametrize("name", ["x\n:Q4_1", "x:Q4_1\n", "x\0:Q4_1", "x:Q4\t", " x:Q4_1", "x:" + "Q" * 17,
                                  "a" * 65 + ":Q4_1", "..:Q4_1", ".:Q4_1", "x:Q4_1:Q8_0"])
def test_import_refuses_names_that_are_not_whole_ids(store, tmp_path, smollm2_path, name):
    result = invoke("import", str(smollm2_path), "--as", name)
    assert result.exit_code == 2, result.output
    assert not (store / "models").exists() or not any((store / "models").iterdir())


def test_import_refuses_a_file_that_is_not_the_model(store, smollm2_path):
    result = invoke("import", str(smollm2_path), "--as", "mr3-qwen3-4b:Q4_K_M")
    assert result.exit_code == 4, result.output
    assert "architecture is 'llama'" in result.stderr and "vocabulary has 49,152 tokens" in result.stderr
    result = invoke("import", str(smollm2_path), "--as", "mr3-qwen3-4b:Q4_1")  # not even a registered quant
    assert result.exit_code in (3, 4), result.output
    result = invoke("import", str(smollm2_path), "--as", "my-judge:Q8_0")  # an unregistered id: the quant still counts
    assert result.exit_code == 4 and "holds Q4_1, not Q8_0" in result.stderr and "my-judge:Q4_1" in result.stderr
    assert inventory.stored_models() == []


def test_an_imported_model_resolves_the_same_for_prompt_and_judge(store, smollm2_path):
    assert invoke("import", str(smollm2_path), "--as", "my-judge:Q4_1").exit_code == 0
    result = invoke("prompt", "-m", "my-judge", "--prompt", "2+2?", "--response-a", "4", "--response-b", "5")
    assert result.exit_code == 0, result.output
    assert "2+2?" in result.stdout
    resolved = resolve.resolve("my-judge")
    assert resolved.quant == "Q4_1" and resolved.describe()["quant"] == "Q4_1"
    assert resolve.resolve(str(smollm2_path)).quant == "Q4_1"  # a path: the quant the file holds


def test_a_file_restored_to_its_size_mtime_and_inode_is_hashed_again(store, tmp_path):
    source = tmp_path / "tiny.gguf"
    source.write_bytes(F32_FILE)
    stored = inventory.install(source, "tiny", "F32", source="test")
    assert resolve.resolve("tiny").sha256 == hashlib.sha256(F32_FILE).hexdigest()  # now in the hash cache
    before = os.stat(stored)
    with open(stored, "r+b") as handle:  # tamper in place: same inode, same size
        handle.seek(-1, os.SEEK_END)
        handle.write(b"\x02")
    os.utime(stored, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(stored)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    with pytest.raises(ModelFileError, match="changed since it was imported"):
        resolve.resolve("tiny")


@pytest.mark.parametrize("link", ["model", "quant", "models"])
def test_rm_does_not_follow_a_link_out_of_the_store(store, tmp_path, link):
    outside = tmp_path / "outside"
    source = tmp_path / "tiny.gguf"
    source.write_bytes(F32_FILE)
    inventory.install(source, "tiny", "F32", source="test")
    victim = {"model": store / "models" / "tiny", "quant": store / "models" / "tiny" / "F32",
              "models": store / "models"}[link]
    # the outside folder is made to look like what the link replaces
    (outside / "F32").mkdir(exist_ok=True)
    (outside / "F32" / "tiny.gguf").write_bytes(F32_FILE)
    (outside / "manifest.json").write_text((store / "models" / "tiny" / "manifest.json").read_text())
    (outside / "tiny").mkdir()
    (outside / "tiny" / "manifest.json").write_text((outside / "manifest.json").read_text())
    kept = {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()}
    import shutil

    shutil.rmtree(victim)
    victim.symlink_to(outside if link != "quant" else outside / "F32", target_is_directory=True)
    result = invoke("rm", "tiny")
    assert result.exit_code == 15, result.output
    assert "symbolic link" in result.stderr and "hint:" in result.stderr
    assert {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()} == kept


@pytest.mark.parametrize("manifest", [
    {"files": {"F32": {"sha256": "0" * 64, "size": 1}}},  # no file
    {"files": {"F32": {"file": "../../../outside/precious.txt", "sha256": "0" * 64, "size": 1}}},
    {"files": {"F32": {"file": "tiny.gguf", "sha256": None, "size": 1}}},
    {"files": {"F32": "tiny.gguf"}},
    {"files": {"F3\n2": {"file": "tiny.gguf", "sha256": "0" * 64, "size": 1}}},
    {"files": []},
    ["not", "a", "manifest"],
    "{ not json",
])
def test_a_broken_manifest_is_reported_and_can_be_removed(store, manifest):
    folder = store / "models" / "tiny"
    (folder / "F32").mkdir(parents=True)
    (folder / "F32" / "tiny.gguf").write_bytes(F32_FILE)
    (folder / "manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    result = invoke("verify", "tiny")
    assert result.exit_code == 4 and "BAD" in result.stdout, result.output
    result = invoke("path", "tiny")
    assert result.exit_code == 4 and "rm tiny" in result.stderr, result.output
    assert invoke("models").exit_code == 0
    result = invoke("rm", "tiny")
    assert result.exit_code == 0, result.output
    assert not folder.exists()


@pytest.mark.parametrize("command", [["models"], ["verify"], ["rm", "x"], ["path", "x"], ["import", "{file}", "--as",
                                                                                         "x:F32"]])
@pytest.mark.parametrize("home", ["file", "under-a-file", "under-dev-null"])
def test_an_unusable_edgejudge_home_is_a_store_error(tmp_path, monkeypatch, command, home):
    a_file = tmp_path / "a-file"
    a_file.write_bytes(b"x")
    source = tmp_path / "tiny.gguf"
    source.write_bytes(F32_FILE)
    where = {"file": a_file, "under-a-file": a_file / "store", "under-dev-null": Path("/dev/null/store")}[home]
    monkeypatch.setenv("EDGEJUDGE_HOME", str(where))
    result = invoke(*[part.format(file=source) for part in command])
    assert result.exit_code == 15, result.output
    assert "EDGEJUDGE_HOME" in result.output and "hint:" in result.stderr
    assert a_file.read_bytes() == b"x"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes to read-only directories")
def test_a_read_only_store_is_a_store_error(store, tmp_path):
    store.mkdir()
    store.chmod(0o500)
    source = tmp_path / "tiny.gguf"
    source.write_bytes(F32_FILE)
    try:
        result = invoke("import", str(source), "--as", "x:F32")
    finally:
        store.chmod(0o700)
    assert result.exit_code == 15 and "cannot write" in result.stderr


ref_text = st.text(st.characters(codec="utf-8"), max_size=80) | st.from_regex(r"[a-z0-9][a-z0-9._\n-]{0,70}(:[A-Za-z0-9_\n]{0,18})?", fullmatch=True)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture])
@given(ref_text)
def test_every_accepted_id_is_a_plain_store_name(store, text):
    try:
        model_id, quant = resolve.split_ref(text)
    except UsageError:
        return
    for part in (model_id, quant or "Q"):
        assert part.isprintable() and part.strip() == part
        assert "/" not in part and "\\" not in part and part not in (".", "..")
    assert registry.ID_RE.fullmatch(model_id) and len(model_id) <= 64
    assert (inventory.model_dir(model_id)).parent == disk.store_root() / "models"


@settings(max_examples=200, deadline=None,
          suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture])
@given(ref_text)
@example("~0/")  # found by a randomised run: Path.expanduser() raised RuntimeError (exit 1)
@example("~nosuchuser/model.gguf")
@example("~")
def test_any_model_ref_is_resolved_or_refused_with_a_user_error(store, text):
    try:
        resolve.target(text)
    except EdgejudgeError as exc:
        assert exc.exit_code in (2, 3, 4)


def test_verify_and_rm_of_hostile_ids(store):
    for args in (["verify", "../x"], ["verify", "x\n"], ["rm", "x\n"], ["rm", ""], ["rm", "x:Q4:Q8"],
                 ["verify", "a" * 5000], ["pull", "x\n"], ["pull", ""]):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stdout == ""


def test_store_import_without_fcntl(tmp_path):
    # the store's lock is portable: importing edgejudge's store works where fcntl does not exist
    code = ("import sys; sys.modules['fcntl'] = None\n"
            "import edgejudge, edgejudge.store.inventory, edgejudge.cli\nprint('ok')")
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def test_the_quant_of_a_file_without_a_file_type_comes_from_its_tensors(tmp_path):
    # A tiny llama whose largest matrix is Q8_0 (type 8: 34 bytes per 32 values), no general.file_type.
    kvs, tensors = tiny_llama(n_embd=32, tokens=tuple(f"t{i}" for i in range(64)))
    embd = ("token_embd.weight", (32, 64), 8, 0, 64 * 34)
    rest = tensor_table([(name, dims) for name, dims, *_ in tensors if name != "token_embd.weight"], start=64 * 34)
    path = tmp_path / "q8.gguf"
    path.write_bytes(gguf_bytes(kvs, (embd, *rest)))
    info = gguf_file.read(path)
    assert info.quant == "" and identity.file_quant(info) == "Q8_0"
    assert identity.quant_agrees("q8_0", info) and not identity.quant_agrees("Q4_K_M", info)


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", b"", "a directory", "a fifo"])
def test_a_registry_that_cannot_be_read_is_a_registry_error(tmp_path, monkeypatch, content):
    path = tmp_path / "models.toml"
    if content == "a directory":
        path.mkdir()
    elif content == "a fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs on this platform")
        os.mkfifo(path)
    else:
        path.write_bytes(content)
    monkeypatch.setenv("EDGEJUDGE_REGISTRY", str(path))
    registry._load_cached.cache_clear()
    try:
        result = invoke("models")
    finally:
        registry._load_cached.cache_clear()
    assert result.exit_code == 8, result.output
    assert str(path) in result.stderr and "hint:" in result.stderr and result.stdout == ""
