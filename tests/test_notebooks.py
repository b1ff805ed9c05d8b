"""The two versions of the course: notebooks/ is generated from solutions/, never hand-edited."""

import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from make_learner_notebooks import BEGIN, learner_version, render  # noqa: E402

SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def test_learner_notebooks_are_in_sync_with_the_solutions():
    checked = subprocess.run([sys.executable, "tools/make_learner_notebooks.py", "--check"], cwd=ROOT,
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_the_sync_check_notices_a_hand_edit(tmp_path, monkeypatch):
    import make_learner_notebooks as tool

    monkeypatch.setattr(tool, "LEARNER", tmp_path)
    (tmp_path / SOLUTIONS[0].name).write_text(render(learner_version(nbformat.read(SOLUTIONS[0], as_version=4))) + " ")
    assert tool.main(["--check"]) == 1


def test_the_course_has_every_step_in_both_versions():
    names = [path.name for path in SOLUTIONS]
    assert [name[:2] for name in names] == [f"{n:02d}" for n in range(len(names))] and len(names) >= 8
    assert names == sorted(path.name for path in (ROOT / "notebooks").glob("*.ipynb"))


def test_solutions_are_saved_with_outputs_and_learner_notebooks_without():
    for path in SOLUTIONS:
        solution = nbformat.read(path, as_version=4)
        learner = nbformat.read(ROOT / "notebooks" / path.name, as_version=4)
        assert any(cell.get("outputs") for cell in solution.cells if cell.cell_type == "code"), path.name
        assert not any(cell.get("outputs") for cell in learner.cells if cell.cell_type == "code"), path.name
        assert not any(BEGIN in cell.source for cell in learner.cells), path.name


def test_every_notebook_opens_with_what_and_why_and_ends_with_a_recap():
    for path in SOLUTIONS:
        cells = nbformat.read(path, as_version=4).cells
        opening, closing = cells[0], cells[-1]
        assert opening.cell_type == "markdown" and opening.source.startswith("# "), path.name
        assert "**What you will" in opening.source and "**Why:**" in opening.source, path.name
        assert closing.cell_type == "markdown" and "## Recap" in closing.source, path.name
        recap = closing.source.split("## Recap", 1)[1]
        assert recap.count("\n* ") >= 2, f"{path.name}: the recap lists what was learned"


def test_learner_notebooks_run_every_cell_but_compare_no_output(tmp_path):
    """notebooks/conftest.py turns nbval's output comparison off there, as --nbval-lax would."""
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print('what the learner sees today')", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="something else\n")]
    notebook.cells = [cell]
    for folder, conftest in (("learner", ROOT / "notebooks" / "conftest.py"), ("plain", None)):
        (tmp_path / folder).mkdir()
        nbformat.write(notebook, tmp_path / folder / "exercise.ipynb")
        if conftest:
            (tmp_path / folder / "conftest.py").write_text(conftest.read_text())
        (tmp_path / folder / "pytest.ini").write_text("[pytest]\n")
    run = {folder: subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                                   "--nbval-current-env", "exercise.ipynb"], cwd=tmp_path / folder,
                                  capture_output=True, text=True, timeout=120)
           for folder in ("learner", "plain")}
    assert run["plain"].returncode == 1, "without the conftest, nbval compares and fails"
    assert run["learner"].returncode == 0, run["learner"].stdout
