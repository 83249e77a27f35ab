"""Tiny, randomly initialised CLIP and SigLIP checkpoints built offline: the real classes
(`CLIPModel` with `CLIPProcessor`, `SiglipModel` with `SiglipProcessor`, `Siglip2Model` with
`Siglip2Processor`), saved with `save_pretrained` into a folder laid out as the Hugging Face hub
cache (`models--org--name/refs/main` holding a commit, `snapshots/<commit>/` linking to
`blobs/`), so code loads them by hub id exactly as users load real checkpoints
(`AutoModel.from_pretrained("openai/clip-vit-base-patch32", local_files_only=True)`).

The tokenizers are built here: CLIP's byte-level BPE with every byte as a token (and as the
end of a word, `</w>`), Gemma's BPE with byte fallback (SigLIP 2), and for SigLIP a
SentencePiece model trained on a small corpus (only where the `sentencepiece` package is
installed: `SiglipTokenizer` needs it, for real checkpoints too).

    python tests/helpers/tiny_clip.py CACHE_DIR     # build them all by hand
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import shutil
import sys
from pathlib import Path

SIDE = 32  # pixels a side the tiny image towers take
PATCH = 8
MAX_TEXT = 16  # text positions (the real ones: 77 for CLIP, 64 for SigLIP)

CORPUS = [
    "a photo of a red truck on a road", "a slide with a chart of the budget",
    "a person walks through a door", "colour bars and a test pattern", "a blue sky over the sea",
    "the quick brown fox jumps over the lazy dog", "green grass, white text, black screen",
] * 30

# hub id -> what `build` makes under it (the registered ids of vidqa.search.image_embedders
# hold tiny models here, in a test's own cache; "tiny/..." ids are any other model)
KINDS = {"clip": "CLIP", "siglip": "SigLIP (needs sentencepiece)", "siglip2": "SigLIP 2 at a "
         "fixed size (SiglipModel, Gemma tokenizer)", "siglip2-naflex": "SigLIP 2 NaFlex"}


def can_build(kind: str) -> bool:
    """Whether `kind` can be built here (SigLIP's tokenizer needs sentencepiece)."""
    return kind != "siglip" or importlib.util.find_spec("sentencepiece") is not None


def _tower(**extra) -> dict:
    return dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, **extra)


def _clip(folder: Path) -> None:
    from tokenizers import pre_tokenizers
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, \
        CLIPTokenizer

    specials = ["<|startoftext|>", "<|endoftext|>"]
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {token: i for i, token in enumerate(
        [*specials, *sorted(alphabet), *(c + "</w>" for c in sorted(alphabet))])}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=MAX_TEXT)
    image_processor = CLIPImageProcessor(size={"shortest_edge": SIDE},
                                         crop_size={"height": SIDE, "width": SIDE})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    config = CLIPConfig(
        text_config=_tower(vocab_size=len(vocab), max_position_embeddings=MAX_TEXT,
                           bos_token_id=vocab["<|startoftext|>"],
                           eos_token_id=vocab["<|endoftext|>"],
                           pad_token_id=vocab["<|endoftext|>"]),
        vision_config=_tower(image_size=SIDE, patch_size=PATCH), projection_dim=16)
    CLIPModel(config).save_pretrained(folder)


_GEMMA_IDS = dict(pad_token_id=0, eos_token_id=1, bos_token_id=2)


def _gemma_tokenizer(cls):
    """Gemma's BPE (SigLIP 2's tokenizer): the specials, every byte as <0xNN>, the word
    marker and printable ASCII, with no merges (unknown pieces fall back to bytes)."""
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    pieces = [*specials, *(f"<0x{b:02X}>" for b in range(256)), "\u2581",
              *(chr(c) for c in range(33, 127))]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    return cls(vocab=vocab, merges=[], model_max_length=MAX_TEXT), len(vocab)


def _siglip2(folder: Path) -> None:
    from transformers import GemmaTokenizer, SiglipConfig, SiglipImageProcessor, SiglipModel, \
        SiglipProcessor

    tokenizer, size = _gemma_tokenizer(GemmaTokenizer)
    image_processor = SiglipImageProcessor(size={"height": SIDE, "width": SIDE})
    SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    config = SiglipConfig(text_config=_tower(vocab_size=size, max_position_embeddings=MAX_TEXT,
                                             projection_size=32, **_GEMMA_IDS),
                          vision_config=_tower(image_size=SIDE, patch_size=PATCH))
    SiglipModel(config).save_pretrained(folder)


def _siglip2_naflex(folder: Path) -> None:
    from transformers import Siglip2Config, Siglip2ImageProcessor, Siglip2Model, \
        Siglip2Processor, Siglip2Tokenizer

    tokenizer, size = _gemma_tokenizer(Siglip2Tokenizer)
    # Siglip2Processor passes its own defaults (16-pixel patches, at most 256 of them) to the
    # image processor, as for the real NaFlex checkpoints: the tiny tower takes the same
    image_processor = Siglip2ImageProcessor(patch_size=16, max_num_patches=256)
    Siglip2Processor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    config = Siglip2Config(text_config=_tower(vocab_size=size, max_position_embeddings=64,
                                              projection_size=32, **_GEMMA_IDS),
                           vision_config=_tower(patch_size=16, num_patches=256))
    Siglip2Model(config).save_pretrained(folder)


def _siglip(folder: Path) -> None:
    import sentencepiece as spm
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor, \
        SiglipTokenizer

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS), model_writer=model,
                                   vocab_size=48, model_type="unigram", pad_id=0,
                                   pad_piece="<pad>", eos_id=1, eos_piece="</s>", unk_id=2,
                                   unk_piece="<unk>", bos_id=-1, character_coverage=1.0,
                                   minloglevel=2, hard_vocab_limit=False)
    spiece = folder / "spiece.model"
    folder.mkdir(parents=True, exist_ok=True)
    spiece.write_bytes(model.getvalue())
    tokenizer = SiglipTokenizer(str(spiece), model_max_length=MAX_TEXT)
    image_processor = SiglipImageProcessor(size={"height": SIDE, "width": SIDE})
    SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    config = SiglipConfig(text_config=_tower(vocab_size=len(tokenizer),
                                             max_position_embeddings=MAX_TEXT,
                                             projection_size=32, pad_token_id=0,
                                             eos_token_id=1, bos_token_id=None),
                          vision_config=_tower(image_size=SIDE, patch_size=PATCH))
    SiglipModel(config).save_pretrained(folder)


_BUILDERS = {"clip": _clip, "siglip": _siglip, "siglip2": _siglip2,
             "siglip2-naflex": _siglip2_naflex}


def build_folder(folder: str | Path, kind: str, *, seed: int = 0) -> Path:
    """A tiny `kind` ("clip", "siglip", "siglip2", "siglip2-naflex") saved in `folder`, as
    `save_pretrained` lays out a checkpoint."""
    import torch

    if kind not in _BUILDERS:
        raise ValueError(f"kind must be one of {', '.join(_BUILDERS)}, not {kind!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    _BUILDERS[kind](folder)
    return folder


def build_cached(cache: str | Path, model_id: str, kind: str, *, seed: int = 0) -> Path:
    """A tiny `kind` under hub id `model_id` in the hub cache folder `cache` (what
    `HF_HUB_CACHE` names): its files in `blobs/` by content, linked from
    `snapshots/<commit>/`, and `refs/main` naming the commit. Returns the snapshot folder."""
    repo = Path(cache) / ("models--" + model_id.replace("/", "--"))
    staging = repo / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    build_folder(staging, kind, seed=seed)
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    listing = hashlib.sha1()
    for path in files:
        listing.update(path.relative_to(staging).as_posix().encode() + path.read_bytes())
    commit = listing.hexdigest()
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    for path in files:
        blob = repo / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
        if not blob.exists():
            os.replace(path, blob)
        link = snapshot / path.relative_to(staging)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(os.path.relpath(blob, link.parent))
    shutil.rmtree(staging)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    return snapshot


if __name__ == "__main__":
    target = Path(sys.argv[1])
    for name, (hub_id, kind) in {"clip": ("openai/clip-vit-base-patch32", "clip"),
                                 "siglip2": ("google/siglip2-base-patch16-224", "siglip2"),
                                 "siglip": ("google/siglip-base-patch16-224", "siglip"),
                                 "naflex": ("tiny/siglip2-naflex", "siglip2-naflex")}.items():
        if can_build(kind):
            print(build_cached(target, hub_id, kind))
