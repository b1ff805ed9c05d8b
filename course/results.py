"""One record per document, written to ``results.jsonl`` the moment it is done.

``DocumentResult`` is the contract of the batch run's output: every input
document appears exactly once, ``completed`` or ``failed`` with a reason in
``error``. ``ResultsLog`` appends each record as soon as a worker finishes it
(flushed, one JSON object per line), so a crash loses at most the documents
that were in flight, and a resumed run can tell which documents are done.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal

from pydantic import Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from course.extraction import InvoiceFields
from course.routing import DocumentComplexity, ProcessingRoute


@dataclass(slots=True, kw_only=True)
class RouteAttempt:
    """One route's try at a document: its call(s), what they cost, and why it was not accepted."""

    route: ProcessingRoute
    model: str | None = None
    requests: int = 0  # HTTP requests sent, retries and the repair request included
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    fields: InvoiceFields | None = None  # the route's answer, if it gave a usable one
    correct: dict[str, bool] | None = None  # that answer against ground truth; None when not scored
    error: str | None = None  # None: this attempt's answer was accepted


@dataclass(slots=True, kw_only=True)
class DocumentResult:
    """What happened to one document.

    Pydantic dataclasses with slots (not ``BaseModel``) for the records there is
    one of per document: same validation, a fraction of the memory at 100,000.
    """

    document_id: str
    route: ProcessingRoute
    expected_complexity: DocumentComplexity | None  # ground truth; None when not known
    predicted_complexity: DocumentComplexity
    status: Literal["completed", "failed"]
    fields: InvoiceFields | None
    correct: dict[str, bool] | None  # per field against ground truth; None when not scored
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    attempts: int = 0
    model: str | None = None
    worker_id: str | None = None
    started_at: float
    finished_at: float
    error: str | None = None
    final_route: ProcessingRoute | None = None  # the route whose answer was accepted (or tried last)
    route_attempts: list[RouteAttempt] = Field(default_factory=list)  # one per route tried, in order
    warnings: list[str] = Field(default_factory=list)  # e.g. "invalid UTF-8 replaced"

    @property
    def escalated(self) -> bool:
        return len(self.route_attempts) > 1

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def seconds(self) -> float:
        return self.finished_at - self.started_at


_RESULT = TypeAdapter(DocumentResult)


def result_json(result: DocumentResult) -> str:
    """One line of ``results.jsonl``."""
    return _RESULT.dump_json(result).decode()


class ResultsLog:
    """Append-only ``results.jsonl``, safe to write from many worker threads."""

    def __init__(self, path: str | Path, previous: dict[str, DocumentResult] | None = None) -> None:
        """Start the log at ``path`` with ``previous`` results (a resumed batch), then append."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Rewriting what is kept also drops a line cut short by a crash.
        self._file = self.path.open("w", encoding="utf-8")
        for result in (previous or {}).values():
            self._file.write(result_json(result) + "\n")
        self._file.flush()
        self._lock = threading.Lock()

    def write(self, result: DocumentResult) -> None:
        line = result_json(result) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> ResultsLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_results(path: str | Path) -> dict[str, DocumentResult]:
    """Results in a ``results.jsonl`` by document id; a line cut short by a crash is skipped."""
    results: dict[str, DocumentResult] = {}
    with Path(path).open(encoding="utf-8") as lines:
        for line in lines:
            try:
                result = _RESULT.validate_json(line)
            except ValidationError:
                continue
            results[result.document_id] = result
    return results
