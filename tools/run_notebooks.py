"""Run solution notebooks top to bottom and save them with their outputs (what nbval compares).

    .venv/bin/python tools/run_notebooks.py                 # every notebook in solutions/
    .venv/bin/python tools/run_notebooks.py solutions/03_planning.ipynb

Run this after changing a solution notebook or the `course` package, then
regenerate the learner notebooks (tools/make_learner_notebooks.py). Outputs
are deterministic on the simulated backend: the kit is seeded throughout.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def run(path: Path, timeout: int = 600) -> float:
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", record_timing=False,  # no timestamps: diffs show real changes
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    nbformat.write(notebook, path)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    # The saved outputs are the offline course: never record a run against a configured server.
    os.environ["LLM_BACKEND"] = "simulated"
    for path in args.paths or sorted((ROOT / "solutions").glob("*.ipynb")):
        print(f"{path.name}: {run(path):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
