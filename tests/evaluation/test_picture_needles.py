"""Image and clip needles looked for by their picture (`find --image`) in `vidqa eval needle`."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from vidqa.config import Config
from vidqa.errors import VidqaError
from vidqa.evaluation.needle import (Sweep, _cell_tracks, format_table, needle_eval,
                                     read_results, summarise)
from vidqa.evaluation.needles import (CLIP_FRAME_AT, builtin_needles, get_needles,
                                      needle_pictures)
from vidqa.pipeline import Pipeline
from vidqa.search.pictures import Picture
from vidqa.tools import Tools

# The generated haystack (seed 0) of test_evaluate's grid: made once per session and shared.
SHARED_MIN = 1.5


def _builtin(needle_id: str):
    return next(n for n in builtin_needles("builtin-picture") if n.id == needle_id)


def test_builtin_picture_set_holds_the_images_and_the_clips():
    needles = get_needles("builtin-picture")
    assert [n.kind for n in needles] == ["image", "image", "clip", "clip"]
    assert all(n.by_picture for n in needles)
    assert not any(n.by_picture for n in builtin_needles("builtin-text"))


def test_needle_pictures_are_the_image_and_a_frame_inside_the_clip():
    """An image needle is looked for by its own file; a clip needle by its frame halfway in,
    taken with ffmpeg; each also by a half-size rough JPEG of that picture. All are cached."""
    image = _builtin("image-voltage")
    as_is, degraded = needle_pictures(image)
    assert (as_is.variant, str(as_is.path)) == ("as-is", image.path)
    assert degraded.variant == "degraded" and degraded.path.suffix == ".jpg"
    assert degraded.to_dict()["size"] == [640, 360] and as_is.to_dict()["size"] == [1280, 720]

    clip = _builtin("clip-comet")
    frame, small = needle_pictures(clip)
    at_s = clip.duration_s * CLIP_FRAME_AT
    with av.open(clip.path) as container:
        truth = next(f.to_ndarray(format="bgr24") for f in container.decode(video=0)
                     if f.time >= at_s - 1e-3)
    taken = cv2.imread(str(frame.path))
    assert taken.shape == truth.shape and np.abs(taken.astype(int) - truth).mean() < 2.0
    assert frame.to_dict()["source"] == "the clip's frame at 1.500 s"
    assert small.to_dict()["size"] == [640, 360]

    stamps = [p.path.stat().st_mtime_ns for p in (frame, small)]
    assert [p.path.stat().st_mtime_ns for p in needle_pictures(clip)[:2]] == stamps


def test_only_cells_of_picture_needles_run_the_pictures_track():
    config = Config()
    tools = Tools(config)
    (text,) = [n for n in builtin_needles("builtin-text") if n.id == "text-pelican"]
    assert "pictures" in _cell_tracks(_builtin("clip-comet"), config, tools)
    assert "pictures" not in _cell_tracks(text, config, tools)


def test_summary_adds_picture_columns_only_for_picture_needles():
    sweep = Sweep(lengths_min=(1.0,), depths=(0.5,), selectors=("scenes",))
    base = {"selector": "scenes", "length_min": 1.0, "depth": 0.5, "video_s": 60.0,
            "tokens": 1100, "tokens_uniform": 26400, "needle_keyframes": 1,
            "recall_at_1": True, "recall_at_k": True, "time_error_s": 0.1}
    text_only = format_table(summarise([base], sweep), sweep).splitlines()
    assert text_only[0].split()[-2:] == ["needle", "kf"]  # the table as before
    assert text_only[1].split()[4:7] == ["100%", "100%", "0.10"]

    pictured = {**base, "recall_at_1": None, "recall_at_k": None, "time_error_s": None,
                "picture_recall_at_1": True, "picture_recall_at_k": True,
                "picture_time_error_s": 0.4,
                "pictures": [{"variant": "as-is", "recall_at_1": True},
                             {"variant": "degraded", "recall_at_1": False}]}
    rows = summarise([base, pictured], sweep)
    assert rows[0]["picture_cells"] == 1 and rows[0]["degraded_recall_at_1"] == 0.0
    assert rows[0]["recall_at_1"] == 1.0  # the text query where it was searched
    table = format_table(rows, sweep).splitlines()
    assert table[0].endswith("needle kf pic R@1 pic R@5  pic err degr R@1")
    assert table[1].split()[-5:] == ["100%", "100%", "0.40", "s", "0%"]


def test_find_mode_without_ocr_takes_picture_needles_only(tmp_path):
    """With --ocr off, text needles cannot be found, and the refusal names the way out."""
    config = Config().replace("ocr", mode="off")
    sweep = Sweep(lengths_min=(1.0,), depths=(0.5,), needles="builtin",
                  selectors=("scenes",))
    with pytest.raises(VidqaError, match="needs OCR.*builtin-picture"):
        needle_eval(sweep, tmp_path / "out", Pipeline(config))


def _needle_file(folder) -> str:
    """A user's needle file: a built-in image and a built-in clip, by path."""
    image, clip = _builtin("image-voltage"), _builtin("clip-comet")
    path = folder / "mine.yaml"
    path.write_text(f"- kind: image\n  id: my-sign\n  path: {image.path}\n"
                    "  question: What does the sign warn about?\n  answer: high voltage\n"
                    f"- kind: clip\n  id: my-comet\n  path: {clip.path}\n"
                    "  question: What colour is the square?\n  answer: red\n")
    return str(path)


@pytest.mark.slow
def test_picture_needles_are_found_by_picture_with_both_selectors(tmp_path, shared_haystacks):
    """A user file's image needle (at 30%) and clip needle (at 70%) in a 1-minute haystack,
    with no OCR and no model: each is found by its picture, as it is and degraded, at the
    top, within one 2 fps frame of its start, with vidqa's key frames and with every sampled
    frame; a picture that was not spliced in finds nothing. A re-run skips every cell."""
    out = tmp_path / "eval"
    config = Config().replace("ocr", mode="off")
    sweep = Sweep(lengths_min=(1.0,), depths=(0.3, 0.7), needles=_needle_file(tmp_path),
                  selectors=("scenes", "uniform"), haystack_min=SHARED_MIN)
    report = needle_eval(sweep, out, Pipeline(config), keep_videos=True)
    records = read_results(out / "results.jsonl")
    assert len(records) == 4 and report.ran == 4
    assert {(r["needle"]["id"], r["selector"]) for r in records} == \
        {(n, s) for n in ("my-sign", "my-comet") for s in ("scenes", "uniform")}
    for r in records:
        where = (r["needle"]["id"], r["selector"])
        assert r["segments"]["pictures"] == r["keyframes"], where
        assert r["recall_at_1"] is None and r["hits"] == []  # nothing read the text
        assert [p["variant"] for p in r["pictures"]] == ["as-is", "degraded"]
        for query in r["pictures"]:
            assert query["rank"] == 1, (where, query["variant"], query["hits"])
            assert query["hits"][0]["kind"] == "picture"
            assert 0 <= query["time_error_s"] <= 0.5 + 1 / 30, (where, query)
        assert r["picture_recall_at_1"] and r["picture_time_error_s"] == \
            r["pictures"][0]["time_error_s"]
    assert report.metric_name == "picture recall@1"
    assert report.score("scenes") == report.score("uniform") == 1.0
    assert report.rows[-1]["picture_recall_at_1"] == 1.0
    assert "pic R@1" in format_table(report.rows, sweep)

    # The cell of the image needle holds neither the clip's frame nor the other built-in image.
    (sign,) = [r for r in records if r["needle"]["id"] == "my-sign" and r["selector"] == "scenes"]
    video = next((out / "cells").glob("cell-1min-30pct-my-sign.mp4"))
    pipeline = Pipeline(config.replace("select", policy="scenes"), cache_root=out / "work",
                        tracks=("pictures",))
    run = pipeline.run(str(video))
    assert run.ingest.stats.keyframes == sign["keyframes"]
    own = pipeline.find([], Picture.from_path(_builtin("image-voltage").path), runs=[run])
    assert own and abs(own[0].time_s - sign["pictures"][0]["hits"][0]["time_s"]) < 1e-3
    for other in (needle_pictures(_builtin("clip-comet"))[0].path, _builtin("image-ticket").path):
        assert pipeline.find([], Picture.from_path(other), runs=[run]) == [], other

    again = needle_eval(sweep, out, Pipeline(config))
    assert (again.ran, again.skipped) == (0, 4)


@pytest.mark.slow
def test_picture_find_is_recorded_beside_the_text_query(tmp_path, shared_haystacks):
    """With OCR, an image needle's cell keeps the text query's fields (its query over the
    on-screen text) and adds the picture query's."""
    sweep = Sweep(lengths_min=(1.0,), depths=(0.5,), needles="builtin-image",
                  selectors=("scenes",), haystack_min=SHARED_MIN)
    report = needle_eval(sweep, tmp_path / "eval", Pipeline())
    (record,) = report.records
    assert record["needle"]["id"] == "image-voltage"
    assert record["recall_at_1"] is True and record["hits"][0]["kind"] == "text"
    assert record["picture_recall_at_1"] is True and record["pictures"][0]["rank"] == 1
    assert record["seconds"]["find_picture"] > 0 and "ocr" in record["segments"]
    assert report.metric_name == "recall@1" and report.picture_score("scenes") == 1.0
