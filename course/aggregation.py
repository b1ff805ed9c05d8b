"""Step 05 - aggregation and route performance.

What this step teaches: turn one record per document into the numbers a
decision needs, per route and for the batch, and make every number honest:

* accuracy is measured against ground truth, field by field (a failed
  document counts as all fields wrong), and also per document (all four
  fields right), which is what a route's ``accuracy_score`` promises;
* cost is real token counts x route price, and the premium-only baseline
  prices *the same token counts* at the premium price, so "savings" compares
  like with like (the lesson assumed 1,000 tokens per document in one place
  and 2,000 in another);
* time is measured from each document's start and end: makespan, latency
  percentiles, throughput, and how busy the workers were.

The aggregate node takes the state (and, injected by name, the runtime) and
returns a partial update: only ``summary``.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from pydantic import BaseModel

from course.extraction import FIELD_NAMES
from course.planning import BatchPlan, ScalingDecision, SchedulingPolicy
from course.results import DocumentResult
from course.routing import ROUTE_SPECS, ROUTES, ProcessingRoute, expected_route, route_cost

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from course.dispatch import BatchContext
    from course.state import BatchState


class RouteSummary(BaseModel):
    """How one route did."""

    route: ProcessingRoute
    documents: int
    completed: int
    failed: int
    workers: int
    scored_documents: int
    field_accuracy: float | None  # share of fields right; None when nothing was scored
    document_accuracy: float | None  # share of documents with every field right
    expected_accuracy: float  # the route spec's accuracy_score (per document)
    prompt_tokens: int
    completion_tokens: int
    cost: float
    cost_per_document: float | None
    estimated_cost: float
    premium_only_cost: float  # the same tokens at the premium price
    latency_p50: float | None
    latency_p95: float | None
    throughput: float | None  # documents per second while the route was being worked on


class BatchSummary(BaseModel):
    """How the batch did: the numbers in ``summary.json``."""

    batch_id: str
    backend: str
    simulated: bool
    models: dict[str, str]
    time_scale: float
    workers: int
    policy: SchedulingPolicy
    documents: int
    completed: int
    failed: int
    scored_documents: int
    field_accuracy: float | None
    document_accuracy: float | None
    routing_agreement: float | None  # share of scored documents routed as their true complexity asks
    prompt_tokens: int
    completion_tokens: int
    total_cost: float
    estimated_cost: float
    premium_only_cost: float
    savings_pct: float | None
    makespan_seconds: float
    estimated_makespan_seconds: float  # the plan's estimate x time scale
    worker_utilisation: float | None
    throughput: float | None
    routes: dict[ProcessingRoute, RouteSummary]
    scaling_decisions: list[ScalingDecision]
    stopped: str | None = None  # why the batch stopped sending work early (e.g. the token was refused)


def percentile(values: list[float], q: int) -> float | None:
    """The q-th percentile (1-99), linearly interpolated; None when there are no values."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _accuracy(results: list[DocumentResult]) -> tuple[int, float | None, float | None]:
    scored = [result.correct for result in results if result.correct is not None]
    if not scored:
        return 0, None, None
    fields_right = sum(sum(correct[name] for name in FIELD_NAMES) for correct in scored)
    documents_right = sum(all(correct[name] for name in FIELD_NAMES) for correct in scored)
    return len(scored), fields_right / (len(scored) * len(FIELD_NAMES)), documents_right / len(scored)


def _span(results: list[DocumentResult]) -> float:
    if not results:
        return 0.0
    return max(result.finished_at for result in results) - min(result.started_at for result in results)


def summarize_route(route: ProcessingRoute, results: list[DocumentResult], plan: BatchPlan) -> RouteSummary:
    """Aggregate the results of one route."""
    scored, field_accuracy, document_accuracy = _accuracy(results)
    prompt_tokens = sum(result.prompt_tokens for result in results)
    completion_tokens = sum(result.completion_tokens for result in results)
    cost = sum(result.cost for result in results)
    latencies = [result.seconds for result in results if result.attempts > 0]
    span = _span(results)
    return RouteSummary(
        route=route,
        documents=len(results),
        completed=sum(result.status == "completed" for result in results),
        failed=sum(result.status == "failed" for result in results),
        workers=plan.routes[route].workers,
        scored_documents=scored,
        field_accuracy=field_accuracy,
        document_accuracy=document_accuracy,
        expected_accuracy=ROUTE_SPECS[route].accuracy_score,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=cost,
        cost_per_document=cost / len(results) if results else None,
        estimated_cost=plan.routes[route].estimated_cost,
        premium_only_cost=route_cost(ProcessingRoute.PREMIUM, prompt_tokens + completion_tokens),
        latency_p50=percentile(latencies, 50),
        latency_p95=percentile(latencies, 95),
        throughput=len(results) / span if results and span > 0 else None,
    )


def summarize(
    results: list[DocumentResult],
    plan: BatchPlan,
    *,
    batch_id: str,
    backend: str,
    simulated: bool,
    models: dict[str, str],
    time_scale: float = 1.0,
    scaling_decisions: list[ScalingDecision] | None = None,
    stopped: str | None = None,
) -> BatchSummary:
    """Aggregate a whole batch (a pure function of its results and plan)."""
    by_route = {route: [result for result in results if result.route == route] for route in ROUTES}
    routes = {route: summarize_route(route, by_route[route], plan) for route in ROUTES}
    scored, field_accuracy, document_accuracy = _accuracy(results)
    with_truth = [result for result in results if result.expected_complexity is not None]
    agreement = (
        sum(result.route == expected_route(result.expected_complexity) for result in with_truth) / len(with_truth)
        if with_truth
        else None
    )
    total_cost = sum(route.cost for route in routes.values())
    premium_only = sum(route.premium_only_cost for route in routes.values())
    makespan = _span(results)
    busy = sum(result.seconds for result in results if result.worker_id is not None)
    return BatchSummary(
        batch_id=batch_id,
        backend=backend,
        simulated=simulated,
        models=models,
        time_scale=time_scale,
        workers=plan.workers,
        policy=plan.policy,
        documents=len(results),
        completed=sum(route.completed for route in routes.values()),
        failed=sum(route.failed for route in routes.values()),
        scored_documents=scored,
        field_accuracy=field_accuracy,
        document_accuracy=document_accuracy,
        routing_agreement=agreement,
        prompt_tokens=sum(route.prompt_tokens for route in routes.values()),
        completion_tokens=sum(route.completion_tokens for route in routes.values()),
        total_cost=total_cost,
        estimated_cost=plan.estimated_cost,
        premium_only_cost=premium_only,
        savings_pct=100.0 * (1.0 - total_cost / premium_only) if premium_only > 0 else None,
        makespan_seconds=makespan,
        estimated_makespan_seconds=plan.estimated_makespan_seconds * time_scale,
        worker_utilisation=busy / (plan.workers * makespan) if plan.workers and makespan > 0 else None,
        throughput=len(results) / makespan if makespan > 0 else None,
        routes=routes,
        scaling_decisions=scaling_decisions or [],
        stopped=stopped,
    )


def aggregate_results(state: BatchState, runtime: Runtime[BatchContext]) -> dict:
    """Graph node: aggregate everything the workers returned (a partial update: ``summary``)."""
    backend = runtime.context.backend
    summary = summarize(
        state["results"],
        state["plan"],
        batch_id=state["batch_id"],
        backend=backend.label,
        simulated=backend.simulated,
        models=backend.models(),
        time_scale=backend.time_scale,
        scaling_decisions=state["scaling_decisions"],
        stopped=runtime.context.work_queue.cancelled,
    )
    return {"summary": summary}


def _pct(value: float | None) -> str:
    return "not scored" if value is None else f"{100 * value:.1f}%"


def format_summary(summary: BatchSummary, timings: bool = True) -> str:
    """The per-route table and the batch totals, as printed by ``python -m course run``.

    ``timings=False`` leaves out measured times, for output that must not
    change from run to run (notebooks compared by nbval).
    """
    header = f"{'route':<9}{'docs':>6}{'done':>6}{'failed':>7}{'workers':>8}{'fields ok':>11}{'docs ok':>10}{'expected':>10}{'cost':>12}{'$/doc':>9}"
    if timings:
        header += f"{'p50 s':>8}{'p95 s':>8}{'docs/s':>8}"
    lines = [f"backend: {summary.backend}" + ("  (SIMULATED: numbers model an LLM, they are not from one)" if summary.simulated else ""), header]
    for route in ROUTES:
        r = summary.routes[route]
        if not r.documents:
            continue
        line = (
            f"{route.value:<9}{r.documents:>6}{r.completed:>6}{r.failed:>7}{r.workers:>8}{_pct(r.field_accuracy):>11}"
            f"{_pct(r.document_accuracy):>10}{100 * r.expected_accuracy:>9.1f}%{r.cost:>12,.2f}{r.cost_per_document or 0:>9.3f}"
        )
        if timings:
            line += f"{r.latency_p50 or 0:>8.3f}{r.latency_p95 or 0:>8.3f}{r.throughput or 0:>8.1f}"
        lines.append(line)
    lines.append(
        f"{'total':<9}{summary.documents:>6}{summary.completed:>6}{summary.failed:>7}{summary.workers:>8}"
        f"{_pct(summary.field_accuracy):>11}{_pct(summary.document_accuracy):>10}{'':>10}{summary.total_cost:>12,.2f}"
    )
    lines.append(
        f"premium-only (same tokens at the premium price): ${summary.premium_only_cost:,.2f}"
        + (f"  -> smart routing saves {summary.savings_pct:.1f}%" if summary.savings_pct is not None else "")
    )
    if summary.routing_agreement is not None:
        lines.append(f"routing agrees with ground-truth complexity for {100 * summary.routing_agreement:.1f}% of documents")
    cost_error = 100 * (summary.estimated_cost / summary.total_cost - 1) if summary.total_cost else 0.0
    lines.append(f"estimated cost ${summary.estimated_cost:,.2f} ({cost_error:+.1f}% vs measured)")
    if timings:
        lines.append(
            f"makespan {summary.makespan_seconds:.2f} s (estimated {summary.estimated_makespan_seconds:.2f} s"
            f" at time scale {summary.time_scale:g}), worker utilisation {_pct(summary.worker_utilisation)},"
            f" {summary.throughput or 0:.1f} docs/s"
        )
    return "\n".join(lines)
