"""Multiple-choice benchmarks' published annotation files, read into `Question`s: Video-MME,
LVBench, LongVideoBench, MLVU, EgoSchema, and a plain JSONL.

Each loader reads its benchmark's format (id, video id, question, lettered options, the
answer's letter, task type, duration class) and nothing else: a hostile or broken file is one
`ConfigError` naming the file, the line or row and what is wrong. JSON-lines files are read line
by line and no further than `limit` questions.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from vidqa.errors import ConfigError, VidqaError, one_line

INSTRUCTION = "Answer with the option's letter from the given choices directly."
LETTERS = string.ascii_uppercase  # a question has at most 26 options, A-Z


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

    def key(self) -> str:
        """What was asked and what counts as right: a result is reused only for the same."""
        payload = json.dumps([self.dataset, self.id, self.video, self.question,
                              list(self.options), self.answer], ensure_ascii=False)
        return hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()


# --- reading one question's fields ----------------------------------------------------------------

def _kind(value) -> str:
    """What a JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def _need(row: dict, name: str, where: str, needs: str):
    if name not in row:
        raise ConfigError(f"{where} has no {name!r}; {needs}")
    return row[name]


def _text(value, name: str, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {name!r} is {_kind(value)}; it must be text")
    return value


def _ident(value, name: str, where: str) -> str:
    """An id: text or a whole number, not empty."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {name!r} is "
                          f"{'empty' if isinstance(value, str) else _kind(value)}; it must be "
                          "a name (text or a number)")
    return value


def _label(value) -> str:
    """A free-text label (task, duration class): empty when absent."""
    return "" if value is None else str(value)


_LEADING = re.compile(r"^\s*[\(\[]?([A-Z])[\.\):\]]\s*")


def _strip_letter(option: str, index: int) -> str:
    """"A. a red car" -> "a red car" (Video-MME writes the letters into its options): only the
    option's own letter is taken off ("B) no" stays as it is in the first place)."""
    match = _LEADING.match(option)
    return option[match.end():].strip() if match and match.group(1) == LETTERS[index] \
        else option.strip()


def _options(value, where: str, *, strip_letters: bool = False, name: str = "options") \
        -> list[str]:
    """The option texts, A first: a list (or an array), or a mapping letter -> text."""
    if isinstance(value, (str, bytes)):
        raise ConfigError(f"{where}: {name!r} is a string; it must be a list of the option "
                          "texts or a mapping of letters to them ({\"A\": ..., \"B\": ...})")
    if isinstance(value, dict):
        keys = [str(k).strip().upper() for k in value]
        if sorted(keys) != list(LETTERS[:len(keys)]) or len(keys) > len(LETTERS):
            shown = one_line(", ".join(sorted(map(str, value))), 80)
            raise ConfigError(f"{where}: the keys of {name!r} are {shown}; they must be the "
                              "letters A, B, C, ... in order, none left out")
        items = [text for _, text in sorted(zip(keys, value.values()))]
    else:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: {name!r} is {_kind(value)}; it must be a list of the "
                              "option texts or a mapping of letters to them")
        items = list(value)
    if len(items) < 2:
        raise ConfigError(f"{where} has {len(items)} option{'s' * (len(items) != 1)}; a "
                          "multiple-choice question needs at least 2")
    if len(items) > len(LETTERS):
        raise ConfigError(f"{where} has {len(items)} options; at most {len(LETTERS)} (A-Z) "
                          "can be lettered")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise ConfigError(f"{where}: option {LETTERS[i]} is {_kind(item)}; it must be text")
        text = _strip_letter(str(item), i) if strip_letters else str(item).strip()
        if not text:
            raise ConfigError(f"{where}: option {LETTERS[i]} is empty")
        out.append(text)
    return out


def _letter(value, options: list[str], where: str) -> str:
    """The answer as a letter: a letter, an index, or the text of an option."""
    n = len(options)
    if not isinstance(value, bool):
        if isinstance(value, int) and 0 <= value < n:
            return LETTERS[value]
        if isinstance(value, (str, int)):
            text = str(value).strip()
            if len(text) == 1 and text.upper() in LETTERS[:n]:
                return text.upper()
            if text.isdigit() and int(text) < n:
                return LETTERS[int(text)]
            if text in options:
                return LETTERS[options.index(text)]
    shown = one_line(repr(value), 60)
    raise ConfigError(f"{where}: the answer {shown} is none of the {n} options; give a "
                      f"letter A-{LETTERS[n - 1]}, an index 0-{n - 1} or an option's text")


def _question(where: str, *, id, video, question, options, answer, task="", duration="",
              dataset: str, strip_letters: bool = False, options_name: str = "options") \
        -> Question:
    """One checked question; `where` names the file and the line or place in it."""
    qid = _ident(id, "id", where)
    where = f"{where} (question {qid!r})"
    texts = _options(options, where, strip_letters=strip_letters, name=options_name)
    return Question(qid, _ident(video, "video", where), _text(question, "question", where),
                    tuple(texts), _letter(answer, texts, where), _label(task),
                    _label(duration), dataset)


class _Collected:
    """The questions of one file (or folder), read until `limit`; an id used twice is refused:
    results are kept per id, so two questions under one id would be taken for each other."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.questions: list[Question] = []
        self._places: dict[str, str] = {}

    def add(self, question: Question, where: str) -> None:
        first = self._places.setdefault(question.id, where)
        if first != where:
            raise ConfigError(f"question id {question.id!r} is used twice: {first} and "
                              f"{where}; give each question its own id")
        self.questions.append(question)

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.questions) >= self.limit

    def result(self) -> list[Question]:
        return self.questions[:self.limit] if self.limit else self.questions


# --- reading files --------------------------------------------------------------------------------

def _read(path: Path):
    """A whole JSON document."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VidqaError(f"cannot read '{path}': {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"'{path}' is not UTF-8 text; pass the benchmark's annotation "
                          "file") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"'{path}' is not valid JSON ({exc}); pass the benchmark's "
                          "annotation file") from None


def _json_rows(path: Path, data=None) -> Iterator[tuple[str, dict]]:
    """(where, row) of a JSON list of objects (or {"data": [...]})."""
    data = _read(path) if data is None else data
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise ConfigError(f"'{path}' holds {_kind(data)}, not a list of questions; pass the "
                          "benchmark's annotation file (or --format)")
    for n, row in enumerate(data, 1):
        where = f"'{path}' question {n}"
        if not isinstance(row, dict):
            raise ConfigError(f"{where} is {_kind(row)}, not an object")
        yield where, row


def _jsonl_rows(path: Path) -> Iterator[tuple[str, dict]]:
    """(where, row) of a JSON-lines file, read one line at a time (a loader stops reading at
    its limit: `--limit 1` reads one line of a large file)."""
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise VidqaError(f"cannot read '{path}': {exc.strerror}") from None
    with handle:
        n = 0
        try:
            for n, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"'{path}' line {n}"
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise ConfigError(f"{where} is not valid JSON ({exc}); each line must be "
                                      "one JSON object") from None
                if not isinstance(row, dict):
                    raise ConfigError(f"{where} is {_kind(row)}, not a JSON object")
                yield where, row
        except UnicodeDecodeError:
            raise ConfigError(f"'{path}' line {n + 1} is not UTF-8 text; pass the benchmark's "
                              "annotation file") from None
        except OSError as exc:
            raise VidqaError(f"cannot read '{path}': {exc.strerror}") from None


def _parquet_rows(path: Path) -> list[dict]:
    try:
        import pandas

        frame = pandas.read_parquet(path)
    except ImportError:  # no pandas, or neither pyarrow nor fastparquet
        raise VidqaError(f"reading '{path}' needs pandas and pyarrow: pip install "
                         "'vidqa[eval]' (or convert the file to JSON)") from None
    except (ValueError, OSError, NotImplementedError) as exc:
        raise ConfigError(f"cannot read '{path}' as parquet ({one_line(exc, 200)}); pass the "
                          "benchmark's annotation file") from None
    import numpy

    def plain(value):  # numpy's scalars and arrays as Python's
        return value.item() if isinstance(value, numpy.generic) else \
            value.tolist() if isinstance(value, numpy.ndarray) else value

    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _rows(path: Path) -> Iterator[tuple[str, dict]]:
    if path.suffix == ".parquet":
        rows = _parquet_rows(path)
        return ((f"'{path}' row {n}", row) for n, row in enumerate(rows, 1))
    return _jsonl_rows(path) if path.suffix == ".jsonl" else _json_rows(path)


# --- the benchmarks -------------------------------------------------------------------------------

def load_videomme(path: Path, limit: int | None = None) -> list[Question]:
    """Video-MME (`videomme/test-*.parquet` or its JSON): video_id, duration (short, medium,
    long), domain, sub_category, videoID (the file name), question_id, task_type, question,
    options ["A. ...", ...], answer ("A")."""
    needs = "Video-MME's rows have question_id, videoID, question, options and answer"
    out = _Collected(limit)
    with closing(_rows(path)) as rows:
        for where, row in rows:
            video = row.get("videoID") or _need(row, "video_id", where, needs)
            out.add(_question(where, id=_need(row, "question_id", where, needs), video=video,
                              question=_need(row, "question", where, needs),
                              options=_need(row, "options", where, needs),
                              answer=_need(row, "answer", where, needs),
                              task=row.get("task_type"), duration=row.get("duration"),
                              dataset="videomme", strip_letters=True), where)
            if out.full:
                break
    return out.result()


_LV_OPTION = re.compile(r"^\s*\(([A-Z])\)\s*(.*)$")


def load_lvbench(path: Path, limit: int | None = None) -> list[Question]:
    """LVBench (`video_info.meta.jsonl`): one line per video, {"key": video id, "type",
    "video_info": {"duration_minutes", ...}, "qa": [{"uid", "question": "...\\n(A) ...\\n(B) ...",
    "answer": "A", "question_type": [...]}]}; the options are lines of the question."""
    needs = "LVBench's lines have key and qa, each of qa uid, question and answer"
    out = _Collected(limit)
    with closing(_rows(path)) as rows:
        for where, video in rows:
            key = _need(video, "key", where, needs)
            info = video.get("video_info")
            minutes = info.get("duration_minutes") if isinstance(info, dict) else None
            duration = f"{minutes:.0f} min" if isinstance(minutes, (int, float)) and \
                not isinstance(minutes, bool) else _label(video.get("type"))
            qas = _need(video, "qa", where, needs)
            if not isinstance(qas, list):
                raise ConfigError(f"{where}: 'qa' is {_kind(qas)}; it must be a list of "
                                  "questions")
            for n, qa in enumerate(qas, 1):
                place = f"{where} qa {n}"
                if not isinstance(qa, dict):
                    raise ConfigError(f"{place} is {_kind(qa)}, not an object")
                stem, options = [], []
                for line in _text(_need(qa, "question", place, needs), "question",
                                  place).splitlines():
                    match = _LV_OPTION.match(line)
                    if match and len(options) < len(LETTERS) and \
                            match.group(1) == LETTERS[len(options)]:
                        options.append(match.group(2).strip())
                    else:
                        stem.append(line)
                kinds = qa.get("question_type") or []
                out.add(_question(place, id=_need(qa, "uid", place, needs), video=key,
                                  question="\n".join(stem).strip(), options=options,
                                  answer=_need(qa, "answer", place, needs),
                                  task=", ".join(map(str, kinds)) if isinstance(kinds, list)
                                  else kinds, duration=duration, dataset="lvbench"), place)
                if out.full:
                    return out.result()
    return out.result()


def load_longvideobench(path: Path, limit: int | None = None) -> list[Question]:
    """LongVideoBench (`lvb_val.json`): id, video_id, video_path, question, candidates,
    correct_choice (an index), duration_group (15, 60, 600, 3600 s), question_category."""
    needs = "LongVideoBench's rows have id, video_id, question, candidates and correct_choice"
    out = _Collected(limit)
    with closing(_rows(path)) as rows:
        for n, (where, row) in enumerate(rows, 1):
            video = row.get("video_path") or _need(row, "video_id", where, needs)
            out.add(_question(where, id=row.get("id", n), video=video,
                              question=_need(row, "question", where, needs),
                              options=_need(row, "candidates", where, needs),
                              answer=_need(row, "correct_choice", where, needs),
                              task=row.get("question_category"),
                              duration=row.get("duration_group"), dataset="longvideobench",
                              options_name="candidates"), where)
            if out.full:
                break
    return out.result()


def load_mlvu(path: Path, limit: int | None = None) -> list[Question]:
    """MLVU (`json/*.json`, one file per task, or a folder of them): video, duration (s),
    question, candidates, answer (the right candidate's text), question_type."""
    needs = "MLVU's rows have video, question, candidates and answer"
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    out = _Collected(limit)
    for file in files:
        with closing(_rows(file)) as rows:
            for n, (where, row) in enumerate(rows):
                seconds = row.get("duration")
                duration = ("short" if seconds < 240 else "medium" if seconds < 1200 else "long") \
                    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) \
                    else _label(seconds)
                out.add(_question(where, id=f"{file.stem}-{n}",
                                  video=_need(row, "video", where, needs),
                                  question=_need(row, "question", where, needs),
                                  options=_need(row, "candidates", where, needs),
                                  answer=_need(row, "answer", where, needs),
                                  task=row.get("question_type", file.stem), duration=duration,
                                  dataset="mlvu", options_name="candidates"), where)
                if out.full:
                    return out.result()
    return out.result()


def load_egoschema(path: Path, limit: int | None = None) -> list[Question]:
    """EgoSchema (`questions.json`: q_uid, question, "option 0".."option 4"; the answers of the
    public subset in `subset_answers.json` beside it, {q_uid: index}). Questions without a
    published answer are left out. The video is named by q_uid."""
    answers_file = path.with_name("subset_answers.json")
    if not answers_file.exists():
        raise VidqaError(f"EgoSchema's answers are not beside '{path}' (subset_answers.json); "
                         "only the public subset can be scored")
    answers = _read(answers_file)
    if not isinstance(answers, dict):
        raise ConfigError(f"'{answers_file}' holds {_kind(answers)}; it must be an object "
                          "{q_uid: the answer's index}")
    needs = "EgoSchema's rows have q_uid, question and 'option 0', 'option 1', ..."
    out = _Collected(limit)
    with closing(_rows(path)) as rows:
        for where, row in rows:
            uid = _ident(_need(row, "q_uid", where, needs), "q_uid", where)
            if uid not in answers:
                continue
            numbers = sorted(int(k[7:]) for k in row if re.fullmatch(r"option \d+", str(k)))
            if numbers != list(range(len(numbers))):
                raise ConfigError(f"{where} has options numbered {numbers}; they must be "
                                  "'option 0', 'option 1', ... with none left out")
            options = [row[f"option {i}"] for i in numbers]
            out.add(_question(where, id=uid, video=uid,
                              question=_need(row, "question", where, needs), options=options,
                              answer=answers[uid], duration="3 min", dataset="egoschema"),
                    where)
            if out.full:
                break
    return out.result()


def load_jsonl(path: Path, limit: int | None = None) -> list[Question]:
    """vidqa's own: one JSON object a line: id, video, question, options (a list, or a mapping
    letter -> text), answer (a letter, an index or the option's text), task, duration. Read
    line by line up to `limit` questions."""
    needs = "each line needs video, question, options and answer"
    out = _Collected(limit)
    with closing(_rows(path)) as rows:
        for n, (where, row) in enumerate(rows, 1):
            out.add(_question(where, id=row.get("id", n), video=_need(row, "video", where, needs),
                              question=_need(row, "question", where, needs),
                              options=_need(row, "options", where, needs),
                              answer=_need(row, "answer", where, needs), task=row.get("task"),
                              duration=row.get("duration"), dataset="jsonl",
                              strip_letters=True), where)
            if out.full:
                break
    return out.result()


LOADERS: dict[str, Callable[[Path, int | None], list[Question]]] = {
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


def load_questions(path: str | Path, fmt: str = "auto", limit: int | None = None) \
        -> list[Question]:
    """The questions of a benchmark's annotation file; with `limit`, the first `limit` of them
    (a JSON-lines file is read no further than they are)."""
    path = Path(path)
    if not path.exists():
        raise VidqaError(f"no file '{path}'; pass the benchmark's annotation file")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise ConfigError(f"limit {limit!r} is out of range; give a number of questions, 1 "
                          "or more (or none for all)")
    fmt = guess_format(path) if fmt == "auto" else fmt
    if fmt not in LOADERS:
        raise ConfigError(f"unknown format '{fmt}'; choose one of {', '.join(LOADERS)}")
    try:
        questions = LOADERS[fmt](path, limit)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"'{path}' is not in {fmt}'s format ({type(exc).__name__}: "
                          f"{one_line(exc, 120)}); pass --format with the right "
                          "benchmark") from None
    if not questions:
        raise ConfigError(f"'{path}' holds no questions")
    return questions
