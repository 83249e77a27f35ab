"""vidqa: ask questions about hour-long recordings and get answers pinned to the second.

The pipeline, one module per stage: probe/decode -> keyframes -> chunking -> caption -> answer
(messages, backends and export beside them), and evaluate (needle in a haystack). Every frame, key frame, scene and chunk carries its absolute time in
seconds (`pts_s`, `start_s`, `end_s`).
"""

__version__ = "0.1.0"

from vidqa.answer import Answer, ask  # noqa: E402
from vidqa.backends import get_backend, open_backend  # noqa: E402
from vidqa.caption import (CaptionEvent, ChunkCaption, VideoCaptions, caption_video,  # noqa: E402
                           index_video)
from vidqa.chunking import Chunk, make_chunks  # noqa: E402
from vidqa.config import ChunkConfig, Config, DecodeConfig, SelectConfig, load_config  # noqa: E402
from vidqa.decode import Frame, iter_frames  # noqa: E402
from vidqa.errors import BackendError, DecodeError, VideoOpenError, VidqaError  # noqa: E402
from vidqa.evaluate import Report, Sweep, needle_eval  # noqa: E402
from vidqa.export import get_writer  # noqa: E402
from vidqa.ingest import IngestResult, ingest  # noqa: E402
from vidqa.keyframes import Keyframe, Scene, select_keyframes  # noqa: E402
from vidqa.probe import VideoInfo, probe  # noqa: E402
from vidqa.timecode import format_hms, parse_time  # noqa: E402

__all__ = [
    "Answer", "BackendError", "CaptionEvent", "Chunk", "ChunkCaption", "ChunkConfig", "Config",
    "DecodeConfig", "DecodeError", "Frame", "IngestResult", "Keyframe", "Report", "Scene",
    "SelectConfig", "Sweep", "VideoCaptions", "VideoInfo", "VideoOpenError", "VidqaError",
    "ask", "caption_video", "format_hms", "get_backend", "get_writer", "index_video", "ingest",
    "iter_frames", "load_config", "make_chunks", "needle_eval", "open_backend", "parse_time",
    "probe", "select_keyframes",
]
