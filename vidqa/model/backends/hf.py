"""Local Qwen3-VL through transformers: `AutoProcessor` and `AutoModelForImageTextToText`.

Dense and MoE checkpoints alike, by hub id (through the Hugging Face cache, `HF_HOME`; offline
once cached) or a local directory. bf16 on a GPU, fp32 on the CPU, `device_map="auto"`,
flash-attention 2 when installed on CUDA, else sdpa; optional 4-bit weights (bitsandbytes).
The processor does all image work: frame size is capped through its own `size` settings, and the
visual-token count comes from its `image_grid_thw`. torch, transformers and Pillow are
imported when a backend is made: the class and its `identity_for` cost nothing to import.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, ClassVar

from vidqa.errors import BackendError
from vidqa.model.backends.base import Generation, Message
from vidqa.model.hub import cached_locally, hf_home, hub_cache, hub_reachable, model_revision

if TYPE_CHECKING:
    from vidqa.config import Config, ModelConfig
    from vidqa.model.backends.pool import Accounts


def _pick_attention(requested: str, cuda: bool) -> str:
    if requested != "auto":
        return requested
    if cuda and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


class TransformersBackend:
    name: ClassVar[str] = "transformers"
    concurrency = 1

    def __init__(self, model: str, *, frame_max_pixels: int | None = None,
                 frame_min_pixels: int | None = None, load_in_4bit: bool = False,
                 attention: str = "auto"):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.model = model
        self.cuda = torch.cuda.is_available()
        self.dtype = torch.bfloat16 if self.cuda else torch.float32
        kwargs: dict = {"dtype": self.dtype, "device_map": "auto",
                        "attn_implementation": _pick_attention(attention, self.cuda)}
        if load_in_4bit:
            if not self.cuda or importlib.util.find_spec("bitsandbytes") is None:
                raise BackendError("4-bit loading needs a CUDA GPU and bitsandbytes "
                                   "(pip install bitsandbytes); drop --load-in-4bit on this machine")
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_quant_type="nf4")
        local = cached_locally(model)  # offline once cached
        if not local and not hub_reachable():
            raise BackendError(
                f"model '{model}' is not in the Hugging Face cache ({hf_home()}) and the hub "
                "cannot be reached; download it once on a machine with network "
                f"(huggingface-cli download {model}) and copy the cache, or pass -m with a "
                "local directory")
        try:
            source = {"local_files_only": local, "cache_dir": hub_cache()}
            self.processor = AutoProcessor.from_pretrained(model, **source)
            self.hf_model = AutoModelForImageTextToText.from_pretrained(model, **source, **kwargs)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendError(
                f"cannot load model '{model}' ({first[:200]}); pass a local directory or a hub "
                "id that is in the Hugging Face cache (download it once with network: "
                f"huggingface-cli download {model})") from None
        self.hf_model.eval()
        self.identity = model_revision(model)  # as `identity_for` says
        image_processor = self.processor.image_processor
        if frame_max_pixels or frame_min_pixels:
            size = dict(image_processor.size)
            if frame_max_pixels:
                size["longest_edge"] = frame_max_pixels
            if frame_min_pixels:
                size["shortest_edge"] = frame_min_pixels
            image_processor.size = {"shortest_edge": size["shortest_edge"],
                                    "longest_edge": size["longest_edge"]}
        self.merge_size = getattr(image_processor, "merge_size", 2)

    @classmethod
    def from_config(cls, config: Config, *, api_key: str | None = None, pooled: bool = False,
                    ledger: Accounts | None = None) -> TransformersBackend:
        """The model `config.model` names, its frames sized as `config.decode` says (`api_key`,
        `pooled`, `ledger`: for servers, which a local model has none of)."""
        m = config.model
        return cls(m.model, frame_max_pixels=config.decode.frame_max_pixels,
                   frame_min_pixels=config.decode.frame_min_pixels,
                   load_in_4bit=m.load_in_4bit, attention=m.attention)

    @classmethod
    def identity_for(cls, settings: ModelConfig) -> str:
        """The weights' revision (see `vidqa.model.hub.model_revision`): one name can mean
        other weights after an update."""
        return model_revision(settings.model)

    @staticmethod
    def _load_image(path: str):
        """A frame as an RGB array, decoded by OpenCV (faster than PIL, which is the fallback for
        formats OpenCV cannot read)."""
        import cv2
        import numpy as np

        image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            from PIL import Image

            with Image.open(path) as fallback:
                return fallback.convert("RGB")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def _hf_messages(self, messages: list[Message]) -> list[Message]:
        converted = []
        for message in messages:
            content = []
            for item in message["content"]:
                if item["type"] == "image":
                    content.append({"type": "image", "image": self._load_image(item["path"])})
                else:
                    content.append({"type": "text", "text": item["text"]})
            converted.append({"role": message["role"], "content": content})
        return converted

    def render(self, messages: list[Message]) -> str:
        """The prompt text the model sees (image tokens not yet expanded)."""
        return self.processor.apply_chat_template(self._hf_messages(messages), tokenize=False,
                                                  add_generation_prompt=True)

    def prepare(self, messages: list[Message]):
        """The processor's inputs: token ids with image tokens expanded, pixel values, grids.
        On a GPU the processor's torchvision backend works on the model's device."""
        extra = {"processor_kwargs": {"device": str(self.hf_model.device)}} if self.cuda else {}
        return self.processor.apply_chat_template(
            self._hf_messages(messages), tokenize=True, add_generation_prompt=True,
            return_dict=True, return_tensors="pt", **extra)

    def context_tokens(self) -> int | None:
        """The loaded model's context length (its text config's max position embeddings)."""
        config = self.hf_model.config
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        value = getattr(text, "max_position_embeddings", None)
        return int(value) if value else None

    def visual_tokens(self, inputs) -> int:
        grid = inputs.get("image_grid_thw")
        if grid is None:
            return 0
        return int(grid.prod(dim=-1).sum()) // (self.merge_size ** 2)

    def generate(self, messages: list[Message], *, max_new_tokens: int = 1024,
                 temperature: float = 0.0) -> Generation:
        import torch

        inputs = self.prepare(messages).to(self.hf_model.device)
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 \
            else {"do_sample": False}
        try:
            with torch.inference_mode():
                output = self.hf_model.generate(**inputs, max_new_tokens=max_new_tokens, **sampling)
        except torch.cuda.OutOfMemoryError:
            raise BackendError(f"model '{self.model}' ran out of GPU memory on a chunk; lower "
                               "--max-tokens or --max-pixels, or use a smaller model") from None
        prompt_len = inputs["input_ids"].shape[1]
        new_tokens = output[0, prompt_len:]
        text = self.processor.decode(new_tokens, skip_special_tokens=True)
        return Generation(text=text, prompt_tokens=int(prompt_len),
                          completion_tokens=int(new_tokens.shape[0]),
                          visual_tokens=self.visual_tokens(inputs))
