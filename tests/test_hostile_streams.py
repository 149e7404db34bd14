"""Hostile input for ``score`` and ``serve``: pipes read once, outputs that are inputs, two
writers, poison options, error records on resume, signals, closed and full outputs, huge lines.

Every case asserts the exit code, that stdout (or the output file) holds only whole records, and
that no input byte and no byte of an earlier output is lost. The subprocess cases run
``python -m edgejudge`` with the real SmolLM2 model (``--no-explain --threads 1``: one thread
keeps them quick on a busy machine) and are marked ``hostile``; they are in the default run.
"""

from __future__ import annotations

import collections
import errno
import io
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgejudge.errors import InputError, OutputError, UsageError
from edgejudge.formats import JudgeOptions, option_rules
from edgejudge.streams import outfile, reader, resume, stream
from edgejudge.streams.signals import StopSignals

FAST = ("--no-explain", "--threads", "1", "-q")
LINUX = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc, or writes /dev/full")


def item(i, **extra):
    return {"id": f"item-{i}", "prompt": f"What is {i} + {i}?", "response_a": str(2 * i),
            "response_b": str(2 * i + 1), **extra}


def jsonl(records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records)


def whole_records(data: bytes) -> list[dict]:
    """The records in ``data``, failing unless every line is one whole JSON record."""
    assert data == b"" or data.endswith(b"\n"), f"torn last record: ...{data[-80:]!r}"
    records = [orjson.loads(line) for line in data.splitlines()]
    assert all(r["status"] in ("ok", "error") and isinstance(r["line"], int) for r in records)
    return records


def popen(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edgejudge", *args], stdout=kwargs.pop("stdout", subprocess.PIPE),
                            stderr=subprocess.PIPE, **kwargs)


def wait_for(check, timeout=120.0, what="a condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def handles_sigterm(pid: int) -> bool:
    """Whether the process has installed its SIGTERM handler (Linux: the SigCgt mask)."""
    with open(f"/proc/{pid}/status") as status:
        caught = next(line for line in status if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl([item(i) for i in range(3)]))
    return path


# -- 1. an input is read once: pipes, FIFOs, /dev/stdin --------------------------------------

PIPES = {
    "process substitution": 'edgejudge_score <(cat "$IN") -o "$OUT"',
    "fifo": 'mkfifo "$OUT.fifo" && (cat "$IN" > "$OUT.fifo" &) && edgejudge_score "$OUT.fifo" -o "$OUT"',
    "/dev/stdin": 'cat "$IN" | edgejudge_score /dev/stdin -o "$OUT"',
}


@pytest.mark.hostile
@pytest.mark.parametrize("how", list(PIPES))
def test_a_pipe_is_judged_not_counted_away(how, source, tmp_path):
    out = tmp_path / "out.jsonl"
    script = f'edgejudge_score() {{ "{sys.executable}" -m edgejudge score {" ".join(FAST)} "$@"; }}; {PIPES[how]}'
    before = source.read_bytes()
    done = subprocess.run(["bash", "-c", script], check=False, env={**os.environ, "IN": str(source), "OUT": str(out)},
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert [r["id"] for r in whole_records(out.read_bytes())] == ["item-0", "item-1", "item-2"]
    assert source.read_bytes() == before


def test_lines_are_counted_only_in_regular_files(source):
    with open(source, "rb") as handle:
        assert reader.count_lines(handle) == 3
        assert handle.read() == source.read_bytes()  # counting did not move the read position
    read_end, write_end = os.pipe()
    os.write(write_end, source.read_bytes())
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        assert reader.count_lines(pipe) is None
        assert pipe.read() == source.read_bytes()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=120).map(lambda b: b.replace(b"\n", b"")), max_size=8), st.booleans(),
       st.integers(1, 100))
def test_pipe_reader_gives_the_lines_a_file_reader_gives(lines, final_newline, limit):
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    expected = list(reader.read_lines(io.BytesIO(data), limit))
    read_end, write_end = os.pipe()
    os.write(write_end, data)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        assert list(reader.read_lines(pipe, limit, StopSignals().interruptible)) == expected
    for part in expected:
        if isinstance(part, reader.Oversized):
            assert part.size > limit
        else:
            assert len(part.rstrip(b"\n")) <= limit


# -- 2. -o is checked before anything, and replaced only when the run starts -------------------

def _same_file_cases(tmp_path, source):
    (tmp_path / "link.jsonl").symlink_to(source)
    os.link(source, tmp_path / "hard.jsonl")
    return {
        "same path": ([str(source), "-o", str(source)], None),
        "symlink to the input": ([str(source), "-o", str(tmp_path / "link.jsonl")], None),
        "input through a symlink": ([str(tmp_path / "link.jsonl"), "-o", str(source)], None),
        "hard link": ([str(source), "-o", str(tmp_path / "hard.jsonl")], None),
        "resume into the input": ([str(source), "-o", str(source), "--resume"], None),
        "stdin redirected from the output": (["-", "-o", str(source)], source),
    }


@pytest.mark.hostile
def test_an_output_that_is_the_input_is_refused(tmp_path, source, run_cli):
    before = source.read_bytes()
    for name, (args, stdin) in _same_file_cases(tmp_path, source).items():
        with open(stdin or os.devnull, "rb") as feed:
            done = subprocess.run([sys.executable, "-m", "edgejudge", "score", *args, *FAST], check=False, stdin=feed,
                                  capture_output=True, timeout=120)
        assert done.returncode == 2, (name, done.stderr)
        assert b"is the input file itself" in done.stderr, name
        assert done.stdout == b"" and source.read_bytes() == before, name


@pytest.mark.hostile
@pytest.mark.parametrize("why", ["typo in -m", "unreachable server", "bad flag value"])
def test_an_earlier_output_survives_a_run_that_never_starts(why, tmp_path, source, run_cli):
    out = tmp_path / "results.jsonl"
    earlier = jsonl([{"id": "old", "line": 1, "status": "ok", "verdict": "A"}])
    out.write_bytes(earlier)
    extra = {"typo in -m": ["-m", "smollm2-135n"],
             "unreachable server": ["--backend", "openai", "--base-url", "http://127.0.0.1:9", "--retries", "0"],
             "bad flag value": ["--seed", "-1"]}[why]
    done = run_cli("score", str(source), "-o", str(out), *FAST, *extra)
    assert done.returncode in (2, 3, 7), done.stderr
    assert out.read_bytes() == earlier
    assert not out.with_name("results.jsonl.lock").exists()


@pytest.mark.parametrize("make", ["directory", "fifo", "device"])
def test_an_output_that_is_not_a_regular_file_is_refused(make, tmp_path, source):
    target = {"directory": tmp_path, "device": Path(os.devnull), "fifo": tmp_path / "f"}[make]
    if make == "fifo":
        os.mkfifo(target)
    with open(source, "rb") as handle, pytest.raises(UsageError, match="not a regular file"):
        outfile.OutputFile(target, source_fd=handle.fileno())


# -- 3. one writer per output -----------------------------------------------------------------

def test_a_second_writer_is_refused_and_told_who_holds_the_output(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"earlier\n")
    with outfile.OutputFile(out):
        with pytest.raises(OutputError, match=rf"held by pid {os.getpid()} on ") as refused:
            outfile.OutputFile(tmp_path / "." / "out.jsonl")
        assert refused.value.exit_code == 14 and "--resume" in refused.value.hint
    assert out.read_bytes() == b"earlier\n" and not (tmp_path / "out.jsonl.lock").exists()
    with outfile.OutputFile(out):  # released: the next run takes it
        pass


@pytest.mark.hostile
def test_a_locked_output_then_sigterm_on_idle_stdin(tmp_path, source, run_cli):
    """Two runs on one output: the second is refused at once; the first, idle on stdin, stops at SIGTERM."""
    out = tmp_path / "out.jsonl"
    first = popen("score", "-", "-o", str(out), *FAST, stdin=subprocess.PIPE)
    try:
        first.stdin.write(jsonl([item(1)]))
        first.stdin.flush()
        wait_for(lambda: out.exists() and out.read_bytes().endswith(b"\n"), what="the first record")
        second = run_cli("score", str(source), "-o", str(out), *FAST, "--resume")
        assert second.returncode == 14, second.stderr
        assert f"held by pid {first.pid}".encode() in second.stderr
        started = time.time()
        first.send_signal(signal.SIGTERM)  # stdin stays open and idle
        assert first.wait(timeout=30) == 130
        assert time.time() - started < 10, "SIGTERM waited for input"
    finally:
        first.kill()
        first.wait()
    assert [r["id"] for r in whole_records(out.read_bytes())] == ["item-1"]


def test_resume_repairs_duplicates_keeping_the_first(tmp_path):
    out = tmp_path / "out.jsonl"
    first = [{"id": f"x{i}", "line": i, "status": "ok", "n": 1} for i in (1, 2, 3)]
    second = [{"id": f"x{i}", "line": i, "status": "ok", "n": 2} for i in (1, 2)]
    same_id_other_line = {"id": "x1", "line": 4, "status": "ok", "n": 3}  # an input with a repeated id
    out.write_bytes(jsonl([first[0], second[0], first[1], second[1], first[2], same_id_other_line]) + b'{"id": "x9"')
    mode = 0o640
    out.chmod(mode)
    earlier = resume.read(out)
    assert earlier.duplicates == 2 and earlier.torn
    assert out.read_bytes().endswith(b'{"id": "x9"')  # reading changes nothing
    earlier.apply()
    assert whole_records(out.read_bytes()) == [*first, same_id_other_line]
    assert out.stat().st_mode & 0o777 == mode
    assert earlier.done == collections.Counter({'"x1"': 2, '"x2"': 1, '"x3"': 1})


# -- 4. every option value is checked, as a record, a usage error, or an API error -------------

OPTION_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True),
                          st.text(max_size=5), st.lists(st.integers(), max_size=2))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["explain", "max_explain_tokens", "think", "think_budget", "keep_reasoning",
                                        "swap", "tie_on_disagreement", "seed", "temperature"]), OPTION_VALUES,
                       min_size=1, max_size=3))
def test_any_option_value_is_a_record_never_a_crash(smollm2_judge, overrides):
    if overrides.get("explain") is True:
        overrides["explain"] = False  # the explanation is slow and beside the point
    records = list(smollm2_judge.score_many([item(1, options=overrides)], explain=False))
    assert [r["line"] for r in records] == [1]
    try:
        JudgeOptions(**{"explain": False, **{k: v for k, v in overrides.items() if k in option_rules.PER_LINE}})
        valid = set(overrides) <= set(option_rules.PER_LINE)
    except InputError:
        valid = False
    if valid:
        assert records[0]["status"] == "ok", records[0]
    else:
        assert records[0]["status"] == "error" and records[0]["error"]["code"] == "bad_options"


BAD_OPTIONS = [{"seed": -1}, {"seed": "abc"}, {"seed": 1.5}, {"seed": 2**32}, {"max_explain_tokens": 5000.5},
               {"max_explain_tokens": 0}, {"think_budget": -1}, {"swap": "yes"}, {"explain": 1}, "swap", [],
               {"bogus": 1}]


def test_bad_options_become_error_records_and_the_run_goes_on(smollm2_judge):
    scorer = stream.Scorer(smollm2_judge, JudgeOptions(explain=False))
    out: list[dict] = []
    lines = [orjson.dumps(item(i, options=bad)) for i, bad in enumerate(BAD_OPTIONS)] + [orjson.dumps(item(99))]
    summary = stream.run(scorer, lines, out.append)
    assert [r["status"] for r in out] == ["error"] * len(BAD_OPTIONS) + ["ok"]
    assert summary.failed == len(BAD_OPTIONS) and summary.ok == 1
    assert all(r["error"]["code"] == "bad_options" for r in out[:-1])
    assert [r["id"] for r in out] == [f"item-{i}" for i in range(len(BAD_OPTIONS))] + ["item-99"]
    for bad in BAD_OPTIONS:  # the API checks by the same rules
        if isinstance(bad, dict) and "bogus" not in bad:
            with pytest.raises(InputError, match="option"):
                smollm2_judge.judge(item(1), **bad)


def test_bad_flag_values_are_usage_errors(run_cli):
    for flags in (["--seed", "-1"], ["--max-explain-tokens", "0"], ["--think-budget", "-5"], ["--seed", "4294967296"]):
        done = run_cli("judge", "--prompt", "p", "--response-a", "a", "--response-b", "b", *flags)
        assert done.returncode == 2, (flags, done.stderr)
        assert done.stdout == b"" and flags[0].encode() in done.stderr


# -- 5. resume judges transient errors again, and counts errors --------------------------------

@pytest.mark.hostile
def test_resume_retries_transient_errors_and_reports_the_rest(tmp_path, source, run_cli):
    out = tmp_path / "out.jsonl"
    assert run_cli("score", str(source), "-o", str(out), *FAST).returncode == 0
    records = whole_records(out.read_bytes())
    records[1] = {"id": "item-1", "line": 2, "status": "error", "error": {"code": "timeout", "message": "slow"}}
    records[2] = {"id": "item-2", "line": 3, "status": "error", "error": {"code": "bad_value", "message": "no"}}
    out.write_bytes(jsonl(records))
    kept = jsonl(records[:1])

    done = run_cli("score", str(source), "-o", str(out), "--resume", "--no-explain", "--threads", "1")
    assert done.returncode == 9, done.stderr  # the permanent error is still in the output
    assert b"1 earlier errors retried" in done.stderr and b"holds 1 error records" in done.stderr
    after = whole_records(out.read_bytes())
    assert out.read_bytes().startswith(kept)  # the earlier ok record, byte for byte
    assert [(r["id"], r["status"]) for r in after] == [("item-0", "ok"), ("item-2", "error"), ("item-1", "ok")]

    done = run_cli("score", str(source), "-o", str(out), "--resume", "--retry-errors", *FAST)
    assert done.returncode == 0, done.stderr
    assert sorted((r["line"], r["status"]) for r in whole_records(out.read_bytes())) == [(1, "ok"), (2, "ok"), (3, "ok")]


def test_resume_refuses_a_file_edgejudge_did_not_write(tmp_path, source):
    with pytest.raises(UsageError, match="not a record edgejudge wrote"):
        resume.read(source)


# -- 9. signals, closed and full outputs -------------------------------------------------------

@pytest.mark.hostile
@LINUX
def test_sigterm_never_tears_a_big_record_on_a_pipe(tmp_path):
    big = [item(i, id=f"{i}-" + "x" * 300_000) for i in range(3)]  # each record > 64 KiB, the pipe's buffer
    source = tmp_path / "big.jsonl"
    source.write_bytes(jsonl(big))
    proc = popen("score", str(source), *FAST)
    try:
        wait_for(lambda: "pipe_write" in Path(f"/proc/{proc.pid}/wchan").read_text(), what="a blocked write")
        proc.send_signal(signal.SIGTERM)  # in the middle of a record the pipe cannot take at once
        time.sleep(0.3)
        data = proc.stdout.read()
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
        proc.wait()
    records = whole_records(data)
    assert 1 <= len(records) < 3 and [r["id"] for r in records] == [r["id"] for r in big[: len(records)]]


@pytest.mark.hostile
@LINUX
def test_serve_stopped_while_loading_exits_0(tmp_path):
    proc = popen("serve", "--stdio", "--no-explain", "--threads", "1", stdin=subprocess.PIPE)
    try:
        wait_for(lambda: handles_sigterm(proc.pid), timeout=60, what="the SIGTERM handler")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out == b""


@pytest.mark.hostile
@LINUX
@pytest.mark.parametrize("where", ["closed pipe", "full device", "closed stdout"])
def test_an_output_that_cannot_take_records_is_a_clear_error(where, source):
    if where == "closed pipe":
        read_end, write_end = os.pipe()
        os.close(read_end)
        stdout, expect = write_end, b"broken pipe"
    elif where == "full device":
        stdout, expect = os.open("/dev/full", os.O_WRONLY), b"no space left"
    else:
        stdout, expect = None, b"stdout is closed"
    args = [sys.executable, "-m", "edgejudge", "score", str(source), *FAST]
    if stdout is None:  # started with descriptor 1 closed
        done = subprocess.run(args, check=False, stderr=subprocess.PIPE, timeout=300,
                              preexec_fn=lambda: os.close(1))
    else:
        done = subprocess.run(args, check=False, stdout=stdout, stderr=subprocess.PIPE, timeout=300)
        os.close(stdout)
    assert done.returncode == 14, done.stderr
    assert expect in done.stderr and b"internal error" not in done.stderr


class ShortWrites:
    """os.write that takes 7 bytes per call and fails with ENOSPC after ``room`` bytes."""

    def __init__(self, room: int):
        self.room = room
        self.data = bytearray()

    def __call__(self, fd, data):
        if len(self.data) >= self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        part = bytes(data[: min(7, self.room - len(self.data))])
        self.data += part
        return len(part)


def test_the_writer_finishes_short_writes_and_names_a_full_disk(monkeypatch):
    record = {"id": "x", "line": 1, "status": "ok", "text": "y" * 100}
    fake = ShortWrites(room=10_000)
    monkeypatch.setattr(outfile.os, "write", fake)
    writer = stream.LineWriter(99, "out.jsonl")
    writer(record)
    writer(record)
    assert whole_records(bytes(fake.data)) == [record, record]
    fake.room = len(fake.data) + 50
    with pytest.raises(OutputError, match="no space left") as full:
        writer(record)
    assert full.value.code == "disk_full" and "--resume" in full.value.hint


@pytest.mark.hostile
@pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0, reason="mounting a small tmpfs needs root on Linux")
def test_a_full_then_read_only_file_system_keeps_whole_records_and_resumes(tmp_path, source, run_cli):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(mount)], check=False).returncode:
        pytest.skip("this container cannot mount tmpfs")
    try:
        many = tmp_path / "many.jsonl"
        many.write_bytes(jsonl([item(i) for i in range(12)]))  # ~0.9 KB per record: more than 8 KiB
        out = mount / "out.jsonl"
        full = run_cli("score", str(many), "-o", str(out), *FAST)
        assert full.returncode == 14 and b"no space left" in full.stderr, full.stderr
        written = out.read_bytes()
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        refused = run_cli("score", str(many), "-o", str(out), "--resume", *FAST)
        assert refused.returncode == 14 and b"Read-only" in refused.stderr, refused.stderr
        subprocess.run(["mount", "-o", "remount,rw,size=1m", str(mount)], check=True)
        done = run_cli("score", str(many), "-o", str(out), "--resume", *FAST)
        assert done.returncode == 0, done.stderr
        final = out.read_bytes()
        cut = written[: written.rfind(b"\n") + 1]
        assert final.startswith(cut)  # every whole record of the full disk kept, byte for byte
        assert [r["id"] for r in whole_records(final)] == [f"item-{i}" for i in range(12)]
    finally:
        subprocess.run(["umount", str(mount)], check=False)


# -- 10a. a huge line is refused by its size, unread -------------------------------------------

def test_a_huge_line_is_skipped_in_bounded_memory(smollm2_judge, tmp_path):
    scorer = stream.Scorer(smollm2_judge, JudgeOptions(explain=False))
    huge = b'{"id": "huge", "prompt": "' + b"x" * (50 * 2**20) + b'", "response_a": "a", "response_b": "b"}'
    path = tmp_path / "huge.jsonl"
    path.write_bytes(jsonl([huge, item(2)]))
    tracemalloc.start()
    try:
        with open(path, "rb") as handle:
            sizes = [len(x) if isinstance(x, bytes) else x for x in reader.read_lines(handle, scorer.max_line_bytes)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sizes[0] == reader.Oversized(len(huge)) and len(sizes) == 2
    assert peak < 4 * scorer.max_line_bytes, f"{peak:,} bytes traced to read past a 50 MiB line"
    out: list[dict] = []
    with open(path, "rb") as handle:
        stream.run(scorer, handle, out.append)
    assert [r["status"] for r in out] == ["error", "ok"]
    error = out[0]["error"]
    assert error["code"] == "line_too_long" and f"{scorer.max_line_bytes:,}" in error["message"]
    assert "8,192-token" in error["message"] and out[0]["line"] == 1 and out[0]["id"] == 1
