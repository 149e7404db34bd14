"""Load a GGUF straight into llama.cpp, past edgejudge's checks, and decode a few tokens.

Run as a script by the slow hostile-model tests, in a subprocess of its own, to prove what
llama.cpp itself does with a file: prints LOADS or REFUSED (exit 0 / 3), or dies of SIGABRT.
"""

import sys
from pathlib import Path

from edgejudge.backends.llama import runtime
from edgejudge.backends.llama.engine import Engine
from edgejudge.errors import ModelFileError


def main(path: str) -> int:
    info = runtime.resolve(runtime.RuntimeSettings())
    try:
        model = runtime.LoadedModel(Path(path), info)
    except ModelFileError as exc:
        print("REFUSED", exc.message)
        return 3
    engine = Engine(model)
    tokens = model.tokenize("hello world, this is a judge")
    engine.reserve(len(tokens) + 8)
    try:
        engine.feed(tokens)
    except ModelFileError as exc:  # the non-finite logits check: the decode itself ran
        print("LOADS", exc.code)
        return 0
    print("LOADS")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
