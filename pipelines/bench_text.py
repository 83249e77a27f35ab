"""On-screen text cost and accuracy: the whole offline index against ingest alone (issue 24).

    python pipelines/bench_text.py [--data /work/bench-data] [--before /tmp/vidqa-base]
                                   [--repeat 2] [--out bench_text.json]

Videos (made once under --data, reused after):
  - the generated 5-minute benchmark video: `demo_plan(5, seed=7)`, 1280x720 30 fps, libx264
    preset medium (B-frames on), no sound: slides, bars, test pattern, Game of Life, ...
  - a camera-like clip: `render_camera(duration_s=180)`, 1280x720 30 fps, a moving test picture
    with a burned-in wall clock "CAM 03  2024-12-05 12:00:00" ticking every second.
For each video and code version (this checkout, and `--before`, another checkout run with
PYTHONPATH, measured in the same run), wall time and peak RSS (process tree, polled) of
`vidqa -q ingest V` and `vidqa -q index --no-captions V`, each in a fresh VIDQA_HOME whose
models folder is copied from a warm one (MiniLM's one-time ONNX export is not counted), the
best of --repeat runs; then, in this process with this checkout, the text track's stages
(reads by kind, reading, pinning and series seconds, OCR seconds per key frame), the small text
the tests guard (test_oldrev's "Yes?", goldeneye's UI lines), and on the camera clip the
readings against the clock's truth and where `find "12:01:30"` lands (truth: 90 s).
Prints Markdown tables; --out writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "pipelines"))
MEDIA = Path(os.environ.get("VIDQA_TEST_MEDIA", ROOT.parent / "shared" / "media"))

from bench_ingest import measure


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def videos(data: Path) -> dict[str, Path]:
    from vidqa.evaluation.synth import demo_plan, render, render_camera

    data.mkdir(parents=True, exist_ok=True)
    out = {"generated 5 min": data / "bench_5min_720p30.mp4",
           "camera 3 min": data / "camera_3min.mp4"}
    if not out["generated 5 min"].exists():
        log("rendering the 5-minute video")
        render(demo_plan(5, seed=7), out["generated 5 min"])
    if not out["camera 3 min"].exists():
        log("rendering the camera clip")
        render_camera(out["camera 3 min"], duration_s=180.0)
    return out


def warm_models(code: Path | None) -> Path:
    """A VIDQA_HOME whose models folder holds MiniLM's ONNX export."""
    from vidqa.evaluation.synth import Plan, Shot, render

    home = Path(tempfile.mkdtemp(prefix="vidqa-warm-"))
    clip = home / "warm.mp4"
    render(Plan([Shot("slide", 3.0, "Warm", 1)], width=320, height=180), clip,
           preset="veryfast")
    run(["index", "--no-captions", str(clip)], home, code)
    return home / "cache" / "models"


def run(args: list[str], home: Path, code: Path | None) -> dict:
    env = {**os.environ, "VIDQA_HOME": str(home)}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    return measure([sys.executable, "-m", "vidqa", "-q", *args], env=env, cwd=str(home))


def timed_runs(video: Path, code: Path | None, models: Path, repeat: int) -> dict:
    out = {}
    for label, args in (("ingest", ["ingest"]), ("index", ["index", "--no-captions"])):
        best = None
        for _ in range(repeat):
            home = Path(tempfile.mkdtemp(prefix="vidqa-bench-"))
            try:
                shutil.copytree(models, home / "cache" / "models")
                got = run([*args, str(video)], home, code)
            finally:
                shutil.rmtree(home, ignore_errors=True)
            if best is None or got["wall_s"] < best["wall_s"]:
                best = got
        out[label] = {"wall_s": best["wall_s"], "peak_rss_mib": best["peak_rss_mib"]}
    out["ratio"] = round(out["index"]["wall_s"] / out["ingest"]["wall_s"], 2)
    return out


def stages(video: Path) -> dict:
    """The text track's stages on `video`, this checkout, a cold frame cache."""
    from vidqa.keyframes.ingest import ingest
    from vidqa.tracks.ocr import OcrEngine, pin_lines, read_keyframes, read_series

    result = ingest(video)
    engine = OcrEngine(cache=False)
    counts: dict = {}
    t0 = time.perf_counter()
    lines = read_keyframes(result, engine, counts=counts)
    t1 = time.perf_counter()
    pinned = pin_lines(result, lines, engine)
    t2 = time.perf_counter()
    final = read_series(result, pinned, engine)
    t3 = time.perf_counter()
    keyframes = len(result.keyframes)
    return {"keyframes": keyframes, "reads": counts, "reading_s": round(t1 - t0, 2),
            "pinning_s": round(t2 - t1, 2), "series_s": round(t3 - t2, 2),
            "ocr_s_per_keyframe": round((t3 - t0) / max(1, keyframes), 3),
            "lines": len(final), "result": result, "track": final}


def small_text() -> dict:
    from vidqa.keyframes.ingest import ingest
    from vidqa.tracks.ocr import similar, text_track

    out = {}
    oldrev = MEDIA / "video-subtitle-remover" / "test_oldrev.mp4"
    golden = MEDIA / "pyscenedetect" / "goldeneye-vfr-drop3.mp4"
    if oldrev.exists():
        lines = text_track(ingest(oldrev))
        yes = [line for line in lines if similar(line.text, "Yes?") >= 0.8]
        out["oldrev_yes"] = yes[0].start_s if yes else None
    if golden.exists():
        out["goldeneye_lines"] = len(text_track(ingest(golden)))
    return out


def camera_accuracy(video: Path, track) -> dict:
    from datetime import datetime, timedelta

    from vidqa.pipeline import Pipeline

    truth = json.loads(video.with_suffix(".truth.json").read_text())
    start = datetime.strptime(truth["clock"][0]["wall"], "%Y-%m-%d %H:%M:%S")
    seconds, good, errors = int(truth["duration_s"]), 0, []
    for s in range(seconds):
        shown = (start + timedelta(seconds=s)).strftime("%H:%M:%S")
        found = [line for line in track if re.sub(r"\s", "", line.text).endswith(shown)]
        if found:
            errors.append(abs(found[0].start_s - s))
            good += errors[-1] <= 0.55
    hits = Pipeline().find(str(video), "12:01:30", k=3)
    top = hits[0] if hits else None
    return {"seconds": seconds, "read_within_0.5s": good,
            "mean_start_error_s": round(statistics.mean(errors), 3) if errors else None,
            "find_12:01:30": {"time_s": top.start_s, "text": top.text} if top else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/bench-data"))
    parser.add_argument("--before", type=Path, default=None,
                        help="another checkout (e.g. a git worktree of the last release)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    clips = videos(args.data)
    report: dict = {"runs": {}, "stages": {}}
    codes = {"after": None, **({"before": args.before} if args.before else {})}
    for version, code in codes.items():
        models = warm_models(code)
        for name, path in clips.items():
            log(f"timing {version}: {name}")
            report["runs"][f"{name} | {version}"] = timed_runs(path, code, models,
                                                               args.repeat)
        shutil.rmtree(models.parent.parent, ignore_errors=True)
    os.environ["VIDQA_HOME"] = tempfile.mkdtemp(prefix="vidqa-stages-")
    for name, path in clips.items():
        log(f"stages: {name}")
        got = stages(path)
        result, track = got.pop("result"), got.pop("track")
        report["stages"][name] = got
        if name.startswith("camera"):
            report["camera"] = camera_accuracy(path, track)
        del result
    report["small_text"] = small_text()
    print("| video | code | ingest s | index s | index / ingest | peak RSS MiB (index) |")
    print("|---|---|---:|---:|---:|---:|")
    for key, got in report["runs"].items():
        name, version = key.split(" | ")
        print(f"| {name} | {version} | {got['ingest']['wall_s']} | {got['index']['wall_s']} | "
              f"**{got['ratio']}x** | {got['index']['peak_rss_mib']} |")
    print()
    print("| video | key frames | reads (whole/look/region/same) | reading s | pinning s | "
          "series s | OCR s per key frame | lines |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for name, got in report["stages"].items():
        reads = "/".join(str(got["reads"].get(k, 0)) for k in ("whole", "look", "region",
                                                                "same"))
        print(f"| {name} | {got['keyframes']} | {reads} | {got['reading_s']} | "
              f"{got['pinning_s']} | {got['series_s']} | {got['ocr_s_per_keyframe']} | "
              f"{got['lines']} |")
    print()
    print(json.dumps({"camera": report.get("camera"), "small_text": report["small_text"]},
                     indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
