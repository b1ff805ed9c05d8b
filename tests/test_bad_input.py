"""Bad input: whole-batch problems are refused before any LLM call; per-document problems fail alone."""

import json
import os

import pytest
from fakes import ScriptedBackend

from course.documents import INVALID_UTF8, InputError, load_documents
from course.graph import run_batch

GOOD = '{"invoice_number": "A-1", "vendor": "Acme Ltd.", "date": "2024-01-02", "total": 12.5}'
TEXT = "Invoice #A-1 from Acme Ltd. - Total: $12.50 - Date: 2024-01-02"


@pytest.mark.parametrize(
    "records, message",
    [
        ([{"id": "a", "content": b"bytes, not text"}], "content is not text: a (bytes)"),
        ([{"id": "a", "content": 42}], "content is not text: a (int)"),
        ([{"id": "a", "content": None}], "content is not text: a (missing)"),
        ([{"content": TEXT}], "missing or empty id: record 1"),
        ([{"id": "  ", "content": TEXT}], "missing or empty id: record 1"),
        ([{"id": "a", "content": TEXT}, {"id": "a", "content": TEXT}], "duplicate id: a (record 1 and record 2)"),
        ([], "no documents"),
    ],
)
def test_whole_batch_problems_are_refused_before_any_llm_call(records, message):
    backend = ScriptedBackend([GOOD])
    with pytest.raises(InputError) as error:
        run_batch(records, backend)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert backend.calls == []


def test_every_offender_is_named_in_the_one_line(tmp_path):
    records = [{"id": "ok", "content": TEXT}, {"id": "n", "content": 7}, {"id": "", "content": TEXT}]
    with pytest.raises(InputError, match=r"content is not text: n \(int\); missing or empty id: record 3"):
        run_batch(records, ScriptedBackend([GOOD]))


def test_an_unreadable_input_file_is_a_clear_error(tmp_path):
    loop = tmp_path / "loop.jsonl"
    os.symlink(loop, loop)  # a file no one can read, even root
    with pytest.raises(InputError, match="cannot read .*loop.jsonl"):
        load_documents(loop)


def test_malformed_jsonl_names_the_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"id": "a", "content": TEXT}) + "\n\n{oops\n")
    with pytest.raises(InputError, match="line 3: not valid JSON"):
        load_documents(path)


def test_per_document_problems_fail_alone_and_the_batch_goes_on():
    records = [
        {"id": "good", "content": TEXT},
        {"id": "empty", "content": ""},
        {"id": "blank", "content": " \n\t "},
        {"id": "huge", "content": "word " * 20_000},
    ]
    backend = ScriptedBackend([GOOD])
    run = run_batch(records, backend, workers=2)
    by_id = {r.document_id: r for r in run.results}
    assert by_id["good"].status == "completed"
    assert "empty document" in by_id["empty"].error and "empty document" in by_id["blank"].error
    assert "too large for every route" in by_id["huge"].error
    assert len(backend.calls) == 1  # only the good document was sent


def test_control_characters_are_removed_and_the_result_says_so():
    run = run_batch([{"id": "c", "content": "Invoice #A-1\x00 from Acme Ltd.\x07 - Total: $12.50 - Date: 2024-01-02"}],
                    ScriptedBackend([GOOD]))
    result = run.results[0]
    assert result.status == "completed" and result.warnings == ["removed 2 control character(s)"]


def test_invalid_utf8_in_a_file_is_replaced_and_the_result_says_so(tmp_path):
    (tmp_path / "latin1.txt").write_bytes(TEXT.encode() + b" Caf\xe9")
    documents = load_documents(tmp_path)
    assert documents[0].warnings == [INVALID_UTF8]
    run = run_batch(documents, ScriptedBackend([GOOD]))
    assert run.results[0].warnings == [INVALID_UTF8] and run.results[0].status == "completed"


def test_invalid_utf8_on_one_jsonl_line_only_marks_that_document(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"id": "a", "content": "fine"}\n{"id": "b", "content": "caf\xe9"}\n')
    warnings = {d.id: d.warnings for d in load_documents(path)}
    assert warnings == {"a": [], "b": [INVALID_UTF8]}
