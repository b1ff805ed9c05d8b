"""Step 07: the dashboard shows the summary's numbers, expected accuracy on the right bars,
and - given the results - the worker timeline, the routing confusion matrix and cost vs accuracy.

Every panel is checked by reading the data back out of the figure, not only by saving it.
"""

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.markers import MarkerStyle
from matplotlib.patches import Rectangle

from course.dashboard import (
    ROUTE_COLORS,
    create_dashboard,
    merge_bars,
    plot_confusion_matrix,
    plot_cost_vs_accuracy,
    plot_costs,
    plot_documents,
    plot_throughput,
    plot_worker_timeline,
    save_dashboard,
    timeline_bars,
)
from course.dispatch import replay_batch
from course.documents import generate_batch
from course.graph import run_batch
from course.llm import SimulatedBackend
from course.routing import COMPLEXITIES, ROUTES, ProcessingRoute, expected_route


@pytest.fixture(scope="module")
def run():
    return run_batch(generate_batch(120), SimulatedBackend(time_scale=0), workers=8)


@pytest.fixture(scope="module")
def summary(run):
    return run.summary


def _panel(figure, title_start):
    return next(ax for ax in figure.axes if ax.get_title().startswith(title_start))


def _bar_heights(ax, count=4):
    return [patch.get_height() for patch in ax.patches[:count]]


def _axes():
    return Figure(figsize=(12, 6)).subplots()


# --- the 2x2 summary panels ------------------------------------------------------------------------


def test_document_and_cost_panels_show_the_summary(summary):
    figure = create_dashboard(summary)
    assert _bar_heights(_panel(figure, "Documents by route")) == [summary.routes[r].completed for r in ROUTES]
    assert _bar_heights(_panel(figure, "Cost by route")) == pytest.approx([summary.routes[r].cost for r in ROUTES])
    assert _bar_heights(_panel(figure, "Throughput by route")) == pytest.approx(
        [summary.routes[r].throughput or 0 for r in ROUTES]
    )


def test_expected_accuracy_is_marked_on_each_routes_own_bar(summary):
    ax = _panel(create_dashboard(summary), "Accuracy by route")
    bars = ax.patches[:4]
    assert [b.get_height() for b in bars] == pytest.approx([100 * summary.routes[r].document_accuracy for r in ROUTES])
    marks = ax.collections[0].get_segments()
    for bar, mark, route in zip(bars, marks, ROUTES):
        (x0, y0), (x1, y1) = mark
        assert y0 == y1 == pytest.approx(100 * summary.routes[route].expected_accuracy)
        assert bar.get_x() <= x0 < x1 <= bar.get_x() + bar.get_width() + 1e-9


def test_the_bar_panels_leave_room_above_the_tallest_bar_for_its_label(summary):
    for plot, values in (
        (plot_documents, [summary.routes[r].completed + summary.routes[r].failed for r in ROUTES]),
        (plot_costs, [summary.routes[r].cost for r in ROUTES]),
        (plot_throughput, [summary.routes[r].throughput or 0 for r in ROUTES]),
    ):
        ax = _axes()
        plot(ax, summary)
        assert ax.get_ylim()[1] >= 1.1 * max(values), plot.__name__


def test_a_failed_document_stacks_on_its_routes_bar_and_the_label_still_fits(summary):
    fast = summary.routes[ProcessingRoute.FAST]
    three_failed = fast.model_copy(update={"completed": fast.completed - 3, "failed": 3})
    routes = {**summary.routes, ProcessingRoute.FAST: three_failed}
    ax = _axes()
    plot_documents(ax, summary.model_copy(update={"routes": routes}))
    completed, failed = ax.patches[:4], ax.patches[4:8]
    assert failed[0].get_y() == completed[0].get_height() == fast.completed - 3 and failed[0].get_height() == 3
    assert ax.get_ylim()[1] >= 1.1 * max(r.completed + r.failed for r in routes.values())


def test_a_simulated_run_says_so_in_the_title(summary, run):
    assert "SIMULATED" in create_dashboard(summary)._suptitle.get_text()
    assert "SIMULATED" in create_dashboard(summary, run.results)._suptitle.get_text()


def test_without_results_the_dashboard_is_the_2x2_with_results_all_panels(summary, run):
    small = create_dashboard(summary)
    assert len(small.axes) == 4
    full = create_dashboard(summary, results=run.results)
    assert tuple(full.get_size_inches()) == (18, 15)
    titles = [ax.get_title() for ax in full.axes]
    for start in ("Documents by route", "Cost by route", "Throughput by route", "Accuracy by route",
                  "Routing vs ground truth", "Cost vs accuracy", "Worker timeline"):
        assert sum(title.startswith(start) for title in titles) == 1, start
    # The timeline has a row for every worker the plan allocated.
    timeline = _panel(full, "Worker timeline")
    assert len(timeline.get_yticks()) == summary.workers


def test_the_dashboard_saves_as_png(summary, tmp_path):
    path = save_dashboard(summary, tmp_path / "d.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_the_full_dashboard_saves_as_png_and_the_same_input_gives_the_same_bytes(summary, run, tmp_path):
    first = save_dashboard(summary, tmp_path / "a.png", results=run.results).read_bytes()
    second = save_dashboard(summary, tmp_path / "b.png", results=run.results).read_bytes()
    assert first[:4] == b"\x89PNG"
    assert first == second  # nothing in the figure depends on when it was drawn


# --- the worker timeline -----------------------------------------------------------------------------


def _rows(ax):
    """Worker id -> the y of its row, read from the axis ticks."""
    return {label.get_text(): y for label, y in zip(ax.get_yticklabels(), ax.get_yticks())}


def _timeline_patches(ax):
    return [patch for patch in ax.patches if isinstance(patch, Rectangle)]


def _expected_order(workers):
    def key(worker):
        route, index = worker.rsplit("-", 1)
        return ROUTES.index(ProcessingRoute(route)), int(index)

    return sorted(workers, key=key)


def test_the_timeline_has_one_bar_per_document_on_its_workers_row_coloured_by_route(run):
    # A document that failed before any worker took it has no worker: it is not drawn.
    results = list(run.results)
    results[0] = replace(results[0], worker_id=None)
    with_worker = [r for r in results if r.worker_id is not None]
    ax = _axes()
    plot_worker_timeline(ax, results)

    rows = _rows(ax)
    assert list(rows) == _expected_order({r.worker_id for r in with_worker})  # fast, balanced, ... then index
    patches = _timeline_patches(ax)
    assert len(patches) == len(with_worker)
    by_id = {r.document_id: r for r in with_worker}
    assert sorted(p.get_gid() for p in patches) == sorted(by_id)
    t0 = min(r.started_at for r in with_worker)
    for patch in patches:
        result = by_id[patch.get_gid()]
        assert patch.get_y() + patch.get_height() / 2 == pytest.approx(rows[result.worker_id])
        assert patch.get_x() == pytest.approx(result.started_at - t0, abs=1e-9)
        assert patch.get_width() == pytest.approx(result.finished_at - result.started_at, abs=1e-9)
        assert patch.get_facecolor() == pytest.approx(to_rgba(ROUTE_COLORS[result.route.value]))


def _replay(policy, n=200, seed=0, workers=8):
    return replay_batch(generate_batch(n, seed=seed), workers, policy, seed=seed)[0]


def _utilisation(bars, workers):
    makespan = max(bar.end for bar in bars) - min(bar.start for bar in bars)
    return sum(bar.end - bar.start for bar in bars) / (workers * makespan), makespan


def test_the_adapter_turns_scheduled_bars_into_timeline_bars():
    timeline = _replay("dynamic", n=40)
    bars = timeline_bars(timeline)
    assert [(b.worker_id, b.document_id, b.route, b.start, b.end) for b in bars] == [
        (s.worker_id, s.document_id, s.route, s.start, s.end) for s in timeline
    ]


def test_merging_keeps_every_document_every_visible_gap_and_each_workers_route():
    bars = timeline_bars(_replay("static", n=400))
    makespan = max(b.end for b in bars) - min(b.start for b in bars)
    min_gap = makespan / 2000
    merged = merge_bars(bars, min_gap)
    assert len(merged) < len(bars) / 4
    count = sum(int(b.document_id.split()[0]) if b.document_id.endswith(" documents") else 1 for b in merged)
    assert count == len(bars)
    for worker in {b.worker_id for b in bars}:
        originals = sorted((b for b in bars if b.worker_id == worker), key=lambda b: b.start)
        drawn = sorted((b for b in merged if b.worker_id == worker), key=lambda b: b.start)
        assert (drawn[0].start, drawn[-1].end) == (originals[0].start, originals[-1].end)
        # every idle gap of min_gap or more is still a gap between two drawn bars
        gaps = {(a.end, b.start) for a, b in zip(originals, originals[1:]) if b.start - a.end >= min_gap}
        assert gaps <= {(a.end, b.start) for a, b in zip(drawn, drawn[1:])}
        for bar in drawn:  # a drawn bar covers only documents of its own route
            assert {b.route for b in originals if bar.start <= b.start < bar.end} == {bar.route}


def test_a_huge_timeline_is_drawn_merged_and_still_counts_every_document(monkeypatch):
    monkeypatch.setattr("course.dashboard.MAX_TIMELINE_BARS", 100)
    timeline = _replay("dynamic", n=400)
    ax = _axes()
    plot_worker_timeline(ax, timeline)
    assert len(_timeline_patches(ax)) < 100
    assert "(400 documents, 8 workers)" in ax.get_title()
    utilisation, _ = _utilisation(timeline, 8)
    assert f"utilisation {100 * utilisation:.1f}%" in ax.get_title()  # from the documents, not the merged bars


def test_a_static_replay_shows_idle_gaps_and_the_title_gives_its_utilisation():
    static, dynamic = _replay("static"), _replay("dynamic")
    ax = _axes()
    plot_worker_timeline(ax, static)

    patches = _timeline_patches(ax)
    assert len(patches) == len(static)
    rows = _rows(ax)
    workers = {bar.worker_id for bar in static}
    assert set(rows) == workers
    t0 = min(bar.start for bar in static)
    for patch, bar in zip(sorted(patches, key=lambda p: p.get_gid()), sorted(static, key=lambda b: b.document_id)):
        assert patch.get_gid() == bar.document_id
        assert patch.get_y() + patch.get_height() / 2 == pytest.approx(rows[bar.worker_id])
        assert (patch.get_x(), patch.get_width()) == pytest.approx((bar.start - t0, bar.end - bar.start))
        assert patch.get_facecolor() == pytest.approx(to_rgba(ROUTE_COLORS[bar.route.value]))

    # Gaps: under static slices some workers finish well before the last one does.
    utilisation, makespan = _utilisation(static, len(workers))
    finish = {w: max(p.get_x() + p.get_width() for p in patches if p.get_y() + p.get_height() / 2 == rows[w])
              for w in workers}
    assert min(finish.values()) < 0.9 * makespan
    title = ax.get_title()
    assert f"utilisation {100 * utilisation:.1f}%" in title
    assert f"{makespan:.1f} s" in title
    assert utilisation < _utilisation(dynamic, len({bar.worker_id for bar in dynamic}))[0]


def test_a_worker_that_did_nothing_gets_an_empty_row_and_counts_in_the_utilisation():
    timeline = _replay("dynamic", n=60)
    workers = sorted({bar.worker_id for bar in timeline}) + ["premium-7"]
    ax = _axes()
    plot_worker_timeline(ax, timeline, workers=workers)
    rows = _rows(ax)
    assert list(rows)[-1] == "premium-7" and len(rows) == len(workers)
    assert not [p for p in _timeline_patches(ax) if p.get_y() + p.get_height() / 2 == rows["premium-7"]]
    utilisation, _ = _utilisation(timeline, len(workers))
    assert f"utilisation {100 * utilisation:.1f}%" in ax.get_title()


# --- the routing confusion matrix -------------------------------------------------------------------


def _shuffled_routes(results):
    """Some documents sent to the wrong route and some without ground truth, so every count matters."""
    changed = []
    for position, result in enumerate(results):
        if position % 7 == 0:
            result = replace(result, route=ROUTES[(ROUTES.index(result.route) + 1) % len(ROUTES)])
        if position % 11 == 0:
            result = replace(result, expected_complexity=None)
        changed.append(result)
    return changed


def test_the_confusion_matrix_counts_true_complexity_against_route_taken(run):
    results = _shuffled_routes(run.results)
    counted = Counter((r.expected_complexity, r.route) for r in results if r.expected_complexity is not None)
    expected = np.array([[counted[(c, r)] for r in ROUTES] for c in COMPLEXITIES])
    ax = _axes()
    plot_confusion_matrix(ax, results)

    assert np.array_equal(np.asarray(ax.images[0].get_array()), expected)
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert cells == {(row, col): str(expected[row, col]) for row in range(4) for col in range(4)}
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Simple", "Moderate", "Complex", "Very complex"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Fast", "Balanced", "Accurate", "Premium"]

    outlined = sorted((p.get_x() + 0.5, p.get_y() + 0.5) for p in ax.patches if p.get_gid() == "expected")
    assert outlined == sorted((ROUTES.index(expected_route(c)), row) for row, c in enumerate(COMPLEXITIES))

    with_truth = [r for r in results if r.expected_complexity is not None]
    agreement = sum(r.route == expected_route(r.expected_complexity) for r in with_truth) / len(with_truth)
    assert agreement < 1  # the shuffle did move documents off the diagonal
    assert f"{100 * agreement:.1f}% agree ({len(with_truth)} documents)" in ax.get_title()


def test_the_confusion_title_agrees_with_the_summary(run, summary):
    ax = _axes()
    plot_confusion_matrix(ax, run.results)
    assert f"{100 * summary.routing_agreement:.1f}% agree" in ax.get_title()


def test_without_ground_truth_the_confusion_panel_says_so(run):
    results = [replace(r, expected_complexity=None) for r in run.results]
    ax = _axes()
    plot_confusion_matrix(ax, results)
    assert not ax.images
    assert [t.get_text() for t in ax.texts] == ["no ground truth"]


# --- cost vs accuracy --------------------------------------------------------------------------------


def _points(ax):
    return {c.get_label(): tuple(c.get_offsets()[0]) for c in ax.collections}


def _is_star(collection):
    star = MarkerStyle("*")
    expected = star.get_path().transformed(star.get_transform()).vertices
    drawn = collection.get_paths()[0].vertices
    return drawn.shape == expected.shape and np.allclose(drawn, expected)


def test_cost_vs_accuracy_puts_each_route_the_batch_and_premium_only_where_the_summary_says(summary):
    ax = _axes()
    plot_cost_vs_accuracy(ax, summary)
    points = _points(ax)

    for route in ROUTES:
        r = summary.routes[route]
        assert r.documents and r.document_accuracy is not None  # this batch uses every route
        assert points[route.value] == pytest.approx((r.cost_per_document, 100 * r.document_accuracy))
    assert points["smart routing (this batch)"] == pytest.approx(
        (summary.total_cost / summary.documents, 100 * summary.document_accuracy)
    )
    premium_only = [c for c in ax.collections if c.get_label().startswith("premium only")]
    assert len(premium_only) == 1 and "measured" in premium_only[0].get_label()
    assert tuple(premium_only[0].get_offsets()[0]) == pytest.approx(
        (summary.premium_only_cost / summary.documents, 100 * summary.routes[ProcessingRoute.PREMIUM].document_accuracy)
    )
    assert _is_star(premium_only[0])
    assert not any(_is_star(c) for c in ax.collections if c is not premium_only[0])
    assert {t.get_text() for t in ax.texts} >= {route.value for route in ROUTES}


def test_without_premium_answers_the_baseline_uses_the_premium_spec_accuracy(summary):
    premium = summary.routes[ProcessingRoute.PREMIUM].model_copy(
        update={"documents": 0, "answers": 0, "scored_answers": 0, "document_accuracy": None, "cost_per_document": None}
    )
    routes = {**summary.routes, ProcessingRoute.PREMIUM: premium}
    ax = _axes()
    plot_cost_vs_accuracy(ax, summary.model_copy(update={"routes": routes}))
    points = _points(ax)
    assert "premium" not in points  # no documents went to premium: no premium point
    (label,) = [label for label in points if label.startswith("premium only")]
    assert "spec" in label
    baseline = (summary.premium_only_cost / summary.documents, 100 * premium.expected_accuracy)
    assert points[label] == pytest.approx(baseline)
