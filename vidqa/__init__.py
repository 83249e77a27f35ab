"""vidqa: ask questions about hour-long recordings and get answers pinned to the second.

The pipeline, one module per stage: probe/decode -> keyframes -> chunking -> (caption, index,
answer: later stages). Every frame, key frame, scene and chunk carries its absolute time in
seconds (`pts_s`, `start_s`, `end_s`).
"""

__version__ = "0.1.0"

from vidqa.chunking import Chunk, make_chunks  # noqa: E402
from vidqa.config import ChunkConfig, Config, DecodeConfig, SelectConfig, load_config  # noqa: E402
from vidqa.decode import Frame, iter_frames  # noqa: E402
from vidqa.errors import DecodeError, VideoOpenError, VidqaError  # noqa: E402
from vidqa.ingest import IngestResult, ingest  # noqa: E402
from vidqa.keyframes import Keyframe, Scene, select_keyframes  # noqa: E402
from vidqa.probe import VideoInfo, probe  # noqa: E402
from vidqa.timecode import format_hms, parse_time  # noqa: E402

__all__ = [
    "Chunk", "ChunkConfig", "Config", "DecodeConfig", "DecodeError", "Frame", "IngestResult",
    "Keyframe", "Scene", "SelectConfig", "VideoInfo", "VideoOpenError", "VidqaError",
    "format_hms", "ingest", "iter_frames", "load_config", "make_chunks", "parse_time", "probe",
    "select_keyframes",
]
