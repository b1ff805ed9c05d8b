"""Generate the learner notebooks (notebooks/) from the instructor solutions (solutions/).

    .venv/bin/python tools/make_learner_notebooks.py            # write notebooks/ from solutions/
    .venv/bin/python tools/make_learner_notebooks.py --check    # exit 1 if notebooks/ is out of date
    .venv/bin/python tools/make_learner_notebooks.py 03_planning.ipynb   # just one (reset a learner notebook)

In a solution notebook, the code between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` becomes a stub that raises ``NotImplementedError`` with
the hint given on a ``### HINT: ...`` line inside the region (indentation is
kept, so a solution inside a function body becomes that function's stub).
Outputs and execution counts are cleared. Everything else is copied as is.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS, LEARNER = ROOT / "solutions", ROOT / "notebooks"
BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### HINT:"
_REGION = re.compile(rf"^([ \t]*){re.escape(BEGIN)}[^\n]*\n(.*?)^[ \t]*{re.escape(END)}[^\n]*(\n|$)", re.DOTALL | re.MULTILINE)


def stub_source(source: str) -> str:
    """Replace every solution region in a code cell with a stub that raises NotImplementedError."""

    def stub(match: re.Match) -> str:
        indent, body, newline = match.group(1), match.group(2), match.group(3)
        hints = [line.strip()[len(HINT):].strip() for line in body.splitlines() if line.strip().startswith(HINT)]
        hint = " ".join(hints) or "see the markdown above"
        return f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError({('Hint: ' + hint)!r}){newline}"

    if BEGIN not in source:
        return source
    stubbed = _REGION.sub(stub, source)
    if BEGIN in stubbed or END in stubbed:
        raise ValueError(f"unbalanced {BEGIN} / {END} in:\n{source}")
    return stubbed


def learner_version(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    notebook = nbformat.from_dict(solution)
    notebook.metadata.pop("widgets", None)  # saved widget state belongs to outputs the learner has not made yet
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell.source = stub_source(cell.source)
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)  # the solution run's timestamps
    return notebook


def render(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="solution notebook file names (default: all)")
    parser.add_argument("--check", action="store_true", help="only check that notebooks/ is up to date")
    args = parser.parse_args(argv)
    sources = [SOLUTIONS / name for name in args.names] or sorted(SOLUTIONS.glob("*.ipynb"))
    stale = []
    LEARNER.mkdir(exist_ok=True)
    for source in sources:
        target = LEARNER / source.name
        text = render(learner_version(nbformat.read(source, as_version=4)))
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(target.name)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(ROOT)}")
    if args.check:
        extra = sorted({p.name for p in LEARNER.glob("*.ipynb")} - {p.name for p in SOLUTIONS.glob("*.ipynb")})
        if stale or extra:
            print("notebooks/ is out of sync with solutions/: " + ", ".join(stale + [f"{e} (no solution)" for e in extra]))
            print("regenerate with: .venv/bin/python tools/make_learner_notebooks.py")
            return 1
        print("notebooks/ is in sync with solutions/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
