"""A real HTTP server that speaks Ollama and OpenAI chat, for testing the kit's clients.

It listens on 127.0.0.1 only (port 0 = a free port), checks a bearer token,
records every request, plays a *perfect* model, and injects faults on demand.
Standard library only, plus the kit's own ``course`` package for the reply.

In-process use (pytest)::

    with LLMTestServer(token="secret", models=["qwen3:8b", "small"], latency=0.0) as server:
        server.url                  # "http://127.0.0.1:PORT"     (Ollama base URL)
        server.openai_url           # "http://127.0.0.1:PORT/v1"  (OpenAI-compatible base URL)
        server.fail_next("500")     # the next chat request gets an HTTP 500
        ...
        server.chat_requests()      # what the client sent, in arrival order

Standalone (another process)::

    .venv/bin/python tests/llm_test_server.py --port 0 --token T --latency 0.1
    # prints "READY http://127.0.0.1:PORT" on stdout once it is listening; SIGTERM/SIGINT stop it

Endpoints
    Ollama:  ``GET /api/tags``, ``POST /api/chat`` (``"stream": false`` gives one JSON
             object; a missing or true ``stream`` gives NDJSON lines, as real Ollama does).
             A model named without a tag means ``:latest``, as in Ollama: ``models=["small"]``
             is listed as ``small:latest`` and answers to both names.
    OpenAI:  ``GET /v1/models``, ``POST /v1/chat/completions`` (no streaming).
    Errors have each API's shape: Ollama ``{"error": "..."}``, OpenAI
    ``{"error": {"message", "type", "param", "code"}}``. Unknown model -> 404,
    malformed body -> 400, missing or wrong token -> 401 (the token is never echoed).

The perfect model
    The document is the text between ``<document>\\n`` and ``\\n</document>`` in the
    last message (``course.extraction.build_messages``). The reply is
    ``json.dumps(read_invoice(document).model_dump(mode="json"))``; pass
    ``reply=fn(document_text, model, api) -> str`` to answer differently (without
    the markers, ``document_text`` is the whole last message). Token counts:
    ``count_message_tokens(messages)`` for the prompt, ``count_tokens(reply)`` for
    the completion.

Faults (chat requests only, and only once the token check has passed)
    ``"500"``      HTTP 500 with a JSON error body
    ``"429"``      HTTP 429 with ``Retry-After: 0``
    ``"401"``      HTTP 401, as if the token were wrong
    ``"hang"``     wait ``hang_seconds`` (default 30), then answer normally; stopping
                   the server wakes it and closes the connection unanswered
    ``"garbage"``  HTTP 200, well-formed response whose reply text is not JSON
                   (tokens still reported)
    ``"bad_json"`` HTTP 200 whose body itself is not valid JSON
    ``"slow"``     wait ``slow_seconds`` (default 1) more, then answer normally
    ``"drop"``     close the connection without any response

    Which fault a chat request gets is decided, first match wins, by
    ``server.fail_next(kind, count=1)``   the next ``count`` chat requests;
    ``server.fail_documents({doc: [kind or None, ...]})``  per document, by attempt:
                   the key is the document text or its ``document_sha256``, the list
                   gives the fault of attempt 1, 2, ... (``None`` = answer normally;
                   attempts past the end of the list are answered normally);
    ``server.set_faults(fn)``  ``fn(record) -> kind | None`` for any other request
                   (``record`` is the ``RequestRecord`` below; ``None`` removes fn).
    ``server.clear_faults()`` removes all three.

Recording
    ``server.requests`` is a snapshot list of ``RequestRecord`` (every request,
    arrival order): method, path, api ("ollama"/"openai"), model, document,
    document_sha256, attempt (1-based count of chat requests carrying this document,
    this one included), had_auth_header, auth_ok, body (the parsed JSON), fault,
    status (``None`` while in flight or when dropped), time, duration.
    ``server.chat_requests()`` is the chat requests only. ``server.latency`` is
    applied to every chat request and may be changed while running.
    ``server.reset()`` forgets records, attempt counts and faults.

    A failure *inside* the server (a ``reply`` or fault function raising, a bug)
    answers 500, is kept in ``server.errors``, and is raised again when the
    ``with`` block ends, so it cannot hide behind a client's retry.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import hmac
import json
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

try:
    import course  # noqa: F401
except ImportError:  # run as a script, or from a directory where the repo is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course.extraction import document_from_messages
from course.invoice_reader import read_invoice
from course.tokens import count_message_tokens, count_tokens

__all__ = ["FAULT_KINDS", "GARBAGE_REPLY", "LLMTestServer", "RequestRecord", "document_sha256", "perfect_reply"]

FAULT_KINDS: tuple[str, ...] = ("500", "429", "401", "hang", "garbage", "bad_json", "slow", "drop")
GARBAGE_REPLY = (
    "Sure! Here are the fields you asked for: the invoice number, the vendor, the date and the "
    "total are all in the document above. Let me know if you need anything else."
)

ReplyFunction = Callable[[str, str, str], str]
FaultFunction = Callable[["RequestRecord"], "str | None"]

_CHAT_PATHS = {"/api/chat": "ollama", "/v1/chat/completions": "openai"}
_LIST_PATHS = {"/api/tags": "ollama", "/v1/models": "openai"}


def document_sha256(text: str) -> str:
    """The key the server records for a document: sha256 hex of its UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def perfect_reply(document_text: str, model: str, api: str) -> str:
    """The default reply: the rule-based reader's fields as JSON, all four keys."""
    return json.dumps(read_invoice(document_text).model_dump(mode="json"))


def _ollama_name(name: str) -> str:
    """Ollama's full model name: a name without a tag means ``:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


@dataclasses.dataclass
class RequestRecord:
    """One request as the server saw it. Never holds the Authorization header."""

    method: str
    path: str
    api: str
    model: str | None
    document: str | None
    document_sha256: str | None
    attempt: int | None
    had_auth_header: bool
    auth_ok: bool
    body: object | None
    time: float
    fault: str | None = None
    status: int | None = None
    duration: float | None = None
    reported_tokens: tuple[int, int] | None = None  # (prompt, completion) the reply reported

    @property
    def is_chat(self) -> bool:
        return self.path in _CHAT_PATHS


class _Dropped(Exception):
    """Close the connection without answering (fault "drop", or the server is stopping)."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], owner: LLMTestServer) -> None:
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(), a DNS lookup that can stall.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every handler blocked on a client socket (idle keep-alive, hang)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError) or self.owner.stopping:
            return  # the client went away, or we closed its socket while stopping
        self.owner._add_error(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llm-test-server/1"
    sys_version = ""
    server: _HTTPServer
    _current: RequestRecord | None = None  # the request being answered; its status is set on send

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm
        # holds the body until the client's delayed ACK (~40 ms a request). Real servers set it.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the owner logs records instead (never headers)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    # --- plumbing ---------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        owner = self.server.owner
        started = time.monotonic()
        record: RequestRecord | None = None
        self._current = None
        try:
            record = self._current = self._begin(owner, method)
            self._respond(owner, record)
        except _Dropped:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            owner._add_error(traceback.format_exc())
            api = record.api if record else "ollama"
            try:
                self._error(500, api, "test server failure (see LLMTestServer.errors)", "server_error")
            except OSError:
                self.close_connection = True
        finally:
            if record is not None:
                record.duration = time.monotonic() - started
                owner._log(record)

    def _begin(self, owner: LLMTestServer, method: str) -> RequestRecord:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        api = "openai" if path == "/v1" or path.startswith("/v1/") else "ollama"
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = None
        model = body.get("model") if isinstance(body, dict) and isinstance(body.get("model"), str) else None
        document = None
        if path in _CHAT_PATHS and isinstance(body, dict):
            try:
                document = document_from_messages(body["messages"])
            except (KeyError, IndexError, TypeError, ValueError, AttributeError):
                document = None
        header = self.headers.get("Authorization")
        return owner._record(
            method=method,
            path=path,
            api=api,
            model=model,
            document=document,
            had_auth_header=header is not None,
            auth_ok=owner._token_ok(header),
            body=body,
        )

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        if self._current is not None:
            self._current.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8", headers)

    def _error(self, status: int, api: str, message: str, code: str, headers: dict[str, str] | None = None) -> None:
        if api == "openai":
            error_type = "invalid_request_error" if status in (400, 401, 404, 405) else code
            payload: object = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
        else:
            payload = {"error": message}
        self._json(status, payload, headers)

    # --- the API ----------------------------------------------------------------------------

    def _respond(self, owner: LLMTestServer, record: RequestRecord) -> None:
        api = record.api
        if not record.auth_ok:
            return self._unauthorized(api)
        if owner.stopping:
            raise _Dropped
        if record.path == "/" and record.method == "GET":
            return self._send(200, b"Ollama is running", "text/plain; charset=utf-8")
        if record.path in _LIST_PATHS:
            if record.method != "GET":
                return self._error(405, api, "method not allowed", "method_not_allowed")
            return self._json(200, owner._model_list(api))
        if record.path not in _CHAT_PATHS:
            return self._error(404, api, f"no such endpoint: {record.path}", "not_found")
        if record.method != "POST":
            return self._error(405, api, "method not allowed", "method_not_allowed")
        return self._chat(owner, record)

    def _unauthorized(self, api: str) -> None:
        message = "unauthorized" if api == "ollama" else "Incorrect API key provided."
        self._error(401, api, message, "invalid_api_key", {"WWW-Authenticate": "Bearer"})

    def _chat(self, owner: LLMTestServer, record: RequestRecord) -> None:
        api, body = record.api, record.body
        if not isinstance(body, dict):
            return self._error(400, api, "invalid request body: not a JSON object", "invalid_request")
        messages = body.get("messages")
        if not (
            isinstance(messages, list)
            and messages
            and all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages)
        ):
            return self._error(400, api, "messages must be a non-empty list of {role, content: str}", "invalid_request")
        if not record.model:
            return self._error(400, api, "model is required", "invalid_request")
        if not owner._has_model(api, record.model):
            if api == "ollama":
                return self._error(404, api, f'model "{record.model}" not found, try pulling it first', "not_found")
            message = f"The model `{record.model}` does not exist or you do not have access to it."
            return self._error(404, api, message, "model_not_found")
        if api == "openai" and body.get("stream"):
            return self._error(400, api, "the test server does not stream on /v1", "invalid_request")

        fault = owner._choose_fault(record)
        record.fault = fault
        owner._sleep(owner.latency)
        if fault in ("500", "429", "401", "drop"):
            if fault == "500":
                return self._error(500, api, "injected fault: internal server error", "server_error")
            if fault == "429":
                message = "injected fault: rate limit reached, retry later"
                return self._error(429, api, message, "rate_limit_exceeded", {"Retry-After": "0"})
            if fault == "401":
                return self._unauthorized(api)
            raise _Dropped
        if fault == "hang":
            owner._sleep(owner.hang_seconds)
        elif fault == "slow":
            owner._sleep(owner.slow_seconds)

        text = record.document if record.document is not None else messages[-1]["content"]
        content = GARBAGE_REPLY if fault == "garbage" else owner.reply(text, record.model, api)
        if not isinstance(content, str):
            raise TypeError(f"reply function returned {type(content).__name__}, not str")
        # The counts a real server reports differ from the kit's own estimate; ``token_offset`` makes them differ here.
        prompt_tokens = count_message_tokens(messages) + owner.token_offset[0]
        completion_tokens = count_tokens(content) + owner.token_offset[1]
        record.reported_tokens = (prompt_tokens, completion_tokens)
        if fault == "bad_json":
            truncated = json.dumps({"model": record.model, "message": {"role": "assistant", "content": content}})
            return self._send(200, truncated[: len(truncated) // 2].encode(), "application/json; charset=utf-8")
        if api == "ollama":
            return self._ollama_reply(record.model, content, prompt_tokens, completion_tokens, body.get("stream", True))
        return self._json(200, self._openai_payload(record.model, content, prompt_tokens, completion_tokens))

    def _ollama_reply(self, model: str, content: str, prompt_tokens: int, completion_tokens: int, stream) -> None:
        created = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        final = {
            "model": model,
            "created_at": created,
            "message": {"role": "assistant", "content": content},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1_000_000,
            "load_duration": 0,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": 500_000,
            "eval_count": completion_tokens,
            "eval_duration": 500_000,
        }
        if stream is False:
            return self._json(200, final)
        # Streaming: the reply text in one chunk, then the final object with the counts.
        chunk = {"model": model, "created_at": created, "message": final["message"], "done": False}
        final["message"] = {"role": "assistant", "content": ""}
        lines = (json.dumps(chunk) + "\n" + json.dumps(final) + "\n").encode()
        self._send(200, lines, "application/x-ndjson")

    @staticmethod
    def _openai_payload(model: str, content: str, prompt_tokens: int, completion_tokens: int) -> dict:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


class LLMTestServer:
    """An Ollama + OpenAI-compatible test server on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        models: list[str] | tuple[str, ...] = ("qwen3:8b",),
        latency: float = 0.0,
        reply: ReplyFunction | None = None,
        hang_seconds: float = 30.0,
        slow_seconds: float = 1.0,
        port: int = 0,
        log: bool = False,
    ) -> None:
        self.models = list(models)
        self.latency = latency
        self.reply: ReplyFunction = reply or perfect_reply
        self.hang_seconds = hang_seconds
        self.slow_seconds = slow_seconds
        self.token_offset = (0, 0)  # added to the prompt and completion token counts each reply reports
        self.log = log
        self._token = token
        self._port = port
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._attempts: dict[str, int] = {}
        self._next_faults: list[str] = []
        self._document_faults: dict[str, list[str | None]] = {}
        self._fault_function: FaultFunction | None = None
        self._errors: list[str] = []
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:  # never shows the token
        return f"LLMTestServer(url={self.url if self._httpd else None!r}, models={self.models!r})"

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> LLMTestServer:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._stopping.clear()
        self._httpd = _HTTPServer(("127.0.0.1", self._port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="llm-test-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, wake hanging handlers and close open connections (well under 1 s)."""
        if self._httpd is None or self._stopping.is_set():
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=1)

    def __enter__(self) -> LLMTestServer:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()
        if exc_type is None and self._errors:
            raise RuntimeError("the LLM test server failed inside:\n" + "\n".join(self._errors))

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Ollama base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        """OpenAI-compatible base URL (ends in /v1)."""
        return f"{self.url}/v1"

    # --- faults -----------------------------------------------------------------------------

    @staticmethod
    def _check_kind(kind: str | None) -> None:
        if kind is not None and kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")

    def set_faults(self, function: FaultFunction | None) -> None:
        """Decide the fault of each chat request with ``function(record) -> kind | None``."""
        with self._lock:
            self._fault_function = function

    def fail_next(self, kind: str, count: int = 1) -> None:
        """The next ``count`` chat requests (whatever their document) get fault ``kind``."""
        self._check_kind(kind)
        with self._lock:
            self._next_faults.extend([kind] * count)

    def fail_documents(self, plan: dict[str, list[str | None]]) -> None:
        """Per document (text or sha256), the fault of attempt 1, 2, ... (``None`` = normal)."""
        for kinds in plan.values():
            for kind in kinds:
                self._check_kind(kind)
        with self._lock:
            for key, kinds in plan.items():
                is_sha = len(key) == 64 and all(c in "0123456789abcdef" for c in key)
                self._document_faults[key if is_sha else document_sha256(key)] = list(kinds)

    def clear_faults(self) -> None:
        with self._lock:
            self._next_faults.clear()
            self._document_faults.clear()
            self._fault_function = None

    def _choose_fault(self, record: RequestRecord) -> str | None:
        with self._lock:
            if self._next_faults:
                return self._next_faults.pop(0)
            plan = self._document_faults.get(record.document_sha256 or "", [])
            if record.attempt is not None and record.attempt <= len(plan) and plan[record.attempt - 1]:
                return plan[record.attempt - 1]
            function = self._fault_function
        if function is None:
            return None
        kind = function(record)
        self._check_kind(kind)
        return kind

    # --- recording --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request so far, in arrival order (a snapshot)."""
        with self._lock:
            return list(self._records)

    def chat_requests(self) -> list[RequestRecord]:
        """The chat requests so far, in arrival order."""
        return [record for record in self.requests if record.is_chat]

    @property
    def errors(self) -> list[str]:
        """Tracebacks of failures inside the server (raised again when the ``with`` block ends)."""
        with self._lock:
            return list(self._errors)

    def reset(self) -> None:
        """Forget records, attempt counts, errors and faults."""
        self.clear_faults()
        with self._lock:
            self._records.clear()
            self._attempts.clear()
            self._errors.clear()

    # --- used by the handler ----------------------------------------------------------------

    def _record(self, *, document: str | None, path: str, **fields) -> RequestRecord:
        sha = document_sha256(document) if document is not None else None
        with self._lock:
            attempt = None
            if sha is not None and path in _CHAT_PATHS:
                attempt = self._attempts[sha] = self._attempts.get(sha, 0) + 1
            record = RequestRecord(
                path=path, document=document, document_sha256=sha, attempt=attempt, time=time.time(), **fields
            )
            self._records.append(record)
        return record

    def _token_ok(self, header: str | None) -> bool:
        if self._token is None:
            return True
        if header is None:
            return False
        scheme, _, value = header.strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self._token.encode())

    def _has_model(self, api: str, model: str) -> bool:
        if api == "ollama":
            return _ollama_name(model) in {_ollama_name(m) for m in self.models}
        return model in self.models

    def _model_list(self, api: str) -> dict:
        if api == "ollama":
            names = [_ollama_name(m) for m in self.models]
            return {
                "models": [
                    {
                        "name": name,
                        "model": name,
                        "modified_at": "2024-01-01T00:00:00Z",
                        "size": 1,
                        "digest": hashlib.sha256(name.encode()).hexdigest(),
                        "details": {"format": "gguf", "family": "test"},
                    }
                    for name in names
                ]
            }
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "llm-test-server"} for m in self.models],
        }

    def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``; if the server stops meanwhile, drop the connection unanswered."""
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Dropped
        if self._stopping.is_set():
            raise _Dropped

    def _add_error(self, text: str) -> None:
        with self._lock:
            self._errors.append(text)

    def _log(self, record: RequestRecord) -> None:
        if self.log:
            print(
                f"{record.method} {record.path} model={record.model} attempt={record.attempt} "
                f"auth_ok={record.auth_ok} fault={record.fault} status={record.status} "
                f"{(record.duration or 0):.3f}s",
                file=sys.stderr,
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ollama + OpenAI-compatible test server (127.0.0.1 only).")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0 = a free port)")
    parser.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN'")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every chat request")
    parser.add_argument("--models", default="qwen3:8b", help="comma-separated model names")
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    args = parser.parse_args(argv)

    server = LLMTestServer(
        token=args.token,
        models=[m.strip() for m in args.models.split(",") if m.strip()],
        latency=args.latency,
        port=args.port,
        log=not args.quiet,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    server.start()
    print(f"READY {server.url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
