"""The quality gate and the escalation cascade."""

import datetime as dt

import pytest

from course.documents import generate_batch, with_injection
from course.extraction import InvoiceFields
from course.graph import run_batch
from course.llm import SimulatedBackend
from course.quality import amounts_in_text, check_extraction, dates_in_text

TEXT = "Invoice #INV-7 from Acme Ltd. Subtotal: $1,000.00 Tax: 80.00 Total: $1,080.00 Date: 3 Feb 2024 (due 04/03/2024)"


def test_ground_truth_always_passes_the_gate():
    for document in generate_batch(500, seed=8):
        assert check_extraction(document.truth.fields, document.content) == [], document.id


def test_amounts_and_dates_are_read_as_printed():
    assert amounts_in_text(TEXT) == {1000.0, 80.0, 1080.0}
    assert {dt.date(2024, 2, 3), dt.date(2024, 3, 4), dt.date(2024, 4, 3)} <= dates_in_text(TEXT)


@pytest.mark.parametrize(
    "fields, problem",
    [
        (InvoiceFields(total=0), "total 0 is not a plausible amount due"),
        (InvoiceFields(total=999.99), "total 999.99 is not an amount in the document"),
        (InvoiceFields(invoice_number="INV-8"), "invoice number 'INV-8' does not appear"),
        (InvoiceFields(vendor="Globex Corp."), "vendor 'Globex Corp.' does not appear"),
        (InvoiceFields(date=dt.date(2024, 2, 4)), "date 2024-02-04 does not appear"),
    ],
)
def test_values_the_document_does_not_support_are_refused(fields, problem):
    assert any(problem in found for found in check_extraction(fields, TEXT))


def test_values_the_document_supports_pass_in_any_spelling():
    fields = InvoiceFields(invoice_number="inv7", vendor="ACME LTD", date="2024-02-03", total="1080")
    assert check_extraction(fields, TEXT) == []


def test_a_total_is_not_found_inside_a_longer_amount():
    text = "Widget $12.50\nTotal: $1,012.50"
    assert "total 2.50 is not an amount in the document" in check_extraction(InvoiceFields(total=2.5), text)
    assert check_extraction(InvoiceFields(total=12.5), text) == []
    assert check_extraction(InvoiceFields(total=1012.5), text) == []


def test_a_plausible_wrong_amount_gets_through_the_gate():
    """The gate is not ground truth: picking the subtotal is an error it cannot see."""
    assert check_extraction(InvoiceFields(total=1000.0), TEXT) == []


@pytest.fixture(scope="module")
def injected_batch():
    return [with_injection(d) for d in generate_batch(60, seed=1)]


def test_prompt_injection_without_the_gate_yields_unsupported_totals(injected_batch):
    run = run_batch(injected_batch, SimulatedBackend(time_scale=0), quality_gate=False)
    assert any(r.fields.total == 0 for r in run.results)


def test_the_gate_stops_injected_totals_and_escalation_recovers_the_documents(injected_batch):
    refused = run_batch(injected_batch, SimulatedBackend(time_scale=0), escalate=False)
    assert not any(r.fields and r.fields.total == 0 for r in refused.results)
    assert refused.summary.failed > 0 and all("quality gate" in r.error for r in refused.results if r.error)
    cascade = run_batch(injected_batch, SimulatedBackend(time_scale=0))
    assert not any(r.fields and r.fields.total == 0 for r in cascade.results)
    assert cascade.summary.document_accuracy > refused.summary.document_accuracy
    assert cascade.summary.escalated_documents > 0 and cascade.summary.escalation_cost > 0
    assert cascade.summary.total_cost > refused.summary.total_cost


def test_escalation_cost_is_the_spend_above_each_documents_own_route(injected_batch):
    run = run_batch(injected_batch, SimulatedBackend(time_scale=0))
    above = sum(a.cost for r in run.results for a in r.route_attempts if a.route != r.route)
    assert run.summary.escalation_cost == pytest.approx(above)
    assert run.summary.total_cost == pytest.approx(sum(a.cost for r in run.results for a in r.route_attempts))
