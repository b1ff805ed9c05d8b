"""Real LLM servers: Ollama (with a bearer token) and OpenAI-compatible APIs.

Both backends implement ``LLMBackend.chat`` over one ``requests.Session``
whose connection pool is sized to the worker count, so eight workers really
send eight requests at once. What they do under faults:

* explicit connect and read timeouts, and a deadline per document;
* retries with exponential backoff for connection errors, HTTP 429 and 5xx,
  by urllib3's ``Retry`` (it also honours ``Retry-After``);
* HTTP 401/403 raise ``AuthenticationError``: the batch stops sending work
  and says so once;
* every other failure raises ``LLMError`` with a reason a person can act on,
  carrying the tokens the server reported (they are charged).

Thinking models: for Ollama the request sets ``"think": false``, so qwen3
answers directly instead of spending hundreds of tokens thinking before the
JSON. OpenAI-compatible servers have no standard switch for it; a
``<think>...</think>`` block in a reply is removed by ``parse_reply``, and its
tokens are charged because the server reports them.

Ollama reloads a model whenever ``num_ctx`` changes, so routes that share a
model share one context size: the largest ``max_tokens`` among them.

The token is sent only in the ``Authorization`` header. It is never part of a
label, a log line or an error message, and URLs are shown without any
credentials they may contain.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError, ResponseError
from urllib3.util.retry import Retry

from course.extraction import output_schema
from course.llm import AuthenticationError, LLMBackend, LLMError, LLMReply, ServerCheck
from course.routing import REPLY_TOKEN_BUDGET, ROUTE_SPECS, ProcessingRoute
from course.tokens import count_message_tokens, count_tokens

RETRY_STATUSES = (429, 500, 502, 503, 504)

# urllib3 logs a warning for every retry; retries are counted in each document's `attempts`
# instead, and a warning per retry would flood the live progress view.
logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)


def redact_url(url: str) -> str:
    """The URL without user:password@ (safe to print)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_warning(url: str, has_token: bool) -> str | None:
    """A warning when a token would travel unencrypted to another machine."""
    if has_token and urlsplit(url).scheme == "http" and not is_loopback(url):
        return (
            f"warning: the API token is sent over plain http to {redact_url(url)}; anyone on the network path can read it."
            " Use https if the server offers it."
        )
    return None


class CountingRetry(Retry):
    """urllib3's ``Retry``, remembering how many requests were sent when it gives up.

    On success the response carries its retry history; when retries run out,
    urllib3 raises ``MaxRetryError`` without it, and ``attempts`` would be wrong.
    """

    def increment(self, *args, **kwargs):
        try:
            return super().increment(*args, **kwargs)
        except MaxRetryError as error:
            error.requests_sent = len(self.history) + 1
            raise


class HTTPBackend(LLMBackend):
    """What the Ollama and OpenAI-compatible backends share."""

    token_variable = "API token"
    url_variable = "URL"

    def __init__(
        self,
        base_url: str,
        token: SecretStr | str | None,
        models: dict[ProcessingRoute, str],
        *,
        workers: int = 8,
        connect_timeout: float = 5.0,
        read_timeout: float = 120.0,
        document_deadline: float = 300.0,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._models = dict(models)
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.document_deadline = document_deadline
        self.retries = retries
        self.session = requests.Session()
        self.retry = retry = CountingRetry(
            total=retries,
            connect=retries,
            read=1,  # a dropped or timed-out answer is asked for once more (the deadline bounds the total)
            status=retries,
            backoff_factor=backoff,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET", "POST"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        # One connection per worker; a worker beyond the pool waits for one rather than opening a throwaway.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(workers, 1), max_retries=retry, pool_block=True)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        self.has_token = bool(secret)
        if secret:
            self.session.headers["Authorization"] = f"Bearer {secret}"
        self.warning = plain_http_warning(self.base_url, self.has_token)

    @property
    def label(self) -> str:
        return f"{self.name} at {redact_url(self.base_url)}"

    def model_for(self, route: ProcessingRoute) -> str:
        return self._models[route]

    def close(self) -> None:
        self.session.close()

    # -- the two APIs differ in these --------------------------------------------------------
    def _chat_path(self) -> str:
        raise NotImplementedError

    def _models_path(self) -> str:
        raise NotImplementedError

    def _chat_body(self, route: ProcessingRoute, messages: list[dict[str, str]]) -> dict[str, Any]:
        raise NotImplementedError

    def _parse_chat(self, data: dict[str, Any], messages: list[dict[str, str]]) -> LLMReply:
        raise NotImplementedError

    def _available_models(self, data: dict[str, Any]) -> set[str]:
        raise NotImplementedError

    def _has_model(self, available: set[str], model: str) -> bool:
        return model in available

    # -- shared ------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, json_body: dict | None = None, timeout: float | None = None):
        url = f"{self.base_url}{path}"
        try:
            return self.session.request(
                method, url, json=json_body, timeout=(self.connect_timeout, timeout or self.read_timeout)
            )
        except requests.exceptions.RequestException as error:
            raise self._failure(error, timeout or self.read_timeout) from None

    def _failure(self, error: requests.exceptions.RequestException, timeout: float) -> LLMError:
        """One short, safe sentence for a request that got no usable answer."""
        where = redact_url(self.base_url)
        cause = error.args[0] if error.args else None
        reason = getattr(cause, "reason", cause)  # urllib3 wraps the cause in MaxRetryError
        tries = getattr(cause, "requests_sent", 1)
        if isinstance(reason, NewConnectionError):  # refused, unknown host (a subclass of ConnectTimeoutError)
            return LLMError(f"cannot reach {where}: {_reason(error)}", attempts=tries)
        if isinstance(error, requests.exceptions.ConnectTimeout) or isinstance(reason, ConnectTimeoutError):
            return LLMError(f"cannot reach {where}: no connection within {self.connect_timeout:g} s", attempts=tries)
        if isinstance(error, requests.exceptions.ReadTimeout) or isinstance(reason, ReadTimeoutError):
            return LLMError(f"no answer from {where} within {timeout:.3g} s", attempts=tries)
        if isinstance(reason, ResponseError):
            return LLMError(f"{where} kept failing: {reason}", attempts=tries)
        if isinstance(error, requests.exceptions.ConnectionError):
            return LLMError(f"{where} failed: {_reason(error)}", attempts=tries)
        return LLMError(f"request to {where} failed: {type(error).__name__}", attempts=tries)

    def _refused(self, response: requests.Response, sent: int = 1) -> AuthenticationError:
        if self.has_token:
            why = f"the server refused the token (HTTP {response.status_code}): check {self.token_variable}"
        else:
            why = f"the server wants a token (HTTP {response.status_code}): set {self.token_variable}"
        return AuthenticationError(why, attempts=sent)

    def chat(self, route: ProcessingRoute, messages: list[dict[str, str]], deadline: float | None = None) -> LLMReply:
        timeout = self.read_timeout
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LLMError(f"document deadline of {self.document_deadline:g} s passed")
            # urllib3 may ask again after a read timeout: every try gets its share of what is left.
            timeout = min(timeout, remaining / (1 + (self.retry.read or 0)))
        response = self._request("POST", self._chat_path(), json_body=self._chat_body(route, messages), timeout=timeout)
        sent = _attempts(response)
        if response.status_code in (401, 403):
            raise self._refused(response, sent)
        try:
            data = response.json()
        except ValueError:
            raise LLMError(f"HTTP {response.status_code}: the server's answer is not JSON", attempts=sent) from None
        if response.status_code != 200:
            raise LLMError(f"HTTP {response.status_code}: {_error_text(data)}", attempts=sent)
        if not isinstance(data, dict):
            raise LLMError("the server's answer is not a JSON object", attempts=sent)
        try:
            reply = self._parse_chat(data, messages)
        except LLMError as error:
            error.attempts = sent
            raise
        reply.attempts = sent
        return reply

    def check(self) -> ServerCheck:
        """Does the server answer, does it take the token, does it have each route's model?"""
        routes = {route.value: self.model_for(route) for route in ProcessingRoute}
        report = dict(backend=self.name, url=redact_url(self.base_url), answers=False, token_accepted=None,
                      models=dict.fromkeys(routes, False))
        try:
            response = self._request("GET", self._models_path(), timeout=min(self.read_timeout, 30))
        except LLMError as error:
            return ServerCheck(**report, problem=f"{error}. Is the server running? Check {self.url_variable}.")
        report["answers"] = True
        if response.status_code in (401, 403):
            report["token_accepted"] = False
            return ServerCheck(**report, problem=str(self._refused(response)))
        try:
            available = self._available_models(response.json())
        except (ValueError, KeyError, TypeError, AttributeError):
            return ServerCheck(
                **report, problem=f"{redact_url(self.base_url)}{self._models_path()} did not answer like a {self.name} server"
                f" (HTTP {response.status_code}). Check {self.url_variable}."
            )
        report["token_accepted"] = True
        report["models"] = {route: self._has_model(available, model) for route, model in routes.items()}
        missing = sorted({model for route, model in routes.items() if not report["models"][route]})
        problem = None
        if missing:
            problem = f"model(s) not on the server: {', '.join(missing)}. {self._missing_model_hint()}"
        return ServerCheck(**report, problem=problem)

    def _missing_model_hint(self) -> str:
        return "Set DEFAULT_MODEL or <ROUTE>_MODEL to a model the server has."


_REASONS = {
    "connection refused": "connection refused",
    "name or service not known": "unknown host",
    "temporary failure in name resolution": "unknown host",
    "no route to host": "no route to host",
    "remotedisconnected": "the server closed the connection without answering",
    "connection aborted": "the server closed the connection without answering",
    "connection reset": "the connection was reset",
}


def _reason(error: Exception) -> str:
    """A short, safe reason for a connection failure (urllib3's messages are long)."""
    text = str(error).lower()
    return next((reason for marker, reason in _REASONS.items() if marker in text), type(error).__name__)


def _error_text(data: object) -> str:
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            error = error.get("message")
        if error:
            return str(error)[:200]
    return "unexpected answer"


def _attempts(response: requests.Response) -> int:
    """Requests the pool sent for this call: 1 + the retries urllib3 made."""
    retries = getattr(response.raw, "retries", None)
    return 1 + len(retries.history) if retries is not None else 1


def _tokens(value: object, fallback: int) -> int:
    return value if isinstance(value, int) and value >= 0 else fallback


class OllamaBackend(HTTPBackend):
    """``POST {OLLAMA_URL}/api/chat`` with a JSON-schema ``format`` and ``stream: false``."""

    name = "ollama"
    token_variable = "OLLAMA_API_TOKEN"
    url_variable = "OLLAMA_URL"

    def _chat_path(self) -> str:
        return "/api/chat"

    def _models_path(self) -> str:
        return "/api/tags"

    def _context_size(self, route: ProcessingRoute) -> int:
        model = self.model_for(route)
        return max(ROUTE_SPECS[r].max_tokens for r in ProcessingRoute if self.model_for(r) == model)

    def _chat_body(self, route: ProcessingRoute, messages: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "model": self.model_for(route),
            "messages": messages,
            "stream": False,
            "format": output_schema(),
            "think": False,
            "options": {"temperature": 0, "num_ctx": self._context_size(route), "num_predict": REPLY_TOKEN_BUDGET},
        }

    def _parse_chat(self, data: dict[str, Any], messages: list[dict[str, str]]) -> LLMReply:
        message = data.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise LLMError("the server's answer has no message content",  # still charged for what it reported
                           _tokens(data.get("prompt_eval_count"), 0), _tokens(data.get("eval_count"), 0))
        content = message["content"]
        return LLMReply(
            content=content,
            # Ollama leaves prompt_eval_count out when the whole prompt came from its cache.
            prompt_tokens=_tokens(data.get("prompt_eval_count"), count_message_tokens(messages)),
            completion_tokens=_tokens(data.get("eval_count"), count_tokens(content)),
            model=str(data.get("model") or ""),
        )

    def _available_models(self, data: dict[str, Any]) -> set[str]:
        return {entry["name"] for entry in data["models"]} | {entry.get("model", "") for entry in data["models"]}

    def _has_model(self, available: set[str], model: str) -> bool:
        return model in available or f"{model}:latest" in available

    def _missing_model_hint(self) -> str:
        return "Pull them on the server (`ollama pull <model>`) or set DEFAULT_MODEL / <ROUTE>_MODEL."


class OpenAIBackend(HTTPBackend):
    """``POST {OPENAI_BASE_URL}/chat/completions`` with a ``json_schema`` response format."""

    name = "openai"
    token_variable = "OPENAI_API_KEY"
    url_variable = "OPENAI_BASE_URL"

    def _chat_path(self) -> str:
        return "/chat/completions"

    def _models_path(self) -> str:
        return "/models"

    def _chat_body(self, route: ProcessingRoute, messages: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "model": self.model_for(route),
            "messages": messages,
            "temperature": 0,
            "max_tokens": REPLY_TOKEN_BUDGET,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "invoice_fields", "schema": output_schema(), "strict": True},
            },
        }

    def _parse_chat(self, data: dict[str, Any], messages: list[dict[str, str]]) -> LLMReply:
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise LLMError("the server's answer has no choices[0].message.content",  # still charged for what it reported
                           _tokens(usage.get("prompt_tokens"), 0), _tokens(usage.get("completion_tokens"), 0)) from None
        content = content if isinstance(content, str) else ""
        return LLMReply(
            content=content,
            prompt_tokens=_tokens(usage.get("prompt_tokens"), count_message_tokens(messages)),
            completion_tokens=_tokens(usage.get("completion_tokens"), count_tokens(content)),
            model=str(data.get("model") or ""),
        )

    def _available_models(self, data: dict[str, Any]) -> set[str]:
        return {entry["id"] for entry in data["data"]}
