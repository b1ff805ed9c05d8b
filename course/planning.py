"""Step 03 - batch analysis, estimates and worker allocation.

What this step teaches: before spending a cent, look at the whole batch.
Analyze every document, group the documents by route, estimate what each
route will cost and how long it will take, and decide how many of the W
workers each route gets.

The allocation is proportional to each route's expected *work* (documents x
expected seconds), rounded with the largest-remainder method so that the
counts add up exactly: all W workers are used when there are at least W
documents, never more than W, at least one per route that has documents, and
never more workers than a route has documents. (The lesson rounded every
share down with ``int()``, which left one of its eight workers idle.) Every
decision is logged with its reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from langgraph.config import get_stream_writer
from pydantic import BaseModel, Field

from course.extraction import prompt_overhead_tokens
from course.routing import ROUTES, ProcessingRoute, analyze_document, latency_seconds, route_cost

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from course.dispatch import BatchContext
    from course.state import BatchState

SchedulingPolicy = Literal["dynamic", "static"]

# Tokens of a typical reply: {"invoice_number": "...", "vendor": "...", "date": "...", "total": ...}
EXPECTED_REPLY_TOKENS = 40


class ScalingDecision(BaseModel):
    """One logged decision about workers, with its reason."""

    action: str
    reason: str
    allocation: dict[ProcessingRoute, int] | None = None
    worker_id: str | None = None
    from_route: ProcessingRoute | None = None
    to_route: ProcessingRoute | None = None
    at_seconds: float | None = Field(default=None, description="seconds after the workers started")


class RoutePlan(BaseModel):
    """The documents of one route, longest expected first, and what they should cost."""

    route: ProcessingRoute
    document_ids: list[str] = Field(default_factory=list)
    expected_seconds: list[float] = Field(default_factory=list, description="per document, same order")
    workers: int = 0
    estimated_tokens: int = 0
    estimated_cost: float = 0.0

    @property
    def work_seconds(self) -> float:
        return sum(self.expected_seconds)


class BatchPlan(BaseModel):
    """Where every document goes, who works on what, and what it should cost."""

    workers: int
    policy: SchedulingPolicy
    routes: dict[ProcessingRoute, RoutePlan]
    estimated_cost: float
    estimated_tokens: int
    estimated_makespan_seconds: float = Field(description="at time scale 1 (the lesson's latencies)")

    @property
    def allocation(self) -> dict[ProcessingRoute, int]:
        return {route: plan.workers for route, plan in self.routes.items()}


def estimate_tokens(route: ProcessingRoute, document_tokens: int) -> int:
    """Expected prompt + completion tokens of one document on ``route``."""
    return prompt_overhead_tokens(route) + document_tokens + EXPECTED_REPLY_TOKENS


def allocate_workers(
    work_by_route: dict[ProcessingRoute, float],
    documents_by_route: dict[ProcessingRoute, int],
    total_workers: int,
) -> tuple[dict[ProcessingRoute, int], str]:
    """Share ``total_workers`` among routes in proportion to their work.

    Returns the allocation (every route, 0 for routes without documents) and
    the reason, in words. Largest-remainder rounding: each route first gets
    the whole part of its share (at least 1, at most its documents), then the
    workers left go to the largest fractional remainders.
    """
    if total_workers < 1:
        raise ValueError("total_workers must be at least 1")
    active = [route for route in ROUTES if documents_by_route.get(route, 0) > 0]
    allocation = {route: 0 for route in ROUTES}
    if not active:
        return allocation, "no documents, no workers"
    capacity = min(total_workers, sum(documents_by_route[route] for route in active))
    work = {route: max(work_by_route.get(route, 0.0), 1e-9) for route in active}
    if capacity < len(active):
        busiest = sorted(active, key=lambda route: -work[route])[:capacity]
        for route in busiest:
            allocation[route] = 1
        return allocation, (
            f"{capacity} worker(s) for {len(active)} routes: one each for the routes with the most work; "
            "the others are served by workers whose own route has drained"
        )
    total_work = sum(work.values())
    quotas = {route: capacity * work[route] / total_work for route in active}
    for route in active:
        allocation[route] = min(documents_by_route[route], max(1, int(quotas[route])))
    while sum(allocation.values()) > capacity:  # the "at least 1" floor overshot: take from the smallest remainder
        donor = min(
            (route for route in active if allocation[route] > 1), key=lambda route: quotas[route] - allocation[route]
        )
        allocation[donor] -= 1
    while sum(allocation.values()) < capacity:  # hand out the rest by largest remainder
        taker = max(
            (route for route in active if allocation[route] < documents_by_route[route]),
            key=lambda route: quotas[route] - allocation[route],
        )
        allocation[taker] += 1
    shares = ", ".join(f"{route.value} {quotas[route]:.2f}" for route in active)
    return allocation, f"{capacity} workers in proportion to expected work (shares: {shares}), largest remainder"


def make_plan(analyses: list, total_workers: int, policy: SchedulingPolicy = "dynamic") -> tuple[BatchPlan, ScalingDecision]:
    """Group analysed documents by route, estimate them, and allocate the workers."""
    routes = {route: RoutePlan(route=route) for route in ROUTES}
    jobs: dict[ProcessingRoute, list[tuple[float, str, int]]] = {route: [] for route in ROUTES}
    for analysis in analyses:
        route = analysis.recommended_route
        seconds = latency_seconds(route, analysis.estimated_tokens) if analysis.fits_route else 0.0
        jobs[route].append((seconds, analysis.document_id, estimate_tokens(route, analysis.estimated_tokens)))
    longest_job = 0.0
    for route, route_jobs in jobs.items():
        route_jobs.sort(key=lambda job: -job[0])  # longest expected first
        tokens = sum(job[2] for job in route_jobs)
        routes[route] = RoutePlan(
            route=route,
            document_ids=[job[1] for job in route_jobs],
            expected_seconds=[round(job[0], 4) for job in route_jobs],
            estimated_tokens=tokens,
            estimated_cost=route_cost(route, tokens),
        )
        longest_job = max([longest_job, *(job[0] for job in route_jobs)])
    allocation, reason = allocate_workers(
        {route: plan.work_seconds for route, plan in routes.items()},
        {route: len(plan.document_ids) for route, plan in routes.items()},
        total_workers,
    )
    for route, workers in allocation.items():
        routes[route].workers = workers
    workers_used = sum(allocation.values())
    total_work = sum(plan.work_seconds for plan in routes.values())
    plan = BatchPlan(
        workers=workers_used,
        policy=policy,
        routes=routes,
        estimated_cost=sum(plan.estimated_cost for plan in routes.values()),
        estimated_tokens=sum(plan.estimated_tokens for plan in routes.values()),
        estimated_makespan_seconds=max(total_work / max(workers_used, 1), longest_job),
    )
    return plan, ScalingDecision(action="initial_allocation", reason=reason, allocation=allocation, at_seconds=0.0)


def analyze_batch(state: BatchState) -> dict:
    """Graph node: analyze every document (a partial update: only ``analyses``)."""
    return {"analyses": {doc.id: analyze_document(doc.content, doc.id) for doc in state["documents"]}}


def plan_batch(state: BatchState, runtime: Runtime[BatchContext]) -> dict:
    """Graph node: make the plan and hand its work to the run's work queue."""
    context = runtime.context
    plan, decision = make_plan(list(state["analyses"].values()), context.workers, context.policy)
    context.work_queue.load(plan, state["documents"], state["analyses"], context.previous_results, context.skip)
    get_stream_writer()({"type": "plan", "plan": plan})
    return {"plan": plan, "scaling_decisions": [decision]}
