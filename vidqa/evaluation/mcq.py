"""Multiple-choice benchmarks on local copies of their files: Video-MME, LVBench,
LongVideoBench, MLVU, EgoSchema, and a plain JSONL.

Each loader reads a benchmark's published annotation format into `Question`s (id, video id,
question, lettered options, the answer's letter, task type, duration class). The video ids map
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
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from vidqa.errors import ConfigError, VidqaError
from vidqa.evaluation.needle import _locked, append_result, read_results
from vidqa.media.collection import VIDEO_EXTENSIONS
from vidqa.model.choices import extract_letter
from vidqa.store import output_folder

INSTRUCTION = "Answer with the option's letter from the given choices directly."
EVAL_VERSION = "mcq-1"
LETTERS = "ABCDEFGHIJ"


@dataclass(frozen=True)
class Question:
    id: str
    video: str  # the benchmark's video id (a file name with or without extension)
    question: str
    options: tuple[str, ...]  # option texts, A first
    answer: str  # the right letter
    task: str = ""
    duration: str = ""  # the benchmark's duration class (short/medium/long, 15/60/600/3600, ...)
    dataset: str = ""

    def prompt(self) -> str:
        """The question, its options one per line, and the instruction."""
        lines = [self.question.strip()]
        lines += [f"{LETTERS[i]}. {text}" for i, text in enumerate(self.options)]
        return "\n".join(lines + [INSTRUCTION])

    def letters(self) -> dict[str, str]:
        return {LETTERS[i]: text for i, text in enumerate(self.options)}


def _letter(value, options: list[str], where: str) -> str:
    """The answer as a letter: a letter, an index, or the text of an option."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: the answer {value!r} is not a letter or an index")
    if isinstance(value, int) and 0 <= value < len(options):
        return LETTERS[value]
    text = str(value).strip()
    if len(text) == 1 and text.upper() in LETTERS[:len(options)]:
        return text.upper()
    if text.isdigit() and int(text) < len(options):
        return LETTERS[int(text)]
    if text in options:
        return LETTERS[options.index(text)]
    raise ConfigError(f"{where}: the answer {value!r} is none of the {len(options)} options")


_LEADING = re.compile(r"^\s*\(?([A-J])[\.\):]\s*")


def _strip_letter(option: str) -> str:
    """"A. a red car" -> "a red car" (Video-MME writes the letters into its options)."""
    return _LEADING.sub("", str(option), count=1).strip()


def _read(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VidqaError(f"cannot read '{path}': {exc.strerror}") from None
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"'{path}' is not valid JSON ({exc}); pass the benchmark's "
                          "annotation file") from None


def _parquet_or_json(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        try:
            import pandas
        except ImportError:
            raise VidqaError(f"reading '{path}' needs pandas and pyarrow (pip install pandas "
                             "pyarrow), or convert it to JSON") from None
        return pandas.read_parquet(path).to_dict("records")
    data = _read(path)
    return data if isinstance(data, list) else data.get("data", data)


def load_videomme(path: Path) -> list[Question]:
    """Video-MME (`videomme/test-*.parquet` or its JSON): video_id, duration (short, medium,
    long), domain, sub_category, videoID (the file name), question_id, task_type, question,
    options ["A. ...", ...], answer ("A")."""
    out = []
    for n, row in enumerate(_parquet_or_json(path)):
        options = [_strip_letter(o) for o in list(row["options"])]
        out.append(Question(str(row["question_id"]), str(row.get("videoID") or row["video_id"]),
                            row["question"], tuple(options),
                            _letter(row["answer"], options, f"{path} question {n + 1}"),
                            str(row.get("task_type", "")), str(row.get("duration", "")),
                            "videomme"))
    return out


_LV_OPTION = re.compile(r"^\s*\(([A-J])\)\s*(.*)$")


def load_lvbench(path: Path) -> list[Question]:
    """LVBench (`video_info.meta.jsonl`): one line per video, {"key": video id, "type",
    "video_info": {"duration_minutes", ...}, "qa": [{"uid", "question": "...\\n(A) ...\\n(B) ...",
    "answer": "A", "question_type": [...]}]}; the options are lines of the question."""
    out = []
    for video in _read(path):
        minutes = (video.get("video_info") or {}).get("duration_minutes")
        for qa in video["qa"]:
            lines = qa["question"].splitlines()
            stem = [line for line in lines if not _LV_OPTION.match(line)]
            options = [_LV_OPTION.match(line).group(2).strip() for line in lines
                       if _LV_OPTION.match(line)]
            kinds = qa.get("question_type") or []
            out.append(Question(str(qa["uid"]), str(video["key"]), "\n".join(stem).strip(),
                                tuple(options),
                                _letter(qa["answer"], options, f"{path} question {qa['uid']}"),
                                ", ".join(kinds) if isinstance(kinds, list) else str(kinds),
                                f"{minutes:.0f} min" if isinstance(minutes, (int, float)) else
                                str(video.get("type", "")), "lvbench"))
    return out


def load_longvideobench(path: Path) -> list[Question]:
    """LongVideoBench (`lvb_val.json`): id, video_id, video_path, question, candidates,
    correct_choice (an index), duration_group (15, 60, 600, 3600 s), question_category."""
    out = []
    for row in _read(path):
        options = [str(c) for c in row["candidates"]]
        video = row.get("video_path") or row["video_id"]
        out.append(Question(str(row.get("id", row.get("video_id"))), str(video),
                            row["question"], tuple(options),
                            _letter(int(row["correct_choice"]), options, f"{path} {row.get('id')}"),
                            str(row.get("question_category", "")),
                            str(row.get("duration_group", "")), "longvideobench"))
    return out


def load_mlvu(path: Path) -> list[Question]:
    """MLVU (`json/*.json`, one file per task, or a folder of them): video, duration (s),
    question, candidates, answer (the right candidate's text), question_type."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    out = []
    for file in files:
        for n, row in enumerate(_read(file)):
            options = [str(c) for c in row["candidates"]]
            seconds = row.get("duration")
            duration = "" if seconds is None else \
                ("short" if seconds < 240 else "medium" if seconds < 1200 else "long")
            out.append(Question(f"{file.stem}-{n}", str(row["video"]), row["question"],
                                tuple(options),
                                _letter(row["answer"], options, f"{file} question {n + 1}"),
                                str(row.get("question_type", file.stem)), duration, "mlvu"))
    return out


def load_egoschema(path: Path) -> list[Question]:
    """EgoSchema (`questions.json`: q_uid, question, "option 0".."option 4"; the answers of the
    public subset in `subset_answers.json` beside it, {q_uid: index}). Questions without a
    published answer are left out. The video is named by q_uid."""
    answers_file = path.with_name("subset_answers.json")
    if not answers_file.exists():
        raise VidqaError(f"EgoSchema's answers are not beside '{path}' (subset_answers.json); "
                         "only the public subset can be scored")
    answers = _read(answers_file)
    out = []
    for row in _read(path):
        uid = row["q_uid"]
        if uid not in answers:
            continue
        options = [str(row[f"option {i}"]) for i in range(5) if f"option {i}" in row]
        out.append(Question(uid, uid, row["question"], tuple(options),
                            _letter(int(answers[uid]), options, f"{path} {uid}"),
                            "", "3 min", "egoschema"))
    return out


def load_jsonl(path: Path) -> list[Question]:
    """vidqa's own: one JSON object a line: id, video, question, options (a list, or a mapping
    letter -> text), answer (a letter, an index or the option's text), task, duration."""
    out = []
    for n, row in enumerate(_read(path)):
        where = f"{path} line {n + 1}"
        try:
            options = row["options"]
            options = [options[k] for k in sorted(options)] if isinstance(options, dict) \
                else [_strip_letter(o) for o in options]
            out.append(Question(str(row.get("id", n + 1)), str(row["video"]), row["question"],
                                tuple(options), _letter(row["answer"], options, where),
                                str(row.get("task", "")), str(row.get("duration", "")), "jsonl"))
        except KeyError as exc:
            raise ConfigError(f"{where} has no {exc.args[0]!r}; each line needs video, "
                              "question, options and answer") from None
    return out


LOADERS: dict[str, Callable[[Path], list[Question]]] = {
    "videomme": load_videomme, "lvbench": load_lvbench, "longvideobench": load_longvideobench,
    "mlvu": load_mlvu, "egoschema": load_egoschema, "jsonl": load_jsonl,
}


def guess_format(path: Path) -> str:
    name = path.name.lower()
    if "videomme" in str(path).lower() or name.endswith(".parquet"):
        return "videomme"
    if name.startswith("video_info") or "lvbench" in name:
        return "lvbench"
    if name.startswith("lvb_"):
        return "longvideobench"
    if name == "questions.json":
        return "egoschema"
    if path.is_dir() or "mlvu" in str(path).lower():
        return "mlvu"
    if name.endswith(".jsonl"):
        return "jsonl"
    raise ConfigError(f"cannot tell which benchmark '{path}' is; pass --format "
                      f"({', '.join(LOADERS)})")


def load_questions(path: str | Path, fmt: str = "auto") -> list[Question]:
    path = Path(path)
    if not path.exists():
        raise VidqaError(f"no file '{path}'; pass the benchmark's annotation file")
    fmt = guess_format(path) if fmt == "auto" else fmt
    if fmt not in LOADERS:
        raise ConfigError(f"unknown format '{fmt}'; choose one of {', '.join(LOADERS)}")
    try:
        questions = LOADERS[fmt](path)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"'{path}' is not in {fmt}'s format (missing {exc}); pass --format "
                          "with the right benchmark") from None
    if not questions:
        raise ConfigError(f"'{path}' holds no questions")
    return questions


class VideoFiles:
    """Video ids to files under a folder: the id as a path, with or without an extension, or
    a file of that name anywhere below."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise VidqaError(f"--videos '{folder}' is not a folder; pass the folder that holds "
                             "the benchmark's videos")
        self._by_stem: dict[str, Path] | None = None

    def find(self, video: str) -> Path | None:
        direct = self.folder / video
        if direct.is_file():
            return direct
        for ext in (".mp4", ".mkv", ".webm", ".avi", ".mov"):
            if direct.with_name(direct.name + ext).is_file():
                return direct.with_name(direct.name + ext)
        if self._by_stem is None:
            self._by_stem = {}
            for p in sorted(self.folder.rglob("*")):
                if p.suffix.lower() in VIDEO_EXTENSIONS:
                    self._by_stem.setdefault(p.stem, p)
                    self._by_stem.setdefault(p.name, p)
        return self._by_stem.get(Path(video).name) or self._by_stem.get(Path(video).stem)


@dataclass
class McqReport:
    results_path: Path
    records: list[dict]
    ran: int
    skipped: int
    missing: list[str]  # video ids with no file

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
    records, ran, skipped, missing = [], 0, 0, []
    runs: dict = {}
    with _locked(out):
        done = {(r.get("id"), r.get("settings")): r for r in read_results(results_path)}
        for q in questions:
            if (q.id, key) in done:
                records.append(done[(q.id, key)])
                skipped += 1
                if on_question:
                    on_question(None, q)
                continue
            path = videos.find(q.video)
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
            }
            append_result(results_path, record)
            records.append(record)
            ran += 1
            if on_question:
                on_question(record, q)
    return McqReport(results_path, records, ran, skipped, sorted(set(missing)))


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


__all__ = ["INSTRUCTION", "LOADERS", "McqReport", "Question", "VideoFiles", "format_table",
           "load_questions", "mcq_eval"]
