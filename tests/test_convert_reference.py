"""edgejudge's converter against llama.cpp's convert_hf_to_gguf.py on the same checkpoints.

Marked slow: it needs a Python with torch and transformers for the reference converter
(EDGEJUDGE_REFERENCE_PYTHON, default: this interpreter) and the llama-cpp-python 0.3.36 source
distribution (EDGEJUDGE_LLAMA_CPP_DIR, or downloaded from PyPI). Run with `pytest -m slow`.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "convert"))

import compare_reference  # noqa: E402

pytestmark = pytest.mark.slow
REFERENCE_PYTHON = os.environ.get("EDGEJUDGE_REFERENCE_PYTHON", sys.executable)


@pytest.fixture(scope="module")
def llama_dir():
    probe = subprocess.run([REFERENCE_PYTHON, "-c", "import torch, transformers"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"{REFERENCE_PYTHON} lacks torch/transformers (pip install torch==2.13.0 transformers==4.57.6); "
                    "set EDGEJUDGE_REFERENCE_PYTHON")
    given = os.environ.get("EDGEJUDGE_LLAMA_CPP_DIR")
    return Path(given) if given else compare_reference.llama_cpp_dir(Path(tempfile.gettempdir()) / "edgejudge-llama-cpp-sdist")


@pytest.mark.parametrize("arch, pre", [("qwen3", "qwen2"), ("qwen2", "deepseek-r1-qwen")])
@pytest.mark.parametrize("outtype", ["bf16", "f16", "q8_0"])
def test_same_tensors_and_metadata_as_llama_cpp(checkpoints, tmp_path, llama_dir, arch, pre, outtype):
    run = compare_reference.convert_both(checkpoints[arch], tmp_path, outtype=outtype, pre=pre,
                                         reference_python=REFERENCE_PYTHON, llama_dir=llama_dir)
    assert compare_reference.compare(run["ours"], run["reference"]) == []
