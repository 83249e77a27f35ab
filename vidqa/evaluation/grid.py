"""The needle grid's values as people write them: depths as a count or percentages, lengths in
minutes (the `needle` settings read them, in files and flags alike)."""

from __future__ import annotations

import math

from vidqa.errors import ConfigError


def parse_depths(value) -> tuple[float, ...]:
    """Needle depths as fractions 0..1 from a count (11: 0%, 10%, ... 100%) or percentages
    ("0,50,100", "50%" or [0, 50, 100])."""
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
        value = int(items[0]) if len(items) == 1 and items[0].isdigit() else items
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 101:
            raise ConfigError(f"a depth count must be between 1 and 101, got {value}")
        return (0.0,) if value == 1 else tuple(round(i / (value - 1), 6) for i in range(value))
    try:
        if not isinstance(value, (list, tuple)) or any(isinstance(v, bool) for v in value):
            raise TypeError
        depths = tuple(round(float(str(v).strip().rstrip("%")) / 100.0, 6) for v in value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"depths {value!r} are not numbers; give percentages like 0,50,100 "
                          "or a count like 11") from None
    if not all(math.isfinite(d) for d in depths):
        raise ConfigError(f"depths {value!r} must be percentages from 0 to 100")
    return depths


def parse_lengths(value) -> tuple[float, ...]:
    """Minutes: "5,10,30", [5, 10] or a single number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    try:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or any(isinstance(v, bool) for v in items):
            raise TypeError
        lengths = tuple(float(v) for v in items)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"lengths {value!r} are not numbers of minutes; e.g. 5,10,30,60"
                          ) from None
    if not all(math.isfinite(m) for m in lengths):
        raise ConfigError(f"lengths {value!r} must be finite numbers of minutes")
    return lengths
