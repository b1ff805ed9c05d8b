"""Watching a batch run: progress events, a tracker, and a terminal view.

Workers report on LangGraph's custom stream (``get_stream_writer``); the
caller receives the events in its own thread (``stream_mode="custom"``) and
feeds them to a ``ProgressTracker``, which keeps the numbers a live view
shows: per route done / failed / total, running cost and tokens, documents
per second, an ETA, and what each worker is doing. The terminal view and the
notebook panel are two renderings of the same tracker.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from course.planning import BatchPlan
from course.routing import ROUTES, ProcessingRoute


@dataclass
class RouteProgress:
    total: int = 0
    done: int = 0
    failed: int = 0


@dataclass
class ProgressTracker:
    """Live numbers of a running batch, updated from progress events."""

    routes: dict[ProcessingRoute, RouteProgress] = field(
        default_factory=lambda: {route: RouteProgress() for route in ROUTES}
    )
    workers: dict[str, str] = field(default_factory=dict)  # worker id -> what it is doing
    cost: float = 0.0
    tokens: int = 0
    started: float | None = None
    scaling_decisions: int = 0

    def start(self, plan: BatchPlan) -> None:
        for route, route_plan in plan.routes.items():
            self.routes[route] = RouteProgress(total=len(route_plan.document_ids))
        self.started = time.monotonic()

    @property
    def total(self) -> int:
        return sum(progress.total for progress in self.routes.values())

    @property
    def finished(self) -> int:
        return sum(progress.done + progress.failed for progress in self.routes.values())

    @property
    def rate(self) -> float | None:
        """Documents per second so far."""
        if self.started is None or not self.finished:
            return None
        elapsed = time.monotonic() - self.started
        return self.finished / elapsed if elapsed > 0 else None

    @property
    def eta_seconds(self) -> float | None:
        rate = self.rate
        return (self.total - self.finished) / rate if rate else None

    def update(self, event: dict) -> None:
        kind = event["type"]
        if kind == "plan":
            self.start(event["plan"])
        elif kind == "started":
            self.workers[event["worker_id"]] = f"{event['document_id']} ({event['route'].value})"
        elif kind == "finished":
            result = event["result"]
            progress = self.routes[result.route]
            if result.status == "completed":
                progress.done += 1
            else:
                progress.failed += 1
            self.cost += result.cost
            self.tokens += result.tokens
            self.workers[event["worker_id"]] = "idle"
        elif kind == "idle":
            self.workers[event["worker_id"]] = "done"
        elif kind == "scaling":
            self.scaling_decisions += 1


class TerminalProgress:
    """Progress in a terminal: one redrawn line on a TTY, a plain line every 10 % otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tracker = ProgressTracker()
        self.interactive = self.stream.isatty()
        self._next_report = 0.0
        self._last_draw = 0.0

    def _print_plan(self, plan: BatchPlan) -> None:
        active = ", ".join(
            f"{route.value} {len(rp.document_ids)} docs/{rp.workers} workers"
            for route, rp in plan.routes.items()
            if rp.document_ids
        )
        print(f"plan: {active}", file=self.stream, flush=True)

    def line(self) -> str:
        tracker = self.tracker
        routes = "  ".join(
            f"{route.value} {p.done + p.failed}/{p.total}" + (f" ({p.failed} failed)" if p.failed else "")
            for route, p in tracker.routes.items()
            if p.total
        )
        rate, eta = tracker.rate, tracker.eta_seconds
        speed = f"{rate:.1f} docs/s" if rate else "-"
        remaining = f"ETA {eta:.0f}s" if eta is not None else ""
        return f"{tracker.finished}/{tracker.total}  {routes}  ${tracker.cost:,.2f}  {speed}  {remaining}".rstrip()

    def __call__(self, event: dict) -> None:
        self.tracker.update(event)
        if event["type"] == "plan":
            self._print_plan(event["plan"])
        if event["type"] != "finished":
            return
        tracker = self.tracker
        if self.interactive:
            now = time.monotonic()
            if now - self._last_draw > 0.1 or tracker.finished == tracker.total:
                self.stream.write("\r\x1b[2K" + self.line())
                self.stream.flush()
                self._last_draw = now
        elif tracker.total and tracker.finished / tracker.total >= self._next_report:
            print(self.line(), file=self.stream, flush=True)
            self._next_report = min(1.0, tracker.finished / tracker.total + 0.1)

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
