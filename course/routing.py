"""Step 01 - the smart routing foundation.

What this step teaches: every document should go to the *cheapest route that
can handle it*. A route is a price/speed/quality trade-off (fast, balanced,
accurate, premium); the analyzer looks at a document's text, decides how hard
it is (simple ... very complex) and recommends a route.

Three details matter and are easy to get wrong (the original lesson got all
three wrong):

* ``estimated_tokens`` is an ``int``: token counts are whole numbers, and a
  ``float`` such as ``word_count * 1.3`` fails pydantic validation.
* The complexity thresholds must fit the documents you really have. Measured by
  words alone, a 35-line itemised invoice looks "moderate", so every complex
  invoice went to ``balanced`` and ``accurate``/``premium`` were never used.
  Here the analyzer also counts lines, pages, tables, handwriting and scanning
  noise, and its routes are checked against ground truth.
* Every field of a route spec is used: ``max_tokens`` too. A document whose
  request would not fit its route moves up to the first route that fits, and a
  document too large even for premium is marked so that it fails with that
  reason instead of being sent anyway.
"""

from __future__ import annotations

import re
from enum import Enum
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass

from course.tokens import count_tokens


class ProcessingRoute(str, Enum):
    """The four routes, cheapest first."""

    FAST = "fast"  # high speed, basic accuracy
    BALANCED = "balanced"  # good speed and accuracy
    ACCURATE = "accurate"  # high accuracy, slower
    PREMIUM = "premium"  # maximum accuracy, highest cost


class DocumentComplexity(str, Enum):
    """How hard a document is to read, easiest first."""

    SIMPLE = "simple"  # one line, clear structure
    MODERATE = "moderate"  # a few lines, items or a small table
    COMPLEX = "complex"  # long, several sections, many amounts
    VERY_COMPLEX = "very_complex"  # several pages, scanning noise, handwriting


ROUTES: list[ProcessingRoute] = list(ProcessingRoute)
COMPLEXITIES: list[DocumentComplexity] = list(DocumentComplexity)


class RouteSpec(BaseModel):
    """What a route costs, how fast and how good it is (the lesson's numbers)."""

    model_config = ConfigDict(frozen=True)

    cost_per_token: float = Field(gt=0, description="price in dollars per token (prompt + completion)")
    processing_time_factor: float = Field(gt=0, description="a call takes factor x 1..2 seconds")
    accuracy_score: float = Field(gt=0, le=1, description="share of documents extracted fully right")
    max_tokens: int = Field(gt=0, description="largest request (prompt + reply) the route accepts")
    suitable_complexity: tuple[DocumentComplexity, ...]


ROUTE_SPECS: dict[ProcessingRoute, RouteSpec] = {
    ProcessingRoute.FAST: RouteSpec(
        cost_per_token=0.001,
        processing_time_factor=0.5,
        accuracy_score=0.85,
        max_tokens=2000,
        suitable_complexity=(DocumentComplexity.SIMPLE,),
    ),
    ProcessingRoute.BALANCED: RouteSpec(
        cost_per_token=0.002,
        processing_time_factor=1.0,
        accuracy_score=0.92,
        max_tokens=4000,
        suitable_complexity=(DocumentComplexity.SIMPLE, DocumentComplexity.MODERATE),
    ),
    ProcessingRoute.ACCURATE: RouteSpec(
        cost_per_token=0.004,
        processing_time_factor=2.0,
        accuracy_score=0.96,
        max_tokens=8000,
        suitable_complexity=(DocumentComplexity.MODERATE, DocumentComplexity.COMPLEX),
    ),
    ProcessingRoute.PREMIUM: RouteSpec(
        cost_per_token=0.008,
        processing_time_factor=3.0,
        accuracy_score=0.98,
        max_tokens=16000,
        suitable_complexity=(DocumentComplexity.COMPLEX, DocumentComplexity.VERY_COMPLEX),
    ),
}

# A reply is a small JSON object; this is the budget a request reserves for it.
REPLY_TOKEN_BUDGET = 256

# Latency grows with the document, up to this many tokens.
LATENCY_SIZE_TOKENS = 1000


def latency_seconds(route: ProcessingRoute, document_tokens: int, jitter: float = 0.5) -> float:
    """Seconds a call takes on ``route``: the lesson's ranges, longer for longer documents.

    The lesson's routes take 0.5-1 s (fast), 1-2 s (balanced), 2-4 s (accurate)
    and 3-6 s (premium): ``processing_time_factor`` x 1..2. Here half of that
    range comes from the document's size and half from ``jitter`` in [0, 1];
    ``jitter=0.5`` gives the expected value the planner uses.
    """
    size = min(1.0, document_tokens / LATENCY_SIZE_TOKENS)
    return ROUTE_SPECS[route].processing_time_factor * (1.0 + 0.5 * size + 0.5 * jitter)


def route_cost(route: ProcessingRoute, tokens: int) -> float:
    """What ``tokens`` tokens (prompt + completion) cost on ``route``."""
    return tokens * ROUTE_SPECS[route].cost_per_token


def cheapest_route_for(complexity: DocumentComplexity) -> ProcessingRoute:
    """The cheapest route whose spec lists ``complexity`` as suitable."""
    for route in ROUTES:
        if complexity in ROUTE_SPECS[route].suitable_complexity:
            return route
    raise ValueError(f"no route is suitable for {complexity.value}")


def expected_route(complexity: DocumentComplexity) -> ProcessingRoute:
    """The route a document of this (ground-truth) complexity should take."""
    return cheapest_route_for(complexity)


class AnalyzerThresholds(BaseModel):
    """The knobs of the analyzer, in one place so a notebook can tune them."""

    model_config = ConfigDict(frozen=True)

    noisy_text_quality: float = 0.9  # below this the text looks like a bad scan
    complex_lines: int = 25  # this many non-empty lines make a document complex
    complex_words: int = 250  # ... or this many words
    moderate_lines: int = 4  # this many lines (or a table) make it at least moderate


DEFAULT_THRESHOLDS = AnalyzerThresholds()


class DocumentFeatures(BaseModel):
    """What the analyzer measures in a document's text."""

    model_config = ConfigDict(frozen=True)  # shared through measure_features' cache

    words: int
    lines: int
    page_count: int
    has_tables: bool
    has_handwriting: bool
    text_quality: float = Field(ge=0, le=1)
    tokens: int


@dataclass(slots=True, kw_only=True)
class DocumentAnalysis:
    """The analyzer's verdict on one document: how hard it is and where it goes.

    A pydantic *dataclass* with slots rather than a ``BaseModel``: it validates the
    same way, but a batch of 100,000 documents keeps 100,000 of them, and slots
    save the per-instance dictionary and field set (about 2 KB each).
    """

    document_id: str
    complexity: DocumentComplexity
    page_count: int = Field(ge=1)
    has_tables: bool
    has_handwriting: bool
    text_quality: float = Field(ge=0, le=1, description="1 = clean text, lower = scanning noise")
    estimated_tokens: int = Field(ge=0, description="tokens of the document text (a whole number)")
    recommended_route: ProcessingRoute
    fits_route: bool = Field(description="False when the request is too large even for premium")
    confidence: float = Field(ge=0, le=1)
    reason: str


_PAGE_MARKER = re.compile(r"page\s+(\d+)\s+of\s+(\d+)", re.IGNORECASE)
_HANDWRITING_MARKER = re.compile(r"handwritten|hand-written|handwriting", re.IGNORECASE)
_TABLE_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$", re.MULTILINE)
# Digits between two letters: "Pr0fessional", "c1oud" - how OCR garbles words.
_GARBLED_WORD = re.compile(r"[A-Za-z][0-9]+[A-Za-z]")
_SCAN_MARKS = "~¦§¬°·»«"  # stray marks a scanner leaves


def measure_text_quality(text: str, words: int | None = None) -> float:
    """1.0 for clean text; lower when words look garbled by a scanner."""
    words = len(text.split()) if words is None else words
    if not words:
        return 1.0
    suspicious = len(_GARBLED_WORD.findall(text)) + sum(text.count(mark) for mark in _SCAN_MARKS)
    return round(max(0.0, 1.0 - 2.0 * suspicious / words), 3)


@lru_cache(maxsize=1 << 16)
def measure_features(text: str) -> DocumentFeatures:
    """Measure the features the analyzer decides on.

    Cached, like ``count_tokens``: the simulated backend measures the document
    it is sent, and the analyzer has usually just measured the same text.
    """
    words = len(text.split())
    lower = text.lower()
    page_numbers = [int(total) for _, total in _PAGE_MARKER.findall(text)] if "page" in lower else []
    return DocumentFeatures(
        words=words,
        lines=sum(1 for line in text.splitlines() if line.strip()),
        page_count=max([text.count("\f") + 1, *page_numbers]),
        has_tables="|" in text and len(_TABLE_ROW.findall(text)) >= 2,
        has_handwriting="hand" in lower and bool(_HANDWRITING_MARKER.search(text)),
        text_quality=measure_text_quality(text, words),
        tokens=count_tokens(text),
    )


def classify_complexity(
    features: DocumentFeatures, thresholds: AnalyzerThresholds = DEFAULT_THRESHOLDS
) -> tuple[DocumentComplexity, str, float]:
    """Decide how hard a document is. Returns (complexity, reason, confidence).

    The rules run from hardest to easiest; the first that matches wins. The
    confidence is 1.0 for a categorical signal (pages, handwriting) and
    shrinks towards 0.5 as a measured value gets close to its threshold.
    """

    def margin(value: float, threshold: float) -> float:
        return round(min(1.0, 0.5 + abs(value - threshold) / (2 * threshold)), 3)

    if features.page_count > 1:
        return DocumentComplexity.VERY_COMPLEX, f"{features.page_count} pages", 1.0
    if features.has_handwriting:
        return DocumentComplexity.VERY_COMPLEX, "handwriting", 1.0
    if features.text_quality < thresholds.noisy_text_quality:
        return (
            DocumentComplexity.VERY_COMPLEX,
            f"scanning noise (text quality {features.text_quality:.2f})",
            margin(features.text_quality, thresholds.noisy_text_quality),
        )
    if features.lines >= thresholds.complex_lines:
        return DocumentComplexity.COMPLEX, f"{features.lines} lines", margin(features.lines, thresholds.complex_lines)
    if features.words >= thresholds.complex_words:
        return DocumentComplexity.COMPLEX, f"{features.words} words", margin(features.words, thresholds.complex_words)
    if features.has_tables:
        return DocumentComplexity.MODERATE, "has a table", 1.0
    if features.lines >= thresholds.moderate_lines:
        return (
            DocumentComplexity.MODERATE,
            f"{features.lines} lines",
            margin(features.lines, thresholds.moderate_lines),
        )
    return DocumentComplexity.SIMPLE, f"{features.lines} line(s), {features.words} words", margin(
        features.lines, thresholds.moderate_lines
    )


def request_tokens(route: ProcessingRoute, document_tokens: int) -> int:
    """Tokens a request for this document needs on ``route``: prompt + reply budget."""
    # Imported here: extraction builds on routing, not the other way round.
    from course.extraction import prompt_overhead_tokens

    return prompt_overhead_tokens(route) + document_tokens + REPLY_TOKEN_BUDGET


def fit_route(route: ProcessingRoute, document_tokens: int) -> tuple[ProcessingRoute, bool]:
    """Move up from ``route`` to the first route whose ``max_tokens`` fits the request.

    Returns ``(route, fits)``; when nothing fits, ``(PREMIUM, False)``.
    """
    for candidate in ROUTES[ROUTES.index(route) :]:
        if request_tokens(candidate, document_tokens) <= ROUTE_SPECS[candidate].max_tokens:
            return candidate, True
    return ROUTES[-1], False


def analyze_document(
    content: str, document_id: str, thresholds: AnalyzerThresholds = DEFAULT_THRESHOLDS
) -> DocumentAnalysis:
    """Analyze one document and recommend the cheapest route that can handle it."""
    features = measure_features(content)
    complexity, reason, confidence = classify_complexity(features, thresholds)
    suitable = cheapest_route_for(complexity)
    route, fits = fit_route(suitable, features.tokens)
    if not fits:
        reason += (
            f"; too large for every route: needs {request_tokens(route, features.tokens):,} tokens,"
            f" premium takes {ROUTE_SPECS[route].max_tokens:,}"
        )
    elif route != suitable:
        reason += f"; moved up from {suitable.value}: {features.tokens:,} tokens exceed its max_tokens"
    return DocumentAnalysis(
        document_id=document_id,
        complexity=complexity,
        page_count=features.page_count,
        has_tables=features.has_tables,
        has_handwriting=features.has_handwriting,
        text_quality=features.text_quality,
        estimated_tokens=features.tokens,
        recommended_route=route,
        fits_route=fits,
        confidence=confidence,
        reason=reason,
    )


def routing_confusion(
    pairs: list[tuple[DocumentComplexity, ProcessingRoute]],
) -> dict[DocumentComplexity, dict[ProcessingRoute, int]]:
    """Count (true complexity, route taken) pairs: the routing confusion matrix."""
    matrix = {level: dict.fromkeys(ROUTES, 0) for level in COMPLEXITIES}
    for level, route in pairs:
        matrix[level][route] += 1
    return matrix


def format_confusion(matrix: dict[DocumentComplexity, dict[ProcessingRoute, int]]) -> str:
    """The confusion matrix as a text table; [brackets] mark the route each complexity should take."""
    lines = [f"{'true complexity':<16}" + "".join(f"{route.value:>11}" for route in ROUTES)]
    for level in COMPLEXITIES:
        cells = [
            f"[{matrix[level][route]}]" if route is expected_route(level) else str(matrix[level][route])
            for route in ROUTES
        ]
        lines.append(f"{level.value:<16}" + "".join(f"{cell:>11}" for cell in cells))
    total = sum(sum(row.values()) for row in matrix.values())
    right = sum(matrix[level][expected_route(level)] for level in COMPLEXITIES)
    lines.append(f"routed as their complexity asks: {right}/{total} ({100 * right / max(total, 1):.1f}%)")
    return "\n".join(lines)
