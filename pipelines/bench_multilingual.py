"""Search across languages (issue 26): which embedder finds a sentence from a question in another
language, and what a query process costs with each.

    OMP_NUM_THREADS=1 python3 pipelines/bench_multilingual.py [--embedders minilm,e5-small,...]
        [--runs 15] [--parts text,asr,cli] [--folder DIR]

The recording is `tests/helpers/languages.py`'s: 44 sentences (12 German, 12 Spanish, 12 French,
8 English) spoken by espeak-ng, each with an English question and a question in its own
language; topics recur across languages (late trains, passwords, cakes, money), so the topic
alone does not find a sentence.

(a) text: the 44 sentences are one index (`VectorIndex.build`, entries of kind speech with the
    sentences' times); each question goes through `VectorIndex.search` (the query embedded as a
    query, the lexical ranking included). recall@1: the top hit is the question's sentence.
    "cross": English questions about the 36 German, Spanish and French sentences; "English":
    English questions about the 8 English ones; "same language": each sentence's own-language
    question (44). Build: texts/s embedding 528 texts in batches (the process's threads).
(b) text, a query process, as `vidqa find` has it once its index exists: a fresh `python3 -c` that
    imports the index module, opens the index (loading the embedder) and searches one English
    question; wall time of the whole process (interpreter start to exit) p50/p95 over --runs,
    with the time to open and to search, and its peak RSS (VmHWM).
(c) asr: speech as vidqa hears it. Each language's part of the recording is transcribed on its
    own (a recording in that language; vidqa's `WhisperASR`, the offline base model, the
    language given: detection took espeak's French for Thai), and all the utterances are one
    index; a hit is right when its time overlaps the sentence's (an utterance may hold several
    sentences). Also Whisper's task=translate on the German, Spanish and French parts (an
    English line beside the original; batched with VAD as vidqa transcribes), searched alone
    with minilm and beside the originals, with the cost of transcribing and of translating.
(d) cli: `vidqa index --no-captions` then `vidqa find --json -k 1` on a video of the German
    part, per embedder, each English question as its own process: recall@1 and the largest
    peak RSS and median wall time (GNU time).
Markdown tables on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers.languages import Spoken, build_recording  # noqa: E402

# Peak RSS from /proc (VmHWM, of this process's memory since exec): getrusage's ru_maxrss keeps
# the parent's peak across fork and exec.
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from vidqa.search.index import VectorIndex
index = VectorIndex.open(sys.argv[1], sys.argv[2])
t1 = time.perf_counter()
hits = index.search(sys.argv[3], 5)
t2 = time.perf_counter()
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"open_s": t1 - t0, "search_ms": (t2 - t1) * 1e3, "top": hits[0].entry.text,
                  "rss_mib": int(hwm.split()[1]) / 1024}))
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def entries_of(spoken: list[Spoken], video: str = "recording.wav") -> list:
    from vidqa.search.index import Entry

    return [Entry(video, "speech", s.start_s, s.end_s, s.text) for s in spoken]


def overlaps(a0: float, a1: float, b0: float, b1: float) -> bool:
    return min(a1, b1) - max(a0, b0) > 0.05


def recall(index, questions: list[tuple[str, Spoken]]) -> tuple[int, list[str]]:
    """(questions whose top hit overlaps their sentence, the questions missed)."""
    right, missed = 0, []
    for question, truth in questions:
        hits = index.search(question, 1)
        if hits and overlaps(hits[0].entry.start_s, hits[0].entry.end_s, truth.start_s,
                             truth.end_s):
            right += 1
        else:
            missed.append(question)
    return right, missed


def question_sets(spoken: list[Spoken]) -> dict[str, list[tuple[str, Spoken]]]:
    return {"cross": [(s.english_question, s) for s in spoken if s.language != "en"],
            "English": [(s.english_question, s) for s in spoken if s.language == "en"],
            "same language": [(s.native_question, s) for s in spoken]}


def bench_text(names: list[str], spoken: list[Spoken], work: Path, runs: int) -> None:
    from vidqa.search.embedders import get_embedder
    from vidqa.search.index import VectorIndex

    sets = question_sets(spoken)
    rows, base = [], {}
    for name in names:
        t0 = time.perf_counter()
        embedder = get_embedder(name)
        load_s = time.perf_counter() - t0
        texts = [s.text for s in spoken] * 12
        t0 = time.perf_counter()
        for i in range(0, len(texts), 64):
            embedder.encode(texts[i:i + 64])
        rate = len(texts) / (time.perf_counter() - t0)
        directory = work / f"text-{name}"
        index = VectorIndex.build(entries_of(spoken), embedder, directory)
        found = {label: recall(index, qs) for label, qs in sets.items()}
        for label, (_, missed) in found.items():
            for question in missed:
                log(f"  {name} missed ({label}): {question}")
        index.close()
        log(f"{name}: loaded in {load_s:.2f} s in this process; measuring a query process")
        walls, opens, searches, rss = [], [], [], []
        questions = [q for q, _ in sets["cross"]]
        for run in range(runs):
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", CHILD, str(directory), name,
                                  questions[run % len(questions)]], capture_output=True,
                                 text=True, check=True, cwd=work)
            walls.append(time.perf_counter() - t0)
            child = json.loads(out.stdout.strip().splitlines()[-1])
            opens.append(child["open_s"])
            searches.append(child["search_ms"])
            rss.append(child["rss_mib"])
        row = {"name": name, "dim": embedder.dim,
               **{label: found[label][0] for label in sets}, "rate": rate,
               "p50": statistics.median(walls), "p95": pct(walls, 95),
               "open": statistics.median(opens), "search": statistics.median(searches),
               "rss": max(rss)}
        rows.append(row)
        if name == "minilm":
            base = row
    print("\n### Text: the sentences as index entries\n")
    print("| embedder | dim | cross (EN question, de/es/fr sentence) | English | same language |"
          " build texts/s | query process p50 | p95 | open (load) | search | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    totals = {label: len(qs) for label, qs in sets.items()}
    for r in rows:
        ratio = (f" ({r['p50'] / base['p50']:.2f}x)" if base and r is not base else "")
        rss_ratio = (f" ({r['rss'] / base['rss']:.2f}x)" if base and r is not base else "")
        print(f"| {r['name']} | {r['dim']} | "
              + " | ".join(f"{r[label]}/{totals[label]}" for label in sets)
              + f" | {r['rate']:.0f} | {r['p50'] * 1e3:.0f} ms{ratio} | {r['p95'] * 1e3:.0f} ms"
              f" | {r['open'] * 1e3:.0f} ms | {r['search']:.1f} ms | {r['rss']:.0f} MiB"
              f"{rss_ratio} |")


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as handle:
        pcm = handle.readframes(handle.getnframes())
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def parts_by_language(spoken: list[Spoken]) -> dict[str, tuple[float, float, list[Spoken]]]:
    """Each language's stretch of the recording: (start_s, end_s, its sentences)."""
    out: dict[str, tuple[float, float, list[Spoken]]] = {}
    for s in spoken:
        lo, hi, group = out.get(s.language, (s.start_s, s.end_s, []))
        out[s.language] = (min(lo, s.start_s), max(hi, s.end_s), [*group, s])
    return out


def bench_asr(names: list[str], wav: Path, spoken: list[Spoken], work: Path,
              threads: int) -> None:
    from faster_whisper import BatchedInferencePipeline

    from vidqa.model.asr import WhisperASR
    from vidqa.search.embedders import get_embedder
    from vidqa.search.index import Entry, VectorIndex

    samples, rate = read_wav(wav), 16_000
    asr = WhisperASR("auto", threads=threads, device="cpu")
    native, english, cost = [], [], {"transcribe": 0.0, "translate": 0.0, "audio": 0.0}
    for language, (lo, hi, _group) in parts_by_language(spoken).items():
        start = max(0.0, lo - 0.5)
        part = samples[int(start * rate):int((hi + 0.5) * rate)]
        cost["audio"] += len(part) / rate
        t0 = time.perf_counter()
        said = asr.transcribe(part, start, language=language)
        cost["transcribe"] += time.perf_counter() - t0
        log(f"{language}: {len(said)} utterances")
        native += [Entry(f"{language}.wav", "speech", u.start_s, u.end_s, u.text) for u in said]
        if language == "en":
            english += native[-len(said):]
            continue
        t0 = time.perf_counter()  # as vidqa transcribes (VAD, batches of 8), but translating
        segments, _info = BatchedInferencePipeline(asr.model()).transcribe(
            part, batch_size=8, vad_filter=True, task="translate", language=language,
            beam_size=5, condition_on_previous_text=False)
        segments = list(segments)
        cost["translate"] += time.perf_counter() - t0
        english += [Entry(f"{language}.wav", "speech", round(start + s.start, 3),
                          round(start + s.end, 3), s.text.strip()) for s in segments]
    (work / "asr.json").write_text(json.dumps(
        {"native": [e.__dict__ for e in native], "english": [e.__dict__ for e in english]},
        ensure_ascii=False, indent=1), encoding="utf-8")
    sets = question_sets(spoken)
    print("\n### Speech: Whisper base's utterances as index entries\n")
    print(f"Transcribing {cost['audio']:.0f} s of audio took {cost['transcribe']:.1f} s; "
          f"translating its German, Spanish and French parts took {cost['translate']:.1f} s "
          f"more ({threads} CPU threads).\n")
    print("| entries | embedder | cross (EN question) | English | same language |")
    print("|---|---|---|---|---|")
    layouts = [("original", native, names),
               ("English translation (+ English part)", english, ["minilm"]),
               ("original + English translation", native + english, names)]
    for label, entries, embedders in layouts:
        for name in embedders:
            embedder = get_embedder(name)
            index = VectorIndex.build(entries, embedder, work / f"asr-{name}-{len(entries)}")
            found = {k: recall(index, qs) for k, qs in sets.items()}
            index.close()
            cells = [f"{found[k][0]}/{len(sets[k])}" for k in sets]
            if label.startswith("English translation"):
                cells[2] = "-"
            print(f"| {label} | {name} | " + " | ".join(cells) + " |")


def bench_cli(names: list[str], wav: Path, spoken: list[Spoken], work: Path) -> None:
    import imageio_ffmpeg

    lo, hi, group = parts_by_language(spoken)["de"]
    video = work / "german.mp4"
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run([ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-y", "-f", "lavfi",
                    "-i", "color=c=0x204060:s=320x180:r=5", "-ss", f"{max(0.0, lo - 0.5):.3f}",
                    "-to", f"{hi + 0.5:.3f}", "-i", str(wav), "-map", "0:v", "-map", "1:a",
                    "-shortest", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac",
                    str(video)], check=True)
    shift = max(0.0, lo - 0.5)
    env = {**os.environ, "VIDQA_HOME": str(work / "cli-home")}
    print("\n### `vidqa find` on a video of the German part (one process per question)\n")
    print("| embedder | EN questions right | wall p50 | wall max | peak RSS max |")
    print("|---|---|---|---|---|")
    for name in names:
        log(f"vidqa index --embedder {name}")
        subprocess.run([sys.executable, "-m", "vidqa", "index", "--no-captions", "--ocr", "off",
                        "--embedder", name, str(video)], check=True, env=env,
                       capture_output=True)
        right, walls, peaks = 0, [], []
        for s in group:
            out = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", sys.executable, "-m",
                                  "vidqa", "find", "--json", "-k", "1", "--ocr", "off",
                                  "--embedder", name, str(video),
                                  s.english_question],
                                 capture_output=True, text=True, env=env)
            line = next(x for x in out.stderr.splitlines() if x.startswith("TIME "))
            wall, kib = line.split()[1:]
            walls.append(float(wall))
            peaks.append(int(kib) / 1024)
            hits = json.loads(out.stdout)["hits"] if out.returncode == 0 else []
            if hits and overlaps(hits[0]["start_s"], hits[0]["end_s"], s.start_s - shift,
                                 s.end_s - shift):
                right += 1
        print(f"| {name} | {right}/{len(group)} | {statistics.median(walls):.2f} s | "
              f"{max(walls):.2f} s | {max(peaks):.0f} MiB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedders", default="minilm,e5-small,use-multilingual")
    parser.add_argument("--runs", type=int, default=15, help="query processes per embedder")
    parser.add_argument("--parts", default="text", help="of text, asr, cli (a-d above)")
    parser.add_argument("--asr-threads", type=int, default=2)
    parser.add_argument("--folder", type=Path, default=None,
                        help="where the recording is kept (default: a temporary folder)")
    args = parser.parse_args()
    names = [n.strip() for n in args.embedders.split(",") if n.strip()]
    with tempfile.TemporaryDirectory(prefix="vidqa-bench-ml-") as tmp:
        work = Path(tmp)
        os.environ["VIDQA_HOME"] = str(work / "home")  # minilm's ONNX export made here, once
        wav, spoken = build_recording(args.folder or work / "recording")
        log(f"recording: {wav} ({len(spoken)} sentences, {spoken[-1].end_s:.0f} s)")
        print(f"{len(spoken)} sentences; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; "
              f"{os.cpu_count()} CPUs")
        parts = {p.strip() for p in args.parts.split(",")}
        if "text" in parts:
            bench_text(names, spoken, work, args.runs)
        if "asr" in parts:
            bench_asr(names, wav, spoken, work, args.asr_threads)
        if "cli" in parts:
            bench_cli(names, wav, spoken, work)


if __name__ == "__main__":
    main()
