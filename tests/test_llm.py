"""The simulated backend: deterministic, honest about tokens, accuracy measured not declared."""

import time

import pytest

from course.documents import generate_batch
from course.extraction import build_messages, parse_reply, score_fields
from course.llm import SimulatedBackend, error_probability
from course.routing import COMPLEXITIES, ROUTE_SPECS, DocumentComplexity, ProcessingRoute, expected_route
from course.tokens import count_message_tokens, count_tokens

FAST, PREMIUM = ProcessingRoute.FAST, ProcessingRoute.PREMIUM


def _ask(backend, document, route=None):
    route = route or expected_route(document.truth.complexity)
    return backend.chat(route, build_messages(route, document.content))


def test_same_document_route_and_seed_give_the_same_reply():
    document = generate_batch(5)[0]
    assert _ask(SimulatedBackend(seed=1, time_scale=0), document) == _ask(SimulatedBackend(seed=1, time_scale=0), document)


def test_the_seed_changes_which_documents_get_a_wrong_field():
    documents = generate_batch(200)
    replies = {seed: [_ask(SimulatedBackend(seed=seed, time_scale=0), d).content for d in documents] for seed in (1, 2)}
    assert replies[1] != replies[2]


def test_token_counts_come_from_the_real_prompt_and_reply_text():
    document = generate_batch(3)[1]
    messages = build_messages(FAST, document.content)
    reply = SimulatedBackend(time_scale=0).chat(FAST, messages)
    assert reply.prompt_tokens == count_message_tokens(messages)
    assert reply.completion_tokens == count_tokens(reply.content)


@pytest.mark.parametrize("route", list(ProcessingRoute))
def test_measured_document_accuracy_is_close_to_the_route_spec(route):
    """Accuracy is what the scorer measures on the replies: ~accuracy_score on suitable documents."""
    level = ROUTE_SPECS[route].suitable_complexity[-1]
    documents = [d for d in generate_batch(4000, seed=9) if d.truth.complexity is level][:400]
    backend = SimulatedBackend(seed=3, time_scale=0)
    right = sum(all(score_fields(parse_reply(_ask(backend, d, route).content), d.truth.fields).values()) for d in documents)
    assert right / len(documents) == pytest.approx(ROUTE_SPECS[route].accuracy_score, abs=0.05)


def test_a_cheap_route_on_a_hard_document_makes_more_mistakes():
    assert error_probability(FAST, COMPLEXITIES.index(DocumentComplexity.VERY_COMPLEX)) > 5 * error_probability(
        FAST, COMPLEXITIES.index(DocumentComplexity.SIMPLE)
    )
    hard = [d for d in generate_batch(2000, seed=5) if d.truth.complexity is DocumentComplexity.VERY_COMPLEX]
    backend = SimulatedBackend(time_scale=0)
    def right(route):
        return sum(all(score_fields(parse_reply(_ask(backend, d, route).content), d.truth.fields).values()) for d in hard)
    assert right(FAST) < right(PREMIUM) - 0.3 * len(hard)


def test_latency_is_scaled_and_zero_means_no_waiting():
    document = next(d for d in generate_batch(20) if d.truth.complexity is DocumentComplexity.VERY_COMPLEX)
    started = time.perf_counter()
    _ask(SimulatedBackend(time_scale=0), document)
    assert time.perf_counter() - started < 0.05
    started = time.perf_counter()
    _ask(SimulatedBackend(time_scale=0.05), document)  # premium takes 3-6 s at scale 1
    assert 0.15 <= time.perf_counter() - started < 0.5


def test_the_simulation_says_so():
    backend = SimulatedBackend()
    assert backend.simulated and backend.label.startswith("simulated")
    assert set(backend.models().values()) == {f"simulated-{r.value}" for r in ProcessingRoute}
