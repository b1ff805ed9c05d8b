"""Step 07: the dashboard shows the summary's numbers, expected accuracy on the right bars."""

import pytest

from course.dashboard import create_dashboard, save_dashboard
from course.documents import generate_batch
from course.graph import run_batch
from course.llm import SimulatedBackend
from course.routing import ROUTES


@pytest.fixture(scope="module")
def summary():
    return run_batch(generate_batch(120), SimulatedBackend(time_scale=0), workers=8).summary


def _panel(figure, title_start):
    return next(ax for ax in figure.axes if ax.get_title().startswith(title_start))


def _bar_heights(ax, count=4):
    return [patch.get_height() for patch in ax.patches[:count]]


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


def test_a_simulated_run_says_so_in_the_title(summary):
    assert "SIMULATED" in create_dashboard(summary)._suptitle.get_text()


def test_the_dashboard_saves_as_png(summary, tmp_path):
    path = save_dashboard(summary, tmp_path / "d.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
