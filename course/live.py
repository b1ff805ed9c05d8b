"""A live panel for notebooks: the batch's progress as ipywidgets, fed by progress events.

One line creates it and it displays itself; pass it as ``on_event``::

    panel = LivePanel()
    run = run_batch(documents, backend, on_event=panel)

While the batch runs the panel shows one progress bar per route (done +
failed of the route's documents; green, then orange once the route has
failures, red when a quarter or more of its finished documents failed), the
running cost and tokens, documents per second, an ETA, and a row per worker
saying what it is doing.

How it stays live without flooding the kernel:

* The widgets are created and displayed once, before anything changes; the
  events then only change their values. Each change is a small comm message
  the notebook applies while the cell is still running: no ``clear_output``,
  no re-display.
* The events arrive in the caller's thread (``run_batch`` reads LangGraph's
  custom stream there), so the panel needs no thread and no lock.
* The numbers live in one ``ProgressTracker`` (``panel.tracker``), the same
  class the terminal view uses. The widgets are redrawn from it at most ten
  times a second, and once more whenever the state is final (the last
  document finished, a worker went idle), so 10,000 fast events cost about
  as many messages as a few hundred, and the final picture is exact.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable

import ipywidgets as widgets

from course.dispatch import worker_tasks
from course.progress import (
    REDRAW_INTERVAL,
    ProgressTracker,
    RouteProgress,
    Throttle,
    format_eta,
    format_rate,
)
from course.routing import ROUTES, ProcessingRoute

# A route's bar turns red ("danger") when at least this share of its finished documents failed.
DANGER_FAILURE_SHARE = 0.25
# Worker rows are laid out in a grid with this many columns (64 workers make 16 short rows).
WORKER_COLUMNS = 4
WAITING = "waiting for a batch plan"


def bar_style(progress: RouteProgress) -> str:
    """"success" without failures, "warning" with some, "danger" when DANGER_FAILURE_SHARE or more failed."""
    if not progress.failed:
        return "success"
    return "danger" if progress.failed >= DANGER_FAILURE_SHARE * progress.finished else "warning"


def route_label(progress: RouteProgress) -> str:
    """``done/total`` of a route's bar, with its failures: ``57/60 (3 failed)``."""
    return f"{progress.finished}/{progress.total}" + (f" ({progress.failed} failed)" if progress.failed else "")


class LivePanel:
    """Live progress of a batch run as ipywidgets; call it with each progress event.

    ``display=False`` builds the widgets without showing them (tests, or to
    place ``panel.widget`` yourself). ``clock`` and ``interval`` set the
    redraw throttle. ``panel.tracker`` has the numbers; ``panel.widget`` is
    the root widget; ``close()`` draws the final state and stops the panel.
    """

    def __init__(
        self,
        *,
        display: bool = True,
        interval: float = REDRAW_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tracker = ProgressTracker()
        self.closed = False
        self._throttle = Throttle(interval, clock)
        self._pending = False
        self.title = widgets.HTML(value=f"<b>Batch</b>: {WAITING}")
        self.bars: dict[ProcessingRoute, widgets.IntProgress] = {}
        self.labels: dict[ProcessingRoute, widgets.Label] = {}
        self._route_rows: dict[ProcessingRoute, widgets.HBox] = {}
        for route in ROUTES:
            # max=1 until the plan: a 0/0 bar would be drawn as NaN %.
            bar = widgets.IntProgress(
                value=0, min=0, max=1, description=route.value, bar_style="success",
                style={"description_width": "70px"}, layout=widgets.Layout(width="420px"),
            )
            label = widgets.Label(value="0/0")
            self.bars[route], self.labels[route] = bar, label
            self._route_rows[route] = widgets.HBox([bar, label])
        self.totals = widgets.HTML(value=self._totals_html())
        self.worker_rows: dict[str, widgets.HTML] = {}
        self.workers_box = widgets.GridBox(
            [], layout=widgets.Layout(grid_template_columns=f"repeat({WORKER_COLUMNS}, minmax(0, 1fr))",
                                      grid_gap="2px 12px"),
        )
        self.widget = widgets.VBox(
            [self.title, *self._route_rows.values(), self.totals, self.workers_box],
            layout=widgets.Layout(border="1px solid #ddd", padding="6px"),
        )
        self.widget.add_class("course-live-panel")
        if display:
            from IPython.display import display as show

            show(self)

    # What a notebook shows. The text form is what nbval compares: no timings, no ids.
    def __repr__(self) -> str:
        tracker = self.tracker
        if tracker.started is None:
            return f"LivePanel({WAITING})"
        routes = ", ".join(
            f"{route.value} {route_label(progress)}" for route, progress in tracker.routes.items() if progress.total
        )
        return f"LivePanel({tracker.finished}/{tracker.total} documents: {routes})"

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = repr(self)
        return bundle

    # Feeding it
    def __call__(self, event: dict) -> None:
        if self.closed:
            return
        self.tracker.update(event)
        kind = event["type"]
        if kind == "plan":
            self._layout_plan()
        self._pending = True
        # Always drawn: the plan, a worker going idle (at most one per worker) and the last document.
        final = kind in ("plan", "idle") or (kind == "finished" and self.tracker.complete)
        if self._throttle.ready(force=final):
            self.refresh()

    def _layout_plan(self) -> None:
        """A plan arrived: set the bars' totals, hide empty routes, one row per planned worker."""
        plan = self.tracker.plan
        for route, progress in self.tracker.routes.items():
            bar = self.bars[route]
            bar.value = 0
            bar.max = max(progress.total, 1)
            bar.bar_style = "success"
            self._route_rows[route].layout.display = None if progress.total else "none"
        self.worker_rows = {}
        for task in worker_tasks(plan):
            self.worker_rows[task["worker_id"]] = widgets.HTML(value=self._worker_html(task["worker_id"]))
        self.workers_box.children = tuple(self.worker_rows.values())
        self.title.value = (
            f"<b>Batch</b>: {self.tracker.total} documents, {plan.workers} workers, {plan.policy} policy"
        )

    def refresh(self) -> None:
        """Copy the tracker's numbers into the widgets (only changed values are sent)."""
        tracker = self.tracker
        for route, progress in tracker.routes.items():
            bar = self.bars[route]
            if progress.total:
                bar.max = max(progress.total, 1)
                bar.value = min(progress.finished, bar.max)
            bar.bar_style = bar_style(progress)
            self.labels[route].value = route_label(progress)
        self.totals.value = self._totals_html()
        for worker_id in tracker.workers:
            if worker_id not in self.worker_rows:  # not in the plan (a resumed batch): add its row
                self.worker_rows[worker_id] = widgets.HTML()
                self.workers_box.children = tuple(self.worker_rows.values())
        for worker_id, row in self.worker_rows.items():
            row.value = self._worker_html(worker_id)
        self._pending = False

    def _totals_html(self) -> str:
        tracker = self.tracker
        failed = f" ({tracker.failed} failed)" if tracker.failed else ""
        return (
            f"<b>{tracker.finished}/{tracker.total}</b> documents{failed}"
            f" &nbsp; <b>${tracker.cost:,.2f}</b> &nbsp; {tracker.tokens:,} tokens"
            f" &nbsp; {format_rate(tracker.rate)} &nbsp; {format_eta(tracker.eta_seconds)}"
        )

    def _worker_html(self, worker_id: str) -> str:
        doing = self.tracker.workers.get(worker_id, "idle")
        return f"<code>{html.escape(worker_id)}</code>: {html.escape(doing)}"

    def worker_text(self, worker_id: str) -> str:
        """What a worker's row says, as plain text."""
        return f"{worker_id}: {self.tracker.workers.get(worker_id, 'idle')}"

    def close(self, remove: bool = False) -> None:
        """Draw the final state and ignore later events; ``remove=True`` also takes the widgets off the page."""
        if not self.closed and self._pending:
            self.refresh()
        self.closed = True
        if remove:
            for widget in self._own_widgets():
                widget.close()

    def _own_widgets(self) -> list[widgets.Widget]:
        return [
            *self.worker_rows.values(), self.workers_box, self.totals, *self.labels.values(), *self.bars.values(),
            *self._route_rows.values(), self.title, self.widget,
        ]

    def __enter__(self) -> LivePanel:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
