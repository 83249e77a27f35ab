"""What a chat request sends inside itself, kept in vidqa's cache: a video or a recording
(`store_media`), and frames (`store_frames`).

Both are named by the SHA-256 of the bytes received, written whole or not at all (the store's
`building_file` / `atomic_open`), so a request sent again writes nothing:

    <cache>/received/<sha256>.mp4                 a video (or .wav, ...), probed before it stays
    <cache>/received/frames/<sha256>-640x352.jpg  a frame at the size vidqa's own frames have

A received video is indexed and answered by the pipeline like a served one, but it is not
served: it is not listed in /api/videos and no route names it.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from vidqa.config import DecodeConfig
from vidqa.errors import VidqaError
from vidqa.paths import cache_dir
from vidqa.serve.library import Refused
from vidqa.store import atomic_open, building_file, write_error

MAX_FRAME_PIXELS = 50_000_000  # a frame's area before decoding (a PNG of zeros is tiny)
FRAME_FORMATS = ("PNG", "JPEG", "WEBP")  # as Pillow names what it read


def received_dir() -> Path:
    return cache_dir() / "received"


def store_media(data: bytes, suffix: str) -> Path:
    """The received video or recording as a file in the cache, probed (415 when ffmpeg does
    not read it as a video or sound file; nothing stays)."""
    from vidqa.media.probe import probe

    target = received_dir() / f"{hashlib.sha256(data).hexdigest()}{suffix}"
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with building_file(target, suffix=suffix, tag="received") as partial:
            with open(partial, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                probe(partial)
            except VidqaError as exc:
                why = str(exc).replace(f"'{partial}'", "it").replace(str(partial), "it")
                raise Refused(f"the file sent in the request is not a video or sound file "
                              f"vidqa can read: {why}", 415, "unsupported_media") from None
    except OSError as exc:
        raise write_error(exc, target, "the received video at") from None
    return target


def _refused(index: int, count: int, why: str, status: int = 400,
             code: str = "invalid_image") -> Refused:
    return Refused(f"frame {index} of {count} {why}", status, code)


def store_frames(frames: list[bytes], decode: DecodeConfig) -> list[tuple[Path, int, int]]:
    """(path, width, height) of each frame given (encoded PNG, JPEG or WebP bytes), in order:
    decoded by Pillow, turned as its EXIF says, scaled to the size vidqa gives its own frames
    (`decode.frame_max_pixels` and `frame_min_pixels`, sides rounded to multiples of 32) as
    ffmpeg's area filter does, and kept as JPEG like key frames are. A frame that is not such an
    image is refused (400, 415 for another format) before any is written."""
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise Refused("frames need Pillow on the server: pip install pillow (or 'vidqa[local]')",
                      501, "frames_unsupported") from None
    from vidqa.keyframes.ingest import JPEG_QUALITY
    from vidqa.keyframes.tokens import smart_resize

    count, encoded = len(frames), []
    for index, data in enumerate(frames, 1):
        try:
            image = Image.open(io.BytesIO(data))
        except (OSError, ValueError, Image.DecompressionBombError):
            raise _refused(index, count, "is not an image Pillow reads; send PNG, JPEG or "
                           "WebP") from None
        if image.format not in FRAME_FORMATS:
            raise _refused(index, count, f"is {image.format or 'an unknown format'}; send PNG, "
                           "JPEG or WebP", 415, "unsupported_image")
        width, height = image.size
        if width * height > MAX_FRAME_PIXELS:
            raise _refused(index, count, f"is {width}x{height} pixels, more than "
                           f"{MAX_FRAME_PIXELS:,}; send frames at video size")
        try:
            image = ImageOps.exif_transpose(image).convert("RGB")
            height_to, width_to = smart_resize(image.height, image.width,
                                               min_pixels=decode.frame_min_pixels,
                                               max_pixels=decode.frame_max_pixels)
        except (OSError, ValueError, SyntaxError) as exc:
            raise _refused(index, count, f"cannot be decoded ({exc}); send whole PNG, JPEG "
                           "or WebP images") from None
        if (width_to, height_to) != image.size:
            shrink = width_to * height_to < image.width * image.height
            image = image.resize((width_to, height_to), Image.Resampling.BOX if shrink
                                 else Image.Resampling.BICUBIC)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=JPEG_QUALITY)
        name = f"{hashlib.sha256(data).hexdigest()}-{width_to}x{height_to}.jpg"
        encoded.append((name, out.getvalue(), width_to, height_to))
    folder = received_dir() / "frames"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, folder, "the received frames at") from None
    kept = []
    for name, jpeg, width, height in encoded:
        path = folder / name
        if not path.is_file():
            with atomic_open(path, binary=True) as handle:
                handle.write(jpeg)
        kept.append((path, width, height))
    return kept
