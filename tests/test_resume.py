"""Interruption and resume: a real SIGKILL (and a Ctrl-C) mid-batch, then --resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from llm_test_server import LLMTestServer, document_sha256

from course.documents import generate_batch
from course.graph import ResumeError, resume_batch, run_batch
from course.llm import SimulatedBackend

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "resume-test-token-8d2f"


def _env(server):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA", "OPENAI", "LLM_"))}
    env.update(OLLAMA_URL=server.url, OLLAMA_API_TOKEN=TOKEN)
    return env


def _records(path):
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # a line cut short by the kill
    return records


def _interrupt_and_resume(tmp_path, stop_signal):
    out = tmp_path / "out"
    with LLMTestServer(token=TOKEN, latency=0.05) as server:
        command = [sys.executable, "-m", "course", "run", "--docs", "80", "--workers", "4", "--out", str(out),
                   "--batch-id", "interrupted"]
        process = subprocess.Popen(command, cwd=tmp_path, env=_env(server), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        results = out / "results.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not results.exists() or len(_records(results)) < 25):
            time.sleep(0.02)
        process.send_signal(stop_signal)
        process.communicate(timeout=60)
        assert process.returncode == (-signal.SIGKILL if stop_signal == signal.SIGKILL else 130)
        done_before = {r["document_id"] for r in _records(results)}  # all it finished, up to its last moment
        assert 25 <= len(done_before) < 80, "the batch was interrupted in the middle"
        documents = {d.id: d for d in generate_batch(80, seed=42)}
        resume_started = time.time()
        resumed = subprocess.run(command[:4] + ["--resume", "interrupted", "--out", str(out), "--workers", "4"],
                                 cwd=tmp_path, env=_env(server), capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        final = _records(results)
        ids = [r["document_id"] for r in final]
        assert sorted(ids) == sorted(documents)  # every document exactly once
        asked_after = {rec.document_sha256 for rec in server.chat_requests() if rec.time >= resume_started}
        redone = [doc_id for doc_id in done_before if document_sha256(documents[doc_id].content) in asked_after]
        assert redone == [], f"documents completed before the interruption were sent again: {redone}"
        left = {document_sha256(d.content) for doc_id, d in documents.items() if doc_id not in done_before}
        assert left <= asked_after, "the resumed run sent every document that was not done"
        summary = json.loads((out / "summary.json").read_text())
        assert summary["documents"] == 80 and summary["completed"] + summary["failed"] == 80
        return resumed.stdout


def test_sigkill_mid_batch_then_resume_redoes_nothing_that_was_done(tmp_path):
    stdout = _interrupt_and_resume(tmp_path, signal.SIGKILL)
    assert "resumed:" in stdout


def test_ctrl_c_stops_sending_work_and_resume_finishes_the_batch(tmp_path):
    _interrupt_and_resume(tmp_path, signal.SIGINT)


def test_resuming_a_finished_batch_does_nothing(tmp_path):
    documents = generate_batch(20)
    first = run_batch(documents, SimulatedBackend(time_scale=0), batch_id="b", checkpoint_path=tmp_path / "c.sqlite")
    again = resume_batch("b", tmp_path / "c.sqlite", SimulatedBackend(time_scale=0))
    assert again.summary == first.summary


def test_an_unknown_batch_or_a_reused_id_is_a_clear_error(tmp_path):
    run_batch(generate_batch(5), SimulatedBackend(time_scale=0), batch_id="b", checkpoint_path=tmp_path / "c.sqlite")
    with pytest.raises(ResumeError, match="no batch 'other'"):
        resume_batch("other", tmp_path / "c.sqlite")
    with pytest.raises(ResumeError, match="already exists"):
        run_batch(generate_batch(5), SimulatedBackend(time_scale=0), batch_id="b", checkpoint_path=tmp_path / "c.sqlite")
    with pytest.raises(ResumeError, match="no checkpoints"):
        resume_batch("b", tmp_path / "missing.sqlite")


def test_cli_prints_the_batch_id_first(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "course", "run", "--docs", "5", "--time-scale", "0", "--out",
                                str(tmp_path / "o"), "--backend", "simulated"], cwd=tmp_path, capture_output=True, text=True)
    first = completed.stdout.splitlines()[0]
    assert first.startswith("batch ID: batch-") and "--resume" in first


def test_cli_without_checkpoints_writes_none_and_says_resume_is_not_possible(tmp_path):
    out = tmp_path / "o"
    command = [sys.executable, "-m", "course", "run", "--docs", "20", "--time-scale", "0", "--out", str(out),
               "--backend", "simulated", "--no-checkpoint", "--batch-id", "light"]
    completed = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert "cannot be resumed" in completed.stdout.splitlines()[0]
    assert not (out / "checkpoints.sqlite").exists() and len((out / "results.jsonl").read_text().splitlines()) == 20
    resume = [sys.executable, "-m", "course", "run", "--resume", "light", "--out", str(out), "--no-checkpoint"]
    refused = subprocess.run(resume, cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode == 2 and "leave out --no-checkpoint" in refused.stderr


def test_checkpoints_store_each_value_once_not_at_every_step(tmp_path):
    documents = generate_batch(30, seed=4)
    run_batch(documents, SimulatedBackend(time_scale=0), workers=3, batch_id="b", checkpoint_path=tmp_path / "c.sqlite")
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("c.sqlite*"))
    for document in documents[:5]:
        # the graph's input, its pending write, the state's documents; a full copy per step would add five more
        assert stored.count(document.content.encode()) <= 3
    again = resume_batch("b", tmp_path / "c.sqlite", SimulatedBackend(time_scale=0))
    assert [d.id for d in again.state["documents"]] == [d.id for d in documents]  # and it all comes back
