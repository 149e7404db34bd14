"""Every path a command writes goes through one guarded writer (edgejudge/outputs.py): each
command that writes a file the user names is walked through the same red-team cases.

An output that is an input (by name, through a symbolic link), a FIFO with no reader, a folder
that does not exist, a read-only place or a full disk: each gives a clear exit, and the input, an
earlier output and whatever was at the path are left as they were. The refusals run in process
(click's runner, no model is loaded before them); a full disk and a read-only file system are
real small tmpfs mounts where the test may mount them (root on Linux), and a simulated ENOSPC
everywhere else.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from edgejudge import outputs
from edgejudge.cli import cli
from edgejudge.errors import OutputError, UsageError

FAST = ("--no-explain", "--threads", "1")
PAIR = {"prompt": "What is 2 + 2?", "response_a": "4", "response_b": "5"}
CASES = ("input", "symlink to the input", "fifo", "missing folder", "read-only", "full disk")
CAN_MOUNT = sys.platform == "linux" and os.geteuid() == 0


def invoke(args) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output  # stdout and stderr


@pytest.fixture
def no_hang():
    """Fail (not hang) if a FIFO is opened: a refusal must come before any open."""

    def ring(*_):
        raise TimeoutError("the command waited on the FIFO")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def mounted(where: Path, *options: str):
    """A tmpfs at ``where`` (root on Linux only); unmounted at the end."""
    where.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(where)],
                      check=False, capture_output=True).returncode:
        pytest.skip("this container cannot mount a tmpfs")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


class Command:
    """One command that writes a file: its arguments for an output path, and its input file."""

    def __init__(self, name: str, make, ext: str):
        self.name, self.make, self.ext = name, make, ext

    def args(self, out: Path) -> list:
        return self.make(out)


@pytest.fixture
def commands(tmp_path, smollm2_path, checkpoints, qwen3_gguf) -> dict[str, tuple[Command, Path]]:
    gold = tmp_path / "gold.jsonl"
    gold.write_bytes(b"".join(orjson.dumps({"id": i, **PAIR, "label": "A"}) + b"\n" for i in range(2)))
    verdicts = tmp_path / "verdicts.jsonl"
    verdicts.write_bytes(b"".join(orjson.dumps({"id": i, "status": "ok", "verdict": "A",
                                                "probabilities": {"A": 0.75, "B": 0.25}}) + b"\n" for i in range(2)))
    items = tmp_path / "in.jsonl"  # enough records to fill a page of a full tmpfs
    items.write_bytes(b"".join(orjson.dumps({"id": i, **PAIR}) + b"\n" for i in range(8)))
    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoints["qwen3"], ckpt)
    base = tmp_path / "base.gguf"
    shutil.copy(qwen3_gguf["bf16"], base)
    return {
        "score -o": (Command("score", lambda o: ["score", items, "-o", o, "-q", *FAST], ".jsonl"), items),
        "eval -o": (Command("eval", lambda o: ["eval", gold, "-o", o, *FAST], ".jsonl"), gold),
        "eval --report": (Command("eval", lambda o: ["eval", gold, "--verdicts", verdicts, "--report", o], ".html"),
                          verdicts),
        "export -o": (Command("export", lambda o: ["export", "smollm2-135m", "-o", o], ".gguf"), smollm2_path),
        "convert -o": (Command("convert", lambda o: ["convert", ckpt, "-o", o, "--outtype", "f16"], ".gguf"),
                       ckpt / "model.safetensors"),
        "quantize -o": (Command("quantize", lambda o: ["quantize", base, "-o", o, "--type", "Q8_0"], ".gguf"), base),
    }


def _snapshot(path: Path):
    info = os.lstat(path)
    return stat.S_IFMT(info.st_mode), info.st_ino, path.read_bytes() if stat.S_ISREG(info.st_mode) else None


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("which", ["score -o", "eval -o", "eval --report", "export -o", "convert -o", "quantize -o"])
def test_every_command_walks_the_red_team_cases(which, case, commands, tmp_path, no_hang):
    command, source = commands[which]
    before = _snapshot(source)
    if case == "input":
        out, code, words = source, 2, "is the input file itself"
    elif case == "symlink to the input":
        out, code, words = tmp_path / f"link{command.ext}", 2, "is the input file itself (through a symbolic link)"
        out.symlink_to(source)
        if command.name == "export":  # refused as a link before the judge to export is looked up
            words = "is a symbolic link"
    elif case == "fifo":
        out, code, words = tmp_path / f"fifo{command.ext}", 2, "is a FIFO"
        os.mkfifo(out)
    elif case == "missing folder":
        out, code, words = tmp_path / "no-such-folder" / f"out{command.ext}", 2, "does not exist"
    else:
        if not CAN_MOUNT:
            pytest.skip("a read-only or full file system needs a tmpfs mount (root on Linux); "
                        "test_a_full_disk_or_read_only_place_keeps_the_old_file simulates both")
        options = ("ro", "size=64k") if case == "read-only" else ("size=4k",)
        out = _walk_on_tmpfs(command, tmp_path, options, case)
        assert _snapshot(source) == before
        return
    shown = _snapshot(out) if os.path.lexists(out) else None
    rc, said = invoke(command.args(out))
    assert rc == code, (which, case, said)
    assert words in said and "internal error" not in said, said
    assert _snapshot(source) == before, "the input changed"
    if shown is not None:
        assert _snapshot(out) == shown, "what was at the path changed"
    else:
        assert not out.parent.exists(), "a missing folder was created"


def _walk_on_tmpfs(command: Command, tmp_path: Path, options: tuple, case: str) -> Path:
    with mounted(tmp_path / "mnt", *options) as where:
        out = where / f"out{command.ext}"
        if case == "full disk":
            out.write_bytes(b"earlier results\n")  # takes the file system's only page
        rc, said = invoke(command.args(out))
        assert rc == 14, said
        if case == "read-only":
            assert "Read-only file system" in said and not out.exists()
        else:
            assert "no space left" in said, said
            if command.name != "score":  # score writes in place, record by record, for --resume
                assert out.read_bytes() == b"earlier results\n"
            assert [p.name for p in where.iterdir()] == [out.name], "a temporary file was left behind"
        return out


def test_an_earlier_output_survives_a_run_that_never_starts(tmp_path, commands):
    gold = commands["eval -o"][1]
    out, report = tmp_path / "verdicts.jsonl", tmp_path / "report.html"
    out.write_bytes(b"earlier\n")
    report.write_bytes(b"<html>earlier</html>")
    rc, said = invoke(["eval", gold, "-o", out, "--report", report, "-m", "smollm2-135n", *FAST])
    assert rc == 3, said
    assert out.read_bytes() == b"earlier\n" and report.read_bytes() == b"<html>earlier</html>"
    rc, said = invoke(["eval", gold, "-o", out, "--report", out, *FAST])  # two outputs, one file
    assert rc == 2 and "are the same file" in said


@pytest.mark.parametrize("how", ["full disk", "read-only"])
def test_a_full_disk_or_read_only_place_keeps_the_old_file(tmp_path, monkeypatch, how):
    path = tmp_path / "report.html"
    path.write_bytes(b"old")
    path.chmod(0o640)
    target = outputs.target(path, what="--report")
    if how == "full disk":
        written = []

        def full(fd, data):
            if written:
                raise OSError(errno.ENOSPC, "No space left on device")
            written.append(len(data[:7]))
            return 7

        monkeypatch.setattr(outputs.os, "write", full)
    else:
        def refuse(*args, **kwargs):
            raise OSError(errno.EROFS, "Read-only file system")

        monkeypatch.setattr(outputs.tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError) as failed:
        target.write(b"x" * 100)
    assert failed.value.exit_code == 14
    assert failed.value.code == ("disk_full" if how == "full disk" else "not_writable")
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_writes_are_atomic_and_keep_the_mode(tmp_path):
    old = os.umask(0o027)
    try:
        fresh = outputs.write_file(tmp_path / "fresh.json", b"{}\n")
        kept = tmp_path / "kept.json"
        kept.write_bytes(b"old")
        kept.chmod(0o604)
        target = outputs.target(kept)
        with pytest.raises(RuntimeError), target.replacing() as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("stopped half way")
        assert kept.read_bytes() == b"old"
        target.write(b"new")
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640 and fresh.read_bytes() == b"{}\n"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o604 and kept.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.json", "kept.json"]


def test_what_is_at_the_path_is_checked_again_before_the_rename(tmp_path):
    path = tmp_path / "out.html"
    target = outputs.target(path)
    os.mkfifo(path)  # appeared while the work ran
    with pytest.raises(UsageError, match="FIFO"):
        target.write(b"x")
    assert stat.S_ISFIFO(os.lstat(path).st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["out.html"]


@pytest.mark.parametrize("make", ["directory", "device", "symlink elsewhere", "dangling symlink", "hard link"])
def test_what_no_output_may_be(make, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"{}\n")
    other = tmp_path / "other.txt"
    other.write_bytes(b"keep")
    path = {"directory": tmp_path, "device": Path(os.devnull)}.get(make, tmp_path / "out.txt")
    if make == "symlink elsewhere":
        path.symlink_to(other)
    elif make == "dangling symlink":
        path.symlink_to(tmp_path / "nowhere.txt")
    elif make == "hard link":
        os.link(source, path)
    words = {"directory": "is a directory", "device": "is a character device",
             "hard link": "is the input file itself (through a hard link)"}.get(make, "is a symbolic link")
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")):
        outputs.target(path, inputs=[source])
    assert other.read_bytes() == b"keep" and not (tmp_path / "nowhere.txt").exists()
