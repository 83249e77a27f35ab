"""Every prompt in one module, each with a version that enters the cache key of its replies."""

from __future__ import annotations

from vidqa.model import prompts
from vidqa.model.captions import captions_key


def test_every_prompt_has_a_name_and_a_version():
    names = [p.name for p in prompts.PROMPTS]
    assert len(names) == len(set(names))
    assert all(p.version and p.text for p in prompts.PROMPTS)
    assert "{start:.1f}" in prompts.CAPTION_PROMPT.text


def test_a_new_caption_prompt_version_is_a_new_cache_key(monkeypatch):
    before = captions_key("openai", "m", 1024, 0.0, "http://server/v1")
    assert captions_key("openai", "m", 1024, 0.0, "http://server/v1") == before
    monkeypatch.setattr(prompts, "CAPTION_PROMPT",
                        prompts.Prompt("captions", "captions-v99", prompts.CAPTION_PROMPT.text))
    monkeypatch.setattr("vidqa.model.captions.CAPTION_PROMPT", prompts.CAPTION_PROMPT)
    assert captions_key("openai", "m", 1024, 0.0, "http://server/v1") != before
