"""Every exercise check fails on the learner's stub and passes on the solution.

An exercise is a code cell of a solution notebook with a ``### BEGIN SOLUTION``
region; the next code cell checks it with ``name = check_<exercise>(my_function)``.
Exercise cells are self-contained (their own imports), so each can be run alone.
"""

import re
import sys
from pathlib import Path

import nbformat
import pytest

from course import checks

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from make_learner_notebooks import stub_source  # noqa: E402

CHECK_CALL = re.compile(r"\bcheck_(\w+)\((\w+)\)")


def exercises():
    found = []
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        for index, cell in enumerate(cells):
            if "### BEGIN SOLUTION" not in cell.source:
                continue
            following = cells[index + 1].source if index + 1 < len(cells) else ""
            match = CHECK_CALL.search(following)
            assert match, f"{path.name}: the exercise cell must be followed by a check_...(...) cell"
            found.append(pytest.param(cell.source, match.group(1), match.group(2), id=f"{path.stem}:{match.group(1)}"))
    return found


def _candidate(source, function_name):
    namespace = {"__name__": "exercise"}
    exec(compile(source, "<exercise>", "exec"), namespace)  # noqa: S102 - our own notebooks
    return namespace[function_name]


@pytest.mark.parametrize("source, exercise, function_name", exercises())
def test_the_check_passes_on_the_solution(source, exercise, function_name):
    verify = getattr(checks, f"verify_{exercise}")
    assert verify(_candidate(source, function_name)) == []


@pytest.mark.parametrize("source, exercise, function_name", exercises())
def test_the_check_fails_on_the_learner_stub(source, exercise, function_name):
    verify = getattr(checks, f"verify_{exercise}")
    problems = verify(_candidate(stub_source(source), function_name))
    assert problems and "not written yet" in problems[0]


def test_every_notebook_from_01_to_07_has_an_exercise():
    covered = {param.id.split("_")[0] for param in exercises()}
    assert covered >= {f"{n:02d}" for n in range(1, 8)}


def test_a_failed_check_falls_back_to_the_course_version_and_says_so(capsys):
    from course.planning import allocate_workers

    def stub(work, documents, workers):
        raise NotImplementedError("Hint: largest remainder")

    assert checks.check_allocate_workers(stub) is allocate_workers
    printed = capsys.readouterr().out
    assert "not written yet" in printed and "course.planning.allocate_workers" in printed


def _always_simple(features):
    from course.routing import DocumentComplexity

    return DocumentComplexity.SIMPLE


def _last_write_wins_state():
    from typing import Annotated, TypedDict

    class State(TypedDict, total=False):
        results: Annotated[list, lambda old, new: new]  # forgets what was there

    return State


def _dispatch_with_wrong_ids(state):
    from langgraph.types import Send

    from course.dispatch import worker_tasks

    return [Send("route_worker", {**task, "worker_id": f"worker{index}"}) for index, task in enumerate(worker_tasks(state["plan"]))]


def _share_of_fields(results):
    scored = [r for r in results if r.correct is not None]
    return sum(sum(r.correct.values()) for r in scored) / (4 * len(scored)) if scored else None


def _graph_without_aggregation(checkpointer=None):
    from langgraph.graph import END, START, StateGraph

    from course.aggregation import aggregate_results
    from course.dispatch import BatchContext, dispatch_workers, route_worker
    from course.planning import analyze_batch, plan_batch
    from course.state import BatchState

    graph = StateGraph(BatchState, context_schema=BatchContext)
    for node in (analyze_batch, plan_batch, route_worker, aggregate_results):
        graph.add_node(node.__name__, node)
    graph.add_edge(START, "analyze_batch")
    graph.add_edge("analyze_batch", "plan_batch")
    graph.add_conditional_edges("plan_batch", dispatch_workers, ["route_worker"])
    graph.add_edge("route_worker", END)  # forgot aggregate_results
    return graph.compile(checkpointer=checkpointer)


def _tokens_side_by_side(ax, summary):
    from course.routing import ROUTES

    names = [route.value for route in ROUTES]
    ax.bar(names, [summary.routes[route].prompt_tokens for route in ROUTES])
    ax.bar(names, [summary.routes[route].completion_tokens for route in ROUTES])  # not stacked
    ax.set_title("Tokens")


def _lesson_rounding(work, documents, workers):  # rounds every share down, like the lesson
    return {route: max(1, int(workers * w / sum(work.values()))) for route, w in work.items()}


WRONG_ANSWERS = {
    "classify_complexity": _always_simple,
    "results_state": _last_write_wins_state,
    "allocate_workers": _lesson_rounding,
    "dispatch_workers": _dispatch_with_wrong_ids,
    "document_accuracy": _share_of_fields,
    "build_graph": _graph_without_aggregation,
    "plot_tokens": _tokens_side_by_side,
}


@pytest.mark.parametrize("exercise", WRONG_ANSWERS)
def test_a_plausible_wrong_answer_gets_what_was_expected_what_came_back_and_a_hint(exercise):
    problems = getattr(checks, f"verify_{exercise}")(WRONG_ANSWERS[exercise])
    assert any("expected" in p and "got" in p for p in problems), problems
    assert any(p.startswith("hint: ") for p in problems), problems


def test_every_exercise_has_a_wrong_answer_test():
    assert {param.values[1] for param in exercises()} <= set(WRONG_ANSWERS)
