"""The files edgejudge writes for itself are input: every one is read by one safe reader and checked.

The property, written once (issue: hardening round 3): no state file content, environment
variable or flag value makes edgejudge exit 1, hang or crash. The bulk runs here as library calls
on generated hostile values; tests/test_hostile_state.py runs the end-to-end cases as real
processes with SmolLM2.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import re
import signal
import stat
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edgejudge import environment, locks, schema, state_files
from edgejudge.backends.llama import hardware, prefix_cache, prefix_files, runtime, tuning
from edgejudge.errors import ContextOverflow, EdgejudgeError, ModelFileError, OutputError, StoreError, UsageError
from edgejudge.store import disk, inventory

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {"extra_bufts": False, "threads": 1, "n_batch": 512, "n_ubatch": 512}
KEY = {"cpu": "test cpu", "cpu_flags": "0" * 16, "llama_cpp": "b1", "build": "1" * 16, "quant": "Q4_1",
       "architecture": "llama"}
RECORD = {"key": KEY, "mode": "quick", "measured_at": 1.0, "seconds": 2.0, "model": "/m.gguf",
          "plan": {"prompt_tokens": 64, "decode_tokens": 8, "reps": 2},
          "workloads": {"no_think": {"prompt_tokens": 450, "decode_tokens": 16}},
          "figures": [{"settings": dict(SETTINGS), "prompt_tps": 100.0, "decode_tps": 50.0, "prompt_tps_all": [99.0, 100.0],
                       "decode_tps_all": [50.0, 49.0]}],
          "choice": {"no_think": dict(SETTINGS), "think": dict(SETTINGS)}}  # separate: each mutated alone
# values that broke edgejudge when found in a state file, and their kin
HOSTILE_VALUES = ["many", [2], 10000, 2**40, "x", -5, 0, "sometimes", 1, None, True, {}, "", "²", "٣", "1e400",
                  "nan", "-0", math.nan, math.inf, -math.inf, 1e308, -1, 2**63, [], {"a": {"b": [1]}}, "on"]
hostile = st.one_of(st.sampled_from(HOSTILE_VALUES), st.none(), st.booleans(), st.integers(),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))
# the profile decides how many examples (tests/conftest.py: 100 in CI, 1,000 with HYPOTHESIS_PROFILE=explore)
SWEEP = settings(deadline=None,
                 suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture])


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEJUDGE_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


@pytest.fixture
def no_hang():
    """Fail, instead of blocking the run, when the code under test waits (on a FIFO) for 10 s."""
    def expired(signum, frame):
        raise TimeoutError("hung: waited 10 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def paths_of(value, prefix=()):
    """Every path to a value inside a JSON object (dict keys and list indexes)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += paths_of(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += paths_of(child, (*prefix, i))
    return out


def mutated(record: dict, path: tuple, how: str, value) -> dict:
    out = copy.deepcopy(record)
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "delete" and isinstance(parent, dict):
        del parent[last]
    elif how == "extra" and isinstance(parent[last], dict):
        parent[last]["unexpected"] = value
    else:
        parent[last] = value
    return out


# -- the reader ------------------------------------------------------------------------------


def test_the_reader_refuses_what_is_not_a_regular_file_without_waiting(tmp_path, no_hang):
    outside = tmp_path / "outside.json"
    outside.write_text('{"mine": 1}')
    cases = {"fifo": "FIFO", "zero": "symbolic link", "link": "symbolic link", "dangling": "symbolic link",
             "folder": "directory", "huge": "more than", "deep": "nests deeper", "nan": "not valid JSON",
             "binary": "not valid JSON", "text": "not valid JSON"}
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "link").symlink_to(outside)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "folder").mkdir()
    with open(tmp_path / "huge", "wb") as handle:
        handle.truncate(1 << 30)  # sparse: a gigabyte that costs nothing
    (tmp_path / "deep").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "nan").write_text('{"threads": NaN}')
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "text").write_text("threads = 2")
    for name, words in cases.items():
        read = state_files.read_state_json(tmp_path / name)
        assert read.problem and words in read.problem and read.value is None, (name, read)
    assert not (tmp_path / "nowhere").exists() and outside.read_text() == '{"mine": 1}'
    assert state_files.read_state_json(tmp_path / "absent").missing
    assert state_files.read_state_json(outside).value == {"mine": 1}


def test_the_reader_bounds_depth_and_refuses_links_out_of_its_folder(tmp_path):
    (tmp_path / "three.json").write_text("[[[1]]]")
    assert state_files.read_state_json(tmp_path / "three.json", max_depth=2).problem == "nests deeper than 2 levels"
    assert state_files.read_state_json(tmp_path / "three.json", max_depth=3).value == [[[1]]]
    store, elsewhere = tmp_path / "store", tmp_path / "elsewhere"
    store.mkdir()
    elsewhere.mkdir()
    (elsewhere / "tuning.json").write_text("{}")
    (store / "sub").symlink_to(elsewhere)
    read = state_files.read_state_json(store / "sub" / "tuning.json", within=store)
    assert "leads out of" in read.problem


@SWEEP
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                    max_leaves=30))
def test_every_shape_returns_a_value_or_says_what_is_wrong(value):
    for shape in (tuning.record_shape(4, 8192), prefix_files.HEADER, tuning.settings_shape(4, 8192)):
        try:
            checked = shape(value)
        except schema.Invalid as exc:
            assert str(exc)
        else:
            assert shape(checked) == checked  # what it returns passes again


def test_shapes_keep_bool_out_of_numbers_and_drop_unknown_keys():
    shape = tuning.settings_shape(4, 8192)
    for field, value in [("threads", True), ("threads", 5), ("flash_attn", 1), ("extra_bufts", 0),
                         ("n_batch", 0), ("n_batch", 8193), ("n_ubatch", -5), ("threads", 2.0)]:
        with pytest.raises(schema.Invalid, match=field):
            shape({**SETTINGS, field: value})
    assert shape({**SETTINGS, "future_knob": 3}) == SETTINGS
    with pytest.raises(schema.Invalid, match="nan"):
        schema.Num()(math.nan)


# -- tuning records --------------------------------------------------------------------------


def _store(home: Path, record) -> Path:
    path = home / "tuning.json"
    path.write_text(json.dumps({tuning.key_id(KEY): record}))
    return path


def test_a_valid_record_is_returned_whole(home):
    _store(home, RECORD)
    assert tuning.lookup(KEY, max_batch=8192) == RECORD


@SWEEP
@given(st.sampled_from(paths_of(RECORD)), st.sampled_from(["replace", "delete", "extra"]), hostile)
@example(("choice", "no_think", "threads"), "replace", "many")
@example(("choice", "no_think", "threads"), "replace", [2])
@example(("choice", "no_think", "threads"), "replace", 10000)
@example(("choice", "no_think", "threads"), "replace", 2**40)
@example(("choice", "no_think", "n_batch"), "replace", "x")
@example(("choice", "no_think", "n_batch"), "replace", -5)
@example(("choice", "no_think", "flash_attn"), "replace", "sometimes")
@example(("choice", "no_think", "flash_attn"), "replace", 1)
@example(("choice",), "delete", None)
@example(("mode",), "delete", None)
@example(("choice", "no_think"), "delete", None)
@example(("choice",), "replace", [SETTINGS])
@example(("choice",), "replace", "fast")
@example(("figures",), "replace", "garbage")
@example(("figures", 0, "prompt_tps"), "replace", 0)
def test_any_damaged_tuning_record_is_ignored_with_one_line(home, caplog, path, how, value):
    stored = mutated(RECORD, path, how, value)
    file = _store(home, stored)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="edgejudge"):
        got = tuning.lookup(KEY, max_batch=8192)
    lines = [r.getMessage() for r in caplog.records]
    if got is None:
        if path[0] != "key":  # a record under another key is simply not this model's
            assert len(lines) == 1 and str(file) in lines[0] and "measured again" in lines[0], lines
    else:
        assert lines == [] and tuning.record_shape(max_batch=8192)(got) == got
        for chosen in got["choice"].values():
            assert 1 <= chosen["threads"] <= hardware.affinity_cpus()
            assert 1 <= chosen["n_ubatch"] <= 8192 and 1 <= chosen["n_batch"] <= 8192
        from edgejudge.doctor import _tuning_line

        assert "measurement" in _tuning_line({"tuning": {"key": KEY, **tuning.describe(got)}})


@pytest.mark.parametrize("content", ["[", "[]", "null", '"x"', "[" * 50_000, '{"a": NaN}', "\x00"])
def test_a_tuning_file_that_is_not_an_object_is_empty_and_replaced(home, caplog, content):
    (home / "tuning.json").write_text(content)
    with caplog.at_level(logging.WARNING, logger="edgejudge"):
        assert tuning.lookup(KEY) is None
    assert len(caplog.records) == 1 and "tuning.json" in caplog.records[0].getMessage()
    tuning.store(RECORD)
    assert tuning.lookup(KEY, max_batch=8192) == RECORD


@pytest.mark.parametrize("kind", ["fifo", "zero", "dangling", "folder"])
def test_a_tuning_file_that_is_no_file_is_never_read(home, caplog, no_hang, kind):
    path = home / "tuning.json"
    {"fifo": lambda: os.mkfifo(path), "zero": lambda: path.symlink_to("/dev/zero"),
     "dangling": lambda: path.symlink_to(home / "target"), "folder": path.mkdir}[kind]()
    with caplog.at_level(logging.WARNING, logger="edgejudge"):
        assert tuning.lookup(KEY) is None
    assert len(caplog.records) == 1 and str(path) in caplog.records[0].getMessage()
    assert not (home / "target").exists()


def test_tune_sizes_are_checked_against_the_context_before_any_work(smollm2_path):
    from edgejudge.store import resolve

    gguf = resolve.resolve(str(smollm2_path)).gguf
    started = time.monotonic()
    for prompt_tokens in (9000, 200_000, 2**24):
        with pytest.raises(ContextOverflow, match="--prompt-tokens"):
            tuning.tune(smollm2_path, gguf, tuning.Plan(prompt_tokens=prompt_tokens))
    assert time.monotonic() - started < 5
    for bad in ({"prompt_tokens": 0}, {"prompt_tokens": 10**30}, {"reps": 10**9}, {"decode_tokens": -1},
                {"reps": True}):
        with pytest.raises(UsageError):
            tuning.Plan(**bad)


# -- the prefix cache ------------------------------------------------------------------------

HEADER_OK = {"key": {"model_sha256": "a" * 64}, "n_tokens": 3, "payload_bytes": 4,
             "payload_sha256": "b" * 64, "created": 1.0}


@SWEEP
@given(st.sampled_from(paths_of(HEADER_OK)), st.sampled_from(["replace", "delete", "extra"]), hostile)
def test_any_damaged_prefix_header_is_a_miss(path, how, value):
    import hashlib
    import struct

    payload = b"abcd"
    header = mutated({**HEADER_OK, "payload_sha256": hashlib.sha256(payload).hexdigest()}, path, how, value)
    body = json.dumps(header).encode()
    header_back, payload_back = prefix_cache.parse(prefix_cache.MAGIC + struct.pack("<Q", len(body)) + body + payload)
    assert (header_back is None) == (payload_back is None)
    if header_back is not None:
        assert payload_back == payload and isinstance(header_back["n_tokens"], int)


def test_odd_files_in_the_cache_folder_are_skipped_never_waited_on(tmp_path, no_hang):
    cache = prefix_cache.PrefixCache("a" * 64, root=tmp_path / "pc", cap=1 << 20)
    saved = cache.save([1] * 20, {"s": 1}, b"state" * 10)
    os.mkfifo(tmp_path / "pc" / "fifo.kv")
    (tmp_path / "pc" / "folder.kv").mkdir()
    (tmp_path / "outside.kv").write_bytes(b"mine")
    (tmp_path / "pc" / "link.kv").symlink_to(tmp_path / "outside.kv")
    (tmp_path / "pc" / "deep.kv").write_bytes(prefix_cache.MAGIC + (10).to_bytes(8, "little") + b"[" * 10)
    listed = prefix_cache.entries(tmp_path / "pc")
    assert sorted(e.path.name for e in listed) == sorted([saved.name, "deep.kv"])
    assert [e.header is None for e in listed if e.path.name == "deep.kv"] == [True]
    fifo_path = cache.path_for(cache.key([2] * 20, {"s": 1}))
    os.mkfifo(fifo_path)  # a FIFO under the very name a load opens
    assert cache.load([2] * 20, {"s": 1}) is None
    assert cache.load([1] * 20, {"s": 1}) == b"state" * 10
    removed, _ = prefix_cache.clear(tmp_path / "pc")
    assert removed == 5 and (tmp_path / "outside.kv").read_bytes() == b"mine"
    assert (tmp_path / "pc" / "folder.kv").is_dir()


def test_a_linked_cache_folder_is_never_written_listed_or_cleared_through(tmp_path, caplog):
    elsewhere = tmp_path / "thesis"
    elsewhere.mkdir()
    (elsewhere / "thesis.kv").write_bytes(b"years of work")
    root = tmp_path / "prefix-cache"
    root.symlink_to(elsewhere)
    with caplog.at_level(logging.WARNING, logger="edgejudge"):
        cache = prefix_cache.PrefixCache("a" * 64, root=root)
    assert "symbolic link" in caplog.records[0].getMessage() and "off" in caplog.records[0].getMessage()
    assert cache.save([1] * 20, {}, b"x" * 10) is None and cache.load([1] * 20, {}) is None
    assert prefix_cache.entries(root) == [] and prefix_cache.evict(root, 0) == []
    with pytest.raises(StoreError, match="symbolic link"):
        prefix_cache.clear(root)
    with pytest.raises(StoreError):
        prefix_cache.entries(root, strict=True)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["thesis.kv"]


def test_stale_temp_files_are_removed_and_live_ones_counted(tmp_path):
    from filelock import lock_descriptor

    root = tmp_path / "pc"
    root.mkdir()
    long_ago = time.time() - 3600
    stale = root / ".abc.kv.x1y2.tmp"
    stale.write_bytes(b"s" * 1000)
    os.utime(stale, (long_ago, long_ago))
    live = root / ".def.kv.z3w4.tmp"
    live.write_bytes(b"l" * 1000)
    os.utime(live, (long_ago, long_ago))
    fresh = root / ".ghi.kv.q5r6.tmp"  # written during this run: maybe a writer that just started
    fresh.write_bytes(b"f" * 1000)
    foreign = root / ".notes.txt.tmp"
    foreign.write_bytes(b"not ours")
    os.utime(foreign, (long_ago, long_ago))
    holder = os.open(live, os.O_RDONLY)
    try:
        assert lock_descriptor(holder, blocking=False)  # a writer in another run, alive
        cache = prefix_cache.PrefixCache("a" * 64, root=root, cap=3500)
        assert not stale.exists() and live.exists() and fresh.exists() and foreign.exists()
        assert prefix_cache.temp_bytes(root) == 2000
        first = cache.save([1] * 20, {}, b"1" * 1000)
        second = cache.save([2] * 20, {}, b"2" * 1000)  # two entries + 2000 B of temps pass 3500
        assert second.exists() and not first.exists()
    finally:
        os.close(holder)
    assert prefix_cache.remove_stale_temps(root, before=time.time() + 1) == [live] or not live.exists()


# -- locks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["link", "dangling", "fifo", "folder"])
def test_a_lock_path_that_is_not_a_plain_file_is_refused_with_exit_14(tmp_path, no_hang, kind):
    mine = tmp_path / "thesis.txt"
    mine.write_text("my thesis")
    lock = tmp_path / "out.jsonl.lock"
    {"link": lambda: lock.symlink_to(mine), "dangling": lambda: lock.symlink_to(tmp_path / "created"),
     "fifo": lambda: os.mkfifo(lock), "folder": lock.mkdir}[kind]()
    with pytest.raises(OutputError) as caught:
        locks.open_lock_file(lock)
    assert caught.value.exit_code == 14 and str(lock) in caught.value.message
    from edgejudge.streams.outfile import OutputLock

    with pytest.raises(OutputError) as caught:
        OutputLock(tmp_path / "out.jsonl").acquire()
    assert caught.value.exit_code == 14
    assert mine.read_text() == "my thesis" and not (tmp_path / "created").exists()


def test_the_store_lock_is_never_followed(home):
    (home / "locks").mkdir()
    mine = home.parent / "mine.txt"
    mine.write_text("keep")
    (home / "locks" / "judge.lock").symlink_to(mine)
    with pytest.raises(OutputError) as caught, inventory.locked("judge"):
        pass
    assert caught.value.exit_code == 14 and mine.read_text() == "keep"
    with inventory.locked("other"):  # a plain lock still works, and twice in a row
        pass
    with inventory.locked("other"):
        pass


def test_a_manifest_that_is_a_fifo_or_too_deep_is_a_model_file_error(home, no_hang):
    folder = home / "models" / "judge"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "manifest.json")
    with pytest.raises(ModelFileError, match="FIFO"):
        inventory.read_manifest("judge")
    (folder / "manifest.json").unlink()
    (folder / "manifest.json").write_text('{"files": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(ModelFileError, match="deeper"):
        inventory.read_manifest("judge")


def test_a_hash_cache_that_is_garbage_is_rebuilt(home, tmp_path, caplog, no_hang):
    target = tmp_path / "file.bin"
    target.write_bytes(b"data")
    os.mkfifo(home / "hashes.json")
    with caplog.at_level(logging.WARNING, logger="edgejudge"):
        digest = disk.file_sha256(target)
    assert len(digest) == 64 and "hashes.json" in caplog.records[0].getMessage()
    (home / "hashes.json").unlink()
    (home / "hashes.json").write_text(json.dumps({f"{target.resolve()}|x": ["not", "a", "digest"]}))
    assert disk.file_sha256(target) == digest
    assert stat.S_ISREG(os.lstat(home / "hashes.json").st_mode)


# -- environment variables and numbers from text ------------------------------------------------

ENV_READERS = {
    "EDGEJUDGE_THREADS": runtime.RuntimeSettings.from_env, "EDGEJUDGE_GPU_LAYERS": runtime.RuntimeSettings.from_env,
    "EDGEJUDGE_BATCH": runtime.RuntimeSettings.from_env, "EDGEJUDGE_UBATCH": runtime.RuntimeSettings.from_env,
    "EDGEJUDGE_EXTRA_BUFTS": runtime.RuntimeSettings.from_env, "EDGEJUDGE_FLASH_ATTN": runtime.RuntimeSettings.from_env,
    "EDGEJUDGE_VERBOSE": runtime.RuntimeSettings.from_env, "EDGEJUDGE_TUNE": runtime.RuntimeSettings.from_env,
    "EDGEJUDGE_PREFIX_CACHE": runtime.RuntimeSettings.from_env, "EDGEJUDGE_LOAD": runtime.RuntimeSettings.from_env,
    "EDGEJUDGE_PREFIX_CACHE_MB": prefix_cache.cap_bytes, "EDGEJUDGE_HOME": disk.store_root,
    "EDGEJUDGE_MODEL": lambda: __import__("edgejudge.store.resolve", fromlist=["x"]).target(None),
    "EDGEJUDGE_REGISTRY": lambda: __import__("edgejudge.store.registry", fromlist=["x"]).load(),
    "EDGEJUDGE_DEBUG": lambda: None,  # only set or unset: it shows tracebacks of bugs
}
NUMBER_TEXTS = ["inf", "-inf", "1e400", "nan", "NaN", "²", "٣", "-0", "10000", "2**40", "1" * 5000, "0x10", " 3 ",
                "-5", "1_000", "", "१२", "1e3", "0.5", "+4"]


def test_every_variable_edgejudge_reads_is_swept():
    names = set()
    for path in (ROOT / "edgejudge").rglob("*.py"):
        names |= set(re.findall(r"EDGEJUDGE_[A-Z_]+[A-Z]", path.read_text()))
    assert names - set(ENV_READERS) == set()


@SWEEP
@given(st.sampled_from(sorted(ENV_READERS)),
       st.sampled_from(NUMBER_TEXTS) | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                                                max_size=20))
@example("EDGEJUDGE_PREFIX_CACHE_MB", "inf")
@example("EDGEJUDGE_PREFIX_CACHE_MB", "-inf")
@example("EDGEJUDGE_PREFIX_CACHE_MB", "1e400")
@example("EDGEJUDGE_THREADS", "10000")
@example("EDGEJUDGE_THREADS", "1099511627776")
@example("EDGEJUDGE_GPU_LAYERS", "1099511627776")
@example("EDGEJUDGE_BATCH", "-5")
@example("EDGEJUDGE_HOME", "~nosuchuser/store")
@example("EDGEJUDGE_MODEL", "~0/")
def test_no_variable_value_is_an_internal_error(monkeypatch, tmp_path, name, value):
    if name == "EDGEJUDGE_HOME" and not value.startswith("~"):
        value = str(tmp_path / value.replace("/", "_").replace("\0", "")) if value.strip() else value
    try:
        with monkeypatch.context() as patch:  # one variable at a time: examples share the fixture
            patch.setenv(name, value)
            result = ENV_READERS[name]()
    except EdgejudgeError as exc:
        assert 2 <= exc.exit_code <= 15, exc
        if isinstance(exc, UsageError) and name not in ("EDGEJUDGE_MODEL", "EDGEJUDGE_HOME"):
            assert name in str(exc)
    else:
        if name == "EDGEJUDGE_PREFIX_CACHE_MB":
            assert 0 <= result < 2**64
        if isinstance(result, runtime.RuntimeSettings) and result.threads is not None:
            assert 1 <= result.threads <= runtime.MAX_THREADS


@pytest.mark.parametrize("text", NUMBER_TEXTS)
def test_numbers_from_text_are_plain_ascii_decimals(text):
    for parse in (lambda: environment.parse_int(text, "X", -10**6, 10**6),
                  lambda: environment.parse_number(text, "X", -1e9, 1e9)):
        try:
            value = parse()
        except UsageError as exc:
            assert "X" in exc.message
        else:
            assert math.isfinite(value) and text.strip().lstrip("+-").replace(".", "").replace("e", "").isascii()
            assert str(value) != "-0.0"


@pytest.mark.parametrize("text", ["~0/", "~nosuchuser/model.gguf", "~nosuchuser"])
def test_a_tilde_that_names_no_user_is_a_usage_error(text, monkeypatch, tmp_path):
    with pytest.raises(UsageError, match="no user"):
        environment.expand_user(text, "-m")
    monkeypatch.setenv("EDGEJUDGE_HOME", text)
    with pytest.raises(UsageError, match="EDGEJUDGE_HOME"):
        disk.home()
    assert environment.expand_user("~/x", "-m") == Path.home() / "x"
    assert environment.expand_user("./~0/x", "-m") == Path("./~0/x")


REFUSED_FLAGS = {("--threads", "10000"), ("--threads", str(2**40)), ("--threads", "0"), ("--batch", "-5"),
                 ("--batch", "0"), ("--ubatch", "-2"), ("--gpu-layers", "-2"), ("--gpu-layers", str(2**40))}


@pytest.mark.parametrize("value", ["10000", "0", "-2", "-5", "2**40", str(2**40), "٣", "²", "1e400", "nan", "-0"])
def test_flag_values_for_llama_settings_are_checked_before_llama_sees_them(value):
    from click.testing import CliRunner

    from edgejudge.cli import cli

    for flag in ("--threads", "--gpu-layers", "--batch", "--ubatch"):
        result = CliRunner().invoke(cli, ["doctor", "--json", flag, value])
        assert result.exit_code in (0, 2), (flag, value, result.output)
        if (flag, value) in REFUSED_FLAGS:
            assert result.exit_code == 2, (flag, value, result.output)


def test_numbers_a_model_or_a_server_writes_are_read_without_int_errors(monkeypatch):
    from types import SimpleNamespace

    from edgejudge.backends import remote, transport
    from edgejudge.judging import parsers

    assert parsers._normalise_number("9" * 5000) == "9" * 5000  # int(float(...)) was an OverflowError
    assert parsers._normalise_number("4.0") == "4" and parsers._normalise_number("²") == "²"

    class Answer:  # an HTTP response whose Content-Length is a digit int() refuses
        def __init__(self, length):
            self.length, self.parts = length, [b"{}", b""]

        def getheader(self, name):
            return self.length

        def read1(self, n):
            return self.parts.pop(0)

        def read(self):
            return b""

    for length in ("²", "٣", "-1", "2"):
        assert transport._read(Answer(length)) == b"{}"
    with pytest.raises(transport.BodyTooLarge, match="5,000-digit"):
        transport._read(Answer("1" * 5000))
    slept = []
    monkeypatch.setattr(remote.time, "sleep", slept.append)
    client = SimpleNamespace(settings=SimpleNamespace(backoff=0.0))
    for retry_after in ("²", "٣", "9" * 400, "soon", "3"):
        remote.Client._wait(client, 1, retry_after)
    assert slept == [0.0, 0.0, 30.0, 0.0, 3.0]


def test_deeply_nested_json_from_a_sidecar_a_model_or_a_server_is_refused(tmp_path, no_hang):
    from edgejudge.backends import answers
    from edgejudge.errors import RemoteError
    from edgejudge.judging import parsers
    from edgejudge.store import carry

    gguf = tmp_path / "judge.gguf"
    gguf.write_bytes(b"GGUF")
    deep = "[" * 100_000 + "]" * 100_000
    carry.sidecar_path(gguf).write_text(deep)
    with pytest.raises(ModelFileError, match="nests deeper"):
        carry.read_sidecar(gguf)
    carry.sidecar_path(gguf).unlink()
    os.mkfifo(carry.sidecar_path(gguf))
    with pytest.raises(ModelFileError, match="FIFO"):
        carry.read_sidecar(gguf)
    assert parsers._json_object("{" * 100_000 + "}" * 100_000) is None
    with pytest.raises(RemoteError, match="nested too deeply"):
        answers.decode(deep.encode(), "host", "/v1/completions")


@pytest.mark.parametrize("args", [["score", "~0/in.jsonl"], ["score", "/dev/null", "-o", "~0/out.jsonl"],
                                  ["eval", "~nosuchuser/gold.jsonl"], ["calibrate", "~0/gold.jsonl"],
                                  ["import", "~0/m.gguf", "--as", "x:Q4_0"], ["parse", "~0/out.txt"],
                                  ["judge", "-m", "~0/", "--prompt", "x", "--response", "y"],
                                  ["doctor", "-m", "~nosuchuser/model.gguf"]])
def test_a_path_with_a_tilde_of_no_user_is_never_an_internal_error(args, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from edgejudge.cli import cli

    monkeypatch.chdir(tmp_path)  # paths other than -m are taken as given: a folder named "~0" here
    result = CliRunner().invoke(cli, args)
    assert 2 <= result.exit_code <= 15 or (args[0] == "doctor" and result.exit_code == 0), result.output
    assert "internal error" not in result.output
