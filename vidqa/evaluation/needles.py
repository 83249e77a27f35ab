"""Needles for needle-in-a-haystack evaluation: what is hidden, what is asked, what counts as right.

A needle is text burned into the haystack's picture, a still image shown full-frame, a short
clip spliced in, for `duration_s` seconds, or a sentence spoken on the sound track (`spoken`: a
sound file, as long as it lasts; `text` says what is said). Each carries a question and its answer (one word, a
short text, or a choice among options) for `ask`, and a query for `find` ("the secret word",
not the word itself: retrieval must bridge the wording). An image or clip needle is also looked
for by a picture of it, as `find --image` does (`needle_pictures`: the image itself, or a frame
from inside the clip, as it is and as a degraded copy).

The built-in set needs no download: the images and clips are drawn by ffmpeg's lavfi sources
and cached; the spoken sentences ship with vidqa (`vidqa.evaluation.spoken`). A user set is a YAML or JSON file, a list of needles (or `{needles: [...]}`) with
paths relative to that file::

    - kind: image
      path: logo.png
      question: Which company's logo is shown?
      answer: Acme
      query: company logo
      duration_s: 3
    - kind: spoken
      path: reminder.wav
      text: The meeting moves to Thursday.
      question: To which day does the meeting move?
      answer: Thursday
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from vidqa.config import read_yaml
from vidqa.paths import cache_dir
from vidqa.errors import ConfigError, VidqaError
from vidqa.media.ffmpeg import input_args, local_url, run_ffmpeg
from vidqa.media.probe import probe
from vidqa.store import building_file, write_error
from vidqa.evaluation.synth import drawtext

NEEDLE_KINDS = ("text", "image", "clip", "spoken")
PICTURE_KINDS = ("image", "clip")  # needles also found by a picture (`find --image`)
DEFAULT_DURATION_S = 3.0
_LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class Needle:
    """One thing to hide and find. `answer` is a word, a short text, or for multiple choice the
    right option's letter ("B")."""

    id: str
    kind: str  # text | image | clip | spoken
    question: str
    answer: str
    query: str  # what `find` searches for
    text: str = ""  # text needle: the words burned in; spoken: the words said
    path: str = ""  # image or clip needle: the file; spoken: the sound file
    choices: tuple[str, ...] = ()
    duration_s: float = DEFAULT_DURATION_S

    @property
    def by_picture(self) -> bool:
        """Whether `find` also looks for this needle by a picture of it (`needle_pictures`)."""
        return self.kind in PICTURE_KINDS

    @property
    def answer_type(self) -> str:
        if self.choices:
            return "choice"
        return "word" if len(self.answer.split()) == 1 else "text"

    def prompt(self) -> str:
        """The question as the model is asked it (options listed for multiple choice)."""
        if not self.choices:
            return self.question
        options = "\n".join(f"({_LETTERS[i]}) {c}" for i, c in enumerate(self.choices))
        return f"{self.question}\n{options}\nAnswer with the option's letter."

    def to_dict(self) -> dict:
        data = asdict(self)
        data["choices"] = list(self.choices)
        return {k: v for k, v in data.items() if v not in ("", [], ())}

    def digest(self) -> str:
        """What identifies this needle in a results file: its fields and its file's content
        (not where the file lies, so a moved project or cache keeps its results)."""
        fields = {k: v for k, v in self.to_dict().items() if k != "path"}
        h = hashlib.blake2b(json.dumps(fields, sort_keys=True).encode(), digest_size=8)
        if self.path and Path(self.path).is_file():
            h.update(Path(self.path).read_bytes())
        return h.hexdigest()


# --- built-in needles ---------------------------------------------------------------------------

BUILTIN_TEXT = (
    Needle("text-pelican", "text", "What is the secret word shown on screen?", "PELICAN",
           "the secret word", text="The secret word is PELICAN"),
    Needle("text-vault", "text", "What is the code of the vault?", "4821",
           "vault code number", text="VAULT CODE 4821"),
    Needle("text-meeting", "text", "Which room did the meeting move to?", "Room 7B",
           "meeting moved to another room", text="Meeting moved to Room 7B"),
    Needle("text-train", "text", "At which platform does the train to Oslo leave?",
           "B", "train departure platform", text="Train to Oslo departs from platform 12",
           choices=("platform 3", "platform 12", "platform 21", "platform 7")),
)

# Built-in images and clips: (needle, lavfi graph drawing it). Text inside them keeps `find`
# possible with OCR alone; the questions ask about what a model would see.
_IMAGE_GRAPHS = {
    "image-voltage": "color=c=0xf28c28:s=1280x720:d=1,drawbox=x=140:y=90:w=1000:h=540:"
                     "color=black:t=18,{title},{sub}",
    "image-ticket": "color=c=0x1f6fb2:s=1280x720:d=1,drawbox=x=240:y=160:w=800:h=400:"
                    "color=white:t=fill,{title},{sub}",
}
_CLIP_GRAPHS = {  # something moves: a square crossing, a bar filling
    "clip-comet": "color=c=black:s=1280x720:r=30:d={d}[bg];color=c=red:s=200x200:r=30:d={d}[it];"
                  "[bg][it]overlay=x='mod(t*420\\,1480)-200':y=260,{title}",
    "clip-countdown": "color=c=0x203040:s=1280x720:r=30:d={d}[bg];color=c=yellow:s=1280x60:r=30:"
                      "d={d}[it];[bg][it]overlay=x='t*400-1280':y=520,{title},{sub}",
}
BUILTIN_MEDIA = (
    (Needle("image-voltage", "image", "What does the orange sign warn about?", "B",
            "orange warning sign", choices=("wet floor", "high voltage", "falling rocks",
                                            "deep water")),
     {"title": ("DANGER", "(w-text_w)/2", "h/3", "black"),
      "sub": ("HIGH VOLTAGE", "(w-text_w)/2", "h*0.55", "black")}),
    (Needle("image-ticket", "image", "Which gate is printed on the blue ticket?", "Gate 42",
            "boarding pass ticket gate"),
     {"title": ("BOARDING PASS", "(w-text_w)/2", "h*0.32", "black"),
      "sub": ("Gate 42", "(w-text_w)/2", "h*0.55", "black")}),
    (Needle("clip-comet", "clip", "What colour is the square that moves across the screen?",
            "red", "a square moving across the screen with the word COMET"),
     {"title": ("COMET", "(w-text_w)/2", "h*0.7", "white")}),
    (Needle("clip-countdown", "clip", "Which mission name appears during the countdown?",
            "ARTEMIS", "rocket launch countdown mission"),
     {"title": ("MISSION ARTEMIS", "(w-text_w)/2", "h/3", "white"),
      "sub": ("LAUNCH IN PROGRESS", "(w-text_w)/2", "h*0.5", "yellow")}),
)

# Spoken: (id, shipped line, question, answer, query). `find` must bridge the wording too.
_SPOKEN = (
    ("spoken-password", "needle-password", "What is the password for the archive?",
     "silver lantern", "archive password"),
    ("spoken-flight", "needle-flight", "From which gate does the flight to Lisbon leave?",
     "nine", "flight departure gate"),
    ("spoken-cake", "needle-cake", "What flavour is the party cake?", "lemon",
     "party cake flavour"),
)

BUILTIN_SETS = ("builtin", "builtin-text", "builtin-image", "builtin-clip", "builtin-picture",
                "builtin-spoken")


def _spoken_needles() -> list[Needle]:
    from vidqa.evaluation.spoken import lines

    out = []
    for needle_id, line_id, question, answer, query in _SPOKEN:
        line = lines()[line_id]
        out.append(Needle(needle_id, "spoken", question, answer, query, text=line.text,
                          path=str(line.path), duration_s=line.duration_s))
    return out


def _ffmpeg_cached(path: Path, args: list[str], what: str, fix: str) -> Path:
    """`path` (under the needle cache), written by ffmpeg from `args` once: a later call finds
    it. The file appears whole or not at all."""
    if path.is_file():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with building_file(path, suffix=path.suffix) as tmp:
            run_ffmpeg([*args, local_url(tmp)], what=what, fix=fix)
    except OSError as exc:
        raise write_error(exc, path.parent, "the needle cache") from None
    return path


def _render_asset(needle: Needle, texts: dict) -> Path:
    """Draw a built-in image or clip with ffmpeg (once; cached by what it looks like)."""
    graphs = _IMAGE_GRAPHS if needle.kind == "image" else _CLIP_GRAPHS
    parts = {name: drawtext(text, 96 if name == "title" else 72, x, y, color=color)
             for name, (text, x, y, color) in texts.items()}
    graph = graphs[needle.id].format(d=f"{needle.duration_s:.3f}", **parts)
    suffix = ".png" if needle.kind == "image" else ".mp4"
    key = hashlib.blake2b(graph.encode(), digest_size=6).hexdigest()
    path = cache_dir() / "needles" / f"{needle.id}-{key}{suffix}"
    out = ["-frames:v", "1", "-update", "1"] if needle.kind == "image" else \
        ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]
    return _ffmpeg_cached(path, ["-f", "lavfi", "-i", graph, *out],
                          f"cannot draw the built-in needle '{needle.id}' into '{path}'",
                          "check that the folder is writable")


def builtin_needles(name: str = "builtin") -> list[Needle]:
    """A built-in set: builtin (all), builtin-text, builtin-image, builtin-clip,
    builtin-picture (the images and the clips) or builtin-spoken."""
    if name not in BUILTIN_SETS:
        raise ConfigError(f"unknown needle set '{name}'; use one of {', '.join(BUILTIN_SETS)} "
                          "or a YAML/JSON file")
    kind = name.removeprefix("builtin").removeprefix("-")
    out = [n for n in BUILTIN_TEXT if kind in ("", "text")]
    for needle, texts in BUILTIN_MEDIA:
        if kind in ("", needle.kind) or (kind == "picture" and needle.by_picture):
            out.append(replace(needle, path=str(_render_asset(needle, texts))))
    if kind in ("", "spoken"):
        out += _spoken_needles()
    return out


# --- the pictures `find` is given for image and clip needles ----------------------------------
#
# A person looking for an image has the image; for a clip, a frame of it (a screenshot). Each
# picture needle is looked for twice (`find` with a `vidqa.search.pictures.Picture`): by that
# picture as it is ("as-is": the image file itself; for a clip, its frame CLIP_FRAME_AT of the
# way into what is shown, so the moment is inside the needle but not its first frame), and by
# a copy as it reaches a person forwarded in a chat ("degraded": each side halved, then
# recompressed as a rough JPEG). Both are made with ffmpeg and cached beside the drawn needles.

PICTURE_QUERY_VERSION = "1"
PICTURE_VARIANTS = ("as-is", "degraded")
CLIP_FRAME_AT = 0.5  # share of a clip needle's duration_s: its frame there is the query
DEGRADED_SCALE = 0.5  # the degraded copy: each side this share (area filter), ...
DEGRADED_JPEG_Q = 12  # ... then JPEG at ffmpeg's -q:v 12 (2 best .. 31 worst): blocky
OPENCV_IMAGES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")  # image files given as they are


def picture_query_settings() -> list:
    """What decides the pictures a needle is looked for by (part of a cell's results key)."""
    return [PICTURE_QUERY_VERSION, list(PICTURE_VARIANTS), CLIP_FRAME_AT, DEGRADED_SCALE,
            DEGRADED_JPEG_Q]


@dataclass(frozen=True)
class NeedlePicture:
    """A picture to look for a needle by: `variant` (one of PICTURE_VARIANTS), the file, and
    what it is taken from (`source`, for the results line)."""

    variant: str
    path: Path
    source: str

    def picture(self):
        """The `vidqa.search.pictures.Picture` that `Pipeline.find` is given."""
        from vidqa.search.pictures import Picture

        return Picture.from_path(self.path)

    def to_dict(self) -> dict:
        image = self.picture().image()
        return {"variant": self.variant, "source": self.source,
                "size": [int(image.shape[1]), int(image.shape[0])],
                "bytes": self.path.stat().st_size}


def _picture_path(needle: Needle, variant: str, suffix: str) -> Path:
    key = hashlib.blake2b(json.dumps([needle.digest(), variant, picture_query_settings()])
                          .encode(), digest_size=6).hexdigest()
    return cache_dir() / "needles" / f"{needle.id}-{variant}-{key}{suffix}"


def clip_frame_s(needle: Needle) -> float:
    """Where in a clip needle its query frame lies, seconds from the clip's start."""
    return round(needle.duration_s * CLIP_FRAME_AT, 3)


def needle_pictures(needle: Needle) -> list[NeedlePicture]:
    """The pictures an image or clip needle is looked for by, in PICTURE_VARIANTS order
    (drawn once, then cached); [] for other needles."""
    if not needle.by_picture:
        return []
    if needle.kind == "image" and Path(needle.path).suffix.lower() in OPENCV_IMAGES:
        original = NeedlePicture("as-is", Path(needle.path), "the image file")
    elif needle.kind == "image":  # a GIF, a TIFF...: its first frame as a PNG, pixel for pixel
        path = _picture_path(needle, "as-is", ".png")
        _ffmpeg_cached(path, [*input_args(needle.path), "-map", "0:v:0", "-frames:v", "1",
                              "-update", "1"],
                       f"cannot read the image needle '{needle.id}' ('{needle.path}')",
                       "give a PNG or JPEG file")
        original = NeedlePicture("as-is", path, "the image file, as PNG")
    else:
        at_s = clip_frame_s(needle)
        path = _picture_path(needle, "as-is", ".png")
        # -ss before the input: ffmpeg seeks from the clip's own start, whatever its timestamps.
        _ffmpeg_cached(path, ["-ss", f"{at_s:.3f}", *input_args(needle.path), "-map",
                              "0:v:0", "-frames:v", "1", "-update", "1"],
                       f"cannot take the frame at {at_s:.3f} s of the clip needle "
                       f"'{needle.id}' ('{needle.path}')",
                       "check that the clip decodes (vidqa inspect)")
        original = NeedlePicture("as-is", path, f"the clip's frame at {at_s:.3f} s")
    degraded = _picture_path(needle, "degraded", ".jpg")
    shrink = (f"scale=trunc(iw*{DEGRADED_SCALE}/2)*2:trunc(ih*{DEGRADED_SCALE}/2)*2:"
              "flags=area,format=yuvj420p")
    _ffmpeg_cached(degraded, [*input_args(original.path), "-vf", shrink, "-frames:v", "1",
                              "-update", "1", "-q:v", str(DEGRADED_JPEG_Q)],
                   f"cannot make the degraded picture of needle '{needle.id}' from "
                   f"'{original.path}'", "check that the picture decodes")
    return [original, NeedlePicture(
        "degraded", degraded, f"{original.source} at {DEGRADED_SCALE:g}x size, JPEG -q:v "
        f"{DEGRADED_JPEG_Q}")]


# --- user needles -------------------------------------------------------------------------------

_FIELDS = {"id", "kind", "question", "answer", "query", "text", "path", "choices", "duration_s"}


def _needle_from(item, number: int, source: Path) -> Needle:
    where = f"'{source}': needle {number}"
    if not isinstance(item, dict):
        raise ConfigError(f"{where} is not a mapping; write each needle as kind, question, "
                          "answer and text or path")
    unknown = sorted(set(item) - _FIELDS)
    if unknown:
        raise ConfigError(f"{where} has unknown field(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(sorted(_FIELDS))}")
    for name, value in item.items():
        if name != "choices" and (isinstance(value, (dict, list)) or value is None):
            raise ConfigError(f"{where}: '{name}' must be a single value, got "
                              f"{'nothing' if value is None else type(value).__name__}")
    kind = str(item.get("kind") or ("text" if item.get("text") else ""))
    if kind not in NEEDLE_KINDS:
        raise ConfigError(f"{where} has kind {kind or 'missing'!r}; use one of {', '.join(NEEDLE_KINDS)}")
    for name in ("question", "answer"):
        if not str(item.get(name) or "").strip():
            raise ConfigError(f"{where} has no '{name}'; give every needle a question and its "
                              "answer")
    text, path = str(item.get("text") or ""), str(item.get("path") or "")
    if kind == "text" and not text.strip():
        raise ConfigError(f"{where} is a text needle without 'text'; give the words to burn in")
    try:
        duration = float(item.get("duration_s", DEFAULT_DURATION_S))
    except (TypeError, ValueError):
        duration = -1.0
    if not 0.1 <= duration <= 600:
        raise ConfigError(f"{where}: duration_s must be between 0.1 and 600 seconds")
    if kind != "text":
        if not path:
            raise ConfigError(f"{where} is a {kind} needle without 'path'; give the file")
        resolved = (source.parent / path).resolve()
        if resolved.is_dir():
            raise ConfigError(f"{where}: '{resolved}' is a folder; give the {kind} file "
                              "itself (paths are relative to the needle file)")
        if not resolved.is_file():
            raise ConfigError(f"{where}: '{resolved}' does not exist; paths are relative to "
                              "the needle file")
        path = str(resolved)
        if kind == "spoken":
            from vidqa.media.audio import audio_length

            try:  # a file that does not open fails now, not hours into a sweep
                length = audio_length(resolved)
            except VidqaError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            if "duration_s" in item and duration > length + 0.01:
                raise ConfigError(f"{where}: duration_s {duration:g} is longer than the sound "
                                  f"'{resolved}' ({length:.2f} s); shorten it or leave it out")
            duration = min(duration, length) if "duration_s" in item else length
            if duration > 600:
                raise ConfigError(f"{where}: '{resolved}' lasts {duration:.0f} s; a spoken "
                                  "needle is a sentence or a few (at most 600 s)")
        try:  # a file that does not open fails now, not hours into a sweep
            info = probe(resolved) if kind != "spoken" else None
        except VidqaError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if kind == "clip" and info is not None and info.duration_s:
            if "duration_s" in item and duration > info.duration_s + 0.01:
                raise ConfigError(f"{where}: duration_s {duration:g} is longer than the clip "
                                  f"'{resolved}' ({info.duration_s:.2f} s); shorten it")
            duration = min(duration, info.duration_s)
    choices = item.get("choices") or ()
    if choices and (not isinstance(choices, list | tuple) or not 2 <= len(choices) <= 8):
        raise ConfigError(f"{where}: 'choices' must be a list of 2 to 8 options")
    if any(isinstance(c, (dict, list)) or c is None for c in choices):
        raise ConfigError(f"{where}: each of 'choices' must be a single value (an option's text)")
    choices = tuple(str(c) for c in choices)
    answer = str(item["answer"]).strip()
    if choices:
        answer = _answer_letter(answer, choices)
        if answer is None:
            raise ConfigError(f"{where}: answer {item['answer']!r} is neither one of the "
                              f"choices nor a letter A-{_LETTERS[len(choices) - 1]}")
    query = str(item.get("query") or (text if kind in ("text", "spoken") and text else
                                      item["question"]))
    needle_id = str(item.get("id") or f"{source.stem}-{number}")
    if not _ID.fullmatch(needle_id):
        raise ConfigError(f"{where}: id {needle_id!r} may hold only letters, digits, '.', '_' "
                          "and '-'")
    return Needle(needle_id, kind,
                  str(item["question"]).strip(), answer, query, text=text, path=path,
                  choices=choices, duration_s=duration)


def load_needles(path: str | Path) -> list[Needle]:
    """Needles from a YAML or JSON file (a list, or a mapping with a `needles` list)."""
    source = Path(path)
    data = read_yaml(source, what="needle file", fix="check the path, or use a built-in set "
                     f"({', '.join(BUILTIN_SETS)})")
    if isinstance(data, dict):
        data = data.get("needles")
    if not isinstance(data, list) or not data:
        raise ConfigError(f"'{source}' holds no needles; write a list of needles (or "
                          "needles: [...]) with kind, question, answer and text or path")
    needles = [_needle_from(item, i, source) for i, item in enumerate(data, 1)]
    ids = [n.id for n in needles]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"'{source}': needle ids repeat; give each needle its own id")
    return needles


def get_needles(spec: str) -> list[Needle]:
    """A built-in set by name, or the needles of a YAML/JSON file."""
    if spec in BUILTIN_SETS:
        return builtin_needles(spec)
    return load_needles(spec)


# --- scoring ------------------------------------------------------------------------------------

_ID = re.compile(r"[\w.-]{1,80}")
_NON_WORD = re.compile(r"[^\w]+")
_THOUSANDS = re.compile(r"(?<=\d)[,.](?=\d{3}\b)")
# A letter given as the answer: the whole reply ("B", "(b)", "B."), or after "answer"/"option".
_ALONE = re.compile(r"^\W*\(?([A-Ha-h])\)?\W*$")
_NAMED = re.compile(r"\b(?:answer|option|choice)\b(?:\s+is)?\s*[:\-]?\s*\(?([A-Ha-h])\b\)?",
                    re.IGNORECASE)
_LEADING = re.compile(r"^\s*\(?([A-H])(?:\)|[.:]|\s+-)\s")  # "(B) ...", "B. ...", "B - ..."
_BRACKETED = re.compile(r"\(([A-H])\)")


def answer_form(text: str) -> str:
    """Lower case, punctuation as spaces, thousands separators dropped ("4,821" is "4821")."""
    return " ".join(_NON_WORD.sub(" ", _THOUSANDS.sub("", text).lower()).split())


def _letter_index(letter: str, choices: tuple[str, ...]) -> str | None:
    letter = letter.upper()
    return letter if _LETTERS.index(letter) < len(choices) else None


def _answer_letter(answer: str, choices: tuple[str, ...]) -> str | None:
    """The letter of a needle file's answer: an option's text first ("Plan B" among
    ["Plan A", "Plan B"] is B), else a letter."""
    wanted = answer_form(answer)
    for i, choice in enumerate(choices):
        if answer_form(choice) == wanted:
            return _LETTERS[i]
    match = _ALONE.match(answer)
    return _letter_index(match.group(1), choices) if match else None


def _choice_letter(reply: str, choices: tuple[str, ...]) -> str | None:
    """The option a reply picks: a letter alone or named ("answer: B", "(B) high voltage"),
    else the one option whose text it contains (word for word). None when unclear."""
    text = reply.strip()
    for pattern in (_ALONE, _NAMED, _LEADING):
        match = pattern.search(text)
        if match:
            return _letter_index(match.group(1), choices)
    bracketed = set(_BRACKETED.findall(text))
    if len(bracketed) == 1:
        return _letter_index(bracketed.pop(), choices)
    said = f" {answer_form(text)} "
    named = [i for i, c in enumerate(choices) if answer_form(c) and f" {answer_form(c)} " in said]
    return _LETTERS[named[0]] if len(named) == 1 else None


def is_correct(needle: Needle, reply: str) -> bool:
    """Does the model's reply give the needle's answer? A word must appear as a word, a short
    text as a phrase (case and punctuation aside), a choice by its letter or its text."""
    if needle.answer_type == "choice":
        return _choice_letter(reply, needle.choices) == needle.answer
    answer, said = answer_form(needle.answer), answer_form(reply)
    return f" {answer} " in f" {said} " if answer else False


