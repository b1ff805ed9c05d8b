"""The live views of a batch run: the notebook panel (ipywidgets) and the terminal block."""

from __future__ import annotations

import io
import re

import pytest

from course.documents import generate_batch
from course.graph import run_batch
from course.live import LivePanel, bar_style
from course.llm import LLMError, SimulatedBackend
from course.planning import BatchPlan, RoutePlan
from course.progress import ProgressTracker, RouteProgress, TerminalProgress, Throttle, text_bar
from course.results import DocumentResult
from course.routing import ROUTES, DocumentComplexity, ProcessingRoute

FAST, BALANCED, ACCURATE, PREMIUM = ROUTES
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class FailingRouteBackend(SimulatedBackend):
    """The simulation, except that one route's server always fails (no escalation from a server failure)."""

    def __init__(self, broken: ProcessingRoute) -> None:
        super().__init__(time_scale=0)
        self.broken = broken

    def chat(self, route, messages, deadline=None):
        if route is self.broken:
            raise LLMError(f"{route.value} server is down")
        return super().chat(route, messages, deadline)


def make_plan(counts: dict[ProcessingRoute, int], workers: dict[ProcessingRoute, int] | None = None) -> BatchPlan:
    workers = workers or {route: 1 if n else 0 for route, n in counts.items()}
    routes = {
        route: RoutePlan(route=route, document_ids=[f"{route.value}-{i}" for i in range(counts.get(route, 0))],
                         workers=workers.get(route, 0))
        for route in ROUTES
    }
    return BatchPlan(workers=sum(workers.values()), policy="dynamic", routes=routes, estimated_cost=0.0,
                     estimated_tokens=0, estimated_makespan_seconds=0.0)


def result(document_id: str, route: ProcessingRoute, ok: bool = True, cost: float = 0.5) -> DocumentResult:
    return DocumentResult(
        document_id=document_id, route=route, expected_complexity=None,
        predicted_complexity=DocumentComplexity.SIMPLE, status="completed" if ok else "failed", fields=None,
        correct=None, prompt_tokens=80, completion_tokens=20, cost=cost, started_at=1.7e9, finished_at=1.7e9 + 1,
        error=None if ok else "server down",
    )


def synthetic_events(plan: BatchPlan, failing: set[str] = frozenset()) -> list[dict]:
    """What the workers of ``plan`` would report, one worker per route, every document in order."""
    events: list[dict] = [{"type": "plan", "plan": plan}]
    for route, route_plan in plan.routes.items():
        worker = f"{route.value}-0"
        for document_id in route_plan.document_ids:
            events.append({"type": "started", "worker_id": worker, "document_id": document_id, "route": route})
            events.append({"type": "finished", "worker_id": worker, "resumed": False,
                           "result": result(document_id, route, ok=document_id not in failing)})
        if route_plan.workers:
            events.append({"type": "idle", "worker_id": worker})
    return events


def visible_routes(panel: LivePanel) -> list[ProcessingRoute]:
    return [route for route in ROUTES if panel._route_rows[route].layout.display != "none"]


# The notebook panel


def test_the_panel_text_before_any_event_is_stable():
    first, second = LivePanel(display=False), LivePanel(display=False)
    assert repr(first) == repr(second) == "LivePanel(waiting for a batch plan)"
    bundle = first._repr_mimebundle_()
    assert bundle["text/plain"] == "LivePanel(waiting for a batch plan)"
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == first.widget.model_id
    assert [bar.value for bar in first.bars.values()] == [0, 0, 0, 0]
    assert [bar.description for bar in first.bars.values()] == [route.value for route in ROUTES]


def test_the_panel_displays_itself_once_when_created(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objects, **kwargs: shown.extend(objects))
    panel = LivePanel()
    assert shown == [panel]


def test_a_real_batch_ends_with_every_bar_at_its_route_total():
    panel = LivePanel(display=False)
    run = run_batch(generate_batch(60), SimulatedBackend(time_scale=0), workers=4, on_event=panel)
    totals = {route: len(route_plan.document_ids) for route, route_plan in run.plan.routes.items()}
    for route, bar in panel.bars.items():
        summary = run.summary.routes[route]
        if not totals[route]:
            assert route not in visible_routes(panel)
            continue
        assert bar.max == totals[route] == summary.documents
        assert bar.value == totals[route]
        assert bar.description == route.value
        assert panel.labels[route].value.startswith(f"{totals[route]}/{totals[route]}")
    assert panel.tracker.finished == panel.tracker.total == 60
    assert panel.tracker.cost == pytest.approx(run.summary.total_cost)
    assert panel.totals.value.startswith("<b>60/60</b>")
    assert "ETA 0s" in panel.totals.value and f"${run.summary.total_cost:,.2f}" in panel.totals.value
    assert all(text.endswith(": done") for text in (panel.worker_text(w) for w in panel.worker_rows))
    assert repr(panel).startswith("LivePanel(60/60 documents: fast ")


def test_failures_turn_the_route_bar_orange_then_red():
    plan = make_plan({FAST: 8, BALANCED: 4})
    panel = LivePanel(display=False, interval=0)
    events = synthetic_events(plan, failing={"fast-0", "balanced-3"})
    styles = []
    for event in events:
        panel(event)
        styles.append(panel.bars[FAST].bar_style)
    assert styles[0] == "success"  # after the plan
    assert styles[2] == "danger"  # fast-0 failed: 1 of 1 finished
    assert panel.bars[FAST].bar_style == "warning"  # 1 of 8 failed
    assert panel.labels[FAST].value == "8/8 (1 failed)"
    assert panel.bars[BALANCED].bar_style == "danger"  # 1 of 4: a quarter
    assert panel.labels[BALANCED].value == "4/4 (1 failed)"
    assert bar_style(RouteProgress(total=4, done=4)) == "success"
    assert bar_style(RouteProgress(total=4, done=2, failed=2)) == "danger"
    assert visible_routes(panel) == [FAST, BALANCED]
    assert [panel.bars[r].value for r in (FAST, BALANCED)] == [8, 4]


def test_a_failing_route_in_a_real_batch_shows_red_with_its_failures():
    panel = LivePanel(display=False)
    run = run_batch(generate_batch(60), FailingRouteBackend(ACCURATE), workers=4, on_event=panel)
    failed = run.summary.routes[ACCURATE].failed
    assert failed > 0
    assert panel.tracker.routes[ACCURATE].failed == failed
    assert panel.bars[ACCURATE].bar_style == "danger"
    assert panel.labels[ACCURATE].value.endswith(f"({failed} failed)")
    assert panel.bars[FAST].bar_style in {"success", "warning"}


def test_worker_rows_show_the_document_then_idle_then_done():
    plan = make_plan({FAST: 2, PREMIUM: 1})
    panel = LivePanel(display=False, interval=0)
    panel({"type": "plan", "plan": plan})
    assert list(panel.worker_rows) == ["fast-0", "premium-0"]
    assert panel.worker_text("fast-0") == "fast-0: idle"
    panel({"type": "started", "worker_id": "fast-0", "document_id": "fast-1", "route": FAST})
    assert panel.worker_text("fast-0") == "fast-0: fast-1 (fast)"
    assert "fast-1 (fast)" in panel.worker_rows["fast-0"].value
    panel({"type": "finished", "worker_id": "fast-0", "resumed": False, "result": result("fast-1", FAST)})
    assert panel.worker_text("fast-0") == "fast-0: idle"
    panel({"type": "idle", "worker_id": "fast-0"})
    assert panel.worker_text("fast-0") == "fast-0: done"
    assert panel.worker_rows["fast-0"].value.endswith(": done")


def test_redraws_are_throttled_but_the_final_state_is_exact():
    clock = FakeClock()
    panel = LivePanel(display=False, clock=clock, interval=0.1)
    sent = []
    panel.totals.observe(lambda change: sent.append(change["new"]), "value")
    panel.bars[FAST].observe(lambda change: sent.append(change["new"]), "value")
    events = synthetic_events(make_plan({FAST: 10_000}))
    for event in events[:-2]:  # all but the last document and the idle event, in the same instant
        panel(event)
    assert len(sent) <= 4  # the plan's redraw, not one per event
    assert panel.bars[FAST].value < 10_000
    clock.now += 0.2
    for event in events[-2:]:
        panel(event)
    assert panel.bars[FAST].value == panel.bars[FAST].max == 10_000
    assert panel.totals.value.startswith("<b>10000/10000</b>")
    assert panel.worker_text("fast-0") == "fast-0: done"


def test_close_draws_what_is_pending_and_ignores_later_events():
    clock = FakeClock()
    panel = LivePanel(display=False, clock=clock)
    events = synthetic_events(make_plan({FAST: 3}))
    for event in events[:4]:  # plan, started, finished, started: the finished one is throttled
        panel(event)
    assert panel.bars[FAST].value == 0
    panel.close()
    assert panel.bars[FAST].value == 1
    panel(events[4])
    assert panel.tracker.finished == 1


@pytest.mark.parametrize("workers", [1, 64])
def test_the_panel_works_from_one_to_sixty_four_workers(workers):
    panel = LivePanel(display=False)
    run = run_batch(generate_batch(200), SimulatedBackend(time_scale=0), workers=workers, on_event=panel)
    assert len(panel.worker_rows) == run.plan.workers
    assert all(panel.worker_text(w).endswith(": done") for w in panel.worker_rows)
    assert sum(bar.value for bar in panel.bars.values()) == 200


def test_a_resumed_batch_resets_the_bars_on_its_plan():
    panel = LivePanel(display=False, interval=0)
    for event in synthetic_events(make_plan({FAST: 4})):
        panel(event)
    panel({"type": "plan", "plan": make_plan({BALANCED: 2})})
    assert visible_routes(panel) == [BALANCED]
    assert panel.bars[BALANCED].value == 0 and panel.bars[BALANCED].max == 2
    assert panel.tracker.finished == 0


# The tracker and the terminal view


def test_the_tracker_freezes_its_rate_when_the_batch_is_complete():
    tracker = ProgressTracker()
    for event in synthetic_events(make_plan({FAST: 3})):
        tracker.update(event)
    assert tracker.complete and tracker.eta_seconds == 0.0
    assert tracker.ended is not None and tracker.rate == tracker.finished / (tracker.ended - tracker.started)


def test_throttle_allows_one_redraw_per_interval_unless_forced():
    clock = FakeClock()
    throttle = Throttle(0.1, clock)
    assert throttle.ready() and not throttle.ready() and throttle.ready(force=True)
    clock.now += 0.1
    assert throttle.ready()


def test_text_bar():
    assert text_bar(0, 10, width=10) == "[----------]"
    assert text_bar(5, 10, width=10) == "[#####-----]"
    assert text_bar(10, 10, width=10) == "[##########]"
    assert text_bar(0, 0, width=4) == "[----]"


def final_screen(output: str) -> list[str]:
    """Replay the cursor movements of a TTY stream and return the screen's lines."""
    screen: list[str] = []
    row = 0
    for token in re.split(r"(\x1b\[[0-9;]*[A-Za-z]|\n|\r)", output):
        if not token:
            continue
        if token == "\n":
            row += 1
        elif token == "\r":
            pass
        elif token.startswith("\x1b["):
            if token.endswith("A"):
                row -= int(token[2:-1] or 1)
            elif token == "\x1b[2K":
                while len(screen) <= row:
                    screen.append("")
                screen[row] = ""
        else:
            while len(screen) <= row:
                screen.append("")
            screen[row] += token
    return screen


def test_the_tty_view_redraws_a_block_per_route_in_place_and_ends_at_the_totals():
    stream = TTY()
    progress = TerminalProgress(stream)
    run = run_batch(generate_batch(60), FailingRouteBackend(PREMIUM), workers=4, on_event=progress)
    progress.close()
    output = stream.getvalue()
    assert "\x1b[" in output  # drawn in place
    screen = final_screen(output)
    assert screen[0].startswith("plan: fast ")
    routes = [route for route in ROUTES if run.plan.routes[route].document_ids]
    assert len(screen) == 1 + len(routes) + 1  # plan, one line per route, the totals: redrawn, not appended
    for line, route in zip(screen[1:], routes):
        total = len(run.plan.routes[route].document_ids)
        assert line.startswith(route.value)
        assert "[" + "#" * 24 + "]" in line
        assert re.search(rf"\b{total}/{total}\b", line)
    premium_failed = run.summary.routes[PREMIUM].failed
    assert premium_failed and screen[1 + routes.index(PREMIUM)].endswith(f"({premium_failed} failed)")
    totals = screen[-1]
    assert totals.startswith("total") and "60/60" in totals and "ETA 0s" in totals
    assert f"${run.summary.total_cost:,.2f}" in totals and "docs/s" in totals


def test_the_tty_view_is_throttled_to_about_ten_redraws_a_second():
    clock = FakeClock()
    stream = TTY()
    progress = TerminalProgress(stream, clock=clock)
    events = synthetic_events(make_plan({FAST: 1000}))
    for event in events[:-2]:
        progress(event)
    redraws = stream.getvalue().count("\x1b[2Ktotal")
    assert redraws <= 2
    for event in events[-2:]:
        progress(event)
    assert final_screen(stream.getvalue())[-1].startswith("total 1000/1000")


def test_a_pipe_gets_plain_lines_at_each_tenth_and_the_end():
    stream = io.StringIO()
    progress = TerminalProgress(stream)
    for event in synthetic_events(make_plan({FAST: 100, BALANCED: 100}, {FAST: 2, BALANCED: 2})):
        progress(event)
    progress.close()
    output = stream.getvalue()
    assert not ANSI.search(output)
    lines = output.splitlines()
    assert lines[0] == "plan: fast 100 docs/2 workers, balanced 100 docs/2 workers"
    assert 10 <= len(lines) - 1 <= 12
    assert lines[-1].startswith("200/200  fast 100/100  balanced 100/100")
