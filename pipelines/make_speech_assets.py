"""Synthesise the spoken lines vidqa ships (run once; the output is committed).

espeak-ng (`apt-get install espeak-ng`) speaks each line; ffmpeg encodes it as 16 kHz mono Opus
at 24 kb/s into `vidqa/data/speech/<id>.opus`, and `vidqa/data/speech/lines.json` lists each
line's id, text and length. The demo sample (`vidqa sample`) and the built-in spoken needles
place these clips on their timelines; nothing at run time needs espeak-ng.

    python3 pipelines/make_speech_assets.py
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import av
import imageio_ffmpeg

OUT = Path(__file__).resolve().parent.parent / "vidqa" / "data" / "speech"

# (id, voice, text)
LINES = [
    ("demo-welcome", "en-us", "Welcome to the vidqa demo. Today we talk about the quarterly "
                              "budget."),
    ("demo-event", "en-us", "The first event is on screen now, in a yellow box."),
    ("demo-invoices", "en-gb", "Please send your invoices to Maria before Friday."),
    ("demo-budget", "en-us", "Next year the budget grows by twelve percent."),
    ("needle-password", "en-us", "The password for the archive is silver lantern."),
    ("needle-flight", "en-gb", "Our flight to Lisbon leaves from gate nine."),
    ("needle-cake", "en-us", "Remember, the cake for the party is lemon."),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    listing = []
    with tempfile.TemporaryDirectory() as tmp:
        for line_id, voice, text in LINES:
            wav = Path(tmp) / f"{line_id}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text],
                           check=True)
            out = OUT / f"{line_id}.opus"
            subprocess.run([ffmpeg, "-y", "-v", "error", "-i", str(wav), "-ac", "1", "-ar",
                            "16000", "-c:a", "libopus", "-b:a", "24k", "-map_metadata", "-1",
                            "-fflags", "+bitexact", str(out)], check=True)
            with av.open(str(out)) as container:
                length = float(container.duration / 1e6)
            listing.append({"id": line_id, "file": out.name, "text": text,
                            "duration_s": round(length, 3)})
    (OUT / "lines.json").write_text(json.dumps(listing, indent=1) + "\n", encoding="utf-8")
    print(f"{len(listing)} lines, {sum(p.stat().st_size for p in OUT.iterdir()) / 1024:.0f} KiB "
          f"in {OUT}")


if __name__ == "__main__":
    main()
