"""MCP's `find` with an `image` instead of a query, from the SDK's own client over streamable
HTTP: a picture cut from a frame is found where it is shown (as a data URL, or as bare
base64), one from elsewhere gives no hit, and every bad call is a one-line tool error."""

from __future__ import annotations

import base64

import anyio
import pytest

from helpers.pictures import png
from vidqa.serve.app import Server

from test_find_picture_api import EVENT, caption_crop, data_url, elsewhere, png_header

mcp = pytest.importorskip("mcp")
from mcp import Client  # noqa: E402


def one_line_error(result) -> str:
    assert result.is_error, result
    message = " ".join(c.text for c in result.content if c.type == "text")
    assert "\n" not in message and "Traceback" not in message, message
    return message


def test_find_with_an_image_over_mcp(library, service):
    from vidqa.serve.mcp import create_mcp, http_app

    crop = png(caption_crop(library))
    service.indexed(service.entry("event.mp4"))

    async def main(url):
        async with Client(f"{url}/mcp") as client:
            tool = next(t for t in (await client.list_tools()).tools if t.name == "find")
            assert "image" in tool.input_schema["properties"]
            assert "query" not in tool.input_schema.get("required", [])

            found = await client.call_tool("find", {"image": data_url(crop),
                                                    "video": "event.mp4"})
            assert not found.is_error, found
            doc = found.structured_content
            assert doc["image"]["format"] == "png" and "query" not in doc
            (hit,) = doc["hits"]
            assert (hit["path"], hit["kind"], hit["pinned_by"]) == ("event.mp4", "picture",
                                                                   "frames")
            assert EVENT[0] <= hit["time_s"] <= EVENT[0] + 0.6
            assert hit["time"].startswith("00:00:41.") and 0 < hit["score"] <= 1
            assert hit["text"].startswith("the picture 'picture.png' (")

            # the file's bytes in base64 alone (line breaks and all, as encoders wrap it)
            wrapped = base64.encodebytes(crop).decode()
            bare = (await client.call_tool("find", {"image": wrapped, "video": "event.mp4",
                                                    "k": 2})).structured_content
            assert [h["time_s"] for h in bare["hits"]] == [hit["time_s"]]

            nothing = await client.call_tool("find", {"image": data_url(png(elsewhere())),
                                                      "video": "event.mp4"})
            assert not nothing.is_error and nothing.structured_content["hits"] == []

            cases = [({"query": "alarm", "image": data_url(crop)}, "give 'query'"),
                     ({}, "one of the two"),
                     ({"image": "not base64 at all!"}, "neither a data URL nor valid base64"),
                     ({"image": "data:image/png;base64,@@"}, "'image' is not valid base64"),
                     ({"image": "data:image/gif;base64,R0lG"}, "send PNG, JPEG or WebP"),
                     ({"image": base64.b64encode(b"plain text").decode()},
                      "is not a PNG, JPEG or WebP image"),
                     ({"image": data_url(png_header(9000, 9000))}, "over 50 million"),
                     ({"image": data_url(crop), "video": "nothing.mp4"}, "no video"),
                     ({"image": data_url(crop), "k": 0}, "'k'")]
            for args, expected in cases:
                message = one_line_error(await client.call_tool("find", args))
                assert message.startswith("find: ") and expected in message, (args, message)

    with Server(http_app(service, create_mcp(service), host="127.0.0.1")) as live:
        anyio.run(main, live.url)
