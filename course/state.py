"""Step 02 - the batch state and its reducers.

What this step teaches: the state of a LangGraph graph is a ``TypedDict``, and
each node returns a *partial update* (a dict with only the keys it changes);
it never mutates the state it was given.

Most fields are written once by one node (``analyses`` by the analyzer,
``plan`` by the planner, ``summary`` by the aggregator). Two are written by
many workers *in the same step*: ``results`` and ``scaling_decisions``. A
plain field accepts one write per step; a second parallel write raises
``InvalidUpdateError``. Annotating the field with a reducer
(``Annotated[list, operator.add]``) tells LangGraph to combine the writes, so
eight workers returning eight lists end up as one list.

There is no counter that someone has to remember to update (the lesson's
state had ``completed_documents`` and ``worker_utilization`` fields that
stayed at zero): counts, costs and rates are computed from ``results`` by the
aggregator.
"""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from course.aggregation import BatchSummary
from course.documents import Document
from course.planning import BatchPlan, ScalingDecision
from course.results import DocumentResult
from course.routing import DocumentAnalysis


class BatchState(TypedDict, total=False):
    """Everything the graph knows about one batch."""

    batch_id: str  # input
    documents: list[Document]  # input
    analyses: dict[str, DocumentAnalysis]  # written by analyze_batch
    plan: BatchPlan  # written by plan_batch
    results: Annotated[list[DocumentResult], operator.add]  # every route worker adds its results
    scaling_decisions: Annotated[list[ScalingDecision], operator.add]  # planner and workers add decisions
    summary: BatchSummary  # written by aggregate_results


def create_batch_state(documents: list[Document], batch_id: str) -> BatchState:
    """The input of a batch run: only what is known before the graph starts."""
    return BatchState(batch_id=batch_id, documents=list(documents))
