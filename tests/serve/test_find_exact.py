"""`POST /v1/find` on a live server: a quoted phrase brings the text line holding it first, and a
query written in FTS5's syntax is only text (no SQLite error reaches the client)."""

from __future__ import annotations

import httpx
import pytest


def find(server, query: str, **extra) -> list[dict]:
    reply = httpx.post(f"{server.url}/v1/find", timeout=120,
                       json={"query": query, "video": "event.mp4", "k": 5, **extra})
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def test_a_quoted_phrase_brings_its_text_line_first(server):
    hits = find(server, '"ALARM TEST"')
    assert (hits[0]["kind"], hits[0]["text"]) == ("text", "FIRE ALARM TEST")
    assert 41.0 <= hits[0]["time_s"] <= 43.5
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True) and 0.35 < scores[0] <= 1.0
    assert find(server, "alarm test", refine=False)[0]["text"] == "FIRE ALARM TEST"


@pytest.mark.parametrize("query", ["AND", '"', '"unbalanced', "NEAR(", "a*b", "col:val", "-x",
                                   "(((", "x OR y NOT z", "{text}: ^a", "\u0000", "ab"])
def test_fts_syntax_in_a_query_is_plain_text(server, query):
    hits = find(server, query, refine=False)
    assert 1 <= len(hits) <= 5 and all(-1.0 <= h["score"] <= 1.0 for h in hits)
