"""A scripted model for tests, registered through the same registry as the real backends."""

from __future__ import annotations

from typing import ClassVar

from vidqa.backends.base import Generation


class ScriptedBackend:
    """Replies from a list, in order (the last reply repeats); records every conversation."""

    name: ClassVar[str] = "scripted"
    supports_images: ClassVar[bool] = True
    supports_video: ClassVar[bool] = False
    supports_json_mode: ClassVar[bool] = False
    supports_batching: ClassVar[bool] = False
    concurrency = 1
    replies: ClassVar[list[str]] = ['{"summary": "nothing happens", "events": []}']

    def __init__(self, model: str, **options):
        self.model = model
        self.calls: list[list[dict]] = []

    def generate(self, messages, *, max_new_tokens=1024, temperature=0.0) -> Generation:
        self.calls.append(messages)
        reply = self.replies[min(len(self.calls) - 1, len(self.replies) - 1)]
        return Generation(text=reply)
