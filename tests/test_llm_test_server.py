"""The LLM test server behaves like Ollama and an OpenAI-compatible server, and fails on demand.

These tests talk to it with plain ``requests``, the way the kit's clients will.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from llm_test_server import GARBAGE_REPLY, LLMTestServer, document_sha256

from course.extraction import ReplyError, build_messages, output_schema, parse_reply
from course.routing import ProcessingRoute
from course.tokens import count_message_tokens, count_tokens

TOKEN = "s3cret-test-token-4f9a2c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
INVOICE = "Invoice #INV20240001 from QuickSupply Co. - Total: $314.91 - Date: 2024-06-11"
OTHER_INVOICE = "Invoice #INV20240002 from Northwind Ltd. - Total: $20.00 - Date: 2024-07-01"
EXPECTED = {"invoice_number": "INV20240001", "vendor": "QuickSupply Co.", "date": "2024-06-11", "total": 314.91}
APIS = ["ollama", "openai"]

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def server():
    with LLMTestServer(token=TOKEN, models=["qwen3:8b", "small"], latency=0.0) as running:
        yield running


def chat(server, api, document=INVOICE, *, model="qwen3:8b", headers=AUTH, timeout=5.0):
    """One chat request as the kit sends it: build_messages, schema-constrained, no streaming."""
    messages = build_messages(ProcessingRoute.FAST, document)
    if api == "ollama":
        body = {
            "model": model,
            "messages": messages,
            "stream": False,
            "format": output_schema(),
            "options": {"temperature": 0},
            "think": False,
        }
        return requests.post(f"{server.url}/api/chat", json=body, headers=headers, timeout=timeout)
    body = {
        "model": model,
        "messages": messages,
        "response_format": {"type": "json_schema", "json_schema": {"name": "invoice", "schema": output_schema()}},
        "temperature": 0,
        "max_tokens": 200,
    }
    return requests.post(f"{server.openai_url}/chat/completions", json=body, headers=headers, timeout=timeout)


def reply_text(api, payload):
    return payload["message"]["content"] if api == "ollama" else payload["choices"][0]["message"]["content"]


def completion_tokens(api, payload):
    return payload["eval_count"] if api == "ollama" else payload["usage"]["completion_tokens"]


# --- the two APIs ----------------------------------------------------------------------------


def test_ollama_chat_answers_with_a_perfect_extraction_and_token_counts(server):
    response = chat(server, "ollama")

    assert response.status_code == 200
    payload = response.json()
    assert payload["model"] == "qwen3:8b"
    assert payload["created_at"]
    assert payload["message"]["role"] == "assistant"
    assert json.loads(payload["message"]["content"]) == EXPECTED
    assert payload["done"] is True
    assert payload["done_reason"] == "stop"
    assert payload["prompt_eval_count"] == count_message_tokens(build_messages(ProcessingRoute.FAST, INVOICE))
    assert payload["eval_count"] == count_tokens(payload["message"]["content"])


def test_openai_chat_answers_with_a_perfect_extraction_and_usage(server):
    response = chat(server, "openai")

    assert response.status_code == 200
    payload = response.json()
    assert payload["id"]
    assert payload["object"] == "chat.completion"
    assert payload["model"] == "qwen3:8b"
    [choice] = payload["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert json.loads(choice["message"]["content"]) == EXPECTED
    usage = payload["usage"]
    assert usage["prompt_tokens"] == count_message_tokens(build_messages(ProcessingRoute.FAST, INVOICE))
    assert usage["completion_tokens"] == count_tokens(choice["message"]["content"])
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_the_reply_parses_with_the_kits_own_parser(server):
    for api in APIS:
        fields = parse_reply(reply_text(api, chat(server, api).json()))
        assert fields.model_dump(mode="json") == EXPECTED


def test_ollama_streams_ndjson_when_stream_is_not_false_like_real_ollama(server):
    body = {"model": "qwen3:8b", "messages": build_messages(ProcessingRoute.FAST, INVOICE)}
    response = requests.post(f"{server.url}/api/chat", json=body, headers=AUTH, timeout=5)

    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["done"] for line in lines] == [False, True]
    assert json.loads("".join(line["message"]["content"] for line in lines)) == EXPECTED
    assert lines[-1]["eval_count"] > 0


def test_a_custom_reply_function_gets_the_document_model_and_api():
    seen = []

    def reply(document, model, api):
        seen.append((document, model, api))
        return '{"invoice_number": null, "vendor": null, "date": null, "total": 1}'

    with LLMTestServer(models=["small"], reply=reply) as server:
        ollama = chat(server, "ollama", model="small", headers={})
        openai = chat(server, "openai", model="small", headers={})

    assert seen == [(INVOICE, "small", "ollama"), (INVOICE, "small", "openai")]
    assert json.loads(reply_text("ollama", ollama.json()))["total"] == 1
    assert json.loads(reply_text("openai", openai.json()))["total"] == 1


# --- models ----------------------------------------------------------------------------------


def test_ollama_lists_its_models_with_full_tags(server):
    response = requests.get(f"{server.url}/api/tags", headers=AUTH, timeout=5)

    assert response.status_code == 200
    assert [(m["name"], m["model"]) for m in response.json()["models"]] == [
        ("qwen3:8b", "qwen3:8b"),
        ("small:latest", "small:latest"),  # as Ollama lists a model pulled without a tag
    ]


def test_openai_lists_its_models(server):
    response = requests.get(f"{server.openai_url}/models", headers=AUTH, timeout=5)

    assert response.status_code == 200
    payload = response.json()
    assert payload["object"] == "list"
    assert [(m["id"], m["object"]) for m in payload["data"]] == [("qwen3:8b", "model"), ("small", "model")]


def test_ollama_answers_to_a_model_name_with_or_without_latest(server):
    assert chat(server, "ollama", model="small").status_code == 200
    assert chat(server, "ollama", model="small:latest").status_code == 200


def test_an_unknown_model_is_404_with_ollamas_message(server):
    response = chat(server, "ollama", model="llama9")

    assert response.status_code == 404
    assert response.json() == {"error": 'model "llama9" not found, try pulling it first'}


def test_an_unknown_model_is_404_with_an_openai_error_object(server):
    response = chat(server, "openai", model="gpt-9")

    assert response.status_code == 404
    error = response.json()["error"]
    assert "gpt-9" in error["message"]
    assert error["code"] == "model_not_found"
    assert set(error) == {"message", "type", "param", "code"}


# --- the token -------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
@pytest.mark.parametrize("api", APIS)
def test_chat_without_the_right_bearer_token_is_401(server, api, headers):
    response = chat(server, api, headers=headers)

    assert response.status_code == 401
    if api == "ollama":
        assert response.json() == {"error": "unauthorized"}
    else:
        assert response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("path", ["/api/tags", "/v1/models"])
def test_model_lists_need_the_token_too(server, path):
    assert requests.get(server.url + path, timeout=5).status_code == 401
    assert requests.get(server.url + path, headers=AUTH, timeout=5).status_code == 200


def test_the_right_token_is_accepted_on_both_apis(server):
    assert chat(server, "ollama").status_code == 200
    assert chat(server, "openai").status_code == 200


def test_a_server_without_a_token_accepts_every_request():
    with LLMTestServer() as server:
        assert chat(server, "ollama", headers={}).status_code == 200
        assert chat(server, "openai", headers={"Authorization": "Bearer anything"}).status_code == 200


def test_the_token_never_appears_in_a_response_or_a_record(server):
    server.fail_next("401")
    responses = [chat(server, "ollama")]  # injected 401
    for api in APIS:
        for headers in ({}, {"Authorization": "Bearer wrong"}, AUTH):
            responses.append(chat(server, api, headers=headers))
        responses.append(chat(server, api, model="unknown"))
    responses.append(requests.get(f"{server.url}/api/tags", headers=AUTH, timeout=5))
    responses.append(requests.get(f"{server.openai_url}/models", headers=AUTH, timeout=5))

    for response in responses:
        assert TOKEN not in response.text
        assert TOKEN not in str(response.headers)
    assert TOKEN not in repr(server.requests)
    assert TOKEN not in repr(server)


# --- recording -------------------------------------------------------------------------------


def test_every_request_is_recorded_with_what_a_test_needs(server):
    chat(server, "ollama", headers={})
    chat(server, "openai")
    requests.get(f"{server.url}/api/tags", headers=AUTH, timeout=5)

    unauthorized, completion, listing = server.requests
    assert (unauthorized.path, unauthorized.api, unauthorized.status) == ("/api/chat", "ollama", 401)
    assert (unauthorized.had_auth_header, unauthorized.auth_ok) == (False, False)
    assert (completion.path, completion.api, completion.model) == ("/v1/chat/completions", "openai", "qwen3:8b")
    assert (completion.had_auth_header, completion.auth_ok, completion.status) == (True, True, 200)
    assert completion.document == INVOICE
    assert completion.document_sha256 == document_sha256(INVOICE)
    assert completion.fault is None
    assert completion.body["response_format"]["type"] == "json_schema"
    assert completion.time > 0 and completion.duration >= 0
    assert (listing.path, listing.document, listing.status) == ("/api/tags", None, 200)
    assert server.chat_requests() == [unauthorized, completion]


def test_attempts_count_the_chat_requests_carrying_the_same_document(server):
    chat(server, "ollama", INVOICE)
    chat(server, "openai", OTHER_INVOICE)
    chat(server, "openai", INVOICE)

    assert [(r.document, r.attempt) for r in server.chat_requests()] == [
        (INVOICE, 1),
        (OTHER_INVOICE, 1),
        (INVOICE, 2),
    ]


def test_latency_is_added_to_every_chat_request(server):
    server.latency = 0.3
    started = time.monotonic()
    assert chat(server, "ollama").status_code == 200
    assert time.monotonic() - started >= 0.3


# --- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_fault_500_is_an_http_500_with_a_json_error(server, api):
    server.fail_next("500")
    response = chat(server, api)

    assert response.status_code == 500
    assert "error" in response.json()
    assert server.chat_requests()[-1].fault == "500"


@pytest.mark.parametrize("api", APIS)
def test_fault_429_asks_to_retry_after_zero_seconds(server, api):
    server.fail_next("429")
    response = chat(server, api)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "0"
    assert "error" in response.json()


@pytest.mark.parametrize("api", APIS)
def test_fault_401_answers_as_if_the_token_were_wrong(server, api):
    server.fail_next("401")
    response = chat(server, api)

    assert response.status_code == 401
    assert server.chat_requests()[-1].auth_ok is True


@pytest.mark.parametrize("api", APIS)
def test_fault_garbage_is_a_200_whose_reply_is_not_json_but_still_costs_tokens(server, api):
    server.fail_next("garbage")
    response = chat(server, api)

    assert response.status_code == 200
    content = reply_text(api, response.json())
    assert content == GARBAGE_REPLY
    with pytest.raises(ReplyError):
        parse_reply(content)
    assert completion_tokens(api, response.json()) == count_tokens(GARBAGE_REPLY)


@pytest.mark.parametrize("api", APIS)
def test_fault_bad_json_is_a_200_whose_body_is_not_json(server, api):
    server.fail_next("bad_json")
    response = chat(server, api)

    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


@pytest.mark.parametrize("api", APIS)
def test_fault_slow_answers_correctly_after_the_extra_delay(server, api):
    server.slow_seconds = 0.3
    server.fail_next("slow")
    started = time.monotonic()
    response = chat(server, api)

    assert time.monotonic() - started >= 0.3
    assert json.loads(reply_text(api, response.json())) == EXPECTED


@pytest.mark.parametrize("api", APIS)
def test_fault_drop_closes_the_connection_without_a_response(server, api):
    server.fail_next("drop")
    with pytest.raises(requests.ConnectionError):
        chat(server, api)
    assert server.chat_requests()[-1].status is None
    assert chat(server, api).status_code == 200  # the server itself is fine


@pytest.mark.parametrize("api", APIS)
def test_fault_hang_outlasts_the_client_timeout_and_does_not_delay_shutdown(api):
    server = LLMTestServer(token=TOKEN).start()
    try:
        server.fail_next("hang")
        with pytest.raises(requests.Timeout):
            chat(server, api, timeout=0.5)
    finally:
        started = time.monotonic()
        server.stop()
        stopped_in = time.monotonic() - started
    assert stopped_in < 1.0
    assert server.chat_requests()[-1].fault == "hang"


def test_fault_hang_answers_normally_once_hang_seconds_have_passed():
    with LLMTestServer(hang_seconds=0.3) as server:
        server.fail_next("hang")
        started = time.monotonic()
        response = chat(server, "ollama", headers={})
    assert time.monotonic() - started >= 0.3
    assert json.loads(reply_text("ollama", response.json())) == EXPECTED


def test_fail_next_fails_that_many_chat_requests_then_answers_normally(server):
    server.fail_next("500", count=2)
    assert requests.get(f"{server.url}/api/tags", headers=AUTH, timeout=5).status_code == 200  # not a chat
    assert [chat(server, "ollama").status_code for _ in range(3)] == [500, 500, 200]


def test_fail_documents_fails_a_document_by_attempt(server):
    server.fail_documents({INVOICE: ["429", None, "500"], document_sha256(OTHER_INVOICE): ["garbage"]})

    assert [chat(server, "ollama", INVOICE).status_code for _ in range(4)] == [429, 200, 500, 200]
    assert reply_text("openai", chat(server, "openai", OTHER_INVOICE).json()) == GARBAGE_REPLY
    assert json.loads(reply_text("openai", chat(server, "openai", OTHER_INVOICE).json()))["total"] == 20.0


def test_set_faults_decides_from_the_request_record(server):
    seen = []

    def faults(record):
        seen.append((record.api, record.model, record.document, record.attempt, record.auth_ok))
        return "500" if record.api == "openai" else None

    server.set_faults(faults)

    assert chat(server, "ollama").status_code == 200
    assert chat(server, "openai").status_code == 500
    assert seen == [("ollama", "qwen3:8b", INVOICE, 1, True), ("openai", "qwen3:8b", INVOICE, 2, True)]
    server.clear_faults()
    assert chat(server, "openai").status_code == 200


def test_an_unknown_fault_kind_is_refused(server):
    with pytest.raises(ValueError, match="unknown fault kind"):
        server.fail_next("timeout")
    with pytest.raises(ValueError, match="unknown fault kind"):
        server.fail_documents({INVOICE: ["explode"]})


def test_a_failure_inside_the_server_is_raised_when_the_with_block_ends():
    def broken_reply(document, model, api):
        raise ZeroDivisionError("bug in the test's reply function")

    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        with LLMTestServer(reply=broken_reply) as server:
            assert chat(server, "ollama", headers={}).status_code == 500


# --- capacity and lifecycle ------------------------------------------------------------------


def test_64_concurrent_chat_requests_are_served_in_parallel():
    with LLMTestServer(token=TOKEN, latency=0.2) as server:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=64) as pool:
            documents = [f"Invoice #INV2024{n:04d} from QuickSupply Co. - Total: ${n}.00" for n in range(64)]
            responses = list(pool.map(lambda doc: chat(server, "openai", doc, timeout=10), documents))
        elapsed = time.monotonic() - started

    assert [r.status_code for r in responses] == [200] * 64
    assert [json.loads(reply_text("openai", r.json()))["total"] for r in responses] == [float(n) for n in range(64)]
    assert elapsed < 3.0  # one after another would take 64 x 0.2 s = 12.8 s


def test_it_listens_on_localhost_on_a_free_port(server):
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.openai_url == server.url + "/v1"
    assert server.port > 0


def test_after_stop_no_request_is_answered_even_on_a_kept_alive_connection():
    server = LLMTestServer().start()
    session = requests.Session()
    assert session.get(f"{server.url}/api/tags", timeout=5).status_code == 200
    server.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(f"{server.url}/api/tags", timeout=5)


def test_it_runs_standalone_and_says_where_it_listens():
    script = Path(__file__).with_name("llm_test_server.py")
    process = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--token", TOKEN, "--latency", "0.1", "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=script.parent,  # the script finds the course package on its own
    )
    try:
        ready = process.stdout.readline().split()
        assert ready[0] == "READY" and ready[1].startswith("http://127.0.0.1:")
        tags = requests.get(f"{ready[1]}/api/tags", headers=AUTH, timeout=5)
        assert [m["name"] for m in tags.json()["models"]] == ["qwen3:8b"]
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
