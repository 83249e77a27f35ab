"""Scripted models for tests, registered through the same registry as the real backends (the
`scripted` fixture in conftest.py registers `scripted`; tests register `ocr-reader` themselves):

    backend = vidqa.model.backends.get_backend("scripted", "scripted-model")
"""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

from vidqa.model.backends import BackendSpec
from vidqa.model.backends.base import Generation

DEFAULT_REPLIES: tuple[str, ...] = ('{"summary": "nothing happens", "events": []}',)


class ScriptedBackend:
    """Replies from a list, in order (the last reply repeats); records every conversation.
    A backend as `vidqa.model.backends.base.Backend` asks, like the real ones.

    The replies: the `replies` option, else the class's `replies`, which only the `scripted`
    fixture sets (through monkeypatch, so they end with the test)."""

    name: ClassVar[str] = "scripted"
    concurrency = 1
    replies: ClassVar[tuple[str, ...]] = DEFAULT_REPLIES

    def __init__(self, model: str, *, replies: list[str] | tuple[str, ...] | None = None):
        self.model = model
        self.identity = ""  # as `identity_for` says
        if replies is not None:
            self.replies = tuple(replies)
        self.calls: list[list[dict]] = []

    @classmethod
    def from_config(cls, config, *, api_key=None, pooled=False, ledger=None):
        """The model `config.model` names (a script has no server and no settings)."""
        return cls(config.model.model)

    @classmethod
    def identity_for(cls, settings) -> str:
        """Nothing besides the model's name: a script answers alike whatever the settings."""
        return ""

    def generate(self, messages, *, max_new_tokens=1024, temperature=0.0) -> Generation:
        self.calls.append(messages)
        reply = self.replies[min(len(self.calls) - 1, len(self.replies) - 1)]
        return Generation(text=reply)


class OcrReader(ScriptedBackend):
    """A stand-in model for ask mode that reads the frames it is shown with the real OCR
    engine and replies with the text it read: it answers right only when retrieval put the
    needle's frames in front of it. Registered through the real backend registry."""

    name: ClassVar[str] = "ocr-reader"

    def __init__(self, model: str):
        from vidqa.tracks.ocr import OcrEngine

        super().__init__(model)
        self.engine = OcrEngine(threads=1)

    def generate(self, messages, *, max_new_tokens=1024, temperature=0.0) -> Generation:
        import cv2

        read = []
        for message in messages:
            for item in message["content"]:
                if item.get("type") == "image":
                    read += [t for t, _ in self.engine.read(cv2.imread(item["path"]))]
        return Generation(text=" / ".join(read) or "nothing")


SCRIPTED = BackendSpec("scripted", "helpers.scripted:ScriptedBackend", "test", (),
                       "replies from a script (tests)")
OCR_READER = BackendSpec("ocr-reader", "helpers.scripted:OcrReader", "test", (),
                         "reads frames with OCR (tests)")


class Script:
    """What the `scripted` fixture gives a test: `reply(*texts)` sets what every scripted model
    answers (in order, the last one repeating) until the test ends."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self._monkeypatch = monkeypatch

    def reply(self, *replies: str) -> None:
        self._monkeypatch.setattr(ScriptedBackend, "replies", tuple(replies))


class AnsweringBackend(ScriptedBackend):
    """Captions chunks (a JSON caption whose one event is at the chunk's first key frame) and
    answers questions with `answer` (a class attribute tests set with monkeypatch): a model
    that serves both the index and the questions of one server. Registered as `answering`."""

    name: ClassVar[str] = "answering"
    answer: ClassVar[str] = "The alarm test is on screen at [41.0-43.5 s]."

    def generate(self, messages, *, max_new_tokens=1024, temperature=0.0) -> Generation:
        self.calls.append(messages)
        texts = [item.get("text", "") for message in messages for item in message["content"]
                 if isinstance(item, dict) and item.get("type") == "text"]
        if any("Question:" in text for text in texts):
            return Generation(text=self.answer)
        first = next((item.get("pts_s") for message in messages for item in message["content"]
                      if isinstance(item, dict) and item.get("type") == "image"), 0.0) or 0.0
        return Generation(text=json.dumps({"summary": "a slide with a caption", "events": [
            {"start": first, "end": first + 1.0, "text": "a slide appears"}]}))


ANSWERING = BackendSpec("answering", "helpers.scripted:AnsweringBackend", "test", (),
                        "captions and answers (tests)")
