"""The persistent prefix cache: file format checks, eviction, keys, and real loads into llama.cpp."""

import os

import orjson
import pytest

from edgejudge import Judge
from edgejudge.backends.llama import prefix_cache
from edgejudge.backends.llama.engine import Engine
from edgejudge.formats import JudgeOptions

SETTINGS = {"n_batch": 512, "n_ubatch": 512, "type_k": 1, "type_v": 1, "flash_attn": "auto"}
ITEM = {"prompt": "What is 2+2?", "response_a": "4", "response_b": "5"}
OTHER = {"prompt": "Name a colour.", "response_a": "Blue.", "response_b": "Seven."}


def test_a_packed_file_reads_back_and_any_damage_is_a_miss():
    key = {"model_sha256": "ab", "n_tokens": 3}
    data = prefix_cache.pack(key, 3, b"state bytes" * 100)
    header, payload = prefix_cache.parse(data)
    assert header["key"] == key and payload == b"state bytes" * 100
    flipped = bytearray(data)
    flipped[-10] ^= 0xFF
    damaged = [bytes(flipped), data[: len(data) // 2], data[:10], b"", b"X" + data[1:], data + b"extra"]
    for bad in damaged:
        assert prefix_cache.parse(bad) == (None, None)


def test_keys_change_with_model_settings_and_tokens(tmp_path):
    cache = prefix_cache.PrefixCache("a" * 64, root=tmp_path)
    base = cache.path_for(cache.key([1, 2, 3], SETTINGS))
    assert base == cache.path_for(cache.key([1, 2, 3], dict(SETTINGS)))
    others = {
        cache.path_for(cache.key([1, 2, 4], SETTINGS)),
        cache.path_for(cache.key([1, 2], SETTINGS)),
        cache.path_for(cache.key([1, 2, 3], {**SETTINGS, "flash_attn": "on"})),
        cache.path_for(cache.key([1, 2, 3], {**SETTINGS, "n_ubatch": 256})),
    }
    other_model = prefix_cache.PrefixCache("b" * 64, root=tmp_path)
    others.add(other_model.path_for(other_model.key([1, 2, 3], SETTINGS)))
    assert base not in others and len(others) == 5  # each change, its own file


def test_least_recently_used_files_are_evicted_past_the_cap(tmp_path):
    cache = prefix_cache.PrefixCache("a" * 64, root=tmp_path, cap=3500)  # room for two files (payload + header)
    paths = [cache.save([i] * 4, SETTINGS, bytes([i]) * 1000) for i in range(2)]
    os.utime(paths[0], (1, 1))  # made long ago ...
    os.utime(paths[1], (2, 2))
    assert cache.load([0] * 4, SETTINGS) == bytes([0]) * 1000  # ... but used just now
    third = cache.save([2] * 4, SETTINGS, bytes([2]) * 1000)
    assert paths[0].exists() and third.exists() and not paths[1].exists()
    assert cache.load([1] * 4, SETTINGS) is None
    assert sum(e.size for e in prefix_cache.entries(tmp_path)) <= 3500
    assert prefix_cache.clear(tmp_path)[0] == 2 and not prefix_cache.entries(tmp_path)


def test_a_file_for_other_tokens_under_the_same_name_is_a_miss(tmp_path):
    cache = prefix_cache.PrefixCache("a" * 64, root=tmp_path)
    path = cache.path_for(cache.key([1, 2, 3], SETTINGS))
    path.write_bytes(prefix_cache.pack(cache.key([9, 9, 9], SETTINGS), 3, b"x" * 64))
    assert cache.load([1, 2, 3], SETTINGS) is None


@pytest.fixture
def fresh_judge(smollm2_path):
    """SmolLM2 with its own prefix cache folder per test (the session judge is shared)."""
    judge = Judge.load(str(smollm2_path), prefix_cache=False)
    yield judge
    judge.close()


def _verdict(judge, root, item=ITEM, n_batch=None):
    """A verdict on a fresh context (as a new process would have) with the cache in ``root``."""
    judge.engine.close()
    judge.engine = Engine(judge.model, n_batch=n_batch,
                          prefix_store=None if root is None else prefix_cache.PrefixCache(judge.resolved.sha256, root=root))
    return judge.judge(item, JudgeOptions(explain=False))


@pytest.mark.model
def test_a_loaded_prefix_gives_the_probabilities_of_a_cold_evaluation(fresh_judge, tmp_path):
    off = _verdict(fresh_judge, None)
    miss = _verdict(fresh_judge, tmp_path)
    hit = _verdict(fresh_judge, tmp_path)
    assert (off.timings["prefix_cache"], miss.timings["prefix_cache"], hit.timings["prefix_cache"]) == ("off", "miss", "hit")
    assert hit.timings["prefix_cache_tokens"] > 16 and miss.timings["prefix_cache_tokens"] == 0
    assert hit.timings["reused_tokens"] == hit.timings["prefix_cache_tokens"]
    for label, p in off.probabilities.items():
        assert abs(hit.probabilities[label] - p) < 1e-4 and abs(miss.probabilities[label] - p) < 1e-4
    # a second item in the same context finds the head there already
    again = fresh_judge.judge(OTHER, JudgeOptions(explain=False))
    assert again.timings["prefix_cache"] == "hit" and again.timings["prefix_cache_tokens"] == 0


@pytest.mark.model
def test_corrupt_or_truncated_files_are_misses_and_get_rewritten(fresh_judge, tmp_path):
    cold = _verdict(fresh_judge, tmp_path)
    [entry] = prefix_cache.entries(tmp_path)
    data = entry.path.read_bytes()
    for damaged in (data[: len(data) // 2], data[:-1] + bytes([data[-1] ^ 1]), data[:8]):
        entry.path.write_bytes(damaged)
        again = _verdict(fresh_judge, tmp_path)
        assert again.timings["prefix_cache"] == "miss"
        assert again.probabilities == cold.probabilities
        assert entry.path.read_bytes() != damaged  # the evaluation saved a whole file again
    assert _verdict(fresh_judge, tmp_path).timings["prefix_cache"] == "hit"


@pytest.mark.model
def test_other_numeric_settings_do_not_share_a_file(fresh_judge, tmp_path):
    assert _verdict(fresh_judge, tmp_path).timings["prefix_cache"] == "miss"
    assert _verdict(fresh_judge, tmp_path, n_batch=128).timings["prefix_cache"] == "miss"
    assert len(prefix_cache.entries(tmp_path)) == 2
    assert _verdict(fresh_judge, tmp_path, n_batch=128).timings["prefix_cache"] == "hit"


@pytest.mark.model
def test_a_second_process_loads_the_prefix_and_cache_ls_clear(smollm2_path, run_cli, tmp_path):
    env = {"EDGEJUDGE_HOME": str(tmp_path)}
    args = ("judge", "-m", str(smollm2_path), "--no-explain", "--json", orjson.dumps(ITEM).decode())
    first, second = run_cli(*args, env=env), run_cli(*args, env=env)
    assert first.returncode == 0 and second.returncode == 0, second.stderr.decode()[-2000:]
    a, b = orjson.loads(first.stdout), orjson.loads(second.stdout)
    assert (a["timings"]["prefix_cache"], b["timings"]["prefix_cache"]) == ("miss", "hit")
    assert a["probabilities"] == b["probabilities"]
    listed = run_cli("cache", "ls", env=env)
    [entry] = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert entry["valid_header"] and entry["tokens"] == b["timings"]["prefix_cache_tokens"]
    assert entry["model_sha256"] == a["model"]["sha256"]
    cleared = run_cli("cache", "clear", env=env)
    assert orjson.loads(cleared.stdout)["removed_files"] == 1
    assert run_cli("cache", "ls", env=env).stdout == b""
    off = run_cli(*args, "--no-prefix-cache", env=env)
    assert orjson.loads(off.stdout)["timings"]["prefix_cache"] == "off"
    assert run_cli("cache", "ls", env=env).stdout == b""
