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


def make_backend(settings: Settings, backend: str | None = None, *, time_scale: float | None = None, seed: int = 0):
    """The LLM backend to run with: ``backend`` if given, else what the settings choose."""
    from course.llm import SimulatedBackend

    name = settings.chosen_backend() if backend in (None, "auto") else backend
    if name == "simulated":
        scale = settings.simulated_time_scale if time_scale is None else time_scale
        return SimulatedBackend(seed=seed, time_scale=scale)
    raise ConfigError(f"backend {name!r} is not available in this version; use --backend simulated")
