"""Hostile OpenAI-compatible servers on loopback: answers that are not what the protocol says, a
server that drips its answer, redirects to another origin. Every malformed answer must become an
error record (the run goes on), the --timeout must bound the whole request, and the API key must
never reach another origin."""

import json
import time

import orjson
import pytest
from click.testing import CliRunner
from servers import RawStub

from edgejudge import Judge
from edgejudge.backends.remote import RemoteSettings
from edgejudge.cli import cli
from edgejudge.errors import RemoteError

MODELS = json.dumps({"object": "list", "data": [{"id": "stub", "owned_by": "me"}]}).encode()
ITEM = {"id": "q1", "prompt": "2+2?", "response_a": "4", "response_b": "5"}
GOOD = json.dumps({"choices": [{"text": "A", "finish_reason": "length",
                                "logprobs": {"top_logprobs": [{"A": -0.2, "B": -1.8}]}}]}).encode()

MALFORMED = {
    "choices holds a string": b'{"choices": ["x"]}',
    "choices is empty": b'{"choices": []}',
    "choices is an object": b'{"choices": {"text": "A"}}',
    "top_logprobs is a list of lists": b'{"choices": [{"text": "A", "logprobs": {"top_logprobs": [["A", -0.1]]}}]}',
    "a logprob is NaN": b'{"choices": [{"text": "A", "logprobs": {"top_logprobs": [{"A": NaN, "B": -1.0}]}}]}',
    "a logprob is Infinity": b'{"choices": [{"text": "A", "logprobs": {"top_logprobs": [{"A": Infinity}]}}]}',
    "a logprob is a string": b'{"choices": [{"text": "A", "logprobs": {"top_logprobs": [{"A": "-0.1"}]}}]}',
    "a logprob is positive": b'{"choices": [{"text": "A", "logprobs": {"top_logprobs": [{"A": 3.0}]}}]}',
    "a logprob is a boolean": b'{"choices": [{"text": "A", "logprobs": {"top_logprobs": [{"A": true}]}}]}',
    "llama-server entry without logprob":
        b'{"choices": [{"text": "A", "logprobs": {"content": [{"top_logprobs": [{"token": "A"}]}]}}]}',
    "llama-server content is a string": b'{"choices": [{"text": "A", "logprobs": {"content": "A"}}]}',
    "logprobs is a list": b'{"choices": [{"text": "A", "logprobs": [1, 2]}]}',
    "text is a number": b'{"choices": [{"text": 7, "logprobs": null}]}',
    "usage counts are strings": b'{"choices": [{"text": "A"}], "usage": {"prompt_tokens": "many"}}',
    "the body is a JSON array": b'[{"choices": []}]',
    "the body is a JSON string": b'"choices"',
    "the body is not UTF-8": b'{"choices": [{"text": "\xff\xfe"}]}',
    "the body is HTML": b"<html><body>502 Bad Gateway</body></html>",
    "the body is empty": b"",
}


def serve(completion: bytes, models: bytes = MODELS, drip: float = 0.0):
    def answer(method, path, headers, body):
        if path.endswith("/models"):
            return 200, {"Content-Type": "application/json"}, models, 0.0
        return 200, {"Content-Type": "application/json"}, completion, drip

    return RawStub(answer)


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_answer_is_an_error_record_and_the_run_goes_on(case):
    stub = serve(MALFORMED[case])
    try:
        judge = Judge.remote("smollm2-135m", RemoteSettings(base_url=stub.url, retries=0))
        records = list(judge.score_many([ITEM, dict(ITEM, id="q2")], explain=False))
    finally:
        stub.stop()
    assert [r["id"] for r in records] == ["q1", "q2"]  # one record per line: the run went on
    for record in records:
        assert record["status"] == "error", record
        assert record["error"]["code"] == "protocol", record
        assert "127.0.0.1" in record["error"]["message"] and record["error"]["hint"]


def test_a_well_formed_answer_still_gives_a_verdict():
    # the same stub with a protocol answer: the checks above fail for the answers, not the stub
    stub = serve(GOOD)
    try:
        judge = Judge.remote("smollm2-135m", RemoteSettings(base_url=stub.url, retries=0))
        record = next(iter(judge.score_many([ITEM], explain=False)))
    finally:
        stub.stop()
    assert record["status"] == "ok" and record["verdict"] == "A"
    assert record["probabilities"]["A"] == pytest.approx(1 / (1 + 2.718281828 ** -1.6), abs=1e-3)


def test_score_writes_only_whole_records_for_malformed_answers(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(orjson.dumps(dict(ITEM, id=f"q{i}")) + b"\n" for i in range(3)))
    stub = serve(MALFORMED["a logprob is NaN"])
    try:
        result = CliRunner().invoke(cli, ["score", str(source), "--backend", "openai", "--base-url", stub.url,
                                          "--retries", "0", "--no-explain", "-q"])
    finally:
        stub.stop()
    assert result.exit_code == 9, result.output
    records = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3]
    assert {r["error"]["code"] for r in records} == {"protocol"}
    assert "internal error" not in result.output


@pytest.mark.parametrize("models", [b'{"data": [{"name": "no id"}]}', b'{"data": "stub"}', b'[{"id": "x"}]',
                                   b'{"data": [{"id": 5}]}', b"\xff\xfe", b"not json"])
def test_a_malformed_model_list_is_a_remote_error(models):
    stub = serve(GOOD, models=models)
    try:
        with pytest.raises(RemoteError) as caught:
            Judge.remote("smollm2-135m", RemoteSettings(base_url=stub.url, retries=0))
        assert caught.value.code == "protocol" and caught.value.exit_code == 7
        result = CliRunner().invoke(cli, ["judge", "--backend", "openai", "--base-url", stub.url, "--retries", "0",
                                          "--prompt", "p", "--response-a", "a", "--response-b", "b", "--no-explain"])
    finally:
        stub.stop()
    assert result.exit_code == 7, result.output
    assert result.stdout == "" and "internal error" not in result.output


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_dripping_server_does_not_beat_the_timeout(where):
    # one byte every 0.2 s: each read succeeds long before a socket timeout, the answer never ends
    body = GOOD + b" " * 200
    if where == "headers":
        stub = serve(body, drip=0.2)
    else:
        def answer(method, path, headers, data):
            if path.endswith("/models"):
                return 200, {}, MODELS, 0.0
            return 200, {"X-Padding": "p" * 2}, body, 0.2
        stub = RawStub(answer)
    try:
        judge = Judge.remote("smollm2-135m", RemoteSettings(base_url=stub.url, timeout=1.0, retries=2))
        started = time.monotonic()
        record = next(iter(judge.score_many([ITEM], explain=False)))
        elapsed = time.monotonic() - started
    finally:
        stub.stop()
    assert record["status"] == "error" and record["error"]["code"] == "timeout", record
    assert elapsed < 3.0  # the whole request is bounded by --timeout (1 s), and a timeout is not retried


def redirector(status: int, to: str, seen: list):
    def answer(method, path, headers, body):
        seen.append(headers.get("Authorization"))
        return status, {"Location": to + path}, b"", 0.0
    return answer


def target_server(seen: list):
    def answer(method, path, headers, body):
        seen.append(headers.get("Authorization"))
        return 200, {"Content-Type": "application/json"}, MODELS if path.endswith("/models") else GOOD, 0.0
    return RawStub(answer)


def test_the_api_key_is_not_sent_to_another_origin_on_a_redirect():
    at_target, at_first = [], []
    target = target_server(at_target)
    first = RawStub(redirector(307, target.url, at_first))
    try:
        judge = Judge.remote("smollm2-135m", RemoteSettings(base_url=first.url, api_key="s3cret", retries=0))
        record = next(iter(judge.score_many([ITEM], explain=False)))
    finally:
        first.stop()
        target.stop()
    assert record["status"] == "ok", record
    assert at_first and all(h == "Bearer s3cret" for h in at_first)  # the server the user named gets the key
    assert at_target and all(h is None for h in at_target)  # another port is another origin: no key


def test_a_redirect_within_one_origin_keeps_the_api_key():
    seen = []

    def answer(method, path, headers, body):
        seen.append(headers.get("Authorization"))
        if path.startswith("/old"):
            return 308, {"Location": path.replace("/old", "", 1)}, b"", 0.0
        return 200, {}, MODELS if path.endswith("/models") else GOOD, 0.0

    stub = RawStub(answer)
    try:
        judge = Judge.remote("smollm2-135m", RemoteSettings(base_url=stub.url + "/old", api_key="k", retries=0))
        record = next(iter(judge.score_many([ITEM], explain=False)))
    finally:
        stub.stop()
    assert record["status"] == "ok" and len(seen) == 4 and set(seen) == {"Bearer k"}


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirect_that_would_turn_a_post_into_a_get_is_refused(status):
    seen = []
    target = target_server(seen)

    def answer(method, path, headers, body):
        if method == "GET":
            return 200, {}, MODELS, 0.0
        return status, {"Location": target.url + path}, b"", 0.0

    stub = RawStub(answer)
    try:
        judge = Judge.remote("smollm2-135m", RemoteSettings(base_url=stub.url, retries=0))
        record = next(iter(judge.score_many([ITEM], explain=False)))
    finally:
        stub.stop()
        target.stop()
    assert record["status"] == "error" and record["error"]["code"] == "protocol"
    assert "redirect" in record["error"]["message"] and seen == []


def test_requests_reuse_their_connection():
    stub = serve(GOOD)
    try:
        judge = Judge.remote("smollm2-135m", RemoteSettings(base_url=stub.url, retries=0))
        records = list(judge.score_many([dict(ITEM, id=f"q{i}") for i in range(5)], explain=False))
        judge.close()
    finally:
        stub.stop()
    assert all(r["status"] == "ok" for r in records)
    assert len(stub.requests) >= 6 and stub.connections == 1


@pytest.mark.parametrize("url", ["http://[::1", "http://x:99999", "http://x:abc", "ftp://x", "http://",
                                 "http://127.0.0.1:1/\n", "http://127.0.0.1:1/a b", "http://127.0.0.1:1?x=1",
                                 "http://127.0.0.1:1#top", "http://127.0.0.1:1/" + "a" * 5000])
def test_a_malformed_base_url_is_a_usage_error(url):
    result = CliRunner().invoke(cli, ["judge", "--backend", "openai", "--base-url", url, "--retries", "0",
                                      "--prompt", "p", "--response", "r"])
    assert result.exit_code == 2, result.output
    assert "--base-url" in result.stderr and "hint:" in result.stderr and result.stdout == ""


def test_credentials_in_the_base_url_are_refused_and_not_printed():
    result = CliRunner().invoke(cli, ["judge", "--backend", "openai", "--base-url", "http://me:s3cret@127.0.0.1:1",
                                      "--prompt", "p", "--response", "r"])
    assert result.exit_code == 2 and "s3cret" not in result.output and "--api-key-env" in result.stderr


@pytest.mark.parametrize("key", ["abc\n", "a b", "\tabc", "", "ключ"])
def test_an_api_key_that_cannot_be_a_header_is_a_usage_error(monkeypatch, key):
    monkeypatch.setenv("EDGEJUDGE_TEST_KEY", key)
    result = CliRunner().invoke(cli, ["judge", "--backend", "openai", "--base-url", "http://127.0.0.1:1",
                                      "--api-key-env", "EDGEJUDGE_TEST_KEY", "--prompt", "p", "--response", "r"])
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
