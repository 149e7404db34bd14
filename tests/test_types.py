"""The package type-checks: embedders read edgejudge's API through their editors (py.typed)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_package_ships_type_information():
    assert (ROOT / "edgejudge" / "py.typed").is_file()


def test_mypy_finds_no_errors(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"),
                           "--config-file", str(ROOT / "pyproject.toml"), str(ROOT / "edgejudge")],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
