"""Makespan ratio: how close each scheduling policy gets to the best possible batch time.

For N = 20, 200 and 2,000 documents, 10 seeds each, W = 8 workers, the batch
runs for real (threads, sleeping simulated latencies at a small time scale)
under the dynamic and the static policy. From the ``started_at``/``finished_at``
of every record in ``results.jsonl``:

    ratio = makespan / max(sum of document times / W, longest document time)

1.00 means no worker was ever idle while work was waiting. Targets: dynamic
<= 1.03 median at N = 200, and better than static on every seed.

    .venv/bin/python benchmarks/makespan.py [--seeds 10] [--sizes 20 200 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course.documents import generate_batch  # noqa: E402
from course.graph import run_batch  # noqa: E402
from course.llm import SimulatedBackend  # noqa: E402

# Small enough to finish quickly, large enough that a thread's scheduling jitter is noise.
TIME_SCALE = {20: 0.1, 200: 0.05, 2000: 0.01}


def ratio_from_results(path: Path, workers: int) -> float:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    durations = [r["finished_at"] - r["started_at"] for r in records]
    makespan = max(r["finished_at"] for r in records) - min(r["started_at"] for r in records)
    return makespan / max(sum(durations) / workers, max(durations))


def measure(size: int, seed: int, policy: str, workers: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "results.jsonl"
        backend = SimulatedBackend(seed=seed, time_scale=TIME_SCALE.get(size, 0.01))
        run_batch(generate_batch(size, seed=seed), backend, workers=workers, policy=policy, results_path=path)
        return ratio_from_results(path, workers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 200, 2000])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    print(f"Makespan / lower bound, {args.workers} workers, {args.seeds} seeds, measured from results.jsonl\n")
    print("| documents | policy | median | min | max | dynamic better on |")
    print("|---:|---|---:|---:|---:|---:|")
    ok = True
    for size in args.sizes:
        ratios = {policy: [measure(size, seed, policy, args.workers) for seed in range(args.seeds)]
                  for policy in ("dynamic", "static")}
        better = sum(d < s for d, s in zip(ratios["dynamic"], ratios["static"]))
        for policy, values in ratios.items():
            won = f"{better}/{args.seeds} seeds" if policy == "dynamic" else ""
            print(f"| {size:,} | {policy} | {statistics.median(values):.3f} | {min(values):.3f} | {max(values):.3f} | {won} |")
        if size == 200:
            ok &= statistics.median(ratios["dynamic"]) <= 1.03 and better == args.seeds
    print("\n" + ("PASS" if ok else "FAIL") + ": dynamic <= 1.03 median at N = 200 and better than static on every seed")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
