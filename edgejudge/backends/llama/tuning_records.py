"""``<store>/tuning.json``: the tuned settings per key, read back as untrusted (docs/hardening.md).

The file is read by the one state-file reader (a FIFO, a device or a link is never read, size and
depth are bounded), and a record is checked against its shape before any of it is used: threads
from 1 to the CPUs this process may use, batch sizes from 1 to the model's context, booleans and
choices as they must be. A bad record is one line on stderr and is measured again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from edgejudge import schema, state_files
from edgejudge.backends.llama import hardware
from edgejudge.backends.llama.settings import MAX_BATCH
from edgejudge.files import write_atomic

log = logging.getLogger("edgejudge")

MAX_REPS = 100
RECORDS_MAX_BYTES = 4 << 20  # a full record is a few kB; thousands of keys fit


def tuning_file() -> Path:
    from edgejudge.store import disk

    return disk.home() / "tuning.json"


def key_id(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


def settings_shape(max_threads: int, max_batch: int) -> schema.Obj:
    """One candidate's settings as a record holds them; threads up to the CPUs this process may
    use, batch sizes up to the model's context."""
    return schema.Obj({"threads": schema.Int(1, max_threads), "extra_bufts": schema.Bool(),
                       "n_batch": schema.Int(1, max_batch), "n_ubatch": schema.Int(1, max_batch)},
                      {"flash_attn": schema.OneOf(("on", "off", "auto"))})


def record_shape(max_threads: int | None = None, max_batch: int | None = None) -> schema.Obj:
    """What a tuning record must be before any of it is used (docs/hardening.md: state files)."""
    settings = settings_shape(max_threads or hardware.affinity_cpus(), max_batch or MAX_BATCH)
    rate = schema.Num(0, 1e9, above=True)
    figure = schema.Obj({"settings": settings, "prompt_tps": rate, "decode_tps": rate},
                        {"prompt_tps_all": schema.ListOf(schema.Num(0, 1e9), MAX_REPS),
                         "decode_tps_all": schema.ListOf(schema.Num(0, 1e9), MAX_REPS)})
    count = schema.Int(0, 1 << 24)
    return schema.Obj(
        {"key": schema.MapOf(schema.Str(), max_len=32), "mode": schema.OneOf(("quick", "full")),
         "measured_at": schema.Num(0, 1e11), "figures": schema.ListOf(figure, 1000, min_len=1),
         "choice": schema.Obj({"no_think": settings}, {"think": settings})},
        {"seconds": schema.Num(0, 1e9), "model": schema.Str(),
         "plan": schema.Obj({"prompt_tokens": count, "decode_tokens": count, "reps": count}),
         "workloads": schema.MapOf(schema.Obj({"prompt_tokens": count, "decode_tokens": count}), max_len=8)})


def records(path: Path | None = None, *, quiet: bool = False,
            consequence: str = "the settings are measured again (a new file replaces it)") -> dict:
    """Every record in the tuning file by key id, unchecked (:func:`lookup` checks the one it uses);
    an unusable file (not a regular file, too big, not a JSON object) is empty, with a line on
    stderr unless ``quiet``."""
    path = path or tuning_file()
    read = state_files.read_state_json(path, schema.MapOf(schema.Anything(), max_len=100_000),
                                       max_bytes=RECORDS_MAX_BYTES)
    if read.problem and not quiet:
        state_files.ignored(path, read.problem, consequence)
    return read.value if read.ok else {}


def lookup(key: dict, *, max_batch: int | None = None,
           consequence: str = "the settings are measured again on the next run") -> dict | None:
    """The valid record stored for ``key``, or None (with a line on stderr when the stored one is
    invalid: tuning is redone, never an exit 1 or a crash). ``max_batch``: the model's context."""
    path = tuning_file()
    raw = records(path, consequence=consequence).get(key_id(key))
    if raw is None:
        return None
    try:
        record = record_shape(max_batch=max_batch)(raw)
    except schema.Invalid as exc:
        state_files.ignored(path, f"holds an invalid record for this model ({exc})", consequence)
        return None
    return record if record["key"] == key else None


def store(record: dict) -> None:
    path = tuning_file()
    data = records(path, quiet=True)
    data[key_id(record["key"])] = record
    try:
        write_atomic(path, json.dumps(data, indent=1, sort_keys=True).encode())
    except OSError as exc:
        log.info("could not save the tuning result to %s (%s); it will be measured again", path, exc.strerror)
