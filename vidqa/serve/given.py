"""What a chat request gives vidqa: the question, and the video it is about, in any of the
shapes OpenAI-compatible clients send (lmms-eval's `openai` model among them).

- A video named by its path as `/api/videos` lists it, `vidqa://ID` or its id (`served`), a
  `file://` URL (`file_url`) or an absolute path (`path`) inside the served folders: a
  `video_url`, `video`, `input_video`, `audio_url` or `audio` item. The library checks the
  name (`Library.local`): a place outside the folders is refused before anything is opened.
- A video or recording sent inside the request: a `data:video/...;base64,` (or `data:audio/`)
  URL in one of those items (`data_url`), or an `input_audio` item (`input_audio`).
- Frames only: `image_url` items holding `data:image/png|jpeg|webp;base64,` URLs, in order (or
  a `video` item holding a list of them); at most `MAX_FRAMES`.

A whole video wins over frames: vidqa selects its own key frames from it and the frames given
beside it are counted, not decoded. Nothing is fetched: an http(s) URL is refused with the fix.
Reading stays pure here (base64 decoded, types checked); `vidqa.serve.service` does the work.

`/v1/find` and MCP's `find` take a picture to look for the same way (`read_picture`): a
`data:image/png|jpeg|webp;base64,` URL, or `{"url": ..., "name": ...}`;
`vidqa.media.images.picture_header` reads
its format and size from the bytes, before anything decodes them.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from vidqa.media.collection import AUDIO_EXTENSIONS
from vidqa.media.images import picture_header
from vidqa.serve.library import Refused

MAX_FRAMES = 64  # frames one request may give (lmms-eval's max_frames_num up to 64)
MEDIA_ITEMS = ("video_url", "video", "input_video", "audio_url", "audio")
IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/jpg": "JPEG",
               "image/webp": "WEBP"}
# A data URL's type -> the received file's extension (ffmpeg reads the content; the name
# tells what kind of file it is to the rest of vidqa).
MEDIA_TYPES = {
    "video/mp4": ".mp4", "video/webm": ".webm", "video/quicktime": ".mov",
    "video/x-matroska": ".mkv", "video/matroska": ".mkv", "video/x-msvideo": ".avi",
    "video/avi": ".avi", "video/mpeg": ".mpg", "video/mp2t": ".ts", "video/ogg": ".ogv",
    "video/3gpp": ".3gp", "video/x-flv": ".flv", "video/x-m4v": ".m4v",
    "video/x-ms-wmv": ".wmv",
    "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3", "audio/mp4": ".m4a", "audio/x-m4a": ".m4a", "audio/aac": ".aac",
    "audio/flac": ".flac", "audio/x-flac": ".flac", "audio/ogg": ".ogg", "audio/opus": ".opus",
    "audio/webm": ".weba"}
FETCHES_NOTHING = ("this server fetches nothing from the network; name a served video by its "
                   "path as /api/videos lists it (or a file:// URL inside the served folders), "
                   "or send it inside the request as a data:video/mp4;base64 URL")


@dataclass(frozen=True)
class Media:
    """The whole video (or recording) a request names or sends."""

    how: str  # served, file_url, path, data_url, input_audio
    ref: str = ""  # the name, file URL or path (not for data sent inside the request)
    data: bytes = b""  # the file's bytes, when sent inside the request
    suffix: str = ""  # their file extension (.mp4, .wav)

    @property
    def served(self) -> bool:
        """Whether it names a video of the library (else it was sent inside the request)."""
        return self.how in ("served", "file_url", "path")


@dataclass
class Given:
    """What a chat request gives: the question, the video (or None), the frames (decoded
    image bytes in order, only when no video is given) and how many frames came."""

    question: str
    media: Media | None
    frames: list[bytes] = field(default_factory=list)
    frames_given: int = 0
    num_frames: int | None = None  # media_io_kwargs' video.num_frames, when sent

    def described(self, frames_used: int) -> dict:
        """What vidqa did with the input, for the response's `vidqa.input`."""
        data = {"video": self.media.how if self.media else "frames",
                "frames_given": self.frames_given, "frames_used": frames_used}
        if self.media is not None and self.frames_given:
            data["frames"] = "ignored: vidqa selected its own key frames from the whole video"
        elif self.media is None:
            data["frames"] = ("answered from the given frames in order, with no times (a "
                              "whole video gets vidqa's own key frames, retrieval and times)")
        if self.media is not None and self.num_frames is not None:
            data["num_frames"] = "ignored: vidqa selected its own key frames"
        return data


def text_of(content) -> str:
    """The text of a message's content (a string, or its text items joined by lines)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(item.get("text", "") for item in content
                         if isinstance(item, dict) and item.get("type") == "text")
    return ""


def _data_url(url: str, what: str) -> tuple[str, bytes]:
    """(type, bytes) of a `data:TYPE;base64,DATA` URL; `Refused` with the fix otherwise."""
    head, comma, payload = url[5:].partition(",")
    params = [p.strip().lower() for p in head.split(";")]
    if not comma or "base64" not in params[1:]:
        raise Refused(f"{what} is a data URL without ';base64,'; send it base64-encoded, as "
                      "data:TYPE;base64,DATA", 400, "invalid_data_url")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"{what} is not valid base64 (a data URL's DATA must be standard base64, "
                      "without line breaks)", 400, "invalid_data_url") from None
    return params[0], data


def _media_url(value: str) -> Media:
    """The video a media item's URL or name gives."""
    lowered = value[:16].lower()
    if lowered.startswith(("http://", "https://")):
        raise Refused(f"the video is an http(s) URL; {FETCHES_NOTHING}", 400,
                      "unsupported_video_url")
    if lowered.startswith("data:"):
        kind, data = _data_url(value, "the video")
        suffix = MEDIA_TYPES.get(kind)
        if suffix is None:
            raise Refused(f"a data URL of type '{kind[:60]}' is not a video vidqa takes; send "
                          "data:video/mp4 (or webm, quicktime, x-matroska, ...) or data:audio/"
                          "wav (mpeg, mp4, flac, ogg, ...)", 415, "unsupported_media")
        return Media("data_url", data=data, suffix=suffix)
    if lowered.startswith("file:"):
        return Media("file_url", value)
    if value.startswith("/"):
        return Media("path", value)
    return Media("served", value)


def _input_audio(item: dict) -> Media:
    audio = item.get("input_audio")
    if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
        raise Refused("an input_audio item must hold {\"data\": BASE64, \"format\": \"wav\"}",
                      400, "invalid_audio")
    form = str(audio.get("format") or "wav").lower().lstrip(".")
    if f".{form}" not in AUDIO_EXTENSIONS:
        raise Refused(f"input_audio's format '{form[:20]}' is not one vidqa takes; use one of "
                      f"{', '.join(sorted(s[1:] for s in AUDIO_EXTENSIONS))}", 400,
                      "invalid_audio")
    try:
        data = base64.b64decode(audio["data"], validate=True)
    except (binascii.Error, ValueError):
        raise Refused("input_audio's data is not valid base64", 400, "invalid_audio") from None
    return Media("input_audio", data=data, suffix=f".{form}")


def _image_url(item: dict) -> str | None:
    value = item.get("image_url")
    if isinstance(value, dict):
        value = value.get("url")
    return value if isinstance(value, str) else None


def _frame(url: str | None, index: int) -> bytes:
    """The bytes of frame `index` (from 1), given as a data URL of an image type vidqa reads."""
    what = f"frame {index}"
    if not url:
        raise Refused(f"{what} (an image_url item) holds no URL; send it as "
                      "{\"url\": \"data:image/png;base64,...\"}", 400, "invalid_image")
    return image_data(url, what, "frames")[1]


def image_data(url: str, what: str, plural: str = "pictures") -> tuple[str, bytes]:
    """(type, bytes) of an image given as a `data:image/png|jpeg|webp;base64,` URL; `what`
    names it in the errors ("frame 3", "'image_url'"), `plural` what is sent ("frames")."""
    if not url[:5].lower() == "data:":
        shown = "an http(s) URL" if url[:8].lower().startswith(("http:", "https:")) else \
            "not a data: URL"
        raise Refused(f"{what} is {shown}; this server fetches nothing: send {plural} inside the "
                      "request as data:image/png;base64 (or jpeg, webp) URLs", 400,
                      "unsupported_image_url")
    kind, data = _data_url(url, what)
    if kind not in IMAGE_TYPES:
        raise Refused(f"{what} is of type '{kind[:60]}'; send PNG, JPEG or WebP {plural}", 415,
                      "unsupported_image")
    return kind, data


def read_picture(value, what: str = "'image_url'") -> tuple[bytes, str]:
    """(bytes, name) of the picture `/v1/find` looks for: a data URL, or `{"url": DATA_URL,
    "name": "slide.png"}` (OpenAI's image_url form; the name, optional, is what the hits'
    text calls it: "picture.png" by default)."""
    name = None
    if isinstance(value, dict):
        name, value = value.get("name"), value.get("url")
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"{what} must be the picture as a data URL (data:image/png;base64,...), "
                      "or {\"url\": DATA_URL}", 400, "invalid_image")
    kind, data = image_data(value.strip(), what)
    return data, picture_name(name, IMAGE_TYPES[kind].lower().replace("jpeg", "jpg"))


def picture_about(data: bytes) -> dict:
    """What a picture sent to `find` is, as its answer says it (read from the header)."""
    form, width, height = picture_header(data)
    return {"format": form.lower(), "width": width, "height": height, "bytes": len(data)}


def picture_name(name, extension: str = "png") -> str:
    """A picture's name as hits show it: the one given, printable and at most 100 characters,
    else "picture.EXT"."""
    shown = "".join(c for c in name if c.isprintable()).strip()[:100] \
        if isinstance(name, str) else ""
    return shown or f"picture.{extension}"


def _check_options(body: dict) -> None:
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise Refused("'n' must be 1: vidqa gives one answer per request (send the request "
                      "again for another)", 400, "invalid_n")


def read_request(body: dict) -> Given:
    """What the chat request `body` gives; `Refused` with the fix for what cannot be used."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Refused("'messages' must be a non-empty list of chat messages", 400,
                      "invalid_messages")
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise Refused("no user message; the last user message asks the question", 400,
                      "invalid_messages")
    _check_options(body)
    media, images = None, []
    for message in users:
        content = message.get("content")
        for item in content if isinstance(content, list) else []:
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            if kind == "input_audio":
                media = _input_audio(item)
                continue
            if kind == "image_url":
                images.append(_image_url(item))
                continue
            if kind not in MEDIA_ITEMS:
                continue
            value = item.get(kind)
            if isinstance(value, dict):
                value = value.get("url") or value.get("path") or value.get("id")
            if isinstance(value, list):  # a video as its frames (Qwen's form)
                images += [v if isinstance(v, str) else _image_url(v)
                           if isinstance(v, dict) else None for v in value]
            elif isinstance(value, str):
                media = _media_url(value.strip()) if value.strip() else media
            elif value is not None:
                raise Refused("a video item must hold the video's path, id or URL as text",
                              400, "invalid_video")
    if isinstance(users[-1].get("content"), (dict, int, float)):
        raise Refused("a message's content must be text or a list of content items", 400,
                      "invalid_messages")
    question = text_of(users[-1].get("content")).strip()
    if media is None and not images:
        raise Refused("no video named: add {\"type\": \"video_url\", \"video_url\": {\"url\": "
                      "PATH}} to the user message, with a path as /api/videos lists it (or "
                      "frames as image_url data: URLs)", 400, "missing_video")
    if not question:
        raise Refused("the user message asks nothing; add a text item with the question", 400,
                      "missing_question")
    kwargs = body.get("media_io_kwargs")
    video_kwargs = kwargs.get("video") if isinstance(kwargs, dict) else None
    num_frames = video_kwargs.get("num_frames") if isinstance(video_kwargs, dict) else None
    given = Given(question, media, frames_given=len(images),
                  num_frames=num_frames if isinstance(num_frames, int) else None)
    if media is None:
        if len(images) > MAX_FRAMES:
            raise Refused(f"{len(images)} frames given, more than the {MAX_FRAMES} this server "
                          f"takes; send at most {MAX_FRAMES} (lmms-eval: max_frames_num="
                          f"{MAX_FRAMES}), or the whole video (pass_video_url=True)", 400,
                          "too_many_frames")
        given.frames = [_frame(url, i) for i, url in enumerate(images, 1)]
    return given

