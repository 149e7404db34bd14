"""Judge formats: how each judge family is prompted and how its answer becomes a verdict.

A format is pure text work (no llama.cpp): it renders the exact prompt for an item from the
family's table (``formats/<family>.toml``), and builds the plan the engine runs: the reasoning
phase (free text up to the family's end marker, within a token budget), the explanation (under a
grammar), then the native verdict prefix and the labels whose probabilities are read. It turns the
engine's outcome into verdict fields.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from edgejudge.errors import InputError
from edgejudge.formats import gbnf, guard, reads, render, rubrics, spec
from edgejudge.formats.options import AUTHORS, Decision, JudgeOptions
from edgejudge.formats.texts import justification, rubric_items, well_formed
from edgejudge.items import Item
from edgejudge.plan import Append, Generate, Outcome, Plan, Probe, fill
from edgejudge.store.registry import ModelSpec, Sampling


class Format:
    """A judge family's format, ready to render prompts and plans."""

    def __init__(self, family: str, *, chat_template: str | None = None, bos: str = "", eos: str = "",
                 sampling: Sampling | None = None, think_budget: int | None = None,
                 authors_think_budget: int | None = None, model_id: str | None = None):
        self.table = spec.load(family)
        fam = self.table.family
        self.family = fam.name
        self.tasks = tuple(self.table.tasks)
        if fam.chat == "gguf" and not chat_template:
            from edgejudge.errors import ModelFileError

            raise ModelFileError(
                "this GGUF has no chat template (tokenizer.chat_template), so it cannot be prompted as a judge",
                hint="use an instruct model whose GGUF carries its chat template",
            )
        self.chat_template = chat_template
        self.bos, self.eos = bos, eos
        self.sampling = sampling or Sampling(fam.temperature, fam.top_p, fam.top_k, fam.min_p)
        self.think_budget = fam.think_budget if think_budget is None else think_budget
        self.authors_think_budget = authors_think_budget
        self.model_id = model_id

    @classmethod
    def of_model(cls, family: str, spec: ModelSpec | None, *, chat_template: str | None = None, bos: str = "",
                 eos: str = "", model_id: str | None = None) -> Format:
        """The format of a model: its family, with the sampling and think budgets its registry entry
        (``spec``, or none for a bare GGUF) gives."""
        return cls(family, chat_template=chat_template, bos=bos, eos=eos,
                   sampling=spec.sampling if spec else None, think_budget=spec.think_budget if spec else None,
                   authors_think_budget=spec.authors_think_budget if spec else None,
                   model_id=model_id or (spec.id if spec else None))

    def explains(self, options: JudgeOptions) -> bool:
        """Whether the verdict is explained: as asked, else as the family does by default."""
        return self.table.family.explain_by_default if options.explain is None else options.explain

    def budget(self, options: JudgeOptions) -> int:
        """The reasoning budget for ``options``: given, the authors' (``"authors"``), or the default."""
        if options.think_budget is None:
            return self.think_budget
        if options.think_budget == AUTHORS:
            if self.authors_think_budget is None:
                who = self.model_id or f"this {self.family} model"
                raise InputError(f"the authors' think budget of {who} is not known", code="bad_value",
                                 hint="give the budget as a number (--think-budget N)")
            return self.authors_think_budget
        assert isinstance(options.think_budget, int)  # JudgeOptions validates it
        return options.think_budget

    # -- prompt ---------------------------------------------------------------------------

    def task(self, item: Item) -> spec.TaskFormat:
        task = self.table.tasks.get(item.task)
        if task is None:
            raise InputError(f"the {self.family} format does not do the task {item.task!r}",
                             code="unsupported_task", hint=f"this model does: {', '.join(self.tasks)}")
        return task

    def variant(self, item: Item, task: spec.TaskFormat) -> str:
        if self.family == "guard":
            return guard.variant(item, task)
        if item.task == "safety" and item.conversation:
            raise InputError(f"the {self.family} safety prompt moderates one prompt (and response), not a conversation",
                             code="bad_value", hint="give 'prompt' (and 'response'), or use a guard model "
                             "(qwen3guard-gen-*), which moderates conversations")
        if not task.variants:
            if item.variant:
                raise InputError(f"task {item.task!r} has no variants here (got {item.variant!r})", code="bad_value")
            return ""
        if item.variant:
            chosen = item.variant
        elif (item.conversation_a or item.conversation_b) and "conversation" in task.variants:
            chosen = "conversation"
        else:
            chosen = task.default_variant
        if chosen not in task.variants:
            raise InputError(f"{item.task} variant {chosen!r} is not one of {', '.join(task.variants)}",
                             code="bad_value", hint="set variant (or subset / domain / target) to one of those")
        if bool(item.conversation_a or item.conversation_b) != (chosen == "conversation") and "conversation" in task.variants:
            raise InputError("give conversation_a and conversation_b for the conversation variant, and only then",
                             code="bad_value")
        if item.task == "safety" and chosen != "prompt" and item.response is None:
            raise InputError(f"safety target {chosen!r} needs the field 'response'", code="missing_field")
        return chosen

    def labels(self, item: Item, task: spec.TaskFormat) -> tuple[tuple[str, str], ...]:
        """(native text, verdict label) pairs for this item."""
        if task.scale:
            assert item.scale is not None  # make_item gives every scored item a scale
            lo, hi = item.scale
            return tuple((str(n), str(n)) for n in range(lo, hi + 1))
        if item.task == "mcq":
            return tuple(task.labels[: len(item.choices)])
        return tuple(task.labels)

    def _data(self, item: Item) -> dict[str, str]:
        style_lines = self.table.family.conversation == "role_lines"
        data = {name: getattr(item, name) for name in ("prompt", "response", "response_a", "response_b", "sources")}
        data = {k: v for k, v in data.items() if v is not None}
        if item.rubric is not None:
            data["rubric"] = item.rubric
        if item.choices:  # the authors' template calls them {options}
            data["options"] = "\n".join(f"{chr(65 + i)}. {text}" for i, text in enumerate(item.choices))
        context = item.conversation or ({"role": "user", "content": item.prompt},)
        data["context"] = render.role_blocks(context)
        for side, name in (("a", "Chatbot A"), ("b", "Chatbot B")):
            messages = getattr(item, f"conversation_{side}")
            if messages:
                data[f"conversation_{side}"] = (render.role_lines(messages, name) if style_lines
                                                else render.role_blocks(messages))
        return data

    def _statics(self, item: Item, texts: dict[str, str], task: spec.TaskFormat) -> dict[str, str]:
        statics = {"task_description": texts["task_description"] or "", "schema": texts["schema"] or "",
                   "rubric_lines": texts["rubric_lines"] or "", "rubric_block": "", "sources_block": "",
                   "lo": "", "hi": ""}
        if item.rubric is not None:
            # A user's rubric replaces the built-in one (mR3 is rubric-agnostic), as data.
            statics["rubric_lines"] = "{rubric}"
            statics["rubric_block"] = task.rubric_block
        if item.sources:
            statics["sources_block"] = "\nSources:\n{sources}\n"
        if item.scale:
            statics["lo"], statics["hi"] = (str(v) for v in item.scale)
        return statics

    def single_turn(self, item: Item, task: spec.TaskFormat) -> Item:
        """A pair of one-exchange conversations as the single-turn item the authors render it as
        (see ``render.one_exchange``); an explicit ``variant`` is kept as given."""
        if item.variant or not (item.conversation_a and item.conversation_b) or "conversation" not in task.variants:
            return item
        found = render.one_exchange(item.conversation_a, item.conversation_b)
        if found is None:
            return item
        prompt, response_a, response_b = found
        return replace(item, prompt=prompt, response_a=response_a, response_b=response_b,
                       conversation_a=(), conversation_b=())

    def rubric(self, item: Item) -> rubrics.Rubric:
        """The rubric variants of ``item``'s task (and variant)."""
        task = self.task(item)
        texts = task.resolved(self.variant(self.single_turn(item, task), task))
        return self._rubric(texts, task)

    @staticmethod
    def _rubric(texts: dict, task: spec.TaskFormat) -> rubrics.Rubric:
        own = (texts["rubric_lines"] or "",) + tuple(texts["rubric_alternatives"] or ())
        return rubrics.Rubric(own, task.shuffle_rubric_keys)

    def unverified(self, item: Item) -> str:
        """What of ``item``'s prompt cannot be checked against the authors' (one line), or ""."""
        task = self.task(item)
        texts = task.resolved(self.variant(self.single_turn(item, task), task))
        notes = [n for n in (self.table.family.unverified, texts["unverified"]) if n]
        return "; ".join(notes)

    def frame(self, item: Item) -> tuple[str, dict[str, str]]:
        """The prompt with slots where the user's data goes, and that data."""
        task = self.task(item)
        item = self.single_turn(item, task)
        texts = task.resolved(self.variant(item, task))
        if item.rubric_variant:
            if item.rubric is not None:
                raise InputError("rubric_variant picks one of the built-in rubrics; a given rubric replaces them",
                                 code="bad_value", hint="give either rubric or rubric_variant")
            rubric = self._rubric(texts, task)
            if not rubric.keys:
                raise InputError(f"the {self.family} {item.task} prompt has no rubric variants "
                                 f"(got rubric_variant {item.rubric_variant})", code="bad_value",
                                 hint="rubric variants are mR3's: leave rubric_variant out")
            texts = {**texts, "rubric_lines": rubric.lines(item.rubric_variant, task=item.task)}
        statics = self._statics(item, texts, task)
        fam = self.table.family
        system_template = texts["system"] or ""
        system = (fam.system_prefix + render.fill_statics(system_template, statics)) if system_template else fam.system
        user = render.fill_statics(texts["user"] or "", statics)
        system, used_system = render.with_slots(system)
        user, used_user = render.with_slots(user)
        data = self._data(item)
        if "turns" in used_user:
            data["turns"] = render.guard_turns(guard.messages(item, self.variant(item, task)))
        if item.rubric is not None and "rubric" in used_system | used_user and fam.name == "mr3":
            data["rubric"] = item.rubric.rstrip("\n") + "\n"  # rubric lines each end with a newline
        missing = (used_system | used_user) - set(data)
        if missing:
            raise InputError(f"the {self.family} {item.task} prompt needs the field {sorted(missing)[0]!r}",
                             code="missing_field")
        if fam.chat == "chatml":
            text = render.chatml(system, user, fam.assistant_prefix)
        elif fam.chat == "deepseek":
            text = render.deepseek(system, user, fam.assistant_prefix)
        else:
            assert self.chat_template is not None  # checked in __init__ for gguf-chat families
            text = render.gguf_chat(self.chat_template, system, user, fam.assistant_prefix, bos=self.bos, eos=self.eos)
        return text, data

    def render(self, item: Item) -> str:
        """The exact prompt text the model gets for ``item`` (what ``edgejudge prompt`` prints)."""
        text, data = self.frame(item)
        return "".join(part for part, _ in fill(text, data))

    # -- plan -----------------------------------------------------------------------------

    def plan(self, item: Item, options: JudgeOptions) -> Plan:
        task = self.task(item)
        if item.rubric_variant is None and options.rubric_variant is not None:
            item = replace(item, rubric_variant=options.rubric_variant)
        text, data = self.frame(item)
        segments = fill(text, data)
        fam = self.table.family
        sampling = options.sampling or self.sampling
        if task.output:
            return Plan(segments, (Generate(task.output, task.output_tokens, grammar=gbnf.named(task.output_grammar),
                                            stop=(task.output_stop,) if task.output_stop else (),
                                            close=task.output_close, sampling=sampling),))
        steps: list = []
        labels = self.labels(item, task)
        if fam.think and task.think is not False:
            budget = self.budget(options)
            if options.think is not False and budget > 0:
                steps.append(Generate("reasoning", budget, stop=(fam.think_stop,), close=fam.think_close,
                                      on_stop=fam.think_after, sampling=sampling, think=True,
                                      probe=self.probe(task, labels, options)))
            else:
                steps.append(Append(fam.think_skip))
        prefix = task.verdict_prefix_alone
        if self.explains(options) and task.explain_stop and not fam.explain_from_reasoning:
            if task.explain_prefix:
                steps.append(Append(task.explain_prefix))
            steps.append(Generate("explanation", options.max_explain_tokens or fam.explain_tokens,
                                  grammar=gbnf.named(task.explain_grammar), stop=(task.explain_stop,),
                                  close=task.explain_close, sampling=sampling))
            prefix = task.verdict_prefix
        if prefix:
            steps.append(Append(prefix))
        native = tuple(native for native, _ in labels)
        further = reads.chosen(task, self.variant(self.single_turn(item, task), task)) if task.reads else ()
        steps.extend(reads.steps(native, task.label_terminator, further))
        return Plan(segments, tuple(steps))

    def probe(self, task: spec.TaskFormat, labels: tuple[tuple[str, str], ...], options: JudgeOptions) -> Probe | None:
        """The trial verdict read while reasoning (None with probes off): the text the budget path
        feeds when reasoning runs out and no explanation follows, and the labels."""
        if options.probe_every <= 0:
            return None
        return Probe(self.table.family.think_close + task.verdict_prefix_alone,
                     tuple(native for native, _ in labels), tuple(name for _, name in labels),
                     terminator=task.label_terminator, every=options.probe_every, until=options.think_until,
                     min_think=options.min_think)

    # -- verdict --------------------------------------------------------------------------

    def decide(self, item: Item, outcome: Outcome, options: JudgeOptions) -> Decision:
        task = self.task(item)
        reasoning = outcome.texts.get("reasoning")
        kept = reasoning if options.keep_reasoning else None
        if task.output:
            return self._text_decision(task, outcome.texts.get(task.output, ""), outcome)
        if self.family == "guard":
            return guard.decide(item, task, outcome, options)
        read = outcome.labels["verdict"]
        names = dict(self.labels(item, task))
        probabilities = {names[native]: p for native, p in read.probabilities.items()}
        verdict = max(probabilities, key=probabilities.__getitem__)
        if self.table.family.explain_from_reasoning:
            explanation = justification(reasoning or "")
        else:
            explanation = outcome.texts.get("explanation", "").strip()
        extra = {}
        score = None
        if task.score:
            score = int(verdict)
            extra["expected_score"] = round(sum(int(k) * p for k, p in probabilities.items()), 4)
        return Decision(verdict, probabilities, read.mass, score=score, explanation=explanation, reasoning=kept,
                        extra=extra, think_exit=outcome.think_exit, think_tokens=outcome.think_tokens,
                        probes=list(outcome.probes) if outcome.think_exit is not None else None)

    def _text_decision(self, task: spec.TaskFormat, text: str, outcome: Outcome) -> Decision:
        if task.output == "rubric":
            items = rubric_items(text)
            return Decision(None, {}, None, extra={"rubric": "\n".join(items), "rubric_items": items})
        return Decision(None, {}, None, extra={task.output: well_formed(text).strip()})

    # -- identity -------------------------------------------------------------------------

    def template_text(self) -> str:
        """Every fixed string of the format; its hash identifies the prompt version."""
        return repr(self.table) + (self.chat_template or "")

    def template_sha256(self) -> str:
        return hashlib.sha256(self.template_text().encode("utf-8")).hexdigest()
