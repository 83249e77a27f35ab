"""The pipeline's own time per chunk outside the model call, for a 32-frame chunk.

    python pipelines/bench_chunk_overhead.py [--model DIR] [--repeat 20]

Steps timed (median of --repeat runs), on 32 real key frames (640x352 JPEG, 220 tokens each):
  messages      `<t seconds>` text + image items for the chunk
  hf prepare    transformers backend: decode the JPEGs, Qwen3-VL's processor (resize,
                normalise, patches), chat template, tokenisation -> model inputs (also shown
                in its two parts)
  openai body   openai backend: the chat request body with base64 data URLs
  parse         a realistic reply: think block, fenced JSON, 12 events
  cache         the chunk caption written atomically
Without --model, a tiny Qwen3-VL is built offline (tests/helpers/tiny_qwen3_vl.py): its processor
is the real Qwen3VLProcessor class with Qwen3-VL's patch and merge sizes, so the timing is the same.
With --device cuda, also runs the model call itself through the same code (bf16) and prints it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from vidqa.model.backends import get_backend  # noqa: E402
from vidqa.model.captions import ChunkCaption, parse_caption  # noqa: E402
from vidqa.keyframes.chunking import Chunk  # noqa: E402
from vidqa.keyframes.ingest import ingest  # noqa: E402
from vidqa.model.messages import caption_messages  # noqa: E402
from vidqa.store import atomic_write_text  # noqa: E402
from vidqa.evaluation.synth import demo_plan, render  # noqa: E402


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a Qwen3-VL directory or hub id (default: a tiny one)")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vidqa-bench-"))
    if args.model is None:
        from helpers.tiny_qwen3_vl import build
        args.model = str(build(work / "tiny"))
    # 32 real key frames: a generated video sampled with a max gap that keeps 32 of them.
    video = render(demo_plan(8.0, seed=3), work / "v.mp4", preset="veryfast")
    from vidqa.config import Config
    result = ingest(video, Config().replace("select", max_gap_s=5.0))
    frames = result.keyframes[:32]
    assert len(frames) == 32, len(frames)
    chunk = Chunk(0, frames[0].pts_s, frames[-1].pts_s + 1, frames, 32 * 220)
    hf = get_backend("transformers", args.model)
    oa = get_backend("openai", "bench", base_url="http://127.0.0.1:9/v1", api_key="x")
    messages = caption_messages(chunk, result.image_path)
    events = [{"start_s": round(f.pts_s, 1), "end_s": round(f.pts_s + 2, 1),
               "text": f"a caption appears and the slide changes ({i})"} for i, f in enumerate(frames[:12])]
    reply = ("<think>" + "The frames show slides and patterns. " * 20 + "</think>\n```json\n"
             + json.dumps({"summary": "Slides alternate with moving test patterns.", "events": events})
             + "\n```")
    caption = parse_caption(reply, chunk_index=0, start_s=chunk.start_s, end_s=chunk.end_s)
    target = work / "caption.json"
    converted = hf._hf_messages(messages)
    steps = {
        "messages": lambda: caption_messages(chunk, result.image_path),
        "hf prepare": lambda: hf.prepare(messages),
        "  of which: decode JPEGs": lambda: hf._hf_messages(messages),
        "  of which: Qwen3-VL processor": lambda: hf.processor.apply_chat_template(
            converted, tokenize=True, add_generation_prompt=True, return_dict=True,
            return_tensors="pt"),
        "openai body": lambda: [oa._convert(m) for m in messages],
        "parse": lambda: parse_caption(reply, chunk_index=0, start_s=chunk.start_s, end_s=chunk.end_s),
        "cache": lambda: atomic_write_text(target, json.dumps(caption.to_dict())),
    }
    hf.prepare(messages)  # warm-up
    timings = {name: median_ms(fn, args.repeat) for name, fn in steps.items()}
    inputs = hf.prepare(messages)
    print(f"32-frame chunk, {hf.visual_tokens(inputs)} visual tokens "
          f"({inputs['input_ids'].shape[1]} prompt tokens), median of {args.repeat} runs:")
    for name, ms in timings.items():
        print(f"  {name:32s} {ms:8.2f} ms")
    local = timings["messages"] + timings["hf prepare"] + timings["parse"] + timings["cache"]
    print(f"  torch threads: {__import__('torch').get_num_threads()}")
    remote = timings["messages"] + timings["openai body"] + timings["parse"] + timings["cache"]
    print(f"  total, transformers backend: {local:.1f} ms; openai backend: {remote:.1f} ms "
          f"(target <= 50 ms)")
    if getattr(hf, "cuda", False):
        call = median_ms(lambda: hf.generate(messages, max_new_tokens=32), max(3, args.repeat // 4))
        print(f"  model call on CUDA ({hf.dtype}), 32 new tokens: {call:.1f} ms")
    assert isinstance(caption, ChunkCaption)


if __name__ == "__main__":
    main()
