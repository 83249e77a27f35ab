"""What the runs of a pipeline share, each made once: the model, the OCR engine, the speech
recogniser and the search embedder. Beside `vidqa.pipeline`, which owns them; tracks and
evaluators are handed them."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vidqa.config import Config

_LOCK = threading.RLock()


@dataclass
class Tools:
    """The OCR engine (on first use, from the settings, unless `engine_set` says `engine` was
    given), the embedder, the recogniser, and the model (`backend`, when one is loaded;
    without one, model tracks give what their cache holds)."""

    config: Config
    backend: Any = None
    engine: Any = None
    embedder: Any = None
    engine_set: bool = False
    asr: Any = None  # the speech recogniser, loaded once

    def ocr_engine(self):
        """The OCR engine the settings ask for (`ocr.mode`), or None when OCR is off, or
        "auto" and the OCR library is not installed. Made once, whichever thread asks first
        (a track's `prepare` may, beside the decode)."""
        with _LOCK:
            if not self.engine_set:
                from vidqa.tracks.ocr_engine import engine_for

                ocr = self.config.ocr
                self.engine = engine_for(ocr.mode, ocr.threads, ocr.detect_size)
                self.engine_set = True
        return self.engine

    def ocr_name(self) -> str | None:
        """The name of the engine `ocr_engine()` gives (its text tracks are cached under it),
        None when it gives none; known without loading the OCR library when no engine was
        made or given yet."""
        if self.engine_set:
            return getattr(self.engine, "name", None)
        from vidqa.tracks.ocr_engine import engine_name, ocr_available

        mode = self.config.ocr.mode
        if mode == "off" or (mode == "auto" and not ocr_available()):
            return None
        return engine_name(self.config.ocr.detect_size)

    def search_embedder(self):
        """The embedder the settings name (`index.embedder`), loaded once."""
        if self.embedder is None:
            from vidqa.search.embedders import get_embedder

            self.embedder = get_embedder(self.config.index.embedder)
        return self.embedder
