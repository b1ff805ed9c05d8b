"""Scheduling on a virtual clock: the dynamic queue keeps every worker busy; static slices do not."""

import statistics

import pytest

from course.dispatch import makespan_ratio, replay_batch
from course.documents import generate_batch
from course.routing import ProcessingRoute


def _replay(n, seed, policy, workers=8):
    return replay_batch(generate_batch(n, seed=seed), workers, policy, seed=seed)


def test_every_document_is_scheduled_once_under_both_policies():
    for policy in ("dynamic", "static"):
        timeline, _ = _replay(200, 1, policy)
        assert sorted(bar.document_id for bar in timeline) == sorted(d.id for d in generate_batch(200, seed=1))


def test_no_worker_runs_two_documents_at_once():
    timeline, _ = _replay(200, 2, "dynamic")
    for worker in {bar.worker_id for bar in timeline}:
        bars = sorted((bar.start, bar.end) for bar in timeline if bar.worker_id == worker)
        assert all(end <= next_start + 1e-9 for (_, end), (next_start, _) in zip(bars, bars[1:]))


def test_dynamic_dispatch_is_within_3_percent_of_the_lower_bound_at_200_documents():
    ratios = [makespan_ratio(_replay(200, seed, "dynamic")[0], 8) for seed in range(10)]
    assert statistics.median(ratios) <= 1.03


@pytest.mark.parametrize("seed", range(10))
def test_dynamic_beats_static_slices_on_every_seed(seed):
    dynamic = makespan_ratio(_replay(200, seed, "dynamic")[0], 8)
    static = makespan_ratio(_replay(200, seed, "static")[0], 8)
    assert dynamic < static


def test_static_slices_leave_workers_idle_for_a_fifth_of_the_batch_or_more():
    ratios = [makespan_ratio(_replay(200, seed, "static")[0], 8) for seed in range(5)]
    assert min(ratios) > 1.2  # the lesson's fixed slices: 1.2-1.4x the lower bound


def test_workers_whose_route_drains_help_others_and_each_change_is_logged():
    timeline, decisions = _replay(200, 3, "dynamic")
    helps = [d for d in decisions if d.action == "help_route"]
    assert helps and all(d.worker_id and d.from_route and d.to_route and d.reason for d in helps)
    fast_workers = {bar.worker_id for bar in timeline if bar.worker_id.startswith("fast")}
    routes_of_fast_workers = {bar.route for bar in timeline if bar.worker_id in fast_workers}
    assert routes_of_fast_workers != {ProcessingRoute.FAST}  # fast workers did other routes' work too
    assert sum(d.action == "endgame" for d in decisions) == 1


def test_a_drained_queue_sends_its_workers_to_help_before_the_endgame():
    timeline, decisions = _replay(2000, 0, "dynamic")
    endgame_at = next(d.at_seconds for d in decisions if d.action == "endgame")
    drained = [d for d in decisions if d.action == "help_route" and "queue drained" in d.reason]
    assert drained, "a route's queue ran dry before the endgame and its workers moved"
    for decision in drained:
        assert decision.at_seconds <= endgame_at
        assert decision.reason.startswith(f"{decision.from_route.value} queue drained; {decision.to_route.value}")
        # after the move, the worker really did work of the route it went to (at_seconds is rounded to the ms)
        assert any(bar.worker_id == decision.worker_id and bar.route is decision.to_route
                   and bar.start >= decision.at_seconds - 0.001 for bar in timeline)


def test_workers_start_on_their_own_route_longest_document_first():
    timeline, _ = _replay(200, 4, "dynamic")
    first = {}
    for bar in sorted(timeline, key=lambda bar: bar.start):
        first.setdefault(bar.worker_id, bar)
    for worker, bar in first.items():
        assert bar.route.value == worker.rsplit("-", 1)[0]
