"""The remote backend: the same plans, run by an OpenAI-compatible server.

llama.cpp's ``llama-server``, llama-cpp-python's server and vLLM all serve raw completions
(``/v1/completions``) with log-probabilities and grammar constraints. edgejudge renders the
judge's exact prompt itself and sends it as text, so the model sees the same bytes as locally:

* fed text (verdict prefixes, closing tags) is appended to the prompt of the next request;
* generated text is one completion (``stop``, ``max_tokens``, the sampler, and the grammar as
  ``grammar`` for llama.cpp servers or ``structured_outputs.grammar`` for vLLM);
* labels are read from the log-probabilities of the server's most likely next tokens at the points
  where the labels part (``logprobs``), with the same divergence-point logic as locally.

Transient failures (connection refused or reset, 429, 5xx) are retried with exponential backoff;
client errors and timeouts are not. A request that finally fails raises :class:`RemoteError`,
which the stream turns into an error record.

Reasoning is one completion, so a server cannot be probed while it reasons (``plan.Probe``): records
of a remote judge carry ``"probes": []``, and ``think_until`` is refused (an error naming the
reason) rather than run differently. Probing would mean stopping the completion at each probe point
and asking again: every new request restarts the server's random stream, so the reasoning would no
longer be the text it writes unprobed, and each probe would cost a round trip per label point.

Limitation: the server tokenizes the text, with special tokens parsed, so user text holding a
control token's text (``<|im_end|>``) is not kept inert as it is by the local backend.
"""

from __future__ import annotations

import http.client
import json
import math
import time
import urllib.parse
from dataclasses import dataclass

from edgejudge.backends import answers, transport
from edgejudge.errors import InputError, RemoteError, UsageError
from edgejudge.plan import Append, Generate, LabelRead, Outcome, Plan, ReadLabels

TRANSIENT_STATUS = (429, 500, 502, 503, 504)
TOP_LOGPROBS = 20  # vLLM's default --max-logprobs


@dataclass(frozen=True)
class RemoteSettings:
    """Where the server is and how to talk to it."""

    base_url: str
    api_key: str | None = None
    timeout: float = 300.0
    retries: int = 3
    backoff: float = 0.5
    model: str | None = None
    dialect: str = "auto"  # "llama.cpp" (llama-server, llama-cpp-python) or "vllm"

    def __post_init__(self):
        shown = repr(self.base_url) if len(self.base_url) <= 200 else f"of {len(self.base_url):,} characters"
        example = "e.g. --base-url http://127.0.0.1:8080 (the key goes in --api-key-env)"
        try:
            parsed = urllib.parse.urlsplit(self.base_url)
            parsed.port  # noqa: B018 - raises for a port that is not a number in range
        except ValueError as exc:
            raise UsageError(f"--base-url {shown} is not a valid URL: {exc}", hint=example) from None
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise UsageError(f"--base-url {shown} is not an http(s) URL", hint=example)
        if not self.base_url.isprintable() or any(c.isspace() for c in self.base_url) or len(self.base_url) > 2048:
            raise UsageError(f"--base-url {shown} holds spaces or control characters, or is too long", hint=example)
        if parsed.username is not None or parsed.query or parsed.fragment:
            shown = "" if parsed.username is None else "(not shown: it holds credentials) "
            raise UsageError(f"--base-url {shown or repr(self.base_url[:200]) + ' '}holds a user, a query or a "
                             "fragment; give the server's address and path only", hint=example)
        if self.api_key is not None and (not self.api_key or not self.api_key.isprintable()
                                         or any(c.isspace() for c in self.api_key) or not self.api_key.isascii()):
            raise UsageError("the API key is empty or holds spaces, control or non-ASCII characters",
                             hint="check the variable --api-key-env names (a trailing newline?)")
        if self.dialect not in ("auto", "llama.cpp", "vllm"):
            raise UsageError(f"dialect {self.dialect!r} is not auto, llama.cpp or vllm")
        if not (self.timeout > 0 and math.isfinite(self.timeout)) or self.retries < 0 or self.backoff < 0:
            raise UsageError("the timeout must be a positive number of seconds, retries and backoff >= 0")

    @property
    def host(self) -> str:
        return urllib.parse.urlparse(self.base_url).netloc


class Client:
    """JSON over HTTP with a total deadline per request and retries for transient failures
    (transport.py: deadlines, redirects, kept-alive connections; answers.py: answer shapes).."""

    def __init__(self, settings: RemoteSettings):
        self.settings = settings
        root = settings.base_url.rstrip("/")
        self.root = root if root.endswith("/v1") else root + "/v1"
        self.connections = transport.Connections()

    def close(self) -> None:
        self.connections.close()

    def request(self, method: str, path: str, body: dict | None = None):
        """The decoded JSON answer (of any shape: the caller checks it with answers.py)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        host = self.settings.host
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = self.connections.request(method, self.root + path, data, headers,
                                                  timeout=self.settings.timeout)
            except transport.DeadlinePassed:
                raise RemoteError(f"{host} did not answer {path} within {self.settings.timeout:g} s",
                                  code="timeout", hint="raise --timeout, or lower --concurrency") from None
            except transport.RedirectRefused as exc:
                raise RemoteError(f"{host} redirected {path}, and edgejudge does not follow it: {exc}",
                                  code="protocol", hint="give the server's final address as --base-url") from None
            except transport.BodyTooLarge as exc:
                raise RemoteError(f"{host} sent an answer to {path} of {exc}", code="protocol",
                                  hint="is --base-url an OpenAI-compatible server?") from None
            except TimeoutError:
                raise RemoteError(f"{host} did not answer {path} within {self.settings.timeout:g} s",
                                  code="timeout", hint="raise --timeout, or lower --concurrency") from None
            except (OSError, http.client.IncompleteRead) as exc:
                if attempt <= self.settings.retries:
                    self._wait(attempt, None)
                    continue
                reason = getattr(exc, "strerror", None) or exc
                raise RemoteError(f"cannot reach {host}: {reason}", code="backend_unavailable",
                                  hint="is the server running at --base-url?") from None
            except http.client.HTTPException as exc:
                raise RemoteError(f"{host} does not speak HTTP as expected ({type(exc).__name__}: {exc})",
                                  code="protocol", hint="is --base-url an OpenAI-compatible server?") from None
            if answer.status in TRANSIENT_STATUS and attempt <= self.settings.retries:
                self._wait(attempt, answer.headers.get("Retry-After"))
                continue
            if not 200 <= answer.status < 300:
                detail = answer.body[:300].decode("utf-8", "replace")
                raise RemoteError(f"{host} answered {answer.status} to {path}: {detail}",
                                  hint="check the server's log" if answer.status >= 500 else
                                  "the request was refused; check --server-model and the server's options")
            return answers.decode(answer.body, host, path)

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = self.settings.backoff * 2 ** (attempt - 1)
        if retry_after and retry_after.isascii() and retry_after.isdigit():  # "²".isdigit() is True
            delay = max(delay, float(retry_after))
        time.sleep(min(delay, 30.0))


class RemoteEngine:
    """Runs plans on a server: the counterpart of :class:`edgejudge.backends.llama.engine.Engine`."""

    def __init__(self, settings: RemoteSettings):
        self.settings = settings
        self.client = Client(settings)
        listing = answers.models(self.client.request("GET", "/models"), settings.host)
        if not listing and not settings.model:
            raise RemoteError(f"{settings.host} lists no model", hint="give --server-model")
        self.model = settings.model or listing[0]["id"]
        owner = next((m["owned_by"] or "" for m in listing if m["id"] == self.model), "")
        self.dialect = settings.dialect if settings.dialect != "auto" else ("vllm" if owner == "vllm" else "llama.cpp")

    def describe(self) -> dict:
        return {"backend": "openai", "host": self.settings.host, "server_model": self.model, "dialect": self.dialect}

    def close(self) -> None:
        self.client.close()

    def truncate(self, n: int) -> None:
        pass  # the server keeps its own prompt cache

    def run(self, plan: Plan, *, seed: int = 0) -> Outcome:
        for step in plan.steps:
            if isinstance(step, Generate) and step.probe is not None and step.probe.until is not None:
                raise InputError("think_until needs probes while the judge reasons, which the openai backend "
                                 "cannot take (its reasoning is one completion)", code="bad_options",
                                 hint="judge locally (--backend local) to stop reasoning once settled, or drop "
                                      "--think-until (docs/anytime.md)")
        outcome = Outcome()
        started = time.perf_counter()
        text = plan.prompt
        for step in plan.steps:
            if isinstance(step, Append):
                text += step.text
            elif isinstance(step, Generate):
                t0 = time.perf_counter()
                generated, text = self._generate(step, text, seed, outcome)
                outcome.texts[step.name] = generated
                outcome.timings[f"{step.name}_s"] = time.perf_counter() - t0
            elif isinstance(step, ReadLabels):
                t0 = time.perf_counter()
                read = outcome.labels[step.name] = self._read_labels(step, text, outcome)
                if step.keep:
                    text += read.best
                outcome.timings[f"{step.name}_s"] = time.perf_counter() - t0
        outcome.timings["total_s"] = time.perf_counter() - started
        return outcome

    def _completion(self, body: dict) -> answers.Completion:
        return answers.completion(self.client.request("POST", "/completions", {"model": self.model, **body}),
                                  self.settings.host)

    def _generate(self, step: Generate, text: str, seed: int, outcome: Outcome) -> tuple[str, str]:
        s = step.sampling
        body = {"prompt": text, "max_tokens": step.max_tokens, "temperature": s.temperature, "top_p": s.top_p,
                "seed": seed, "stream": False}
        if s.top_k:
            body["top_k"] = s.top_k
        if s.min_p:
            body["min_p"] = s.min_p
        if step.stop:
            body["stop"] = list(step.stop)
        if step.grammar:
            if self.dialect == "vllm":
                body["structured_outputs"] = {"grammar": step.grammar}
            else:
                body["grammar"] = step.grammar
        answer = self._completion(body)
        generated = answer.text
        used = answer.completion_tokens
        outcome.generated_tokens += used
        outcome.prompt_tokens = outcome.prompt_tokens or answer.prompt_tokens
        if step.think:
            outcome.think_tokens += used
            outcome.think_exit = "budget" if answer.finish_reason == "length" else "closed"
        stopped = answer.finish_reason == "stop" and bool(step.stop)
        hit = answer.stop_reason
        if stopped and isinstance(hit, int):
            stopped = False  # vLLM: ended by a stop token (EOS), not by a stop text
        # The server removes the stop text from its answer; the model did write it.
        stop_text = hit if isinstance(hit, str) and hit in step.stop else (step.stop[0] if step.stop else "")
        outcome.exhausted[step.name] = answer.finish_reason == "length"
        if stopped:
            return generated, text + generated + stop_text + step.on_stop
        return generated, text + generated + step.close

    # -- labels ----------------------------------------------------------------------------

    def _next_tokens(self, prompt: str, outcome: Outcome) -> dict[str, float]:
        """The server's most likely next tokens after ``prompt``, as text → log-probability, from
        the raw distribution (before any sampler)."""
        answer = self._completion({"prompt": prompt, "max_tokens": 1, "logprobs": TOP_LOGPROBS, "temperature": 0.0})
        outcome.prompt_tokens = outcome.prompt_tokens or answer.prompt_tokens
        # OpenAI's completions shape (vLLM, llama-cpp-python) or llama-server's, checked in answers.py
        top = answers.top_logprobs(answer.logprobs, self.settings.host)
        if top is None:
            raise RemoteError(f"{self.settings.host} gave no log-probabilities",
                              hint="llama-cpp-python's server needs logits_all (its default); vLLM needs "
                              "--max-logprobs >= 20")
        return top

    def _read_labels(self, step: ReadLabels, context: str, outcome: Outcome) -> LabelRead:
        """Label probabilities at the points where the labels part, as the local engine reads them.

        Tokens are seen as text here: at each point, a label continues with the longest of the
        server's likely next tokens that begins its remaining text (the tokenization the model
        itself would produce). A label none of those tokens begins gets probability 0.
        """
        labels = list(step.labels)
        if step.terminator and any(a != b and b.startswith(a) for a in labels for b in labels):
            labels = [label + step.terminator for label in labels]
        scores, shared = self._diverge({label: label for label in labels}, context, outcome, top_level=True)
        scores = {original: scores[label] for original, label in zip(step.labels, labels)}
        finite = [v for v in scores.values() if v > -math.inf]
        if not finite:
            uniform = 1.0 / len(scores)
            return LabelRead({label: uniform for label in scores}, 0.0)
        peak = max(finite)
        weights = {label: math.exp(v - peak) if v > -math.inf else 0.0 for label, v in scores.items()}
        total = sum(weights.values())
        mass = min(1.0, math.exp(shared + peak) * total)
        return LabelRead({label: w / total for label, w in weights.items()}, mass)

    def _diverge(self, remaining: dict[str, str], prefix: str, outcome: Outcome, *, top_level: bool = False):
        """(log-probability of each label at its parting points, log-probability of the tokens all
        labels share before they part: the second matters only at the top level, for the mass)."""
        top = self._next_tokens(prefix, outcome)
        chosen = {label: max((t for t in top if rest.startswith(t)), key=len, default=None)
                  for label, rest in remaining.items()}
        scores = {label: -math.inf for label in remaining}
        groups: dict[str, list[str]] = {}
        for label, token in chosen.items():
            if token is not None:
                groups.setdefault(token, []).append(label)
        shared = 0.0
        if len(groups) == 1 and len(next(iter(groups.values()))) == len(remaining):
            token = next(iter(groups))  # every label goes on with the same token: not a parting point
            rest = {label: text[len(token):] for label, text in remaining.items()}
            if all(rest.values()):
                inner, inner_shared = self._diverge(rest, prefix + token, outcome, top_level=top_level)
                return inner, top[token] + inner_shared
        for token, members in groups.items():
            for label in members:
                scores[label] = top[token]
            rest = {label: remaining[label][len(token):] for label in members}
            if len(members) > 1 and all(rest.values()):
                inner, _ = self._diverge(rest, prefix + token, outcome)
                for label in members:
                    scores[label] += inner[label]
        return scores, shared
