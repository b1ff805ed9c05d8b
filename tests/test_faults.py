"""Faults, all at once: random fault schedules against the loopback server never lose a document."""

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llm_test_server import LLMTestServer

from course.documents import generate_batch, with_injection
from course.graph import run_batch
from course.routing import ROUTE_SPECS, ProcessingRoute
from course.servers import OllamaBackend

TOKEN = "fault-token-31c9"
DOCUMENTS = generate_batch(5, seed=12) + [with_injection(generate_batch(1, seed=13)[0])]
FAULTS = st.sampled_from([None, None, "500", "429", "garbage", "bad_json", "slow", "hang", "drop", "401"])


@pytest.fixture(scope="module")
def server():
    with LLMTestServer(token=TOKEN, hang_seconds=1.0, slow_seconds=0.05) as running:
        yield running


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    schedule=st.lists(st.lists(FAULTS, max_size=4), min_size=len(DOCUMENTS), max_size=len(DOCUMENTS)),
    workers=st.integers(min_value=1, max_value=3),
    escalate=st.booleans(),
)
def test_every_document_comes_out_exactly_once_and_the_books_balance(server, schedule, workers, escalate):
    server.reset()
    server.fail_documents({d.content: kinds for d, kinds in zip(DOCUMENTS, schedule)})
    backend = OllamaBackend(server.url, TOKEN, dict.fromkeys(ProcessingRoute, "qwen3:8b"), workers=workers,
                            read_timeout=0.1, retries=2, backoff=0, document_deadline=3)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "results.jsonl"
        run = run_batch(DOCUMENTS, backend, workers=workers, results_path=path, escalate=escalate)
        records = [json.loads(line) for line in path.read_text().splitlines()]
    backend.close()
    assert sorted(r["document_id"] for r in records) == sorted(d.id for d in DOCUMENTS)
    summary = run.summary
    assert summary.completed + summary.failed == summary.documents == len(DOCUMENTS)
    assert all((r["status"] == "failed") == (r["error"] is not None) for r in records)
    for result in run.results:
        attempts = result.route_attempts
        assert result.prompt_tokens == sum(a.prompt_tokens for a in attempts)
        assert result.completion_tokens == sum(a.completion_tokens for a in attempts)
        assert result.cost == pytest.approx(sum(a.cost for a in attempts))
        for attempt in attempts:
            price = ROUTE_SPECS[attempt.route].cost_per_token
            assert attempt.cost == pytest.approx((attempt.prompt_tokens + attempt.completion_tokens) * price)
        assert result.attempts == sum(a.requests for a in attempts)
    assert summary.total_cost == pytest.approx(sum(r["cost"] for r in records))
    assert summary.prompt_tokens + summary.completion_tokens == sum(r["prompt_tokens"] + r["completion_tokens"] for r in records)
    # the server saw every request the records count, and no more (a refused token included)
    assert len(server.chat_requests()) == sum(r["attempts"] for r in records)
    refused = [r for r in records if (r["error"] or "").startswith("authentication failed")]
    assert bool(refused) == bool(summary.stopped)
    assert all(r["attempts"] >= 1 for r in refused)
