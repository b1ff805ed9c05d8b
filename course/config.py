"""Step 00 - set-up: where the settings come from and which backend runs.

Settings are read from the environment, and from a ``.env`` file in the
project root when there is one (``.env.example`` documents every variable).
With no server configured the kit runs on the *simulated* backend and says so
in every output. A server that is configured but cannot be used is an error
that says what to fix, never a silent switch to the simulation.

The API token is a ``SecretStr``: printing the settings, or an error that
contains them, shows ``**********`` instead of the token.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from pydantic import BaseModel, Field, SecretStr, ValidationError

from course.routing import ProcessingRoute

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BackendName = Literal["auto", "simulated", "ollama", "openai", "local"]


class ConfigError(ValueError):
    """The configuration cannot be used; the message says what to change."""


class Settings(BaseModel):
    """Everything configurable, with the defaults the course uses."""

    llm_backend: BackendName = "auto"
    ollama_url: str | None = None
    ollama_api_token: SecretStr | None = None
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    default_model: str = "qwen3:8b"
    fast_model: str | None = None
    balanced_model: str | None = None
    accurate_model: str | None = None
    premium_model: str | None = None
    batch_workers: int = Field(default=8, ge=1, le=256)
    simulated_time_scale: float = Field(default=0.1, ge=0)
    llm_connect_timeout: float = Field(default=5.0, gt=0)
    llm_read_timeout: float = Field(default=120.0, gt=0)
    llm_retries: int = Field(default=3, ge=0, le=10)
    document_deadline_seconds: float = Field(default=300.0, gt=0)
    local_model_path: str | None = None  # a .gguf file for the local backend (default: the packaged SmolLM2)

    def model_for(self, route: ProcessingRoute) -> str:
        """The model for a route: ``<ROUTE>_MODEL``, else ``DEFAULT_MODEL``."""
        return getattr(self, f"{route.value}_model") or self.default_model

    def chosen_backend(self) -> str:
        """The backend ``auto`` resolves to: a configured server, else the simulation."""
        if self.llm_backend != "auto":
            return self.llm_backend
        if self.ollama_url:
            return "ollama"
        if self.openai_base_url:
            return "openai"
        return "simulated"


_PLACEHOLDERS = {"", "http://XX.XX.XX.XX", "YOUR_TOKEN_HERE"}


def load_settings(env_file: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Settings from ``.env`` (if present) overridden by the environment."""
    env_path = Path(env_file) if env_file is not None else PROJECT_ROOT / ".env"
    values: dict[str, str | None] = dict(dotenv_values(env_path)) if env_path.is_file() else {}
    values.update(os.environ if environ is None else environ)
    fields = {}
    for name in Settings.model_fields:
        value = values.get(name.upper())
        if value is not None and value.strip() not in _PLACEHOLDERS:
            fields[name] = value.strip()
    try:
        return Settings.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(f"{str(e['loc'][0]).upper()}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"invalid setting: {problems}") from None


def _server_url(value: str | None, variable: str, backend: str) -> str:
    if not value:
        raise ConfigError(f"the {backend} backend needs {variable} (set it in .env or the environment)")
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{variable} must start with http:// or https://")
    return value


def make_backend(
    settings: Settings,
    backend: str | None = None,
    *,
    time_scale: float | None = None,
    seed: int = 0,
    workers: int | None = None,
):
    """The LLM backend to run with: ``backend`` if given, else what the settings choose.

    Never falls back to the simulation when a server was asked for: a missing
    URL is a ``ConfigError``, and an unreachable server is reported by
    ``backend.check()`` before any document is sent.
    """
    from course.llm import SimulatedBackend
    from course.servers import OllamaBackend, OpenAIBackend

    name = settings.chosen_backend() if backend in (None, "auto") else backend
    if name == "simulated":
        scale = settings.simulated_time_scale if time_scale is None else time_scale
        return SimulatedBackend(seed=seed, time_scale=scale)
    options = dict(
        workers=workers or (2 if name == "local" else settings.batch_workers),
        connect_timeout=settings.llm_connect_timeout,
        read_timeout=settings.llm_read_timeout,
        document_deadline=settings.document_deadline_seconds,
        retries=settings.llm_retries,
    )
    models = {route: settings.model_for(route) for route in ProcessingRoute}
    if name == "ollama":
        url = _server_url(settings.ollama_url, "OLLAMA_URL", name)
        return OllamaBackend(url, settings.ollama_api_token, models, **options)
    if name == "openai":
        url = _server_url(settings.openai_base_url, "OPENAI_BASE_URL", name)
        return OpenAIBackend(url, settings.openai_api_key, models, **options)
    if name == "local":
        from course.local_llm import LocalBackend, LocalModelMissing, LocalServerError

        try:
            return LocalBackend(settings.local_model_path, **options)
        except (LocalModelMissing, LocalServerError) as error:
            raise ConfigError(str(error)) from None
    raise ConfigError(f"unknown backend {name!r}: use simulated, ollama, openai or local")


def describe_check(backend, report) -> str:
    """What ``check`` prints: backend, server, token, models per route (never the token itself)."""
    lines = [f"backend:        {backend.label}"]
    if report is None:
        lines.append("server:         none configured (set OLLAMA_URL or OPENAI_BASE_URL in .env to use one)")
        lines.append("ready:          yes, on the simulation")
        return "\n".join(lines)
    lines.append(f"server answers: {'yes' if report.answers else 'no'}")
    token = {True: "accepted", False: "refused", None: "not checked"}[report.token_accepted]
    sent = "sent as a bearer token, not shown" if getattr(backend, "has_token", False) else "none configured"
    lines.append(f"token:          {token} ({sent})")
    lines.append("models:")
    for route, present in report.models.items():
        state = "present" if present else ("missing" if report.token_accepted else "unknown")
        lines.append(f"  {route:<9} {backend.models()[route]:<28} {state}")
    if warning := getattr(backend, "warning", None):
        lines.append(warning)
    lines.append("ready:          yes" if report.ok else f"ready:          no - {report.problem}")
    return "\n".join(lines)
