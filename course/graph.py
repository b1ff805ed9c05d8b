"""Step 06 - the whole graph: analyze -> plan -> dispatch -> workers -> aggregate.

What this step teaches: one function builds and compiles the graph, and one
function runs a batch through it with the settings that matter:

* ``max_concurrency`` set explicitly, because LangGraph's default thread pool
  (min(32, CPUs + 4): 6 threads on a 2-core laptop) would silently run fewer
  workers than planned. It is the number of workers *plus one*: while a graph
  streams custom events, LangGraph parks one task in the same pool to wait
  for them, and with exactly W threads a single worker would wait forever;
* the run's context (backend, results log, work queue) passed as
  ``context=``, so nodes get it as ``runtime.context``;
* ``stream_mode=["custom", "values"]``: the workers' progress events arrive in
  the caller's thread while the batch runs, and the last ``values`` chunk is
  the final state.
"""

from __future__ import annotations

import secrets
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from course.aggregation import BatchSummary, aggregate_results
from course.dispatch import BatchContext, WorkQueue, dispatch_workers, route_worker
from course.documents import Document, check_documents
from course.llm import LLMBackend, SimulatedBackend
from course.planning import BatchPlan, SchedulingPolicy, analyze_batch, plan_batch
from course.results import DocumentResult, ResultsLog, read_results
from course.state import BatchState, create_batch_state


def build_graph(checkpointer: Any = None, dispatcher: Callable[[BatchState], list] = dispatch_workers):
    """Build and compile the batch graph (``dispatcher``: the conditional edge that sends the workers)."""
    graph = StateGraph(BatchState, context_schema=BatchContext)
    graph.add_node("analyze_batch", analyze_batch)
    graph.add_node("plan_batch", plan_batch)
    graph.add_node("route_worker", route_worker)
    graph.add_node("aggregate_results", aggregate_results)
    graph.add_edge(START, "analyze_batch")
    graph.add_edge("analyze_batch", "plan_batch")
    graph.add_conditional_edges("plan_batch", dispatcher, ["route_worker"])
    graph.add_edge("route_worker", "aggregate_results")
    graph.add_edge("aggregate_results", END)
    return graph.compile(checkpointer=checkpointer)


# The kit's own types, allowed to come back out of a checkpoint (LangGraph refuses unknown ones).
CHECKPOINT_TYPES = [
    ("course.routing", "ProcessingRoute"), ("course.routing", "DocumentComplexity"),
    ("course.routing", "DocumentAnalysis"), ("course.documents", "Document"), ("course.documents", "GroundTruth"),
    ("course.extraction", "InvoiceFields"), ("course.planning", "BatchPlan"), ("course.planning", "RoutePlan"),
    ("course.planning", "ScalingDecision"), ("course.results", "DocumentResult"), ("course.results", "RouteAttempt"),
    ("course.aggregation", "BatchSummary"), ("course.aggregation", "RouteSummary"),
]


class ResumeError(ValueError):
    """A batch cannot be resumed; the message says why."""


_NO_VALUE = object()  # a channel version saved without a value


class CompactSqliteSaver(SqliteSaver):
    """LangGraph's SQLite checkpointer, storing each channel's value once per version.

    ``SqliteSaver`` writes the whole state at every step: a batch's documents
    went to disk six times, and a 100,000-document batch's checkpoints took
    almost a gigabyte. Like LangGraph's Postgres saver, this one keeps one
    value per (channel, version) in a ``blobs`` table, written only when the
    channel changed; a checkpoint holds just the versions.
    """

    def setup(self) -> None:
        if self.is_setup:
            return
        super().setup()
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS blobs (thread_id TEXT NOT NULL, checkpoint_ns TEXT NOT NULL DEFAULT '',"
            " channel TEXT NOT NULL, version TEXT NOT NULL, type TEXT NOT NULL, blob BLOB,"
            " PRIMARY KEY (thread_id, checkpoint_ns, channel, version))"
        )

    def put(self, config, checkpoint, metadata, new_versions):
        values = checkpoint["channel_values"]
        thread_id, namespace = str(config["configurable"]["thread_id"]), config["configurable"].get("checkpoint_ns", "")
        rows = []
        for channel, version in new_versions.items():
            kind, blob = self.serde.dumps_typed(values[channel]) if channel in values else ("empty", None)
            rows.append((thread_id, namespace, channel, str(version), kind, blob))
        with self.cursor() as cursor:
            cursor.executemany("INSERT OR REPLACE INTO blobs VALUES (?, ?, ?, ?, ?, ?)", rows)
        return super().put(config, {**checkpoint, "channel_values": {}}, metadata, new_versions)

    def get_tuple(self, config):
        saved = super().get_tuple(config)
        return self._with_values(saved, {}) if saved else None

    def list(self, config, *, filter=None, before=None, limit=None):
        saved = [*super().list(config, filter=filter, before=before, limit=limit)]  # the parent holds its lock while listing
        loaded: dict = {}  # one object per (channel, version), shared by the checkpoints that have it
        for item in saved:
            yield self._with_values(item, loaded)

    def delete_thread(self, thread_id: str) -> None:
        super().delete_thread(thread_id)
        with self.cursor() as cursor:
            cursor.execute("DELETE FROM blobs WHERE thread_id = ?", (str(thread_id),))

    def _with_values(self, saved, loaded: dict):
        checkpoint, where = saved.checkpoint, saved.config["configurable"]
        values = dict(checkpoint.get("channel_values") or {})
        with self.cursor(transaction=False) as cursor:
            for channel, version in checkpoint["channel_versions"].items():
                if channel in values:
                    continue  # a checkpoint written with its values inline
                key = (where["thread_id"], where.get("checkpoint_ns", ""), channel, str(version))
                if key not in loaded:
                    row = cursor.execute(
                        "SELECT type, blob FROM blobs WHERE thread_id = ? AND checkpoint_ns = ? AND channel = ?"
                        " AND version = ?", key,
                    ).fetchone()
                    loaded[key] = self.serde.loads_typed(row) if row and row[0] != "empty" else _NO_VALUE
                if loaded[key] is not _NO_VALUE:
                    values[channel] = loaded[key]
        return saved._replace(checkpoint={**checkpoint, "channel_values": values})


@contextmanager
def checkpointer(path: str | Path) -> Iterator[SqliteSaver]:
    """A SQLite checkpointer at ``path``: the graph's state after every step, on disk."""
    with CompactSqliteSaver.from_conn_string(str(path)) as saver:
        saver.serde = JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES)
        yield saver


def new_batch_id() -> str:
    """A fresh, readable batch id: the time it started plus a random suffix."""
    return f"batch-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


@dataclass
class BatchRun:
    """What a batch run returns."""

    batch_id: str
    summary: BatchSummary
    results: list[DocumentResult]
    plan: BatchPlan
    state: dict
    resumed: int = 0  # documents whose results came from before an interruption


@contextmanager
def _stop_workers_on_ctrl_c(queue: WorkQueue) -> Iterator[None]:
    """On Ctrl-C, tell the workers to stop *before* LangGraph waits for them to finish.

    Without this, the KeyboardInterrupt reaches the caller only after every
    worker has emptied the queue: the batch would go on sending work.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        queue.interrupt()
        signal.default_int_handler(signum, frame)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stream(graph, graph_input, config: dict, context: BatchContext, on_event) -> dict:
    """Run the graph, hand progress events to ``on_event``, return the final state.

    A failing ``on_event`` (say, a closed terminal) is reported once and then
    ignored: a broken progress display must not stop the batch.
    """
    final: dict = {}
    try:
        with _stop_workers_on_ctrl_c(context.work_queue):
            # Without a listener, no custom stream: LangGraph then drops the workers' events at the source.
            modes = ["custom", "values"] if on_event else ["values"]
            for mode, chunk in graph.stream(graph_input, config, context=context, stream_mode=modes):
                if mode == "values":
                    final = chunk
                elif on_event:
                    try:
                        on_event(chunk)
                    except Exception as error:  # noqa: BLE001 - the display, not the batch, failed
                        on_event = None
                        warnings.warn(f"progress display stopped: {type(error).__name__}: {error}", stacklevel=2)
    finally:
        if context.results_log:
            context.results_log.close()
    return final


class GraphShapeError(RuntimeError):
    """A graph built by ``build=`` ended without what every batch needs (a summary)."""


def _run(final: dict, batch_id: str, resumed: int = 0) -> BatchRun:
    missing = [key for key in ("summary", "results", "plan") if key not in final]
    if missing:
        raise GraphShapeError(f"the graph ended without {', '.join(missing)} in its state: "
                              "does route_worker lead to aggregate_results, and that to END?")
    return BatchRun(batch_id=batch_id, summary=final["summary"], results=final["results"], plan=final["plan"],
                    state=final, resumed=resumed)


def run_batch(
    documents: list[Document],
    backend: LLMBackend | None = None,
    *,
    workers: int = 8,
    policy: SchedulingPolicy = "dynamic",
    batch_id: str = "batch",
    results_path: str | Path | None = None,
    on_event: Callable[[dict], None] | None = None,
    quality_gate: bool = True,
    escalate: bool = True,
    checkpoint_path: str | Path | None = None,
    build: Callable[..., Any] = build_graph,
) -> BatchRun:
    """Run a batch through the graph and return its summary and results.

    ``on_event`` receives every progress event (plan, started, finished,
    scaling, idle) in the caller's thread while the batch runs. The quality
    gate refuses answers the document does not support; ``escalate`` sends
    them (and unusable replies) to the next route up. With ``checkpoint_path``
    the graph's state is saved after every step, so ``resume_batch`` can
    continue the batch after an interruption. ``build`` builds the graph
    (``build_graph`` unless a notebook brings its own).
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    documents = check_documents(list(documents))
    context = BatchContext(
        backend=backend or SimulatedBackend(), workers=workers, policy=policy,
        results_log=ResultsLog(results_path) if results_path else None, quality_gate=quality_gate, escalate=escalate,
    )
    config = {"max_concurrency": workers + 1, "configurable": {"thread_id": batch_id}}  # + LangGraph's stream waiter
    graph_input = create_batch_state(documents, batch_id)
    if checkpoint_path is None:
        return _run(_stream(build(), graph_input, config, context, on_event), batch_id)
    with checkpointer(checkpoint_path) as saver:
        graph = build(saver)
        if graph.get_state(config).values:
            context.results_log and context.results_log.close()
            raise ResumeError(f"batch {batch_id!r} already exists in {checkpoint_path}: resume it or choose another id")
        return _run(_stream(graph, graph_input, config, context, on_event), batch_id)


def saved_plan(batch_id: str, checkpoint_path: str | Path) -> BatchPlan | None:
    """The plan of a saved batch (None when there is no such batch, or it stopped before planning)."""
    if not Path(checkpoint_path).exists():
        return None
    with checkpointer(checkpoint_path) as saver:
        return build_graph(saver).get_state({"configurable": {"thread_id": batch_id}}).values.get("plan")


def resume_batch(
    batch_id: str,
    checkpoint_path: str | Path,
    backend: LLMBackend | None = None,
    *,
    results_path: str | Path | None = None,
    on_event: Callable[[dict], None] | None = None,
    quality_gate: bool = True,
    escalate: bool = True,
) -> BatchRun:
    """Continue an interrupted batch from its last checkpoint.

    Documents already in ``results.jsonl`` are not sent again (at most the
    ones that were in flight at the interruption are redone). A batch that
    finished, including one stopped by a refused token, has nothing left to
    resume: fix the token and run it again under a new batch id.
    """
    if not Path(checkpoint_path).exists():
        raise ResumeError(f"no checkpoints at {checkpoint_path}: was the batch run with this --out?")
    with checkpointer(checkpoint_path) as saver:
        graph = build_graph(saver)
        snapshot = graph.get_state({"configurable": {"thread_id": batch_id}})
        if not snapshot.values:
            raise ResumeError(f"no batch {batch_id!r} in {checkpoint_path}")
        if "summary" in snapshot.values:
            return _run(snapshot.values, batch_id)  # it had finished: nothing to do
        if not snapshot.next:  # stopped between steps: go back to the last step that still had work
            snapshot = next((s for s in graph.get_state_history(snapshot.config) if s.next), None)
            if snapshot is None:
                raise ResumeError(f"batch {batch_id!r} has no step left to resume")
        values = snapshot.values
        earlier = read_results(results_path) if results_path and Path(results_path).exists() else {}
        batch_ids = {document.id for document in values["documents"]}
        previous = {
            doc_id: result for doc_id, result in earlier.items()
            if doc_id in batch_ids and not (result.error or "").startswith("not processed")
        }
        # Results already saved in the checkpoint by workers that had finished must not be handed out again.
        saved = {r.document_id for task in snapshot.tasks if isinstance(task.result, dict)
                 for r in task.result.get("results", [])}
        plan = values.get("plan")
        workers = plan.workers if plan else 1
        context = BatchContext(
            backend=backend or SimulatedBackend(), workers=workers, policy=plan.policy if plan else "dynamic",
            results_log=ResultsLog(results_path, previous) if results_path else None,
            quality_gate=quality_gate, escalate=escalate, previous_results=previous, skip=saved,
        )
        if plan is not None:
            context.work_queue.load(plan, values["documents"], values["analyses"], previous, skip=saved)
            if on_event:
                on_event({"type": "plan", "plan": plan})
        config = {**snapshot.config, "max_concurrency": workers + 1}
        return _run(_stream(graph, None, config, context, on_event), batch_id, resumed=len(previous))
