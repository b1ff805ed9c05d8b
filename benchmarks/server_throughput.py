"""Throughput against a real HTTP server on loopback with 100 ms per request.

Starts the test server (tests/llm_test_server.py) in its own process with a
fixed latency, runs batches through the Ollama backend at W = 1, 8 and 32
workers, and reports documents per second as a ratio to the ideal W / latency.
A connection pool smaller than the worker count, or a lock around the session,
shows up here as a ratio well below 1.

    .venv/bin/python benchmarks/server_throughput.py [--latency 0.1] [--per-worker 25]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course.documents import generate_batch  # noqa: E402
from course.graph import run_batch  # noqa: E402
from course.routing import ProcessingRoute  # noqa: E402
from course.servers import OllamaBackend  # noqa: E402


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "llm_test_server.py"), "--port", "0", "--token", "bench",
         "--latency", str(latency), "--quiet"],
        stdout=subprocess.PIPE, text=True,
    )
    line = server.stdout.readline().strip()
    if not line.startswith("READY "):
        server.kill()
        raise RuntimeError(f"test server did not start: {line!r}")
    return server, line.split()[1]


def measure(url: str, workers: int, documents: int, latency: float) -> dict:
    backend = OllamaBackend(url, "bench", dict.fromkeys(ProcessingRoute, "qwen3:8b"), workers=workers)
    try:
        run = run_batch(generate_batch(documents, seed=workers), backend, workers=workers)
    finally:
        backend.close()
    completed = sum(r.status == "completed" for r in run.results)
    makespan = run.summary.makespan_seconds
    rate = documents / makespan
    ideal = workers / latency
    return {"workers": workers, "documents": documents, "completed": completed, "seconds": makespan,
            "docs_per_second": rate, "ideal": ideal, "ratio": rate / ideal}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--per-worker", type=int, default=25, help="documents per worker (default 25)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()
    server, url = start_server(args.latency)
    try:
        rows = [measure(url, w, w * args.per_worker, args.latency) for w in args.workers]
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"Throughput against the loopback test server, {args.latency * 1000:.0f} ms per request\n")
    print("| workers | documents | completed | seconds | docs/s | ideal docs/s | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['workers']} | {row['documents']} | {row['completed']} | {row['seconds']:.2f} | "
              f"{row['docs_per_second']:.1f} | {row['ideal']:.0f} | {row['ratio']:.2f} |")
    ok = all(row["completed"] == row["documents"] for row in rows) and all(
        row["ratio"] >= 0.9 for row in rows if row["workers"] >= 8
    )
    print("\n" + ("PASS" if ok else "FAIL") + ": ratio >= 0.9 at W = 8 and W = 32, every document completed")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
