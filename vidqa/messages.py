"""Model-facing content: every key frame enters as `<t seconds>` text, then its image.

Qwen3-VL was trained with text timestamps before frames (text-timestamp alignment). vidqa never
hands key frames over as a uniform-rate video: frames picked by content are not evenly spaced,
and a video input would give them evenly spaced, wrong times. Times are absolute (seconds since
the start of the file, as players show them), with one decimal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from vidqa.backends.base import Message
from vidqa.chunking import Chunk
from vidqa.keyframes import Keyframe

CAPTION_PROMPT_VERSION = "captions-v1"

SYSTEM = ("You watch frames of a long video. Each frame comes right after its absolute time, "
          "written like <12.5 seconds>. Refer to moments by those times, in seconds.")

CAPTION_INSTRUCTION = (
    "These frames cover {start:.1f} to {end:.1f} seconds of the video. Describe what happens. "
    "Answer with JSON only, in this form:\n"
    '{{"summary": "two or three sentences", "events": [{{"start_s": 12.0, "end_s": 15.5, '
    '"text": "what happens"}}]}}\n'
    "List each distinct event (a person arriving, a slide or text on screen, an action) with "
    "its start and end in seconds, between {start:.1f} and {end:.1f}.")


def timestamp_label(pts_s: float) -> str:
    """`<12.5 seconds>`: how Qwen3-VL reads a frame's time."""
    return f"<{pts_s:.1f} seconds>"


def frame_items(keyframes: Sequence[Keyframe], image_path: Callable[[Keyframe], Path]) -> list[dict]:
    """Interleaved content items: each frame's time as text, then the frame."""
    items: list[dict] = []
    for kf in keyframes:
        items.append({"type": "text", "text": timestamp_label(kf.pts_s)})
        items.append({"type": "image", "path": str(image_path(kf)), "pts_s": kf.pts_s})
    return items


def text_track_item(lines) -> dict:
    """On-screen text read by OCR, with when it shows, as one text item."""
    rows = [f"[{line.start_s:.1f}-{line.end_s:.1f} s] {line.text}" for line in lines]
    return {"type": "text", "text": "On-screen text (OCR):\n" + "\n".join(rows)}


def caption_messages(chunk: Chunk, image_path: Callable[[Keyframe], Path],
                     text_lines: Sequence = ()) -> list[Message]:
    """The conversation that asks for one chunk's summary and timestamped events (with the
    chunk's on-screen text lines, when there are any)."""
    content = frame_items(chunk.keyframes, image_path)
    if text_lines:
        content.append(text_track_item(text_lines))
    content.append({"type": "text",
                    "text": CAPTION_INSTRUCTION.format(start=chunk.start_s, end=chunk.end_s)})
    return [{"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {"role": "user", "content": content}]


def answer_messages(question: str, summaries: Sequence[tuple[float, float, str]],
                    keyframes: Sequence[Keyframe],
                    image_path: Callable[[Keyframe], Path]) -> list[Message]:
    """A question over chunk summaries (with their time ranges) and the frames of the chunks
    most likely to hold the answer."""
    lines = [f"[{start:.1f} s - {end:.1f} s] {text}" for start, end, text in summaries]
    content: list[dict] = [{"type": "text", "text": "Summaries of the video, by time:\n"
                            + "\n".join(lines) + "\n\nFrames of the most relevant parts:"}]
    content += frame_items(keyframes, image_path)
    content.append({"type": "text", "text": (
        f"Question: {question}\nAnswer briefly and cite the times you rely on as ranges in "
        "seconds, like [12.0-15.5 s].")})
    return [{"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {"role": "user", "content": content}]
