"""Step 03: estimates and worker allocation."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course.documents import generate_batch
from course.extraction import prompt_overhead_tokens
from course.planning import EXPECTED_REPLY_TOKENS, allocate_workers, make_plan
from course.routing import ROUTE_SPECS, ROUTES, analyze_document, latency_seconds

FAST, BALANCED, ACCURATE, PREMIUM = ROUTES

route_counts = st.dictionaries(st.sampled_from(ROUTES), st.integers(min_value=0, max_value=60))


@given(documents=route_counts, workers=st.integers(min_value=1, max_value=40), data=st.data())
def test_allocation_invariants(documents, workers, data):
    work = {route: data.draw(st.floats(min_value=0.1, max_value=500)) * count for route, count in documents.items()}
    allocation, reason = allocate_workers(work, documents, workers)
    active = [route for route in ROUTES if documents.get(route, 0) > 0]
    total_documents = sum(documents.values())
    assert sum(allocation.values()) == min(workers, total_documents)  # all W used when N >= W, never more
    for route in ROUTES:
        assert allocation[route] <= documents.get(route, 0)  # never more workers than documents
    if workers >= len(active):
        assert all(allocation[route] >= 1 for route in active)  # at least one per active route
    assert reason


def test_largest_remainder_by_hand():
    # Work shares of 8 workers: fast 1.68, balanced 2.53, accurate 2.53, premium 1.26.
    # Whole parts 1+2+2+1 = 6; the two largest remainders (fast .68, balanced .53) get the last two.
    work = {FAST: 30.0, BALANCED: 45.0, ACCURATE: 45.0, PREMIUM: 22.5}
    documents = {FAST: 40, BALANCED: 30, ACCURATE: 15, PREMIUM: 5}
    allocation, _ = allocate_workers(work, documents, 8)
    assert allocation == {FAST: 2, BALANCED: 3, ACCURATE: 2, PREMIUM: 1}


def test_the_lessons_rounding_down_would_leave_a_worker_idle_but_this_does_not():
    work = {FAST: 30.0, BALANCED: 45.0, ACCURATE: 45.0, PREMIUM: 22.5}
    documents = {FAST: 40, BALANCED: 30, ACCURATE: 15, PREMIUM: 5}
    lesson = sum(max(1, int(8 * w / sum(work.values()))) for w in work.values())
    assert lesson == 6
    assert sum(allocate_workers(work, documents, 8)[0].values()) == 8


def test_fewer_workers_than_routes_go_to_the_busiest_routes():
    work = {FAST: 10.0, BALANCED: 40.0, ACCURATE: 30.0, PREMIUM: 5.0}
    allocation, reason = allocate_workers(work, {route: 10 for route in ROUTES}, 2)
    assert allocation == {FAST: 0, BALANCED: 1, ACCURATE: 1, PREMIUM: 0}
    assert "drained" in reason


def test_a_small_batch_gets_no_more_workers_than_documents():
    allocation, _ = allocate_workers({PREMIUM: 9.0}, {PREMIUM: 3}, 8)
    assert allocation[PREMIUM] == 3 and sum(allocation.values()) == 3


def test_plan_groups_documents_longest_first_and_estimates_tokens_and_cost():
    documents = generate_batch(200)
    analyses = [analyze_document(d.content, d.id) for d in documents]
    plan, decision = make_plan(analyses, 8)
    assert sum(len(rp.document_ids) for rp in plan.routes.values()) == 200
    for route, route_plan in plan.routes.items():
        assert route_plan.expected_seconds == sorted(route_plan.expected_seconds, reverse=True)
        mine = [a for a in analyses if a.recommended_route is route]
        tokens = sum(prompt_overhead_tokens(route) + a.estimated_tokens + EXPECTED_REPLY_TOKENS for a in mine)
        assert route_plan.estimated_tokens == tokens
        assert route_plan.estimated_cost == pytest.approx(tokens * ROUTE_SPECS[route].cost_per_token)
    assert plan.workers == 8 and decision.action == "initial_allocation"
    assert decision.allocation == plan.allocation


def test_makespan_estimate_is_the_lower_bound_of_the_plan():
    analyses = [analyze_document(d.content, d.id) for d in generate_batch(60)]
    plan, _ = make_plan(analyses, 4)
    work = sum(latency_seconds(a.recommended_route, a.estimated_tokens) for a in analyses)
    longest = max(latency_seconds(a.recommended_route, a.estimated_tokens) for a in analyses)
    assert plan.estimated_makespan_seconds == pytest.approx(max(work / 4, longest), rel=1e-3)
