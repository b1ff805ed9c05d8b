"""Run every benchmark, one after the other, and end with one PASS/FAIL line each.

    .venv/bin/python benchmarks/run_all.py        # about 5 minutes on 2 cores

Each benchmark prints its own table (the README's performance section holds the
measured ones); run them on an otherwise idle machine, because they measure time.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["makespan.py", "engine_overhead.py", "server_throughput.py"]


def main() -> int:
    outcomes = []
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        returncode = subprocess.run([sys.executable, str(HERE / name)], check=False).returncode
        outcomes.append((name, returncode, time.perf_counter() - started))
    print("\n=== all benchmarks ===")
    for name, returncode, seconds in outcomes:
        print(f"{'PASS' if returncode == 0 else 'FAIL'}  {name}  ({seconds:.0f} s)")
    return 0 if all(returncode == 0 for _, returncode, _ in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
