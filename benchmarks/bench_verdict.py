"""One pairwise --no-explain verdict on SmolLM2 against one plain llama-cpp-python prompt
evaluation of the same tokens (target: verdict <= 1.3x the plain evaluation).

Both sides load the model once, warm up on another prompt, then start every timed run from an
empty KV cache, so both evaluate every token of the prompt. The plain side is what a user would
write: `Llama(...)` then `llm.eval(tokens)`; it gets the same safe model parameters as edgejudge
(weight repacking off where the CPU has AMX), since the defaults crash there.
"""

import statistics
import time

RUNS = 9
PROMPT = "Which planet in the solar system is the largest, and roughly how many Earths would fit inside it?"
A = ("Jupiter is the largest planet. Its volume is about 1,300 times that of Earth, so roughly "
     "1,300 Earths would fit inside it.")
B = "Saturn is the largest planet; about 100 Earths would fit inside it."


def main() -> None:
    import llama_cpp

    from edgejudge import Judge
    from edgejudge.formats import JudgeOptions
    from edgejudge.items import make_item

    judge = Judge.load("smollm2-135m")
    item = make_item({"prompt": PROMPT, "response_a": A, "response_b": B})
    options = JudgeOptions(explain=False)
    tokens = judge.model.prompt_tokens(judge.format.plan(item, options).segments)

    warm = make_item({"prompt": "Warm-up question?", "response_a": "Yes.", "response_b": "No."})
    judge.judge(warm, options)
    ours = []
    for _ in range(RUNS):
        judge.engine.truncate(0)
        start = time.perf_counter()
        result = judge.judge(item, options)
        ours.append(time.perf_counter() - start)

    defaults = llama_cpp.llama_model_default_params

    def safe_defaults():
        params = defaults()
        params.use_extra_bufts = judge.info.extra_bufts
        return params

    llama_cpp.llama_model_default_params = safe_defaults
    llama_cpp.llama.llama_cpp.llama_model_default_params = safe_defaults
    llm = llama_cpp.Llama(str(judge.resolved.path), n_ctx=judge.engine.n_ctx, n_threads=judge.info.threads,
                          n_threads_batch=judge.info.threads, n_batch=512, verbose=False)
    llm.eval(llm.tokenize(b"Warm-up question?"))
    plain = []
    for _ in range(RUNS):
        llm.reset()
        start = time.perf_counter()
        llm.eval(tokens)
        plain.append(time.perf_counter() - start)

    ours_median, plain_median = statistics.median(ours), statistics.median(plain)
    ratio = ours_median / plain_median
    print(f"prompt: {len(tokens)} tokens, threads {judge.info.threads}, verdict {result.verdict} "
          f"p={result.probabilities[result.verdict]:.3f}")
    print(f"plain llama-cpp-python eval : median {plain_median * 1000:.1f} ms over {RUNS} runs")
    print(f"edgejudge --no-explain verdict: median {ours_median * 1000:.1f} ms over {RUNS} runs")
    print(f"ratio {ratio:.2f}x; target <= 1.3x: {'met' if ratio <= 1.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
