"""Checks for the notebook exercises: an immediate, honest answer, and a way to keep going.

Each exercise in a learner notebook is followed by a check cell such as::

    allocate_workers = check_allocate_workers(my_allocate_workers)

The check runs the learner's function on a few cases and prints either a
green line or a friendly message: what was expected, what came back, and a
hint. It returns the function the rest of the notebook should use: the
learner's own when it passed, otherwise the ``course`` implementation, and it
says so, so a learner who is stuck can still run the notebook to the end.

Every ``verify_*`` function returns the list of problems it found (empty when
the answer is right); tests prove each one fails on the learner stub and
passes on the solution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Problems = list[str]


def _run(candidate: Callable, *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """Call the learner's code; turn any exception into a readable problem."""
    try:
        return candidate(*args, **kwargs), None
    except NotImplementedError as error:
        return None, f"not written yet ({error})" if str(error) else "not written yet"
    except Exception as error:  # noqa: BLE001 - the learner's code may raise anything
        return None, f"it raised {type(error).__name__}: {error}"


def report(name: str, problems: Problems, fallback: Callable, candidate: Callable, fallback_name: str) -> Callable:
    """Print the verdict and return what the rest of the notebook should use."""
    if not problems:
        print(f"✅ {name}: all checks passed.")
        return candidate
    print(f"❌ {name}: {len(problems)} problem(s)")
    for problem in problems:
        print(f"   - {problem}")
    print(f"   → the rest of this notebook uses {fallback_name} so you can keep going; come back and try again.")
    return fallback


# --- 01 routing ------------------------------------------------------------------------------


def verify_classify_complexity(candidate: Callable) -> Problems:
    """The analyzer's rules: categorical signals first, then lines/words, then tables."""
    from course.documents import generate_batch
    from course.routing import COMPLEXITIES, DocumentComplexity, DocumentFeatures, measure_features

    def features(**changes: Any) -> DocumentFeatures:
        base = dict(words=10, lines=1, page_count=1, has_tables=False, has_handwriting=False, text_quality=1.0, tokens=30)
        return DocumentFeatures(**{**base, **changes})

    cases = [
        ("a one-line invoice", features(), DocumentComplexity.SIMPLE),
        ("an invoice with a table", features(lines=6, has_tables=True), DocumentComplexity.MODERATE),
        ("a 10-line itemised invoice", features(lines=10, words=60), DocumentComplexity.MODERATE),
        ("a 30-line invoice", features(lines=30, words=160), DocumentComplexity.COMPLEX),
        ("a 300-word invoice on 12 lines", features(lines=12, words=300), DocumentComplexity.COMPLEX),
        ("a two-page scan", features(lines=30, words=200, page_count=2), DocumentComplexity.VERY_COMPLEX),
        ("a short note in handwriting", features(has_handwriting=True), DocumentComplexity.VERY_COMPLEX),
        ("a noisy fax (text quality 0.7)", features(lines=28, text_quality=0.7), DocumentComplexity.VERY_COMPLEX),
    ]
    problems = []
    for label, case, expected in cases:
        answer, error = _run(candidate, case)
        if error:
            return [error]
        if answer != expected:
            got = getattr(answer, "value", answer)
            problems.append(f"{label}: expected {expected.value}, got {got}")
    if problems:
        problems.append("hint: test the hardest signals first: pages > 1, handwriting or text quality < 0.9 -> very_complex;"
                        " then >= 25 lines or >= 250 words -> complex; then a table or >= 4 lines -> moderate")
        return problems
    documents = generate_batch(300, seed=7)
    agree = sum(candidate(measure_features(d.content)) is d.truth.complexity for d in documents)
    if agree / len(documents) < 0.95:
        problems.append(f"on 300 generated invoices only {agree / len(documents):.0%} match ground truth (need 95%)")
        problems.append("hint: compare your thresholds with the four rules above the exercise")
    assert len(COMPLEXITIES) == 4
    return problems


def check_classify_complexity(candidate: Callable) -> Callable:
    from course.routing import DEFAULT_THRESHOLDS, classify_complexity

    def course_version(features):
        return classify_complexity(features, DEFAULT_THRESHOLDS)[0]

    return report(
        "classify_complexity", verify_classify_complexity(candidate), course_version, candidate,
        "course.routing.classify_complexity",
    )


# --- 03 planning -----------------------------------------------------------------------------


def verify_allocate_workers(candidate: Callable) -> Problems:
    """All W workers used, at least one per active route, never more than its documents, largest remainder."""
    from course.routing import ROUTES

    fast, balanced, accurate, premium = ROUTES
    cases = [
        (
            "the lesson's batch (work 30/45/45/22.5 s, 8 workers)",
            {fast: 30.0, balanced: 45.0, accurate: 45.0, premium: 22.5},
            {fast: 40, balanced: 30, accurate: 15, premium: 5},
            8,
            {fast: 2, balanced: 3, accurate: 2, premium: 1},
        ),
        (
            "a premium-only batch of 3 documents, 8 workers",
            {premium: 13.5},
            {premium: 3},
            8,
            {fast: 0, balanced: 0, accurate: 0, premium: 3},
        ),
        (
            "a tiny route that rounds down to zero (work 100/1 s, 4 workers)",
            {fast: 100.0, premium: 1.0},
            {fast: 50, premium: 1},
            4,
            {fast: 3, balanced: 0, accurate: 0, premium: 1},
        ),
    ]
    problems = []
    for label, work, documents, workers, expected in cases:
        answer, error = _run(candidate, work, documents, workers)
        if error:
            return [error]
        allocation = answer[0] if isinstance(answer, tuple) else answer
        if not isinstance(allocation, dict):
            return [f"expected a dict route -> workers, got {type(allocation).__name__}"]
        got = {route: allocation.get(route, 0) for route in ROUTES}
        if got != expected:
            shown = {r.value: n for r, n in got.items() if n}
            wanted = {r.value: n for r, n in expected.items() if n}
            problems.append(f"{label}: expected {wanted}, got {shown} (sum {sum(got.values())})")
    if problems and all("sum" in p for p in problems):
        problems.append("hint: floor each share (at least 1, at most the route's documents), then give the workers "
                        "left over to the routes with the largest remainders")
    return problems


def check_allocate_workers(candidate: Callable) -> Callable:
    from course.planning import allocate_workers

    return report("allocate_workers", verify_allocate_workers(candidate), allocate_workers, candidate,
                  "course.planning.allocate_workers")


# --- 02 state --------------------------------------------------------------------------------


def _fan_out_results(state_class: type, start: list) -> list:
    """Three ``Send``s in one step, each worker writing ``results``; the final ``results``."""
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Send

    def worker(task: dict) -> dict:
        return {"results": [task["n"] * 10]}

    graph = StateGraph(state_class)
    graph.add_node("worker", worker)
    graph.add_conditional_edges(START, lambda state: [Send("worker", {"n": n}) for n in (1, 2, 3)], ["worker"])
    graph.add_edge("worker", END)
    return graph.compile().invoke({"results": list(start)})["results"]


def verify_results_state(candidate: Callable) -> Problems:
    """A TypedDict whose ``results`` field adds up the writes of three parallel workers."""
    from typing import TypedDict, get_type_hints

    from langgraph.errors import InvalidUpdateError

    state_class, error = _run(candidate)
    if error:
        return [error]
    if not isinstance(state_class, type) or not hasattr(state_class, "__annotations__"):
        return [f"expected a TypedDict class (class ...(TypedDict, total=False)), got {state_class!r}"]
    try:
        hints = get_type_hints(state_class, include_extras=True)
    except Exception as problem:  # noqa: BLE001 - a learner's annotation may not resolve
        return [f"its annotations could not be read: {type(problem).__name__}: {problem}"]
    if "results" not in hints:
        return [f"the class has no `results` field (it has: {', '.join(hints) or 'no fields'})"]
    try:
        merged = _fan_out_results(state_class, [0])
    except InvalidUpdateError as problem:
        first_line = str(problem).splitlines()[0]
        return [
            f"three workers wrote `results` in the same step and LangGraph refused: InvalidUpdateError: {first_line}",
            "hint: a plain field takes one write per step; give it a reducer: results: Annotated[list, operator.add]",
        ]
    except Exception as problem:  # noqa: BLE001
        return [f"running three parallel workers on it raised {type(problem).__name__}: {problem}"]
    problems = []
    if not isinstance(merged, list) or sorted(merged) != [0, 10, 20, 30]:
        problems.append(
            f"starting from results=[0], three workers wrote [10], [20] and [30]: expected [0, 10, 20, 30] "
            f"(in any order), got {merged!r}"
        )
        problems.append("hint: the reducer gets (what is there, what a worker wrote) and must return both: operator.add")

    class PlainState(TypedDict, total=False):  # the control: the same graph must refuse a plain field
        results: list

    try:
        _fan_out_results(PlainState, [])
        problems.append("control failed: this LangGraph accepted parallel writes to a plain field (tell the instructor)")
    except InvalidUpdateError:
        pass
    return problems


def check_results_state(candidate: Callable) -> Callable:
    from course.state import BatchState

    def course_version() -> type:
        return BatchState

    return report("results_state", verify_results_state(candidate), course_version, candidate,
                  "course.state.BatchState (its `results` field has the reducer)")


# --- 04 dispatch -----------------------------------------------------------------------------


def _plan_for_check(documents: int, workers: int, seed: int):
    from course.documents import generate_batch
    from course.planning import make_plan
    from course.routing import analyze_document

    batch = generate_batch(documents, seed=seed)
    analyses = {d.id: analyze_document(d.content, d.id) for d in batch}
    return batch, make_plan(list(analyses.values()), workers)[0]


def verify_dispatch_workers(candidate: Callable) -> Problems:
    """One ``Send("route_worker", WorkerTask)`` per allocated worker, and a batch runs through it."""
    from functools import partial

    from langgraph.types import Send

    from course.dispatch import worker_tasks
    from course.graph import build_graph, run_batch
    from course.llm import SimulatedBackend

    cases = [("40 documents, 8 workers", 40, 8, 3), ("6 documents, 3 workers", 6, 3, 11)]
    problems = []
    for label, documents, workers, seed in cases:
        _, plan = _plan_for_check(documents, workers, seed)
        sends, error = _run(candidate, {"batch_id": "check", "plan": plan})
        if error:
            return [error]
        if not isinstance(sends, list) or not all(isinstance(send, Send) for send in sends):
            return [f"{label}: expected a list of Send (from langgraph.types), got {sends!r:.200}"]
        wrong_node = sorted({send.node for send in sends if send.node != "route_worker"})
        if wrong_node:
            problems.append(f"{label}: Send to {wrong_node}; the worker node is called 'route_worker'")
            continue
        expected = sorted((dict(task) for task in worker_tasks(plan)), key=lambda task: task["worker_id"])
        got = sorted((dict(send.arg) if isinstance(send.arg, dict) else {"arg": send.arg} for send in sends),
                     key=lambda task: str(task.get("worker_id")))
        if len(got) != len(expected):
            allocation = {route.value: n for route, n in plan.allocation.items() if n}
            problems.append(f"{label}: expected one Send per allocated worker {allocation}: {len(expected)}, "
                            f"got {len(got)}")
            continue
        for want, have in zip(expected, got):
            if want != have:
                problems.append(f"{label}: expected the task {want}, got {have}")
                problems.append("hint: WorkerTask(worker_id=f\"{route.value}-{index}\", route=route, document_ids=None)"
                                " for index in range(route_plan.workers)")
                break
    if problems:
        return list(dict.fromkeys(problems))  # the same hint once
    batch, _ = _plan_for_check(24, 4, 5)
    run, error = _run(run_batch, batch, SimulatedBackend(seed=1, time_scale=0), workers=4,
                      build=partial(build_graph, dispatcher=candidate))
    if error:
        return [f"a 24-document batch through a graph with your edge: {error}"]
    done = sorted(result.document_id for result in run.results)
    if done != sorted(document.id for document in batch):
        problems.append(f"a 24-document batch through a graph with your edge: expected 24 results, one per document,"
                        f" got {len(done)} for {len(set(done))} documents")
    return problems


def check_dispatch_workers(candidate: Callable) -> Callable:
    from course.dispatch import dispatch_workers

    return report("dispatch_workers", verify_dispatch_workers(candidate), dispatch_workers, candidate,
                  "course.dispatch.dispatch_workers")


# --- 05 aggregation --------------------------------------------------------------------------


def _hand_result(document_id: str, correct: dict[str, bool] | None, status: str = "completed"):
    """A small, hand-made DocumentResult with the given per-field scores."""
    from course.results import DocumentResult
    from course.routing import DocumentComplexity, ProcessingRoute

    return DocumentResult(
        document_id=document_id, route=ProcessingRoute.FAST, expected_complexity=None if correct is None else "simple",
        predicted_complexity=DocumentComplexity.SIMPLE, status=status, fields=None, correct=correct,
        started_at=0.0, finished_at=1.0, error=None if status == "completed" else "failed on purpose",
    )


def verify_document_accuracy(candidate: Callable) -> Problems:
    """Share of scored results with all four fields right; failed = all wrong; unscored left out; None if none."""
    from course.extraction import FIELD_NAMES

    def scores(wrong: int) -> dict[str, bool]:
        return {name: index >= wrong for index, name in enumerate(FIELD_NAMES)}

    right, one_wrong, failed = scores(0), scores(1), dict.fromkeys(FIELD_NAMES, False)
    cases = [
        ("2 right, 1 with one field wrong, 1 failed", [_hand_result("a", right), _hand_result("b", right),
         _hand_result("c", one_wrong), _hand_result("d", failed, "failed")], 0.5),
        ("1 right, 1 without ground truth", [_hand_result("a", right), _hand_result("b", None)], 1.0),
        ("1 right, 1 failed", [_hand_result("a", right), _hand_result("b", failed, "failed")], 0.5),
        ("no results", [], None),
        ("only results without ground truth", [_hand_result("a", None)], None),
    ]
    hints = {
        ("2 right, 1 with one field wrong, 1 failed", 11 / 16): "that is the share of *fields* right (11 of 16); "
        "a document counts only when all four of its fields are right",
        ("2 right, 1 with one field wrong, 1 failed", 2 / 3): "a failed document counts as all fields wrong: "
        "keep it in the count",
        ("1 right, 1 failed", 1.0): "a failed document counts as all fields wrong: keep it in the count",
        ("1 right, 1 without ground truth", 0.5): "a result whose `correct` is None has no ground truth: leave it out",
    }
    problems = []
    for label, results, expected in cases:
        answer, error = _run(candidate, results)
        if error:
            problems.append(error if error.startswith("not written yet") else f"{label}: {error}")
            if "ZeroDivisionError" in error:
                problems.append("hint: when nothing was scored, return None (nothing was measured)")
            break
        if expected is None:
            if answer is not None:
                problems.append(f"{label}: expected None (nothing was scored), got {answer!r}")
            continue
        if not isinstance(answer, (int, float)) or abs(answer - expected) > 1e-9:
            problems.append(f"{label}: expected {expected}, got {answer!r}")
            for (case, wrong), hint in hints.items():
                if case == label and isinstance(answer, (int, float)) and abs(answer - wrong) < 1e-9:
                    problems.append(f"hint: {hint}")
    return problems


def check_document_accuracy(candidate: Callable) -> Callable:
    from course.aggregation import document_accuracy

    return report("document_accuracy", verify_document_accuracy(candidate), document_accuracy, candidate,
                  "course.aggregation.document_accuracy")


# --- 06 the full graph -----------------------------------------------------------------------


def verify_build_graph(candidate: Callable) -> Problems:
    """The learner's graph runs a batch end to end exactly like the course's."""
    from course.documents import generate_batch
    from course.graph import GraphShapeError, build_graph, run_batch
    from course.llm import SimulatedBackend

    graph, error = _run(candidate)
    if error:
        return [error]
    nodes = set(getattr(graph, "get_graph", lambda: None)().nodes) if hasattr(graph, "get_graph") else set()
    missing = {"analyze_batch", "plan_batch", "route_worker", "aggregate_results"} - nodes
    if missing:
        return [f"expected a compiled graph with the nodes analyze_batch, plan_batch, route_worker and "
                f"aggregate_results; missing: {', '.join(sorted(missing))}"]
    documents = generate_batch(40, seed=3)
    try:
        mine = run_batch(documents, SimulatedBackend(seed=3, time_scale=0), workers=4, build=candidate)
    except GraphShapeError:
        return ["expected a summary in the final state, got none",
                "hint: add_edge('route_worker', 'aggregate_results') and add_edge('aggregate_results', END)"]
    except Exception as failure:  # noqa: BLE001 - report, don't crash the notebook
        return [f"running a batch through it raised {type(failure).__name__}: {failure}",
                "hint: the dispatcher is a conditional edge: add_conditional_edges('plan_batch', dispatch_workers, ['route_worker'])"]
    reference = run_batch(documents, SimulatedBackend(seed=3, time_scale=0), workers=4, build=build_graph).summary
    problems = []
    if len(mine.results) != 40:
        problems.append(f"expected 40 results (one per document), got {len(mine.results)}")
    summary = mine.summary
    if (summary.completed, round(summary.total_cost, 6)) != (reference.completed, round(reference.total_cost, 6)):
        problems.append(f"expected {reference.completed} completed for ${reference.total_cost:.2f}, "
                        f"got {summary.completed} for ${summary.total_cost:.2f}")
        problems.append("hint: START -> analyze_batch -> plan_batch -> (dispatch_workers, a conditional edge) -> "
                        "route_worker -> aggregate_results -> END")
    return problems


def check_build_graph(candidate: Callable) -> Callable:
    from course.graph import build_graph

    return report("build_graph", verify_build_graph(candidate), build_graph, candidate, "course.graph.build_graph")


# --- 07 the dashboard ------------------------------------------------------------------------


def verify_plot_tokens(candidate: Callable) -> Problems:
    """A stacked bar per route: prompt tokens below, completion tokens on top."""
    from matplotlib.figure import Figure

    from course.documents import generate_batch
    from course.graph import run_batch
    from course.llm import SimulatedBackend
    from course.routing import ROUTES

    summary = run_batch(generate_batch(60, seed=5), SimulatedBackend(seed=5, time_scale=0), workers=4).summary
    ax = Figure().subplots()
    _, error = _run(candidate, ax, summary)
    if error:
        return [error]
    bars = [patch for patch in ax.patches]
    if len(bars) != 2 * len(ROUTES):
        return [f"expected {2 * len(ROUTES)} bars (prompt and completion for each route), got {len(bars)}"]
    prompt = [summary.routes[route].prompt_tokens for route in ROUTES]
    completion = [summary.routes[route].completion_tokens for route in ROUTES]
    problems = []
    if [bar.get_height() for bar in bars[:4]] != prompt:
        problems.append(f"the first four bars should be prompt tokens {prompt}, got {[bar.get_height() for bar in bars[:4]]}")
    if [bar.get_height() for bar in bars[4:]] != completion:
        problems.append(f"the last four bars should be completion tokens {completion}, got {[bar.get_height() for bar in bars[4:]]}")
    elif [bar.get_y() for bar in bars[4:]] != prompt:
        problems.append(f"expected the completion bars to start at the prompt tokens {prompt}, "
                        f"got {[bar.get_y() for bar in bars[4:]]}")
        problems.append("hint: stack them: ax.bar(names, completion, bottom=prompt)")
    if not ax.get_title():
        problems.append("give the panel a title")
    return problems


def check_plot_tokens(candidate: Callable) -> Callable:
    from course.dashboard import plot_tokens

    return report("plot_tokens", verify_plot_tokens(candidate), plot_tokens, candidate, "course.dashboard.plot_tokens")
