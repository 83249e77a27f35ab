"""Captioning throughput on a GPU: an hour of key frames through a full-size Qwen3-VL with random
weights (no download is possible where the GPU is), loaded back the way users load a checkpoint.

    python3 pipelines/bench_gpu_captions.py --size 8b --out $OUT/gpu.json    # on the GPU machine
    python3 pipelines/bench_gpu_captions.py --size tiny --chunks 2           # a dry run on the CPU

The model is Qwen3-VL-8B-Instruct's architecture (its published config.json: 36 layers of 4096,
32 query and 8 key/value heads, a 27-layer 1152-wide vision tower with DeepStack at 8/16/24),
built with random bf16 weights, saved with `save_pretrained` and loaded back through
`vidqa.model.backends.hf.TransformersBackend` (AutoProcessor, AutoModelForImageTextToText, sdpa
or flash-attention). The tokenizer and processor are the tiny test model's (tests/helpers), so
the vocabulary is small but the embedding table has the real 151,936 rows.

An hour of the generated benchmark footage has about 460 key frames (BENCHMARKS.md, OCR
cost); at the 8B preset's 832x480 frames (390 visual tokens) and 16,384 visual tokens per chunk
that is 12 chunks of 42 frames. Each chunk is captioned with generation forced to
`--new-tokens` tokens (a realistic caption: a summary and events). Reported: prefill tokens per
second (a forward pass of one chunk with one new token), chunks per second one at a time and in
batches of `--batch` (left-padded), seconds for the hour, and peak GPU memory.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))

# Qwen/Qwen3-VL-8B-Instruct config.json (text and vision), the values that size the compute.
QWEN3_VL_8B = {
    "text": dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                 num_attention_heads=32, num_key_value_heads=8, head_dim=128,
                 max_position_embeddings=262144, vocab_size=151936,
                 rope_parameters={"rope_type": "default", "rope_theta": 5_000_000.0,
                                  "mrope_section": [24, 20, 20], "mrope_interleaved": True}),
    "vision": dict(depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16,
                   patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
                   out_hidden_size=4096, num_position_embeddings=2304,
                   deepstack_visual_indexes=[8, 16, 24]),
}


def build_8b(path: Path, frame_max_pixels: int) -> Path:
    """The tiny model's processor, and a random bf16 model of the 8B architecture, saved."""
    import torch
    from tiny_qwen3_vl import build
    from transformers import AutoTokenizer, Qwen3VLConfig, Qwen3VLForConditionalGeneration

    build(path, frame_max_pixels=frame_max_pixels)  # processor + tiny weights (replaced below)
    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in
           ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>",
            "<|endoftext|>", "<|im_end|>")}
    config = Qwen3VLConfig(
        text_config={**QWEN3_VL_8B["text"], "pad_token_id": ids["<|endoftext|>"],
                     "eos_token_id": ids["<|im_end|>"]},
        vision_config=QWEN3_VL_8B["vision"], image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = Qwen3VLForConditionalGeneration(config).to(torch.bfloat16)
    for old in path.glob("model*.safetensors"):
        old.unlink()
    model.save_pretrained(path)
    del model
    return path


def frames(folder: Path, n: int, size: tuple[int, int]) -> list[str]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"kf{i:04d}.jpg"
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def chunk_messages(paths: list[str], start_s: float) -> list[dict]:
    from vidqa.model.messages import timestamp_label
    from vidqa.model.prompts import CAPTION_PROMPT

    content = []
    for i, path in enumerate(paths):
        pts_s = start_s + 7.8 * i  # ~460 key frames an hour
        content += [{"type": "text", "text": timestamp_label(pts_s)},
                    {"type": "image", "path": path, "pts_s": pts_s}]
    end_s = start_s + 7.8 * len(paths)
    content.append({"type": "text", "text": CAPTION_PROMPT.text.format(start=start_s, end=end_s)})
    return [{"role": "user", "content": content}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=["8b", "tiny"], default="8b")
    parser.add_argument("--keyframes-per-hour", type=int, default=460)
    parser.add_argument("--frame", default="832x480", help="key frame size (the 8B preset's)")
    parser.add_argument("--chunk-tokens", type=int, default=16384)
    parser.add_argument("--chunks", type=int, default=0, help="chunks to run (0: an hour's)")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--attention", default="auto")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import torch

    from vidqa.model.backends.hf import TransformersBackend

    width, height = (int(x) for x in args.frame.split("x"))
    per_frame = (width // 32) * (height // 32)  # visual tokens after the 2x2 merge
    per_chunk = max(1, args.chunk_tokens // per_frame)
    hour_chunks = math.ceil(args.keyframes_per_hour / per_chunk)
    chunks = args.chunks or hour_chunks
    report = {"size": args.size, "frame": args.frame, "frames_per_chunk": per_chunk,
              "chunks_per_hour": hour_chunks, "new_tokens": args.new_tokens,
              "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        if args.size == "8b":
            model_dir = build_8b(tmp / "model", width * height)
        else:
            from tiny_qwen3_vl import build
            model_dir = build(tmp / "model", frame_max_pixels=width * height)
        report["build_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        backend = TransformersBackend(str(model_dir), frame_max_pixels=width * height,
                                      attention=args.attention)
        report["load_s"] = round(time.perf_counter() - started, 1)
        report["attention"] = backend.hf_model.config._attn_implementation
        paths = frames(tmp, per_chunk, (width, height))
        messages = [chunk_messages(paths, i * per_chunk * 7.8) for i in range(chunks)]
        model, processor = backend.hf_model, backend.processor

        def sync():
            if torch.cuda.is_available():
                torch.cuda.synchronize()

        inputs = backend.prepare(messages[0])
        report["prefill_tokens"] = int(inputs["input_ids"].shape[1])
        with torch.inference_mode():
            model.generate(**inputs, max_new_tokens=1)  # warm-up
            sync()
            started = time.perf_counter()
            model.generate(**inputs, max_new_tokens=1)
            sync()
        prefill_s = time.perf_counter() - started
        report["prefill_tokens_per_s"] = round(report["prefill_tokens"] / prefill_s)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        processor.tokenizer.padding_side = "left"
        for batch in args.batch:
            started = time.perf_counter()
            for i in range(0, chunks, batch):
                group = messages[i:i + batch]
                if batch == 1:
                    batch_inputs = backend.prepare(group[0])
                else:
                    batch_inputs = processor.apply_chat_template(
                        [backend._hf_messages(m) for m in group], tokenize=True,
                        add_generation_prompt=True, return_dict=True, return_tensors="pt",
                        padding=True).to(model.device)
                with torch.inference_mode():
                    model.generate(**batch_inputs, max_new_tokens=args.new_tokens,
                                   min_new_tokens=args.new_tokens, do_sample=False)
            sync()
            seconds = time.perf_counter() - started
            report[f"batch{batch}"] = {"seconds": round(seconds, 2), "chunks": chunks,
                                       "chunks_per_s": round(chunks / seconds, 3),
                                       "hour_s": round(seconds / chunks * hour_chunks, 1)}
            print(json.dumps(report), flush=True)
        if torch.cuda.is_available():
            report["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
