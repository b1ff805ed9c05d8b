"""Learner notebooks are saved without outputs: nbval runs every cell but compares nothing.

This is what ``--nbval-lax`` does, applied to this folder only: nbval has
already decided each cell's ``check`` option at collection, so it is turned off
here, cell by cell. (Solution notebooks, in solutions/, are compared cell by
cell with their saved outputs.)
"""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    for item in items:
        options = getattr(item, "options", None)
        if isinstance(options, dict) and "check" in options and Path(str(item.fspath)).resolve().parent == HERE:
            options["check"] = False
