"""The one exception tree of edgejudge.

Every error a user can meet is an :class:`EdgejudgeError`. Each class carries the process exit
code the CLI uses for it and a short machine-readable ``code`` that JSONL error records carry.
Messages say what is wrong and how to fix it; the CLI prints them on stderr in one place
(``cli.main``), the API raises them as they are.

Exit codes (also in docs/exit-codes.md):

====  =======================  ==============================================================
code  class                    meaning
====  =======================  ==============================================================
0                              success
1     EdgejudgeError           unexpected failure (a bug: please report it)
2     UsageError               bad command-line flags or arguments
3     ModelNotFound            the model is neither registered, installed nor a file
4     ModelFileError           the model file is corrupt, truncated, foreign or tampered with
5     InputError               an input item is invalid (missing field, bad scale, bad JSON)
6     ContextOverflow          the prompt does not fit in the model's context
7     RuntimeFailure           llama.cpp failed while loading or evaluating
      RemoteError              (its subclass) a request to the remote server failed
8     RegistryError            models.toml (or a format table) is invalid
9     PartialFailure           a batch finished, but some lines failed (see their records)
10    ConversionError          a checkpoint could not be converted or quantized
11    DownloadError            a model could not be downloaded (or offline mode forbids it)
12    GrammarError             a GBNF grammar did not compile against the vocabulary
13    ParseError               a free-running judge output holds no valid verdict
14    OutputError              the output cannot be written (full disk, read-only, closed pipe,
                               or another run holds it)
15    StoreError               the model store ($EDGEJUDGE_HOME) is not a usable directory
16    DiskSpaceError           not enough free disk for a download and its conversion (checked first)
130   Interrupted              stopped by Ctrl-C or SIGTERM
====  =======================  ==============================================================
"""

from __future__ import annotations


class EdgejudgeError(Exception):
    """Unexpected failure inside edgejudge (exit 1)."""

    exit_code = 1
    code = "internal_error"

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code:  # a finer code for JSONL records than the class's own
            self.code = code

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message

    def to_record(self) -> dict:
        """The error as the ``error`` object of a JSONL record."""
        record = {"code": self.code, "message": self.message}
        if self.hint:
            record["hint"] = self.hint
        return record


class UsageError(EdgejudgeError):
    """Bad command-line flags or arguments (exit 2)."""

    exit_code = 2
    code = "usage"


class ModelNotFound(EdgejudgeError):
    """The model is neither a registered id, an installed model, nor an existing file (exit 3)."""

    exit_code = 3
    code = "model_not_found"


class ModelFileError(EdgejudgeError):
    """The model file is corrupt, truncated, foreign or does not match its checksum (exit 4)."""

    exit_code = 4
    code = "model_file"


class InputError(EdgejudgeError):
    """An input item is invalid: missing or mistyped field, unknown task, bad scale (exit 5)."""

    exit_code = 5
    code = "invalid_input"


class ContextOverflow(InputError):
    """The prompt and its generation budget do not fit in the model's context (exit 6)."""

    exit_code = 6
    code = "context_overflow"


class RuntimeFailure(EdgejudgeError):
    """llama.cpp failed while loading the model, creating a context or evaluating (exit 7)."""

    exit_code = 7
    code = "runtime"


class RemoteError(RuntimeFailure):
    """A request to an OpenAI-compatible server (--backend openai) failed (exit 7)."""

    code = "backend"


class RegistryError(EdgejudgeError):
    """models.toml or a judge-format table is invalid (exit 8)."""

    exit_code = 8
    code = "registry"


class PartialFailure(EdgejudgeError):
    """A batch ran to the end but some of its lines became error records (exit 9)."""

    exit_code = 9
    code = "partial_failure"


class ConversionError(EdgejudgeError):
    """A checkpoint could not be converted to GGUF, or a GGUF could not be quantized (exit 10)."""

    exit_code = 10
    code = "conversion"


class DownloadError(EdgejudgeError):
    """A model could not be downloaded, or offline mode forbids the download (exit 11)."""

    exit_code = 11
    code = "download"


class GrammarError(EdgejudgeError):
    """A GBNF grammar failed to compile against the model's vocabulary (exit 12)."""

    exit_code = 12
    code = "grammar"


class ParseError(EdgejudgeError):
    """A judge's free-running output holds no valid verdict (exit 13)."""

    exit_code = 13
    code = "parse"


class OutputError(EdgejudgeError):
    """The output cannot be written: full disk, read-only place, closed pipe, held by another run, or its
    lock file is a link, FIFO or directory (exit 14)."""

    exit_code = 14
    code = "output"


class StoreError(EdgejudgeError):
    """The model store ($EDGEJUDGE_HOME) is not a usable directory, or a path in it leads outside (exit 15)."""

    exit_code = 15
    code = "store"


class DiskSpaceError(EdgejudgeError):
    """Not enough free disk for a pull's download and conversion, found before it starts (exit 16)."""

    exit_code = 16
    code = "disk_space"


class Interrupted(EdgejudgeError):
    """The run was stopped by Ctrl-C or SIGTERM (exit 130)."""

    exit_code = 130
    code = "interrupted"
