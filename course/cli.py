"""The command line: ``python -m course run`` processes a batch end to end.

It generates (``--docs N``) or loads (``--input PATH``) the documents, runs
them through the graph with live progress, prints the per-route table and
writes ``results.jsonl``, ``summary.json`` and ``dashboard.png`` to ``--out``.
It exits 0 when the batch finished, even with failed documents, and 2 with a
one-line reason when the input or the configuration cannot be used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course.aggregation import format_summary
from course.config import ConfigError, describe_check, load_settings, make_backend
from course.documents import InputError, generate_batch, load_documents
from course.graph import ResumeError, new_batch_id, resume_batch, run_batch, saved_plan
from course.progress import TerminalProgress

CHECKPOINTS = "checkpoints.sqlite"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course", description="Route and batch-process documents with LLMs.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="process a batch and write results, summary and dashboard")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--docs", type=_positive, default=200, help="generate a batch of N invoices (default 200)")
    source.add_argument("--input", type=Path, help="a folder of .txt/.md files or a .jsonl file of {id, content}")
    source.add_argument("--resume", metavar="ID", help="continue the interrupted batch ID (use the same --out)")
    run.add_argument("--seed", type=int, default=42, help="seed of the generated batch and the simulation (default 42)")
    run.add_argument("--workers", type=_positive, help="parallel workers (default BATCH_WORKERS or 8)")
    run.add_argument(
        "--backend",
        choices=["auto", "simulated", "ollama", "openai", "local"],
        help="LLM backend (default LLM_BACKEND or auto: a configured server, else simulated)",
    )
    run.add_argument("--time-scale", type=_non_negative, help="simulated latency x this (0 = no waiting; default 0.1)")
    run.add_argument("--policy", choices=["dynamic", "static"], default="dynamic", help="how workers share the work")
    run.add_argument("--no-quality-gate", action="store_true", help="accept answers the document does not support")
    run.add_argument("--no-escalation", action="store_true", help="fail refused answers instead of trying the next route")
    run.add_argument("--batch-id", help="a name for this batch (default: a new id, printed first)")
    run.add_argument("--no-checkpoint", action="store_true",
                     help="no checkpoints: faster and lighter on huge batches, but an interrupted batch starts over")
    run.add_argument("--out", type=Path, default=Path("runs/latest"), help="output folder (default runs/latest)")
    check = commands.add_parser("check", help="is the LLM server reachable, is the token accepted, are the models there?")
    check.add_argument("--backend", choices=["auto", "simulated", "ollama", "openai", "local"])
    return parser


def check_command(args: argparse.Namespace) -> int:
    settings = load_settings()
    backend = make_backend(settings, args.backend or settings.llm_backend)
    try:
        report = backend.check()
        print(describe_check(backend, report))
    finally:
        backend.close()
    return 0 if report is None or report.ok else 2


def run_command(args: argparse.Namespace) -> int:
    settings = load_settings()
    batch_id = args.resume or args.batch_id or new_batch_id()
    out = args.out
    if args.no_checkpoint and args.resume:
        raise ConfigError("--resume needs the checkpoints of the first run: leave out --no-checkpoint")
    if args.no_checkpoint:
        print(f"batch ID: {batch_id}  (no checkpoints: an interrupted batch cannot be resumed)", flush=True)
    else:
        print(f"batch ID: {batch_id}  (after an interruption: python -m course run --resume {batch_id} --out {out})", flush=True)
    documents = None
    if not args.resume:
        documents = load_documents(args.input) if args.input else generate_batch(args.docs, seed=args.seed)
    # A resumed batch keeps its plan's workers; the connection pool is sized for them.
    planned = saved_plan(batch_id, out / CHECKPOINTS) if args.resume else None
    backend = make_backend(
        settings, args.backend or settings.llm_backend, time_scale=args.time_scale, seed=args.seed,
        workers=planned.workers if planned else args.workers,
    )
    # The local server decodes two requests at a time on a laptop; more workers would only queue.
    workers = planned.workers if planned else args.workers or (2 if backend.name == "local" else settings.batch_workers)
    if warning := getattr(backend, "warning", None):
        print(warning, file=sys.stderr)
    report = backend.check()
    if report is not None and not report.ok:
        backend.close()
        raise ConfigError(report.problem)
    size = "the rest of the batch" if documents is None else f"{len(documents)} documents"
    print(f"{size}, {workers} workers, backend: {backend.label}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    progress = TerminalProgress()
    options = dict(
        results_path=out / "results.jsonl", on_event=progress, quality_gate=not args.no_quality_gate,
        escalate=not args.no_escalation,
    )
    try:
        if documents is None:
            run = resume_batch(batch_id, out / CHECKPOINTS, backend, **options)
        else:
            run = run_batch(
                documents, backend, workers=workers, policy=args.policy, batch_id=batch_id,
                checkpoint_path=None if args.no_checkpoint else out / CHECKPOINTS, **options,
            )
    finally:
        progress.close()
        backend.close()
    (out / "summary.json").write_text(run.summary.model_dump_json(indent=2) + "\n", encoding="utf-8")
    from course.dashboard import save_dashboard

    save_dashboard(run.summary, out / "dashboard.png", results=run.results)
    print(format_summary(run.summary))
    if run.resumed:
        print(f"resumed: {run.resumed} documents were already done before the interruption and were not sent again")
    print(f"wrote {out / 'results.jsonl'}, {out / 'summary.json'}, {out / 'dashboard.png'}")
    if run.summary.stopped:
        not_sent = sum(1 for r in run.results if r.error and r.error.startswith("not processed"))
        print(f"error: {run.summary.stopped}; {not_sent} documents were not sent (each recorded as failed)."
              " Fix the token, then run the batch again with a new --batch-id.", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_command(args) if args.command == "run" else check_command(args)
    except (InputError, ConfigError, ResumeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        resume = f" - continue with: python -m course run --resume {args.resume or args.batch_id or '<ID above>'} --out {args.out}" if args.command == "run" else ""
        if getattr(args, "no_checkpoint", False):
            resume = " - it ran without checkpoints: run it again to start over"
        print(f"interrupted{resume}", file=sys.stderr)
        return 130
