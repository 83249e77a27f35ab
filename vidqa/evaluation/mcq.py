"""Multiple-choice benchmarks on local copies of their files: Video-MME, LVBench,
LongVideoBench, MLVU, EgoSchema, and a plain JSONL.

`vidqa.evaluation.benchmarks` reads each benchmark's published annotation format into
`Question`s (id, video id, question, lettered options, the answer's letter, task type, duration
class). The video ids map
to files under `--videos` (by name, with or without extension, anywhere below). Each question
goes through the real pipeline (the video indexed once, its captions cached; then `ask` with the
configured scope) with the options and the instruction benchmarks use ("Answer with the option's
letter from the given choices directly."), decoding greedy unless the config says otherwise; the
letter is read from the reply as lmms-eval and the Qwen scripts do
(`vidqa.model.choices.extract_letter`), the raw reply kept.

Every answered question is one line of `results.jsonl` with every budget that shapes the score:
scope, fps, frame size, frames and visual tokens sent, the model's context, model, backend,
subtitles. A re-run in the same folder skips questions answered with the same settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vidqa.errors import ConfigError, VidqaError, one_line, printable
from vidqa.evaluation.benchmarks import Question
from vidqa.evaluation.needle import _locked, append_result, read_results
from vidqa.media.collection import VIDEO_EXTENSIONS
from vidqa.model.choices import extract_letter
from vidqa.store import output_folder

EVAL_VERSION = "mcq-1"


# --- the videos -----------------------------------------------------------------------------------

class VideoOutside(VidqaError):
    """A video id that leads outside the --videos folder (`..`, an absolute path, a link)."""


class VideoFiles:
    """Video ids to files under a folder: the id as a path, with or without an extension, or
    a file of that name anywhere below. Every file found resolves (links followed) inside the
    folder; an id that leads outside raises `VideoOutside`."""

    EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov")

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise VidqaError(f"--videos '{folder}' is not a folder; pass the folder that holds "
                             "the benchmark's videos")
        self.root = self.folder.resolve()
        self._by_stem: dict[str, Path] | None = None

    def _outside(self, video: str, why: str) -> VideoOutside:
        return VideoOutside(f"video id {printable(video)!r} {why} outside --videos "
                            f"'{printable(self.folder)}'; video ids name files inside it")

    def _inside(self, video: str, path: Path) -> Path:
        """`path` when it resolves (links followed) inside the folder; kept under its own name,
        which a benchmark's subtitle file (`<name>.srt`) is found by."""
        real = path.resolve()
        if not real.is_relative_to(self.root):
            raise self._outside(video, f"leads through a link to '{printable(real)}',")
        return path

    def find(self, video: str) -> Path | None:
        """The video's file, or None when the folder has none."""
        try:
            joined = Path(os.path.normpath(self.root / video))
            if joined != self.root and not joined.is_relative_to(self.root):
                raise self._outside(video, "leads")
            if joined != self.root:
                for path in (joined, *(joined.with_name(joined.name + ext)
                                       for ext in self.EXTENSIONS)):
                    if path.is_file():
                        return self._inside(video, path)
            if self._by_stem is None:
                self._by_stem = {}
                for p in sorted(self.root.rglob("*")):
                    if p.suffix.lower() in VIDEO_EXTENSIONS:
                        self._by_stem.setdefault(p.stem, p)
                        self._by_stem.setdefault(p.name, p)
            found = self._by_stem.get(Path(video).name) or self._by_stem.get(Path(video).stem)
            return None if found is None else self._inside(video, found)
        except (OSError, ValueError, RuntimeError) as exc:  # a NUL, a name too long, a loop
            raise VideoOutside(f"video id {printable(video)!r} is no file name under --videos "
                               f"'{printable(self.folder)}' ({one_line(exc, 80)})") from None


@dataclass
class McqReport:
    results_path: Path
    records: list[dict]
    ran: int
    skipped: int
    missing: list[str]  # video ids with no file
    # one line for each question not run because its video id leads outside the folder
    refused: list[str] = field(default_factory=list)

    def accuracy(self, by: str | None = None) -> dict[str, tuple[float, int]]:
        """{group: (accuracy, questions)}: overall (by None: key "all"), per task or duration."""
        groups: dict[str, list[bool]] = {}
        for r in self.records:
            key = "all" if by is None else (r.get(by) or "-")
            groups.setdefault(key, []).append(bool(r["correct"]))
        return {k: (sum(v) / len(v), len(v)) for k, v in sorted(groups.items())}


def settings_key(config, scope: str, subtitles: bool, backend) -> str:
    payload = json.dumps([EVAL_VERSION, scope, subtitles, getattr(backend, "name", ""),
                          getattr(backend, "model", ""), config.to_dict()], sort_keys=True,
                         default=str)
    return hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()


def mcq_eval(questions: Iterable[Question], videos: VideoFiles, out_dir: str | Path, *,
             pipeline, scope: str = "chunks", subtitles: bool = False, limit: int | None = None,
             on_question: Callable[[dict | None, Question], None] | None = None) -> McqReport:
    """Answer each question (resuming in `out_dir`) and return the report. `pipeline` holds
    the settings and the model (`vidqa.pipeline.Pipeline`)."""
    from vidqa.model.presets import find_preset

    out = output_folder(out_dir, "results.jsonl is written inside it")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VidqaError(f"cannot write results to '{out}': {exc.strerror}; pass -o a folder "
                         "you can write to") from None
    results_path = out / "results.jsonl"
    config, backend = pipeline.config, pipeline.backend
    if backend is None:
        raise VidqaError("answering needs a model: pass -m/--model (and -b openai for a server)")
    key = settings_key(config, scope, subtitles, backend)
    preset = find_preset(getattr(backend, "model", "") or "")
    questions = list(questions)[:limit] if limit else list(questions)
    given: dict[tuple[str, str], Question] = {}
    for q in questions:
        if given.setdefault((q.dataset, q.id), q) is not q:
            raise ConfigError(f"question id {q.id!r} ({q.dataset or 'no dataset'}) comes twice "
                              "among the questions; give each question its own id")
    records, ran, skipped, missing, refused = [], 0, 0, [], []
    runs: dict = {}
    with _locked(out):
        # a result is reused for the same question (id, video, text, options, answer) asked
        # with the same settings: a question edited, or another under a reused id, runs again
        done = {(r.get("question_key"), r.get("settings")): r for r in read_results(results_path)}
        for q in questions:
            if (q.key(), key) in done:
                records.append(done[(q.key(), key)])
                skipped += 1
                if on_question:
                    on_question(None, q)
                continue
            try:
                path = videos.find(q.video)
            except VideoOutside as exc:
                refused.append(f"question {q.id!r}: {exc} (not run)")
                continue
            if path is None:
                missing.append(q.video)
                continue
            started = time.perf_counter()
            if str(path) not in runs:  # each video indexed once (its captions cached)
                runs[str(path)] = pipeline.run(str(path))
            run = runs[str(path)]
            _, answer = pipeline.ask([run.video], q.prompt(), scope=scope, runs=[run])
            by_index = {c.index: c for c in run.ingest.chunks}
            frames = answer.frames_sent or (
                sum(len(by_index[i].keyframes) for i in answer.chunks if i in by_index)
                if scope == "chunks" else 0)
            letter = extract_letter(answer.text, q.letters())
            record = {
                "id": q.id, "dataset": q.dataset, "video": q.video, "task": q.task,
                "duration": q.duration, "answer": q.answer, "letter": letter,
                "correct": letter == q.answer, "reply": answer.text, "warning": answer.warning,
                "scope": scope, "fps": config.decode.fps,
                "max_pixels": config.decode.frame_max_pixels, "frames_sent": frames,
                "visual_tokens_sent": frames * run.ingest.stats.tokens_per_frame,
                "context_tokens": preset.context_tokens if preset else None,
                "model": getattr(backend, "model", ""), "backend": getattr(backend, "name", ""),
                "subtitles": subtitles, "temperature": config.model.temperature,
                "strategy": answer.strategy, "agent_steps": len(answer.trace),
                "seconds": round(time.perf_counter() - started, 2), "settings": key,
                "question_key": q.key(),
            }
            append_result(results_path, record)
            records.append(record)
            ran += 1
            if on_question:
                on_question(record, q)
    return McqReport(results_path, records, ran, skipped, sorted(set(missing)), refused)


def format_table(report: McqReport) -> str:
    lines = [f"{'group':<40} {'questions':>9} {'accuracy':>9}"]
    for title, by in (("overall", None), ("task", "task"), ("duration", "duration")):
        rows = report.accuracy(by)
        if by is not None and list(rows) == ["-"]:
            continue
        for name, (acc, n) in rows.items():
            label = "all" if by is None else f"{title}: {name}"
            lines.append(f"{label[:40]:<40} {n:>9} {acc:>9.1%}")
    return "\n".join(lines)


__all__ = ["McqReport", "VideoFiles", "VideoOutside", "format_table", "mcq_eval"]
