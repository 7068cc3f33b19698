"""Prometheus/Alertmanager duration text (``45m30s``, ``1h``, ``500ms``) from seconds."""

from __future__ import annotations

_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))


def prom_duration(seconds: float) -> str:
    """``seconds`` as a duration both Prometheus and Alertmanager parse, rounded to whole milliseconds.

    Durations below one millisecond become ``1ms``: a zero window is not a valid range selector, and
    the only way to get there is an extreme time compression in a test.
    """
    remaining = max(1, round(seconds * 1000))
    text = ""
    for unit, size in _UNITS:
        if remaining >= size:
            text += f"{remaining // size}{unit}"
            remaining %= size
    return text


def parse_prom_duration(text: str) -> float:
    """The inverse of :func:`prom_duration` for its own output (used by the CLI and tests)."""
    total = 0.0
    number = ""
    index = 0
    sizes = dict(_UNITS)
    while index < len(text):
        char = text[index]
        if char.isdigit():
            number += char
            index += 1
            continue
        unit = "ms" if text.startswith("ms", index) else char
        if unit not in sizes or not number:
            raise ValueError(f"not a duration: {text!r}")
        total += int(number) * sizes[unit] / 1000
        number = ""
        index += len(unit)
    if number:
        raise ValueError(f"not a duration: {text!r}")
    return total
