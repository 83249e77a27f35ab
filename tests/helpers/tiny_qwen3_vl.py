"""A tiny, randomly initialised Qwen3-VL built offline: the real classes, saved to a directory
and loaded back through exactly the calls users make with real checkpoints
(`AutoProcessor.from_pretrained`, `AutoModelForImageTextToText.from_pretrained`).

The tokenizer is a byte-level BPE trained here on a small corpus, wrapped in transformers'
`Qwen2Tokenizer` with Qwen's special tokens; the chat template renders images the way
Qwen3-VL's does (`<|vision_start|><|image_pad|><|vision_end|>`).

    python tests/helpers/tiny_qwen3_vl.py DIR     # build one by hand
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|image_pad|>", "<|video_pad|>", "<think>", "</think>"]

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "<|im_start|>{{ message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' or 'image' in item -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif item['type'] == 'video' or 'video' in item -%}<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

CORPUS = [
    "<0.0 seconds> <12.5 seconds> <61.0 seconds> the presenter shows a slide with the budget",
    "A red car enters the parking lot at 00:12:03 and stops near the gate.",
    '{"summary": "a meeting", "events": [{"start_s": 12.0, "end_s": 15.5, "text": "slide"}]}',
    "Describe what happens in these frames. Answer in JSON with a summary and events.",
    "system user assistant video frames seconds time start end text person walks door opens",
] * 20


def build(path: str | Path, *, frame_max_pixels: int = 230_400, moe: bool = False,
          family: str = "qwen3_vl") -> Path:
    """Build and save the tiny model (dense, or mixture-of-experts like Qwen3-VL-30B-A3B) and
    its processor under `path`; return the path. `family`: "qwen3_vl" (Qwen3-VL) or "qwen3_5"
    (Qwen3.5: natively multimodal, its text layers mixing linear attention (Gated DeltaNet)
    with full attention; the same Qwen3VLProcessor)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (Qwen2Tokenizer, Qwen2VLImageProcessor, Qwen3VLConfig,
                              Qwen3VLForConditionalGeneration, Qwen3VLMoeConfig,
                              Qwen3VLMoeForConditionalGeneration, Qwen3VLProcessor,
                              Qwen3VLVideoProcessor)

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=[],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(CORPUS, trainer)
    vocab = bpe.get_vocab()
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
              for m in json.loads(bpe.to_str())["model"]["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges, eos_token="<|im_end|>",
                               pad_token="<|endoftext|>", unk_token=None)
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS})
    tokenizer.chat_template = CHAT_TEMPLATE
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}

    size = {"shortest_edge": 4096, "longest_edge": frame_max_pixels}
    image_processor = Qwen2VLImageProcessor(patch_size=16, temporal_patch_size=2, merge_size=2,
                                            size=size, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    video_processor = Qwen3VLVideoProcessor(patch_size=16, temporal_patch_size=2, merge_size=2,
                                            image_mean=[0.5] * 3, image_std=[0.5] * 3)
    processor = Qwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                 video_processor=video_processor, chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(path)

    text_config = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                       head_dim=16, max_position_embeddings=8192,
                       rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                        "mrope_section": [2, 3, 3], "mrope_interleaved": True},
                       pad_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"])
    vision_config = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=16,
                         spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=64,
                         num_position_embeddings=256, deepstack_visual_indexes=[0, 1])
    if moe:
        text_config.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                           decoder_sparse_step=1)
    if family == "qwen3_5":
        from transformers import (Qwen3_5Config, Qwen3_5ForConditionalGeneration,
                                  Qwen3_5MoeConfig, Qwen3_5MoeForConditionalGeneration)

        # one linear-attention (Gated DeltaNet) layer, then one full-attention layer, as the
        # real models alternate them (3:1); partial rotary embeddings on the full ones
        text_config.update(layer_types=["linear_attention", "full_attention"],
                           linear_conv_kernel_dim=4, linear_key_head_dim=16,
                           linear_value_head_dim=16, linear_num_key_heads=2,
                           linear_num_value_heads=4,
                           rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                            "partial_rotary_factor": 0.5,
                                            "mrope_section": [1, 1, 2], "mrope_interleaved": True})
        if moe:
            text_config.update(shared_expert_intermediate_size=32)
            text_config.pop("decoder_sparse_step")
        vision_config.pop("deepstack_visual_indexes")
        config_class = Qwen3_5MoeConfig if moe else Qwen3_5Config
        model_class = Qwen3_5MoeForConditionalGeneration if moe else \
            Qwen3_5ForConditionalGeneration
    elif family == "qwen3_vl":
        config_class = Qwen3VLMoeConfig if moe else Qwen3VLConfig
        model_class = Qwen3VLMoeForConditionalGeneration if moe else \
            Qwen3VLForConditionalGeneration
    else:
        raise ValueError(f"family must be qwen3_vl or qwen3_5, not {family!r}")
    config = config_class(text_config=text_config, vision_config=vision_config,
                           image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                           vision_start_token_id=ids["<|vision_start|>"],
                           vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(0)
    model = model_class(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(path)
    return path


if __name__ == "__main__":
    print(build(sys.argv[1], family=sys.argv[2] if len(sys.argv) > 2 else "qwen3_vl"))
