"""Step 05: aggregation, checked against numbers computed by hand."""

import pytest

from course.aggregation import format_summary, percentile, summarize
from course.extraction import FIELD_NAMES, InvoiceFields
from course.planning import BatchPlan, RoutePlan
from course.results import DocumentResult, RouteAttempt
from course.routing import ROUTES, ProcessingRoute

FAST, PREMIUM = ProcessingRoute.FAST, ProcessingRoute.PREMIUM
ALL_RIGHT = dict.fromkeys(FIELD_NAMES, True)


def _result(doc_id, route, status, tokens, cost, start, end, correct, complexity="simple", worker="w0"):
    return DocumentResult(
        document_id=doc_id, route=route, expected_complexity=complexity,
        predicted_complexity=complexity or "simple",
        status=status, fields=InvoiceFields() if status == "completed" else None, correct=correct,
        prompt_tokens=tokens[0], completion_tokens=tokens[1], cost=cost, attempts=1, worker_id=worker,
        started_at=start, finished_at=end, error=None if status == "completed" else "boom",
        route_attempts=[RouteAttempt(route=route, requests=1, prompt_tokens=tokens[0], completion_tokens=tokens[1],
                                     cost=cost, correct=correct, error=None if status == "completed" else "boom")],
    )


@pytest.fixture
def hand_example():
    """Two fast documents and one premium document on two workers.

    fast a: 100+20 tokens at $0.001 = $0.12, all fields right,   0-2 s on w0
    fast b:  80+20 tokens at $0.001 = $0.10, vendor wrong,       2-3 s on w0
    premium c: 300+40 tokens at $0.008 = $2.72, failed,          0-4 s on w1 (expected very_complex)
    """
    results = [
        _result("a", FAST, "completed", (100, 20), 0.12, 0.0, 2.0, ALL_RIGHT),
        _result("b", FAST, "completed", (80, 20), 0.10, 2.0, 3.0, {**ALL_RIGHT, "vendor": False}),
        _result("c", PREMIUM, "failed", (300, 40), 2.72, 0.0, 4.0, dict.fromkeys(FIELD_NAMES, False),
                complexity="very_complex", worker="w1"),
    ]
    routes = {route: RoutePlan(route=route) for route in ROUTES}
    routes[FAST] = RoutePlan(route=FAST, document_ids=["a", "b"], expected_seconds=[1, 1], workers=1, estimated_cost=0.2)
    routes[PREMIUM] = RoutePlan(route=PREMIUM, document_ids=["c"], expected_seconds=[4], workers=1, estimated_cost=3.0)
    plan = BatchPlan(workers=2, policy="dynamic", routes=routes, estimated_cost=3.2, estimated_tokens=0,
                     estimated_makespan_seconds=4.0)
    return summarize(results, plan, batch_id="hand", backend="test", simulated=False, models={})


def test_counts_costs_and_the_premium_only_baseline(hand_example):
    s = hand_example
    assert (s.documents, s.completed, s.failed) == (3, 2, 1)
    assert s.total_cost == pytest.approx(2.94)
    # the same 560 tokens priced at premium: 560 * 0.008
    assert s.premium_only_cost == pytest.approx(4.48)
    assert s.savings_pct == pytest.approx(100 * (1 - 2.94 / 4.48))
    assert s.routes[FAST].premium_only_cost == pytest.approx(220 * 0.008)
    assert s.routes[FAST].cost_per_document == pytest.approx(0.11)


def test_accuracy_counts_a_failed_document_as_all_fields_wrong(hand_example):
    s = hand_example
    assert s.routes[FAST].field_accuracy == pytest.approx(7 / 8)
    assert s.routes[FAST].document_accuracy == pytest.approx(1 / 2)
    assert s.routes[PREMIUM].field_accuracy == 0.0
    assert s.field_accuracy == pytest.approx(7 / 12)
    assert s.document_accuracy == pytest.approx(1 / 3)


def test_times_makespan_utilisation_and_throughput(hand_example):
    s = hand_example
    assert s.makespan_seconds == 4.0
    assert s.worker_utilisation == pytest.approx((2 + 1 + 4) / (2 * 4))
    assert s.throughput == pytest.approx(3 / 4)
    assert s.routes[FAST].throughput == pytest.approx(2 / 3)
    assert s.routes[FAST].latency_p50 == pytest.approx(1.5)


def test_routing_agreement_compares_routes_with_true_complexity(hand_example):
    assert hand_example.routing_agreement == 1.0


def test_unscored_documents_report_no_accuracy():
    result = _result("x", FAST, "completed", (1, 1), 0.002, 0, 1, None, complexity=None)
    routes = {route: RoutePlan(route=route) for route in ROUTES}
    plan = BatchPlan(workers=1, policy="dynamic", routes=routes, estimated_cost=0, estimated_tokens=0, estimated_makespan_seconds=0)
    summary = summarize([result], plan, batch_id="u", backend="t", simulated=False, models={})
    assert summary.field_accuracy is None and summary.routing_agreement is None
    assert "not scored" in format_summary(summary)


@pytest.mark.parametrize("values, q, expected", [([], 50, None), ([3.0], 95, 3.0), ([1, 2, 3, 4], 50, 2.5), ([0, 10], 95, 9.5)])
def test_percentiles_interpolate_linearly(values, q, expected):
    assert percentile(values, q) == expected


def test_the_printed_summary_can_leave_out_timings(hand_example):
    text = format_summary(hand_example, timings=False)
    assert "makespan" not in text and "p50" not in text
    assert "premium-only" in text and "fast" in text
