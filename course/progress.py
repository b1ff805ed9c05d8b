"""Watching a batch run: progress events, a tracker, and a terminal view.

Workers report on LangGraph's custom stream (``get_stream_writer``); the
caller receives the events in its own thread (``stream_mode="custom"``) and
feeds them to a ``ProgressTracker``, which keeps the numbers a live view
shows: per route done / failed / total, running cost and tokens, documents
per second, an ETA, and what each worker is doing. The terminal view and the
notebook panel (``course.live.LivePanel``) are two renderings of the same
tracker.

A batch can send thousands of events a second, so both views redraw at most
about ten times a second (``Throttle``), plus once more whenever the state
they show is final: the last document finished, or a worker went idle.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from course.planning import BatchPlan
from course.routing import ROUTES, ProcessingRoute

REDRAW_INTERVAL = 0.1  # seconds between two redraws of a live view (~10 Hz)


@dataclass
class RouteProgress:
    total: int = 0
    done: int = 0
    failed: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.failed


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
    ended: float | None = None  # when the last document finished: the rate stops there
    scaling_decisions: int = 0
    plan: BatchPlan | None = None

    def start(self, plan: BatchPlan) -> None:
        self.plan = plan
        for route, route_plan in plan.routes.items():
            self.routes[route] = RouteProgress(total=len(route_plan.document_ids))
        self.started = time.monotonic()
        self.ended = None

    @property
    def total(self) -> int:
        return sum(progress.total for progress in self.routes.values())

    @property
    def finished(self) -> int:
        return sum(progress.done + progress.failed for progress in self.routes.values())

    @property
    def failed(self) -> int:
        return sum(progress.failed for progress in self.routes.values())

    @property
    def complete(self) -> bool:
        """Every planned document has finished (completed or failed)."""
        return self.started is not None and self.finished >= self.total

    @property
    def elapsed(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended if self.ended is not None else time.monotonic()) - self.started

    @property
    def rate(self) -> float | None:
        """Documents per second so far."""
        elapsed = self.elapsed
        if elapsed is None or not self.finished:
            return None
        return self.finished / elapsed if elapsed > 0 else None

    @property
    def eta_seconds(self) -> float | None:
        if self.complete:
            return 0.0
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
            if self.complete and self.ended is None:
                self.ended = time.monotonic()
        elif kind == "idle":
            self.workers[event["worker_id"]] = "done"
        elif kind == "scaling":
            self.scaling_decisions += 1


class Throttle:
    """Says when a live view may redraw: at most once per ``interval`` seconds, unless forced."""

    def __init__(self, interval: float = REDRAW_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: float | None = None

    def ready(self, force: bool = False) -> bool:
        """True (and the redraw counted) when a redraw is due now."""
        now = self.clock()
        if force or self._last is None or now - self._last >= self.interval:
            self._last = now
            return True
        return False


def format_rate(rate: float | None) -> str:
    return f"{rate:.1f} docs/s" if rate else "- docs/s"


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA -"
    seconds = round(seconds)
    return f"ETA {seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"ETA {seconds}s"


def text_bar(done: int, total: int, width: int = 24) -> str:
    """``[#########-------]``: ``done`` of ``total`` as a bar of ``width`` characters."""
    filled = width if total and done >= total else (done * width // total if total else 0)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def active_routes(tracker: ProgressTracker) -> list[tuple[ProcessingRoute, RouteProgress]]:
    """The routes that have documents in this batch, cheapest first."""
    return [(route, progress) for route, progress in tracker.routes.items() if progress.total]


class TerminalProgress:
    """Progress in a terminal.

    On a TTY: a block redrawn in place (ANSI cursor movement, at most ~10 times
    a second): one line per route with a text bar and done/total/failed, and a
    totals line with cost, tokens, docs/s and ETA. Otherwise (a pipe, a log
    file, CI): a plain line at each 10 % and at the end.
    """

    def __init__(self, stream: TextIO | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stdout
        self.tracker = ProgressTracker()
        self.interactive = self.stream.isatty()
        self._next_report = 0.0
        self._throttle = Throttle(REDRAW_INTERVAL, clock)
        self._drawn_lines = 0  # height of the block on screen, to move back up over it
        self._dirty = False

    def _print_plan(self, plan: BatchPlan) -> None:
        active = ", ".join(
            f"{route.value} {len(rp.document_ids)} docs/{rp.workers} workers"
            for route, rp in plan.routes.items()
            if rp.document_ids
        )
        print(f"plan: {active}", file=self.stream, flush=True)

    def line(self) -> str:
        """The whole batch on one line (what a non-interactive stream gets)."""
        tracker = self.tracker
        routes = "  ".join(
            f"{route.value} {p.done + p.failed}/{p.total}" + (f" ({p.failed} failed)" if p.failed else "")
            for route, p in active_routes(tracker)
        )
        rate, eta = tracker.rate, tracker.eta_seconds
        speed = f"{rate:.1f} docs/s" if rate else "-"
        remaining = f"ETA {eta:.0f}s" if eta is not None else ""
        return f"{tracker.finished}/{tracker.total}  {routes}  ${tracker.cost:,.2f}  {speed}  {remaining}".rstrip()

    def block(self) -> list[str]:
        """The lines of the live block: one per route with documents, then the totals."""
        tracker = self.tracker
        routes = active_routes(tracker)
        name_width = max([len("total"), *(len(route.value) for route, _ in routes)])
        count_width = len(str(max([tracker.total, *(p.total for _, p in routes)])))
        lines = []
        for route, p in routes:
            failed = f"  ({p.failed} failed)" if p.failed else ""
            lines.append(
                f"{route.value:<{name_width}} {text_bar(p.finished, p.total)} "
                f"{p.finished:>{count_width}}/{p.total:<{count_width}}{failed}"
            )
        failed = f" ({tracker.failed} failed)" if tracker.failed else ""
        lines.append(
            f"{'total':<{name_width}} {tracker.finished}/{tracker.total}{failed}  ${tracker.cost:,.2f}"
            f"  {tracker.tokens:,} tokens  {format_rate(tracker.rate)}  {format_eta(tracker.eta_seconds)}"
        )
        return lines

    def _draw(self) -> None:
        lines = self.block()
        up = f"\x1b[{self._drawn_lines}A\r" if self._drawn_lines else ""
        self.stream.write(up + "".join(f"\x1b[2K{line.rstrip()}\n" for line in lines))
        self.stream.flush()
        self._drawn_lines = len(lines)
        self._dirty = False

    def __call__(self, event: dict) -> None:
        self.tracker.update(event)
        kind = event["type"]
        if kind == "plan":
            self._print_plan(event["plan"])
            self._drawn_lines = 0  # a new block starts below the plan line
        if self.interactive:
            if kind not in ("plan", "finished"):
                return  # the block does not show workers
            self._dirty = True
            # The plan and the last document are always drawn: the final state is exact.
            final = kind == "plan" or self.tracker.complete
            if self._throttle.ready(force=final):
                self._draw()
            return
        tracker = self.tracker
        if kind == "finished" and tracker.total and tracker.finished / tracker.total >= self._next_report:
            print(self.line(), file=self.stream, flush=True)
            self._next_report = min(1.0, tracker.finished / tracker.total + 0.1)

    def close(self) -> None:
        """Draw what is still pending (an interrupted run stops between redraws)."""
        if self.interactive and self._dirty:
            self._draw()
