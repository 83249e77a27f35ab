"""Media: the ffmpeg runner, probing a file, decoding frames with their stream times."""
