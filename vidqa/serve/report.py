"""`vidqa report`: one HTML file with the timeline, the event log, the transcript and key-frame
thumbnails of a video, that opens offline next to the video (a relative link plays it). A
sound-only recording's report plays it in an <audio> element, with the speech lane and the
transcript, and no picture parts (no scenes, thumbnails or summaries of what is shown).

Everything is inside the file: the page's own timeline script and styles, the data as JSON, the
thumbnails as small JPEG data URLs. Nothing is fetched, so it can be mailed or archived with
the video and opened in any browser.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import time
from pathlib import Path
from urllib.parse import quote

from vidqa import __version__
from vidqa.serve.timeline import timeline

STATIC = Path(__file__).parent / "static"
THUMB_WIDTH = 192
MAX_THUMBS = 400  # a 10-hour video keeps its report to a few MiB


def video_href(video: str | os.PathLike, report: Path) -> str:
    """The video's address relative to the report's folder (URL-quoted), so both can move
    together; an absolute file URL when no relative path exists (another drive)."""
    try:
        rel = os.path.relpath(Path(video).resolve(), report.resolve().parent)
    except ValueError:
        return Path(video).resolve().as_uri()
    return "/".join(quote(part) for part in Path(rel).parts)


def _thumb(path: Path, width: int) -> str | None:
    import cv2

    image = cv2.imread(str(path))
    if image is None:
        return None
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode() if ok else None


def report_data(run, out: Path, *, thumb_width: int = THUMB_WIDTH,
                max_thumbs: int = MAX_THUMBS) -> dict:
    """What the report shows, as one JSON document."""
    summary = timeline(run, bins=2000)
    lanes = summary["lanes"]
    picture = run.ingest.video.has_picture  # a sound-only recording: no scenes, no frames
    frames = lanes["frames"]["items"] if picture else []
    wanted = [i["thumb"] for i in frames if i.get("thumb")]
    if len(wanted) > max_thumbs:  # evenly over the video
        wanted = [wanted[round(n * (len(wanted) - 1) / (max_thumbs - 1))]
                  for n in range(max_thumbs)]
    keep = set(wanted)
    if picture:
        lanes["frames"]["items"] = [i for i in frames if i.get("thumb") in keep]
        for item in lanes["scenes"]["items"]:
            if item.get("thumb") not in keep:
                item.pop("thumb", None)
    thumbs = {}
    for name in keep:
        uri = _thumb(run.ingest.workdir / "keyframes" / name, thumb_width)
        if uri:
            thumbs[name] = uri
    captions = run.captions
    return {
        "video": {"name": Path(run.video).name, "href": video_href(run.video, out),
                  "duration_s": run.ingest.stats.end_s,
                  "start_offset_s": run.ingest.video.start_offset_s, "has_picture": picture},
        "timeline": summary,
        "log": [{"start_s": s.start_s, "end_s": s.end_s, "source": s.source, "kind": s.kind,
                 "text": s.text.strip()} for s in run.log() if s.text.strip()],
        "transcript": [{"start_s": s.start_s, "end_s": s.end_s, "text": s.text.strip()}
                       for s in run.said()],
        "summaries": [{"start_s": c.start_s, "end_s": c.end_s, "text": c.summary}
                      for c in (captions.chunks if captions else []) if c.summary],
        "thumbs": thumbs,
        "made": {"by": f"vidqa {__version__}", "at": time.strftime("%Y-%m-%d %H:%M")},
    }


# Inside <script>, "<!--" and "</script" change how the browser reads the rest of the element;
# JSON may write any character as \uXXXX, so none of these is written as itself.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                              "\u2028": "\\u2028", "\u2029": "\\u2029"})
_SLOTS = re.compile(r"\{\{title\}\}|/\*\{\{(?:css|timeline|report)\}\}\*/|\{\{data\}\}")


def script_json(data) -> str:
    """`data` as JSON that is safe inside a `<script>` element (and still valid JSON)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).translate(_SCRIPT_SAFE)


def render_report(data: dict) -> str:
    """The report's HTML: the data and every script and style inline, each slot of the
    template filled once (a name holding "{{data}}" stays a name)."""
    fill = {"{{title}}": html.escape(data["video"]["name"]),
            "/*{{css}}*/": (STATIC / "app.css").read_text(),
            "/*{{timeline}}*/": (STATIC / "timeline.js").read_text(),
            "/*{{report}}*/": (STATIC / "report.js").read_text(),
            "{{data}}": script_json(data)}
    template = (STATIC / "report.html").read_text()
    return _SLOTS.sub(lambda match: fill[match.group(0)], template)


def write_report(run, out: str | os.PathLike, **options) -> Path:
    """Write the report of a `VideoRun` to `out` (atomically: a reader never sees half)."""
    from vidqa.store import atomic_write_text, write_error

    out = Path(out)
    text = render_report(report_data(run, out, **options))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, text)
    except OSError as exc:
        raise write_error(exc, out, "the report") from None
    return out
