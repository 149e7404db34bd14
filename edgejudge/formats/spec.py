"""The judge-format tables (``formats/<family>.toml``), validated into frozen dataclasses.

A family table says how one judge family is prompted and answers: its chat layout, the text that
opens the assistant's turn, its reasoning phase (how it ends, how to close it when the budget runs
out, how to skip it), and per task the system and user templates, the labels and the native text
before them, and the explanation's grammar. ``${name}`` in a template is filled from the table
(task description, rubric lines, schema); ``{field}`` is the user's data, kept apart as data.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources

from edgejudge import tables
from edgejudge.errors import RegistryError

CHATS = ("chatml", "deepseek", "gguf")
CONVERSATIONS = ("role_blocks", "role_lines")
GRAMMARS = ("", "json_string", "sentences", "rubric_list", "answer_block", "until_answer")
# What a free-running output with two answers after the reasoning means, per the family's authors:
# the first answer counts, the last one, or (RM-R1's evaluation) both verdict markers are an error.
ANSWER_RULES = ("first", "last", "conflict_is_error")


def _one_line(name: str, text: str) -> None:
    if "\n" in text or "\r" in text:
        raise ValueError(f"{name} must be one line (it is printed as one line on stderr)")


def _rubric_texts(variant: str, texts: Mapping) -> None:
    """Every rubric text of the authors' list is given, with the first text's keys in its order.

    Rubric variants are numbered as (text, key order) with the order over key positions
    (formats/rubrics.py), so all texts must hold the same keys in the same order, as mR3's files do.
    """
    if not texts["rubric_lines"]:
        return
    where = f"variants.{variant}." if variant else ""
    given = (texts["rubric_lines"],) + tuple(texts["rubric_alternatives"] or ())
    declared = texts["authors_rubric_texts"] or 1
    if declared != len(given):
        raise ValueError(f"{where}authors_rubric_texts ({declared}) must equal the rubric texts given (rubric_lines "
                         f"and rubric_alternatives: {len(given)}); transcribe every text of the authors' list")
    keys = [[line.split(": ", 1)[0] for line in text.split("\n") if line] for text in given]
    if any(k != keys[0] for k in keys[1:]):
        raise ValueError(f"{where}rubric_alternatives must hold rubric_lines' keys in the same order "
                         f"({', '.join(keys[0])}), one 'key: text' line each")


@dataclass(frozen=True)
class Variant:
    """Per-variant overrides of a task's templates and static texts (a subset, domain or target)."""

    user: str | None = None
    system: str | None = None
    task_description: str | None = None
    rubric_lines: str | None = None
    schema: str | None = None
    # The authors' other rubric texts (their rubric_list[1:]), all of them.
    rubric_alternatives: tuple[str, ...] | None = None
    # How many rubric texts the authors' file holds (rubric_lines is the first): checked against the
    # texts given, so that a text left out of the table cannot go unnoticed.
    authors_rubric_texts: int | None = None
    # Why this part of the prompt cannot be checked against the authors' (one line), if it cannot.
    unverified: str | None = None

    def __post_init__(self):
        _one_line("unverified", self.unverified or "")


@dataclass(frozen=True)
class Read:
    """A label read after the verdict's (Qwen3Guard's categories and refusal): the text before it,
    its labels as [native text, name] pairs, and the variants it belongs to (none: all). The
    verdict's most probable label is written before it, as greedy decoding would; ``finish_line``
    (a token budget) first lets the model finish the line it is on, greedily, up to a newline."""

    name: str
    prefix: str
    labels: tuple[tuple[str, str], ...]
    terminator: str = ""
    variants: tuple[str, ...] = ()
    finish_line: int = 0

    def __post_init__(self):
        if not self.labels or any(len(pair) != 2 for pair in self.labels):
            raise ValueError("a read needs labels, each a pair [native text, name]")
        if self.finish_line < 0:
            raise ValueError("finish_line must be a token budget >= 0")


@dataclass(frozen=True)
class TaskFormat:
    """How one task is prompted and read."""

    source: str = ""
    system: str = ""
    user: str = ""
    task_description: str = ""
    rubric_lines: str = ""
    schema: str = ""
    rubric_alternatives: tuple[str, ...] = ()
    authors_rubric_texts: int = 1
    # The authors shuffle the rubric's keys per item (all of mR3's tasks but HelpSteer3's 1-7).
    shuffle_rubric_keys: bool = False
    unverified: str = ""
    # Parsing free-running output: compare labels case-insensitively, as the authors' evaluation
    # does for the datasets of this task (mR3: str(x).lower() for all but RewardBench/m-RewardBench).
    case_insensitive: bool = False
    rubric_block: str = ""
    default_variant: str = ""
    variants: Mapping[str, Variant] = field(default_factory=dict)
    labels: tuple[tuple[str, str], ...] = ()
    scale: bool = False
    score: bool = False
    think: bool | None = None
    explain_prefix: str = ""
    explain_grammar: str = ""
    explain_stop: str = ""
    explain_close: str = ""
    verdict_prefix: str = ""
    verdict_prefix_alone: str = ""
    label_terminator: str = ""
    output: str = ""
    output_grammar: str = ""
    output_stop: str = ""
    output_close: str = ""
    output_tokens: int = 1024
    # Further label reads after the verdict, in order (see Read).
    reads: tuple[Read, ...] = ()

    def __post_init__(self):
        for pair in self.labels:
            if len(pair) != 2:
                raise ValueError("each label must be a pair [native text, verdict label]")
        if self.explain_grammar not in GRAMMARS or self.output_grammar not in GRAMMARS:
            raise ValueError(f"grammars must be one of {', '.join(g or '(none)' for g in GRAMMARS)}")
        if self.default_variant and self.default_variant not in self.variants:
            raise ValueError(f"default_variant {self.default_variant!r} is not under variants")
        if bool(self.labels or self.scale) == bool(self.output):
            raise ValueError("a task either reads labels (labels or scale) or writes an output, not both")
        _one_line("unverified", self.unverified)
        for read in self.reads:
            unknown = [v for v in read.variants if v not in self.variants]
            if unknown:
                raise ValueError(f"read {read.name!r}: variant {unknown[0]!r} is not under variants")
            if not self.labels:
                raise ValueError(f"read {read.name!r} follows a verdict: the task needs labels")
        for name in self.variants or ("",):
            _rubric_texts(name, self.resolved(name))

    def resolved(self, variant: str) -> dict[str, str]:
        """The task's texts with ``variant``'s overrides applied."""
        base = {f.name: getattr(self, f.name) for f in fields(Variant)}
        chosen = self.variants.get(variant)
        if chosen is not None:
            base.update({k: v for k, v in ((f.name, getattr(chosen, f.name)) for f in fields(Variant)) if v is not None})
        if chosen is not None and chosen.unverified and self.unverified:
            base["unverified"] = f"{self.unverified}; {chosen.unverified}"
        return base


@dataclass(frozen=True)
class FamilyFormat:
    """How a judge family is prompted and how its reasoning phase runs."""

    name: str
    chat: str
    source: str
    system_prefix: str = ""
    system: str = ""
    assistant_prefix: str = ""
    think: bool = False
    think_stop: str = ""
    think_after: str = ""
    think_close: str = ""
    think_skip: str = ""
    think_budget: int = 0
    answers: str = "first"
    unverified: str = ""
    explain_from_reasoning: bool = False
    explain_tokens: int = 256
    # Whether a verdict comes with an explanation when the user does not say (JudgeOptions.explain None):
    # on for families trained to explain their verdicts, off for generic models.
    explain_by_default: bool = False
    conversation: str = "role_blocks"
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0

    def __post_init__(self):
        if self.chat not in CHATS:
            raise ValueError(f"chat must be one of {', '.join(CHATS)}")
        if self.conversation not in CONVERSATIONS:
            raise ValueError(f"conversation must be one of {', '.join(CONVERSATIONS)}")
        if self.think and not (self.think_stop and self.think_close):
            raise ValueError("a family that thinks needs think_stop and think_close")
        if self.answers not in ANSWER_RULES:
            raise ValueError(f"answers must be one of {', '.join(ANSWER_RULES)}")
        _one_line("unverified", self.unverified)


@dataclass(frozen=True)
class FormatTable:
    family: FamilyFormat
    tasks: Mapping[str, TaskFormat]


FAMILY_FILES = ("generic", "mr3", "rmr1", "rubricrm", "refiner", "guard", "reward")


def parse(text: str, source: str) -> FormatTable:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{source}: not valid TOML: {exc}") from None
    return tables.load(FormatTable, data, "", source)


@functools.cache
def load(family: str) -> FormatTable:
    """The format table of ``family`` (``formats/<family>.toml``), validated once."""
    if family not in FAMILY_FILES:
        raise RegistryError(f"no judge format for family {family!r}", hint=f"families: {', '.join(FAMILY_FILES)}")
    name = f"{family}.toml"
    text = resources.files("edgejudge.formats").joinpath(name).read_text(encoding="utf-8")
    table = parse(text, f"edgejudge/formats/{name}")
    if table.family.name != family:
        raise RegistryError(f"edgejudge/formats/{name}: family.name is {table.family.name!r}, expected {family!r}")
    return table
