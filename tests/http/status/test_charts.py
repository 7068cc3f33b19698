"""The hop timeline SVG: well-formed, labelled, one mark per reached hop, the deadline drawn, texts
escaped, and the axis scaled to what it shows."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from probe.hops import Hop, Owner, Verdict
from probe.http.status.charts import WIDTH, hop_chart, nice_ceiling
from probe.http.status.views import CanaryLine, HopMark

SVG = "{http://www.w3.org/2000/svg}"
NAMES = {hop: f"long hop name for {hop.value}" for hop in Hop}


def line(seconds: list[float | None], blamed: Hop | None = None) -> CanaryLine:
    hops = (Hop.ACCEPTED, Hop.FORWARDED, Hop.RECEIPTED, Hop.REGISTERED)
    return CanaryLine(
        id="c1",
        sent_at=0.0,
        verdict=Verdict.LOST if blamed else Verdict.DELIVERED,
        blamed_hop=blamed,
        hops=tuple(HopMark(hop, Owner.KS, value) for hop, value in zip(hops, seconds, strict=True)),
    )


def chart(lines: list[CanaryLine], deadline: float = 600.0, title: str = "Timeline") -> ET.Element:
    svg = hop_chart(
        lines,
        deadline,
        title=title,
        hop_names=NAMES,
        row_labels=["10:00", "10:05"],
        deadline_label="Frist 10 min",
        described_by="table-portal",
    )
    return ET.fromstring(svg)


def test_the_chart_is_labelled_svg_pointing_at_its_table() -> None:
    root = chart([line([1.0, 4.0, 30.0, 75.0])])
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-describedby") == "table-portal"
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == "Timeline"
    assert title.get("id") == root.get("aria-labelledby")


def test_one_mark_per_reached_hop_and_a_cross_where_a_canary_stopped() -> None:
    delivered = chart([line([1.0, 4.0, 30.0, 75.0])])
    lost = chart([line([1.0, 4.0, 30.0, None], blamed=Hop.REGISTERED)])
    texts = [t.text for t in delivered.iter(f"{SVG}text")]
    # Four hops in the legend, each with its name; the rows show the reached ones.
    assert [name for name in texts if name and name.startswith("long hop name")] == [
        NAMES[h] for h in (Hop.ACCEPTED, Hop.FORWARDED, Hop.RECEIPTED, Hop.REGISTERED)
    ]

    def marks(root: ET.Element) -> int:
        shapes = {f"{SVG}circle", f"{SVG}rect", f"{SVG}polygon"}
        return len([element for element in root.iter() if element.tag in shapes])

    # The background rect, four legend marks, then the row's marks.
    assert marks(delivered) == 1 + 4 + 4
    assert marks(lost) == 1 + 4 + 3
    assert len(list(lost.iter(f"{SVG}path"))) == 1
    assert not list(delivered.iter(f"{SVG}path"))


def test_long_legends_wrap_inside_the_chart() -> None:
    root = chart([line([1.0, 4.0, 30.0, 75.0])])
    for text in root.iter(f"{SVG}text"):
        if text.text and text.text.startswith("long hop name"):
            assert float(text.get("x", "0")) + 7.5 * len(text.text) <= WIDTH


def test_the_deadline_and_the_axis_are_drawn_and_texts_escaped() -> None:
    root = chart([line([1.0, 4.0, 30.0, 75.0])], title="<script>x</script>")
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Frist 10 min" in texts
    assert "0 s" in texts
    assert "1000 s" in texts  # 600 s deadline, axis rounded up to 1000
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == "<script>x</script>"  # parsed back: it was escaped in the markup


def test_an_empty_timeline_still_draws_an_axis() -> None:
    root = chart([])
    assert [t.text for t in root.iter(f"{SVG}text")].count("Frist 10 min") == 1


@pytest.mark.parametrize(
    ("seconds", "ceiling"),
    [(0.3, 1.0), (1.0, 1.0), (7.0, 10.0), (12.0, 20.0), (450.0, 500.0), (630.0, 1000.0)],
)
def test_nice_ceiling(seconds: float, ceiling: float) -> None:
    assert nice_ceiling(seconds) == ceiling
