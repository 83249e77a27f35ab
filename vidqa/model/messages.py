"""Model-facing content: every key frame enters as `<t seconds>` text, then its image.

What tracks hold enters among the frames by time, each line after its own `<t seconds>` and
its track's label (as LongVideoBench's loader interleaves subtitles with frames):
`<13.4 seconds> Said: ...`, `<20.0 seconds> On screen: ...`.

Qwen3-VL was trained with text timestamps before frames (text-timestamp alignment). vidqa never
hands key frames over as a uniform-rate video: frames picked by content are not evenly spaced,
and a video input would give them evenly spaced, wrong times. Times are absolute (seconds since
the start of the file, as players show them), with one decimal. Frames a client sampled itself
(`frames_messages`: an evaluation harness sends frames, not the video) have no known times: each
enters after `Frame i of N:`, and no time is made up for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from vidqa.model.backends.base import Message
from vidqa.keyframes.chunking import Chunk
from vidqa.keyframes.selection import Keyframe
from vidqa.timecode import Timed
from vidqa.model.prompts import (ANSWER_CONTEXT, ANSWER_PROMPT, CAPTION_PROMPT, FRAME_LABEL,
                                 FRAMES_PROMPT, FRAMES_SYSTEM, FULL_CONTEXT, LINE, SYSTEM,
                                 TEXT_LINES, Prompt)


SAID_LABEL = "Said"  # the speech lines a caption prompt places among its frames


def timestamp_label(pts_s: float) -> str:
    """`<12.5 seconds>`: how Qwen3-VL reads a frame's time."""
    return f"<{pts_s:.1f} seconds>"


def frame_items(keyframes: Sequence[Keyframe], image_path: Callable[[Keyframe], Path],
                lines: Sequence[tuple[str, Timed]] = ()) -> list[dict]:
    """Interleaved content items in time order: each frame's time as text, then the frame;
    each line (`lines`: (label, a Timed with a text), "Said" for what is said) as its time,
    its label and its text, after the frames shown at or before it."""
    timeline = sorted([(kf.pts_s, 0, i) for i, kf in enumerate(keyframes)] +
                      [(line.start_s, 1, i) for i, (_label, line) in enumerate(lines)])
    items: list[dict] = []
    for t, kind, i in timeline:
        if kind == 1:
            label, line = lines[i]
            items.append({"type": "text", "text": LINE.format(
                time=timestamp_label(t), label=label, text=line.text.strip())})
        else:
            kf = keyframes[i]
            items.append({"type": "text", "text": timestamp_label(kf.pts_s)})
            items.append({"type": "image", "path": str(image_path(kf)), "pts_s": kf.pts_s})
    return items


def text_track_item(lines) -> dict:
    """On-screen text read by OCR, with when it shows, as one text item."""
    rows = [f"[{line.start_s:.1f}-{line.end_s:.1f} s] {line.text}" for line in lines]
    return {"type": "text", "text": TEXT_LINES.format(rows="\n".join(rows))}


def caption_messages(chunk: Chunk, image_path: Callable[[Keyframe], Path],
                     text_lines: Sequence = (), speech: Sequence = ()) -> list[Message]:
    """The conversation that asks for one chunk's summary and timestamped events (with what
    is said among the frames, and the chunk's on-screen text lines, when there are any)."""
    content = frame_items(chunk.keyframes, image_path, [(SAID_LABEL, s) for s in speech])
    if text_lines:
        content.append(text_track_item(text_lines))
    content.append({"type": "text",
                    "text": CAPTION_PROMPT.format(start=chunk.start_s, end=chunk.end_s)})
    return [{"role": "system", "content": [{"type": "text", "text": SYSTEM.text}]},
            {"role": "user", "content": content}]


def answer_messages(question: str, summaries: Sequence[tuple[float, float, str]],
                    keyframes: Sequence[Keyframe], image_path: Callable[[Keyframe], Path],
                    lines: Sequence[tuple[str, Timed]] = ()) -> list[Message]:
    """A question over chunk summaries (with their time ranges) and the frames of the chunks
    most likely to hold the answer, with the tracks' lines during them among the frames."""
    rows = [f"[{start:.1f} s - {end:.1f} s] {text}" for start, end, text in summaries]
    content: list[dict] = [{"type": "text",
                            "text": ANSWER_CONTEXT.format(summaries="\n".join(rows))}]
    content += frame_items(keyframes, image_path, lines)
    content.append({"type": "text", "text": ANSWER_PROMPT.format(question=question)})
    return [{"role": "system", "content": [{"type": "text", "text": SYSTEM.text}]},
            {"role": "user", "content": content}]


def full_messages(question: str, keyframes: Sequence[Keyframe],
                  image_path: Callable[[Keyframe], Path],
                  lines: Sequence[tuple[str, Timed]] = (), *,
                  intro: Prompt = FULL_CONTEXT) -> list[Message]:
    """A question over the whole video: every key frame given, each after its time, with the
    tracks' lines (what is said, what is written on screen) at their times, in one request
    (`intro`: HEARD_CONTEXT for a recording with no picture, and no frames)."""
    content: list[dict] = [{"type": "text", "text": intro.text}]
    content += frame_items(keyframes, image_path, lines)
    content.append({"type": "text", "text": ANSWER_PROMPT.format(question=question)})
    return [{"role": "system", "content": [{"type": "text", "text": SYSTEM.text}]},
            {"role": "user", "content": content}]


def frames_messages(question: str, images: Sequence[Path]) -> list[Message]:
    """A question over frames a client sampled itself (no whole video): each frame after
    `Frame i of N:`, in the order given, and never a `<t seconds>` label, since their times
    are not known."""
    content: list[dict] = []
    for index, path in enumerate(images, 1):
        content.append({"type": "text", "text": FRAME_LABEL.format(index=index,
                                                                   count=len(images))})
        content.append({"type": "image", "path": str(path)})
    content.append({"type": "text", "text": FRAMES_PROMPT.format(question=question)})
    return [{"role": "system", "content": [{"type": "text", "text": FRAMES_SYSTEM.text}]},
            {"role": "user", "content": content}]
