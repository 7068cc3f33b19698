"""The canary's PDF (``bekymringsmelding.pdf``): what a case worker or a print service would see.

A4, the banner first in large bold red type, then the report's fields and text, then the marker. It uses
fpdf2's core Helvetica and Courier, which need no font files but print only Latin-1: that covers Norwegian
(æ, ø, å) and every fixed text here, but not some Sami letters in municipality names (``š``, ``ŋ``) or the
en dash; those are written as their nearest Latin-1 letters (``s``, ``n``, ``-``). The PDF is a copy for
people; the exact names travel in ``bekymringsmelding.json``.

The marker (about 220 characters, no spaces) is wider than the page, so it is printed in Courier broken
into lines of equal length, and also stored whole in the document's ``Subject`` metadata as
``Kanari-markør: <marker>``, where a program can read it without rejoining lines.

Output is deterministic for a given subject and fpdf2 version: the creation date is the canary's
``created_at``, and the file id fpdf2 derives from the content and that date.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from fpdf import FPDF

from probe.canary.content import MARKER_LABEL, SENDER_NAME, TEST_BANNER, CanarySubject, report_lines

# Characters outside Latin-1 that do not decompose into a Latin-1 letter: dashes, quotes, the ellipsis
# and the Sami letters without a base letter (đ, ŋ, ŧ).
_REPLACEMENTS = {
    "\u2013": "-",
    "\u2014": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2026": "...",
    "\u0111": "d",
    "\u0110": "D",
    "\u014b": "n",
    "\u014a": "N",
    "\u0167": "t",
    "\u0166": "T",
}
_BANNER_RED = (170, 0, 0)
_MARKER_FONT_SIZE = 9


def render_pdf(subject: CanarySubject) -> bytes:
    """The PDF of ``subject``: banner, fields, text and marker on one A4 page."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_creation_date(dt.datetime.fromtimestamp(subject.created_at, tz=dt.UTC))
    pdf.set_title(TEST_BANNER)
    pdf.set_subject(f"{MARKER_LABEL}: {subject.marker}")
    pdf.set_author(_latin1(SENDER_NAME))
    pdf.set_creator("Kanari")
    pdf.set_lang("nb-NO")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()

    # The banner in a red frame: two short lines at this size, a person cannot miss them.
    pdf.set_font("helvetica", "B", 14)
    pdf.set_text_color(*_BANNER_RED)
    pdf.set_draw_color(*_BANNER_RED)
    pdf.set_line_width(0.8)
    banner = _wrap(pdf, TEST_BANNER, pdf.epw - 6)
    top = pdf.get_y()
    pdf.rect(pdf.l_margin, top, pdf.epw, 8 * len(banner) + 6)
    pdf.set_y(top + 3)
    for line in banner:
        pdf.cell(0, 8, line, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(top + 8 * len(banner) + 6)
    pdf.set_text_color(0, 0, 0)
    pdf.ln(4)

    pdf.set_font("helvetica", "B", 13)
    pdf.cell(0, 8, "Bekymringsmelding (syntetisk test)", new_x="LMARGIN", new_y="NEXT")
    fields = [
        ("Kommune", f"{subject.kommunenavn} ({subject.kommunenummer})"),
        ("Bydel", f"{subject.bydelsnavn} ({subject.bydelsnummer})"),
        ("Kanal", subject.channel.value),
        ("Kanari-id", subject.canary_id),
        ("Barnets fødselsnummer", f"{subject.child_fnr} (syntetisk, måned + 80)"),
        ("Avsender", SENDER_NAME),
    ]
    for label, value in fields:
        pdf.set_font("helvetica", "B", 10)
        pdf.cell(50, 6, _latin1(f"{label}:"))
        pdf.set_font("helvetica", "", 10)
        for index, line in enumerate(_wrap(pdf, _latin1(value), pdf.epw - 50)):
            if index:
                pdf.set_x(pdf.l_margin + 50)
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    pdf.set_font("helvetica", "", 10)
    for text in report_lines(subject)[1:]:
        if text.startswith(f"{MARKER_LABEL}: "):
            break
        for line in _wrap(pdf, _latin1(text), pdf.epw) or [" "]:
            pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    pdf.set_font("helvetica", "B", 10)
    pdf.cell(0, 6, _latin1(f"{MARKER_LABEL} (én linje uten mellomrom):"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("courier", "", _MARKER_FONT_SIZE)
    per_line = int(pdf.epw // pdf.get_string_width("M"))
    for start in range(0, len(subject.marker), per_line):
        pdf.cell(0, 4.5, subject.marker[start : start + per_line], new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _wrap(pdf: FPDF, text: str, width: float) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width`` in the current font.

    fpdf2's ``multi_cell`` does the same but measures every character many times over; a canary is
    rendered for every send, so wrapping word by word here keeps the PDF from dominating a send's cost.
    """
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and pdf.get_string_width(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def _latin1(text: str) -> str:
    """``text`` with every character a core font cannot print replaced by its nearest Latin-1 form."""
    characters = []
    for character in text:
        if ord(character) < 256:
            characters.append(character)
        elif character in _REPLACEMENTS:
            characters.append(_REPLACEMENTS[character])
        else:
            # Decomposing drops the accent (š -> s + caron); what still does not fit becomes "?".
            base = "".join(c for c in unicodedata.normalize("NFKD", character) if ord(c) < 256)
            characters.append(base or "?")
    return "".join(characters)
