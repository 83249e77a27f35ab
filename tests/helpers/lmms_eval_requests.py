"""lmms-eval 0.7.3's requests to an OpenAI-compatible server, rebuilt line for line, and its
Video-MME answer extraction: what `lmms-eval --model openai` sends vidqa, replayed in tests.

lmms-eval itself is not installed here (it pins av<16, where vidqa takes av 18, and pulls
torch, decord, wandb, ...), so this module transcribes the code that builds its payloads. Each
function names the file and function of lmms-eval 0.7.3 (`lmms_eval/...`) it follows. decord's
`VideoReader` is replaced by PyAV (vidqa's own dependency): every frame of the stream counted
(decord's `len(vr)`), the same indices picked, each decoded whole at its own size in RGB (as
`vr.get_batch(idx).asnumpy()` gives them). `test_lmms_eval.py` compares these payloads with
lmms-eval's own where it can be imported.

    payload = simple_video_payload(context, "clip.mp4", model="vidqa", max_frames_num=8)
    client.chat.completions.create(**payload)      # as process_single_request sends it
"""

from __future__ import annotations

import base64
import os
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image


# -- lmms_eval/models/model_utils/media_encoder.py -------------------------------------------

def encode_image_to_base64(image: Image.Image, *, image_format: str = "PNG",
                           convert_rgb: bool = False, quality: int | None = None) -> str:
    """`encode_image_to_base64` -> `encode_image_to_bytes` -> `_encode_pil_image_to_bytes`
    for a PIL image (no cache): saved in `image_format`, `quality` for JPEG and WebP only."""
    image_format = image_format.upper()  # _normalize_format
    working = image.convert("RGB") if convert_rgb and image.mode != "RGB" else image
    buffer = BytesIO()
    save_kwargs = {}
    if quality is not None and image_format in {"JPEG", "WEBP"}:
        save_kwargs["quality"] = quality
    working.save(buffer, format=image_format, **save_kwargs)
    return base64.b64encode(buffer.getvalue()).decode("utf-8")


# -- lmms_eval/models/simple/openai.py: OpenAICompatible.encode_video -------------------------

def frame_indices(total_frame_num: int, for_get_frames_num: int) -> list[int]:
    """The frames `encode_video` takes (no `video_fps`): `np.linspace` over 0..total-1
    (`dtype=int`), the last frame appended when missing, then sorted without repeats."""
    if total_frame_num <= 0:
        return []
    sample_count = min(max(1, int(for_get_frames_num)), total_frame_num)
    uniform_sampled_frames = np.linspace(0, total_frame_num - 1, sample_count, dtype=int)
    if total_frame_num - 1 not in uniform_sampled_frames:
        uniform_sampled_frames = np.append(uniform_sampled_frames, total_frame_num - 1)
    return sorted(set(uniform_sampled_frames.tolist()))


def count_frames(path: str | os.PathLike) -> int:
    """decord's `len(VideoReader(path))`: the video stream's frames (its packets with data)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def read_frames(path: str | os.PathLike, indices: list[int]) -> list[np.ndarray]:
    """decord's `vr.get_batch(indices).asnumpy()`: those frames, in decode order, as RGB
    arrays at the stream's own size."""
    import av

    wanted, frames = set(indices), []
    with av.open(str(path)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number in wanted:
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == len(wanted):
                break
    return frames


def encode_video(path: str | os.PathLike, for_get_frames_num: int) -> list[str]:
    """`OpenAICompatible.encode_video`: the picked frames as base64 PNGs
    (`Image.fromarray(frame)`, `encode_image_to_base64(img, image_format="PNG",
    convert_rgb=False, quality=None)`)."""
    indices = frame_indices(count_frames(path), for_get_frames_num)
    return [encode_image_to_base64(Image.fromarray(frame), image_format="PNG",
                                   convert_rgb=False, quality=None)
            for frame in read_frames(path, indices)]


def encode_audio_file(audio_path: str | os.PathLike) -> tuple[str, str]:
    """`OpenAICompatible.encode_audio_file`: (base64 of the file, its format by extension)."""
    ext = os.path.splitext(str(audio_path))[1].lower().lstrip(".")
    audio_format = ext if ext in {"wav", "mp3", "flac", "aac", "ogg", "m4a"} else "wav"
    return base64.b64encode(Path(audio_path).read_bytes()).decode("utf-8"), audio_format


# -- lmms_eval/models/simple/openai.py: generate_until.build_payload_for_index ----------------

VIDEO_MARKS = (".mp4", ".avi", ".mov", ".flv", ".wmv", ".webm", ".mkv")
AUDIO_MARKS = (".wav", ".mp3", ".flac", ".aac", ".ogg", ".m4a")


def simple_payload(context: str, visuals: list, *, model: str, max_frames_num: int = 10,
                   gen_kwargs: dict | None = None) -> dict:
    """The simple `openai` model's request: the context first, then every visual (a video's
    frames as PNG data URLs, a sound file as `input_audio`), `max_tokens` and `temperature`
    from the task's generation kwargs (`_get_max_new_tokens`: 1024 without them)."""
    imgs: list = []
    for visual in visuals:
        if isinstance(visual, str) and any(mark in visual for mark in VIDEO_MARKS):
            imgs.extend(encode_video(visual, max_frames_num))
        elif isinstance(visual, str) and any(mark in visual for mark in AUDIO_MARKS):
            audio_b64, audio_format = encode_audio_file(visual)
            imgs.append({"audio_b64": audio_b64, "audio_format": audio_format})
    request_gen_kwargs = dict(gen_kwargs or {})
    max_new_tokens = request_gen_kwargs.get("max_new_tokens", 1024)
    temperature = request_gen_kwargs.get("temperature", 0)
    payload = {"model": model, "messages": [{"role": "user", "content": []}],
               "max_tokens": max_new_tokens, "temperature": temperature}
    payload["messages"][0]["content"].append({"type": "text", "text": context})
    for img in imgs:
        if isinstance(img, dict) and "audio_b64" in img:
            payload["messages"][0]["content"].append({
                "type": "input_audio",
                "input_audio": {"data": img["audio_b64"], "format": img["audio_format"]}})
        else:
            payload["messages"][0]["content"].append({
                "type": "image_url", "image_url": {"url": f"data:image/png;base64,{img}"}})
    return payload


# -- lmms_eval/api/task.py (_visual_to_content, _build_user_turn), lmms_eval/protocol.py
#    (ChatMessages.to_openai_messages) and lmms_eval/models/chat/openai.py
#    (generate_until.build_payload_for_index) -------------------------------------------------

def chat_messages(visuals: list, text: str) -> list[dict]:
    """`_auto_doc_to_messages` -> `_build_user_turn`: the visuals first (a path by its
    extension: image, audio, else video), then the text."""
    content = []
    for visual in visuals:
        if isinstance(visual, Image.Image):
            content.append({"type": "image", "url": visual})
            continue
        ext = os.path.splitext(visual)[1].lower()
        if ext in {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tiff", ".webp"}:
            content.append({"type": "image", "url": visual})
        elif ext in {".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus", ".webm"}:
            content.append({"type": "audio", "url": visual})
        else:
            content.append({"type": "video", "url": visual})
    content.append({"type": "text", "text": text})
    return [{"role": "user", "content": content}]


def to_openai_messages(messages: list[dict], *, pass_video_url: bool,
                       video_frames=None) -> list[dict]:
    """`ChatMessages.to_openai_messages`: text as text; an image as a data URL in
    LMMS_IMAGE_ENCODE_FORMAT (PNG; JPEG or WebP at LMMS_IMAGE_JPEG_QUALITY, 85); a video as
    a `video_url` (`pass_video_url`: a local path made `file://` + its absolute path, http(s),
    file and data URLs kept) or else as its frames. lmms-eval samples those with
    qwen_vl_utils' `fetch_video` (resized by its smart_resize); `video_frames(url)` stands in
    for it here, giving PIL images; an audio as an `audio_url` holding the path as it is."""
    image_format = os.getenv("LMMS_IMAGE_ENCODE_FORMAT", "PNG").upper()
    mime_type = f"image/{'jpeg' if image_format == 'JPG' else image_format.lower()}"
    quality = int(os.getenv("LMMS_IMAGE_JPEG_QUALITY", "85")) \
        if image_format in {"JPEG", "JPG", "WEBP"} else None

    def encode(image) -> str:  # ChatMessages.encode_image
        return encode_image_to_base64(image, image_format=image_format,
                                      convert_rgb=image_format in {"JPEG", "JPG", "WEBP"},
                                      quality=quality)

    out = []
    for message in messages:
        openai_message = {"role": message["role"], "content": []}
        for content in message["content"]:
            if content["type"] == "text":
                openai_message["content"].append({"type": "text", "text": content["text"]})
            elif content["type"] == "image":
                image = content["url"] if isinstance(content["url"], Image.Image) else \
                    Image.open(content["url"])
                openai_message["content"].append({"type": "image_url", "image_url": {
                    "url": f"data:{mime_type};base64,{encode(image)}"}})
            elif content["type"] == "video":
                if pass_video_url:
                    url = content["url"]
                    if not url.startswith(("http://", "https://", "file://", "data:")):
                        url = f"file://{os.path.abspath(url)}"
                    openai_message["content"].append({"type": "video_url",
                                                      "video_url": {"url": url}})
                    continue
                for image in video_frames(content["url"]):
                    openai_message["content"].append({"type": "image_url", "image_url": {
                        "url": f"data:{mime_type};base64,{encode(image)}"}})
            elif content["type"] == "audio":
                openai_message["content"].append({"type": "audio_url",
                                                  "audio_url": {"url": content["url"]}})
        out.append(openai_message)
    return out


def chat_payload(messages: list[dict], *, model: str, max_frames_num: int = 10,
                 pass_video_url: bool = False, gen_kwargs: dict | None = None,
                 video_frames=None) -> dict:
    """The chat `openai` model's request (`--model openai`, the default over the simple
    one): messages, model, max_tokens, temperature; top_p, seed, presence_penalty,
    frequency_penalty and n when the task sets them; with `pass_video_url`, `extra_body`
    holding `media_io_kwargs` (the openai client sends its keys at the top of the body)."""
    request_gen_kwargs = dict(gen_kwargs or {})
    payload = {"messages": to_openai_messages(messages, pass_video_url=pass_video_url,
                                              video_frames=video_frames),
               "model": model, "max_tokens": request_gen_kwargs.get("max_new_tokens", 1024),
               "temperature": request_gen_kwargs.get("temperature", 0)}
    for parameter in ("top_p", "seed", "presence_penalty", "frequency_penalty", "n"):
        value = request_gen_kwargs.get(parameter)
        if value is not None:
            payload[parameter] = value
    extra_body = {}
    if pass_video_url:
        extra_body["media_io_kwargs"] = {"video": {"num_frames": int(max_frames_num)}}
    if extra_body:
        payload["extra_body"] = extra_body
    return payload


def uniform_frames(path: str | os.PathLike, count: int) -> list[Image.Image]:
    """A stand-in for qwen_vl_utils' `fetch_video` (not installed): `count` frames picked as
    `encode_video` picks them, as PIL images at their own size."""
    indices = frame_indices(count_frames(path), count)
    return [Image.fromarray(frame) for frame in read_frames(path, indices)]


# -- lmms_eval/tasks/videomme (videomme.yaml, utils.py) ----------------------------------------

VIDEOMME_OPTION_PROMPT = ("Select the best answer to the following multiple-choice question "
                          "based on the video and the subtitles. Respond with only the letter "
                          "(A, B, C, or D) of the correct option.")
VIDEOMME_POST_PROMPT = "\nAnswer with the option's letter from the given choices directly."
VIDEOMME_GEN_KWARGS = {"max_new_tokens": 16, "temperature": 0, "top_p": 1.0, "num_beams": 1,
                       "do_sample": False}  # videomme.yaml's generation_kwargs


def videomme_doc_to_text(doc: dict, post_prompt: str = VIDEOMME_POST_PROMPT) -> str:
    """`videomme_doc_to_text` with the `default` lmms_eval_specific_kwargs (those of the
    `openai` model): the option prompt, the question, its options, the post prompt."""
    option = "\n".join([f"{opt}" for opt in doc["options"]])
    question = doc["question"] + "\n" + option
    return VIDEOMME_OPTION_PROMPT + "\n" + question + "\n" + post_prompt


ANSWER_PHRASES = [  # lmms_eval/tasks/_task_utils/mcq_extract.py: _ANSWER_PHRASES
    "the answer is", "answer is", "the correct answer is", "correct answer is",
    "the best answer is", "best answer is", "the correct option is", "correct option is",
    "the best option is", "best option is", "the choice is", "choice is",
    "the correct choice is", "correct choice is", "i choose", "i select", "i pick",
    "my answer is", "my choice is", "옵션", "정답은", "답은", "답:", "答案是", "答案为", "选",
    "答えは"]
FORMAT_PRIORITY = {"start": 10, "end": 9, "phrase": 7, "parentheses": 6, "period": 5,
                   "colon": 4, "right_paren": 3, "space": 2, "fallback": 0}


def extract_mcq_answer(response: str, choices: list[str] | None = None) -> str:
    """`mcq_extract.extract_mcq_answer`: the choice letter of a reply by the best-ranked form
    it takes (a reply that is the letter alone: "start"), "" when none is found."""
    if not response or not response.strip():
        return ""
    all_choices = choices or ["A", "B", "C", "D", "E", "F", "G", "H"]
    text = response.strip()
    for char in [",", ".", "!", "?", ";", ":", "'", '"']:
        text = text.strip(char)
    text = " " + text + " "
    candidates: list = []
    for ch in all_choices:
        if f"({ch})" in text:
            candidates.append((ch, text.rfind(f"({ch})"), "parentheses"))
    for ch in all_choices:
        if f"{ch}." in text:
            candidates.append((ch, text.rfind(f"{ch}."), "period"))
    for ch in all_choices:
        if f"{ch}:" in text:
            candidates.append((ch, text.rfind(f"{ch}:"), "colon"))
    for ch in all_choices:
        if f"{ch})" in text:
            candidates.append((ch, text.rfind(f"{ch})"), "right_paren"))
    for ch in all_choices:
        if f"{ch} " in text:
            candidates.append((ch, text.rfind(f"{ch} "), "space"))
    text_lower = text.lower()
    for phrase in ANSWER_PHRASES:
        idx = text_lower.find(phrase)
        if idx != -1:
            after = idx + len(phrase)
            for ch in all_choices:
                ch_pos = text.find(ch, after)
                if ch_pos != -1:
                    candidates.append((ch, ch_pos, "phrase"))
    stripped = text.strip()
    for ch in all_choices:
        if stripped.startswith(ch) and (len(stripped) == 1 or not stripped[1].isalpha()):
            candidates.append((ch, 0, "start"))
    for ch in all_choices:
        if stripped.endswith(ch) and (len(stripped) == 1 or not stripped[-2].isalpha()):
            candidates.append((ch, len(text) - 1, "end"))
    if not candidates:
        for ch in all_choices:
            if ch in text:
                candidates.append((ch, text.rfind(ch), "fallback"))
    if not candidates:
        return ""
    candidates.sort(key=lambda x: (FORMAT_PRIORITY.get(x[2], 0), x[1]), reverse=True)
    return candidates[0][0]


def extract_characters_regex(s: str) -> str:
    """videomme/utils.py `extract_characters_regex`: the letter among A-D."""
    return extract_mcq_answer(s, choices=["A", "B", "C", "D"])
