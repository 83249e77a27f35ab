"""A scripted wall-clock track: what the on-screen text track gives for a camera's clock once
it reads each change (one segment per reading, `CAM 01 YYYY-MM-DD HH:MM:SS`), made without OCR,
so `find --at`, `/v1/find` with `at` and the page are tested fast through the real registry."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

from vidqa.tracks.base import Segment, TrackBase, TrackSpec

# file stem -> (video second, wall-clock time shown from then on), as render_camera takes them
CLOCKS = {
    "cam1": ((0.0, "2024-12-05 12:00:00"), (12.0, "2024-12-05 09:30:00")),  # restarted at 12 s
    "cam2": ((0.0, "2024-12-05 12:00:20"),),
}


class ClockTrack(TrackBase):
    """One "clock" segment a second while the file's clock (CLOCKS, by its name) shows."""

    name: ClassVar[str] = "wallclock"
    version: ClassVar[str] = "1"
    kinds: ClassVar[tuple[str, ...]] = ("clock",)
    log_kinds: ClassVar[tuple[str, ...]] = ()
    clock_kinds: ClassVar[tuple[str, ...]] = ("clock",)
    needs: ClassVar[str] = ""
    unit: ClassVar[str] = "s"
    frames: ClassVar[bool] = False  # runs on the file, beside the decode

    def __init__(self, config, tools):
        self.config = config

    def unavailable(self):
        return None

    def segments(self, media, earlier, *, on_progress=None, warn=None) -> list[Segment]:
        end_s = media.video.duration_s
        stretches = CLOCKS.get(Path(media.video.path).stem, ())
        bounds = [t for t, _ in stretches[1:]] + [end_s]
        out = []
        for (start_s, wall), stop_s in zip(stretches, bounds):
            shown = datetime.fromisoformat(wall)
            t = start_s
            while t < stop_s - 1e-6:
                text = (shown + timedelta(seconds=t - start_s)).strftime("CAM 01 %Y-%m-%d %H:%M:%S")
                out.append(Segment(t, min(t + 1.0, stop_s), text, self.name, "clock"))
                t += 1.0
        if on_progress:
            on_progress(end_s)
        return out

    def cached(self, media, earlier):
        return None


# register for one test: monkeypatch.setitem(REGISTRY, "wallclock", CLOCK_TRACK)
CLOCK_TRACK = TrackSpec("wallclock", f"{__name__}:ClockTrack", "a scripted camera clock (tests)")
