"""The batch run from the command line: the output contract of `python -m course run`."""

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULT_KEYS = {
    "document_id", "route", "expected_complexity", "status", "fields", "correct", "prompt_tokens",
    "completion_tokens", "cost", "attempts", "worker_id", "started_at", "finished_at", "error",
}
SUMMARY_KEYS = {"backend", "models", "workers", "scaling_decisions", "premium_only_cost", "savings_pct", "routes"}


def course(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "course", *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def batch_output(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    completed = course("run", "--docs", "200", "--time-scale", "0", "--out", str(out), "--backend", "simulated")
    assert completed.returncode == 0, completed.stderr
    return out, completed.stdout


def test_results_jsonl_has_every_document_once_with_the_contract_fields(batch_output):
    out, _ = batch_output
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 200 and len({r["document_id"] for r in records}) == 200
    for record in records:
        assert RESULT_KEYS <= set(record)
        assert record["route"] in {"fast", "balanced", "accurate", "premium"}
        assert record["expected_complexity"] in {"simple", "moderate", "complex", "very_complex"}
        assert record["status"] in {"completed", "failed"}
        assert (record["error"] is None) == (record["status"] == "completed")
        assert set(record["correct"]) == {"invoice_number", "vendor", "date", "total"}
        assert record["finished_at"] >= record["started_at"] > 1.6e9  # epoch seconds
        assert isinstance(record["prompt_tokens"], int) and record["attempts"] >= 1


def test_summary_json_has_the_contract_fields(batch_output):
    out, _ = batch_output
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["simulated"] is True and "simulated" in summary["backend"]
    assert summary["workers"] == 8 and summary["documents"] == 200
    assert set(summary["models"]) == set(summary["routes"]) == {"fast", "balanced", "accurate", "premium"}
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert summary["total_cost"] == pytest.approx(sum(r["cost"] for r in records))


def test_the_full_dashboard_png_is_written(batch_output):
    out, _ = batch_output
    png = (out / "dashboard.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert (width, height) == (1800, 1500)  # the 7-panel dashboard (18 x 15 in at 100 dpi), not the 2x2 one


def test_the_run_prints_progress_and_a_per_route_table_labelled_simulated(batch_output):
    _, stdout = batch_output
    assert "plan: fast 100 docs/2 workers" in stdout
    assert "200/200" in stdout
    assert "SIMULATED" in stdout
    for route in ("fast", "balanced", "accurate", "premium"):
        assert any(line.startswith(route) for line in stdout.splitlines())


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"id": "a", "content": "x"}\n{"id": "a", "content": "y"}\n', "duplicate id: a"),
        ('{"id": "a", "content": "x"}\nnot json\n', "line 2: not valid JSON"),
    ],
)
def test_unusable_input_exits_2_with_one_line_and_no_traceback(tmp_path, content, message):
    path = tmp_path / "in.jsonl"
    path.write_text(content)
    completed = course("run", "--input", str(path), "--out", str(tmp_path / "out"), "--backend", "simulated")
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr and len(completed.stderr.strip().splitlines()) == 1


def test_user_documents_run_and_report_accuracy_as_not_scored(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "one.txt").write_text("Invoice #77 from Acme Ltd. - Total: $5.00 - Date: 2024-02-01")
    (folder / "empty.md").write_text("   ")
    completed = course("run", "--input", str(folder), "--time-scale", "0", "--out", str(tmp_path / "out"), "--backend", "simulated")
    assert completed.returncode == 0, completed.stderr
    records = {r["document_id"]: r for r in map(json.loads, (tmp_path / "out" / "results.jsonl").read_text().splitlines())}
    assert records["one"]["status"] == "completed" and records["one"]["correct"] is None
    assert records["one"]["expected_complexity"] is None
    assert records["empty"]["status"] == "failed" and "empty document" in records["empty"]["error"]
    assert "not scored" in completed.stdout
