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
import threading
from pathlib import Path

from vidqa.config import DecodeConfig
from vidqa.errors import VidqaError
from vidqa.paths import cache_dir
from vidqa.serve.library import Refused
from vidqa.store import atomic_open, building_file, write_error

# A frame's area, checked before it is decoded: 4K at most (a PNG of zeros of 7000x7000 is
# 6 KB, and 147 MB once decoded). Frames are scaled down to vidqa's own size anyway.
MAX_FRAME_PIXELS = 3840 * 2160
FRAME_FORMATS = ("PNG", "JPEG", "WEBP")  # as Pillow names what it read
# What a request may make the server keep and index: a recording of at most four hours with a
# picture of at most 8K, and the newest KEEP_MEDIA recordings and KEEP_FRAMES frames (older
# ones are removed as new ones come: a client sending new files cannot fill the disk).
MAX_MEDIA_S = 4 * 3600.0
MAX_MEDIA_PIXELS = 7680 * 4320
KEEP_MEDIA = 64
KEEP_FRAMES = 4096
_DECODING = threading.Semaphore(1)  # one request's frames decoded at a time (2 cores)


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
                info = probe(partial)
            except VidqaError as exc:
                why = str(exc).replace(f"'{partial}'", "it").replace(str(partial), "it")
                raise Refused(f"the file sent in the request is not a video or sound file "
                              f"vidqa can read: {why}", 415, "unsupported_media") from None
            too_big(info)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__  # its reason, never the cache's path
        raise Refused(f"the server cannot keep the file sent in the request ({why}); send it "
                      "again later, or name a served video", 507, "storage_error") from None
    prune(received_dir(), KEEP_MEDIA, "*.*")
    return target


def too_big(info) -> None:
    """Refuse (413) a received recording longer or larger than the server indexes for a
    request: it would hold the one indexing worker for hours."""
    if info.duration_s is not None and info.duration_s > MAX_MEDIA_S:
        raise Refused(f"the recording sent lasts {info.duration_s / 3600:.1f} h, more than "
                      f"{MAX_MEDIA_S / 3600:g} h; put it in a served folder and name it by its "
                      "path", 413, "media_too_long")
    if info.has_picture and info.display_width * info.display_height > MAX_MEDIA_PIXELS:
        raise Refused(f"the video sent is {info.display_width}x{info.display_height}, more "
                      "than 8K; send it smaller, or put it in a served folder", 413,
                      "media_too_large")


def prune(folder: Path, keep: int, pattern: str) -> list[Path]:
    """Remove all but the newest `keep` files of `folder` matching `pattern`; the removed."""
    try:
        files = sorted((p for p in folder.glob(pattern) if p.is_file()),
                       key=lambda p: p.stat().st_mtime_ns, reverse=True)
    except OSError:
        return []
    removed = []
    for old in files[keep:]:
        try:
            old.unlink()
            removed.append(old)
        except OSError:
            pass
    return removed


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
    with _DECODING:
        encoded = _encoded(frames, decode, Image, ImageOps)
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
        else:
            path.touch()  # used again: the newest
        kept.append((path, width, height))
    prune(folder, max(KEEP_FRAMES, len(kept)), "*.jpg")
    return kept


def _encoded(frames: list[bytes], decode: DecodeConfig, Image, ImageOps) -> list[tuple]:
    """(name, JPEG bytes, width, height) of each frame, checked, turned and scaled."""
    from vidqa.keyframes.ingest import JPEG_QUALITY
    from vidqa.keyframes.tokens import smart_resize

    count, encoded = len(frames), []
    for index, data in enumerate(frames, 1):
        try:
            image = Image.open(io.BytesIO(data), formats=FRAME_FORMATS)
        except (OSError, ValueError, Image.DecompressionBombError):
            # Only these formats' parsers run: a GIF, a TIFF or noise is refused alike.
            raise _refused(index, count, "is not a PNG, JPEG or WebP image; send one of "
                           "those", 415, "unsupported_image") from None
        if image.format not in FRAME_FORMATS:
            raise _refused(index, count, f"is {image.format or 'an unknown format'}; send PNG, "
                           "JPEG or WebP", 415, "unsupported_image")
        width, height = image.size
        if width * height > MAX_FRAME_PIXELS:
            raise _refused(index, count, f"is {width}x{height} pixels, more than "
                           f"{MAX_FRAME_PIXELS:,}; send frames at video size")
        try:
            turned = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF: a quarter turn
            shown_w, shown_h = (height, width) if turned else (width, height)
            height_to, width_to = smart_resize(shown_h, shown_w,
                                               min_pixels=decode.frame_min_pixels,
                                               max_pixels=decode.frame_max_pixels)
            # A JPEG decodes at a fraction of its size when that still covers the target.
            image.draft("RGB", (height_to, width_to) if turned else (width_to, height_to))
            image = ImageOps.exif_transpose(image).convert("RGB")
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
    return encoded
