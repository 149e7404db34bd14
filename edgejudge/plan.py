"""What the engine must do for one item, and what it found.

A :class:`Plan` is the rendered prompt followed by steps that append fixed text, generate text
(free, or under a grammar, within a token budget) or read a label distribution. Formats build
plans; the engine runs them without knowing which judge they come from; verdicts are made from
the :class:`Outcome`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from edgejudge.store.registry import Sampling


@dataclass(frozen=True)
class Append:
    """Feed fixed text (a verdict prefix, a closing tag) after what came before."""

    text: str


# Where reasoning changes course, a probe is taken before the token that starts the change: a
# paragraph break (in the RM-R1 reference output, docs/anytime.md, every step of the argument is
# a paragraph and there is no "Wait") and the words DEER (arXiv 2504.15895) probes at, which
# reasoning models write mid-paragraph when they turn back.
TRANSITIONS = ("\n\n", "Wait", "Alternatively", "Hmm", "Hold on")


@dataclass(frozen=True)
class Probe:
    """A trial verdict while reasoning: ``text`` (the family's reasoning close and verdict prefix)
    fed after the reasoning so far, the labels read there, and the probe's tokens removed again.

    Probes are taken before any reasoning (token 0), at least every ``every`` tokens, and at a
    transition (``transitions``) once half an interval has passed since the last probe. With
    ``until``, reasoning stops at the first probe at or after ``min_think`` tokens whose leading
    label has at least that probability.
    """

    text: str
    labels: tuple[str, ...]
    names: tuple[str, ...]  # the verdict label of each native label, in order
    terminator: str = ""
    every: int = 256
    until: float | None = None
    min_think: int = 128
    transitions: tuple[str, ...] = TRANSITIONS


@dataclass(frozen=True)
class Generate:
    """Generate up to ``max_tokens`` tokens, stopping at any of ``stop`` or at the end of ``grammar``.

    After a stop text, ``on_stop`` is fed; when the budget runs out (or the model ends its turn
    early), ``close`` is fed instead, so that what follows is the same either way (the closing
    ``</think>`` of a reasoning block, the quote of a JSON string).
    """

    name: str
    max_tokens: int
    grammar: str | None = None
    stop: tuple[str, ...] = ()
    close: str = ""
    on_stop: str = ""
    sampling: Sampling = field(default_factory=Sampling)
    think: bool = False
    probe: Probe | None = None


@dataclass(frozen=True)
class ReadLabels:
    """Read the probabilities of ``labels`` as the next text, at the tokens where they diverge.

    ``terminator`` is the text that follows a label (a closing quote); it is used only to tell
    apart labels where one is a prefix of another ("1" and "10"). With ``keep``, the most probable
    label is then written, as greedy decoding would write it, so that later steps read on from
    the model's own answer (Qwen3Guard's categories follow its safety label).
    """

    name: str
    labels: tuple[str, ...]
    terminator: str = ""
    keep: bool = False


Step = Append | Generate | ReadLabels


Segment = tuple[str, bool]  # (text, is_user_data)


@dataclass(frozen=True)
class Plan:
    """A prompt, as segments of template text and user data, and the steps to run after it.

    User data is kept apart so that a response containing ``<|im_end|>`` is read as text, never
    as the control token that would end the judge's turn (see ``LoadedModel.prompt_tokens``).
    """

    segments: tuple[Segment, ...]
    steps: tuple[Step, ...]

    @property
    def prompt(self) -> str:
        return "".join(text for text, _ in self.segments)

    @property
    def prefix(self) -> str:
        """The text before the first user data: the part items of one format share."""
        head = []
        for text, is_data in self.segments:
            if is_data:
                break
            head.append(text)
        return "".join(head)


@dataclass(frozen=True)
class RewardPlan:
    """Score conversations with a scalar reward model: each (name, segments) is one whole conversation
    ending with the response; the engine returns each one's reward (``Outcome.rewards``). Sequences
    that share a beginning (two responses to one prompt) share its evaluation in the KV cache."""

    sequences: tuple[tuple[str, tuple[Segment, ...]], ...]
    steps: tuple[Step, ...] = ()

    @property
    def prompt(self) -> str:
        """The first conversation's text."""
        return "".join(text for text, _ in self.sequences[0][1])

    def text(self, name: str) -> str:
        return "".join(text for text, _ in dict(self.sequences)[name])


def slot(name: str) -> str:
    """A placeholder for user data in a prompt frame (private-use characters: never in a template)."""
    return f"\ue000{name}\ue001"


def fill(frame: str, values: dict[str, str]) -> tuple[Segment, ...]:
    """Split a rendered ``frame`` at its slots and put the user data in, as data segments."""
    parts = re.split("\ue000([^\ue001]*)\ue001", frame)
    segments: list[Segment] = []
    for i, part in enumerate(parts):
        if i % 2:
            segments.append((values[part], True))
        elif part:
            segments.append((part, False))
    return tuple(segments)


@dataclass(frozen=True)
class LabelRead:
    """Label probabilities renormalised over the label set, and the mass the set held."""

    probabilities: dict[str, float]
    mass: float

    @property
    def best(self) -> str:
        return max(self.probabilities, key=self.probabilities.__getitem__)


@dataclass
class Outcome:
    """What the engine produced for one plan."""

    texts: dict[str, str] = field(default_factory=dict)
    labels: dict[str, LabelRead] = field(default_factory=dict)
    exhausted: dict[str, bool] = field(default_factory=dict)
    prompt_tokens: int = 0
    reused_tokens: int = 0
    generated_tokens: int = 0
    think_tokens: int = 0
    n_ctx: int = 0
    prefix_cache: str = "off"  # hit: the fixed head was not evaluated; miss: evaluated (and saved)
    prefix_cache_tokens: int = 0  # tokens loaded from the prefix cache file
    timings: dict[str, float] = field(default_factory=dict)
    # How reasoning ended: closed (by the model, or its turn ended), settled (a probe reached
    # think_until), budget; None without reasoning. probes: {"at", "probabilities"} in verdict labels.
    think_exit: str | None = None
    probes: list[dict] = field(default_factory=list)
    rewards: dict[str, float] = field(default_factory=dict)  # a reward model's score per sequence
