"""Step 01: routes, specs and the analyzer."""

import pytest
from pydantic import ValidationError

from course.documents import generate_batch
from course.routing import (
    ROUTE_SPECS,
    AnalyzerThresholds,
    DocumentAnalysis,
    DocumentComplexity,
    ProcessingRoute,
    analyze_document,
    cheapest_route_for,
    expected_route,
    fit_route,
    latency_seconds,
    measure_text_quality,
    request_tokens,
)


def test_route_specs_are_the_lessons_numbers():
    specs = {route.value: spec for route, spec in ROUTE_SPECS.items()}
    assert [specs[r].cost_per_token for r in ("fast", "balanced", "accurate", "premium")] == [0.001, 0.002, 0.004, 0.008]
    assert [specs[r].processing_time_factor for r in ("fast", "balanced", "accurate", "premium")] == [0.5, 1.0, 2.0, 3.0]
    assert [specs[r].accuracy_score for r in ("fast", "balanced", "accurate", "premium")] == [0.85, 0.92, 0.96, 0.98]
    assert [specs[r].max_tokens for r in ("fast", "balanced", "accurate", "premium")] == [2000, 4000, 8000, 16000]


def test_each_complexity_goes_to_the_cheapest_suitable_route():
    assert cheapest_route_for(DocumentComplexity.SIMPLE) is ProcessingRoute.FAST
    assert cheapest_route_for(DocumentComplexity.MODERATE) is ProcessingRoute.BALANCED
    assert cheapest_route_for(DocumentComplexity.COMPLEX) is ProcessingRoute.ACCURATE
    assert cheapest_route_for(DocumentComplexity.VERY_COMPLEX) is ProcessingRoute.PREMIUM


def test_estimated_tokens_must_be_a_whole_number():
    fields = dict(
        document_id="d", complexity="simple", page_count=1, has_tables=False, has_handwriting=False,
        text_quality=1.0, recommended_route="fast", fits_route=True, confidence=0.9, reason="r",
    )
    assert DocumentAnalysis(**fields, estimated_tokens=12).estimated_tokens == 12
    with pytest.raises(ValidationError, match="estimated_tokens"):
        DocumentAnalysis(**fields, estimated_tokens=12.7)  # the lesson's word_count * 1.3


def test_analyzer_routes_agree_with_ground_truth_for_at_least_95_percent():
    documents = generate_batch(1000, seed=7)
    agree = sum(
        analyze_document(d.content, d.id).recommended_route is expected_route(d.truth.complexity) for d in documents
    )
    assert agree / len(documents) >= 0.95


@pytest.mark.parametrize("level", list(DocumentComplexity))
def test_every_complexity_level_is_recognised(level):
    documents = [d for d in generate_batch(400, seed=3) if d.truth.complexity is level]
    assert documents, "the generated batch covers every level"
    recognised = sum(analyze_document(d.content, d.id).complexity is level for d in documents)
    assert recognised / len(documents) >= 0.95


def test_the_lessons_complex_invoice_is_not_sent_to_balanced():
    complex_docs = [d for d in generate_batch(100, seed=1) if d.truth.complexity is DocumentComplexity.COMPLEX]
    routes = {analyze_document(d.content, d.id).recommended_route for d in complex_docs}
    assert routes == {ProcessingRoute.ACCURATE}


def test_scanning_noise_lowers_text_quality():
    clean = "Professional services for the cloud infrastructure project"
    noisy = "Pr0fessional scrvices f0r the c1oud infra5tructure project~"
    assert measure_text_quality(clean) == 1.0
    assert measure_text_quality(noisy) < 0.9


def test_thresholds_are_tunable():
    text = "line one\nline two\nline three\nline four"
    assert analyze_document(text, "d").complexity is DocumentComplexity.MODERATE
    strict = AnalyzerThresholds(moderate_lines=10)
    assert analyze_document(text, "d", strict).complexity is DocumentComplexity.SIMPLE


def test_a_document_too_long_for_its_route_moves_up_to_one_that_fits():
    # A one-line invoice padded to ~3,000 tokens: "simple", but too big for fast's 2,000 tokens.
    text = "Invoice #A-1 from Acme Ltd. - Total: $10.00 " + "x" * 11_000
    analysis = analyze_document(text, "long")
    assert analysis.complexity is DocumentComplexity.SIMPLE
    assert analysis.recommended_route is ProcessingRoute.BALANCED
    assert analysis.fits_route
    assert "moved up from fast" in analysis.reason
    assert request_tokens(ProcessingRoute.BALANCED, analysis.estimated_tokens) <= 4000


def test_a_document_too_large_for_premium_is_marked_with_the_reason():
    analysis = analyze_document("word " * 20_000, "huge")
    assert analysis.recommended_route is ProcessingRoute.PREMIUM
    assert not analysis.fits_route
    assert "too large for every route" in analysis.reason


def test_fit_route_keeps_a_route_that_fits():
    assert fit_route(ProcessingRoute.FAST, 100) == (ProcessingRoute.FAST, True)


def test_latency_follows_the_lessons_ranges():
    for route, (low, high) in {"fast": (0.5, 1.0), "balanced": (1, 2), "accurate": (2, 4), "premium": (3, 6)}.items():
        route = ProcessingRoute(route)
        assert latency_seconds(route, 0, jitter=0.0) == pytest.approx(low)
        assert latency_seconds(route, 10_000, jitter=1.0) == pytest.approx(high)
