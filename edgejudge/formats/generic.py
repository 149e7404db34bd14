"""The generic format: any instruct GGUF judges through its own chat template and our prompts.

The prompts are edgejudge's own. The assistant's answer is pre-filled as the start of a JSON object,
so the model only has to write the explanation (under a grammar that keeps it a well-formed JSON
string) and the verdict is read from the logits right after ``"verdict": "`` (or ``"score": "``),
over the allowed labels only: it is valid whatever the model.
"""

from __future__ import annotations

from edgejudge import chat
from edgejudge.errors import ModelFileError
from edgejudge.formats import Decision, Format, JudgeOptions
from edgejudge.grammar import sentences_body
from edgejudge.items import Item
from edgejudge.plan import Append, Generate, Outcome, Plan, ReadLabels, fill, slot
from edgejudge.registry import Sampling

SYSTEM = (
    "You are a fair and impartial judge of AI assistant responses. Judge correctness first, then "
    "helpfulness, relevance and clarity. Do not let the order of the responses, their length or "
    "their style sway you."
)

PAIRWISE = """Compare two responses to the user's prompt and decide which one is better.

[User's prompt]
{prompt}

[Response A]
{response_a}

[Response B]
{response_b}
{rubric}
Answer with a JSON object: {{"explanation": "<one or two sentences>", "verdict": "A" or "B"}}"""

POINTWISE = """Rate how well the response answers the user's prompt, from {lo} (worst) to {hi} (best).

[User's prompt]
{prompt}

[Response]
{response}
{rubric}
Answer with a JSON object: {{"explanation": "<one or two sentences>", "score": "<a whole number from {lo} to {hi}>"}}"""

RUBRIC = "\n[Rubric]\n{rubric}\n\nJudge by this rubric.\n"

EXPLANATION_KEY = '{"explanation": "'
EXPLANATION_GRAMMAR = sentences_body(2)


class GenericFormat(Format):
    family = "generic"
    tasks = ("pairwise", "pointwise")

    def __init__(self, chat_template: str | None, *, bos_token: str = "", eos_token: str = "",
                 sampling: Sampling | None = None):
        if not chat_template:
            raise ModelFileError(
                "this GGUF has no chat template (tokenizer.chat_template), so it cannot be prompted as a judge",
                hint="use an instruct model whose GGUF carries its chat template",
            )
        self.chat_template = chat_template
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.sampling = sampling or Sampling()

    def template_text(self) -> str:
        return "\n\x1e".join((SYSTEM, PAIRWISE, POINTWISE, RUBRIC, EXPLANATION_KEY, self.chat_template))

    def _frame(self, item: Item) -> str:
        """The rendered chat with slots where the user's texts go."""
        rubric = RUBRIC.format(rubric=slot("rubric")) if item.rubric else ""
        if item.task == "pairwise":
            user = PAIRWISE.format(prompt=slot("prompt"), response_a=slot("response_a"),
                                   response_b=slot("response_b"), rubric=rubric)
        else:
            lo, hi = item.scale
            user = POINTWISE.format(prompt=slot("prompt"), response=slot("response"), lo=lo, hi=hi, rubric=rubric)
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
        return chat.render(self.chat_template, messages, bos_token=self.bos_token, eos_token=self.eos_token)

    def labels(self, item: Item) -> tuple[str, ...]:
        if item.task == "pairwise":
            return ("A", "B")
        lo, hi = item.scale
        return tuple(str(n) for n in range(lo, hi + 1))

    def plan(self, item: Item, options: JudgeOptions) -> Plan:
        self.check_task(item)
        key = "verdict" if item.task == "pairwise" else "score"
        values = {name: getattr(item, name) for name in ("prompt", "response", "response_a", "response_b", "rubric")}
        labels = ReadLabels("verdict", self.labels(item), terminator='"')
        if not options.explain:
            return Plan(fill(self._frame(item) + '{"' + key + '": "', values), (labels,))
        explain = Generate("explanation", options.max_explain_tokens, grammar=EXPLANATION_GRAMMAR,
                           stop=('"',), close='"', sampling=options.sampling or self.sampling)
        return Plan(fill(self._frame(item) + EXPLANATION_KEY, values), (explain, Append(f', "{key}": "'), labels))

    def decide(self, item: Item, outcome: Outcome, options: JudgeOptions) -> Decision:
        read = outcome.labels["verdict"]
        explanation = outcome.texts.get("explanation", "").strip()
        if item.task == "pairwise":
            return Decision(read.best, read.probabilities, read.mass, explanation=explanation)
        score = int(read.best)
        expected = sum(int(label) * p for label, p in read.probabilities.items())
        return Decision(read.best, read.probabilities, read.mass, score=score, explanation=explanation,
                        extra={"expected_score": round(expected, 4)})
