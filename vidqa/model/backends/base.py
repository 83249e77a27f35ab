"""What every model backend offers: a small protocol, the neutral message format, the result.

Messages are the chat format both Qwen3-VL's processor and OpenAI-compatible servers take, with
one neutral image item that each backend turns into its own form:

    [{"role": "system", "content": [{"type": "text", "text": "..."}]},
     {"role": "user", "content": [{"type": "text", "text": "<12.0 seconds>"},
                                  {"type": "image", "path": "/cache/.../000024_12.000.jpg"},
                                  ...,
                                  {"type": "text", "text": "Describe ..."}]}]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

Message = dict[str, Any]


@dataclass(frozen=True)
class Generation:
    """What a model call returned: its text and what it cost, when the backend knows.

    `over_limit`: the reply went past the `max_new_tokens` asked for (a server that ignores the
    limit, or a reply too large to read); `text` then holds at most its start, and callers
    treat it as unusable output."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    visual_tokens: int | None = None
    over_limit: bool = False


@runtime_checkable
class Backend(Protocol):
    """A model that reads interleaved text and images and writes text.

    Capabilities are plain class attributes, read by the CLI and the pipeline.
    """

    name: ClassVar[str]
    supports_images: ClassVar[bool]
    supports_video: ClassVar[bool]
    supports_json_mode: ClassVar[bool]
    supports_batching: ClassVar[bool]
    model: str
    identity: str  # what answers besides the model name: the server, or the weights' revision

    def generate(self, messages: list[Message], *, max_new_tokens: int = 1024,
                 temperature: float = 0.0) -> Generation:
        """One completion for one conversation. Raises BackendError with a fix on failure."""
        ...
