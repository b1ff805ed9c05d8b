"""The generated batch and loading user documents."""

import re

import pytest

from course.documents import (
    DEFAULT_MIX,
    Document,
    InputError,
    check_documents,
    generate_batch,
    load_documents,
    mix_counts,
)
from course.extraction import score_fields
from course.invoice_reader import read_invoice
from course.routing import DocumentComplexity


def test_the_same_seed_gives_the_same_batch_and_another_seed_another():
    assert generate_batch(50, seed=5) == generate_batch(50, seed=5)
    assert generate_batch(50, seed=5) != generate_batch(50, seed=6)


def test_default_mix_is_the_lessons_50_30_20_with_a_very_complex_share():
    counts = mix_counts(200, DEFAULT_MIX)
    assert counts == {
        DocumentComplexity.SIMPLE: 100,
        DocumentComplexity.MODERATE: 60,
        DocumentComplexity.COMPLEX: 30,
        DocumentComplexity.VERY_COMPLEX: 10,
    }
    documents = generate_batch(200)
    assert {level: sum(d.truth.complexity is level for d in documents) for level in DocumentComplexity} == counts


def test_mix_counts_always_add_up():
    for total in (0, 1, 3, 7, 999):
        assert sum(mix_counts(total, DEFAULT_MIX).values()) == total


def test_ids_are_unique_and_every_document_has_ground_truth():
    documents = generate_batch(300)
    assert len({d.id for d in documents}) == 300
    assert all(d.truth is not None for d in documents)


def test_ground_truth_is_really_in_the_text():
    """A careful reader recovers every field: the truth is what the document says."""
    for document in generate_batch(400, seed=11):
        assert all(score_fields(read_invoice(document.content), document.truth.fields).values()), document.content


def _amount(text, label):
    match = re.search(rf"{label}: \$([\d,]+\.\d\d)", text)
    return float(match.group(1).replace(",", ""))


def test_the_arithmetic_of_the_complex_invoices_adds_up():
    complex_docs = [d for d in generate_batch(200, seed=2) if d.truth.complexity is DocumentComplexity.COMPLEX]
    for document in complex_docs:
        text = document.content
        pretax, vat = _amount(text, "Total before tax"), _amount(text, r"VAT \(20%\)")
        assert pretax + vat == pytest.approx(document.truth.fields.total, abs=0.011)


def test_very_complex_documents_are_multi_page_or_noisy_scans_with_handwriting():
    very = [d for d in generate_batch(200, seed=4) if d.truth.complexity is DocumentComplexity.VERY_COMPLEX]
    assert very
    for document in very:
        assert "handwritten" in document.content
        assert "Page 1 of 2" in document.content or "FAX COPY" in document.content


def test_load_a_folder_of_text_and_markdown_files(tmp_path):
    (tmp_path / "a.txt").write_text("Invoice #1 from Acme Ltd. - Total: $5.00", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("# Receipt\nTotal: $7.00", encoding="utf-8")
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
    documents = load_documents(tmp_path)
    assert [d.id for d in documents] == ["a", "sub/b"]
    assert all(d.truth is None for d in documents)


def test_invalid_utf8_in_a_file_is_decoded_with_replacement(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"Total: $5.00 \xff\xfe")
    assert "\ufffd" in load_documents(tmp_path)[0].content


def test_load_a_jsonl_file(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "x", "content": "Invoice #9"}\n\n{"id": "y", "content": "Receipt #3"}\n', encoding="utf-8")
    assert [(d.id, d.content) for d in load_documents(path)] == [("x", "Invoice #9"), ("y", "Receipt #3")]


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"id": "a", "content": "x"}', "{not json"], r"line 2: not valid JSON"),
        (['{"id": "a", "content": "x"}', '{"id": "a", "content": "y"}'], r"duplicate id: a \(line 1 and line 2\)"),
        (['{"content": "x"}'], r"missing or empty id: line 1"),
        (['{"id": "", "content": "x"}'], r"missing or empty id: line 1"),
        (['{"id": "n", "content": 42}'], r"content is not text: n \(int\)"),
        (['{"id": "m"}'], r"content is not text: m \(missing\)"),
        (['[1, 2]'], r"not an object: line 1"),
    ],
)
def test_bad_jsonl_is_refused_with_one_line_naming_the_problem(tmp_path, lines, message):
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message) as error:
        load_documents(path)
    assert "\n" not in str(error.value)


def test_missing_and_unsupported_inputs_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_documents(tmp_path / "nope.jsonl")
    (tmp_path / "data.csv").write_text("a,b", encoding="utf-8")
    with pytest.raises(InputError, match="expected a folder"):
        load_documents(tmp_path / "data.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .txt or .md files"):
        load_documents(tmp_path / "empty")


def test_check_documents_names_every_offender_in_one_line():
    records = [{"id": "a", "content": "x"}, {"id": "b", "content": None}, {"id": "a", "content": "z"}, "junk"]
    with pytest.raises(InputError) as error:
        check_documents(records)
    message = str(error.value)
    assert "b (missing)" in message and "duplicate id: a" in message and "not an object: record 4" in message


def test_check_documents_accepts_documents_and_keeps_empty_content():
    documents = check_documents([Document(id="a", content=""), {"id": "b", "content": "text"}])
    assert [d.id for d in documents] == ["a", "b"]
