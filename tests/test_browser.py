"""End to end in a real browser: JupyterLab runs the live-run notebook and the route bars move.

Starts JupyterLab on 127.0.0.1 (a free port, a token), opens ``NOTEBOOK`` in
headless Debian Chromium through Playwright, runs all cells and checks that

* the route progress bars move while the batch runs (their widths grow
  between samples), and every bar ends at 100 %, its label at total/total;
* the dashboard image appears in the output area;
* no cell shows an error or anything on stderr.

A screenshot is saved to ``test-artifacts/browser-live-run.png``. The
notebook is run in place and never saved: autosave is off, checkpoints go to
a temporary folder, and the test checks the file is unchanged afterwards.

Needs ``/usr/bin/chromium`` (``tools/install_browser.sh``) and the
``playwright`` package; Playwright's own browser download is not used. The
test skips without them, except under CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "solutions/06_full_graph.ipynb"  # the live-run solution notebook, relative to ROOT
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "test-artifacts" / "browser-live-run.png"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]
SAMPLE_EVERY = 0.15  # seconds between two looks at the bars while the batch runs
RUN_TIMEOUT = 60  # seconds for all cells

# JupyterLab settings for the test's own settings folder: nothing saved, every cell in the DOM, no news toast.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}

# Browser-side helpers, evaluated in the page. `window.jupyterapp` exists because of expose_app_in_browser.
JS_BARS = """() => {
    const hidden = el => { for (let n = el; n; n = n.parentElement) if (n.style && n.style.display === 'none') return true; return false; };
    return [...document.querySelectorAll('.widget-hprogress .progress-bar')].filter(bar => !hidden(bar)).map(bar => {
        const widget = bar.closest('.widget-hprogress');  // its own description is a .widget-label too
        const label = [...widget.parentElement.children].find(el => el !== widget && el.matches('.widget-label'));
        return {width: bar.style.width, name: widget.textContent.trim(), label: label ? label.textContent.trim() : null};
    });
}"""
JS_KERNEL_IDLE = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle' && !panel.sessionContext.pendingInput;
}"""
JS_STATE = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.model.cells;
    const code = [], errors = [];
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type !== 'code') continue;
        code.push(cell.executionCount);
        for (const output of cell.outputs.toJSON()) {
            if (output.output_type === 'error') errors.push(output.ename + ': ' + output.evalue);
        }
    }
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    return {
        counts: code,
        running: [...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*')),
        kernel: kernel ? kernel.status : null,
        errors: errors,
        stderr: [...document.querySelectorAll('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')]
            .map(el => el.textContent.slice(0, 500)),
        images: document.querySelectorAll('.jp-OutputArea-output img').length,
    };
}"""


def require(condition: bool, what: str) -> None:
    """Skip without ``what`` on a developer machine, fail under CI."""
    if condition:
        return
    message = f"{what} missing: run tools/install_browser.sh and pip install -r requirements.txt"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {message}")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Lab:
    """A JupyterLab server of the test's own, serving the repository root."""

    def __init__(self, tmp: Path) -> None:
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.headers = {"Authorization": f"token {self.token}"}
        settings = tmp / "lab-settings"
        for name, values in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(values))
        for folder in ("workspaces", "checkpoints", "runtime", "config"):
            (tmp / folder).mkdir()
        env = {
            **os.environ, "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp / "config"),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("JUPYTER_TOKEN", None)
        self.log_path = tmp / "jupyterlab.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={ROOT}",
                "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={settings}",
                f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
                f"--FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}",
            ],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def api(self, method: str, path: str) -> requests.Response:
        return requests.request(method, f"{self.url}/api/{path}", headers=self.headers, timeout=10)

    def wait_ready(self, timeout: float = 45) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"JupyterLab exited ({self.process.returncode}):\n{self.log()}")
            try:
                if self.api("GET", "status").status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"JupyterLab did not start in {timeout} s:\n{self.log()}")

    def delete_sessions(self) -> None:
        for session in self.api("GET", "sessions").json():
            self.api("DELETE", f"sessions/{session['id']}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        try:
            if self.process.poll() is None:
                try:
                    self.delete_sessions()  # shuts the kernels down
                except requests.RequestException:
                    pass
                os.killpg(self.process.pid, signal.SIGTERM)  # the server's own process group
                try:
                    self.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=5)
        except ProcessLookupError:
            pass
        finally:
            self._log.close()


def wait_for_run(page, samples: list[list[dict]]) -> dict:
    """Sample the bars until every code cell has run and the kernel is idle; return the final state."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        bars = page.evaluate(JS_BARS)
        if bars:
            samples.append(bars)
        state = page.evaluate(JS_STATE)
        if state["errors"] or state["stderr"]:
            return state
        if state["counts"] and all(count is not None for count in state["counts"]) and not state["running"] \
                and state["kernel"] == "idle":
            return state
        time.sleep(SAMPLE_EVERY)
    raise AssertionError(f"the notebook did not finish in {RUN_TIMEOUT} s; last state: {page.evaluate(JS_STATE)}")


def percent(width: str) -> float:
    assert width.endswith("%"), width
    return float(width[:-1])


@pytest.mark.timeout(120)  # typically ~16 s; the cleanup in finally still runs on timeout
def test_the_live_run_notebook_moves_its_bars_in_jupyterlab(tmp_path):
    require(CHROMIUM.exists(), f"{CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright package")
    notebook = ROOT / NOTEBOOK
    assert notebook.exists(), f"{NOTEBOOK} is missing"
    before = digest(notebook)
    checkpoints = notebook.parent / ".ipynb_checkpoints"
    had_checkpoints = checkpoints.exists()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)

    lab = Lab(tmp_path)
    context = None
    samples: list[list[dict]] = []
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        lab.wait_ready()
        lab.delete_sessions()
        timings["server"] = time.monotonic() - started
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                user_data_dir=str(tmp_path / "chromium"), executable_path=str(CHROMIUM), headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1800},
            )
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(60_000)
                page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}")
                page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell")
                page.wait_for_function(JS_KERNEL_IDLE, timeout=60_000)
                timings["notebook open, kernel idle"] = time.monotonic() - started
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
                # Not awaited: the promise resolves only when all cells ran, and the bars are sampled meanwhile.
                page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
                run_started = time.monotonic()
                state = wait_for_run(page, samples)
                timings["run all cells"] = time.monotonic() - run_started
                if state["images"] == 0 and not (state["errors"] or state["stderr"]):
                    page.wait_for_selector(".jp-OutputArea-output img", timeout=10_000)
                    state = page.evaluate(JS_STATE)
                final_bars = page.evaluate(JS_BARS)
                page.locator(".course-live-panel").first.scroll_into_view_if_needed()
                page.screenshot(path=str(SCREENSHOT))
            finally:
                context.close()
    finally:
        lab.stop()
        timings["total"] = time.monotonic() - started
        if not had_checkpoints and checkpoints.exists():
            shutil.rmtree(checkpoints)
            pytest.fail(f"the test left {checkpoints.relative_to(ROOT)} behind (removed)")

    assert digest(notebook) == before, f"{NOTEBOOK} was modified by the test"
    assert not state["errors"], f"cells raised: {state['errors']}"
    assert not state["stderr"], f"cells wrote to stderr: {state['stderr']}"

    # The bars moved while the batch ran: samples strictly between empty and full, growing.
    assert final_bars, "no progress bars in the page"
    count = len(final_bars)
    progress = [sum(percent(bar["width"]) for bar in bars) for bars in samples if len(bars) == count]
    during = [value for value in progress if 0 < value < 100 * count]
    print("timings:", {name: round(seconds, 1) for name, seconds in timings.items()},
          f"samples: {len(samples)}, while running: {[round(value / count, 1) for value in during]} %")
    assert len(set(during)) >= 3, f"the bars did not move while the batch ran: {progress}"
    assert all(a <= b for a, b in zip(during, during[1:])), f"the bars went back: {during}"

    # Every bar ends at its total.
    for bar in final_bars:
        assert percent(bar["width"]) == pytest.approx(100), final_bars
        done, total = bar["label"].split(" ")[0].split("/")
        assert done == total and int(total) > 0, final_bars
    assert state["images"] >= 1, "no dashboard image in the output area"
    assert SCREENSHOT.stat().st_size > 10_000
