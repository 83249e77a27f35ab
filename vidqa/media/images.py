"""What a picture's header says (its format and size), read without decoding it: a picture sent
to be found is checked before any decoder runs (a decompression bomb is refused by its header)."""

from __future__ import annotations


def picture_header(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) of PNG, JPEG or WebP bytes, read from their header without
    decoding them; None for anything else (or a header that does not read)."""
    size = None
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        form, size = "PNG", (int.from_bytes(data[16:20], "big"),
                             int.from_bytes(data[20:24], "big"))
    elif data[:3] == b"\xff\xd8\xff":
        form, size = "JPEG", _jpeg_size(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        form, size = "WEBP", _webp_size(data)
    if not size or not size[0] or not size[1]:
        return None
    return form, size[0], size[1]


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """A JPEG's (width, height) from its first frame header (SOF0-15)."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # a fill byte
            at += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # no length
            at += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if at + 9 > len(data):
                return None
            return (int.from_bytes(data[at + 7:at + 9], "big"),
                    int.from_bytes(data[at + 5:at + 7], "big"))
        if marker in (0xD9, 0xDA):  # the end, or the scan, before any frame header
            return None
        at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """A WebP's (width, height): its canvas (VP8X), or its one image (VP8, VP8L)."""
    chunk, body = data[12:16], data[20:]
    if chunk == b"VP8X" and len(body) >= 10:
        return (int.from_bytes(body[4:7], "little") + 1,
                int.from_bytes(body[7:10], "little") + 1)
    if chunk == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        return (int.from_bytes(body[6:8], "little") & 0x3FFF,
                int.from_bytes(body[8:10], "little") & 0x3FFF)
    if chunk == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None
