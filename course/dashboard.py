"""Step 07 - the dashboard.

What this step teaches: the picture people look at when the batch is done.
The lesson's 2x2 figure (documents, cost, throughput and accuracy by route),
with its bugs fixed: each route's expected accuracy is marked on *its own*
bar (the lesson computed the marks' positions in the wrong units), accuracy is
measured against ground truth, and a simulated run says so in the title.

Given the batch's results as well, the dashboard adds three views that the
summary's numbers alone cannot show:

* the **worker timeline**: one row per worker, one bar per document, so idle
  workers show up as gaps (it also draws the virtual-clock schedules of
  ``simulate_schedule``, to compare scheduling policies);
* the **routing confusion matrix**: true complexity against the route taken,
  the cells where the two agree outlined;
* **cost vs accuracy**: each route, the batch and the premium-only baseline
  as points, so the trade-off smart routing makes is one picture.

Every panel is a small public function that draws on a matplotlib ``Axes``,
so a notebook can draw, test or replace one panel at a time. The figure is
built with ``matplotlib.figure.Figure`` (no global pyplot state), which is
safe in scripts, threads and notebooks alike, and nothing in it depends on
when it was drawn.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from course.aggregation import BatchSummary
from course.routing import COMPLEXITIES, ROUTES, DocumentComplexity, ProcessingRoute, expected_route, routing_confusion

ROUTE_COLORS = {"fast": "#3498db", "balanced": "#2ecc71", "accurate": "#f39c12", "premium": "#e74c3c"}
ROUTE_NAMES = [route.value.capitalize() for route in ROUTES]
COMPLEXITY_NAMES = [complexity.value.replace("_", " ").capitalize() for complexity in COMPLEXITIES]
_COLORS = [ROUTE_COLORS[route.value] for route in ROUTES]
_VALUE_MARGIN = 0.12  # head room above the tallest bar, so its label is not cut off


def _label_bars(ax: Axes, values: list[float], template: str) -> None:
    for x, value in enumerate(values):
        if value:
            ax.annotate(template.format(value), (x, value), ha="center", va="bottom", fontweight="bold",
                        xytext=(0, 2), textcoords="offset points")


def _headroom(ax: Axes, tops: list[float]) -> None:
    """Room above the tallest bar for its label. (``ax.margins`` is not enough: a stacked bar's
    bottom is a "sticky edge" that autoscaling will not go past.)"""
    if max(tops, default=0) > 0:
        ax.set_ylim(0, (1 + _VALUE_MARGIN) * max(tops))


def _no_data(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", fontsize=14, color="#7f8c8d")
    ax.set_xticks([])
    ax.set_yticks([])


# --- the four summary panels ------------------------------------------------------------------


def plot_documents(ax: Axes, summary: BatchSummary) -> None:
    """Documents per route: completed, with failed stacked on top."""
    completed = [summary.routes[route].completed for route in ROUTES]
    failed = [summary.routes[route].failed for route in ROUTES]
    ax.bar(ROUTE_NAMES, completed, color=_COLORS, label="completed")
    ax.bar(ROUTE_NAMES, failed, bottom=completed, color="#7f8c8d", label="failed")
    totals = [c + f for c, f in zip(completed, failed)]
    _label_bars(ax, totals, "{:d}")
    _headroom(ax, totals)
    ax.set_title("Documents by route")
    ax.set_ylabel("documents")
    if any(failed):
        ax.legend(loc="upper right")


def plot_costs(ax: Axes, summary: BatchSummary) -> None:
    """Cost per route: real token counts x route price."""
    costs = [summary.routes[route].cost for route in ROUTES]
    ax.bar(ROUTE_NAMES, costs, color=_COLORS)
    _label_bars(ax, costs, "${:,.2f}")
    _headroom(ax, costs)
    savings = f", {summary.savings_pct:.0f}% below premium-only" if summary.savings_pct is not None else ""
    ax.set_title(f"Cost by route (total ${summary.total_cost:,.2f}{savings})")
    ax.set_ylabel("cost ($)")


def plot_throughput(ax: Axes, summary: BatchSummary) -> None:
    """Documents per second on each route while it was being worked on."""
    throughput = [summary.routes[route].throughput or 0.0 for route in ROUTES]
    ax.bar(ROUTE_NAMES, throughput, color=_COLORS)
    _label_bars(ax, throughput, "{:.1f}")
    _headroom(ax, throughput)
    ax.set_title("Throughput by route")
    ax.set_ylabel("documents / second")


def plot_tokens(ax: Axes, summary: BatchSummary) -> None:
    """Tokens per route: prompt tokens, with completion tokens stacked on top."""
    prompt = [summary.routes[route].prompt_tokens for route in ROUTES]
    completion = [summary.routes[route].completion_tokens for route in ROUTES]
    ax.bar(ROUTE_NAMES, prompt, color=_COLORS, label="prompt")
    ax.bar(ROUTE_NAMES, completion, bottom=prompt, color=_COLORS, alpha=0.45, hatch="//", label="completion")
    ax.set_title("Tokens by route (prompt + completion)")
    ax.set_ylabel("tokens")
    ax.legend(loc="upper right")


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


# --- the worker timeline ------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineBar:
    """One document on one worker's row: from ``start`` to ``end`` (seconds, any clock)."""

    worker_id: str
    document_id: str
    route: ProcessingRoute
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _attr(item: object, *names: str):
    for name in names:
        value = getattr(item, name, None)
        if value is not None:
            return value
    raise TypeError(f"{type(item).__name__} has none of {', '.join(names)}: it cannot be drawn on a timeline")


def timeline_bars(items: Iterable[object]) -> list[TimelineBar]:
    """The timeline's bars from results (``DocumentResult``) or from ``simulate_schedule``'s
    ``ScheduledDocument`` bars - anything with ``worker_id``, ``route`` and start/end times
    (``started_at``/``finished_at`` or ``start``/``end``).

    Items without a ``worker_id`` (documents that failed before any worker took them) are skipped.
    """
    bars = []
    for item in items:
        worker_id = getattr(item, "worker_id", None)
        if worker_id is None:
            continue
        bars.append(
            TimelineBar(
                worker_id=str(worker_id),
                document_id=str(getattr(item, "document_id", "")),
                route=ProcessingRoute(_attr(item, "route")),
                start=float(_attr(item, "started_at", "start")),
                end=float(_attr(item, "finished_at", "end")),
            )
        )
    return bars


MAX_TIMELINE_BARS = 5_000  # above this, a worker's back-to-back documents on one route are drawn as one bar


def merge_bars(bars: list[TimelineBar], min_gap: float) -> list[TimelineBar]:
    """Back-to-back bars of one worker on one route (less than ``min_gap`` apart) as one bar.

    A 100,000-document batch has 100,000 bars, far more than a picture has pixels
    (and matplotlib needs a minute and a gigabyte to draw them). Merged, every idle
    gap of ``min_gap`` or more still shows; a merged bar's ``document_id`` says how
    many documents it holds.
    """
    merged: list[TimelineBar] = []
    current, count = None, 0
    for bar in sorted(bars, key=lambda bar: (bar.worker_id, bar.start)):
        if current and bar.worker_id == current.worker_id and bar.route == current.route and bar.start - current.end < min_gap:
            current, count = replace(current, end=max(current.end, bar.end)), count + 1
            continue
        if current:
            merged.append(replace(current, document_id=f"{count} documents") if count > 1 else current)
        current, count = bar, 1
    if current:
        merged.append(replace(current, document_id=f"{count} documents") if count > 1 else current)
    return merged


def worker_order(worker_id: str) -> tuple:
    """Sort key for worker ids: route order (fast ... premium), then the index (``fast-2`` < ``fast-10``)."""
    prefix, _, index = worker_id.rpartition("-")
    positions = {route.value: position for position, route in enumerate(ROUTES)}
    if prefix in positions and index.isdigit():
        return (positions[prefix], int(index), worker_id)
    return (len(ROUTES), 0, worker_id)


def _seconds(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f} s"
    if value >= 1:
        return f"{value:.1f} s"
    return f"{value:.3g} s"


def plot_worker_timeline(ax: Axes, bars: Iterable[object], workers: Iterable[str] | None = None) -> None:
    """One row per worker, one bar per document from its start to its finish, coloured by route.

    ``bars`` are results or ``ScheduledDocument`` bars (see ``timeline_bars``).
    ``workers`` are the batch's worker ids, so that a worker that did nothing
    still gets its (empty) row and counts in the utilisation; by default, the
    workers that appear in ``bars``. Times are drawn relative to the first
    start; the title gives the makespan and the utilisation, busy time /
    (workers x makespan). Each bar's ``gid`` is its document id. Above
    ``MAX_TIMELINE_BARS`` documents, back-to-back bars are merged (``merge_bars``).
    """
    bars = timeline_bars(bars)
    rows = sorted({*(workers or ()), *(bar.worker_id for bar in bars)}, key=worker_order)
    if not bars:
        ax.set_title("Worker timeline")
        _no_data(ax, "no document was processed by a worker")
        return
    t0 = min(bar.start for bar in bars)
    makespan = max(bar.end for bar in bars) - t0
    busy = sum(bar.seconds for bar in bars)
    row_of = {worker: row for row, worker in enumerate(rows)}
    documents = len(bars)
    if documents > MAX_TIMELINE_BARS:
        bars = merge_bars(bars, min_gap=makespan / 2000)  # about a pixel of the saved dashboard
    for route in ROUTES:
        on_route = [bar for bar in bars if bar.route == route]
        if not on_route:
            continue
        container = ax.barh(
            [row_of[bar.worker_id] for bar in on_route],
            [bar.seconds for bar in on_route],
            left=[bar.start - t0 for bar in on_route],
            height=0.8,
            color=ROUTE_COLORS[route.value],
            edgecolor="white",
            linewidth=0.4,
            label=route.value,
        )
        for patch, bar in zip(container.patches, on_route):
            patch.set_gid(bar.document_id)
    ax.set_yticks(range(len(rows)), rows, fontsize=10 if len(rows) <= 16 else 7)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # the first worker on top
    if makespan > 0:
        ax.set_xlim(0, makespan * 1.01)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_xlabel("seconds since the first document started")
    ax.legend(title="route (gap = idle)", loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=9)
    utilisation = f"{100 * busy / (len(rows) * makespan):.1f}%" if makespan > 0 else "n/a"
    ax.set_title(
        f"Worker timeline: makespan {_seconds(makespan)}, utilisation {utilisation}"
        f" ({documents} documents, {len(rows)} workers)"
    )


# --- the routing confusion matrix ------------------------------------------------------------------


def confusion_counts(results: Iterable[object]) -> np.ndarray:
    """``course.routing.routing_confusion`` of results with ground truth, as a complexity x route array."""
    pairs = [
        (DocumentComplexity(result.expected_complexity), ProcessingRoute(result.route))
        for result in results
        if getattr(result, "expected_complexity", None) is not None
    ]
    matrix = routing_confusion(pairs)
    return np.array([[matrix[level][route] for route in ROUTES] for level in COMPLEXITIES], dtype=int)


def plot_confusion_matrix(ax: Axes, results: Iterable[object]) -> None:
    """True complexity against the route taken; the route each complexity asks for is outlined."""
    counts = confusion_counts(results)
    total = int(counts.sum())
    if not total:
        ax.set_title("Routing vs ground truth")
        _no_data(ax, "no ground truth")
        return
    ax.imshow(counts, cmap="Blues", vmin=0, vmax=max(1, counts.max()), aspect="auto")
    for row in range(len(COMPLEXITIES)):
        for col in range(len(ROUTES)):
            value = counts[row, col]
            ax.text(col, row, str(value), ha="center", va="center", fontsize=13, fontweight="bold",
                    color="white" if value > 0.6 * counts.max() else "black")
    agree = 0
    for row, complexity in enumerate(COMPLEXITIES):
        col = ROUTES.index(expected_route(complexity))
        agree += counts[row, col]
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="#c0392b", linewidth=3,
                               clip_on=False, gid="expected"))
    ax.set_xticks(range(len(ROUTES)), ROUTE_NAMES)
    ax.set_yticks(range(len(COMPLEXITIES)), COMPLEXITY_NAMES)
    ax.set_xlabel("route taken (outlined: the route the true complexity asks for)")
    ax.set_ylabel("true complexity")
    ax.set_title(f"Routing vs ground truth: {100 * agree / total:.1f}% agree ({total} documents)")


# --- cost vs accuracy ------------------------------------------------------------------------------

PREMIUM_ONLY_LABEL = "premium only ({which} premium accuracy)"
SMART_ROUTING_LABEL = "smart routing (this batch)"


def plot_cost_vs_accuracy(ax: Axes, summary: BatchSummary) -> None:
    """Cost per document against documents right (%): each route, the batch and premium-only.

    A route is drawn when documents were sent to it and its answers were
    scored. The premium-only baseline costs the batch's tokens at the premium
    price; its accuracy is the premium route's measured accuracy when premium
    answered documents, else the premium spec's accuracy (the label says which).
    """
    ax.set_title("Cost vs accuracy")
    if not summary.documents:
        _no_data(ax, "no documents")
        return
    for route in ROUTES:
        r = summary.routes[route]
        if not r.documents or r.cost_per_document is None or r.document_accuracy is None:
            continue
        point = (r.cost_per_document, 100 * r.document_accuracy)
        ax.scatter(*point, s=140, color=ROUTE_COLORS[route.value], edgecolors="black", zorder=3, label=route.value)
        ax.annotate(route.value, point, xytext=(8, -4), textcoords="offset points", fontsize=11)
    premium = summary.routes[ProcessingRoute.PREMIUM]
    measured = premium.document_accuracy is not None
    baseline = (
        summary.premium_only_cost / summary.documents,
        100 * (premium.document_accuracy if measured else premium.expected_accuracy),
    )
    which = "measured" if measured else "spec"
    ax.scatter(*baseline, s=400, marker="*", color="#8e44ad", edgecolors="black", zorder=4,
               label=PREMIUM_ONLY_LABEL.format(which=which))
    ax.annotate("premium only", baseline, xytext=(0, 14), textcoords="offset points", ha="center", fontsize=11,
                color="#8e44ad", fontweight="bold")
    if summary.document_accuracy is not None:
        batch = (summary.total_cost / summary.documents, 100 * summary.document_accuracy)
        ax.scatter(*batch, s=160, marker="D", color="black", zorder=4, label=SMART_ROUTING_LABEL)
        ax.annotate("smart routing", batch, xytext=(0, 14), textcoords="offset points", ha="center", fontsize=11,
                    fontweight="bold")
        ax.annotate("", xy=batch, xytext=baseline, zorder=2,
                    arrowprops={"arrowstyle": "->", "linestyle": ":", "color": "#7f8c8d", "shrinkA": 12, "shrinkB": 8})
    ax.margins(0.15)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_xlabel("cost per document ($)")
    ax.set_ylabel("documents right (%)")
    # The routes are named next to their points; the legend explains the two special markers.
    special = [c for c in ax.collections if c.get_label().startswith(("premium only", SMART_ROUTING_LABEL))]
    ax.legend(handles=special, loc="lower right", fontsize=9)
    if summary.savings_pct is not None:
        ax.set_title(f"Cost vs accuracy (smart routing {summary.savings_pct:.0f}% cheaper than premium-only)")


# --- the figure ----------------------------------------------------------------------------------


def dashboard_title(summary: BatchSummary) -> str:
    backend = "SIMULATED backend" if summary.simulated else summary.backend
    return f"Batch {summary.batch_id}: {summary.documents} documents, {summary.workers} workers, {backend}"


def planned_workers(summary: BatchSummary) -> list[str]:
    """The batch's worker ids as the dispatcher names them (``fast-0``, ...), in route order."""
    return [f"{route.value}-{index}" for route in ROUTES for index in range(summary.routes[route].workers)]


def create_dashboard(summary: BatchSummary, results: Sequence[object] | None = None) -> Figure:
    """The batch dashboard as a matplotlib Figure.

    Without ``results``: the 2x2 summary panels (documents, cost, throughput,
    accuracy). With the batch's ``results``: those four plus the routing
    confusion matrix, cost vs accuracy and the worker timeline across the bottom.
    """
    if results is None:
        figure = Figure(figsize=(14, 10), layout="constrained")
        axes = figure.subplots(2, 2)
        plot_documents(axes[0, 0], summary)
        plot_costs(axes[0, 1], summary)
        plot_throughput(axes[1, 0], summary)
        plot_accuracy(axes[1, 1], summary)
    else:
        figure = Figure(figsize=(18, 15), layout="constrained")
        axes = figure.subplot_mosaic(
            [
                ["documents", "costs", "throughput"],
                ["accuracy", "confusion", "cost_accuracy"],
                ["timeline", "timeline", "timeline"],
            ]
        )
        plot_documents(axes["documents"], summary)
        plot_costs(axes["costs"], summary)
        plot_throughput(axes["throughput"], summary)
        plot_accuracy(axes["accuracy"], summary)
        plot_confusion_matrix(axes["confusion"], results)
        plot_cost_vs_accuracy(axes["cost_accuracy"], summary)
        plot_worker_timeline(axes["timeline"], results, workers=planned_workers(summary))
    figure.suptitle(dashboard_title(summary), fontsize=15, fontweight="bold")
    return figure


def save_dashboard(summary: BatchSummary, path: str | Path, results: Sequence[object] | None = None) -> Path:
    """Draw the dashboard (the full one when ``results`` are given) and save it as a PNG."""
    path = Path(path)
    create_dashboard(summary, results).savefig(path, dpi=100)
    return path
