"""Tracks: what happens at which second, from several sources (on-screen text, model captions,
...), each turned into `Segment`s by one registered `Track`; writers export them as event logs."""
