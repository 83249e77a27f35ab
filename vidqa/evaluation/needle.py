"""Needle-in-a-haystack evaluation: a length x depth grid, scene-aware against uniform sampling.

For each haystack length and needle depth, one needle is spliced into the haystack
(`vidqa.evaluation.haystack`; the cell at length i, depth j gets needle (i * depths + j) mod needles), and
the cell video goes through the real pipeline once per selector: ingest (decode, key frames),
the on-screen text track, the vector index, then

- `find`: the needle's query is searched and the hits pinned as `vidqa find` does; a hit is
  right when its time lies within `tolerance_s` of the needle's range (by time alone, as in
  V-NIAH: a distractor that happens to lie there counts too). Recall@1 and @k, the time error
  of the first right hit (seconds from the needle's start). Without a model the index holds
  the on-screen text only, so only needles that show text can be found; with one (`-m`), the
  chunk captions are indexed too. An image or clip needle is also looked for by a picture of
  it, as `find --image` does (`vidqa.evaluation.needles.needle_pictures`: the image file, or a
  frame from inside the clip, as it is and degraded; the cell runs the `pictures` track), with
  no model and no OCR: each query's hits, recall and time error go in the line's `pictures`,
  the as-is query's figures also in `picture_rank`, `picture_recall_at_1`,
  `picture_recall_at_k` and `picture_time_error_s`, beside the text query's fields (which are
  null where nothing reads text: `--ocr off` without a model, allowed for picture needles);
- `ask`: the model captions the chunks and answers the needle's question over the retrieved
  chunks' frames; the reply is scored against the answer (`vidqa.evaluation.needles.is_correct`).

Every finished cell is appended to `results.jsonl` as one line with every setting that matters
(fps, frame size, tokens kept and uniform, selector, model, embedder, OCR engine, the full
config) and a key hashed from them; a re-run skips cells whose key is there, so an interrupted
sweep resumes where it stopped. A line cut short by a crash is dropped when the file is read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING


from vidqa import __version__
from vidqa.config import Config, NeedleConfig, InvalidSetting, read_yaml, setting_value
from vidqa.evaluation.grid import parse_depths, parse_lengths
from vidqa.errors import CacheError, ConfigError, VidqaError
from vidqa.evaluation.haystack import Haystack, build_haystack, needle_start, splice
from vidqa.evaluation.needles import (Needle, NeedlePicture, get_needles, is_correct,
                                     needle_pictures, picture_query_settings)
from vidqa.store import output_folder
from vidqa.tools import Tools

if TYPE_CHECKING:
    from vidqa.pipeline import Pipeline

EVAL_VERSION = "2"  # 2: the speech track runs in every cell
# The cells of image and clip needles are keyed with their picture query too ("-picture" and
# `picture_query_settings`), so their lines from before (the text query alone) are run again;
# the other cells keep their keys.
MAX_GENERATED_MIN = 60.0  # longer generated haystacks loop a 60-minute one
SELECTOR_TITLES = {"scenes": "scene-aware", "uniform": "uniform"}


# A sweep is the `needle` stage of the settings: one table reads it from flags, config files and
# sweep files alike (`vidqa.config.NeedleConfig`).
Sweep = NeedleConfig


def load_sweep(path: str | os.PathLike, base: Sweep | None = None) -> Sweep:
    """A sweep from YAML (see configs/needle-standard.yaml; keys are the `needle` settings) over
    `base` (default: the defaults). Needle files and videos are relative to the sweep file."""
    source = Path(path)
    data = read_yaml(source, what="sweep file", fix="configs/needle-standard.yaml is the "
                     "standard sweep")
    data = {} if data is None else data
    known = {f.name: f for f in fields(Sweep)}
    unknown = sorted(map(str, set(data) - set(known))) if isinstance(data, dict) \
        else ["(not a mapping)"]
    if unknown:
        raise ConfigError(f"'{source}': unknown key(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(sorted(known))}")
    values = {}
    for name, value in data.items():
        try:
            values[name] = setting_value(known[name], value)
        except InvalidSetting as exc:
            raise ConfigError(f"'{source}': {name} must be {exc.must}, got {exc.got}") from None
        except ConfigError as exc:
            raise ConfigError(f"'{source}': {name}: {exc}") from None
    from vidqa.evaluation.needles import BUILTIN_SETS

    if values.get("needles") and values["needles"] not in BUILTIN_SETS:
        values["needles"] = str((source.parent / values["needles"]).resolve())
    if values.get("videos"):  # relative to the sweep file, like the needles
        values["videos"] = tuple(str((source.parent / v).resolve()) for v in values["videos"])
    return replace(base or Sweep(), **values).validated()


# --- results file -------------------------------------------------------------------------------

def read_results(path: Path) -> list[dict]:
    """The finished cells in `path`. A last line cut short by a crash is removed; a broken line
    before it is an error (the file was edited or written by two runs at once)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    records, good_end = [], 0
    lines = data.splitlines(keepends=True)
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except ValueError:
            if number < len(lines):
                raise ConfigError(f"line {number} of '{path}' is not a results record; remove "
                                  "that line, or the file, to run those cells again") from None
            break
        if not line.endswith(b"\n"):
            records.pop()
            break
        good_end += len(line)
    if good_end != len(data):
        with open(path, "r+b") as handle:
            handle.truncate(good_end)
    return records


@contextmanager
def _locked(out: Path):
    """One sweep at a time in an output folder."""
    import fcntl

    with open(out / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise VidqaError(f"another `vidqa eval` is running in '{out}'; wait for it to "
                             "finish or use another -o folder") from None
        yield


def append_result(path: Path, record: dict) -> None:
    """One finished cell, appended whole (a crash mid-write leaves a line `read_results`
    drops)."""
    line = json.dumps(record, ensure_ascii=False) + "\n"
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise CacheError(f"cannot append to '{path}': {exc.strerror}; free space, then run "
                         "again (finished cells are kept)") from None


# --- one cell -----------------------------------------------------------------------------------

def _cell_key(sweep: Sweep, haystack: Haystack, config: Config, length_min: float,
              depth: float, needle: Needle, tools: Tools) -> str:
    captioned = tools.backend is not None
    stages = ("decode", "select", "chunk", "ocr", "index", "speech") + \
        (("model",) if captioned else ())
    mode = sweep.mode if sweep.mode != "ask" or sweep.scope == "chunks" else \
        f"ask-{sweep.scope}"  # cells of the default scope keep their keys
    if sweep.sound_only:
        mode += "-sound-only"
    picture = []
    if needle.by_picture:  # appended, so the other cells keep their keys
        from vidqa.search.pictures import VERSION as PICTURES_VERSION

        mode += "-picture"
        picture = [PICTURES_VERSION, picture_query_settings()]
    parts = [EVAL_VERSION, haystack.key, length_min, depth, needle.digest(), mode,
             sweep.top_k, sweep.tolerance_s, config.key(*stages), tools.embedder.name,
             getattr(tools.engine, "name", None),
             [getattr(tools.backend, "name", None), getattr(tools.backend, "model", None)]
             if captioned else None, *picture]
    return hashlib.blake2b(json.dumps(parts, default=str).encode(), digest_size=10).hexdigest()


@contextmanager
def _timed(seconds: dict[str, float], stage: str):
    """Wall time of the block into `seconds[stage]`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[stage] = round(time.perf_counter() - started, 2)


def _cell_tracks(needle: Needle, config: Config, tools: Tools) -> tuple[str, ...]:
    """The tracks a cell runs, each when it can run here: the model's only with a model (cached
    captions of an earlier ask sweep are not this cell's), and the tracks that find pictures
    only for an image or clip needle (the other cells cost what they did)."""
    from vidqa.tracks.base import finders, get_track, track_names

    pictures = set(finders("picture"))
    return tuple(n for n in track_names()
                 if (tools.backend is not None or get_track(n).needs != "model")
                 and (needle.by_picture or n not in pictures)
                 and get_track(n)(config, tools).unavailable() is None)


def _scored(hits: list, cell, sweep: Sweep) -> dict:
    """The hits of one query with their rank, recall@1, recall@k and the time error of the
    first right hit (seconds from the needle's start)."""
    right = [cell.contains(h.time_s, tolerance_s=sweep.tolerance_s) for h in hits]
    rank = right.index(True) + 1 if True in right else None
    return {
        "hits": [{"rank": i + 1, "time_s": round(h.time_s, 3), "start_s": h.start_s,
                  "end_s": h.end_s, "kind": h.kind, "text": h.text, "score": h.score,
                  "refined_by": h.refined_by, "right": ok}
                 for i, (h, ok) in enumerate(zip(hits, right))],
        "rank": rank, "recall_at_1": rank == 1, "recall_at_k": rank is not None,
        "time_error_s": round(abs(hits[rank - 1].time_s - cell.start_s), 3) if rank else None,
    }


NOT_SEARCHED = {"hits": [], "rank": None, "recall_at_1": None, "recall_at_k": None,
                "time_error_s": None}  # the text query where nothing could read text


def _picture_find(pipeline: Pipeline, run, cell, sweep: Sweep, queries: list[NeedlePicture]
                  ) -> dict:
    """An image or clip needle looked for by each of its pictures (`find --image`): `pictures`
    (each query, what it is, its hits and scores), and the as-is query's figures as
    `picture_rank`, `picture_recall_at_1`, `picture_recall_at_k`, `picture_time_error_s`."""
    out = []
    for query in queries:
        started = time.perf_counter()
        hits = pipeline.find([], query.picture(), k=sweep.top_k, runs=[run])
        out.append({**query.to_dict(), **_scored(hits, cell, sweep),
                    "find_s": round(time.perf_counter() - started, 2)})
    first = out[0]
    return {"pictures": out, **{f"picture_{name}": first[name] for name in
                                ("rank", "recall_at_1", "recall_at_k", "time_error_s")}}


def run_cell(cell, config: Config, sweep: Sweep, tools: Tools, work_root: Path) -> dict:
    """Run one cell video through the pipeline with `config` (ingest, the on-screen text, what
    is said, the key frames' pictures for an image or clip needle and, with a model, captions;
    the index) and measure find (and ask): the measured fields of its results line."""
    from vidqa.pipeline import Pipeline

    needle = cell.needle
    pipeline = Pipeline(config, tools=tools, cache_root=work_root,
                        tracks=_cell_tracks(needle, config, tools))
    cache = getattr(tools.ocr_engine(), "cache", None)
    before = (cache.hits, cache.misses) if cache is not None else (0, 0)
    run = pipeline.run(str(cell.video))
    result = run.ingest
    seconds = {"ingest": run.seconds["ingest"],
               **{name: run.seconds.get(name, 0.0) for name in pipeline.track_names()}}
    out = {}
    # The text query needs something that reads text: OCR, or a model's captions (without
    # either, only a picture needle's cell runs: `needle_eval`).
    searched = config.ocr.mode != "off" or tools.backend is not None
    with _timed(seconds, "find"):
        hits = pipeline.find([], needle.query, k=sweep.top_k, runs=[run]) \
            if run.entries() and searched else []
    if cache is not None:  # frames read by OCR in this cell, and those the cache answered
        out["ocr_frames"] = {"read": cache.misses - before[1], "cached": cache.hits - before[0]}
    s = result.stats
    out.update({
        "video_s": s.end_s, "fps": config.decode.fps,
        "frame_size": [s.frame_width, s.frame_height], "tokens_per_frame": s.tokens_per_frame,
        "keyframes": s.keyframes, "frames_sampled": s.frames_sampled, "tokens": s.tokens_kept,
        "tokens_uniform": s.tokens_uniform,
        "needle_keyframes": sum(1 for k in result.keyframes
                                if cell.contains(k.pts_s)),
        "segments": {name: len(segs) for name, segs in run.tracks.items()},
        **(_scored(hits, cell, sweep) if searched else NOT_SEARCHED),
    })
    if needle.by_picture:
        with _timed(seconds, "find_picture"):
            out.update(_picture_find(pipeline, run, cell, sweep, needle_pictures(needle)))
    if sweep.mode == "ask":  # the chunks scope answers from the hits find just pinned
        with _timed(seconds, "answer"):
            _, reply = pipeline.ask([], needle.prompt(), scope=sweep.scope, runs=[run],
                                    hits=hits if sweep.scope == "chunks" else None)
    if sweep.mode == "ask":
        out.update({"answer": reply.text, "correct": is_correct(needle, reply.text),
                    "answer_chunks": reply.chunks, "scope": sweep.scope,
                    "strategy": reply.strategy, "frames_sent": reply.frames_sent,
                    "visual_tokens_sent": reply.visual_tokens,
                    "agent_steps": len(reply.trace)})
    out["seconds"] = seconds
    out["_workdir"] = str(result.workdir.parent)
    return out


# --- the grid -----------------------------------------------------------------------------------

def metric(sweep: Sweep) -> tuple[str, str]:
    """The headline figure of a sweep: (results field, name), recall@1 (find) or accuracy (ask)."""
    return ("correct", "accuracy") if sweep.mode == "ask" else ("recall_at_1", "recall@1")


@dataclass
class Report:
    """The cells of one sweep (current settings only), with their summary."""

    sweep: Sweep
    records: list[dict]
    results_path: Path
    heatmap_path: Path | None = None
    skipped: int = 0
    ran: int = 0
    rows: list[dict] = field(default_factory=list)

    def _by_picture(self) -> bool:
        """Whether the headline is the picture query's: find mode where no cell could search
        its text query (OCR off, no model: image and clip needles only)."""
        name = metric(self.sweep)[0]
        return self.sweep.mode == "find" and bool(self.records) and \
            all(r.get(name) is None for r in self.records)

    @property
    def metric_name(self) -> str:
        return "picture recall@1" if self._by_picture() else metric(self.sweep)[1]

    def score(self, selector: str) -> float | None:
        """The headline figure of one selector over every cell that has it (see `metric`); in
        find mode with no text query searched, the picture query's recall@1."""
        if self._by_picture():
            return self.picture_score(selector)
        name = metric(self.sweep)[0]
        values = [bool(r[name]) for r in self.records
                  if r["selector"] == selector and r.get(name) is not None]
        return sum(values) / len(values) if values else None

    def picture_score(self, selector: str) -> float | None:
        """Recall@1 of the image and clip needles looked for by their picture (as it is), over
        one selector's cells that hold one; None without such cells."""
        values = [bool(r["picture_recall_at_1"]) for r in self.records
                  if r["selector"] == selector and "picture_recall_at_1" in r]
        return sum(values) / len(values) if values else None


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _figures(group: list[dict], name: str) -> list[float | None]:
    return [None if r.get(name) is None else float(r[name]) for r in group]


def summarise(records: list[dict], sweep: Sweep) -> list[dict]:
    """One row per selector and length, then one per selector over all lengths. Rows with
    cells of image or clip needles also give their picture query's figures (`picture_cells`,
    `picture_recall_at_1`, `picture_recall_at_k`, `picture_time_error_s`, and
    `degraded_recall_at_1` of the degraded copy)."""
    rows = []
    for selector in sweep.selectors:
        mine = [r for r in records if r["selector"] == selector]
        groups = [(f"{m:g} min", [r for r in mine if r["length_min"] == m])
                  for m in sweep.lengths_min] + [("all", mine)]
        for label, group in groups:
            if not group:
                continue
            hours = sum(r["video_s"] for r in group) / 3600
            row = {
                "selector": selector, "length": label, "cells": len(group),
                "recall_at_1": _mean(_figures(group, "recall_at_1")),
                "recall_at_k": _mean(_figures(group, "recall_at_k")),
                "time_error_s": _mean([r["time_error_s"] for r in group]),
                "accuracy": _mean([float(r["correct"]) for r in group if "correct" in r]),
                "tokens_per_hour": sum(r["tokens"] for r in group) / hours if hours else None,
                "uniform_per_hour": sum(r["tokens_uniform"] for r in group) / hours
                if hours else None,
                "needle_keyframes": _mean([r["needle_keyframes"] for r in group]),
            }
            pictured = [r for r in group if "pictures" in r]
            if pictured:
                row.update({
                    "picture_cells": len(pictured),
                    "picture_recall_at_1": _mean(_figures(pictured, "picture_recall_at_1")),
                    "picture_recall_at_k": _mean(_figures(pictured, "picture_recall_at_k")),
                    "picture_time_error_s": _mean([r["picture_time_error_s"]
                                                   for r in pictured]),
                    "degraded_recall_at_1": _mean(
                        [float(q["recall_at_1"]) for r in pictured for q in r["pictures"]
                         if q["variant"] == "degraded"]),
                })
            rows.append(row)
    return rows


def format_table(rows: list[dict], sweep: Sweep) -> str:
    """The summary table; with cells of image or clip needles, their picture query's columns
    at the end (recall@1, @k and time error as it is, recall@1 of the degraded copy)."""
    pct = lambda v: "-" if v is None else f"{v:.0%}"  # noqa: E731
    sec = lambda v: "-" if v is None else f"{v:.2f} s"  # noqa: E731
    k = sweep.top_k
    pictures = any(r.get("picture_cells") for r in rows)
    head = (f"{'selector':<9} {'length':>8} {'cells':>5} {'R@1':>5} {f'R@{k}':>5} "
            f"{'time err':>9}" + (f" {'accuracy':>8}" if sweep.mode == "ask" else "")
            + f" {'tokens/hour':>12} {'of uniform':>10} {'needle kf':>9}"
            + (f" {'pic R@1':>7} {f'pic R@{k}':>7} {'pic err':>8} {'degr R@1':>8}"
               if pictures else ""))
    lines = [head]
    for r in rows:
        share = "-" if not r["uniform_per_hour"] else \
            f"{r['tokens_per_hour'] / r['uniform_per_hour']:.1%}"
        line = (f"{r['selector']:<9} {r['length']:>8} {r['cells']:>5} "
                f"{pct(r['recall_at_1']):>5} {pct(r['recall_at_k']):>5} "
                f"{sec(r['time_error_s']):>9}"
                + (f" {pct(r['accuracy']):>8}" if sweep.mode == "ask" else "")
                + f" {r['tokens_per_hour']:>12,.0f} {share:>10} "
                f"{r['needle_keyframes']:>9.1f}")
        if pictures:
            line += (f" {pct(r.get('picture_recall_at_1')):>7} "
                     f"{pct(r.get('picture_recall_at_k')):>7} "
                     f"{sec(r.get('picture_time_error_s')):>8} "
                     f"{pct(r.get('degraded_recall_at_1')):>8}")
        lines.append(line)
    return "\n".join(lines)


def write_report_heatmap(path: Path, records: list[dict], sweep: Sweep, rows: list[dict]) -> Path:
    """length x depth, one panel per selector, coloured by recall@1 (find) or accuracy (ask);
    with cells of image or clip needles, one more panel per selector coloured by their picture
    query's recall@1 (the text query's panels are left out when no cell searched it)."""
    from vidqa.evaluation.heatmap import Panel, write_heatmap

    name, label = metric(sweep)
    figures = [(name, label)]
    if any("picture_recall_at_1" in r for r in records):
        if all(r.get(name) is None for r in records):
            figures = []
        figures.append(("picture_recall_at_1", "picture recall@1"))
    panels = []
    for figure, title in figures:
        for selector in sweep.selectors:
            values = []
            for depth in sweep.depths:
                row = []
                for length in sweep.lengths_min:
                    cell = [float(r[figure]) for r in records if r["selector"] == selector
                            and r["length_min"] == length and abs(r["depth"] - depth) < 1e-9
                            and r.get(figure) is not None]
                    row.append(_mean(cell))
                values.append(row)
            total = next((r for r in rows if r["selector"] == selector
                          and r["length"] == "all"), None)
            note = ""
            if total and total["tokens_per_hour"] is not None:
                note = f"{total['tokens_per_hour']:,.0f} visual tokens per hour"
                if selector != "uniform" and total["uniform_per_hour"]:
                    note += (f" ({total['tokens_per_hour'] / total['uniform_per_hour']:.1%} of "
                             "uniform)")
            panels.append(Panel(f"{SELECTOR_TITLES[selector]}: {title}",
                                [f"{m:g} min" for m in sweep.lengths_min],
                                [f"{d:.0%}" for d in sweep.depths], values, note))
    return write_heatmap(path, panels, title=f"needle in a haystack ({sweep.mode}, "
                                             f"needles: {Path(sweep.needles).name})")


def _haystack_for(sweep: Sweep, on_status) -> Haystack:
    longest = max(sweep.lengths_min)
    if sweep.videos:
        return build_haystack(sweep.videos, minutes=longest, on_status=on_status)
    minutes = sweep.haystack_min or min(longest, MAX_GENERATED_MIN)
    return build_haystack(minutes=minutes, seed=sweep.seed, on_status=on_status)


def needle_eval(sweep: Sweep, out_dir: str | os.PathLike, pipeline: Pipeline | None = None, *,
                keep_videos: bool = False, on_cell: Callable[[dict, bool], None] | None = None,
                on_status: Callable[[str], None] | None = None) -> Report:
    """Run (or resume) the sweep in `out_dir`: results.jsonl, heatmap.png, and the Report.

    `pipeline` gives the settings and what its runs share (`Tools`: the model for ask mode,
    the OCR engine, the embedder); each cell runs through a `Pipeline` of its own settings
    (the selector) and those tools. `on_cell(record, skipped)` follows the cells;
    `on_status(text)` reports the slow steps (making the haystack).
    """
    from vidqa.pipeline import Pipeline

    sweep = sweep.validated()
    pipeline = pipeline or Pipeline()
    config, backend = pipeline.config, pipeline.backend
    ocr = config.ocr.mode != "off"
    if sweep.mode == "ask" and backend is None:
        raise VidqaError("ask mode needs a model: pass -m/--model (and -b openai for a server)")
    if sweep.mode == "find" and not ocr and \
            not all(n.by_picture for n in get_needles(sweep.needles)):
        raise VidqaError("find mode searches the on-screen text, so it needs OCR: drop "
                         "--ocr off, or use --mode ask with a model (image and clip needles "
                         "alone are found by their picture without it: --needles "
                         "builtin-picture)")
    out = output_folder(out_dir, "results.jsonl and heatmap.png are written inside it")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".lock").touch()
    except OSError as exc:
        raise VidqaError(f"cannot write results to '{out}': {exc.strerror}; pass -o a folder "
                         "you can write to") from None
    with _locked(out):
        return _needle_eval(sweep, out, config, pipeline.tools, keep_videos, on_cell,
                            on_status)


def _need_picture_finder(config: Config, tools: Tools) -> None:
    """Image and clip needles are looked for by their picture: a track that finds pictures
    must be able to run."""
    from vidqa.tracks.base import finders, get_track

    names = finders("picture")
    why = [f"{n}: {w}" for n in names if (w := get_track(n)(config, tools).unavailable())]
    if not names or len(why) == len(names):
        raise VidqaError("image and clip needles are looked for by their picture, and no track "
                         "that finds pictures can run here"
                         + (f" ({'; '.join(why)})" if why else "") + "; use text or spoken "
                         "needles")


def _needle_eval(sweep: Sweep, out: Path, config: Config, tools: Tools, keep_videos: bool,
                 on_cell, on_status) -> Report:
    from vidqa.tracks.ocr_engine import INSTALL_HINT

    results_path = out / "results.jsonl"
    needles = get_needles(sweep.needles)
    if sweep.sound_only and any(n.kind != "spoken" for n in needles):
        other = next(n for n in needles if n.kind != "spoken")
        raise VidqaError(f"--sound-only cells hold spoken needles only, and '{sweep.needles}' "
                         f"has a {other.kind} needle ('{other.id}'); pass --needles "
                         "builtin-spoken or a file of spoken needles")
    if any(n.by_picture for n in needles):
        _need_picture_finder(config, tools)
    haystack = _haystack_for(sweep, on_status)
    if config.ocr.mode != "off" and tools.ocr_engine() is None:  # "auto", OCR not installed
        raise VidqaError(f"the needle sweep reads on-screen text, which needs the OCR library; "
                         f"{INSTALL_HINT}, or pass --ocr off with --mode ask")
    backend = tools.backend
    tools.search_embedder()
    finished = {r.get("key"): r for r in read_results(results_path)}
    report = Report(sweep, [], results_path)
    for li, length_min in enumerate(sweep.lengths_min):
        for di, depth in enumerate(sweep.depths):
            needle = needles[(li * len(sweep.depths) + di) % len(needles)]
            length_s = length_min * 60
            start_s = needle_start(haystack.length_for(length_s), depth, needle.duration_s)
            todo = []
            for selector in sweep.selectors:
                cell_config = config.replace("select", policy=selector)
                key = _cell_key(sweep, haystack, cell_config, length_min, depth, needle, tools)
                if key in finished:
                    report.records.append(finished[key])
                    report.skipped += 1
                    if on_cell:
                        on_cell(finished[key], True)
                else:
                    todo.append((selector, cell_config, key))
            if not todo:
                continue
            suffix = ".m4a" if sweep.sound_only else ".mp4"
            name = f"cell-{length_min:g}min-{depth:.0%}-{needle.id}{suffix}".replace("%", "pct")
            timing: dict[str, float] = {}
            with _timed(timing, "splice"):
                cell = splice(haystack, length_s, needle, start_s, out / "cells" / name,
                              sound_only=sweep.sound_only)
            try:
                for selector, cell_config, key in todo:
                    measured = run_cell(cell, cell_config, sweep, tools, out / "work")
                    workdir = measured.pop("_workdir")
                    measured["seconds"].update(timing)
                    record = {
                        "key": key, "length_min": length_min, "depth": depth,
                        "selector": selector, "mode": sweep.mode,
                        "needle": {**needle.to_dict(), "start_s": cell.start_s,
                                   "end_s": cell.end_s},
                        "haystack": haystack.to_dict(), **measured,
                        "embedder": tools.embedder.name,
                        "ocr": getattr(tools.engine, "name", None),
                        "model": getattr(backend, "model", None),
                        "top_k": sweep.top_k, "tolerance_s": sweep.tolerance_s,
                        "settings": cell_config.to_dict(), "vidqa": __version__,
                    }
                    append_result(results_path, record)
                    report.records.append(record)
                    report.ran += 1
                    if not keep_videos:
                        shutil.rmtree(workdir, ignore_errors=True)
                    if on_cell:
                        on_cell(record, False)
            finally:
                if not keep_videos:
                    cell.video.unlink(missing_ok=True)
    report.rows = summarise(report.records, sweep)
    report.heatmap_path = write_report_heatmap(out / "heatmap.png", report.records, sweep,
                                               report.rows)
    return report


def cell_count(sweep: Sweep) -> int:
    return len(sweep.lengths_min) * len(sweep.depths) * len(sweep.selectors)


__all__ = ["Report", "Sweep", "append_result", "cell_count", "load_sweep", "needle_eval",
           "parse_depths", "parse_lengths", "read_results", "summarise"]
