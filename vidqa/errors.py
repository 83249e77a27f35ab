"""The few errors vidqa raises. Each message names the file, what is wrong and the fix."""

from __future__ import annotations

import unicodedata


class VidqaError(Exception):
    """Base class: a failure a person can act on; the CLI prints it as one line and exits with
    its `exit_code` (1: a runtime error)."""

    exit_code = 1


class VideoOpenError(VidqaError):
    """The file is missing, unreadable, not a video, or has no video stream."""


class DecodeError(VidqaError):
    """ffmpeg could open the file but not decode it to the end (corrupt or truncated data)."""


class ConfigError(VidqaError):
    """A setting is out of range or a config file cannot be read."""


class UsageError(ConfigError):
    """A value given on the command line that vidqa cannot use (`--fps 0`): exit status 2, as
    for click's own checks of an option. A bad settings file stays a ConfigError (status 1)."""

    exit_code = 2


class CacheError(VidqaError):
    """The work directory cannot be written or holds something unreadable."""


class BackendError(VidqaError):
    """A model backend cannot be loaded or reached, or refused the request."""


class ServerError(BackendError):
    """A model server failed, not the request: it cannot be reached, dropped the connection,
    answered 5xx or 429 after the retries, hung, refused the key, does not serve the model or
    sent something that is not a reply. Another server of a pool may answer the same request."""


def printable(text: object) -> str:
    """`text` safe to print on one line: control characters and line or paragraph separators
    (a newline in a file name, an escape sequence) shown escaped, as Python writes them."""
    text = str(text)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch == " " or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def one_line(text: object, limit: int = 0) -> str:
    """`text` with every run of whitespace (newlines and tabs too) as one space, cut to `limit`
    characters with "..." when `limit` is given: an error message, an event-log line, a line
    of on-screen text."""
    line = " ".join(str(text).split())
    return line if not limit or len(line) <= limit else line[:limit - 3].rstrip() + "..."


def tell(message: str, warn=None) -> None:
    """A warning for the person running vidqa, where nothing stops: `warn(message)` (the CLI
    prints `warning: ...` on stderr), else Python's warnings (shown once, on stderr), so a
    library caller who passed no `warn` is still told."""
    if warn is not None:
        warn(message)
    else:
        import warnings

        warnings.warn(message, stacklevel=3)
