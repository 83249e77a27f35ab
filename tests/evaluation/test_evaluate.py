"""Needle-in-a-haystack evaluation: needles, the splice, the grid end to end, resume, exit codes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from vidqa.model.backends import REGISTRY, get_backend
from vidqa.cli.commands import cli
from vidqa.media.probe import probe
from vidqa.config import Config
from vidqa.errors import ConfigError, VidqaError
from vidqa.evaluation.needle import Sweep, load_sweep, needle_eval, parse_depths, read_results
from vidqa.media.ffmpeg import ffmpeg_exe
from vidqa.evaluation.haystack import FPS, build_haystack, splice
from vidqa.evaluation.heatmap import cell_center, score_color
from vidqa.evaluation.needles import Needle, builtin_needles, is_correct, load_needles
from vidqa.pipeline import Pipeline
from vidqa.tools import Tools

from helpers import ROOT
from helpers.scripted import OCR_READER

GRID = ["--lengths", "1,1.5", "--depths", "0,100", "--needles", "builtin-text",
        "--selectors", "scenes"]
# The generated haystack (seed 0) the sweeps of 1 minute take their first minute of: the grid's,
# made once (see `shared_haystacks`) instead of a 1-minute one beside it.
SHARED_MIN = 1.5


@pytest.fixture(scope="module")
def haystack(haystack_home):
    """Half a minute of generated haystack (seed 5), encoded once for the tests that splice
    into it (each writes its cells in its own tmp_path)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDQA_HOME", str(haystack_home))
        return build_haystack(minutes=0.5, seed=5)


def _gray_frames(path) -> Iterator[tuple[float, np.ndarray]]:
    """(time, gray picture) of every frame, decoded one at a time."""
    with av.open(str(path)) as container:
        for f in container.decode(video=0):
            yield float(f.pts * f.time_base), f.to_ndarray(format="gray").astype(np.int16)


SPLICE_S = 16  # 8 pieces: joins before the needles' stretch (from 8 s) and after it


@pytest.mark.slow
@pytest.mark.parametrize("kind, first_frame", [("image", 255), ("image", 285), ("clip", 241),
                                               ("clip", 270), ("text", 299)])
def test_splice_changes_exactly_the_needle_frames(kind, first_frame, haystack, tmp_path):
    """Needles starting at several frames inside a 2-second piece (60 frames) replace exactly
    their frames; the video keeps every frame at its time."""
    needle = next(n for n in builtin_needles() if n.kind == kind)
    cell = splice(haystack, SPLICE_S, needle, first_frame / FPS, tmp_path / f"{kind}.mp4")
    reference = (frame for piece in haystack.pieces_for(SPLICE_S)
                 for _, frame in _gray_frames(piece))
    times, changed = [], []
    for i, (time_s, frame) in enumerate(_gray_frames(cell.video)):
        times.append(time_s)
        before = next(reference, None)
        if before is None or np.abs(frame - before).mean() > 1.0:
            changed.append(i)
    assert len(times) == SPLICE_S * FPS  # nothing dropped or doubled at the joins
    assert np.allclose(np.diff(times), 1 / FPS, atol=1e-3)
    last = first_frame + round(needle.duration_s * FPS) - 1
    assert (changed[0], changed[-1], len(changed)) == (first_frame, last, last - first_frame + 1)
    assert (round(cell.start_s * FPS), round(cell.end_s * FPS)) == (first_frame, last + 1)


def test_text_needles_are_drawn_verbatim(haystack, tmp_path):
    """Quotes, percent signs and backslashes reach the picture as written."""
    from vidqa.tracks.ocr import OcrEngine

    needle = Needle("odd", "text", "q", "a", "q", text="It's 50% off, 100%{pts}")
    cell = splice(haystack, 30, needle, 10.0, tmp_path / "odd.mp4")
    with av.open(str(cell.video)) as container:
        frame = next(f for f in container.decode(video=0) if f.time >= 11.0)
    read = " ".join(t for t, _ in OcrEngine().read(frame.to_ndarray(format="bgr24")))
    assert "50%" in read and "%{pts}" in read.replace(" ", ""), read


def test_haystack_loops_beyond_its_source(cuts_video):
    haystack = build_haystack([cuts_video[0]], minutes=10)
    assert haystack.duration_s == 26.0  # 26 s of source, cut to whole 2-second pieces
    assert len(haystack.pieces_for(60)) == 30  # a minute: the pieces looped
    again = build_haystack([cuts_video[0]], minutes=10)
    assert again.directory == haystack.directory  # cached


def test_answers_are_scored_as_a_person_would():
    word = Needle("w", "text", "secret word?", "PELICAN", "q", text="x")
    assert is_correct(word, "The secret word is pelican.")
    assert not is_correct(word, "The secret word is pelicans")
    phrase = Needle("p", "text", "which room?", "Room 7B", "q", text="x")
    assert is_correct(phrase, "It moved to room 7B [12.0-15.0 s]")
    assert not is_correct(phrase, "Room 7")
    choice = Needle("c", "image", "warns about?", "B", "q", path="x",
                    choices=("wet floor", "high voltage", "falling rocks"))
    assert is_correct(choice, "(B) high voltage")
    assert is_correct(choice, "B")
    assert is_correct(choice, "The sign warns of high voltage.")
    assert not is_correct(choice, "A")
    assert not is_correct(choice, "wet floor or high voltage")
    assert is_correct(choice, "A high voltage sign, so (B)")  # "A" the article is no letter
    assert is_correct(choice, "The answer is b.")
    assert is_correct(Needle("n", "text", "code?", "4821", "q", text="x"), "It is 4,821.")


def test_user_needles_load_and_bad_ones_name_the_fix(tmp_path):
    image = tmp_path / "card.png"
    cv2.imwrite(str(image), np.full((90, 160, 3), 200, np.uint8))
    good = tmp_path / "needles.yaml"
    good.write_text("needles:\n- kind: image\n  path: card.png\n  question: What colour?\n"
                    "  answer: grey\n  duration_s: 2\n- text: CODE 99\n  question: Code?\n"
                    "  answer: '99'\n  choices: ['12', '99']\n")
    first, second = load_needles(good)
    assert (first.kind, first.path, first.duration_s) == ("image", str(image), 2.0)
    assert (second.kind, second.answer, second.query) == ("text", "B", "CODE 99")
    plans = tmp_path / "plans.yaml"  # an answer given as an option's text, which holds a letter
    plans.write_text("- text: x\n  question: q\n  answer: Plan B\n  choices: [Plan B, Plan A]\n")
    assert load_needles(plans)[0].answer == "A"
    as_json = tmp_path / "needles.json"
    as_json.write_text(json.dumps([{"kind": "text", "text": "HELLO", "question": "Word?",
                                    "answer": "HELLO"}]))
    assert load_needles(as_json)[0].text == "HELLO"
    for body, expected in [("- kind: image\n  path: nowhere.png\n  question: q\n  answer: a\n",
                            "does not exist"),
                           ("- kind: text\n  text: hi\n  question: q\n", "no 'answer'"),
                           ("- kind: gif\n  question: q\n  answer: a\n", "kind 'gif'"),
                           ("[]\n", "holds no needles"),
                           ("- kind: image\n  path: needles.json\n  question: q\n  answer: a\n",
                            "cannot open|not a video|neither picture nor sound"),
                           ("- text: x\n  id: ../up\n  question: q\n  answer: a\n",
                            "may hold only")]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(body)
        with pytest.raises(ConfigError, match=expected) as info:
            load_needles(bad)
        assert str(bad) in str(info.value)


def test_sweep_file_and_depth_forms(tmp_path):
    assert parse_depths("3") == (0.0, 0.5, 1.0)
    assert parse_depths("0,25,100") == (0.0, 0.25, 1.0)
    assert parse_depths("50%") == (0.5,) and parse_depths("0%,50%") == (0.0, 0.5)
    path = tmp_path / "sweep.yaml"
    path.write_text("lengths_min: [5, 10]\ndepths: 11\nselectors: [scenes]\n")
    sweep = load_sweep(path)
    assert (sweep.lengths_min, len(sweep.depths), sweep.selectors) == ((5, 10), 11, ("scenes",))
    path.write_text("lenghts_min: [5]\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_sweep(path)


def test_standard_sweep_config_loads():
    sweep = load_sweep(ROOT / "configs" / "needle-standard.yaml")
    assert 600 in sweep.lengths_min and len(sweep.depths) == 11
    assert set(sweep.selectors) == {"scenes", "uniform"}


def test_results_file_drops_a_line_cut_short(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"key": "a"}\n{"key": "b"}\n{"key": "c", "recall')
    assert [r["key"] for r in read_results(path)] == ["a", "b"]
    assert path.read_text() == '{"key": "a"}\n{"key": "b"}\n'
    path.write_text('{"key": "a"}\n{"key": "b"}\n{"key": "c"}')  # no newline: not finished
    assert [r["key"] for r in read_results(path)] == ["a", "b"]
    path.write_text('{"key": "a"}\nnot json\n{"key": "c"}\n')  # damage inside: refuse
    with pytest.raises(ConfigError, match="line 2 of"):
        read_results(path)
    assert path.read_text() == '{"key": "a"}\nnot json\n{"key": "c"}\n'


def test_find_mode_without_ocr_is_refused(tmp_path):
    result = CliRunner().invoke(cli, ["eval", "needle", *GRID, "-o", str(tmp_path), "--ocr",
                                      "off"])
    assert result.exit_code == 1 and "needs OCR" in result.output


@pytest.mark.slow
def test_needle_grid_end_to_end(tmp_path, shared_haystacks):
    """Two haystacks (1 and 1.5 min) x two depths, text needles, offline: every needle is the
    top hit, the heatmap shows the grid, a re-run skips every cell, --fail-under gates."""
    out = tmp_path / "eval"
    runner = CliRunner()
    first = runner.invoke(cli, ["eval", "needle", *GRID, "-o", str(out), "--fail-under", "100"])
    assert first.exit_code == 0, first.output
    records = read_results(out / "results.jsonl")
    assert len(records) == 4
    assert all(r["recall_at_1"] for r in records), [r["hits"][:1] for r in records]
    assert all(r["time_error_s"] <= 0.5 for r in records)
    for r in records:  # every setting that matters is on the line
        assert r["fps"] == 2.0 and r["frame_size"] == [640, 352] and r["embedder"] == "e5-small"
        assert r["tokens"] < r["tokens_uniform"] and r["selector"] == "scenes"
        assert r["needle"]["end_s"] - r["needle"]["start_s"] == pytest.approx(3.0)
        assert r["settings"]["select"]["policy"] == "scenes"
    assert "4 cells run, 0 done before" in first.output
    assert not list((out / "cells").glob("*.mp4"))  # cell videos are not kept

    image = cv2.imread(str(out / "heatmap.png"))
    sweep = Sweep(lengths_min=(1.0, 1.5), depths=(0.0, 1.0), selectors=("scenes",))
    green = np.array(score_color(1.0))
    for row in range(2):
        for column in range(2):
            x, y = _cell_point(sweep, row, column)
            patch = image[y - 15:y - 11, x - 35:x - 31].reshape(-1, 3)
            assert np.abs(np.median(patch, axis=0) - green).max() <= 3, (row, column)

    mtime = (out / "results.jsonl").stat().st_mtime_ns
    again = runner.invoke(cli, ["eval", "needle", *GRID, "-o", str(out)])
    assert again.exit_code == 0, again.output
    assert "0 cells run, 4 done before" in again.output
    assert (out / "results.jsonl").stat().st_mtime_ns == mtime

    # A needle shown for 0.1 s between two 2 fps samples is never seen: recall 0, and
    # --fail-under above that exits 3.
    brief = tmp_path / "brief.yaml"
    brief.write_text("- text: FLASH CODE 1234\n  question: Which code flashed?\n"
                     "  answer: '1234'\n  query: the flash code\n  duration_s: 0.1\n")
    (tmp_path / "sweep.yaml").write_text(f"haystack_min: {SHARED_MIN}\n")
    failed = runner.invoke(cli, ["eval", "needle", "--sweep", str(tmp_path / "sweep.yaml"),
                                 "--lengths", "1", "--depths", "33%",
                                 "--needles", str(brief), "--selectors", "scenes", "-o",
                                 str(tmp_path / "brief"), "--fail-under", "0.5"])
    assert failed.exit_code == 3, failed.output
    assert "recall@1 0.0% is below --fail-under 50.0%" in failed.output
    (record,) = read_results(tmp_path / "brief" / "results.jsonl")
    assert record["needle_keyframes"] == 0 and record["rank"] is None


def _cell_point(sweep: Sweep, row: int, column: int) -> tuple[int, int]:
    from vidqa.evaluation.needle import SELECTOR_TITLES
    from vidqa.evaluation.heatmap import Panel

    panels = [Panel(f"{SELECTOR_TITLES[s]}: recall@1", [f"{m:g} min" for m in sweep.lengths_min],
                    [f"{d:.0%}" for d in sweep.depths],
                    [[1.0] * len(sweep.lengths_min)] * len(sweep.depths), "note")
              for s in sweep.selectors]
    return cell_center(panels, 0, row, column, title="needle in a haystack")


@pytest.mark.slow
def test_ask_mode_scores_the_models_answer(tmp_path, monkeypatch, shared_haystacks):
    monkeypatch.setitem(REGISTRY, "ocr-reader", OCR_READER)
    backend = get_backend("ocr-reader", "ocr-reader-model")
    sweep = Sweep(lengths_min=(1.0,), depths=(0.5,), needles="builtin-text",
                  selectors=("scenes",), mode="ask", haystack_min=SHARED_MIN)
    report = needle_eval(sweep, tmp_path / "ask", Pipeline(backend=backend))
    (record,) = report.records
    assert record["model"] == "ocr-reader-model" and record["mode"] == "ask"
    assert "PELICAN" in record["answer"] and record["correct"] is True
    assert report.score("scenes") == 1.0


def test_generated_haystack_is_a_valid_video(haystack, tmp_path):
    proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "concat", "-safe", "0", "-i",
                           _list(haystack, tmp_path), "-f", "null", "-"], capture_output=True,
                          text=True)
    assert proc.returncode == 0 and not proc.stderr.strip()


def _list(haystack, folder) -> str:
    path = folder / "all.txt"
    path.write_text("".join(f"file '{p}'\n" for p in haystack.pieces))
    return str(path)


@pytest.mark.slow
def test_find_mode_with_a_model_indexes_its_captions(tmp_path, scripted, shared_haystacks):
    """Named a model, find mode captions the chunks and searches the captions as well."""
    backend = get_backend("scripted", "scripted-model")
    sweep = Sweep(lengths_min=(1.0,), depths=(0.5,), needles="builtin-text",
                  selectors=("scenes",), mode="find", haystack_min=SHARED_MIN)
    (record,) = needle_eval(sweep, tmp_path / "find", Pipeline(backend=backend)).records
    assert record["model"] == "scripted-model" and backend.calls  # every chunk captioned
    assert record["recall_at_1"]
    assert "summary" in {hit["kind"] for hit in record["hits"]}


def test_unwritable_output_folder_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(cli, ["eval", "needle", *GRID, "-o", str(blocker / "out")])
    assert result.exit_code == 1
    assert f"cannot write results to '{blocker / 'out'}'" in result.output
    assert "-o a folder" in result.output


@pytest.mark.slow
def test_spoken_needles_over_a_sound_only_haystack(tmp_path, whisper, shared_haystacks):
    """`--sound-only`: each cell is the haystack's sound alone (.m4a, no picture) with the
    needle said in it, as a recorded call is: found by what is said, pinned by its words; a
    set with needles that show something is refused before any cell is made."""
    config = Config()
    tools = Tools(config, asr=whisper)
    sweep = Sweep(lengths_min=(0.5,), depths=(0.0, 1.0), needles="builtin-spoken",
                  selectors=("scenes",), seed=5, sound_only=True)
    report = needle_eval(sweep, tmp_path / "heard", Pipeline(config, tools=tools),
                         keep_videos=True)
    assert len(report.records) == 2
    for record in report.records:
        assert record["keyframes"] == 0 and record["frames_sampled"] == 0
        assert record["recall_at_1"] and record["hits"][0]["kind"] == "speech", record["hits"]
        assert record["time_error_s"] <= 1.5
    cells = sorted((tmp_path / "heard" / "cells").iterdir())
    assert [c.suffix for c in cells] == [".m4a", ".m4a"]
    assert all(not probe(c).has_picture for c in cells)
    result = CliRunner().invoke(cli, ["eval", "needle", "--lengths", "0.5", "--depths", "50",
                                      "--needles", "builtin", "--sound-only", "-o",
                                      str(tmp_path / "refused")])
    assert result.exit_code == 1 and "--sound-only cells hold spoken needles only" in \
        result.output, result.output
    assert not (tmp_path / "refused" / "cells").exists()
    call = tmp_path / "call.m4a"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=d=3", str(call)],
                   check=True)
    with pytest.raises(VidqaError, match="'.*call.m4a' has no picture, and a haystack is made "
                                         "of videos"):
        build_haystack([str(call)], minutes=0.5)


@pytest.mark.slow
def test_spoken_needles_are_heard_and_found(tmp_path, whisper, shared_haystacks):
    """A sentence spoken over the haystack's (noise) sound track at three depths: find's top
    hit is the speech, pinned inside the needle; a user needle comes from any sound file."""
    from vidqa.evaluation.spoken import lines

    config = Config()
    tools = Tools(config, asr=whisper)  # the session's model, loaded once
    sweep = Sweep(lengths_min=(0.5,), depths=(0.0, 0.5, 1.0), needles="builtin-spoken",
                  selectors=("scenes",), seed=5)  # the haystack `haystack` made: shared
    report = needle_eval(sweep, tmp_path / "spoken", Pipeline(config, tools=tools))
    assert len(report.records) == 3 and tools.asr is whisper
    for record in report.records:
        top = record["hits"][0]
        assert record["recall_at_1"] and top["kind"] == "speech", record["hits"][:2]
        assert top["refined_by"] == "words" and record["time_error_s"] <= 1.5
        assert record["segments"]["speech"] >= 1

    sound = lines()["needle-cake"].path
    (tmp_path / "cake.opus").write_bytes(sound.read_bytes())
    listed = tmp_path / "spoken.yaml"
    listed.write_text("- kind: spoken\n  path: cake.opus\n  text: the cake is lemon\n"
                      "  question: Which cake?\n  answer: lemon\n")
    (needle,) = load_needles(listed)
    assert (needle.kind, needle.query) == ("spoken", "the cake is lemon")
    assert needle.duration_s == pytest.approx(lines()["needle-cake"].duration_s, abs=0.05)
    listed.write_text("- kind: spoken\n  path: cake.opus\n  question: q\n  answer: a\n"
                      "  duration_s: 30\n")
    with pytest.raises(ConfigError, match="longer than the sound"):
        load_needles(listed)
