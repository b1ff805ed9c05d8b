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


def test_a_wrong_answer_gets_a_specific_message():
    def off_by_one(work, documents, workers):  # rounds every share down, like the lesson
        return {route: max(1, int(workers * w / sum(work.values()))) for route, w in work.items()}

    problems = checks.verify_allocate_workers(off_by_one)
    assert any("expected" in p and "got" in p for p in problems)


def test_a_failed_check_falls_back_to_the_course_version_and_says_so(capsys):
    from course.planning import allocate_workers

    def stub(work, documents, workers):
        raise NotImplementedError("Hint: largest remainder")

    assert checks.check_allocate_workers(stub) is allocate_workers
    printed = capsys.readouterr().out
    assert "not written yet" in printed and "course.planning.allocate_workers" in printed
