"""Find by picture over HTTP: `POST /v1/find` with an `image_url` (a data URL, or OpenAI's
`{"url": ...}` form) finds a picture cut from a frame of a served video at the time it is
shown, pinned to the first sampled frame of the showing; a picture no video shows gives no
hit; every bad picture is refused in one line with its status; and the guards a page of another
site meets (Origin, JSON only, the body limit) hold for a picture's body too."""

from __future__ import annotations

import base64
import json
import zlib

import cv2
import httpx
import numpy as np
import pytest

from helpers.pictures import grab, png
from helpers.serving import running

EVENT = (41.3, 43.3)  # event.mp4's caption event (FIRE ALARM TEST)
PATTERN = (6.3, 11.5)  # talks/cuts.mp4's second shot, a moving pattern


def data_url(data: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def caption_crop(library) -> np.ndarray:
    """The part of event.mp4's frame at 42 s that the caption event changes (with a margin):
    a picture shown from 41.3 s to 43.3 s and at no other time."""
    before, during = grab(library / "event.mp4", 20.0), grab(library / "event.mp4", 42.0)
    ys, xs = np.nonzero(np.abs(during.astype(int) - before.astype(int)).sum(axis=2) > 40)
    assert len(xs), "the caption event changes nothing at 42 s"
    return during[max(0, ys.min() - 10):ys.max() + 10, max(0, xs.min() - 10):xs.max() + 10]


def elsewhere() -> np.ndarray:
    """A picture none of the served videos shows: shapes and words of its own."""
    rng = np.random.default_rng(7)
    image = np.full((360, 480, 3), (30, 90, 40), np.uint8)
    for _ in range(40):
        centre = (int(rng.integers(0, 480)), int(rng.integers(0, 360)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(image, centre, int(rng.integers(5, 40)), colour, -1)
    cv2.putText(image, "ELSEWHERE 1997", (20, 200), cv2.FONT_HERSHEY_TRIPLEX, 1.6,
                (250, 250, 250), 3)
    return image


def png_header(width: int, height: int) -> bytes:
    """A PNG that says it is width x height and holds nothing more (a few dozen bytes)."""
    ihdr = b"IHDR" + width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + ihdr
            + zlib.crc32(ihdr).to_bytes(4, "big"))


def post(server, body, **options) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/find", json=body, timeout=120, **options)


@pytest.fixture
def indexed(service):
    """Both served videos indexed (in the session's shared cache: once for all tests)."""
    for name in ("event.mp4", "talks/cuts.mp4"):
        service.indexed(service.entry(name))
    return service


def test_a_picture_cut_from_a_frame_is_found_when_it_is_shown(library, indexed, server):
    crop = caption_crop(library)
    reply = post(server, {"image_url": {"url": data_url(png(crop)), "name": "alarm.png"},
                          "video": "event.mp4"})
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["object"] == "list" and "query" not in data
    assert data["image"] == {"name": "alarm.png", "format": "png", "width": crop.shape[1],
                             "height": crop.shape[0], "bytes": len(png(crop))}
    (hit,) = data["data"]
    assert (hit["path"], hit["kind"], hit["refined_by"]) == ("event.mp4", "picture", "frames")
    # pinned to the first sampled frame (the decode's 2 fps) that shows the caption
    assert EVENT[0] <= hit["time_s"] <= EVENT[0] + 0.6 and hit["time_s"] == hit["refined_s"]
    assert hit["start_s"] <= hit["time_s"] < hit["end_s"] <= EVENT[1] + 2.0
    assert 0 < hit["score"] <= 1 and hit["text"].startswith("the picture 'alarm.png' (")
    assert hit["time"].startswith("00:00:41.") and hit["video"] == indexed.entry("event.mp4").id

    # every indexed video, the picture as a bare data URL (JPEG, larger than it was shown):
    # the same showing, named by its type
    bigger = cv2.resize(crop, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_CUBIC)
    jpeg = cv2.imencode(".jpg", bigger, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    data = post(server, {"image_url": data_url(jpeg, "image/jpeg"), "k": 3}).json()
    assert data["image"]["name"] == "picture.jpg" and data["image"]["format"] == "jpeg"
    assert [h["path"] for h in data["data"]] == ["event.mp4"]
    assert EVENT[0] <= data["data"][0]["time_s"] <= EVENT[0] + 0.6

    # a frame of another video, as WebP: found in it, in the shot it was cut from
    frame = grab(library / "talks" / "cuts.mp4", 8.0)
    h, w = frame.shape[:2]
    webp = cv2.imencode(".webp", frame[h // 6:h * 5 // 6, w // 6:w * 5 // 6])[1].tobytes()
    data = post(server, {"image_url": {"url": data_url(webp, "image/webp")}}).json()
    top = data["data"][0]
    assert top["path"] == "talks/cuts.mp4" and PATTERN[0] <= top["time_s"] <= 8.0


def test_a_picture_no_video_shows_gives_no_hit(indexed, server):
    reply = post(server, {"image_url": data_url(png(elsewhere())), "k": 10})
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"] == []


REFUSALS = [
    ({"query": "alarm", "image_url": "IMAGE"}, 400, "invalid_query",
     "give 'query' or 'image_url', not both"),
    ({"at": "12:00", "image_url": "IMAGE"}, 400, "invalid_query",
     "give 'at' or 'image_url', not both"),
    ({"k": 3}, 400, "invalid_query", "'query' must be the text to look for (or 'image_url'"),
    ({"image_url": 42}, 400, "invalid_image", "'image_url' must be the picture as a data URL"),
    ({"image_url": {"name": "x.png"}}, 400, "invalid_image", "'image_url' must be the picture"),
    ({"image_url": "https://example.com/x.png"}, 400, "unsupported_image_url",
     "'image_url' is an http(s) URL; this server fetches nothing"),
    ({"image_url": "event.mp4"}, 400, "unsupported_image_url", "'image_url' is not a data: URL"),
    ({"image_url": "data:image/png,abc"}, 400, "invalid_data_url", "'image_url' is a data URL "
     "without ';base64,'"),
    ({"image_url": "data:image/png;base64,@@@@"}, 400, "invalid_data_url",
     "'image_url' is not valid base64"),
    ({"image_url": "data:image/gif;base64,R0lGODlhAQABAAAAACw="}, 415, "unsupported_image",
     "'image_url' is of type 'image/gif'; send PNG, JPEG or WebP pictures"),
    ({"image_url": data_url(b"GIF89a" + bytes(64))}, 415, "unsupported_image",
     "the picture 'picture.png' is not a PNG, JPEG or WebP image"),
    ({"image_url": data_url(b"plain text, not a picture")}, 415, "unsupported_image",
     "the picture 'picture.png' is not a PNG, JPEG or WebP image"),
    ({"image_url": {"url": data_url(png_header(9000, 9000)), "name": "bomb.png"}}, 413,
     "image_too_large", "the picture 'bomb.png' is 9000x9000 pixels, over 50 million"),
    ({"image_url": data_url(png_header(64, 48))}, 400, "invalid_image",
     "the picture 'picture.png' does not decode as a PNG"),
    ({"image_url": "IMAGE", "k": 0}, 400, "invalid_k", "'k' must be a whole number"),
    ({"image_url": "IMAGE", "video": "missing.mp4"}, 404, "video_not_found",
     "no video 'missing.mp4'"),
]


@pytest.mark.parametrize("body, status, code, message", REFUSALS,
                         ids=[f"{r[2]}-{i}" for i, r in enumerate(REFUSALS)])
def test_bad_pictures_are_refused_in_one_line(service, server, body, status, code, message):
    if body.get("image_url") == "IMAGE":
        body = {**body, "image_url": data_url(png(elsewhere()))}
    reply = post(server, body)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["code"] == code and error["message"].startswith(message), error
    assert "\n" not in error["message"] and "Traceback" not in error["message"]


def test_the_guards_hold_for_a_picture(service, monkeypatch):
    """What another site's page can send: text/plain (no preflight) and JSON from its own
    origin, both refused before the picture is read; a body over the limit is cut off."""
    looked = []
    picture = service.picture
    monkeypatch.setattr(service, "picture", lambda *a, **kw: looked.append(a) or picture(*a, **kw))
    body = json.dumps({"image_url": data_url(png(elsewhere()))}).encode()
    with running(service, max_body_mb=1) as server:
        url = f"{server.url}/v1/find"
        for headers, status, code in [
                ({"Origin": "http://evil.example", "Content-Type": "text/plain"}, 403,
                 "cross_site_request"),
                ({"Origin": "http://evil.example", "Content-Type": "application/json"}, 403,
                 "cross_site_request"),
                ({"Origin": "http://127.0.0.1:1", "Content-Type": "application/json"}, 403,
                 "cross_site_request"),
                ({"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, 403,
                 "cross_site_request"),
                ({"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
                ({"Content-Type": "multipart/form-data; boundary=x"}, 415,
                 "unsupported_media_type")]:
            refused = httpx.post(url, content=body, headers=headers)
            assert refused.status_code == status, (headers, refused.text)
            assert refused.json()["error"]["code"] == code
        assert looked == []

        noise = np.random.default_rng(3).integers(0, 256, (700, 700, 3), np.uint8)
        large = json.dumps({"image_url": data_url(png(noise))}).encode()
        assert len(large) > 2**20
        refused = httpx.post(url, content=large, headers={"Content-Type": "application/json"})
        assert refused.status_code == 413, refused.text
        assert refused.json()["error"]["code"] == "body_too_large" and looked == []

        own = httpx.post(url, content=body, timeout=120,
                         headers={"Origin": server.url, "Content-Type": "application/json"})
        assert own.status_code in (200, 409), own.text  # 409: nothing indexed yet
        assert len(looked) == 1


def test_a_sound_only_recording_named_is_refused_before_any_indexing(tmp_path, shared_home,
                                                                     library):
    import subprocess

    from vidqa.media.ffmpeg import ffmpeg_exe
    from vidqa.serve.service import Service

    folder = tmp_path / "calls"
    folder.mkdir()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=3", str(folder / "call.wav")], check=True)
    service = Service([folder], check=False)
    try:
        service.check(service.entry("call.wav"))  # probed: no picture (not indexed)
        with running(service) as server:
            reply = post(server, {"image_url": data_url(png(caption_crop(library))),
                                  "video": "call.wav"})
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert error["code"] == "no_picture" and error["message"] == (
            "'call.wav' is a sound-only recording: it shows no picture; name a video")
        assert service.jobs.all() == []
    finally:
        service.close()
