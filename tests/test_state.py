"""Step 02: the batch state, reducers, and nodes that return partial updates."""

import copy
import operator
from typing import Annotated, TypedDict, get_type_hints

import pytest
from langgraph.errors import InvalidUpdateError
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from course.documents import generate_batch
from course.graph import run_batch
from course.llm import SimulatedBackend
from course.planning import analyze_batch
from course.state import BatchState, create_batch_state


def _fan_out_graph(state_type):
    def worker(task):
        return {"results": [task["n"] * 10]}

    graph = StateGraph(state_type)
    graph.add_node("start", lambda state: {})
    graph.add_node("worker", worker)
    graph.add_edge(START, "start")
    graph.add_conditional_edges("start", lambda state: [Send("worker", {"n": n}) for n in (1, 2, 3)], ["worker"])
    graph.add_edge("worker", END)
    return graph.compile()


def test_parallel_writes_to_a_plain_field_are_refused():
    class PlainState(TypedDict, total=False):
        results: list

    with pytest.raises(InvalidUpdateError, match="Can receive only one value per step"):
        _fan_out_graph(PlainState).invoke({"results": []})


def test_a_reducer_field_adds_up_parallel_writes():
    class ReducedState(TypedDict, total=False):
        results: Annotated[list, operator.add]

    assert sorted(_fan_out_graph(ReducedState).invoke({"results": []})["results"]) == [10, 20, 30]


def test_batch_state_declares_reducers_for_the_fields_workers_write():
    hints = get_type_hints(BatchState, include_extras=True)
    reduced = {name for name, hint in hints.items() if getattr(hint, "__metadata__", None) == (operator.add,)}
    assert reduced == {"results", "scaling_decisions"}


def test_the_input_state_holds_only_what_is_known_before_the_run():
    documents = generate_batch(3)
    assert create_batch_state(documents, "b") == {"batch_id": "b", "documents": documents}


def test_analyze_node_returns_a_partial_update_and_leaves_its_input_alone():
    state = create_batch_state(generate_batch(10), "b")
    before = copy.deepcopy(state)
    update = analyze_batch(state)
    assert set(update) == {"analyses"} and len(update["analyses"]) == 10
    assert state == before


def test_a_whole_run_does_not_mutate_the_documents_it_was_given():
    documents = generate_batch(30)
    before = copy.deepcopy(documents)
    run_batch(documents, SimulatedBackend(time_scale=0), workers=4)
    assert documents == before


def test_no_state_field_stays_empty_after_a_run():
    run = run_batch(generate_batch(40), SimulatedBackend(time_scale=0), workers=4)
    for name in BatchState.__annotations__:
        assert run.state.get(name), f"{name} is empty after a run"
