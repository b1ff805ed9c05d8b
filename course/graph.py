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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph

from course.aggregation import BatchSummary, aggregate_results
from course.dispatch import BatchContext, dispatch_workers, route_worker
from course.documents import Document, check_documents
from course.llm import LLMBackend, SimulatedBackend
from course.planning import BatchPlan, SchedulingPolicy, analyze_batch, plan_batch
from course.results import DocumentResult, ResultsLog
from course.state import BatchState, create_batch_state


def build_graph(checkpointer: Any = None):
    """Build and compile the batch graph."""
    graph = StateGraph(BatchState, context_schema=BatchContext)
    graph.add_node("analyze_batch", analyze_batch)
    graph.add_node("plan_batch", plan_batch)
    graph.add_node("route_worker", route_worker)
    graph.add_node("aggregate_results", aggregate_results)
    graph.add_edge(START, "analyze_batch")
    graph.add_edge("analyze_batch", "plan_batch")
    graph.add_conditional_edges("plan_batch", dispatch_workers, ["route_worker"])
    graph.add_edge("route_worker", "aggregate_results")
    graph.add_edge("aggregate_results", END)
    return graph.compile(checkpointer=checkpointer)


@dataclass
class BatchRun:
    """What a batch run returns."""

    batch_id: str
    summary: BatchSummary
    results: list[DocumentResult]
    plan: BatchPlan
    state: dict


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
) -> BatchRun:
    """Run a batch through the graph and return its summary and results.

    ``on_event`` receives every progress event (plan, started, finished,
    scaling, idle) in the caller's thread while the batch runs. The quality
    gate refuses answers the document does not support; ``escalate`` sends
    them (and unusable replies) to the next route up.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    documents = check_documents(list(documents))
    backend = backend or SimulatedBackend()
    results_log = ResultsLog(results_path) if results_path else None
    context = BatchContext(
        backend=backend, workers=workers, policy=policy, results_log=results_log, quality_gate=quality_gate,
        escalate=escalate,
    )
    config = {"max_concurrency": workers + 1}  # + LangGraph's stream waiter
    final: dict = {}
    try:
        for mode, chunk in build_graph().stream(
            create_batch_state(documents, batch_id), config, context=context, stream_mode=["custom", "values"]
        ):
            if mode == "values":
                final = chunk
            elif on_event:
                on_event(chunk)
    finally:
        if results_log:
            results_log.close()
    return BatchRun(
        batch_id=batch_id, summary=final["summary"], results=final["results"], plan=final["plan"], state=final
    )
