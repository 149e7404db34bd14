"""The remote backend against a real OpenAI-compatible server on loopback (llama-cpp-python's),
serving the same SmolLM2 GGUF: same verdicts as locally, order under concurrency, a server killed
mid-run, a slow server, retries of transient errors only. Where llama.cpp's own llama-server is at
hand, the same checks run against it too; vLLM's answers are played by a stub (no GPU here)."""

import json
import math
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest
import servers
from click.testing import CliRunner

from edgejudge import Judge
from edgejudge.backends.remote import RemoteError, RemoteSettings
from edgejudge.cli import cli

pytestmark = pytest.mark.model
ITEMS = [{"id": f"q{i}", "prompt": f"What is {i} times 3?", "response_a": str(3 * i), "response_b": str(3 * i + 2)}
         for i in range(12)]


@pytest.fixture(scope="module", params=["llama-cpp-python", "llama-server"])
def server(request, smollm2_path, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "server.log"
    if request.param == "llama-server":
        binary = servers.llama_server_binary()
        if not binary:
            pytest.skip("no llama-server: set EDGEJUDGE_LLAMA_SERVER to one built from llama.cpp (docs/servers.md: "
                        "Serving a judge with llama-server)")
        proc, url = servers.start_llama_server(binary, smollm2_path, log)
    else:
        proc, url = servers.start_llama_cpp_python(smollm2_path, log)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_same_verdicts_as_the_local_backend(server, smollm2_judge):
    remote = Judge.remote("smollm2-135m", RemoteSettings(base_url=server))
    for item in ITEMS[:4]:
        here = smollm2_judge.judge(item, explain=False)
        there = remote.judge(item, explain=False)
        assert there.verdict == here.verdict
        assert there.probabilities["A"] == pytest.approx(here.probabilities["A"], abs=0.05)
        assert there.label_mass == pytest.approx(here.label_mass, abs=0.05)
    swapped = remote.judge(ITEMS[0], explain=False, swap=True)
    assert swapped.swap["orders"][1]["order"] == "swapped"
    record = remote.judge(ITEMS[1], explain=True, max_explain_tokens=24).to_dict()
    assert record["verdict"] in ("A", "B") and '"' not in record["explanation"]
    assert record["provenance"]["runtime"]["backend"] == "openai"
    assert record["model"]["host"] == server.split("//")[1] and record["model"]["server_model"]


def test_scores_whose_labels_share_a_prefix_match_the_local_backend(server, smollm2_judge):
    # "1" and "10": read through the terminator, a second parting point below the first
    remote = Judge.remote("smollm2-135m", RemoteSettings(base_url=server))
    for response in ("Red", "Blue is a primary colour of light."):
        here = smollm2_judge.pointwise("Name a primary colour.", response, scale=(1, 10), explain=False)
        there = remote.pointwise("Name a primary colour.", response, scale=(1, 10), explain=False)
        assert there.score == here.score
        assert set(there.probabilities) == {str(n) for n in range(1, 11)}
        # 0.03: the local engine evaluates the prompt's fixed head as a batch of its own (prefix
        # cache), the server the whole prompt at once; the split moves SmolLM2's logits slightly.
        for label, p in here.probabilities.items():
            assert there.probabilities[label] == pytest.approx(p, abs=0.03), label


def test_score_keeps_input_order_under_concurrency(server, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(orjson.dumps(i) + b"\n" for i in ITEMS[:8]) + b"not json\n")
    result = CliRunner().invoke(cli, ["score", str(source), "--backend", "openai", "--base-url", server,
                                      "--concurrency", "4", "--no-explain", "-q"])
    assert result.exit_code == 9, result.output
    records = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in records] == list(range(1, 10))
    assert [r["id"] for r in records[:8]] == [i["id"] for i in ITEMS[:8]]
    assert all(r["status"] == "ok" for r in records[:8]) and records[8]["error"]["code"] == "bad_json"


def test_a_server_killed_mid_run_gives_error_records_and_a_clean_exit(smollm2_path, tmp_path):
    proc, url = servers.start_llama_cpp_python(smollm2_path, tmp_path / "server.log")
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    items = [dict(i, id=f"k{n}") for n, i in enumerate(ITEMS * 3)]
    source.write_bytes(b"".join(orjson.dumps(i) + b"\n" for i in items))
    run = subprocess.Popen([sys.executable, "-m", "edgejudge", "score", str(source), "-o", str(out), "--backend",
                            "openai", "--base-url", url, "--concurrency", "2", "--no-explain", "-q",
                            "--retries", "1"], stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert run.wait(timeout=180) == 9
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [r["id"] for r in records] == [i["id"] for i in items]  # every line, in order
    statuses = [r["status"] for r in records]
    assert statuses[0] == "ok" and statuses[-1] == "error"
    assert {r["error"]["code"] for r in records if r["status"] == "error"} <= {"backend_unavailable", "backend"}
    assert b"Traceback" not in run.stderr.read()


class Stub:
    """A tiny OpenAI-compatible server whose answers the test scripts."""

    def __init__(self, completions, models=({"id": "stub", "owned_by": "me"},)):
        self.completions = completions  # a function: request number -> (status, body, delay)
        self.count = 0
        self.requests = []  # the bodies received, decoded
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._send(200, {"object": "list", "data": list(models)})

            def do_POST(self):
                stub.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                stub.count += 1
                status, body, delay = stub.completions(stub.count)
                time.sleep(delay)
                self._send(status, body)

            def _send(self, status, body):
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_slow_server_hits_the_timeout():
    stub = Stub(lambda n: (200, {"choices": [{"text": ""}]}, 3.0))
    try:
        judge = Judge.remote("smollm2-135m", RemoteSettings(base_url=stub.url, timeout=0.5, retries=2))
        records = list(judge.score_many([ITEMS[0]], explain=False))
        assert records[0]["status"] == "error" and records[0]["error"]["code"] == "timeout"
        assert stub.count == 1  # a timeout is not retried
    finally:
        stub.stop()


def vllm_answer(body):
    """What vLLM's /v1/completions returns (OpenAI's completions shape, plus vLLM's stop_reason)."""
    usage = {"prompt_tokens": 50, "completion_tokens": 1}
    if body.get("logprobs"):
        top = {"A": math.log(0.6), "B": math.log(0.3), "{": math.log(0.05)}
        return {"choices": [{"text": "A", "finish_reason": "length", "stop_reason": None,
                             "logprobs": {"tokens": ["A"], "token_logprobs": [top["A"]], "text_offset": [0],
                                          "top_logprobs": [top]}}], "usage": usage}
    # the explanation, ended by the model's end-of-turn token: stop_reason is that token's id
    return {"choices": [{"text": "A adds up", "finish_reason": "stop", "stop_reason": 2, "logprobs": None}],
            "usage": dict(usage, completion_tokens=3)}


def test_vllm_dialect_sends_structured_outputs_and_reads_openai_logprobs():
    stub = Stub(lambda n: (200, vllm_answer(stub.requests[-1]), 0.0),
                models=({"id": "org/judge", "object": "model", "owned_by": "vllm", "max_model_len": 4096},))
    try:
        judge = Judge.remote("smollm2-135m", RemoteSettings(base_url=stub.url))
        verdict = judge.judge(ITEMS[1], explain=True, max_explain_tokens=24).to_dict()
    finally:
        stub.stop()
    explain, read = stub.requests
    assert explain["structured_outputs"]["grammar"] and "grammar" not in explain
    assert explain["model"] == "org/judge" and explain["max_tokens"] == 24 and explain["stop"] == ['"']
    # an end-of-turn stop (an int stop_reason) is not the stop text: the plan's close follows the text
    assert read["prompt"] == explain["prompt"] + 'A adds up", "verdict": "'
    assert read["max_tokens"] == 1 and read["logprobs"] == 20
    assert verdict["verdict"] == "A" and verdict["explanation"] == "A adds up"
    assert verdict["probabilities"]["A"] == pytest.approx(2 / 3)
    assert verdict["label_mass"] == pytest.approx(0.9)
    assert verdict["model"]["server_model"] == "org/judge"
    assert verdict["provenance"]["runtime"]["dialect"] == "vllm"


def test_transient_errors_are_retried_and_client_errors_are_not():
    answers = []
    stub = Stub(lambda n: answers.pop(0))
    try:
        judge_settings = RemoteSettings(base_url=stub.url, retries=3, backoff=0.01)
        from edgejudge.backends.remote import Client

        client = Client(judge_settings)
        answers[:] = [(503, {"error": "busy"}, 0.0), (429, {"error": "slow down"}, 0.0), (200, {"ok": 1}, 0.0)]
        assert client.request("POST", "/completions", {"prompt": "x"}) == {"ok": 1}
        assert stub.count == 3  # a 503 and a 429, retried
        stub.count = 0
        answers[:] = [(400, {"error": "bad request"}, 0.0)]
        with pytest.raises(RemoteError, match="400"):
            client.request("POST", "/completions", {"prompt": "x"})
        assert stub.count == 1  # a client error is not retried
        stub.count = 0
        answers[:] = [(503, {"error": "busy"}, 0.0)] * 4
        with pytest.raises(RemoteError, match="503"):
            client.request("POST", "/completions", {"prompt": "x"})
        assert stub.count == 4  # the first try and three retries
    finally:
        stub.stop()


def test_backend_flags_are_checked():
    result = CliRunner().invoke(cli, ["judge", "--backend", "openai", "--prompt", "p", "--response", "r"])
    assert result.exit_code == 2 and "--base-url" in result.output
    result = CliRunner().invoke(cli, ["judge", "--base-url", "http://127.0.0.1:1", "--prompt", "p", "--response", "r"])
    assert result.exit_code == 2
    result = CliRunner().invoke(cli, ["judge", "--backend", "openai", "--base-url", "http://127.0.0.1:1",
                                      "--retries", "0", "--prompt", "p", "--response", "r"])
    assert result.exit_code == 7 and "cannot reach" in result.output
