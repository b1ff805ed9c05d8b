"""Secrets stay secret: nothing committed looks like a token, and .env is never committed."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECRET_PATTERNS = {
    "a URL with credentials": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@\"']+:[^/\s@\"']+@"),
    "a bearer token": re.compile(r"Bearer\s+(?!<)[A-Za-z0-9._~+/=-]{12,}"),
    "an API key": re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"),
    "a token assignment": re.compile(
        r"(?:OLLAMA_API_TOKEN|OPENAI_API_KEY)\s*[=:]\s*[\"']?(?!<|\$|\*|\.\.\.|[\"']?\s*$)[^\s\"'`]{6,}"
    ),
}
# Notebooks and anything that looks like saved output or documentation is scanned.
SCANNED_SUFFIXES = {".ipynb", ".json", ".jsonl", ".md", ".txt", ".csv", ".log", ".example", ".cfg", ".toml", ".ini"}


def find_secrets(text: str) -> list[str]:
    return [f"{kind}: {match.group()[:24]}..." for kind, pattern in SECRET_PATTERNS.items() for match in pattern.finditer(text)]


def committed_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in listed.splitlines() if (ROOT / name).suffix in SCANNED_SUFFIXES or name.endswith(".env.example")]


@pytest.mark.parametrize(
    "leak",
    [
        "OLLAMA_URL=https://admin:hunter2@ollama.example.com",
        '"Authorization": "Bearer 9f8e7d6c5b4a39281706"',
        "OPENAI_API_KEY=sk-live0123456789abcdefABCDEF",
        "OLLAMA_API_TOKEN=abc123def456",
    ],
)
def test_the_scanner_finds_what_a_leak_looks_like(leak):
    assert find_secrets(leak)


@pytest.mark.parametrize(
    "harmless",
    ["OLLAMA_API_TOKEN=", "OPENAI_API_KEY=<your key>", "Authorization: Bearer <token>", "token: **********",
     "(`OLLAMA_API_TOKEN=...`, `OPENAI_API_KEY=...`)."],
)
def test_the_scanner_leaves_placeholders_alone(harmless):
    assert find_secrets(harmless) == []


def test_no_committed_notebook_or_output_file_contains_a_secret():
    files = committed_files()
    assert any(path.suffix == ".ipynb" for path in files), "the notebooks are scanned"
    leaks = {str(path.relative_to(ROOT)): found for path in files if (found := find_secrets(path.read_text(errors="replace")))}
    assert leaks == {}


def known_tokens() -> set[str]:
    """The tokens the test suite uses, and the real ones in a local .env (an instructor's machine)."""
    tokens = set()
    for test_file in (ROOT / "tests").glob("*.py"):
        tokens |= set(re.findall(r'^TOKEN = "([^"]+)"', test_file.read_text(), flags=re.MULTILINE))
    env_file = ROOT / ".env"
    if env_file.exists():
        for name, value in re.findall(r"^(OLLAMA_API_TOKEN|OPENAI_API_KEY)\s*=\s*[\"']?([^\s\"'#]+)", env_file.read_text(), re.M):
            tokens.add(value)
    return {token for token in tokens if len(token) >= 8}


def test_no_committed_file_contains_a_token_the_kit_has_used():
    tokens = known_tokens()
    assert len(tokens) >= 3, "the test suite's tokens are found"
    leaks = {str(path.relative_to(ROOT)): sorted(t[:4] + "..." for t in tokens if t in text)
             for path in committed_files() if (text := path.read_text(errors="replace")) and any(t in text for t in tokens)}
    assert leaks == {}


def test_dotenv_is_ignored_by_git():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0
