"""Step 00: settings from .env and the environment; the token never shows."""

import pytest

from course.config import ConfigError, load_settings, make_backend
from course.routing import ProcessingRoute


def test_nothing_configured_means_the_simulated_backend(tmp_path):
    settings = load_settings(env_file=tmp_path / "missing.env", environ={})
    assert settings.chosen_backend() == "simulated"
    assert make_backend(settings).simulated


def test_the_lessons_placeholders_count_as_not_configured(tmp_path):
    environ = {"OLLAMA_URL": "http://XX.XX.XX.XX", "OLLAMA_API_TOKEN": "YOUR_TOKEN_HERE"}
    settings = load_settings(env_file=tmp_path / "none", environ=environ)
    assert settings.ollama_url is None and settings.chosen_backend() == "simulated"


def test_dotenv_file_is_read_and_the_environment_wins(tmp_path):
    env = tmp_path / ".env"
    env.write_text("OLLAMA_URL=http://10.0.0.5:11434\nDEFAULT_MODEL=qwen3:8b\nFAST_MODEL=qwen3:1.7b\nBATCH_WORKERS=4\n")
    settings = load_settings(env_file=env, environ={"BATCH_WORKERS": "6"})
    assert settings.chosen_backend() == "ollama"
    assert settings.batch_workers == 6
    assert settings.model_for(ProcessingRoute.FAST) == "qwen3:1.7b"
    assert settings.model_for(ProcessingRoute.PREMIUM) == "qwen3:8b"


def test_the_token_is_hidden_when_settings_are_printed(tmp_path):
    settings = load_settings(env_file=tmp_path / "none", environ={"OLLAMA_API_TOKEN": "s3cr3t-token-value"})
    assert "s3cr3t-token-value" not in repr(settings) and "s3cr3t-token-value" not in str(settings)
    assert settings.ollama_api_token.get_secret_value() == "s3cr3t-token-value"


def test_an_invalid_setting_is_a_one_line_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="BATCH_WORKERS"):
        load_settings(env_file=tmp_path / "none", environ={"BATCH_WORKERS": "lots"})
