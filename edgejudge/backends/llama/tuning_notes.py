"""What people are told about tuning (``tuning.py``): how long the first-use measurement will take,
and one measured candidate as a line (``edgejudge tune`` says each as it is measured)."""

from __future__ import annotations


# Said where nothing was measured on this machine yet: what the first-use measurement took on 2
# cores of an AMD EPYC (docs/speed.md: 21 s for a 4B judge, 76 s for the 14B, quiet machine).
FIRST_USE_RANGE = ("on 2 CPU cores it took 21 s for a 4B judge and 76 s for a 14B one, less for small "
                   "models, more on a busy machine")


def expected_duration(records: dict) -> str:
    """How long the first-use measurement will take, said honestly: what the last quick
    measurement on this machine took (``records``: tuning.json, read as untrusted), else a
    measured range."""
    last: tuple[float, float, dict] | None = None
    for record in records.values():
        if not isinstance(record, dict) or record.get("mode") != "quick":
            continue
        seconds, at, key = record.get("seconds"), record.get("measured_at"), record.get("key")
        if not isinstance(seconds, (int, float)) or not isinstance(at, (int, float)) or \
                isinstance(seconds, bool) or isinstance(at, bool) or not (0 < seconds < 1e12 and 0 < at < 1e12):
            continue  # a number of seconds at a time, or nothing said
        if last is None or at > last[1]:
            last = (float(seconds), float(at), key if isinstance(key, dict) else {})
    if last is None:
        return FIRST_USE_RANGE
    what = " ".join(str(last[2].get(k)) for k in ("architecture", "quant") if isinstance(last[2].get(k), str))
    return f"it took {last[0]:.0f} s last time on this machine{' (' + what + ')' if what else ''}"


def figure_line(figure: dict) -> str:
    """One measured candidate, for people."""
    s = figure["settings"]
    flash = f", flash {s['flash_attn']}" if "flash_attn" in s else ""  # not a tuned setting (docs/speed.md)
    return (f"repacking {'on' if s['extra_bufts'] else 'off'}{flash}, {s['threads']} threads, "
            f"batch {s['n_batch']}/{s['n_ubatch']}: {figure['prompt_tps']:.1f} prompt t/s, "
            f"{figure['decode_tps']:.1f} decode t/s")
