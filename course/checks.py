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
        return problems
    documents = generate_batch(300, seed=7)
    agree = sum(candidate(measure_features(d.content)) is d.truth.complexity for d in documents)
    if agree / len(documents) < 0.95:
        problems.append(f"on 300 generated invoices only {agree / len(documents):.0%} match ground truth (need 95%)")
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
