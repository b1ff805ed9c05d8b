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
from course.results import DocumentResult, RouteAttempt
from course.routing import ROUTE_SPECS, ROUTES, ProcessingRoute, expected_route, route_cost

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from course.dispatch import BatchContext
    from course.state import BatchState


class RouteSummary(BaseModel):
    """How one route did.

    Documents, completed, failed, escalated and cost per document are about the
    documents the planner sent to this route (escalations included). Answers,
    accuracy, tokens and cost are about the calls made *on* this route, for its
    own documents and for documents escalated to it: how good and how
    expensive the route itself is.
    """

    route: ProcessingRoute
    documents: int
    completed: int
    failed: int
    escalated: int  # of this route's documents, how many went on to a route above it
    workers: int
    answers: int  # attempts made on this route
    scored_answers: int
    field_accuracy: float | None  # share of fields this route got right; None when nothing was scored
    document_accuracy: float | None  # share of this route's answers with every field right
    expected_accuracy: float  # the route spec's accuracy_score (per document)
    prompt_tokens: int
    completion_tokens: int
    cost: float  # spent on this route's calls
    cost_per_document: float | None  # what a document sent to this route cost in the end
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
    field_accuracy: float | None  # of the answers delivered (after any escalation)
    document_accuracy: float | None
    escalated_documents: int
    escalation_cost: float  # spent on routes above the one a document was planned for
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


def _accuracy(scores: list[dict[str, bool] | None]) -> tuple[int, float | None, float | None]:
    """(how many were scored, share of fields right, share with every field right)."""
    scored = [correct for correct in scores if correct is not None]
    if not scored:
        return 0, None, None
    fields_right = sum(sum(correct[name] for name in FIELD_NAMES) for correct in scored)
    documents_right = sum(all(correct[name] for name in FIELD_NAMES) for correct in scored)
    return len(scored), fields_right / (len(scored) * len(FIELD_NAMES)), documents_right / len(scored)


def document_accuracy(results: list[DocumentResult]) -> float | None:
    """Share of scored documents with every field right (a failed document gets none right); None if none scored."""
    return _accuracy([result.correct for result in results])[2]


def _span(results: list[DocumentResult]) -> float:
    if not results:
        return 0.0
    return max(result.finished_at for result in results) - min(result.started_at for result in results)


def summarize_route(
    route: ProcessingRoute, results: list[DocumentResult], attempts: list[RouteAttempt], plan: BatchPlan
) -> RouteSummary:
    """Aggregate one route: ``results`` planned for it, ``attempts`` made on it."""
    scored, field_accuracy, document_accuracy = _accuracy([attempt.correct for attempt in attempts])
    prompt_tokens = sum(attempt.prompt_tokens for attempt in attempts)
    completion_tokens = sum(attempt.completion_tokens for attempt in attempts)
    latencies = [result.seconds for result in results if result.attempts > 0]
    span = _span(results)
    return RouteSummary(
        route=route,
        documents=len(results),
        completed=sum(result.status == "completed" for result in results),
        failed=sum(result.status == "failed" for result in results),
        escalated=sum(result.escalated for result in results),
        workers=plan.routes[route].workers,
        answers=len(attempts),
        scored_answers=scored,
        field_accuracy=field_accuracy,
        document_accuracy=document_accuracy,
        expected_accuracy=ROUTE_SPECS[route].accuracy_score,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=sum(attempt.cost for attempt in attempts),
        cost_per_document=sum(result.cost for result in results) / len(results) if results else None,
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
    attempts = {route: [a for result in results for a in result.route_attempts if a.route == route] for route in ROUTES}
    routes = {route: summarize_route(route, by_route[route], attempts[route], plan) for route in ROUTES}
    scored, field_accuracy, document_accuracy = _accuracy([result.correct for result in results])
    with_truth = [result for result in results if result.expected_complexity is not None]
    agreement = (
        sum(result.route == expected_route(result.expected_complexity) for result in with_truth) / len(with_truth)
        if with_truth
        else None
    )
    total_cost = sum(result.cost for result in results)
    prompt_tokens = sum(result.prompt_tokens for result in results)
    completion_tokens = sum(result.completion_tokens for result in results)
    premium_only = route_cost(ProcessingRoute.PREMIUM, prompt_tokens + completion_tokens)
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
        escalated_documents=sum(route.escalated for route in routes.values()),
        escalation_cost=sum(a.cost for r in results for a in r.route_attempts if a.route != r.route),
        routing_agreement=agreement,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
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
    header = (
        f"{'route':<9}{'docs':>6}{'done':>6}{'failed':>7}{'escal.':>7}{'workers':>8}{'answers':>8}"
        f"{'fields ok':>10}{'docs ok':>9}{'expected':>9}{'cost':>11}{'$/doc':>8}"
    )
    if timings:
        header += f"{'p50 s':>8}{'p95 s':>8}{'docs/s':>8}"
    label = f"backend: {summary.backend}"
    if summary.simulated:
        label += "  (SIMULATED: numbers model an LLM, they are not from one)"
    lines = [label, header]
    for route in ROUTES:
        r = summary.routes[route]
        if not r.documents and not r.answers:
            continue
        line = (
            f"{route.value:<9}{r.documents:>6}{r.completed:>6}{r.failed:>7}{r.escalated:>7}{r.workers:>8}{r.answers:>8}"
            f"{_pct(r.field_accuracy):>10}{_pct(r.document_accuracy):>9}{100 * r.expected_accuracy:>8.1f}%"
            f"{r.cost:>11,.2f}{r.cost_per_document or 0:>8.3f}"
        )
        if timings:
            line += f"{r.latency_p50 or 0:>8.3f}{r.latency_p95 or 0:>8.3f}{r.throughput or 0:>8.1f}"
        lines.append(line)
    lines.append(
        f"{'total':<9}{summary.documents:>6}{summary.completed:>6}{summary.failed:>7}{summary.escalated_documents:>7}"
        f"{summary.workers:>8}{'':>8}{_pct(summary.field_accuracy):>10}{_pct(summary.document_accuracy):>9}{'':>9}"
        f"{summary.total_cost:>11,.2f}"
    )
    lines.append("accuracy per route: that route's own answers; total: the answers delivered (after escalation)")
    if summary.escalated_documents:
        lines.append(
            f"escalated {summary.escalated_documents} documents to a route above their own, for ${summary.escalation_cost:,.2f}"
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
    if summary.stopped:
        lines.append(f"STOPPED EARLY: {summary.stopped}")
    return "\n".join(lines)
