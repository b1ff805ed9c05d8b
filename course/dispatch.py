"""Step 04 - the Send dispatcher and the route workers.

What this step teaches: fan the work out to parallel workers with LangGraph's
``Send`` API, and keep every worker busy until the batch is done.

* ``Send`` lives in ``langgraph.types``. A list of ``Send`` is returned by a
  *conditional edge* (``dispatch_workers``), not by a node: a node returns a
  state update, and a list of ``Send`` is not one.
* Each ``Send`` starts one worker. A worker returns its results as a partial
  update of ``results``, a field with a reducer, so parallel writes add up
  instead of clashing.
* How the work is shared decides how long the batch takes. The lesson gave each
  worker a fixed slice of its route's documents (``policy="static"``): workers
  with short slices go idle while others still have a queue. Here workers
  *take* the next document (early on, a small chunk) when they are free
  (``policy="dynamic"``): each
  starts on its own route, longest expected document first; when its route
  drains it helps the route with the longest remaining documents; and near the
  end every worker takes the longest document left, whatever its route. Each
  such change is logged as a scaling decision.
* LangGraph runs parallel tasks on a thread pool whose default size on a
  2-core laptop is 6 threads, so an 8-worker plan would silently run 6 (5
  while streaming). The graph is run with ``max_concurrency`` set to the
  worker count plus one, for the thread that waits for streamed events.

Documents are not copied into each ``Send``: the plan node loads them into a
``WorkQueue`` in the run's context (``runtime.context``), and workers take
from it. Each finished document is appended to ``results.jsonl`` at once and
reported on LangGraph's custom stream, so a live view can follow.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypedDict

from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime
from langgraph.types import Send

from course.documents import Document
from course.extraction import FIELD_NAMES, InvoiceFields, ReplyError, build_messages, parse_reply, score_fields
from course.llm import AuthenticationError, LLMBackend, LLMError
from course.planning import BatchPlan, ScalingDecision, SchedulingPolicy
from course.quality import check_extraction
from course.results import DocumentResult, ResultsLog, RouteAttempt
from course.routing import ROUTES, DocumentAnalysis, ProcessingRoute, route_cost
from course.state import BatchState

# Switch to "longest document first, any route" when the work left per worker
# is less than this many times the longest document left.
ENDGAME_FACTOR = 2.0
# Before the endgame a worker takes a small chunk of its route's queue at once: at most 1/CHUNK_SHARE of its
# share of what is queued, at most MAX_CHUNK documents. Fewer trips to the shared queue means less waiting
# on its lock when documents are quick (a lock convoy costs the CPU-bound simulation about a third);
# in the endgame every worker takes one document at a time again.
CHUNK_SHARE = 4
MAX_CHUNK = 32
REPAIR_PROMPT = "Your reply could not be used ({problem}). Answer again with only the JSON object."


class WorkerTask(TypedDict):
    """What one ``Send`` carries: who the worker is and where it starts."""

    worker_id: str
    route: ProcessingRoute
    document_ids: list[str] | None  # the fixed slice under the static policy, else None


@dataclass
class WorkItem:
    """One document handed to a worker."""

    document: Document
    analysis: DocumentAnalysis
    route: ProcessingRoute
    previous: DocumentResult | None = None  # done before an interruption: not processed again
    cancelled: str | None = None  # the batch was stopped: record it as failed with this reason
    decisions: list[ScalingDecision] = field(default_factory=list)  # made while handing this one out


class BatchInterrupted(RuntimeError):
    """The run was interrupted (Ctrl-C): the worker stops, and its task is redone on resume."""


class WorkQueue:
    """Hands out documents to workers, one at a time (thread-safe).

    ``policy="dynamic"``: longest expected first within a worker's own route,
    help the others when it drains, longest-first over all routes at the end.
    ``policy="static"``: each worker works through its fixed slice.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._loaded = False
        self._clock = clock  # a virtual clock lets tests and notebooks replay a schedule instantly

    def load(
        self,
        plan: BatchPlan,
        documents: list[Document],
        analyses: dict[str, DocumentAnalysis],
        previous: dict[str, DocumentResult] | None = None,
        skip: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        """Load the plan's work. ``previous`` results are handed back instead of redone;
        ``skip`` documents are not handed out at all (their results are already in the state)."""
        with self._lock:
            self._plan = plan
            self._documents = {document.id: document for document in documents}
            self._analyses = analyses
            self._previous = previous or {}
            self._queues = {
                route: deque(
                    (doc_id, seconds)
                    for doc_id, seconds in zip(route_plan.document_ids, route_plan.expected_seconds)
                    if doc_id not in skip
                )
                for route, route_plan in plan.routes.items()
            }
            self._work_left = sum(seconds for queue in self._queues.values() for _, seconds in queue)
            self._skip = frozenset(skip)
            self._slices: dict[str, deque[str]] = {}
            self._current_route: dict[str, ProcessingRoute] = {}
            self._endgame = False
            self._cancelled: str | None = None
            self._interrupted = False
            self._started_at: float | None = None
            self._loaded = True

    def cancel(self, reason: str) -> None:
        """Stop handing out work: every document not yet taken is recorded as failed."""
        with self._lock:
            if self._cancelled is None:
                self._cancelled = reason

    def interrupt(self) -> None:
        """Stop every worker after its current document; nothing more is recorded."""
        self._interrupted = True

    @property
    def cancelled(self) -> str | None:
        return self._cancelled

    def _take_dynamic(self, worker_id: str, home: ProcessingRoute, decisions: list[ScalingDecision]) -> list[str]:
        nonempty = [route for route in ROUTES if self._queues[route]]
        if not nonempty:
            return []
        longest = max(nonempty, key=lambda route: self._queues[route][0][1])
        workers = self._plan.workers
        elapsed = round(self._clock() - self._started_at, 3)
        if not self._endgame and self._work_left / workers <= ENDGAME_FACTOR * self._queues[longest][0][1]:
            self._endgame = True
            decisions.append(
                ScalingDecision(
                    action="endgame",
                    reason=(
                        f"{self._work_left:.1f} s of work left for {workers} workers, under {ENDGAME_FACTOR:g}x the "
                        "longest document left: every worker now takes the longest document of any route"
                    ),
                    at_seconds=elapsed,
                )
            )
        route = home if (self._queues[home] and not self._endgame) else longest
        current = self._current_route.get(worker_id, home)
        if route != current:
            why = "endgame" if self._endgame else f"{current.value} queue drained"
            decisions.append(
                ScalingDecision(
                    action="help_route",
                    reason=f"{why}; {route.value} has the longest document left",
                    worker_id=worker_id,
                    from_route=current,
                    to_route=route,
                    at_seconds=elapsed,
                )
            )
        self._current_route[worker_id] = route
        queue = self._queues[route]
        size = 1 if self._endgame else max(1, min(MAX_CHUNK, len(queue) // (CHUNK_SHARE * workers)))
        taken = [queue.popleft() for _ in range(min(size, len(queue)))]
        self._work_left -= sum(seconds for _, seconds in taken)
        return [document_id for document_id, _ in taken]

    def take(self, task: WorkerTask) -> list[WorkItem]:
        """The next document(s) for this worker, in order; an empty list when it is done."""
        with self._lock:
            if not self._loaded:
                raise RuntimeError("the work queue is empty: run the plan step first (plan_batch loads it)")
            if self._interrupted:
                raise BatchInterrupted("interrupted")
            if self._started_at is None:
                self._started_at = self._clock()
            decisions: list[ScalingDecision] = []
            if task["document_ids"] is not None:
                ids = self._slices.setdefault(
                    task["worker_id"], deque(i for i in task["document_ids"] if i not in self._skip)
                )
                size = max(1, min(MAX_CHUNK, len(ids) // CHUNK_SHARE))
                document_ids = [ids.popleft() for _ in range(min(size, len(ids)))]
            else:
                document_ids = self._take_dynamic(task["worker_id"], task["route"], decisions)
        items = []
        for document_id in document_ids:
            analysis = self._analyses[document_id]
            items.append(
                WorkItem(
                    document=self._documents[document_id],
                    analysis=analysis,
                    route=analysis.recommended_route,
                    previous=self._previous.get(document_id),
                    decisions=decisions if not items else [],
                )
            )
        return items

    @property
    def interrupted(self) -> bool:
        return self._interrupted


@dataclass
class BatchContext:
    """Run-scoped things the graph needs that are not state: LangGraph's ``Runtime.context``."""

    backend: LLMBackend
    workers: int = 8
    policy: SchedulingPolicy = "dynamic"
    results_log: ResultsLog | None = None
    quality_gate: bool = True  # refuse answers the document does not support
    escalate: bool = True  # send refused or unusable answers to the next route up
    previous_results: dict[str, DocumentResult] = field(default_factory=dict)  # done before an interruption
    skip: set[str] = field(default_factory=set)  # results already in the checkpointed state
    work_queue: WorkQueue = field(default_factory=WorkQueue)


def static_slices(plan: BatchPlan) -> list[WorkerTask]:
    """The lesson's policy: each route's documents cut into one contiguous slice per worker.

    Documents of a route left without a worker (fewer workers than routes) are
    spread over all workers, so that none is lost.
    """
    tasks: list[WorkerTask] = []
    orphans: list[str] = []
    for route, route_plan in plan.routes.items():
        ids = route_plan.document_ids
        if route_plan.workers == 0:
            orphans += ids
            continue
        size, extra = divmod(len(ids), route_plan.workers)
        start = 0
        for index in range(route_plan.workers):
            end = start + size + (1 if index < extra else 0)
            tasks.append(WorkerTask(worker_id=f"{route.value}-{index}", route=route, document_ids=ids[start:end]))
            start = end
    for position, document_id in enumerate(orphans):
        tasks[position % len(tasks)]["document_ids"].append(document_id)
    return tasks


def worker_tasks(plan: BatchPlan) -> list[WorkerTask]:
    """One task per allocated worker, in route order; worker ids say where each starts."""
    if plan.policy == "static":
        return static_slices(plan)
    return [
        WorkerTask(worker_id=f"{route.value}-{index}", route=route, document_ids=None)
        for route, route_plan in plan.routes.items()
        for index in range(route_plan.workers)
    ]


def dispatch_workers(state: BatchState) -> list[Send]:
    """Conditional edge after planning: one ``Send`` per allocated worker.

    It only reads the plan; the documents wait in the run's work queue.
    """
    return [Send("route_worker", task) for task in worker_tasks(state["plan"])]


@dataclass
class ScheduledDocument:
    """One bar of a worker timeline."""

    worker_id: str
    document_id: str
    route: ProcessingRoute
    start: float
    end: float


def simulate_schedule(
    plan: BatchPlan,
    documents: list[Document],
    analyses: dict[str, DocumentAnalysis],
    seconds: dict[str, float],
) -> tuple[list[ScheduledDocument], list[ScalingDecision]]:
    """Replay the plan's policy on a virtual clock: who would process what, when.

    ``seconds`` is how long each document takes. Nothing sleeps, so a notebook
    can compare policies on thousands of documents in a blink; the work queue
    is the same one the real workers use.
    """
    now = 0.0
    queue = WorkQueue(clock=lambda: now)
    queue.load(plan, documents, analyses)
    free_at = [(0.0, index, task) for index, task in enumerate(worker_tasks(plan))]
    timeline: list[ScheduledDocument] = []
    decisions: list[ScalingDecision] = []
    heapq.heapify(free_at)
    while free_at:
        now, index, task = heapq.heappop(free_at)
        items = queue.take(task)
        if not items:
            continue  # this worker is done
        for item in items:  # a chunk is worked through back to back
            decisions += item.decisions
            end = now + seconds[item.document.id]
            timeline.append(ScheduledDocument(task["worker_id"], item.document.id, item.route, now, end))
            now = end
        heapq.heappush(free_at, (now, index, task))
    return timeline, decisions


def replay_batch(
    documents: list[Document], workers: int, policy: SchedulingPolicy, seed: int = 0
) -> tuple[list[ScheduledDocument], list[ScalingDecision]]:
    """Analyze, plan and replay a batch on a virtual clock.

    Each document takes a seeded draw from its route's latency range (the
    lesson's numbers), the same draw under every policy, so two replays of the
    same batch differ only by how the work was shared.
    """
    from course.planning import make_plan
    from course.routing import analyze_document, latency_seconds

    analyses = {document.id: analyze_document(document.content, document.id) for document in documents}
    draws = random.Random(seed)
    seconds = {
        document.id: latency_seconds(
            analyses[document.id].recommended_route, analyses[document.id].estimated_tokens, draws.random()
        )
        for document in documents
    }
    plan, _ = make_plan(list(analyses.values()), workers, policy)
    return simulate_schedule(plan, documents, analyses, seconds)


def makespan_ratio(timeline: list[ScheduledDocument], workers: int) -> float:
    """Makespan / its lower bound max(total work / workers, longest document): 1.0 is perfect."""
    makespan = max(bar.end for bar in timeline) - min(bar.start for bar in timeline)
    durations = [bar.end - bar.start for bar in timeline]
    return makespan / max(sum(durations) / workers, max(durations))


def _result(
    item: WorkItem,
    worker_id: str | None,
    started: float,
    *,
    fields: InvoiceFields | None = None,
    error: str | None = None,
    attempts: list[RouteAttempt] = (),
) -> DocumentResult:
    """The record of one document; ``fields`` None means it failed with ``error``."""
    truth = item.document.truth

    def scored(answer: InvoiceFields | None) -> dict[str, bool] | None:
        if truth is None:
            return None
        return score_fields(answer, truth.fields) if answer else dict.fromkeys(FIELD_NAMES, False)

    for attempt in attempts:
        attempt.correct = scored(attempt.fields)
    # An accepted answer is the last attempt's: its score is the document's.
    final_correct = attempts[-1].correct if fields is not None else scored(None)
    return DocumentResult(
        document_id=item.document.id,
        route=item.route,
        expected_complexity=truth.complexity if truth else None,
        predicted_complexity=item.analysis.complexity,
        status="failed" if fields is None else "completed",
        fields=fields,
        correct=final_correct,  # a failed document gets nothing right
        prompt_tokens=sum(a.prompt_tokens for a in attempts),
        completion_tokens=sum(a.completion_tokens for a in attempts),
        cost=sum(a.cost for a in attempts),
        attempts=sum(a.requests for a in attempts),
        model=attempts[-1].model if attempts else None,
        worker_id=worker_id,
        started_at=started,
        finished_at=time.time(),
        error=None if fields is not None else error,
        final_route=attempts[-1].route if attempts else None,
        route_attempts=list(attempts),
        warnings=item.document.warnings,
    )


def try_route(
    route: ProcessingRoute, content: str, backend: LLMBackend, deadline: float | None
) -> tuple[InvoiceFields | None, RouteAttempt, bool]:
    """One route's try at a document: the call, and one repair request if the reply is unusable.

    Returns (fields or None, the attempt's record, whether the server itself failed).
    """
    messages = build_messages(route, content)
    attempt = RouteAttempt(route=route, model=backend.model_for(route))
    server_failed = False
    for _ in range(2):  # the first request and one repair
        try:
            reply = backend.chat(route, messages, deadline=deadline)
        except AuthenticationError as refused:
            attempt.requests += refused.attempts
            attempt.error = str(refused)
            attempt.cost = route_cost(route, attempt.prompt_tokens + attempt.completion_tokens)
            refused.route_attempts = [attempt]
            raise
        except LLMError as failure:
            attempt.requests += failure.attempts
            attempt.prompt_tokens += failure.prompt_tokens
            attempt.completion_tokens += failure.completion_tokens
            attempt.error, server_failed = str(failure), True
            break
        attempt.requests += reply.attempts
        attempt.prompt_tokens += reply.prompt_tokens
        attempt.completion_tokens += reply.completion_tokens
        attempt.model = reply.model or attempt.model
        try:
            fields = parse_reply(reply.content)
        except ReplyError as problem:
            attempt.error = str(problem)
            messages = [
                *messages,
                {"role": "assistant", "content": reply.content},
                {"role": "user", "content": REPAIR_PROMPT.format(problem=problem)},
            ]
            continue
        attempt.error, attempt.fields = None, fields
        attempt.cost = route_cost(route, attempt.prompt_tokens + attempt.completion_tokens)
        return fields, attempt, False
    attempt.cost = route_cost(route, attempt.prompt_tokens + attempt.completion_tokens)
    return None, attempt, server_failed


def process_document(
    item: WorkItem, backend: LLMBackend, worker_id: str | None = None, *, quality_gate: bool = True,
    escalate: bool = True,
) -> DocumentResult:
    """The work of a route worker on one document: prompt, call, parse, check, score, cost.

    An unusable reply gets one repair request. With the quality gate, an
    answer the document does not support is refused; with escalation, a
    refused or unusable answer goes to the next route up (at most premium).
    Every failure ends as a ``failed`` result with its reason; only an
    authentication error is raised, because it stops the whole batch.
    """
    started = time.time()
    document = item.document
    if item.cancelled:
        return _result(item, worker_id, started, error=f"not processed: {item.cancelled}")
    if not document.content.strip():
        return _result(item, worker_id, started, error="empty document: no text to extract from")
    if not item.analysis.fits_route:
        return _result(item, worker_id, started, error=item.analysis.reason.split("; ")[-1])
    deadline = time.monotonic() + backend.document_deadline if backend.document_deadline else None
    attempts: list[RouteAttempt] = []
    route = item.route
    while True:
        try:
            fields, attempt, server_failed = try_route(route, document.content, backend, deadline)
        except AuthenticationError as refused:
            refused.route_attempts = [*attempts, *refused.route_attempts]  # the batch stops: keep what was sent
            raise
        attempts.append(attempt)
        if fields is not None and quality_gate and (problems := check_extraction(fields, document.content)):
            attempt.error = "quality gate: " + "; ".join(problems)
            fields = None
        if fields is not None:
            return _result(item, worker_id, started, fields=fields, attempts=attempts)
        if server_failed or not escalate or route is ROUTES[-1]:
            return _result(item, worker_id, started, error=attempt.error, attempts=attempts)
        route = ROUTES[ROUTES.index(route) + 1]


def route_worker(task: WorkerTask, runtime: Runtime[BatchContext]) -> dict:
    """Graph node run once per ``Send``: take documents until none are left.

    Returns a partial update: this worker's results and scaling decisions
    (reducer fields, so the updates of all workers add up).
    """
    context = runtime.context
    queue, log, emit = context.work_queue, context.results_log, get_stream_writer()
    worker_id = task["worker_id"]
    results: list[DocumentResult] = []
    decisions: list[ScalingDecision] = []
    while items := queue.take(task):
        for item in items:
            if queue.interrupted:
                raise BatchInterrupted("interrupted")
            item.cancelled = queue.cancelled
            for decision in item.decisions:
                emit({"type": "scaling", "decision": decision})
            decisions += item.decisions
            if item.previous is not None:
                result = item.previous
            else:
                emit({"type": "started", "worker_id": worker_id, "document_id": item.document.id, "route": item.route})
                started = time.time()
                try:
                    result = process_document(
                        item, context.backend, worker_id, quality_gate=context.quality_gate, escalate=context.escalate
                    )
                except AuthenticationError as failure:
                    queue.cancel(f"authentication failed: {failure}")
                    result = _result(
                        item, worker_id, started, error=f"authentication failed: {failure}",
                        attempts=failure.route_attempts,
                    )
                if log is not None:
                    log.write(result)
            results.append(result)
            emit({"type": "finished", "worker_id": worker_id, "result": result, "resumed": item.previous is not None})
    emit({"type": "idle", "worker_id": worker_id})
    return {"results": results, "scaling_decisions": decisions}
