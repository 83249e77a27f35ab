"""Speech benchmark: recognition speed, memory and accuracy, then the whole offline index.

    python pipelines/bench_speech.py --matrix-minutes 5 --minutes 10 60

1. A speech-heavy sound track, looped (`unit`, 89 s, 70% speech): the NASA narration
   (torchcodec/nasa_13013.mp4, 13 s), silence, 10 s of the crowd and music of moviepy/1.mp4,
   the seven spoken sentences vidqa ships, the documentary speech over music of
   pyscenedetect/issue-195-aspect-ratio.mp4 (25 s), silence. Cached under --data.
2. Recognition alone (vidqa's defaults: every core, batches of 8 stretches of speech when VAD
   is on), per model (offline tiny.en, base), beam 1 and 5, VAD on and off, on
   --matrix-minutes of it, each in a fresh process: wall time, real-time factor (wall / audio
   length, model load included), peak RSS, and the word error rate against the NASA clip's
   own subtitle text on the clip alone, and on the whole track over the stretches whose text
   is known (the narration and the shipped sentences, each loop).
3. The whole offline index (`vidqa index --no-captions`: ingest, on-screen text, speech, index;
   no captioning model) of a 1280x720 sample (`vidqa sample --no-speech`) with the speech-heavy
   track muxed in (libx264 veryfast, B-frames on), per --minutes, fresh cache, against `vidqa ingest` alone and
   `vidqa transcript` alone on the same file in the same run: the stages overlap when the
   index takes less than ingest + transcript. Peak RSS of the whole process tree.

Prints Markdown tables and writes --out JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_ingest import measure  # same folder

from vidqa.evaluation.synth import demo_plan, render
from vidqa.media.ffmpeg import ffmpeg_exe

MEDIA = Path(os.environ.get("VIDQA_TEST_MEDIA", Path(__file__).resolve().parents[2] / "shared"
                            / "media"))
NASA = MEDIA / "torchcodec" / "nasa_13013.mp4"
NASA_SRT = MEDIA / "torchcodec" / "nasa_13013.mov_text_stream0.srt"
MUSIC = MEDIA / "moviepy" / "1.mp4"  # a gym: crowd noise and music, no speech
DOCUMENTARY = MEDIA / "pyscenedetect" / "issue-195-aspect-ratio.mp4"  # speech over music
TRACK = "t2"  # the make-up of the track: cached files carry it in their names


def unit() -> tuple[list[str], str, list[tuple[float, float, str]], float]:
    """One loop of the track: (ffmpeg inputs, filter graph ending in [unit], the stretches
    whose words are known as (start_s, end_s, text), length in seconds). The NASA narration
    (its subtitle text), silence, music, the seven shipped sentences (their text), the
    documentary's speech over music (no reference text), silence."""
    from vidqa.evaluation.spoken import lines
    from vidqa.media.subtitles import read_sidecar

    narration = " ".join(c.text.removeprefix("NAR: ") for c in read_sidecar(NASA_SRT)
                         if c.end_s <= 13.1)
    mono = "aresample=16000,aformat=channel_layouts=mono,asetpts=N/SR/TB"
    inputs = ["-i", str(NASA), "-i", str(MUSIC), "-i", str(DOCUMENTARY)]
    parts = [f"[0:a:0]atrim=0:13,{mono}", None, f"[1:a:0]atrim=5:15,{mono}", None]
    known, t = [(0.0, 13.0, narration)], 13.0 + 3.0 + 10.0 + 2.0
    gaps = {1: 3.0, 3: 2.0}
    for i, line in enumerate(lines().values()):
        inputs += ["-i", str(line.path)]
        parts += [f"[{3 + i}:a:0]{mono}", None]
        gaps[len(parts) - 1] = 1.0
        known.append((t, t + line.duration_s, line.text))
        t += line.duration_s + 1.0
    parts += [f"[2:a:0]atrim=0:25,{mono}", None]
    gaps[len(parts) - 1] = 3.0
    t += 25.0 + 3.0
    chains, labels = [], []
    for i, part in enumerate(parts):
        source = part if part is not None else \
            f"anullsrc=r=16000:cl=mono,atrim=0:{gaps[i]},asetpts=N/SR/TB"
        chains.append(f"{source}[p{i}]")
        labels.append(f"[p{i}]")
    graph = ";".join(chains) + ";" + "".join(labels) + f"concat=n={len(labels)}:v=0:a=1[unit]"
    return inputs, graph, known, round(t, 3)


def sound(path: Path, minutes: float) -> Path:
    """The speech-heavy track, `minutes` long (the unit looped), as 16 kHz mono AAC."""
    if path.exists():
        return path
    inputs, graph, _known, length = unit()
    loops = int(minutes * 60 / length) + 1
    graph += (f";[unit]aloop=loop={loops}:size={int(length * 16000) + 16000},"
              f"atrim=0:{minutes * 60:.0f}[out]")
    tmp = path.with_suffix(".tmp.m4a")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *inputs, "-filter_complex", graph,
                    "-map", "[out]", "-c:a", "aac", "-b:a", "48k", str(tmp)], check=True)
    tmp.replace(path)
    return path


def track_truth(minutes: float) -> list[tuple[float, float, str]]:
    """Every known stretch of the looped track, on its timeline."""
    _inputs, _graph, known, length = unit()
    out, offset = [], 0.0
    while offset < minutes * 60:
        out += [(a + offset, b + offset, text) for a, b, text in known
                if b + offset <= minutes * 60]
        offset += length
    return out


def video(data: Path, minutes: float) -> Path:
    """The sample video (no speech of its own) with the speech-heavy track muxed in."""
    out = data / f"speechy-{TRACK}-{minutes:g}min.mp4"
    if out.exists():
        return out
    silent = data / f"sample-{minutes:g}min.mp4"
    if not silent.exists():
        render(demo_plan(minutes, event_every_s=40.0), silent, preset="veryfast",
               write_truth=False)
    track = sound(data / f"speech-{TRACK}-{minutes:g}min.m4a", minutes)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(silent), "-i", str(track),
                    "-map", "0:v", "-map", "1:a", "-c", "copy", "-shortest", str(out)],
                   check=True)
    return out


RECOGNISE = r"""
import json, sys, time
from vidqa.media.audio import choose_audio
from vidqa.media.probe import probe
from vidqa.model.asr import WhisperASR, transcribe_stream
path, model, beam, vad = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "on"
asr = WhisperASR(model, beam_size=beam, vad=vad, threads=int(sys.argv[5]))
start = time.perf_counter(); asr.model(); load = time.perf_counter() - start
info = probe(path)
said = transcribe_stream(asr, info, choose_audio(info))
print(json.dumps({"load_s": load, "text": " ".join(u.text for u in said), "utterances": len(said),
                  "words": [[w.start_s, w.text] for u in said for w in u.words]}))
"""


def recognise(path: Path, model: str, beam: int, vad: bool, threads: int, home: str) -> dict:
    env = {**os.environ, "VIDQA_HOME": home}
    return measure([sys.executable, "-c", RECOGNISE, str(path), model, str(beam),
                    "on" if vad else "off", str(threads)], env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--matrix-minutes", type=float, default=5.0)
    parser.add_argument("--minutes", type=float, nargs="*", default=[10.0, 60.0])
    parser.add_argument("--models", nargs="*", default=["tiny.en", "base"])
    parser.add_argument("--threads", type=int, default=0, help="recogniser threads (0: every core)")
    parser.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "vidqa-bench"))
    parser.add_argument("--out", default="bench_speech.json")
    args = parser.parse_args()
    from vidqa.evaluation.spoken import word_error_rate
    from vidqa.media.subtitles import read_sidecar

    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    home = tempfile.mkdtemp(prefix="vidqa-bench-home-")  # models assembled once, kept for all
    reference = " ".join(c.text.removeprefix("NAR: ") for c in read_sidecar(NASA_SRT)
                         if c.end_s <= 13.1)
    track = sound(data / f"speech-{TRACK}-{args.matrix_minutes:g}min.m4a", args.matrix_minutes)
    # The recogniser reads the sound of a video: mux the track under a still picture.
    matrix_video = data / f"matrix-{TRACK}-{args.matrix_minutes:g}min.mp4"
    if not matrix_video.exists():
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"color=c=black:s=160x120:r=1:d={args.matrix_minutes * 60:.0f}", "-i",
                        str(track), "-c:v", "libx264", "-c:a", "copy", "-shortest",
                        str(matrix_video)], check=True)
    truth = track_truth(args.matrix_minutes)
    rows = []
    for model in args.models:
        for beam in (1, 5):
            for vad in (True, False):
                long = recognise(matrix_video, model, beam, vad, args.threads, home)
                heard = json.loads(long["stdout"].strip().splitlines()[-1])
                clip = recognise(NASA, model, beam, vad, args.threads, home)
                text = json.loads(clip["stdout"].strip().splitlines()[-1])["text"]

                row = {"model": model, "beam": beam, "vad": vad, "wall_s": long["wall_s"],
                       "rtf": round(long["wall_s"] / (args.matrix_minutes * 60), 4),
                       "peak_rss_mib": long["peak_rss_mib"],
                       "wer_nasa": round(word_error_rate(reference, text), 3),
                       # the whole track: the words heard inside each stretch whose text is
                       # known (the narration, the shipped sentences), against that text
                       "wer_track": round(word_error_rate(
                           " ".join(text for _a, _b, text in truth),
                           " ".join(w for a, b, _t in truth for start, w in heard["words"]
                                    if a - 0.5 <= start < b + 0.5)), 3),
                       "load_s": round(heard["load_s"], 2), "utterances": heard["utterances"],
                       "nasa_text": text}
                rows.append(row)
                print(json.dumps(row), flush=True)
    whole = []
    for minutes in args.minutes:
        v = video(data, minutes)
        for name, command in (("ingest", ["ingest"]), ("transcript", ["transcript", "-f", "txt",
                                                                       "-o", "-"]),
                              ("index", ["index", "--no-captions"])):
            fresh = tempfile.mkdtemp(prefix="vidqa-bench-cache-")
            # the offline model is assembled into each fresh cache first, outside the timing
            subprocess.run([sys.executable, "-c", "from vidqa.model.asr import offline_model_dir"
                            " as d; d('base')"], env={**os.environ, "VIDQA_HOME": fresh},
                           check=True)
            got = measure([sys.executable, "-m", "vidqa", "-q", *command, str(v)],
                          env={**os.environ, "VIDQA_HOME": fresh})
            entry = {"minutes": minutes, "run": name, "wall_s": got["wall_s"],
                     "peak_rss_mib": got["peak_rss_mib"]}
            whole.append(entry)
            print(json.dumps(entry), flush=True)
    Path(args.out).write_text(json.dumps({"matrix": rows, "whole": whole}, indent=1))
    print("\n| model | beam | VAD | RTF | peak RSS MiB | WER (NASA clip) | WER (whole track) |"
          "\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['beam']} | {'on' if r['vad'] else 'off'} | {r['rtf']:.3f} | "
              f"{r['peak_rss_mib']:.0f} | {r['wer_nasa']:.1%} | {r['wer_track']:.1%} |")
    print("\n| minutes | run | wall s | x ingest | peak RSS MiB |\n|---|---|---|---|---|")
    for e in whole:
        base = next(x for x in whole if x["minutes"] == e["minutes"] and x["run"] == "ingest")
        print(f"| {e['minutes']:g} | {e['run']} | {e['wall_s']:.1f} | "
              f"{e['wall_s'] / base['wall_s']:.2f} | {e['peak_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()
