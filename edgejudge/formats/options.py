"""How to judge (``JudgeOptions``, the same for every family) and what a format decides (``Decision``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgejudge.formats import option_rules
from edgejudge.store.registry import Sampling

AUTHORS = "authors"
# Probes while reasoning (plan.Probe; docs/anytime.md says how these defaults were chosen).
PROBE_EVERY = 256
MIN_THINK = 128


@dataclass(frozen=True)
class JudgeOptions:
    """How to judge, whatever the family: explanation, reasoning budget, swap, seed."""

    # None: as the family does by default (on for judges trained to explain, off for generic models).
    explain: bool | None = None
    max_explain_tokens: int | None = None
    think: bool | None = None
    # Tokens of reasoning: a number, "authors" (the authors' own figure, from the registry), or
    # None (edgejudge's default for the model).
    think_budget: int | str | None = None
    keep_reasoning: bool = False
    swap: bool = False
    tie_on_disagreement: bool = False
    seed: int = 0
    sampling: Sampling | None = None
    # mR3's rubric variants (formats/rubrics.py): render one (an item's own rubric_variant wins),
    # or average the verdict over "all" of them or over a number drawn with the seed.
    rubric_variant: int | None = None
    rubric_variants: int | str | None = None
    # Qwen3Guard's readings of "controversial" for the binary safety verdict: "strict" (counts as
    # unsafe; the default) or "loose" (counts as safe). Judges without that level ignore it.
    policy: str | None = None
    # Anytime verdicts: stop reasoning at the first probe from min_think tokens on whose leading
    # label has probability >= think_until (None: reason until closed or out of budget); a probe at
    # least every probe_every tokens (0: none).
    think_until: float | None = None
    min_think: int = MIN_THINK
    probe_every: int = PROBE_EVERY

    def __post_init__(self):
        for name in self.__dataclass_fields__:  # the one validation path: flags, JSON lines and the API
            option_rules.check_option(name, getattr(self, name))
        option_rules.check_together(self)


@dataclass(frozen=True)
class Decision:
    """The verdict fields a format derives from an outcome."""

    verdict: str | None
    probabilities: dict[str, float]
    label_mass: float | None
    score: int | float | None = None
    explanation: str = ""
    reasoning: str | None = None
    extra: dict = field(default_factory=dict)
    # How the reasoning ended and the probes taken during it (None: no reasoning).
    think_exit: str | None = None
    probes: list[dict] | None = None
    think_tokens: int = 0
