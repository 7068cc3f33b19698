"""The canary's PDF: A4, banner first, the fields, the marker, reproducible."""

from __future__ import annotations

import datetime as dt
import io

from pypdf import PdfReader

from probe.canary.content import TEST_BANNER, CanarySubject
from probe.canary.marker import MarkerSigner, find_markers
from probe.canary.pdf import render_pdf

from .conftest import make_subject

A4_POINTS = (595.28, 841.89)


def read(pdf: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def squeeze(text: str) -> str:
    return " ".join(text.split())


def test_pdf_is_one_a4_page(subject: CanarySubject) -> None:
    pdf = render_pdf(subject)
    reader, _ = read(pdf)

    assert pdf.startswith(b"%PDF-")
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width), 2), round(float(box.height), 2)) == A4_POINTS


def test_pdf_opens_with_the_banner(subject: CanarySubject) -> None:
    _, text = read(render_pdf(subject))

    assert squeeze(text).startswith(TEST_BANNER)


def test_pdf_carries_the_fields_in_norwegian(subject: CanarySubject) -> None:
    _, text = read(render_pdf(subject))
    flat = squeeze(text)

    for expected in (
        "Bergen (4601)",
        "Bergenhus (02)",
        subject.canary_id,
        subject.child_fnr,
        "fødselsnummer",
    ):
        assert expected in flat
    assert "overvåking" in flat  # æøå survive the core font


def test_pdf_carries_the_marker_in_text_and_metadata(subject: CanarySubject) -> None:
    reader, text = read(render_pdf(subject))

    # Printed over several lines (it is wider than the page): whole once the line breaks are removed.
    assert subject.marker in "".join(text.split())
    assert reader.metadata is not None
    assert find_markers(reader.metadata.subject or "") == [subject.marker]
    assert reader.metadata.title == TEST_BANNER


def test_pdf_is_reproducible_and_dated_by_the_canary(subject: CanarySubject) -> None:
    first, second = render_pdf(subject), render_pdf(subject)
    reader, _ = read(first)

    assert first == second
    assert reader.metadata is not None
    assert reader.metadata.creation_date == dt.datetime.fromtimestamp(subject.created_at, tz=dt.UTC)


def test_names_outside_latin1_are_printed_as_their_nearest_letters(signer: MarkerSigner) -> None:
    subject = make_subject(
        signer,
        kommunenummer="5622",
        kommunenavn="Porsanger \u2013 Porsáŋgu \u2013 Porsanki",
        bydelsnavn="Kárášjohka",
    )

    _, text = read(render_pdf(subject))

    flat = squeeze(text)
    assert "Porsanger - Porsángu - Porsanki (5622)" in flat
    assert "Kárásjohka" in flat
