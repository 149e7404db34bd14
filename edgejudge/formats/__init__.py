"""Judge formats: each family's prompt layout, read from its TOML table, and the plan it asks for.

The names below are handed on from :mod:`~edgejudge.formats.format`, :mod:`~edgejudge.formats.options`
and :mod:`~edgejudge.formats.texts`; the tables are ``formats/<family>.toml``, validated by
:mod:`edgejudge.formats.spec`.
"""

from edgejudge.formats.format import Format
from edgejudge.formats.options import Decision, JudgeOptions
from edgejudge.formats.texts import justification, rubric_items, well_formed

__all__ = ["Decision", "Format", "JudgeOptions", "justification", "rubric_items", "well_formed"]
