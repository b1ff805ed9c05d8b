"""Real HTTP on loopback: the Ollama and OpenAI-compatible backends against the test server."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from llm_test_server import LLMTestServer

from course.config import ConfigError, describe_check, load_settings, make_backend
from course.documents import generate_batch
from course.extraction import output_schema
from course.graph import run_batch
from course.llm import AuthenticationError, LLMError, ServerCheck
from course.routing import REPLY_TOKEN_BUDGET, ROUTE_SPECS, ProcessingRoute
from course.servers import OllamaBackend, OpenAIBackend, plain_http_warning, redact_url

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "tok-7f3a9c2e51d84b60"
MODELS = {ProcessingRoute.FAST: "small", ProcessingRoute.BALANCED: "qwen3:8b",
          ProcessingRoute.ACCURATE: "qwen3:8b", ProcessingRoute.PREMIUM: "big"}
ALL_MODELS = ["small", "qwen3:8b", "big"]


def ollama(server, **options):
    return OllamaBackend(server.url, TOKEN, MODELS, **{"retries": 3, "backoff": 0, **options})


def openai(server, **options):
    return OpenAIBackend(server.openai_url, TOKEN, MODELS, **{"retries": 3, "backoff": 0, **options})


BACKENDS = {"ollama": ollama, "openai": openai}


@pytest.fixture
def server():
    with LLMTestServer(token=TOKEN, models=ALL_MODELS) as running:
        yield running


@pytest.mark.parametrize("api", BACKENDS)
def test_happy_path_extracts_every_document_and_charges_reported_tokens(server, api):
    documents = generate_batch(24, seed=3)
    run = run_batch(documents, BACKENDS[api](server), workers=4)
    assert {r.status for r in run.results} == {"completed"}
    assert run.summary.field_accuracy == 1.0  # the test server is a perfect reader
    chats = server.chat_requests()
    assert len(chats) == 24 and all(record.auth_ok for record in chats)
    reported = sum(r.prompt_tokens + r.completion_tokens for r in run.results)
    assert reported > 0 and not run.summary.simulated


@pytest.mark.parametrize("api", BACKENDS)
def test_costs_use_the_token_counts_the_server_reports(server, api):
    server.token_offset = (1000, 7)  # the server's counts differ from anything the kit could estimate
    documents = generate_batch(6, seed=3)
    run = run_batch(documents, BACKENDS[api](server), workers=2)
    by_document = {record.document: record.reported_tokens for record in server.chat_requests()}
    results = {result.document_id: result for result in run.results}
    for document in documents:
        result = results[document.id]
        assert len(result.route_attempts) == 1
        assert (result.prompt_tokens, result.completion_tokens) == by_document[document.content]
        assert result.cost == pytest.approx(sum(ROUTE_SPECS[a.route].cost_per_token * (a.prompt_tokens + a.completion_tokens)
                                                for a in result.route_attempts))


@pytest.mark.parametrize(
    "api, answer",
    [("ollama", {"message": {}, "prompt_eval_count": 321, "eval_count": 12}),
     ("openai", {"choices": [], "usage": {"prompt_tokens": 321, "completion_tokens": 12}})],
)
def test_an_answer_without_content_still_charges_the_tokens_it_reports(server, api, answer):
    with pytest.raises(LLMError, match="no .*content") as failure:
        BACKENDS[api](server)._parse_chat(answer, [{"role": "user", "content": "x"}])
    assert (failure.value.prompt_tokens, failure.value.completion_tokens) == (321, 12)


@pytest.mark.parametrize("api", BACKENDS)
def test_each_route_asks_for_its_own_model(server, api):
    documents = generate_batch(40, seed=5)
    run = run_batch(documents, BACKENDS[api](server), workers=4)
    model_by_document = {}
    for record in server.chat_requests():
        model_by_document[record.document] = record.model
    for document, result in zip(sorted(documents, key=lambda d: d.id), sorted(run.results, key=lambda r: r.document_id)):
        assert model_by_document[document.content] == MODELS[result.route]
    assert {r.model for r in run.results} >= {"small", "big"}


def test_ollama_request_asks_for_structured_output_without_thinking(server):
    backend = ollama(server)
    backend.chat(ProcessingRoute.FAST, [{"role": "user", "content": "<document>\nInvoice #1\n</document>"}])
    body = server.chat_requests()[-1].body
    assert body["stream"] is False and body["think"] is False
    assert body["format"] == output_schema()
    assert body["options"]["temperature"] == 0 and body["options"]["num_predict"] == REPLY_TOKEN_BUDGET
    assert body["options"]["num_ctx"] == 2000  # fast's max_tokens: no other route shares its model


def test_routes_sharing_a_model_share_one_context_size(server):
    backend = ollama(server)
    for route in (ProcessingRoute.BALANCED, ProcessingRoute.ACCURATE):
        backend.chat(route, [{"role": "user", "content": "<document>\nx\n</document>"}])
    assert {r.body["options"]["num_ctx"] for r in server.chat_requests()} == {8000}


def test_openai_request_uses_a_strict_json_schema(server):
    openai(server).chat(ProcessingRoute.PREMIUM, [{"role": "user", "content": "<document>\nx\n</document>"}])
    body = server.chat_requests()[-1].body
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == output_schema()
    assert body["max_tokens"] == REPLY_TOKEN_BUDGET and body["temperature"] == 0


@pytest.mark.parametrize("api", BACKENDS)
def test_intermittent_500s_and_429s_are_retried(server, api):
    server.fail_next("500", count=2)
    document = generate_batch(1)[0]
    run = run_batch([document], BACKENDS[api](server), workers=1)
    assert run.results[0].status == "completed" and run.results[0].attempts == 3
    server.fail_next("429")
    assert run_batch([document], BACKENDS[api](server), workers=1).results[0].attempts == 2


def test_a_server_that_keeps_failing_fails_the_document_with_the_reason(server):
    server.fail_next("500", count=10)
    result = run_batch(generate_batch(1), ollama(server, retries=2), workers=1).results[0]
    assert result.status == "failed" and "HTTP 500" in result.error and result.attempts == 3


def test_a_hang_ends_by_timeout_and_the_batch_still_finishes(server):
    documents = generate_batch(6)
    server.fail_documents({documents[0].content: ["hang", "hang"]})
    run = run_batch(documents, ollama(server, read_timeout=0.4), workers=3)
    by_id = {r.document_id: r for r in run.results}
    assert "no answer" in by_id[documents[0].id].error and by_id[documents[0].id].status == "failed"
    assert sum(r.status == "completed" for r in run.results) == 5


def test_the_document_deadline_bounds_all_calls_together(server):
    server.latency = 0.3
    document = generate_batch(1)[0]
    server.fail_documents({document.content: ["garbage"]})  # forces a second (repair) call
    result = run_batch([document], ollama(server, document_deadline=0.45), workers=1, escalate=False).results[0]
    assert result.status == "failed" and ("deadline" in result.error or "no answer" in result.error)
    assert result.finished_at - result.started_at < 0.45 + 0.5


def test_the_document_deadline_holds_when_the_read_timeout_is_retried(server):
    document = generate_batch(1)[0]
    server.fail_documents({document.content: ["hang", "hang"]})  # urllib3 asks again after the first timeout
    result = run_batch([document], ollama(server, document_deadline=1.2), workers=1, escalate=False).results[0]
    assert result.status == "failed" and "no answer" in result.error
    assert result.finished_at - result.started_at < 1.2 + 0.5  # two full tries would take 2.4 s


@pytest.mark.parametrize("api", BACKENDS)
def test_a_reply_that_is_not_json_gets_one_repair_attempt(server, api):
    document = generate_batch(1)[0]
    server.fail_documents({document.content: ["garbage"]})
    result = run_batch([document], BACKENDS[api](server), workers=1, escalate=False).results[0]
    assert result.status == "completed" and result.attempts == 2
    server.reset()
    server.fail_documents({document.content: ["garbage", "garbage"]})
    failed = run_batch([document], BACKENDS[api](server), workers=1, escalate=False).results[0]
    assert failed.status == "failed" and "not JSON" in failed.error
    assert failed.prompt_tokens > 0  # the tokens of both failed answers are charged


def test_a_body_that_is_not_json_is_a_clear_failure(server):
    server.fail_next("bad_json", count=2)
    result = run_batch(generate_batch(1), ollama(server), workers=1).results[0]
    assert result.status == "failed" and "not JSON" in result.error


def test_a_dropped_connection_is_retried(server):
    server.fail_next("drop")
    assert run_batch(generate_batch(1), ollama(server), workers=1).results[0].status == "completed"


def test_a_refused_token_stops_the_batch_early_and_loses_nothing(server):
    server.fail_next("401", count=1000)
    documents = generate_batch(40)
    run = run_batch(documents, ollama(server), workers=4)
    assert len(run.results) == 40 and all(r.status == "failed" for r in run.results)
    assert len(server.chat_requests()) <= 4  # only what was already in flight
    assert sum(r.attempts for r in run.results) == len(server.chat_requests())  # refused requests are counted
    assert run.summary.stopped.startswith("authentication failed")


def test_wrong_or_missing_token_raises_authentication_error(server):
    wrong = OllamaBackend(server.url, "not-the-token", MODELS)
    with pytest.raises(AuthenticationError, match="refused the token.*OLLAMA_API_TOKEN") as refused:
        wrong.chat(ProcessingRoute.FAST, [{"role": "user", "content": "x"}])
    assert "not-the-token" not in str(refused.value) and "not-the-token" not in wrong.label
    missing = OpenAIBackend(server.openai_url, None, MODELS)
    with pytest.raises(AuthenticationError, match="wants a token.*OPENAI_API_KEY"):
        missing.chat(ProcessingRoute.FAST, [{"role": "user", "content": "x"}])


@pytest.mark.parametrize("api", BACKENDS)
def test_check_reports_server_token_and_models(server, api):
    report = BACKENDS[api](server).check()
    assert report.ok and report.answers and report.token_accepted
    assert report.models == dict.fromkeys(["fast", "balanced", "accurate", "premium"], True)


def test_check_names_missing_models_and_refused_tokens(server):
    report = OllamaBackend(server.url, TOKEN, {**MODELS, ProcessingRoute.PREMIUM: "qwen3:32b"}).check()
    assert not report.ok and report.models["premium"] is False and "qwen3:32b" in report.problem
    refused = OllamaBackend(server.url, "nope", MODELS).check()
    assert refused.answers and refused.token_accepted is False and "OLLAMA_API_TOKEN" in refused.problem


def test_an_unreachable_server_is_a_clear_error_not_a_simulation():
    backend = OllamaBackend("http://127.0.0.1:9", TOKEN, MODELS, retries=0)
    report = backend.check()
    assert not report.answers and "connection refused" in report.problem and "OLLAMA_URL" in report.problem
    with pytest.raises(LLMError, match="cannot reach http://127.0.0.1:9"):
        backend.chat(ProcessingRoute.FAST, [{"role": "user", "content": "x"}])


def test_a_configured_server_is_never_swapped_for_the_simulation(tmp_path):
    settings = load_settings(env_file=tmp_path / "none", environ={"OLLAMA_URL": "http://127.0.0.1:9"})
    assert make_backend(settings).name == "ollama"
    with pytest.raises(ConfigError, match="needs OPENAI_BASE_URL"):
        make_backend(settings, "openai")


def test_urls_are_shown_without_credentials_and_plain_http_tokens_warn():
    assert redact_url("http://user:pw@example.com:8080/v1?x=1") == "http://example.com:8080/v1"
    assert plain_http_warning("http://10.1.2.3:11434", has_token=True)
    assert plain_http_warning("http://127.0.0.1:11434", has_token=True) is None
    assert plain_http_warning("https://ollama.example.com", has_token=True) is None
    assert plain_http_warning("http://10.1.2.3:11434", has_token=False) is None


@pytest.mark.parametrize("workers", [1, 8, 32])
def test_the_connection_pool_holds_one_connection_per_worker(server, workers):
    pool = ollama(server, workers=workers).session.get_adapter(server.url).poolmanager.connection_pool_kw
    assert pool["maxsize"] == workers and pool["block"] is True


def test_check_shows_the_plain_http_warning_without_the_token():
    backend = OllamaBackend("http://10.1.2.3:11434", TOKEN, MODELS)
    report = ServerCheck(backend="ollama", url="http://10.1.2.3:11434", answers=True, token_accepted=True,
                         models=dict.fromkeys((route.value for route in ProcessingRoute), True))
    shown = describe_check(backend, report)
    assert "sent over plain http to http://10.1.2.3:11434" in shown and TOKEN not in shown


def _course(args, env, cwd):
    return subprocess.run([sys.executable, "-m", "course", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _env(**values):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA", "OPENAI", "LLM_"))}
    env.update(values)
    return env


def test_cli_run_against_ollama_never_shows_the_token(server, tmp_path):
    env = _env(OLLAMA_URL=server.url, OLLAMA_API_TOKEN=TOKEN, FAST_MODEL="small", PREMIUM_MODEL="big")
    out = tmp_path / "out"
    completed = _course(["run", "--docs", "30", "--workers", "4", "--out", str(out)], env, tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "ollama at " + server.url in completed.stdout
    texts = [completed.stdout, completed.stderr] + [p.read_text(errors="replace") for p in out.glob("*.json*")]
    assert all(TOKEN not in text for text in texts)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["simulated"] is False and summary["models"]["fast"] == "small"


def test_cli_check_reports_without_the_token(server, tmp_path):
    completed = _course(["check"], _env(OPENAI_BASE_URL=server.openai_url, OPENAI_API_KEY=TOKEN, DEFAULT_MODEL="big"), tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "token:          accepted" in completed.stdout and "ready:          yes" in completed.stdout
    assert TOKEN not in completed.stdout + completed.stderr


def test_cli_refused_token_reports_once_and_exits_2(server, tmp_path):
    wrong = "wrong-token-5e1d"
    completed = _course(["run", "--docs", "10", "--out", str(tmp_path / "o")], _env(OLLAMA_URL=server.url, OLLAMA_API_TOKEN=wrong), tmp_path)
    assert completed.returncode == 2
    assert completed.stderr.count("refused the token") == 1
    assert wrong not in completed.stdout + completed.stderr
    assert server.chat_requests() == []  # refused before any document was sent


def test_cli_unreachable_server_is_one_clear_line(tmp_path):
    completed = _course(["run", "--docs", "5", "--out", str(tmp_path / "o")], _env(OLLAMA_URL="http://127.0.0.1:9", LLM_RETRIES="0"), tmp_path)
    assert completed.returncode == 2
    assert completed.stderr.strip() == "error: cannot reach http://127.0.0.1:9: connection refused. Is the server running? Check OLLAMA_URL."


def test_a_reply_still_unusable_after_repair_escalates_to_the_next_route(server):
    document = generate_batch(1)[0]
    server.fail_documents({document.content: ["garbage", "garbage"]})
    result = run_batch([document], ollama(server), workers=1).results[0]
    assert result.status == "completed" and result.escalated
    assert [a.model for a in result.route_attempts][:2] == [MODELS[result.route], MODELS[result.final_route]]
