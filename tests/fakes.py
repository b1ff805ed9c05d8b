"""Small stand-ins used by several tests."""

from __future__ import annotations

import threading

from course.llm import LLMBackend, LLMReply
from course.routing import ProcessingRoute


class ScriptedBackend(LLMBackend):
    """Answers from a script: a list of replies (str) or exceptions, used in order."""

    name = "scripted"

    def __init__(self, script, prompt_tokens=100, completion_tokens=20):
        self.script = list(script)
        self.calls: list[tuple[ProcessingRoute, list[dict]]] = []
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self._lock = threading.Lock()

    def model_for(self, route):
        return f"scripted-{route.value}"

    def chat(self, route, messages, deadline=None):
        with self._lock:
            self.calls.append((route, messages))
            step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return LLMReply(
            content=step, prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens, model=self.model_for(route)
        )
