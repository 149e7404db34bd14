"""Start llama-cpp-python's OpenAI-compatible server (``python -m llama_cpp.server``) for the tests.

The one change: the model is loaded with weight repacking off, as edgejudge loads it, because the
library's defaults crash on CPUs that advertise AMX (see edgejudge/hardware.py). Arguments are the
server's own (``--model``, ``--host``, ``--port``, ``--n_ctx`` …).
"""

import sys

import llama_cpp.llama_cpp as lib

_defaults = lib.llama_model_default_params


def _safe_defaults():
    params = _defaults()
    params.use_extra_bufts = False
    return params


lib.llama_model_default_params = _safe_defaults

from llama_cpp.server.__main__ import main  # noqa: E402

sys.argv = ["llama_cpp.server", *sys.argv[1:]]
main()
