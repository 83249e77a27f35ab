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
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from vidqa.config import Config, ModelConfig
    from vidqa.model.backends.pool import Accounts

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

    A backend class provides, for the registry (`vidqa.model.backends`) to make one and to key
    caches without making one:

    - `name`: its name in the registry, in cache keys and in what it reports.
    - `cls(model, **options)`: the constructor, every option keyword-only; `get_backend` passes
      its options through, and one the constructor does not take is a TypeError that names it,
      the backend and the options it takes (no `**options` that swallows the rest).
    - `from_config(config, *, api_key=None, pooled=False, ledger=None)`: the backend a resolved
      `Config` asks for, made from the settings it reads (`config.model`; the transformers
      backend also `config.decode`'s frame sizes). The keywords are what a run holds besides
      its settings: the model server's key, and for the openai backend a pool even of one
      server with the accounts its processes share (see `vidqa.model.backends.pool`); a backend
      with no server takes them and has no use for them. It may give a backend of another
      class (the openai backend: a `ServerPool` for several servers).
    - `identity_for(settings)`: what, besides the model's name, makes its outputs differ, for
      the `model` settings with the model named: the server's URL, the weights' revision, ""
      when nothing does. Cheap, and it loads and imports nothing heavy: `find` asks it to read
      cached captions with no model loaded. Captions are cached under it, so the string for
      the same settings must never change.

    A backend made provides `model`, `identity` (what `identity_for` says for the settings it
    was made from) and `generate`. Read when present: `concurrency` (requests the captioner
    sends at once, 1 without it), `context_tokens()` (the model's context length; the preset's
    without it) and `report()` (a line per server, shown when the command ends).
    """

    name: ClassVar[str]
    model: str
    identity: str

    @classmethod
    def from_config(cls, config: Config, *, api_key: str | None = None, pooled: bool = False,
                    ledger: Accounts | None = None) -> Backend:
        """The backend `config` asks for; a BackendError with the fix when it cannot be made."""
        ...

    @classmethod
    def identity_for(cls, settings: ModelConfig) -> str:
        """What answers for `settings.model` besides its name, as cache keys see it."""
        ...

    def generate(self, messages: list[Message], *, max_new_tokens: int = 1024,
                 temperature: float = 0.0) -> Generation:
        """One completion for one conversation. Raises BackendError with a fix on failure."""
        ...
