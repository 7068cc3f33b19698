"""Small server-side SVG charts: a route's latest canaries on a time axis from sending, one row each,
with a mark where each hop was reached and a dashed line at the deadline.

Drawn here, not in the browser, so the page needs no JavaScript. Each hop has its own mark shape (and
the legend names it), so the chart does not rely on colour; the table beside it carries the same
numbers as text for screen readers (the SVG is labelled and points at it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from probe.hops import Hop
from probe.http.status.views import CanaryLine

WIDTH = 640
ROW = 22
LEFT = 150
RIGHT = 24
TOP = 44
BOTTOM = 34
MARK = 5.0
# A generous width per character of a 12 px sans-serif label, so legend entries never overlap.
LETTER = 7.5

# One shape per hop (in the order hops are reached), drawn around (x, y).
_SHAPES: dict[Hop, str] = {
    Hop.ACCEPTED: "circle",
    Hop.FORWARDED: "square",
    Hop.PUBLISHED: "square",
    Hop.RECEIPTED: "triangle",
    Hop.FETCHED: "triangle",
    Hop.READ: "ring",
    Hop.REGISTERED: "diamond",
}
# Dark enough on white for the contrast the accessibility check asks of graphics.
INK = "#1f2933"
MISSING = "#b42318"


def _mark(hop: Hop, x: float, y: float) -> str:
    shape = _SHAPES[hop]
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{MARK:.1f}" fill="{INK}"/>'
    if shape == "ring":
        return (
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{MARK:.1f}" fill="#fff" stroke="{INK}" stroke-width="2"/>'
        )
    if shape == "square":
        side = MARK * 1.7
        return (
            f'<rect x="{x - side / 2:.1f}" y="{y - side / 2:.1f}" width="{side:.1f}" '
            f'height="{side:.1f}" fill="{INK}"/>'
        )
    if shape == "triangle":
        points = f"{x:.1f},{y - MARK:.1f} {x + MARK:.1f},{y + MARK:.1f} {x - MARK:.1f},{y + MARK:.1f}"
        return f'<polygon points="{points}" fill="{INK}"/>'
    points = f"{x:.1f},{y - MARK:.1f} {x + MARK:.1f},{y:.1f} {x:.1f},{y + MARK:.1f} {x - MARK:.1f},{y:.1f}"
    return f'<polygon points="{points}" fill="{INK}"/>'


def nice_ceiling(seconds: float) -> float:
    """The axis end: ``seconds`` rounded up to 1, 2 or 5 times a power of ten (at least 1)."""
    if seconds <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(seconds))
    for step in (1, 2, 5, 10):
        if seconds <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def hop_chart(
    canaries: Sequence[CanaryLine],
    deadline: float,
    *,
    title: str,
    hop_names: Mapping[Hop, str],
    row_labels: Sequence[str],
    deadline_label: str,
    described_by: str,
) -> str:
    """The SVG of ``canaries`` (newest first, each labelled by ``row_labels``), on an axis reaching past
    the ``deadline``. Texts come from the caller (the page's language); everything is escaped."""
    reached = [mark.seconds for line in canaries for mark in line.hops if mark.seconds is not None]
    end = nice_ceiling(max([deadline, *reached]) * 1.05)
    span = WIDTH - LEFT - RIGHT
    # Legend: each hop's shape and name, wrapped onto as many lines as the names need.
    hops = list(dict.fromkeys(mark.hop for line in canaries for mark in line.hops))
    legend: list[str] = []
    x, y = 8.0, 16.0
    for hop in hops:
        label = hop_names.get(hop, hop.value)
        width = 20 + LETTER * len(label)
        if x + width > WIDTH - RIGHT and x > 8:
            x, y = 8.0, y + 16
        legend.append(_mark(hop, x + MARK, y))
        legend.append(f'<text x="{x + 2 * MARK + 4:.1f}" y="{y + 4:.1f}" fill="{INK}">{escape(label)}</text>')
        x += width
    top = y + TOP - 16
    height = top + ROW * max(len(canaries), 1) + BOTTOM

    def x_of(seconds: float) -> float:
        return LEFT + span * max(0.0, min(seconds, end)) / end

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" width="100%" '
        f'role="img" aria-labelledby="{escape(described_by)}-title" '
        f'aria-describedby="{escape(described_by)}" '
        f'font-family="sans-serif" font-size="12">',
        f'<title id="{escape(described_by)}-title">{escape(title)}</title>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height:.0f}" fill="#fff"/>',
        *legend,
    ]
    # Rows: a line from sending to the last hop reached, a mark per hop reached, a red cross after the
    # last one reached if the canary stopped there.
    for index, line in enumerate(canaries):
        y = top + ROW * index + ROW / 2
        label = row_labels[index] if index < len(row_labels) else ""
        parts.append(
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" fill="{INK}">{escape(label)}</text>'
        )
        times = [mark.seconds for mark in line.hops if mark.seconds is not None]
        if times:
            parts.append(
                f'<line x1="{LEFT}" y1="{y:.1f}" x2="{x_of(max(times)):.1f}" y2="{y:.1f}" '
                f'stroke="{INK}" stroke-width="1.5"/>'
            )
        for mark in line.hops:
            if mark.seconds is not None:
                parts.append(_mark(mark.hop, x_of(mark.seconds), y))
        if line.blamed_hop is not None:
            cross = x_of(max(times) if times else 0.0) + 10
            parts.append(
                f'<path d="M{cross - 4:.1f},{y - 4:.1f} L{cross + 4:.1f},{y + 4:.1f} '
                f'M{cross - 4:.1f},{y + 4:.1f} L{cross + 4:.1f},{y - 4:.1f}" '
                f'stroke="{MISSING}" stroke-width="2"/>'
            )
    # Deadline and axis.
    bottom = top + ROW * max(len(canaries), 1)
    parts.append(
        f'<line x1="{x_of(deadline):.1f}" y1="{top - 6:.1f}" x2="{x_of(deadline):.1f}" y2="{bottom}" '
        f'stroke="{MISSING}" stroke-dasharray="4 3"/>'
    )
    parts.append(
        f'<text x="{x_of(deadline) - 4:.1f}" y="{top - 10:.1f}" text-anchor="end" fill="{MISSING}">'
        f"{escape(deadline_label)}</text>"
    )
    parts.append(f'<line x1="{LEFT}" y1="{bottom}" x2="{LEFT + span}" y2="{bottom}" stroke="{INK}"/>')
    for tick in range(5):
        seconds = end * tick / 4
        tx = x_of(seconds)
        parts.append(f'<line x1="{tx:.1f}" y1="{bottom}" x2="{tx:.1f}" y2="{bottom + 4}" stroke="{INK}"/>')
        parts.append(
            f'<text x="{tx:.1f}" y="{bottom + 18}" text-anchor="middle" fill="{INK}">{seconds:g} s</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
