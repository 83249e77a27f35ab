"""Key frames: scene detectors and the key-frame policy on decoded frames, chunks under a
visual-token budget, and ingest (decode -> select -> chunk, cached per video and settings)."""
