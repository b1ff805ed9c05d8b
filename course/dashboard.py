"""Step 07 - the dashboard.

What this step teaches: the picture people look at when the batch is done.
The lesson's 2x2 figure (documents, cost, throughput and accuracy by route),
with its bugs fixed: each route's expected accuracy is marked on *its own*
bar (the lesson computed the marks' positions in the wrong units), accuracy is
measured against ground truth, and a simulated run says so in the title.

Every panel is a small function that draws on a matplotlib ``Axes`` from a
``BatchSummary``, so a notebook can draw, test or replace one panel at a time.
The figure is built with ``matplotlib.figure.Figure`` (no global pyplot
state), which is safe in scripts, threads and notebooks alike.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from course.aggregation import BatchSummary
from course.routing import ROUTES

ROUTE_COLORS = {"fast": "#3498db", "balanced": "#2ecc71", "accurate": "#f39c12", "premium": "#e74c3c"}
ROUTE_NAMES = [route.value.capitalize() for route in ROUTES]
_COLORS = [ROUTE_COLORS[route.value] for route in ROUTES]


def _label_bars(ax: Axes, values: list[float], template: str) -> None:
    for x, value in enumerate(values):
        if value:
            ax.annotate(template.format(value), (x, value), ha="center", va="bottom", fontweight="bold",
                        xytext=(0, 2), textcoords="offset points")


def plot_documents(ax: Axes, summary: BatchSummary) -> None:
    """Documents per route: completed, with failed stacked on top."""
    completed = [summary.routes[route].completed for route in ROUTES]
    failed = [summary.routes[route].failed for route in ROUTES]
    ax.bar(ROUTE_NAMES, completed, color=_COLORS, label="completed")
    ax.bar(ROUTE_NAMES, failed, bottom=completed, color="#7f8c8d", label="failed")
    _label_bars(ax, [c + f for c, f in zip(completed, failed)], "{:d}")
    ax.set_title("Documents by route")
    ax.set_ylabel("documents")
    if any(failed):
        ax.legend(loc="upper right")


def plot_costs(ax: Axes, summary: BatchSummary) -> None:
    """Cost per route: real token counts x route price."""
    costs = [summary.routes[route].cost for route in ROUTES]
    ax.bar(ROUTE_NAMES, costs, color=_COLORS)
    _label_bars(ax, costs, "${:,.2f}")
    savings = f", {summary.savings_pct:.0f}% below premium-only" if summary.savings_pct is not None else ""
    ax.set_title(f"Cost by route (total ${summary.total_cost:,.2f}{savings})")
    ax.set_ylabel("cost ($)")


def plot_throughput(ax: Axes, summary: BatchSummary) -> None:
    """Documents per second on each route while it was being worked on."""
    throughput = [summary.routes[route].throughput or 0.0 for route in ROUTES]
    ax.bar(ROUTE_NAMES, throughput, color=_COLORS)
    _label_bars(ax, throughput, "{:.1f}")
    ax.set_title("Throughput by route")
    ax.set_ylabel("documents / second")


def plot_accuracy(ax: Axes, summary: BatchSummary) -> None:
    """Measured document accuracy per route, each route's expected accuracy marked on its bar."""
    measured = [100 * (summary.routes[route].document_accuracy or 0.0) for route in ROUTES]
    ax.bar(ROUTE_NAMES, measured, color=_COLORS)
    _label_bars(ax, measured, "{:.1f}%")
    for x, route in enumerate(ROUTES):
        ax.hlines(100 * summary.routes[route].expected_accuracy, x - 0.4, x + 0.4, colors="black",
                  linestyles="--", label="expected" if x == 0 else None)
    ax.set_ylim(0, 110)
    ax.set_title("Accuracy by route (all fields right)")
    ax.set_ylabel("documents right (%)")
    ax.legend(loc="lower right")


def dashboard_title(summary: BatchSummary) -> str:
    backend = "SIMULATED backend" if summary.simulated else summary.backend
    return f"Batch {summary.batch_id}: {summary.documents} documents, {summary.workers} workers, {backend}"


def create_dashboard(summary: BatchSummary) -> Figure:
    """The 2x2 batch dashboard as a matplotlib Figure."""
    figure = Figure(figsize=(14, 10), layout="constrained")
    axes = figure.subplots(2, 2)
    plot_documents(axes[0, 0], summary)
    plot_costs(axes[0, 1], summary)
    plot_throughput(axes[1, 0], summary)
    plot_accuracy(axes[1, 1], summary)
    figure.suptitle(dashboard_title(summary), fontsize=15, fontweight="bold")
    return figure


def save_dashboard(summary: BatchSummary, path: str | Path) -> Path:
    """Draw the dashboard and save it as a PNG."""
    path = Path(path)
    create_dashboard(summary).savefig(path, dpi=100)
    return path
